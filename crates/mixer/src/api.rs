//! The `/api/mix-audio/` request: its JSON shape (the seed's fields and the extended ones) and
//! validation into mixer settings, with every problem naming its field.

use crate::{MasterEq, MixSettings, Placement, Role};
use serde::Deserialize;
use songforge_audio::SampleFormat;
use songforge_genre::{Band, Dynamics, Genre, GenreMatch};

pub use songforge_field_error::FieldError;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::unacceptable(field, message)
}

fn malformed(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::malformed(field, message)
}

/// The request body as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixRequest {
    /// Seed field: the instrumental's `/media/...` URL.
    pub instrumental_url: Option<String>,
    /// Seed field: the vocals' `/media/...` URL.
    pub vocals_url: Option<String>,
    /// Free-text genre (seed field).
    pub genre: Option<String>,
    /// Extended: any number of tracks.
    pub tracks: Option<Vec<TrackRequest>>,
    /// Integrated loudness target, LUFS.
    pub target_lufs: Option<f64>,
    /// `true`/`false`, or `{"depth_db": n, "speech_carve_db": n}`.
    pub ducking: Option<DuckingRequest>,
    /// Master EQ override.
    pub eq: Option<EqRequest>,
    /// Bus compressor override, or `false` to bypass.
    pub compression: Option<CompressionRequest>,
    /// `wav` (default) or `flac`.
    pub format: Option<String>,
    /// `16` (default), `24`, `"32f"`.
    pub bit_depth: Option<serde_json::Value>,
    /// Output rate, Hz.
    pub sample_rate: Option<u32>,
    /// `false`: gain, pan, offsets and summing only.
    pub master: Option<bool>,
    /// Also store each processed track.
    pub stems: Option<bool>,
}

/// One track as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRequest {
    /// `/media/<name>` (or an allowed absolute URL).
    pub url: String,
    /// `vocals`, `instrumental` or `other`.
    pub role: Option<String>,
    /// Gain, dB.
    pub gain_db: Option<f32>,
    /// −1 … 1.
    pub pan: Option<f32>,
    /// Start offset, ms.
    pub offset_ms: Option<f64>,
    /// Left out of the sum.
    pub mute: Option<bool>,
}

/// Ducking as sent.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DuckingRequest {
    /// On (preset depth) or off.
    Switch(bool),
    /// On, with a depth and/or the speech-band carve's depth (missing: the preset's).
    Depth {
        /// Depth, dB.
        #[serde(default)]
        depth_db: Option<f64>,
        /// How far the backing's speech band (around 2 kHz) dips on top, dB; 0 turns it off.
        #[serde(default)]
        speech_carve_db: Option<f64>,
    },
}

/// EQ override as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EqRequest {
    /// Low shelf.
    pub low_shelf: Option<BandRequest>,
    /// High shelf.
    pub high_shelf: Option<BandRequest>,
}

/// One EQ band as sent; missing values keep the preset's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandRequest {
    /// Corner frequency, Hz.
    pub freq_hz: Option<f64>,
    /// Gain, dB.
    pub gain_db: Option<f64>,
}

/// Compression override as sent.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CompressionRequest {
    /// `false` bypasses the bus compressor; `true` keeps the preset.
    Switch(bool),
    /// Settings; missing values keep the preset's.
    Settings {
        /// Threshold, dBFS.
        threshold_db: Option<f64>,
        /// Ratio.
        ratio: Option<f64>,
        /// Attack, ms.
        attack_ms: Option<f64>,
        /// Release, ms.
        release_ms: Option<f64>,
    },
}

/// Output container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// RIFF/WAVE.
    Wav,
    /// FLAC.
    Flac,
}

impl OutputFormat {
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Flac => "flac",
        }
    }

    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Wav => "audio/wav",
            Self::Flac => "audio/flac",
        }
    }
}

/// A track to fetch and mix.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPlan {
    /// Where it comes from.
    pub url: String,
    /// The request field it came from, for errors (`vocals_url`, `tracks[2].url`).
    pub field: String,
    /// Stem name (`vocals`, `instrumental`, `track3`…).
    pub name: String,
    /// Where it sits in the mix.
    pub placement: Placement,
}

/// A validated request.
#[derive(Debug, Clone)]
pub struct MixPlan {
    /// Tracks in order.
    pub tracks: Vec<TrackPlan>,
    /// Genre as understood.
    pub genre: GenreMatch,
    /// The genre text as sent.
    pub genre_input: String,
    /// Mixer settings.
    pub settings: MixSettings,
    /// Output container.
    pub format: OutputFormat,
    /// Output sample format.
    pub sample_format: SampleFormat,
    /// Store stems too.
    pub stems: bool,
}

/// Longest offset accepted (the configurable track limit applies to decoded audio).
const MAX_OFFSET_MS: f64 = 15.0 * 60.0 * 1000.0;

fn range(field: &str, value: f64, lo: f64, hi: f64, unit: &str) -> Result<(), FieldError> {
    if !value.is_finite() || value < lo || value > hi {
        return Err(invalid(
            field,
            format!("must be between {lo} and {hi}{unit}, got {value}"),
        ));
    }
    Ok(())
}

fn band(field: &str, base: Band, req: Option<&BandRequest>) -> Result<Band, FieldError> {
    let Some(r) = req else { return Ok(base) };
    let b = Band {
        freq_hz: r.freq_hz.unwrap_or(base.freq_hz),
        gain_db: r.gain_db.unwrap_or(base.gain_db),
        q: base.q,
    };
    range(&format!("{field}.freq_hz"), b.freq_hz, 20.0, 20000.0, " Hz")?;
    range(&format!("{field}.gain_db"), b.gain_db, -12.0, 12.0, " dB")?;
    Ok(b)
}

impl MixRequest {
    /// Validates the request into a plan, or names the first field at fault.
    pub fn plan(self) -> Result<MixPlan, FieldError> {
        let genre_input = self.genre.clone().unwrap_or_else(|| "pop".into());
        let genre = Genre::from_text(&genre_input);
        let preset = genre.preset.mix_preset();
        let mut settings = MixSettings::for_preset(&preset);

        let mut tracks = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut add = |mut t: TrackPlan| {
            // Stem names stay unique: a second vocal track is `vocals2`.
            let base = t.name.clone();
            let mut n = 2;
            while !seen.insert(t.name.clone()) {
                t.name = format!("{base}{n}");
                n += 1;
            }
            tracks.push(t);
        };
        for (field, url, role) in [
            (
                "instrumental_url",
                &self.instrumental_url,
                Role::Instrumental,
            ),
            ("vocals_url", &self.vocals_url, Role::Vocals),
        ] {
            if let Some(url) = url {
                check_url(field, url)?;
                add(TrackPlan {
                    url: url.clone(),
                    field: field.into(),
                    name: role_name(role).into(),
                    placement: Placement::new(role),
                });
            }
        }
        for (i, t) in self.tracks.unwrap_or_default().into_iter().enumerate() {
            let at = |f: &str| format!("tracks[{i}].{f}");
            check_url(&at("url"), &t.url)?;
            let role = match t.role.as_deref().unwrap_or("other") {
                "vocals" | "vocal" => Role::Vocals,
                "instrumental" | "backing" => Role::Instrumental,
                "other" => Role::Other,
                other => {
                    return Err(invalid(
                        at("role"),
                        format!("{other:?} is not one of vocals, instrumental, other"),
                    ));
                }
            };
            let gain_db = t.gain_db.unwrap_or(0.0);
            range(&at("gain_db"), f64::from(gain_db), -60.0, 24.0, " dB")?;
            let pan = t.pan.unwrap_or(0.0);
            range(&at("pan"), f64::from(pan), -1.0, 1.0, "")?;
            let offset_ms = t.offset_ms.unwrap_or(0.0);
            range(&at("offset_ms"), offset_ms, 0.0, MAX_OFFSET_MS, " ms")?;
            let name = match role {
                Role::Other => format!("track{}", i + 1),
                r => role_name(r).into(),
            };
            add(TrackPlan {
                url: t.url,
                field: at("url"),
                name,
                placement: Placement {
                    role,
                    gain_db,
                    pan,
                    offset_ms,
                    mute: t.mute.unwrap_or(false),
                },
            });
        }
        if tracks.is_empty() {
            return Err(malformed(
                "tracks",
                "give `instrumental_url` and/or `vocals_url`, or a `tracks` list",
            ));
        }
        if tracks.len() > 16 {
            return Err(invalid(
                "tracks",
                format!("at most 16 tracks can be mixed, got {}", tracks.len()),
            ));
        }

        // Levels the client set are kept as sent: no automatic vocal balance.
        if tracks.iter().any(|t| t.placement.gain_db != 0.0) {
            settings.vocal_lead_db = None;
        }
        if let Some(t) = self.target_lufs {
            range("target_lufs", t, -40.0, -5.0, " LUFS")?;
            settings.target_lufs = t;
        }
        match self.ducking {
            None | Some(DuckingRequest::Switch(true)) => {}
            Some(DuckingRequest::Switch(false)) => settings.ducking_db = None,
            Some(DuckingRequest::Depth {
                depth_db,
                speech_carve_db,
            }) => {
                if let Some(depth_db) = depth_db {
                    range("ducking.depth_db", depth_db, 0.0, 24.0, " dB")?;
                    settings.ducking_db = Some(depth_db);
                }
                if let Some(carve) = speech_carve_db {
                    range("ducking.speech_carve_db", carve, 0.0, 24.0, " dB")?;
                    settings.carve_db = Some(carve);
                }
            }
        }
        if let Some(eq) = &self.eq {
            settings.eq = MasterEq {
                low_shelf: band("eq.low_shelf", settings.eq.low_shelf, eq.low_shelf.as_ref())?,
                high_shelf: band(
                    "eq.high_shelf",
                    settings.eq.high_shelf,
                    eq.high_shelf.as_ref(),
                )?,
            };
        }
        match self.compression {
            None | Some(CompressionRequest::Switch(true)) => {}
            Some(CompressionRequest::Switch(false)) => settings.compression = None,
            Some(CompressionRequest::Settings {
                threshold_db,
                ratio,
                attack_ms,
                release_ms,
            }) => {
                let base = preset.bus_compressor;
                let c = Dynamics {
                    threshold_db: threshold_db.unwrap_or(base.threshold_db),
                    ratio: ratio.unwrap_or(base.ratio),
                    attack_ms: attack_ms.unwrap_or(base.attack_ms),
                    release_ms: release_ms.unwrap_or(base.release_ms),
                    knee_db: base.knee_db,
                };
                range(
                    "compression.threshold_db",
                    c.threshold_db,
                    -60.0,
                    0.0,
                    " dB",
                )?;
                range("compression.ratio", c.ratio, 1.0, 20.0, "")?;
                range("compression.attack_ms", c.attack_ms, 0.1, 500.0, " ms")?;
                range("compression.release_ms", c.release_ms, 5.0, 5000.0, " ms")?;
                settings.compression = Some(c);
            }
        }
        let format = match self.format.as_deref().unwrap_or("wav") {
            "wav" => OutputFormat::Wav,
            "flac" => OutputFormat::Flac,
            other => {
                return Err(invalid(
                    "format",
                    format!("{other:?} is not one of wav, flac"),
                ));
            }
        };
        let sample_format = match &self.bit_depth {
            None => SampleFormat::Int16,
            Some(v) => {
                let text = match v {
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    _ => String::new(),
                };
                SampleFormat::parse(&text).ok_or_else(|| {
                    invalid("bit_depth", format!("{v} is not one of 16, 24, \"32f\""))
                })?
            }
        };
        if format == OutputFormat::Flac && sample_format == SampleFormat::Float32 {
            return Err(invalid(
                "bit_depth",
                "FLAC stores 16- or 24-bit integers, not 32-bit float",
            ));
        }
        if let Some(rate) = self.sample_rate {
            if ![22050, 32000, 44100, 48000, 88200, 96000].contains(&rate) {
                return Err(invalid(
                    "sample_rate",
                    format!("{rate} is not one of 22050, 32000, 44100, 48000, 88200, 96000"),
                ));
            }
            settings.sample_rate = rate;
        }
        settings.master = self.master.unwrap_or(true);
        Ok(MixPlan {
            tracks,
            genre,
            genre_input,
            settings,
            format,
            sample_format,
            stems: self.stems.unwrap_or(false),
        })
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Vocals => "vocals",
        Role::Instrumental => "instrumental",
        Role::Other => "other",
    }
}

fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    if url.starts_with("/media/") || url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(malformed(field, format!("{url:?} is not a /media/... URL")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: serde_json::Value) -> Result<MixPlan, FieldError> {
        serde_json::from_value::<MixRequest>(json)
            .expect("shape")
            .plan()
    }

    #[test]
    fn the_seed_request_plans_two_tracks_with_the_genre_preset() {
        let p = plan(serde_json::json!({
            "instrumental_url": "/media/instrumental_a.wav",
            "vocals_url": "/media/vocals_b.wav",
            "genre": "Hip Hop"
        }))
        .unwrap();
        assert_eq!(p.tracks.len(), 2);
        assert_eq!(
            (p.tracks[0].placement.role, p.tracks[1].placement.role),
            (Role::Instrumental, Role::Vocals)
        );
        assert_eq!(p.genre.preset, Genre::HipHop);
        assert_eq!(p.settings.target_lufs, -14.0);
        assert_eq!(
            p.settings.ducking_db,
            Some(Genre::HipHop.mix_preset().ducking_depth_db)
        );
        assert_eq!(
            (p.format, p.sample_format, p.stems),
            (OutputFormat::Wav, SampleFormat::Int16, false)
        );
    }

    #[test]
    fn extended_fields_are_applied() {
        let p = plan(serde_json::json!({
            "tracks": [
                {"url": "/media/a.wav", "role": "vocals", "gain_db": -3, "pan": 0.2, "offset_ms": 1500},
                {"url": "/media/b.wav", "role": "vocals"},
                {"url": "/media/c.wav"}
            ],
            "target_lufs": -16, "ducking": {"depth_db": 6, "speech_carve_db": 0}, "compression": false,
            "eq": {"high_shelf": {"gain_db": -2}},
            "format": "flac", "bit_depth": 24, "sample_rate": 48000, "stems": true, "master": true
        }))
        .unwrap();
        let names: Vec<&str> = p.tracks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["vocals", "vocals2", "track3"]);
        assert_eq!(p.tracks[0].placement.offset_ms, 1500.0);
        assert_eq!(p.settings.ducking_db, Some(6.0));
        assert_eq!(p.settings.carve_db, Some(0.0));
        assert!(p.settings.compression.is_none());
        assert_eq!(p.settings.eq.high_shelf.gain_db, -2.0);
        assert_eq!(p.settings.sample_rate, 48000);
        assert_eq!(
            (p.format, p.sample_format, p.stems),
            (OutputFormat::Flac, SampleFormat::Int24, true)
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let field = |j: serde_json::Value| plan(j).unwrap_err();
        let e = field(serde_json::json!({}));
        assert_eq!((e.field.as_str(), e.status()), ("tracks", 400));
        let e = field(serde_json::json!({"tracks": [{"url": "/media/a.wav", "pan": 1.5}]}));
        assert_eq!((e.field.as_str(), e.status()), ("tracks[0].pan", 422));
        let e = field(serde_json::json!({"vocals_url": "/etc/passwd"}));
        assert_eq!(e.field, "vocals_url");
        let e = field(serde_json::json!({"vocals_url": "/media/a.wav", "format": "mp3"}));
        assert_eq!(e.field, "format");
        let e = field(serde_json::json!({"vocals_url": "/media/a.wav", "bit_depth": 12}));
        assert_eq!(e.field, "bit_depth");
        let e = field(
            serde_json::json!({"vocals_url": "/media/a.wav", "format": "flac", "bit_depth": "32f"}),
        );
        assert_eq!(e.field, "bit_depth");
        let e = field(serde_json::json!({"vocals_url": "/media/a.wav", "target_lufs": 3}));
        assert_eq!(e.field, "target_lufs");
        let e = field(serde_json::json!({"vocals_url": "/media/a.wav", "sample_rate": 12345}));
        assert_eq!(e.field, "sample_rate");
        let e = field(serde_json::json!({"tracks": [{"url": "/media/a.wav", "role": "drums"}]}));
        assert_eq!(e.field, "tracks[0].role");
        let e = field(
            serde_json::json!({"vocals_url": "/media/a.wav", "ducking": {"speech_carve_db": 30}}),
        );
        assert_eq!(
            (e.field.as_str(), e.status()),
            ("ducking.speech_carve_db", 422)
        );
    }
}

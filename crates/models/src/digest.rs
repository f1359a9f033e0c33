//! Streaming sha256 of files and of bytes on their way to disk.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::Path;

/// Size and sha256 of some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// Length in bytes.
    pub size: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
}

/// A writer that hashes and counts what passes through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Feeds bytes already on disk (a resumed download) to the hash without writing them.
    pub(crate) fn absorb(&mut self, reader: impl Read) -> io::Result<()> {
        let (size, hasher) = hash_into(reader, std::mem::take(&mut self.hasher))?;
        self.hasher = hasher;
        self.size += size;
        Ok(())
    }

    /// Bytes seen so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn finish(self) -> (W, FileDigest) {
        let digest = FileDigest {
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        };
        (self.inner, digest)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hash_into(mut reader: impl Read, mut hasher: Sha256) -> io::Result<(u64, Sha256)> {
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok((size, hasher)),
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Size and sha256 of a file.
pub fn digest_file(path: &Path) -> io::Result<FileDigest> {
    let (size, hasher) = hash_into(std::fs::File::open(path)?, Sha256::new())?;
    Ok(FileDigest {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbed_and_written_bytes_hash_as_one_stream() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = HashingWriter::new(Vec::new());
        w.absorb(&data[..1_234_567]).unwrap();
        w.write_all(&data[1_234_567..]).unwrap();
        let (written, digest) = w.finish();
        assert_eq!(written.len(), data.len() - 1_234_567);
        assert_eq!(digest.size, data.len() as u64);
        assert_eq!(digest.sha256, hex::encode(Sha256::digest(&data)));
    }
}

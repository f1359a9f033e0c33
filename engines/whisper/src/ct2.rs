//! Reader for CTranslate2's `model.bin`, the format faster-whisper models ship in.
//!
//! Layout (binary version 6, little-endian): `u32 version`, the spec name as a string,
//! `u32 spec revision`, `u32 variable count`, then per variable its name, `u8 rank`,
//! `u32` per dimension, `u8 dtype`, `u32 byte count` and the raw bytes; then `u32 alias count`
//! and alias/target name pairs. Strings are a `u16` length (counting a trailing NUL) and bytes.

use std::collections::BTreeMap;

/// Why a `model.bin` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    /// The file ended before a field it announced.
    #[error("model.bin is truncated: {0} ends past the end of the file")]
    Truncated(String),
    /// A binary version this reader does not know.
    #[error("model.bin has binary version {0}; this reader supports version 6")]
    Version(u32),
    /// A dtype code outside CTranslate2's enum.
    #[error("model.bin variable {name} has unknown dtype code {code}")]
    DType { name: String, code: u8 },
    /// The byte count disagrees with shape × element size.
    #[error("model.bin variable {name}: {bytes} bytes do not fit shape {shape:?} of {dtype:?}")]
    Size {
        name: String,
        bytes: usize,
        shape: Vec<usize>,
        dtype: Ct2DType,
    },
    /// A name that is not UTF-8.
    #[error("model.bin holds a name that is not UTF-8")]
    Name,
}

/// Element types CTranslate2 stores (its `DataType` enum, in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2DType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One stored variable: shape, type and little-endian bytes.
#[derive(Debug, Clone)]
pub struct Ct2Variable {
    pub shape: Vec<usize>,
    pub dtype: Ct2DType,
    pub data: Vec<u8>,
}

impl Ct2Variable {
    /// A scalar integer flag or count (`num_heads`, `pre_norm`, `activation`…).
    pub fn scalar_i64(&self) -> Option<i64> {
        if !self.shape.is_empty() {
            return None;
        }
        let d = &self.data;
        Some(match self.dtype {
            Ct2DType::I8 => i64::from(*d.first()? as i8),
            Ct2DType::I16 => i64::from(i16::from_le_bytes([*d.first()?, *d.get(1)?])),
            Ct2DType::I32 => i64::from(i32::from_le_bytes(d.get(..4)?.try_into().ok()?)),
            _ => return None,
        })
    }
}

/// A parsed `model.bin`: the spec it was written from and its variables, aliases resolved.
#[derive(Debug)]
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    pub variables: BTreeMap<String, Ct2Variable>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Ct2Error> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| Ct2Error::Truncated(what.to_string()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, Ct2Error> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, Ct2Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, Ct2Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self, what: &str) -> Result<String, Ct2Error> {
        let n = self.u16(what)? as usize;
        let b = self.take(n, what)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec()).map_err(|_| Ct2Error::Name)
    }
}

impl Ct2Model {
    /// Parses a whole `model.bin` held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Self, Ct2Error> {
        let mut c = Cursor { bytes, at: 0 };
        let version = c.u32("the binary version")?;
        if version != 6 {
            return Err(Ct2Error::Version(version));
        }
        let spec = c.string("the spec name")?;
        let revision = c.u32("the spec revision")?;
        let count = c.u32("the variable count")?;
        let mut variables = BTreeMap::new();
        for i in 0..count {
            let name = c.string(&format!("the name of variable {i}"))?;
            let rank = c.u8(&name)? as usize;
            let shape = (0..rank)
                .map(|_| c.u32(&name).map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let code = c.u8(&name)?;
            let dtype = Ct2DType::from_code(code).ok_or_else(|| Ct2Error::DType {
                name: name.clone(),
                code,
            })?;
            let len = c.u32(&name)? as usize;
            let elements: usize = shape.iter().product();
            if elements.checked_mul(dtype.size()) != Some(len) {
                return Err(Ct2Error::Size {
                    name,
                    bytes: len,
                    shape,
                    dtype,
                });
            }
            let data = c.take(len, &name)?.to_vec();
            variables.insert(name, Ct2Variable { shape, dtype, data });
        }
        // Files written by older converters may stop here; aliases are optional.
        if c.at < bytes.len() {
            let aliases = c.u32("the alias count")?;
            for _ in 0..aliases {
                let alias = c.string("an alias name")?;
                let target = c.string("an alias target")?;
                if let Some(v) = variables.get(&target).cloned() {
                    variables.insert(alias, v);
                }
            }
        }
        Ok(Self {
            spec,
            revision,
            variables,
        })
    }

    /// A scalar setting such as `encoder/num_heads`.
    pub fn scalar(&self, name: &str) -> Option<i64> {
        self.variables.get(name).and_then(Ct2Variable::scalar_i64)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a version-6 `model.bin` the way CTranslate2's converter lays it out.
    pub(crate) fn write_model(
        spec: &str,
        vars: &[(&str, Vec<usize>, u8, Vec<u8>)],
        aliases: &[(&str, &str)],
    ) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&6u32.to_le_bytes());
        string(&mut out, spec);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
        for (name, shape, code, data) in vars {
            string(&mut out, name);
            out.push(shape.len() as u8);
            for d in shape {
                out.extend_from_slice(&(*d as u32).to_le_bytes());
            }
            out.push(*code);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
        for (a, t) in aliases {
            string(&mut out, a);
            string(&mut out, t);
        }
        out
    }

    #[test]
    fn reads_variables_scalars_and_aliases() {
        let weights: Vec<u8> = [1.0f32, -2.0, 0.5, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let bin = write_model(
            "WhisperSpec",
            &[
                ("decoder/embeddings/weight", vec![2, 2], 0, weights.clone()),
                ("encoder/num_heads", vec![], 2, 6i16.to_le_bytes().to_vec()),
                ("decoder/activation", vec![], 1, vec![3]),
            ],
            &[("decoder/projection/weight", "decoder/embeddings/weight")],
        );
        let m = Ct2Model::parse(&bin).unwrap();
        assert_eq!(m.spec, "WhisperSpec");
        assert_eq!(m.revision, 3);
        assert_eq!(m.scalar("encoder/num_heads"), Some(6));
        assert_eq!(m.scalar("decoder/activation"), Some(3));
        let p = &m.variables["decoder/projection/weight"];
        assert_eq!(p.shape, vec![2, 2]);
        assert_eq!(p.dtype, Ct2DType::F32);
        assert_eq!(p.data, weights);
    }

    #[test]
    fn truncation_and_bad_sizes_are_named() {
        let bin = write_model(
            "WhisperSpec",
            &[("encoder/conv1/bias", vec![4], 4, vec![0; 8])],
            &[],
        );
        let err = Ct2Model::parse(&bin[..bin.len() - 10]).unwrap_err();
        assert!(err.to_string().contains("encoder/conv1/bias"), "{err}");

        let bad = write_model(
            "WhisperSpec",
            &[("encoder/conv1/bias", vec![4], 4, vec![0; 6])],
            &[],
        );
        let err = Ct2Model::parse(&bad).unwrap_err();
        assert!(
            matches!(err, Ct2Error::Size { ref name, bytes: 6, .. } if name == "encoder/conv1/bias"),
            "{err}"
        );
        let mut v5 = bin.clone();
        v5[0] = 5;
        assert!(matches!(Ct2Model::parse(&v5), Err(Ct2Error::Version(5))));
    }
}

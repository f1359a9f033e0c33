//! API keys, checked the same way by the host (before it reads a body) and by each component
//! (which files what it stores under the caller).
//!
//! Keys are configured as the SHA-256 digests of the keys, never the keys themselves, in
//! the Spin variable `api_keys` (comma-separated hex), so a leaked config grants nothing.
//! A caller sends `Authorization: Bearer <key>`; the key is hashed and compared with every
//! digest in constant time.

use sha2::{Digest, Sha256};

/// The Spin variable holding the digests.
pub const VARIABLE: &str = "api_keys";
/// The `WWW-Authenticate` challenge a 401 carries.
pub const CHALLENGE: &str = "Bearer realm=\"songforge\"";

/// The configured keys, as digests. Empty: the server is open to everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

/// Who is calling: the owner id media and jobs are filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// `key-` and the first 16 hex digits of the key's digest: stable, short, and no help in
    /// guessing the key.
    fn of(digest: &[u8; 32]) -> Self {
        Self(format!("key-{}", hex(&digest[..8])))
    }

    /// The id as stored and logged.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `api_keys` value is not a list of SHA-256 hex digests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "variable `api_keys`: entry {position} is not a SHA-256 digest in hex (64 hex digits): \
     store `sha256sum` of each key, never the key itself"
)]
pub struct BadDigest {
    /// The entry's position, from 1.
    pub position: usize,
}

/// Why a request was turned away (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No `Authorization` header.
    #[error("this server needs an API key: send `Authorization: Bearer <key>`")]
    Missing,
    /// An `Authorization` header that is not `Bearer <key>`.
    #[error("the Authorization header must be `Bearer <key>`")]
    NotBearer,
    /// A key that matches none of the configured digests.
    #[error("the API key is not one this server accepts")]
    Unknown,
}

impl ApiKeys {
    /// Parses the variable's value: digests separated by commas, blanks ignored, hex in
    /// either case.
    pub fn parse(value: &str) -> Result<Self, BadDigest> {
        let mut digests = Vec::new();
        for (i, entry) in value.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let digest = unhex32(entry).ok_or(BadDigest { position: i + 1 })?;
            digests.push(digest);
        }
        Ok(Self { digests })
    }

    /// No keys configured: everyone is served, anonymously.
    pub fn is_open(&self) -> bool {
        self.digests.is_empty()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether no keys are configured (as [`ApiKeys::is_open`]).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Checks an `Authorization` header value. `Ok(None)` when the server is open (any header
    /// is ignored then); `Ok(Some(id))` for a configured key.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<Option<KeyId>, Denied> {
        if self.is_open() {
            return Ok(None);
        }
        let value = authorization.ok_or(Denied::Missing)?;
        let key = bearer(value).ok_or(Denied::NotBearer)?;
        let digest: [u8; 32] = Sha256::digest(key).into();
        // Every digest is compared in full, whichever matches, so timing tells nothing.
        let mut found = None;
        for d in &self.digests {
            if constant_time_eq(d, &digest) {
                found = Some(KeyId::of(d));
            }
        }
        found.map(Some).ok_or(Denied::Unknown)
    }
}

/// The key in `Bearer <key>` (scheme case-insensitive, as RFC 6750 reads RFC 7235).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let key = rest.strip_prefix(b" ")?.trim_ascii();
    (!key.is_empty()).then_some(key)
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The SHA-256 digest of a key in hex: what goes in `api_keys`.
pub fn digest_hex(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `printf %s secret-one | sha256sum`.
    const ONE: &str = "a9c8ac8e2a0c01b0e5b3a5d6e8d0a1d0a6fb0e6c5ee1c2b8f0d6f7a0a1a0e7f1";

    fn keys(list: &[&str]) -> ApiKeys {
        let digests: Vec<String> = list.iter().map(|k| digest_hex(k)).collect();
        ApiKeys::parse(&digests.join(", ")).expect("digests parse")
    }

    #[test]
    fn a_configured_key_is_accepted_and_named_by_its_digest() {
        let k = keys(&["secret-one", "secret-two"]);
        let one = k.check(Some(b"Bearer secret-one")).expect("accepted");
        let two = k.check(Some(b"bearer  secret-two ")).expect("accepted");
        assert_eq!(
            one.as_ref().map(KeyId::as_str),
            Some(format!("key-{}", &digest_hex("secret-one")[..16]).as_str())
        );
        assert_ne!(one, two);
    }

    #[test]
    fn missing_malformed_and_unknown_keys_are_denied() {
        let k = keys(&["secret-one"]);
        assert_eq!(k.check(None), Err(Denied::Missing));
        assert_eq!(k.check(Some(b"Basic c2VjcmV0")), Err(Denied::NotBearer));
        assert_eq!(k.check(Some(b"Bearer")), Err(Denied::NotBearer));
        assert_eq!(k.check(Some(b"Bearer ")), Err(Denied::NotBearer));
        assert_eq!(k.check(Some(b"Bearer secret-on")), Err(Denied::Unknown));
        // The digest itself is not a key.
        let digest = format!("Bearer {}", digest_hex("secret-one"));
        assert_eq!(k.check(Some(digest.as_bytes())), Err(Denied::Unknown));
    }

    #[test]
    fn no_keys_means_open() {
        let k = ApiKeys::parse(" , ").expect("blank is fine");
        assert!(k.is_open());
        assert_eq!(k.check(None), Ok(None));
        assert_eq!(k.check(Some(b"Bearer anything")), Ok(None));
    }

    #[test]
    fn a_key_instead_of_a_digest_is_refused_naming_its_position() {
        let e = ApiKeys::parse(&format!("{ONE},my-plain-key")).expect_err("not hex");
        assert_eq!(e.position, 2);
        assert!(e.to_string().contains("sha256sum"), "{e}");
        let upper = ApiKeys::parse(&ONE.to_uppercase()).expect("upper-case hex");
        assert_eq!(upper, ApiKeys::parse(ONE).expect("lower-case hex"));
        assert!(ApiKeys::parse(&ONE[..62]).is_err());
    }

    #[test]
    fn the_digest_is_sha256_hex() {
        // `printf %s abc | sha256sum`
        assert_eq!(
            digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

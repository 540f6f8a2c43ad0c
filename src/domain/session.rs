//! A dashboard session's id: 32 random bytes the browser's cookie holds (`segs_…`); only its
//! SHA-256 is stored, so a copy of the database signs nobody in.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const TAG: &str = "segs_";
const ID_CHARS: usize = 43;

/// A session id as the cookie carries it; its shape checked, nothing more.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

/// Never printed: a session id in a log would sign its reader in.
impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(…)")
    }
}

impl SessionId {
    /// A new random id (the operating system's generator).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!(
            "{TAG}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Reads an id; `None` when it cannot be one (no database lookup is worth making).
    pub fn parse(raw: &str) -> Option<Self> {
        let id = raw.strip_prefix(TAG)?;
        let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        (id.len() == ID_CHARS && id.bytes().all(b64)).then(|| Self(raw.to_owned()))
    }

    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The id itself: for the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_and_are_not_printed() {
        let id = SessionId::generate();
        let raw = id.expose().to_owned();
        assert_eq!(raw.len(), 5 + 43);
        assert_eq!(SessionId::parse(&raw).unwrap().hash(), id.hash());
        assert_ne!(SessionId::generate().hash(), id.hash());
        assert!(!format!("{id:?}").contains(&raw[5..]));
        for bad in [
            "",
            "segs_",
            &raw[..raw.len() - 1],
            &format!("{raw}x"),
            &raw.replace("segs_", "segk_"),
        ] {
            assert!(SessionId::parse(bad).is_none(), "{bad}");
        }
    }
}

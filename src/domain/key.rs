//! API keys: their scopes, names and secrets.
//!
//! A key is `segk_<prefix>_<secret>`: a public prefix (12 hex digits, 48 random bits) that
//! finds the key's row, and 32 random bytes (base64url) that prove it. Only the SHA-256 of the
//! whole token is stored; the token itself is shown once, when the key is created.

use super::Invalid;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a key may do. Scopes do not imply one another: an `admin` key without `read` cannot
/// read customers (least privilege, as GitHub's fine-grained tokens).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Customers, attributes, segmentations, runs, segments, lookups, scoring, exports, charts.
    Read,
    /// Customer and order ingest, RFM refresh.
    Write,
    /// Segmentations (create, change), runs (trigger, cancel, activate).
    Train,
    /// Keys, the audit log, and deletes (customers, segmentations, attributes).
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Train, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Train => "train",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                Invalid(format!(
                    "{} is not a scope (read, write, train, admin)",
                    crate::error::quote(s)
                ))
            })
    }
}

/// A set of scopes, never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Self(Scope::ALL.iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// The scopes listed; refused when empty.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Result<Self, Invalid> {
        let bits = scopes.into_iter().fold(0, |bits, s| bits | s.bit());
        if bits == 0 {
            return Err(Invalid("a key needs at least one scope".to_owned()));
        }
        Ok(Self(bits))
    }

    /// `read,write`: comma-separated names (the CLI's form).
    pub fn parse_list(list: &str) -> Result<Self, Invalid> {
        let scopes = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Scope>, _>>()?;
        Self::new(scopes)
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

/// A key's name: 1 to 100 printable characters, for people to tell keys apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(name: &str) -> Result<Self, Invalid> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(Invalid("a key needs a name".to_owned()));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(Invalid(format!(
                "a key's name has at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Invalid(
                "a key's name holds no control characters".to_owned(),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const TAG: &str = "segk_";
const PREFIX_HEX: usize = 12;
const SECRET_BYTES: usize = 32;
const SECRET_CHARS: usize = 43;

/// A key's token as a client sends it; its shape checked, nothing more.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// Never printed: a token in a log or a debug dump would be a leaked key.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}…)", self.prefix())
    }
}

impl Token {
    /// A new random token (the operating system's generator).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 6 + SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let prefix: String = bytes[..6].iter().map(|b| format!("{b:02x}")).collect();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[6..]);
        Self(format!("{TAG}{prefix}_{secret}"))
    }

    /// Reads a token; `None` when it cannot be one (no database lookup is worth making).
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(TAG)?;
        let (prefix, secret) = rest.split_at_checked(PREFIX_HEX)?;
        let secret = secret.strip_prefix('_')?;
        let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
        let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        (prefix.bytes().all(hex) && secret.len() == SECRET_CHARS && secret.bytes().all(b64))
            .then(|| Self(raw.to_owned()))
    }

    /// The public part that finds the key: `segk_0123456789ab`.
    pub fn prefix(&self) -> &str {
        &self.0[..TAG.len() + PREFIX_HEX]
    }

    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// Whether `stored` is this token's hash, compared in constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        self.hash().ct_eq(stored).into()
    }

    /// The token itself: to show once, or to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_and_match_only_their_hash() {
        let token = Token::generate();
        let raw = token.expose().to_owned();
        assert_eq!(raw.len(), 5 + 12 + 1 + 43, "{raw}");
        let read = Token::parse(&raw).unwrap();
        assert_eq!(read.prefix(), &raw[..17]);
        assert!(read.matches(&token.hash()));
        assert!(!read.matches(&Token::generate().hash()));
        assert!(!read.matches(&[0; 31]));
        assert!(!format!("{read:?}").contains(&raw[18..]));
        for bad in [
            "",
            "segk_",
            &raw[..raw.len() - 1],
            &raw.replace("segk_", "sk_"),
            &format!("{raw}x"),
            &raw.replacen('_', "-", 2),
        ] {
            assert!(Token::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn scopes_parse_from_a_list() {
        let scopes = Scopes::parse_list("read, train").unwrap();
        assert!(scopes.contains(Scope::Read) && scopes.contains(Scope::Train));
        assert!(!scopes.contains(Scope::Admin));
        assert_eq!(scopes.names(), ["read", "train"]);
        assert!(Scopes::parse_list("").is_err());
        assert!(
            Scopes::parse_list("read,root")
                .unwrap_err()
                .0
                .contains("`root`")
        );
        assert_eq!(Scopes::all().iter().count(), 4);
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(KeyName::parse(" crm ").unwrap().as_str(), "crm");
        assert!(KeyName::parse("  ").is_err());
        assert!(KeyName::parse(&"x".repeat(101)).is_err());
        assert!(KeyName::parse("a\u{7}b").is_err());
    }
}

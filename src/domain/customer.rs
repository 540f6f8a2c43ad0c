use super::Invalid;

/// A customer's id in the CRM that owns it, kept verbatim: `0001` stays `0001`.
///
/// 1 to 128 characters, no control characters, no leading or trailing white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalId(String);

impl ExternalId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: impl Into<String>) -> Result<Self, Invalid> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(Invalid("customer id is empty".into()));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid(format!(
                "customer id is longer than {} characters",
                Self::MAX_CHARS
            )));
        }
        if raw.chars().any(char::is_control) {
            return Err(Invalid("customer id contains a control character".into()));
        }
        if raw.trim() != raw {
            return Err(Invalid(
                "customer id has leading or trailing white space".into(),
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Display for ExternalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_leading_zeros_verbatim() {
        assert_eq!(ExternalId::parse("0001").unwrap().as_str(), "0001");
    }

    #[test]
    fn refuses_empty_long_control_and_padded_ids() {
        assert!(ExternalId::parse("").is_err());
        assert!(ExternalId::parse("x".repeat(129)).is_err());
        assert!(ExternalId::parse("a\tb").is_err());
        assert!(ExternalId::parse(" 42").is_err());
        assert!(ExternalId::parse("é".repeat(128)).is_ok());
    }
}

/// What a row does to one attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Update<T> {
    /// Not mentioned: the stored value stays.
    Keep,
    /// Cleared: the stored value is removed.
    Clear,
    Set(T),
}

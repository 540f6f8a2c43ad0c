//! Webhooks: the events segstore announces, endpoint URLs (and which networks they may
//! reach), secrets, and the Standard Webhooks signature
//! (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>).

mod network;
pub mod payload;

pub use network::{AllowedNetworks, Class, Restricted};

use super::Invalid;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// What a webhook can subscribe to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum EventType {
    /// A run succeeded (whether or not it became active).
    #[serde(rename = "run.succeeded")]
    RunSucceeded,
    /// A run failed.
    #[serde(rename = "run.failed")]
    RunFailed,
    /// A run became its segmentation's active run.
    #[serde(rename = "segmentation.activated")]
    SegmentationActivated,
    /// Customers entered, moved between or left segments at an activation (batched).
    #[serde(rename = "segment.membership_changed")]
    MembershipChanged,
    /// A run drifted past its segmentation's thresholds.
    #[serde(rename = "segmentation.drift_detected")]
    DriftDetected,
    /// `POST /v1/webhooks/{id}/ping` (sent whatever the webhook subscribes to).
    #[serde(rename = "webhook.ping")]
    Ping,
}

impl EventType {
    /// Every type a webhook may subscribe to (a ping needs no subscription).
    pub const SUBSCRIBABLE: [Self; 5] = [
        Self::RunSucceeded,
        Self::RunFailed,
        Self::SegmentationActivated,
        Self::MembershipChanged,
        Self::DriftDetected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunSucceeded => "run.succeeded",
            Self::RunFailed => "run.failed",
            Self::SegmentationActivated => "segmentation.activated",
            Self::MembershipChanged => "segment.membership_changed",
            Self::DriftDetected => "segmentation.drift_detected",
            Self::Ping => "webhook.ping",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        [Self::Ping]
            .into_iter()
            .chain(Self::SUBSCRIBABLE)
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Invalid(format!(
                    "`{}` is not an event; one of {}",
                    crate::error::quote(s),
                    Self::SUBSCRIBABLE.map(|t| format!("`{t}`")).join(", ")
                ))
            })
    }
}

impl TryFrom<String> for EventType {
    type Error = Invalid;

    fn try_from(s: String) -> Result<Self, Invalid> {
        s.parse()
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet: due at `next_attempt_at`, after the deliveries before it in its
    /// queue.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up (after a day of failures, or a 410): `POST …/retry` sends it again.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

impl TryFrom<String> for DeliveryState {
    type Error = Invalid;

    fn try_from(s: String) -> Result<Self, Invalid> {
        match s.as_str() {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(Invalid(format!("unknown delivery state `{other}`"))),
        }
    }
}

/// The event types a webhook subscribes to: at least one, no duplicates, no ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriptions(Vec<EventType>);

impl Subscriptions {
    pub fn parse(names: &[String]) -> Result<Self, Invalid> {
        if names.is_empty() {
            return Err(Invalid(format!(
                "must name at least one event: {}",
                EventType::SUBSCRIBABLE.map(|t| format!("`{t}`")).join(", ")
            )));
        }
        let mut types = Vec::with_capacity(names.len());
        for name in names {
            let t: EventType = name.parse()?;
            if t == EventType::Ping {
                return Err(Invalid(
                    "`webhook.ping` needs no subscription: every webhook can be pinged".into(),
                ));
            }
            if types.contains(&t) {
                return Err(Invalid(format!("`{t}` is named twice")));
            }
            types.push(t);
        }
        types.sort();
        Ok(Self(types))
    }

    pub fn types(&self) -> &[EventType] {
        &self.0
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|t| t.as_str().to_owned()).collect()
    }
}

/// The longest URL a webhook may have.
pub const MAX_URL_LENGTH: usize = 2048;

/// An endpoint URL: `http` or `https`, with a host, no credentials, no fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() > MAX_URL_LENGTH {
            return Err(Invalid(format!(
                "is {} characters long; at most {MAX_URL_LENGTH}",
                raw.len()
            )));
        }
        let url = url::Url::parse(raw)
            .map_err(|e| Invalid(format!("`{}` is not a URL ({e})", crate::error::quote(raw))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Invalid(format!(
                "must be an http or https URL, not `{}`",
                url.scheme()
            )));
        }
        if url.host().is_none() {
            return Err(Invalid("must name a host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid(
                "must not carry credentials; authenticate with the signature".into(),
            ));
        }
        if url.fragment().is_some() {
            return Err(Invalid("must not have a fragment (`#…`)".into()));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host as an address, when it is one (`None`: a name to resolve).
    pub fn ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        }
    }

    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(80)
    }
}

/// A signing secret as Standard Webhooks writes it: `whsec_` and the key in base64.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Bytes of a generated key.
    pub const LENGTH: usize = 32;
    const PREFIX: &'static str = "whsec_";

    /// A new random key.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut key = vec![0; Self::LENGTH];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// A secret as stored or given (`whsec_…`).
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let encoded = text
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| Invalid("a secret starts with `whsec_`".into()))?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| Invalid("a secret is `whsec_` and base64".into()))?;
        if !(24..=64).contains(&key.len()) {
            return Err(Invalid("a secret's key is 24 to 64 bytes".into()));
        }
        Ok(Self(key))
    }

    /// The text shown once to the user and stored.
    pub fn expose(&self) -> String {
        format!("{}{}", Self::PREFIX, STANDARD.encode(&self.0))
    }

    /// `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The `webhook-signature` header: a signature per secret in use (during a rotation's
/// overlap, the new one and the previous one), space-separated.
pub fn signature_header(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // From the specification's reference libraries (standardwebhooks, tests).
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_are_not_printed() {
        let s = Secret::generate();
        assert_eq!(Secret::parse(&s.expose()).unwrap(), s);
        assert_eq!(format!("{s:?}"), "Secret(…)");
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let (a, b) = (Secret::generate(), Secret::generate());
        let header = signature_header(&[&a, &b], "msg_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [a.sign("msg_1", 1, b"{}"), b.sign("msg_1", 1, b"{}")]
        );
    }

    #[test]
    fn urls_are_http_with_a_host_and_no_credentials() {
        assert!(WebhookUrl::parse("https://crm.example.com/hooks/segstore?x=1").is_ok());
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad} accepted");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert!(WebhookUrl::parse(&long).is_err());
    }

    #[test]
    fn subscriptions_name_known_events_once() {
        let s = Subscriptions::parse(&["segment.membership_changed".into(), "run.failed".into()])
            .unwrap();
        assert_eq!(
            s.types(),
            [EventType::RunFailed, EventType::MembershipChanged]
        );
        assert!(Subscriptions::parse(&[]).is_err());
        assert!(Subscriptions::parse(&["run.failed".into(), "run.failed".into()]).is_err());
        assert!(Subscriptions::parse(&["webhook.ping".into()]).is_err());
        assert!(Subscriptions::parse(&["run.exploded".into()]).is_err());
    }
}

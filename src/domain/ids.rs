//! The ids in URLs: a segmentation's and a run's, parsed once at the HTTP boundary. A text
//! that is not a UUID names nothing, so it answers like an unknown id (404).

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The id a path names; a text that is not a UUID is a 404 naming it.
            pub fn parse(raw: &str) -> Result<Self, Error> {
                Uuid::parse_str(raw).map(Self).map_err(|_| Self::unknown(raw))
            }

            pub fn uuid(self) -> Uuid {
                self.0
            }

            /// The 404 for this id.
            pub fn not_found(self) -> Error {
                Self::unknown(self)
            }

            fn unknown(raw: impl fmt::Display) -> Error {
                Error::NotFound(format!(concat!("no ", $what, " with id `{}`"), raw))
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A segmentation's id.
    SegmentationId,
    "segmentation"
);
id_type!(
    /// A run's id.
    RunId,
    "run"
);
id_type!(
    /// A webhook's id.
    WebhookId,
    "webhook"
);
id_type!(
    /// A webhook delivery's id (its `webhook-id` header is `msg_` and this id's hex).
    DeliveryId,
    "delivery"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_uuids_and_name_what_is_not_one() {
        let id = RunId::parse("6f2b0e3e-59a4-4f8e-9d53-4a5f2c1c8e10").unwrap();
        assert_eq!(id.to_string(), "6f2b0e3e-59a4-4f8e-9d53-4a5f2c1c8e10");
        let Err(Error::NotFound(message)) = SegmentationId::parse("nope") else {
            panic!("a 404")
        };
        assert_eq!(message, "no segmentation with id `nope`");
        let Error::NotFound(message) = id.not_found() else {
            panic!("a 404")
        };
        assert!(message.starts_with("no run with id `6f2b"), "{message}");
    }
}

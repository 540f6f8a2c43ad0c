//! Activations: a run becoming its segmentation's active run, and the membership changes it
//! records. The feed's cursor is a [`Position`] in them, opaque to clients.

use super::Invalid;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What made a run active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// It succeeded, and its segmentation activates runs automatically.
    Run,
    /// `POST /v1/runs/{id}/activate` (a manual activation or a rollback).
    Api,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Api => "api",
        }
    }
}

impl FromStr for Cause {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s {
            "run" => Ok(Self::Run),
            "api" => Ok(Self::Api),
            other => Err(Invalid(format!("unknown activation cause `{other}`"))),
        }
    }
}

/// A customer's change at an activation, by stable segment id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// In a segment now, in none before (new, or previously not segmented or noise).
    Entered,
    /// From one segment to another.
    Moved,
    /// In no segment now (deleted, dropped for missing values, or noise).
    Left,
}

impl Change {
    /// The change from `from` to `to` (which differ; `None`: in no segment).
    pub fn of(from: Option<i32>, to: Option<i32>) -> Self {
        match (from, to) {
            (None, _) => Self::Entered,
            (Some(_), None) => Self::Left,
            (Some(_), Some(_)) => Self::Moved,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entered => "entered",
            Self::Moved => "moved",
            Self::Left => "left",
        }
    }
}

/// A place in a segmentation's changes: after the `ord`-th change of activation
/// `activation`. [`Position::START`] is before every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub activation: i64,
    pub ord: i32,
}

impl Position {
    pub const START: Self = Self {
        activation: 0,
        ord: 0,
    };

    /// The cursor a client stores: `c1_<activation>_<ord>` (opaque to clients; the schema
    /// gives its pattern so that every text it allows parses).
    pub fn cursor(self) -> String {
        format!("c1_{}_{}", self.activation, self.ord)
    }

    /// A cursor given back by a client.
    pub fn parse_cursor(cursor: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid(format!(
                "`{}` is not a cursor this server gave (pass a `next_cursor` as it came)",
                crate::error::quote(cursor)
            ))
        };
        let digits = |s: &str, most: usize| {
            !s.is_empty() && s.len() <= most && s.bytes().all(|b| b.is_ascii_digit())
        };
        let rest = cursor.strip_prefix("c1_").ok_or_else(bad)?;
        let (activation, ord) = rest.split_once('_').ok_or_else(bad)?;
        if !digits(activation, ACTIVATION_DIGITS) || !digits(ord, ORD_DIGITS) {
            return Err(bad());
        }
        Ok(Self {
            activation: activation.parse().map_err(|_| bad())?,
            ord: ord.parse().map_err(|_| bad())?,
        })
    }
}

/// Digits of a cursor's activation and change numbers: every cursor of that shape parses.
const ACTIVATION_DIGITS: usize = 15;
const ORD_DIGITS: usize = 9;

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cursor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_text_is_refused() {
        for p in [
            Position::START,
            Position {
                activation: 7,
                ord: 123_456,
            },
            Position {
                activation: 999_999_999_999_999,
                ord: 999_999_999,
            },
        ] {
            assert_eq!(Position::parse_cursor(&p.cursor()), Ok(p));
        }
        for bad in [
            "",
            "c1_",
            "7.3",
            "c1_!!",
            "c1_7",
            "c2_7_3",
            "c1_-1_3",
            "c1_7_",
            "c1_7_3_1",
            "c1_1234567890123456_1",
            "c1_1_1234567890",
        ] {
            assert!(Position::parse_cursor(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn positions_order_by_activation_then_ord() {
        let a = Position {
            activation: 1,
            ord: 900,
        };
        let b = Position {
            activation: 2,
            ord: 1,
        };
        assert!(a < b && Position::START < a);
    }

    #[test]
    fn changes_are_named_by_which_side_has_a_segment() {
        assert_eq!(Change::of(None, Some(1)), Change::Entered);
        assert_eq!(Change::of(Some(1), Some(2)), Change::Moved);
        assert_eq!(Change::of(Some(1), None), Change::Left);
    }
}

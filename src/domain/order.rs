//! Order lines as exports write them: customer ids written as floats, dates in ISO or
//! US/European slashed forms, and the validated line.

use super::{ExternalId, Invalid, NumericValue};
use crate::error::quote;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// How a slashed date (`1/12/2010`) is read: month first (US exports, the common copy of
/// Online Retail) or day first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
pub enum DateOrder {
    /// `12/1/2010` is 1 December.
    #[default]
    #[serde(rename = "mdy")]
    MonthFirst,
    /// `12/1/2010` is 12 January.
    #[serde(rename = "dmy")]
    DayFirst,
}

impl DateOrder {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "mdy" => Some(Self::MonthFirst),
            "dmy" => Some(Self::DayFirst),
            _ => None,
        }
    }
}

/// A timestamp (UTC): `2010-12-01 08:26:00`, `2010-12-01T08:26:00Z` (RFC 3339, any offset),
/// `2010-12-01 08:26`, `2010-12-01`, or slashed `12/1/2010 8:26[:00]` / `12/1/2010`.
pub fn parse_timestamp(raw: &str, order: DateOrder) -> Result<DateTime<Utc>, Invalid> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    if s.contains('/') {
        let (date, time) = s.split_once(' ').unwrap_or((s, ""));
        let parts: Vec<&str> = date.split('/').collect();
        if let [a, b, y] = parts[..] {
            let (m, d) = match order {
                DateOrder::MonthFirst => (a, b),
                DateOrder::DayFirst => (b, a),
            };
            let iso = format!("{y}-{m}-{d}");
            let date = NaiveDate::parse_from_str(&iso, "%Y-%m-%d").map_err(|_| {
                let hint = match order {
                    DateOrder::MonthFirst => "month first (`date_format=mdy`); for day-first dates pass `date_format=dmy`",
                    DateOrder::DayFirst => "day first (`date_format=dmy`)",
                };
                Invalid(format!("{} is not a date read {hint}", quote(raw)))
            })?;
            let time = time.trim();
            let t = if time.is_empty() {
                date.and_hms_opt(0, 0, 0)
            } else {
                ["%H:%M:%S", "%H:%M"]
                    .iter()
                    .find_map(|f| chrono::NaiveTime::parse_from_str(time, f).ok())
                    .map(|t| date.and_time(t))
            };
            if let Some(t) = t {
                return Ok(t.and_utc());
            }
        }
    }
    Err(Invalid(format!(
        "{} is not a date and time (e.g. `2010-12-01 08:26:00` or `12/1/2010 8:26`)",
        quote(raw)
    )))
}

/// A customer id as exports write it: trimmed; a whole number written as a float
/// (`17850.0`) is that number (`17850`). `None` for a missing id.
pub fn parse_customer_id(raw: &str) -> Result<Option<ExternalId>, Invalid> {
    let s = raw.trim();
    if s.is_empty() || super::is_missing(s) {
        return Ok(None);
    }
    let s = match s.split_once('.') {
        Some((whole, fraction))
            if !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && !fraction.is_empty()
                && fraction.bytes().all(|b| b == b'0') =>
        {
            whole
        }
        _ => s,
    };
    ExternalId::parse(s).map(Some)
}

/// One order line, valid.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub order_id: String,
    /// The export's line id, or `None` for the line's position among its order's lines.
    pub line_no: Option<i32>,
    pub customer: ExternalId,
    pub ordered_at: DateTime<Utc>,
    pub product: Option<String>,
    pub description: Option<String>,
    pub quantity: f64,
    pub unit_price: Option<f64>,
    /// quantity × unit price, or the export's line amount.
    pub amount: f64,
    pub currency: Option<String>,
    pub country: Option<String>,
}

impl OrderLine {
    /// Whether RFM and predicted value count the line (`store::orders::COUNTED` in SQL): not a
    /// cancellation (order id starting with `C`), quantity, amount and (when given) unit
    /// price above 0.
    pub fn counted(&self) -> bool {
        !self.order_id.starts_with('C')
            && self.quantity > 0.0
            && self.amount > 0.0
            && self.unit_price.is_none_or(|p| p > 0.0)
    }
}

pub const MAX_ORDER_ID_CHARS: usize = 128;

/// An order id: 1 to 128 characters after trimming.
pub fn parse_order_id(raw: &str) -> Result<String, Invalid> {
    let s = raw.trim();
    if s.is_empty() || raw.chars().count() > MAX_ORDER_ID_CHARS {
        return Err(Invalid(format!(
            "{} is not an order id: 1 to {MAX_ORDER_ID_CHARS} characters",
            quote(raw)
        )));
    }
    Ok(s.to_owned())
}

/// A finite number.
pub fn parse_number(raw: &str) -> Result<f64, Invalid> {
    NumericValue::parse(raw).map(|v| v.get())
}

/// The line amount: `quantity × unit_price`, or the given amount.
pub fn line_amount(
    quantity: f64,
    unit_price: Option<f64>,
    amount: Option<f64>,
) -> Result<f64, Invalid> {
    match (unit_price, amount) {
        (Some(p), _) => Ok(quantity * p),
        (None, Some(a)) => Ok(a),
        (None, None) => Err(Invalid("a unit price or a line amount is needed".into())),
    }
}

/// What an upsert of order lines did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderMerge {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub customers_created: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn reads_the_date_forms_of_both_online_retail_copies() {
        let m = DateOrder::MonthFirst;
        assert_eq!(
            parse_timestamp("2010-12-01 08:26:00", m).unwrap(),
            at(2010, 12, 1, 8, 26)
        );
        assert_eq!(
            parse_timestamp("12/1/2010 8:26", m).unwrap(),
            at(2010, 12, 1, 8, 26)
        );
        assert_eq!(
            parse_timestamp("12/13/2010 18:05", m).unwrap(),
            at(2010, 12, 13, 18, 5)
        );
        assert_eq!(
            parse_timestamp("1/12/2010 8:26", DateOrder::DayFirst).unwrap(),
            at(2010, 12, 1, 8, 26)
        );
        assert_eq!(
            parse_timestamp("2011-01-05", m).unwrap(),
            at(2011, 1, 5, 0, 0)
        );
        assert_eq!(
            parse_timestamp("2011-01-05T10:00:00+02:00", m).unwrap(),
            at(2011, 1, 5, 8, 0)
        );
        let e = parse_timestamp("13/1/2010 8:26", m).unwrap_err().0;
        assert!(e.contains("date_format=dmy"), "{e}");
        assert!(parse_timestamp("yesterday", m).is_err());
        assert!(parse_timestamp("2010-02-30 10:00:00", m).is_err());
    }

    #[test]
    fn float_customer_ids_are_whole_numbers() {
        let id = |s: &str| parse_customer_id(s).unwrap().map(|i| i.as_str().to_owned());
        assert_eq!(id("17850.0").as_deref(), Some("17850"));
        assert_eq!(id(" 17850 ").as_deref(), Some("17850"));
        assert_eq!(id("17850.5").as_deref(), Some("17850.5"));
        assert_eq!(id("A-17.0").as_deref(), Some("A-17.0"));
        assert_eq!(id(""), None);
        assert_eq!(id("NaN"), None);
    }

    #[test]
    fn amounts() {
        assert_eq!(line_amount(6.0, Some(2.55), None).unwrap(), 6.0 * 2.55);
        assert_eq!(line_amount(2.0, None, Some(9.5)).unwrap(), 9.5);
        assert!(line_amount(2.0, None, None).is_err());
    }
}

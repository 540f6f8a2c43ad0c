//! Cron schedules: five fields, in UTC.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule(Cron);

impl Schedule {
    /// Standard five-field cron (`minute hour day-of-month month day-of-week`), in UTC.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let fields = expression.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "`{expression}` has {fields} fields; a schedule has five: minute hour \
                 day-of-month month day-of-week (UTC), e.g. `0 3 * * *`"
            ));
        }
        CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map(Self)
            .map_err(|e| format!("`{expression}` is not a cron expression: {e}"))
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.find_next_occurrence(&t, false).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn daily_at_three() {
        let s = Schedule::parse("0 3 * * *").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 2, 59, 59).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0).unwrap())
        );
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap())
        );
    }

    #[test]
    fn mondays_every_fifteen_minutes() {
        let s = Schedule::parse("*/15 9-10 * * MON").unwrap();
        // Friday 2026-11-27 → Monday 2026-11-30 09:00.
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap())
        );
    }

    #[test]
    fn refuses_what_is_not_five_fields() {
        assert!(Schedule::parse("0 0 3 * * *").unwrap_err().contains("five"));
        assert!(Schedule::parse("daily").unwrap_err().contains("five"));
        assert!(Schedule::parse("61 3 * * *").is_err());
        assert!(Schedule::parse("0 3 * * XYZ").is_err());
    }
}

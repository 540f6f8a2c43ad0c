//! Cron schedules (five fields, UTC): a segmentation's runs are queued when due, exactly once
//! per occurrence whatever the number of replicas (the occurrence is the run's idempotency
//! key, and due segmentations are claimed with `FOR UPDATE SKIP LOCKED`).

use crate::domain::run::Trigger;
use crate::store::Pool;
use crate::store::{runs, segmentations};
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

/// Queues a run for every segmentation whose schedule is due, and moves its next time on.
/// Returns how many runs were queued.
pub async fn enqueue_due(pool: &Pool) -> anyhow::Result<usize> {
    let mut tx = crate::store::begin(pool).await?;
    let due = segmentations::due(&mut *tx).await?;
    let now = Utc::now();
    let mut queued = 0;
    for s in due {
        let next = Schedule::parse(&s.schedule)
            .ok()
            .and_then(|c| c.next_after(now));
        // One run per occurrence; none while another is still pending.
        let key = format!("schedule:{}", s.next_run_at.to_rfc3339());
        if runs::pending(&mut *tx, s.segmentation_id).await?.is_none()
            && runs::find_by_key(&mut *tx, s.segmentation_id, &key)
                .await?
                .is_none()
        {
            runs::insert(
                &mut *tx,
                &runs::NewRun {
                    run_id: uuid::Uuid::new_v4(),
                    segmentation_id: s.segmentation_id,
                    segmentation_version: s.version,
                    config: &s.config,
                    trigger: Trigger::Schedule,
                    idempotency_key: Some(&key),
                },
            )
            .await?;
            queued += 1;
            tracing::info!(segmentation_id = %s.segmentation_id, occurrence = %s.next_run_at, "scheduled run queued");
        }
        segmentations::set_next_run(&mut *tx, s.segmentation_id, next).await?;
    }
    crate::store::commit(tx).await?;
    Ok(queued)
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

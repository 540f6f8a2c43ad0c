//! Segmentation configurations: create, read, change (a new version), delete.

use crate::domain::SegmentationId;
use crate::domain::drift::DriftPolicy;
use crate::domain::schedule::Schedule;
use crate::domain::segmentation::Segmentation;
use crate::domain::segmentation::SegmentationConfig;
use crate::error::{Error, Result};
use crate::service::lookup::LookupCache;
use crate::store::Pool;
use crate::store::assignments;
use crate::store::attributes;
use crate::store::runs;
use crate::store::segmentations as store;
use uuid::Uuid;

pub const MAX_NAME_CHARS: usize = 100;

/// What a client may change; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub description: Option<String>,
    pub config: Option<ConfigPatch>,
    pub auto_activate: Option<bool>,
    /// `Some(None)` removes the thresholds.
    pub drift: Option<Option<DriftPolicy>>,
    /// `Some(None)` removes the schedule.
    pub schedule: Option<Option<String>>,
}

/// A JSON merge patch (RFC 7396) of a segmentation's configuration.
#[derive(Debug, Clone)]
pub struct ConfigPatch(pub serde_json::Value);

/// A cron schedule and its first occurrence from now.
fn check_schedule(expression: &str) -> Result<(String, chrono::DateTime<chrono::Utc>)> {
    let expression = expression.trim();
    let schedule = Schedule::parse(expression).map_err(|e| Error::invalid("schedule", e))?;
    let next = schedule
        .next_after(chrono::Utc::now())
        .ok_or_else(|| Error::invalid("schedule", format!("`{expression}` never fires")))?;
    Ok((expression.to_owned(), next))
}

fn check_drift(policy: &DriftPolicy) -> Result<()> {
    let errors = policy.check("drift.");
    match errors.first() {
        None => Ok(()),
        Some(first) => Err(Error::invalid_many(
            format!("the drift thresholds are invalid: {first}"),
            errors,
        )),
    }
}

fn check_name(name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters, not only white space"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// The configuration, checked against the current catalogue.
async fn validated(
    conn: &mut crate::store::Conn,
    config: &SegmentationConfig,
) -> Result<SegmentationConfig> {
    let catalogue = attributes::load(&mut *conn).await?;
    config.validate(&catalogue, "config.").map_err(|errors| {
        Error::invalid_many(
            format!("the configuration is invalid: {}", errors[0]),
            errors,
        )
    })?;
    Ok(config.clone())
}

fn conflict_on_name(e: crate::store::Error, name: &str) -> Error {
    match e.constraint() {
        Some(crate::store::Constraint::SegmentationName) => Error::Conflict(format!(
            "name: a segmentation named `{name}` exists already"
        )),
        _ => e.into(),
    }
}

#[tracing::instrument(skip(pool, description, config))]
pub async fn create(
    pool: &Pool,
    name: &str,
    description: &str,
    config: &SegmentationConfig,
    auto_activate: bool,
    drift: Option<&DriftPolicy>,
    schedule: Option<&str>,
) -> Result<Segmentation> {
    let name = check_name(name)?;
    if let Some(policy) = drift {
        check_drift(policy)?;
    }
    let schedule = schedule.map(check_schedule).transpose()?;
    let mut tx = crate::store::begin(pool).await?;
    let config = validated(&mut tx, config).await?;
    let row = store::insert(
        &mut *tx,
        store::NewRow {
            id: Uuid::new_v4(),
            name: &name,
            description,
            config: &config,
            auto_activate,
            drift,
            schedule: schedule.as_ref().map(|(e, next)| (e.as_str(), *next)),
        },
    )
    .await
    .map_err(|e| conflict_on_name(e, &name))?;
    crate::store::commit(tx).await?;
    Ok(row)
}

pub async fn get(pool: &Pool, id: SegmentationId) -> Result<Segmentation> {
    store::find(pool, id.uuid())
        .await?
        .ok_or_else(|| id.not_found())
}

pub async fn list(pool: &Pool) -> Result<Vec<Segmentation>> {
    Ok(store::list(pool).await?)
}

/// Applies the changes; a changed configuration is a new version.
#[tracing::instrument(skip(pool, changes), fields(segmentation_id = %id))]
pub async fn update(pool: &Pool, id: SegmentationId, changes: Changes) -> Result<Segmentation> {
    let uuid = id.uuid();
    let name = changes.name.as_deref().map(check_name).transpose()?;
    let schedule = changes
        .schedule
        .map(|s| s.as_deref().map(check_schedule).transpose())
        .transpose()?;
    let mut tx = crate::store::begin(pool).await?;
    let mut row = store::find_for_update(&mut *tx, uuid)
        .await?
        .ok_or_else(|| id.not_found())?;
    if let Some(patch) = &changes.config {
        let config = row
            .config
            .patched(&patch.0, "config.")
            .map_err(|e| Error::invalid_fields(vec![e]))?;
        let config = validated(&mut tx, &config).await?;
        if config != row.config {
            row.config = config;
            row.version += 1;
        }
    }
    if let Some(name) = name {
        row.name = name;
    }
    if let Some(description) = changes.description {
        row.description = description;
    }
    if let Some(auto) = changes.auto_activate {
        row.auto_activate = auto;
    }
    if let Some(drift) = changes.drift {
        if let Some(policy) = &drift {
            check_drift(policy)?;
        }
        row.drift = drift;
    }
    if let Some(schedule) = schedule {
        (row.schedule, row.next_run_at) = match schedule {
            Some((expression, next)) => (Some(expression), Some(next)),
            None => (None, None),
        };
    }
    let renamed = changes.name.is_some();
    let name = row.name.clone();
    let row = store::update(&mut *tx, &row)
        .await
        .map_err(|e| conflict_on_name(e, &name))?;
    crate::store::commit(tx).await?;
    if renamed {
        // The report views name the segmentation.
        crate::service::report::sync(pool).await;
    }
    Ok(row)
}

/// Deletes the segmentation with its runs and their assignments, in one transaction.
#[tracing::instrument(skip(pool, cache), fields(segmentation_id = %id))]
pub async fn delete(pool: &Pool, cache: &LookupCache, id: SegmentationId) -> Result<()> {
    let uuid = id.uuid();
    let mut tx = crate::store::begin(pool).await?;
    store::find_for_update(&mut *tx, uuid)
        .await?
        .ok_or_else(|| id.not_found())?;
    let dropped = runs::with_assignments(&mut *tx, uuid).await?;
    for &run_id in &dropped {
        assignments::drop_partition(&mut tx, run_id).await?;
    }
    crate::store::activations::delete_segmentation(&mut tx, uuid).await?;
    store::delete(&mut *tx, uuid).await?;
    cache.changing(uuid, crate::store::commit(tx)).await?;
    for run_id in dropped {
        cache.forget_run(run_id);
    }
    crate::service::report::sync(pool).await;
    Ok(())
}

//! `audit_log`: one row per write, train and admin call made with a key.

use super::Result;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A call to record.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub key_id: Uuid,
    pub method: String,
    pub route: String,
    pub targets: BTreeMap<String, String>,
    pub status: u16,
    pub request_id: Option<String>,
}

/// A recorded call, with the name of the key that made it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub audit_id: i64,
    pub at: DateTime<Utc>,
    pub key_id: Uuid,
    pub key_name: String,
    pub method: String,
    pub route: String,
    pub targets: Json<BTreeMap<String, String>>,
    pub status: i16,
    pub request_id: Option<String>,
}

pub async fn insert(db: impl PgExecutor<'_>, entry: &NewEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (key_id, method, route, targets, status, request_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.key_id)
    .bind(&entry.method)
    .bind(&entry.route)
    .bind(Json(&entry.targets))
    .bind(entry.status as i16)
    .bind(&entry.request_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Which entries to read: newest first, before `before` (an `audit_id`), of one key.
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    pub before: Option<i64>,
    pub key_id: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(db: impl PgExecutor<'_>, filter: Filter) -> Result<Vec<Entry>> {
    sqlx::query_as(
        "SELECT a.audit_id, a.at, a.key_id, k.name AS key_name, a.method, a.route, a.targets,
                a.status, a.request_id
         FROM audit_log a JOIN api_keys k USING (key_id)
         WHERE ($1::bigint IS NULL OR a.audit_id < $1) AND ($2::uuid IS NULL OR a.key_id = $2)
         ORDER BY a.audit_id DESC
         LIMIT $3",
    )
    .bind(filter.before)
    .bind(filter.key_id)
    .bind(filter.limit)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

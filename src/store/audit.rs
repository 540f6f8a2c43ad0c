//! `audit_log`: one row per write, train and admin call made with a key, per key change made
//! from the command line, per refused sign-in, and per source address and minute of refused
//! requests.

use super::Result;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use uuid::Uuid;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A key (or a dashboard session of that key).
    Key(Uuid),
    /// `segstore keys …` or the first start.
    CommandLine,
    /// Nobody known: a refused sign-in, refused requests.
    Anonymous,
}

impl Actor {
    fn parts(self) -> (&'static str, Option<Uuid>) {
        match self {
            Actor::Key(id) => ("key", Some(id)),
            Actor::CommandLine => ("cli", None),
            Actor::Anonymous => ("anonymous", None),
        }
    }
}

/// A call to record.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: Actor,
    pub method: String,
    pub route: String,
    pub targets: BTreeMap<String, String>,
    pub status: u16,
    pub request_id: Option<String>,
    /// The client's address, where the actor is not a key.
    pub source: Option<IpAddr>,
    /// How many calls the entry stands for (refusals are counted, not listed).
    pub count: u32,
}

/// A recorded call, with the name of the key that made it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub audit_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub key_id: Option<Uuid>,
    pub key_name: Option<String>,
    pub method: String,
    pub route: String,
    pub targets: Json<BTreeMap<String, String>>,
    pub status: i16,
    pub request_id: Option<String>,
    pub source: Option<String>,
    pub count: i32,
}

/// Writes entries (one statement, however many).
pub async fn insert(db: impl PgExecutor<'_>, entries: &[NewEntry]) -> Result<()> {
    let mut actors = Vec::with_capacity(entries.len());
    let mut keys = Vec::with_capacity(entries.len());
    for e in entries {
        let (actor, key) = e.actor.parts();
        actors.push(actor);
        keys.push(key);
    }
    let column = |f: fn(&NewEntry) -> String| entries.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO audit_log (actor, key_id, method, route, targets, status, request_id,
                                source, count)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[],
                              $6::smallint[], $7::text[], $8::text[]::inet[], $9::int[])",
    )
    .bind(actors)
    .bind(keys)
    .bind(column(|e| e.method.clone()))
    .bind(column(|e| e.route.clone()))
    .bind(
        entries
            .iter()
            .map(|e| Json(e.targets.clone()))
            .collect::<Vec<_>>(),
    )
    .bind(entries.iter().map(|e| e.status as i16).collect::<Vec<_>>())
    .bind(
        entries
            .iter()
            .map(|e| e.request_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        entries
            .iter()
            .map(|e| e.source.map(|a| a.to_string()))
            .collect::<Vec<_>>(),
    )
    .bind(entries.iter().map(|e| e.count as i32).collect::<Vec<_>>())
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
        "SELECT a.audit_id, a.at, a.actor, a.key_id, k.name AS key_name, a.method, a.route,
                a.targets, a.status, a.request_id, host(a.source) AS source, a.count
         FROM audit_log a LEFT JOIN api_keys k USING (key_id)
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

//! API keys: creating, listing and revoking them, and checking a request's key — from a
//! per-replica cache that a revocation on any replica empties at once (`LISTEN/NOTIFY`),
//! with per-key rate limits and `last_used_at` written in batches.

use crate::domain::key::{KeyName, Scopes, Token};
use crate::error::{Error, Result};
use crate::store::keys::{self as store, Key, NewKey};
use crate::store::{self as db, Pool};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A token bucket's size: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub per_second: f64,
    pub burst: u32,
}

impl Budget {
    /// No limit.
    pub const UNLIMITED: Budget = Budget {
        per_second: f64::INFINITY,
        burst: u32::MAX,
    };

    fn is_unlimited(self) -> bool {
        self.per_second.is_infinite()
    }
}

/// The two budgets every key has on each replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Every call but lookups.
    pub calls: Budget,
    /// Customer → segment lookups (the hot path CRMs call per customer).
    pub lookups: Budget,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            calls: Budget::UNLIMITED,
            lookups: Budget::UNLIMITED,
        }
    }
}

/// Which budget a call draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetKind {
    Calls,
    Lookups,
}

/// The key a request was made with, once checked.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    pub key_id: Uuid,
    pub scopes: Scopes,
}

/// Why a key was refused (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the API key is not valid")]
    Unknown,
    #[error("the API key has been revoked")]
    Revoked,
    #[error("the API key has expired")]
    Expired,
}

/// A rate limit's state after a call: what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Refused: seconds until one call is allowed.
    pub retry_after: Option<u64>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(budget: Budget, now: Instant) -> Self {
        Self {
            tokens: f64::from(budget.burst),
            at: now,
        }
    }

    fn take(&mut self, budget: Budget, now: Instant) -> Quota {
        let burst = f64::from(budget.burst);
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * budget.per_second).min(burst);
        self.at = now;
        let retry_after = if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(((1.0 - self.tokens) / budget.per_second).ceil().max(1.0) as u64)
        };
        Quota {
            limit: budget.burst,
            remaining: self.tokens.floor() as u32,
            reset: ((burst - self.tokens) / budget.per_second).ceil() as u64,
            retry_after,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct KeySettings {
    pub limits: RateLimits,
    /// How long a cached key is trusted while revocations are being listened to (a safety
    /// net: a revocation empties the caches at once).
    pub ttl: Duration,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            limits: RateLimits::default(),
            ttl: Duration::from_secs(60),
        }
    }
}

/// How long keys cached before an outage keep serving while PostgreSQL is down.
pub const OUTAGE_GRACE: Duration = Duration::from_secs(60);
/// While PostgreSQL is down, how often a key's read tries it again.
const RETRY_DB: Duration = Duration::from_secs(1);
/// How long a key's read waits for PostgreSQL.
const DB_WAIT: Duration = Duration::from_secs(2);

struct Cached {
    key: Arc<Key>,
    fetched: Instant,
}

/// This replica's view of the keys.
pub struct KeyRing {
    pool: Pool,
    settings: KeySettings,
    cache: Mutex<HashMap<String, Cached>>,
    /// Whether revocations are being heard; the cache is used only then.
    listening: AtomicBool,
    /// Bumped by every eviction: a read that started before one does not fill the cache.
    generation: AtomicU64,
    /// When revocations stopped being heard (while they are not).
    lost_at: Mutex<Option<Instant>>,
    /// When PostgreSQL last failed to answer a key's read.
    db_failed_at: Mutex<Option<Instant>>,
    /// Keys used since the last flush, and when.
    used: Mutex<HashMap<Uuid, DateTime<Utc>>>,
    buckets: Mutex<HashMap<(Uuid, BudgetKind), Bucket>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl KeyRing {
    pub fn new(pool: Pool, settings: KeySettings) -> Arc<Self> {
        Arc::new(Self {
            pool,
            settings,
            cache: Mutex::default(),
            listening: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            lost_at: Mutex::default(),
            db_failed_at: Mutex::default(),
            used: Mutex::default(),
            buckets: Mutex::default(),
        })
    }

    pub fn limits(&self) -> RateLimits {
        self.settings.limits
    }

    /// The key a token names, if it is valid now.
    pub async fn authenticate(&self, token: &Token) -> Result<Result<Principal, Refused>> {
        let key = match self.cached(token.prefix()) {
            Some(key) => Some(key),
            // Boxed: the database read's large future is allocated on a miss only, not in
            // every request's future.
            None => Box::pin(self.read(token.prefix())).await?,
        };
        let Some(key) = key.filter(|key| token.matches(&key.secret_hash)) else {
            return Ok(Err(Refused::Unknown));
        };
        if key.revoked_at.is_some() {
            return Ok(Err(Refused::Revoked));
        }
        let now = Utc::now();
        if key.expires_at.is_some_and(|at| at <= now) {
            return Ok(Err(Refused::Expired));
        }
        lock(&self.used).insert(key.id, now);
        Ok(Ok(Principal {
            key_id: key.id,
            scopes: key.scopes,
        }))
    }

    /// A cached key, while revocations are heard.
    fn cached(&self, prefix: &str) -> Option<Arc<Key>> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.cache)
            .get(prefix)
            .filter(|c| c.fetched.elapsed() < self.settings.ttl)
            .map(|c| c.key.clone())
    }

    /// Reads a key from PostgreSQL. When PostgreSQL cannot be reached, a key cached while
    /// revocations were last heard still serves for [`OUTAGE_GRACE`] after that (nobody can
    /// revoke a key while the database is down), and the database is tried at most once a
    /// second meanwhile: lookups keep answering from memory through an outage.
    async fn read(&self, prefix: &str) -> Result<Option<Arc<Key>>> {
        let fallback = || {
            let lost = (*lock(&self.lost_at))?;
            (lost.elapsed() < OUTAGE_GRACE).then_some(())?;
            lock(&self.cache).get(prefix).map(|c| c.key.clone())
        };
        let failed_recently = lock(&self.db_failed_at).is_some_and(|at| at.elapsed() < RETRY_DB);
        if failed_recently && let Some(key) = fallback() {
            return Ok(Some(key));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let read = tokio::time::timeout(DB_WAIT, store::by_prefix(&self.pool, prefix)).await;
        match read {
            Ok(Ok(key)) => Ok(key.map(|key| self.fill(key, generation))),
            Ok(Err(e)) if !e.is_unavailable() => Err(e.into()),
            failed => {
                *lock(&self.db_failed_at) = Some(Instant::now());
                match (fallback(), failed) {
                    (Some(key), _) => Ok(Some(key)),
                    (None, Ok(Err(e))) => Err(e.into()),
                    (None, _) => Err(crate::store::Error::TimedOut(DB_WAIT).into()),
                }
            }
        }
    }

    fn fill(&self, key: Key, generation: u64) -> Arc<Key> {
        let key = Arc::new(key);
        let mut cache = lock(&self.cache);
        if self.generation.load(Ordering::Acquire) == generation {
            cache.insert(
                key.prefix.clone(),
                Cached {
                    key: key.clone(),
                    fetched: Instant::now(),
                },
            );
        }
        key
    }

    /// Forgets a key (revoked here or on another replica).
    pub fn forget(&self, prefix: &str) {
        let mut cache = lock(&self.cache);
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.remove(prefix);
    }

    /// Revocations are heard again: every cached key is forgotten (some may have been
    /// missed meanwhile), and the cache is trusted from now on.
    pub fn listening(&self) {
        let mut cache = lock(&self.cache);
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.clear();
        *lock(&self.lost_at) = None;
        self.listening.store(true, Ordering::Release);
    }

    /// Revocations are no longer heard: keys are read from PostgreSQL on every request.
    pub fn not_listening(&self) {
        if self.listening.swap(false, Ordering::AcqRel) {
            *lock(&self.lost_at) = Some(Instant::now());
        }
    }

    /// Takes one call from the key's budget.
    pub fn admit(&self, key_id: Uuid, kind: BudgetKind) -> Option<Quota> {
        let budget = match kind {
            BudgetKind::Calls => self.settings.limits.calls,
            BudgetKind::Lookups => self.settings.limits.lookups,
        };
        if budget.is_unlimited() {
            return None;
        }
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        let bucket = buckets
            .entry((key_id, kind))
            .or_insert_with(|| Bucket::full(budget, now));
        Some(bucket.take(budget, now))
    }

    /// Writes the last uses seen since the previous flush (one statement).
    pub async fn flush_last_used(&self) -> Result<()> {
        let used: Vec<(Uuid, DateTime<Utc>)> = lock(&self.used).drain().collect();
        if used.is_empty() {
            return Ok(());
        }
        if let Err(e) = store::touch(&self.pool, &used).await {
            // Kept for the next flush.
            let mut pending = lock(&self.used);
            for (id, at) in used {
                let entry = pending.entry(id).or_insert(at);
                *entry = (*entry).max(at);
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Flushes `last_used_at` every `every` until the runtime ends.
    pub fn spawn_flusher(self: &Arc<Self>, every: Duration) {
        let ring = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(ring) = ring.upgrade() else { return };
                if let Err(e) = ring.flush_last_used().await {
                    tracing::warn!(error = %e, "recording when keys were last used failed");
                }
            }
        });
    }

    /// A key's last use as this replica knows it (not yet flushed) or as stored.
    fn last_used(&self, key: &Key) -> Option<DateTime<Utc>> {
        let pending = lock(&self.used).get(&key.id).copied();
        key.last_used_at.max(pending)
    }
}

/// A key as the API shows it (never its token or hash).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl KeyInfo {
    fn of(key: &Key, last_used_at: Option<DateTime<Utc>>) -> Self {
        Self {
            id: key.id,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            scopes: key.scopes,
            created_at: key.created_at,
            created_by: key.created_by,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            last_used_at,
        }
    }
}

/// What a new key needs.
#[derive(Debug, Clone)]
pub struct NewKeyRequest {
    pub name: KeyName,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
}

/// Creates a key: its token is in the answer and nowhere else.
pub async fn create(pool: &Pool, request: &NewKeyRequest) -> Result<(KeyInfo, Token)> {
    let mut tx = db::begin(pool).await?;
    let created = create_in(&mut tx, request).await?;
    db::commit(tx).await?;
    Ok(created)
}

async fn create_in(tx: &mut db::Tx, request: &NewKeyRequest) -> Result<(KeyInfo, Token)> {
    if request.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(Error::invalid("expires_at", "is not in the future"));
    }
    let token = Token::generate();
    let key = store::insert(
        &mut **tx,
        &NewKey {
            id: Uuid::new_v4(),
            name: request.name.as_str(),
            prefix: token.prefix(),
            secret_hash: &token.hash(),
            scopes: request.scopes,
            created_by: request.created_by,
            expires_at: request.expires_at,
        },
    )
    .await?;
    Ok((KeyInfo::of(&key, None), token))
}

pub async fn list(ring: &KeyRing, with_revoked: bool) -> Result<Vec<KeyInfo>> {
    let keys = store::list(&ring.pool, with_revoked).await?;
    Ok(keys
        .iter()
        .map(|key| KeyInfo::of(key, ring.last_used(key)))
        .collect())
}

pub async fn get(ring: &KeyRing, id: Uuid) -> Result<KeyInfo> {
    let key = store::get(&ring.pool, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no key with id {id}")))?;
    Ok(KeyInfo::of(&key, ring.last_used(&key)))
}

/// Revokes a key on every replica: this one at once, the others when the commit's
/// notification reaches them (or, while one does not hear them, it reads keys from
/// PostgreSQL on every request).
pub async fn revoke(ring: &KeyRing, id: Uuid) -> Result<KeyInfo> {
    let key = store::revoke(&ring.pool, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no key with id {id}")))?;
    ring.forget(&key.prefix);
    Ok(KeyInfo::of(&key, ring.last_used(&key)))
}

/// Revokes a key from the command line (by id or prefix): every running replica hears it.
pub async fn revoke_by_id_or_prefix(pool: &Pool, which: &str) -> Result<KeyInfo> {
    let key = match which.parse::<Uuid>() {
        Ok(id) => store::get(pool, id).await?,
        Err(_) => store::by_prefix(pool, which).await?,
    }
    .ok_or_else(|| Error::NotFound(format!("no key with id or prefix `{which}`")))?;
    let key = store::revoke(pool, key.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no key with id {}", key.id)))?;
    Ok(KeyInfo::of(&key, key.last_used_at))
}

pub async fn list_all(pool: &Pool, with_revoked: bool) -> Result<Vec<KeyInfo>> {
    let keys = store::list(pool, with_revoked).await?;
    Ok(keys
        .iter()
        .map(|k| KeyInfo::of(k, k.last_used_at))
        .collect())
}

/// What the first start does when no key can be used.
#[derive(Debug)]
pub enum Bootstrap {
    /// Keys exist: nothing to do.
    KeysExist,
    /// A new key with every scope.
    Created(KeyInfo, Token),
}

/// Creates a key with every scope if no usable key exists (serialised across replicas
/// starting together). `allowed` says whether this start may: when not, it is an error
/// saying how to create one.
pub async fn bootstrap(pool: &Pool, allowed: bool) -> anyhow::Result<Bootstrap> {
    let mut tx = db::begin(pool).await?;
    store::lock_bootstrap(&mut *tx).await?;
    if store::any_usable(&mut *tx).await? {
        return Ok(Bootstrap::KeysExist);
    }
    anyhow::ensure!(
        allowed,
        "no API key exists, and this server listens beyond this machine: create one first \
         (`segstore keys create --name admin --scopes read,write,train,admin`), or let the \
         first start create it (--bootstrap-admin-key), or bind to 127.0.0.1"
    );
    let request = NewKeyRequest {
        name: KeyName::parse("admin (first start)").map_err(|e| anyhow::anyhow!(e))?,
        scopes: Scopes::all(),
        expires_at: None,
        created_by: None,
    };
    let (info, token) = create_in(&mut tx, &request)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await.map_err(db::Error::from)?;
    Ok(Bootstrap::Created(info, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_and_says_when_to_retry() {
        let budget = Budget {
            per_second: 2.0,
            burst: 3,
        };
        let t0 = Instant::now();
        let mut bucket = Bucket::full(budget, t0);
        let taken: Vec<Quota> = (0..4).map(|_| bucket.take(budget, t0)).collect();
        assert_eq!(
            taken.iter().map(|q| q.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert!(taken[..3].iter().all(|q| q.retry_after.is_none()));
        assert_eq!(taken[3].retry_after, Some(1));
        assert_eq!(taken[3].reset, 2); // 3 tokens at 2/s
        let later = bucket.take(budget, t0 + Duration::from_millis(600));
        assert_eq!(later.retry_after, None);
        assert_eq!(later.remaining, 0);
    }
}

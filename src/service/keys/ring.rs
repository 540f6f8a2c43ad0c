//! This replica's view of the keys: a request's key checked from a per-replica cache that a
//! revocation on any replica empties at once (`LISTEN/NOTIFY`), with per-key rate limits and
//! `last_used_at` written in batches.
//!
//! Keys nobody holds cost next to nothing, so a flood of made-up keys cannot take the
//! database from real ones:
//! - each replica knows every key's prefix (loaded when it starts listening, kept current by
//!   the announcements of new keys); a prefix outside it is read from the database only
//!   within [`UNKNOWN_READS`], a budget shared by every client (so that a key created a
//!   moment ago, whose announcement is on its way, is still found), else refused in memory;
//! - prefixes read and not found are remembered (a bounded negative cache, forgotten when a
//!   key of that prefix is announced or announcements were missed);
//! - each client address has a budget of refused keys; past it, its keys that are neither
//!   cached nor known are refused without a look (429 with `Retry-After`), answered after
//!   [`THROTTLED_ANSWER_DELAY`].

use crate::domain::key::{Scopes, Token};
use crate::error::Result;
use crate::service::budget::{AddressBudgets, Bucket};
pub use crate::service::budget::{Budget, Quota};
use crate::store::Pool;
use crate::store::keys::{self as store, Key};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

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
    /// This address's keys were refused too often: retry after this many seconds.
    #[error("too many refused keys from this address; retry in {0} s")]
    TooMany(u64),
}

/// What looking a key up found.
enum Lookup {
    /// The key, or none (unknown); `charged` when the address's refusal budget was charged
    /// for it already.
    Read {
        key: Option<Arc<Key>>,
        charged: bool,
    },
    /// The client's address spent its refusal budget: retry after this many seconds.
    Throttled(u64),
}

/// Refusals a client address may earn before its keys are refused without a look (429):
/// 100 at once, then 10 a second.
pub const REFUSAL_BUDGET: Budget = Budget {
    per_second: 10.0,
    burst: 100,
};
/// How long an address past its refusal budget waits for its 429: a flood's connections
/// then send a request a second each instead of as fast as they are answered (a tarpit; a
/// timer per waiting request, no work).
pub const THROTTLED_ANSWER_DELAY: Duration = Duration::from_secs(1);
/// Client addresses whose refusal budgets are held.
const REFUSAL_ADDRESSES: usize = 10_000;
/// Reads of prefixes no known key has, on this replica, whoever asks: 20 a second.
pub const UNKNOWN_READS: Budget = Budget {
    per_second: 20.0,
    burst: 20,
};
/// Prefixes remembered as unknown.
const NEGATIVE_CACHE: usize = 65_536;

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
    pub(super) pool: Pool,
    settings: KeySettings,
    cache: Mutex<HashMap<String, Cached>>,
    /// Whether revocations are being heard; the cache is used only then.
    listening: AtomicBool,
    /// Every key's prefix, while announcements are heard.
    known: Mutex<HashSet<String>>,
    /// Prefixes read and not found (two generations, bounded), while announcements are heard.
    unknown: Mutex<[HashSet<String>; 2]>,
    /// The budget of reads of prefixes outside `known`.
    unknown_reads: Mutex<Bucket>,
    /// Each client address's budget of refused keys.
    refusals: AddressBudgets,
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
            known: Mutex::default(),
            unknown: Mutex::default(),
            unknown_reads: Mutex::new(Bucket::full(UNKNOWN_READS, Instant::now())),
            refusals: AddressBudgets::new(REFUSAL_BUDGET, REFUSAL_ADDRESSES),
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

    /// The key a token names, if it is valid now. `source` is the client's address: its
    /// refusals are budgeted.
    pub async fn authenticate(
        &self,
        token: &Token,
        source: Option<IpAddr>,
    ) -> Result<Result<Principal, Refused>> {
        let (key, charged) = match self.cached(token.prefix()) {
            Some(key) => (Some(key), false),
            // Boxed: the database read's large future is allocated on a miss only, not in
            // every request's future.
            None => match Box::pin(self.look_up(token.prefix(), source)).await? {
                Lookup::Read { key, charged } => (key, charged),
                Lookup::Throttled(retry_after) => return Ok(Err(Refused::TooMany(retry_after))),
            },
        };
        let refused = |why| {
            if let Some(source) = source
                && !charged
            {
                self.refusals.take(source);
            }
            Ok(Err(why))
        };
        let Some(key) = key.filter(|key| token.matches(&key.secret_hash)) else {
            return refused(Refused::Unknown);
        };
        if key.revoked_at.is_some() {
            return refused(Refused::Revoked);
        }
        let now = Utc::now();
        if key.expires_at.is_some_and(|at| at <= now) {
            return refused(Refused::Expired);
        }
        lock(&self.used).insert(key.id, now);
        Ok(Ok(Principal {
            key_id: key.id,
            scopes: key.scopes,
        }))
    }

    /// Reads a key that is not cached: at once when its prefix is a known key's; while
    /// announcements are not heard, when the address has refusal budget left; else (a
    /// prefix no known key has) the address's refusal budget is charged first (it is most
    /// likely one), and it is read only when not remembered as unknown and within the
    /// replica's budget of such reads (see the module's text).
    async fn look_up(&self, prefix: &str, source: Option<IpAddr>) -> Result<Lookup> {
        let listening = self.listening.load(Ordering::Acquire);
        if listening && lock(&self.known).contains(prefix) {
            let key = self.read(prefix).await?;
            return Ok(Lookup::Read {
                key,
                charged: false,
            });
        }
        if !listening {
            // Any prefix may be a key's: read it, unless the address has used up its budget
            // (charged on a refusal only, never on a database error).
            if let Some(retry_after) = source.and_then(|a| self.refusals.exhausted(a)) {
                return Ok(Lookup::Throttled(retry_after));
            }
            let key = self.read(prefix).await?;
            return Ok(Lookup::Read {
                key,
                charged: false,
            });
        }
        if let Some(retry_after) = source.and_then(|a| self.refusals.take(a)) {
            return Ok(Lookup::Throttled(retry_after));
        }
        let charged = source.is_some();
        let unread = Lookup::Read { key: None, charged };
        if lock(&self.unknown).iter().any(|g| g.contains(prefix)) {
            return Ok(unread);
        }
        let quota = lock(&self.unknown_reads).take(UNKNOWN_READS, Instant::now());
        if quota.retry_after.is_some() {
            return Ok(unread);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let key = self.read(prefix).await?;
        if key.is_none() {
            let mut unknown = lock(&self.unknown);
            if self.generation.load(Ordering::Acquire) == generation {
                if unknown[0].len() >= NEGATIVE_CACHE / 2 {
                    unknown[1] = std::mem::take(&mut unknown[0]);
                }
                unknown[0].insert(prefix.to_owned());
            }
        }
        Ok(Lookup::Read { key, charged })
    }

    /// A key was created (here or on another replica): its prefix is known.
    pub fn created(&self, prefix: &str) {
        let mut unknown = lock(&self.unknown);
        self.generation.fetch_add(1, Ordering::AcqRel);
        for generation in unknown.iter_mut() {
            generation.remove(prefix);
        }
        lock(&self.known).insert(prefix.to_owned());
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
        metrics::counter!("segstore_key_reads_total").increment(1);
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

    /// Announcements are heard again: every key's prefix is read (after listening began, so
    /// that no key created meanwhile is missed), then [`Self::listening`].
    pub async fn start_listening(&self) -> crate::store::Result<()> {
        let prefixes = store::prefixes(&self.pool).await?;
        self.listening(prefixes);
        Ok(())
    }

    /// Announcements are heard again (`prefixes`: every key's, read after listening began):
    /// every cached key is forgotten (some may have been missed meanwhile), and the cache and
    /// the prefixes are trusted from now on.
    pub fn listening(&self, prefixes: Vec<String>) {
        let mut cache = lock(&self.cache);
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.clear();
        *lock(&self.known) = prefixes.into_iter().collect();
        *lock(&self.unknown) = Default::default();
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
    pub(super) fn last_used(&self, key: &Key) -> Option<DateTime<Utc>> {
        let pending = lock(&self.used).get(&key.id).copied();
        key.last_used_at.max(pending)
    }
}

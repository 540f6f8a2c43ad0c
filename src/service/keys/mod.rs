//! API keys: creating, listing and revoking them (from the API, the command line and the
//! first start); checking a request's key is the ring's (`ring`).

mod ring;

use crate::domain::key::{KeyName, Scopes, Token};
use crate::error::{Error, Result};
pub use crate::service::budget::{Budget, Quota};
use crate::store::keys::{self as store, Key, NewKey};
use crate::store::{self as db, Pool};
use chrono::{DateTime, Utc};
pub use ring::{
    BudgetKind, KeyRing, KeySettings, OUTAGE_GRACE, Principal, REFUSAL_BUDGET, RateLimits, Refused,
    THROTTLED_ANSWER_DELAY, UNKNOWN_READS,
};
use uuid::Uuid;

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

/// Creates a key: its token is in the answer and nowhere else. This replica knows its
/// prefix at once; the others when the commit's announcement reaches them.
pub async fn create(ring: &KeyRing, request: &NewKeyRequest) -> Result<(KeyInfo, Token)> {
    let mut tx = db::begin(&ring.pool).await?;
    let created = create_in(&mut tx, request).await?;
    db::commit(tx).await?;
    ring.created(&created.0.prefix);
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

/// Revokes a key from the command line (by id or prefix): every running replica hears it,
/// and the audit log records it.
pub async fn revoke_by_id_or_prefix(pool: &Pool, which: &str) -> Result<KeyInfo> {
    let mut tx = db::begin(pool).await?;
    let key = match which.parse::<Uuid>() {
        Ok(id) => store::get(&mut *tx, id).await?,
        Err(_) => store::by_prefix(&mut *tx, which).await?,
    }
    .ok_or_else(|| Error::NotFound(format!("no key with id or prefix `{which}`")))?;
    let key = store::revoke(&mut *tx, key.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no key with id {}", key.id)))?;
    let entry = super::audit::command_entry("segstore keys revoke", key.id, 200);
    crate::store::audit::insert(&mut *tx, &[entry]).await?;
    db::commit(tx).await?;
    Ok(KeyInfo::of(&key, key.last_used_at))
}

/// Creates a key from the command line: the audit log records it.
pub async fn create_from_command_line(
    pool: &Pool,
    request: &NewKeyRequest,
) -> Result<(KeyInfo, Token)> {
    let mut tx = db::begin(pool).await?;
    let created = create_in(&mut tx, request).await?;
    let entry = super::audit::command_entry("segstore keys create", created.0.id, 201);
    crate::store::audit::insert(&mut *tx, &[entry]).await?;
    db::commit(tx).await?;
    Ok(created)
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
    let entry = super::audit::command_entry("segstore serve (first start)", info.id, 201);
    crate::store::audit::insert(&mut *tx, &[entry]).await?;
    tx.commit().await.map_err(db::Error::from)?;
    Ok(Bootstrap::Created(info, token))
}

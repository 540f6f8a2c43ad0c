//! Dashboard sessions. Signing in with a key starts one: the browser's cookie holds a random
//! id, the database its hash and the key it acts for. Every request reads the session, so a
//! sign-out on one replica ends it on all at once; it ends by itself after 8 idle hours, 24
//! hours after the sign-in, or when its key is revoked or expires. Sign-ins are throttled
//! per client address and audited, refused ones included.

use super::audit::{Actor, AuditLog, Call};
use super::budget::{AddressBudgets, Budget};
use super::keys::{KeyRing, Principal};
use crate::domain::key::Token;
use crate::domain::session::SessionId;
use crate::error::Result;
use crate::store::{Pool, sessions as store};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// A session ends this long after its sign-in, however busy.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// A request writes when its session was last seen only when that is older than this.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);
/// Sign-in attempts per client address: 10 at once, then one every 6 seconds.
pub const SIGN_IN_BUDGET: Budget = Budget {
    per_second: 1.0 / 6.0,
    burst: 10,
};
/// Client addresses whose sign-in budgets are held.
const SIGN_IN_ADDRESSES: usize = 10_000;

/// The route sign-ins and sign-outs are audited under.
const ROUTE: &str = "/dashboard/session";

/// How a sign-in went.
#[derive(Debug)]
pub enum SignIn {
    Started(SessionId),
    /// The key was not usable (unknown, revoked, expired, malformed, missing): why.
    Refused(String),
    /// Too many attempts from this address: retry after this many seconds.
    Throttled(u64),
}

/// This replica's sessions: the database, and the sign-in budgets of client addresses.
pub struct Sessions {
    pool: Pool,
    attempts: AddressBudgets,
}

impl Sessions {
    pub fn new(pool: Pool) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            pool,
            attempts: AddressBudgets::new(SIGN_IN_BUDGET, SIGN_IN_ADDRESSES),
        })
    }

    /// Checks the key and starts a session for it.
    pub async fn sign_in(
        &self,
        keys: &KeyRing,
        audit: &AuditLog,
        token: Option<&str>,
        source: Option<IpAddr>,
    ) -> Result<SignIn> {
        if let Some(source) = source
            && let Some(retry_after) = self.attempts.take(source)
        {
            audit.count_refusal(source, 429);
            return Ok(SignIn::Throttled(retry_after));
        }
        let token = token.and_then(Token::parse);
        let refused = |why: String, prefix: Option<&str>| {
            let targets = prefix
                .map(|p| BTreeMap::from([("key".to_owned(), p.to_owned())]))
                .unwrap_or_default();
            (why, targets)
        };
        let outcome = match &token {
            None => Err(refused(
                "send the key as `Authorization: Bearer segk_…`".to_owned(),
                None,
            )),
            Some(token) => match keys.authenticate(token, source).await? {
                Ok(principal) => Ok(principal),
                Err(why) => Err(refused(why.to_string(), Some(token.prefix()))),
            },
        };
        let (principal, status) = match outcome {
            Ok(principal) => (principal, 204),
            Err((why, targets)) => {
                audit
                    .record(sign_in_call(Actor::Anonymous, "POST", targets, 401, source))
                    .await;
                return Ok(SignIn::Refused(why));
            }
        };
        let id = SessionId::generate();
        let expires_at = chrono::Utc::now() + LIFETIME;
        store::insert(&self.pool, &id.hash(), principal.key_id, expires_at).await?;
        if let Err(e) = store::purge(&self.pool).await {
            tracing::warn!(error = %e, "deleting old dashboard sessions failed");
        }
        audit
            .record(sign_in_call(
                Actor::Key(principal.key_id),
                "POST",
                BTreeMap::new(),
                status,
                source,
            ))
            .await;
        Ok(SignIn::Started(id))
    }

    /// The key a session acts for, while it is live.
    pub async fn principal(&self, id: &SessionId) -> Result<Option<Principal>> {
        let hash = id.hash();
        let Some(session) = store::live(&self.pool, &hash, IDLE).await? else {
            return Ok(None);
        };
        if chrono::Utc::now() - session.last_seen_at > TOUCH_EVERY {
            store::touch(&self.pool, &hash).await?;
        }
        Ok(Some(Principal {
            key_id: session.key_id,
            scopes: session.scopes,
        }))
    }

    /// Ends a session (on every replica: each reads it per request). Ending one that is not
    /// live does nothing.
    pub async fn sign_out(&self, audit: &AuditLog, id: Option<&SessionId>) -> Result<()> {
        let Some(id) = id else { return Ok(()) };
        if let Some(key_id) = store::end(&self.pool, &id.hash()).await? {
            audit
                .record(sign_in_call(
                    Actor::Key(key_id),
                    "DELETE",
                    BTreeMap::new(),
                    204,
                    None,
                ))
                .await;
        }
        Ok(())
    }
}

fn sign_in_call(
    actor: Actor,
    method: &str,
    targets: BTreeMap<String, String>,
    status: u16,
    source: Option<IpAddr>,
) -> Call {
    Call {
        actor,
        method: method.to_owned(),
        route: ROUTE.to_owned(),
        targets,
        customers: Vec::new(),
        erases: false,
        status,
        request_id: None,
        source,
    }
}

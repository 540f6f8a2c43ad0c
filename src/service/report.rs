//! SQL for BI tools' live connections: the `segstore_report` views, kept in step with the
//! attribute catalogue and the active runs, and the login roles that may read them and
//! nothing else.
//!
//! Steps of a change the views follow (attributes added or deleted; a run activated; a
//! segmentation renamed or deleted): the writer commits, then [`sync`] regenerates what
//! changed in a short transaction of its own, so that a long import or a run's write never
//! holds a lock a dashboard's query waits on. Until it has, a dashboard reads the state before
//! the change (the previous active run, whole). A regeneration a dashboard held up past
//! [`LOCK_TIMEOUT`] is tried again by the run workers' housekeeping.

use crate::error::{Error, Result};
use crate::store::report::{self as store, NotCreated, ReportRole, ViewChange, ViewColumn};
use crate::store::{Pool, attributes};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a regeneration waits for dashboards' queries on the old view.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// The view's own columns, which an attribute of the same name must not shadow.
pub const VIEW_COLUMNS: [&str; 3] = ["customer_id", "created_at", "updated_at"];

/// The column an attribute gets in a flat table whose own columns are `reserved`: its name,
/// or `attribute.<name>` when one of those has it (attribute names hold no dot).
pub fn attribute_column<'a>(name: &'a str, reserved: &[&str]) -> std::borrow::Cow<'a, str> {
    if reserved.contains(&name) {
        format!("attribute.{name}").into()
    } else {
        name.into()
    }
}

/// Regenerates the generated views from what is committed, where it changed. A failure (a
/// dashboard held the old view, or another session the lock, longer than the bound) is
/// logged: the housekeeping, the next change or the next start tries again.
pub async fn sync(pool: &Pool) {
    match synced(pool).await {
        Ok(()) => {}
        // A dashboard's query (or another session's regeneration) held the views: expected,
        // and caught up by the housekeeping.
        Err(e) if e.is_lock_timeout() => tracing::info!(error = %e, "the segstore_report \
            views were held past the lock timeout; the housekeeping regenerates them"),
        Err(e) => tracing::warn!(error = %e, "the segstore_report views were not \
            regenerated; the housekeeping, the next change or the next start tries again"),
    }
}

/// [`sync`], for a caller that handles the failure.
pub async fn try_sync(pool: &Pool) -> Result<()> {
    Ok(synced(pool).await?)
}

async fn synced(pool: &Pool) -> std::result::Result<(), crate::store::Error> {
    let mut tx = crate::store::begin(pool).await?;
    let changes = regenerate(&mut tx).await?;
    crate::store::commit(tx).await?;
    log(changes);
    Ok(())
}

fn log(changes: Changes) {
    if changes.customers != ViewChange::Unchanged {
        tracing::info!(change = ?changes.customers, "segstore_report.customers regenerated");
    }
    if changes.assignments != ViewChange::Unchanged {
        tracing::info!(change = ?changes.assignments, "segstore_report.assignments regenerated");
    }
}

/// What a regeneration did to each generated view.
#[derive(Debug, Clone, Copy)]
pub struct Changes {
    pub customers: ViewChange,
    pub assignments: ViewChange,
}

/// The generated views' definitions as the catalogue and the active runs are committed now.
async fn definitions(
    conn: &mut crate::store::Conn,
) -> std::result::Result<(String, String), crate::store::Error> {
    let catalogue = attributes::load(&mut *conn).await?;
    let names: Vec<_> = catalogue
        .iter()
        .map(|a| attribute_column(a.name.as_str(), &VIEW_COLUMNS))
        .collect();
    let columns: Vec<ViewColumn<'_>> = catalogue
        .iter()
        .zip(&names)
        .map(|(attribute, name)| ViewColumn { name, attribute })
        .collect();
    let customers = store::customers_definition(&columns);
    let assignments = store::assignments_definition(&mut *conn).await?;
    Ok((customers, assignments))
}

/// In the caller's transaction, the views where they changed: first checked without a lock
/// (the usual answer: nothing to do), then, when something changed, under the lock from what
/// is committed by then.
async fn regenerate(
    tx: &mut crate::store::Conn,
) -> std::result::Result<Changes, crate::store::Error> {
    let (customers, assignments) = definitions(&mut *tx).await?;
    if store::is_current(&mut *tx, &store::CUSTOMERS, &customers).await?
        && store::is_current(&mut *tx, &store::ASSIGNMENTS, &assignments).await?
    {
        return Ok(Changes {
            customers: ViewChange::Unchanged,
            assignments: ViewChange::Unchanged,
        });
    }
    store::lock_views(&mut *tx, LOCK_TIMEOUT).await?;
    let (customers, assignments) = definitions(&mut *tx).await?;
    Ok(Changes {
        customers: store::replace(&mut *tx, &store::CUSTOMERS, &customers).await?,
        assignments: store::replace(&mut *tx, &store::ASSIGNMENTS, &assignments).await?,
    })
}

/// Regenerates the views at start (after the migrations), on the connection given.
pub async fn sync_on(conn: &mut crate::store::Conn) -> Result<Changes> {
    let mut tx = crate::store::begin_on(conn).await?;
    let changes = regenerate(&mut tx).await?;
    crate::store::commit_on(tx).await?;
    log(changes);
    Ok(changes)
}

/// A report role's name: what PostgreSQL takes unquoted (1 to 63 of a-z, 0-9 and `_`,
/// starting with a letter), not `pg_`-prefixed, not one of segstore's own.
pub fn check_role_name(name: &str) -> Result<()> {
    let valid = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with("pg_")
        && !["postgres", "public", "segstore"].contains(&name);
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            format!(
                "`{name}` is not a report role name: use 1 to 63 of a-z, 0-9 and _, starting \
                 with a letter (not `pg_…`, `postgres`, `public` or `segstore`)"
            ),
        ))
    }
}

/// A new report role and the password it logs in with (shown once, never stored in clear).
pub struct NewReportRole {
    pub name: String,
    pub password: String,
}

/// Creates a login role that may read `segstore_report` and nothing else. The password is
/// random; PostgreSQL receives only its SCRAM-SHA-256 verifier, so no statement log holds it.
pub async fn create_role(pool: &Pool, name: &str) -> Result<NewReportRole> {
    check_role_name(name)?;
    let password = random_password();
    let verifier = scram_verifier(&password);
    // The views first, so that the grants cover their current columns.
    try_sync(pool).await?;
    let mut tx = crate::store::begin(pool).await?;
    let created = store::create_role(&mut tx, name, &verifier).await?;
    crate::store::commit(tx).await?;
    match created {
        Ok(()) => Ok(NewReportRole {
            name: name.to_owned(),
            password,
        }),
        Err(NotCreated::Exists) => Err(Error::Conflict(format!(
            "a role named `{name}` exists in this PostgreSQL cluster: choose another name"
        ))),
    }
}

pub async fn drop_role(pool: &Pool, name: &str) -> Result<()> {
    let mut tx = crate::store::begin(pool).await?;
    let dropped = store::drop_role(&mut tx, name).await?;
    crate::store::commit(tx).await?;
    if dropped {
        Ok(())
    } else {
        Err(Error::NotFound(format!(
            "no report role named `{name}` was made for this database"
        )))
    }
}

pub async fn list_roles(pool: &Pool) -> Result<Vec<ReportRole>> {
    Ok(store::list_roles(pool).await?)
}

/// 32 letters and digits from the OS's generator (190 bits).
fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 248 = 4 × 62: rejecting bytes at or above it leaves no bias.
    bytes
        .iter()
        .filter(|b| **b < 248)
        .take(32)
        .map(|b| ALPHABET[usize::from(*b) % 62] as char)
        .collect()
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677; the
/// form `\password` sends): `SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`.
pub fn scram_verifier(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    scram_verifier_with(password, &salt, 4096)
}

fn scram_verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let hmac = |key: &[u8], data: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes()
    };
    // PBKDF2-HMAC-SHA-256, one block (32 bytes).
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password.as_bytes(), &block);
    let mut salted = u;
    for _ in 1..iterations {
        u = hmac(password.as_bytes(), &u);
        for (s, x) in salted.iter_mut().zip(u.iter()) {
            *s ^= x;
        }
    }
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_has_postgresqls_form() {
        // That PostgreSQL accepts it is checked by logging in (tests/api/report.rs).
        let verifier = scram_verifier_with("pencil", b"0123456789abcdef", 4096);
        let (head, keys) = verifier.rsplit_once('$').unwrap();
        assert_eq!(head, "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==");
        let (stored, server) = keys.split_once(':').unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(b64.decode(stored).unwrap().len(), 32);
        assert_eq!(b64.decode(server).unwrap().len(), 32);
        assert_ne!(verifier, scram_verifier("pencil"), "a fresh salt each time");
    }

    #[test]
    fn passwords_are_32_letters_and_digits() {
        let a = random_password();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, random_password());
    }

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(check_role_name("tableau").is_ok());
        assert!(check_role_name("bi_2").is_ok());
        for bad in [
            "",
            "Tableau",
            "pg_reader",
            "a-b",
            "postgres",
            "x\"y",
            &"a".repeat(64),
        ] {
            assert!(check_role_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_attribute_named_like_a_column_of_the_view_is_renamed() {
        assert_eq!(attribute_column("age", &VIEW_COLUMNS), "age");
        assert_eq!(
            attribute_column("created_at", &VIEW_COLUMNS),
            "attribute.created_at"
        );
    }
}

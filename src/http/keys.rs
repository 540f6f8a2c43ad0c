//! `/v1/keys`: API keys (admin scope). A key's token is in the creation's answer and nowhere
//! else; only its SHA-256 is stored.

use crate::domain::key::{KeyName, Scope, Scopes};
use crate::error::{Error, FieldError, Result};
use crate::http::extract::{Json, Query};
use crate::http::problem::{DatabaseErrors, JsonBodyErrors, Problem};
use crate::service::keys::{self as service, KeyInfo, KeyRing, NewKeyRequest, Principal};
use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "crm", "scopes": ["read", "write"], "expires_at": "2027-06-30T00:00:00Z"}))]
pub struct NewKey {
    /// For people to tell keys apart (1 to 100 characters).
    #[schema(min_length = 1, max_length = 100, example = "crm")]
    pub name: String,
    /// What the key may do (at least one).
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// When the key stops working (RFC 3339, in the future); never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewKey {
    fn parse(self, created_by: Uuid) -> Result<NewKeyRequest> {
        let mut errors = Vec::new();
        let name = KeyName::parse(&self.name)
            .map_err(|e| errors.push(FieldError::field("name", e.0)))
            .ok();
        let scopes = Scopes::new(self.scopes)
            .map_err(|e| errors.push(FieldError::field("scopes", e.0)))
            .ok();
        if self.expires_at.is_some_and(|at| at <= Utc::now()) {
            errors.push(FieldError::field("expires_at", "is not in the future"));
        }
        match (name, scopes) {
            (Some(name), Some(scopes)) if errors.is_empty() => Ok(NewKeyRequest {
                name,
                scopes,
                expires_at: self.expires_at,
                created_by: Some(created_by),
            }),
            _ => Err(Error::invalid_fields(errors)),
        }
    }
}

/// A key (never its token).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: Uuid,
    #[schema(example = "crm")]
    pub name: String,
    /// The token's public start: how to recognise the key in a configuration.
    #[schema(example = "segk_3f9a1c0b7d42")]
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    /// The key that created it; null from the command line or the first start.
    pub created_by: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Recorded in batches: up to 10 s behind on other replicas.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<KeyInfo> for KeyView {
    fn from(k: KeyInfo) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.iter().collect(),
            created_at: k.created_at,
            created_by: k.created_by,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A new key and its token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyView,
    /// Send as `Authorization: Bearer <token>`. Not stored: it cannot be shown again.
    #[schema(example = "segk_3f9a1c0b7d42_Jc2m4pQ0x9…")]
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Newest first.
    pub keys: Vec<KeyView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyListParams {
    /// List revoked keys too (default false).
    pub revoked: Option<bool>,
}

const KEY_ID: (&str, &str) = ("id", "a key id is a UUID");

fn key_id(raw: &str) -> Result<Uuid> {
    raw.parse().map_err(|_| {
        Error::invalid(
            KEY_ID.0,
            format!("{}: {}", KEY_ID.1, crate::error::quote(raw)),
        )
    })
}

/// Create a key.
///
/// The answer holds the key's token, shown this once (only its SHA-256 is kept). Give a key
/// the scopes its user needs and no more.
#[utoipa::path(
    tag = "keys",
    security(("api_key" = ["admin"])),
    request_body = NewKey,
    responses(
        (status = 201, description = "Created; `Location` names it", body = CreatedKey,
            headers(("Location" = String, description = "The key: `/v1/keys/{id}`"))),
        (status = 422, description = "A field is invalid; `detail` names it", body = Problem, content_type = "application/problem+json"),
        JsonBodyErrors,
        DatabaseErrors,
    )
)]
#[post("/keys")]
async fn create_key(
    ring: web::Data<KeyRing>,
    principal: web::ReqData<Principal>,
    Json(body): Json<NewKey>,
) -> Result<HttpResponse> {
    let request = body.parse(principal.key_id)?;
    let (info, token) = service::create(&ring, &request).await?;
    let location = format!("/v1/keys/{}", info.id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedKey {
            key: info.into(),
            token: token.expose().to_owned(),
        }))
}

/// List keys.
///
/// Without their tokens. Revoked keys only with `revoked=true`.
#[utoipa::path(
    tag = "keys",
    security(("api_key" = ["admin"])),
    params(KeyListParams),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 422, description = "Invalid `revoked`", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/keys")]
async fn list_keys(
    ring: web::Data<KeyRing>,
    Query(params): Query<KeyListParams>,
) -> Result<web::Json<KeyList>> {
    let keys = service::list(&ring, params.revoked.unwrap_or(false)).await?;
    Ok(web::Json(KeyList {
        keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// One key.
///
/// Its name, scopes, dates and when it was last used; never its token. A revoked key is
/// still answered, with `revoked_at` (revocation keeps the record for the audit log).
#[utoipa::path(
    tag = "keys",
    security(("api_key" = ["admin"])),
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a key id", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/keys/{id}")]
async fn get_key(ring: web::Data<KeyRing>, id: web::Path<String>) -> Result<web::Json<KeyView>> {
    Ok(web::Json(service::get(&ring, key_id(&id)?).await?.into()))
}

/// Revoke a key.
///
/// Effective at once on every replica: the revocation is announced to all of them
/// (PostgreSQL `NOTIFY`), and a replica that cannot hear announcements reads keys from the
/// database on every request. The key stays listed (`revoked=true`) for the audit log.
#[utoipa::path(
    tag = "keys",
    security(("api_key" = ["admin"])),
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a key id", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[delete("/keys/{id}")]
async fn revoke_key(ring: web::Data<KeyRing>, id: web::Path<String>) -> Result<HttpResponse> {
    service::revoke(&ring, key_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_key)
        .service(list_keys)
        .service(get_key)
        .service(revoke_key);
}

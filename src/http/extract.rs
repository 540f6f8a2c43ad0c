//! Request extractors whose errors name the field at fault (actix's own only say
//! "Json deserialize error"): JSON bodies and query strings are deserialised through
//! `serde_path_to_error`, so a 422 says `customers[3].id` or `limit`.

use crate::domain::segmentation::locate;
use crate::domain::{RunId, SegmentationId};
use crate::error::Error;
use crate::http::encoding;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::{LocalBoxFuture, Ready, ready};
use serde::de::DeserializeOwned;

/// Largest JSON body accepted, in bytes (configured per app).
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_json(req, payload, &["application/json"], "application/json");
        Box::pin(async move { read.await.map(Json) })
    }
}

/// A JSON merge patch body (RFC 7396) of type `T`: `application/merge-patch+json`, or
/// `application/json` taken as the same.
#[derive(Debug)]
pub struct MergePatch<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for MergePatch<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_json(
            req,
            payload,
            &["application/merge-patch+json", "application/json"],
            "application/merge-patch+json",
        );
        Box::pin(async move { read.await.map(MergePatch) })
    }
}

/// Reads a JSON body of one of the `accepted` content types, within the configured limit.
fn read_json<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    accepted: &'static [&'static str],
    expected: &'static str,
) -> LocalBoxFuture<'static, Result<T, Error>> {
    let req = req.clone();
    let payload = payload.take();
    Box::pin(async move {
        require_content_type(&req, accepted, expected)?;
        let limit = req.app_data::<JsonLimit>().map_or(2 * 1024 * 1024, |l| l.0);
        let too_large = |limit: u64| {
            Error::PayloadTooLarge(format!(
                "the JSON body is larger than the limit of {limit} bytes"
            ))
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|l| l.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|l| l > limit as u64) {
            return Err(too_large(limit as u64));
        }
        // The limit holds for the decoded body (a gzip body too).
        let mut pieces = encoding::decoded(&req, payload, |_| Some(limit as u64), too_large)?;
        let mut bytes = bytes::BytesMut::new();
        while let Some(piece) = pieces.next().await {
            bytes.extend_from_slice(&piece?);
        }
        refuse_nul_in_json(&bytes)?;
        parse_json(&bytes)
    })
}

/// PostgreSQL text cannot hold NUL (`\u0000` in JSON): refused with the path of the first
/// string holding one.
fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), Error> {
    let escaped_nul = bytes.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
    });
    if !escaped_nul {
        return Ok(());
    }
    fn find(value: &serde_json::Value, path: String) -> Option<String> {
        use serde_json::Value;
        match value {
            Value::String(s) if s.contains('\0') => Some(path),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| find(v, format!("{path}[{i}]"))),
            Value::Object(fields) => fields.iter().find_map(|(k, v)| {
                let here = if k.contains('\0') {
                    return Some(path.clone());
                } else if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                find(v, here)
            }),
            _ => None,
        }
    }
    // Broken JSON is reported by the parse that follows.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match find(&value, String::new()) {
        Some(path) => Err(Error::invalid(
            if path.is_empty() {
                "body".to_owned()
            } else {
                path
            },
            "contains the NUL character (\\u0000), which text cannot hold",
        )),
        None => Ok(()),
    }
}

/// An endpoint that takes no body refuses what a cross-site HTML form can send without a CORS
/// preflight (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`), so
/// a page open in a browser cannot trigger, cancel or activate a run or refresh RFM on a local
/// segstore. A request without a body, or with a JSON one, needs no such guard: browsers
/// preflight it, and segstore grants no cross-origin access.
pub struct NoFormPost;

impl FromRequest for NoFormPost {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let essence = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        ready(match essence.as_deref() {
            Some(
                form @ ("application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"),
            ) => Err(Error::UnsupportedMediaType(format!(
                "Content-Type: `{form}` is what a cross-site form sends; this endpoint takes no body"
            ))),
            _ => Ok(NoFormPost),
        })
    }
}

/// A path or query parameter holding NUL (`%00`), which no stored text can hold: the
/// parameter it is in, refused before any handler sees it.
pub fn nul_in_target(uri: &actix_web::http::Uri) -> Option<Error> {
    if uri.path().contains("%00") {
        return Some(Error::invalid(
            "path",
            "contains the NUL character (%00), which no id can hold",
        ));
    }
    let query = uri.query()?;
    form_urlencoded_parse(query)
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| {
            Error::invalid(
                k.replace('\0', "%00"),
                "contains the NUL character (%00), which text cannot hold",
            )
        })
}

/// Deserialises JSON, naming the path of the first value that does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = strip_position(&inner.to_string());
        if inner.is_data() {
            // A problem inside an algorithm's member names its field (`config.algorithm.eps`).
            let (path, message) = locate(&path, &message);
            let field = if path == "." { "body".to_owned() } else { path };
            Error::invalid(field, message)
        } else {
            Error::Malformed(format!(
                "the body is not valid JSON: {message} (line {}, column {})",
                inner.line(),
                inner.column()
            ))
        }
    })?;
    de.end()
        .map_err(|e| Error::Malformed(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line L column C"; the path says more than that for data errors.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Query-string parameters of type `T`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = if path == "." {
            "query".to_owned()
        } else {
            path
        };
        Error::invalid(field, message)
    })
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Refuses a body whose `Content-Type` is not one of `accepted` (415), naming what is expected.
pub fn require_content_type(
    req: &HttpRequest,
    accepted: &[&str],
    expected: &str,
) -> Result<(), Error> {
    let given = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = given
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if accepted.iter().any(|a| *a == essence) {
        Ok(())
    } else if given.is_empty() {
        Err(Error::UnsupportedMediaType(format!(
            "Content-Type: the request has none; send `{expected}`"
        )))
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "Content-Type: `{given}` is not accepted here; send `{expected}`"
        )))
    }
}

/// The `{id}` of a `/runs/{id}…` path, parsed (a text that is not a UUID is a 404 naming it).
impl FromRequest for RunId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(RunId::parse(req.match_info().query("id")))
    }
}

/// The `{id}` of a `/segmentations/{id}…` path, parsed.
impl FromRequest for SegmentationId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(SegmentationId::parse(req.match_info().query("id")))
    }
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>`: a field
/// that is present (even as `null`) becomes `Some` (a merge patch's `null` removes a value).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// The pool a heavy read (an export, a list, charts' data) runs on: the read standby once it
/// has replayed every commit the primary had acknowledged, else the primary (see
/// `DATABASE_READ_URL`).
pub struct ReadPool(crate::store::Pool);

impl std::ops::Deref for ReadPool {
    type Target = crate::store::Pool;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRequest for ReadPool {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let reads = req
            .app_data::<actix_web::web::Data<crate::service::Reads>>()
            .cloned();
        Box::pin(async move {
            let reads = reads.ok_or_else(|| anyhow::anyhow!("the app has no read pool"))?;
            Ok(ReadPool(reads.pool().await))
        })
    }
}

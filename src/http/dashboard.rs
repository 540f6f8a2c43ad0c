//! The built-in dashboard: one HTML page, its stylesheet and script, compiled into the
//! binary. It reads everything from the public `/v1` API; nothing is fetched from elsewhere.

use super::gate::{Access, Open};
use crate::domain::session::SessionId;
use crate::service::audit::AuditLog;
use crate::service::keys::KeyRing;
use crate::service::sessions::{Sessions, SignIn};
use actix_web::http::header;
use actix_web::{HttpResponse, web};

const INDEX: &str = include_str!("../../assets/dashboard/index.html");
const SCRIPT: &str = include_str!("../../assets/dashboard/app.js");
const STYLE: &str = include_str!("../../assets/dashboard/app.css");

/// Only this origin; inline style attributes (segment colours) but no inline script.
const POLICY: &str = "default-src 'self'; img-src 'self'; script-src 'self'; \
                      style-src 'self' 'unsafe-inline'; connect-src 'self'; \
                      frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Revalidated on every load, so an upgraded server's dashboard shows at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .body(body)
}

/// Signs the dashboard in: the key (sent once as `Authorization: Bearer …`, which a
/// cross-site form cannot send) is checked and a server-side session started; the browser
/// keeps only the session's id, in an `HttpOnly; SameSite=Strict` cookie (`Secure` when a
/// public URL is https), which the gate accepts in place of the header. The page's script
/// never holds the key after this. Attempts are throttled per client address (429) and
/// audited.
async fn sign_in(
    req: actix_web::HttpRequest,
    keys: web::Data<KeyRing>,
    sessions: web::Data<Sessions>,
    audit: web::Data<AuditLog>,
    security: web::Data<super::Security>,
) -> actix_web::Result<HttpResponse> {
    let token = super::gate::bearer(req.headers());
    let source = req.peer_addr().map(|a| a.ip());
    match sessions.sign_in(&keys, &audit, token, source).await? {
        SignIn::Started(id) => {
            let secure = security.secure_cookies || req.connection_info().scheme() == "https";
            Ok(HttpResponse::NoContent()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((
                    header::SET_COOKIE,
                    session_cookie(id.expose(), secure, None),
                ))
                .finish())
        }
        SignIn::Refused(why) => Ok(refused(&why)),
        SignIn::Throttled(retry_after) => {
            let mut response = super::problem::Problem::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                format!("too many sign-in attempts from this address; retry in {retry_after} s"),
            )
            .response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
            Ok(response)
        }
    }
}

/// The session cookie's `Set-Cookie` value (`max_age` 0 clears it).
fn session_cookie(value: &str, secure: bool, max_age: Option<u32>) -> String {
    let mut cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict",
        super::gate::SESSION_COOKIE
    );
    if secure {
        cookie.push_str("; Secure");
    }
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={max_age}"));
    }
    cookie
}

fn refused(detail: &str) -> HttpResponse {
    super::problem::Problem::new(actix_web::http::StatusCode::UNAUTHORIZED, detail).response()
}

/// Signs the dashboard out: the session ends on every replica, and the cookie is cleared.
async fn sign_out(
    req: actix_web::HttpRequest,
    sessions: web::Data<Sessions>,
    audit: web::Data<AuditLog>,
    security: web::Data<super::Security>,
) -> actix_web::Result<HttpResponse> {
    let id = super::gate::cookie_value(req.headers(), super::gate::SESSION_COOKIE)
        .as_deref()
        .and_then(SessionId::parse);
    sessions.sign_out(&audit, id.as_ref()).await?;
    let secure = security.secure_cookies || req.connection_info().scheme() == "https";
    Ok(HttpResponse::NoContent()
        .insert_header((header::SET_COOKIE, session_cookie("", secure, Some(0))))
        .finish())
}

/// The dashboard's page, assets and sign-in need no key: they hold no data (the sign-in
/// checks the key it is given).
pub const OPEN: &[Open] = &[
    Open {
        method: "GET",
        template: "/",
        access: Access::Public,
    },
    Open {
        method: "GET",
        template: "/dashboard/app.js",
        access: Access::Public,
    },
    Open {
        method: "GET",
        template: "/dashboard/app.css",
        access: Access::Public,
    },
    Open {
        method: "POST",
        template: "/dashboard/session",
        access: Access::Public,
    },
    Open {
        method: "DELETE",
        template: "/dashboard/session",
        access: Access::Public,
    },
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/dashboard/session")
            .post(sign_in)
            .delete(sign_out),
    );
    cfg.service(web::resource("/").get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .service(
            web::resource("/dashboard/app.js")
                .get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .service(
            web::resource("/dashboard/app.css")
                .get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        );
}

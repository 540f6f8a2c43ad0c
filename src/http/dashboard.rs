//! The built-in dashboard: one HTML page, its stylesheet and script, compiled into the
//! binary. It reads everything from the public `/v1` API; nothing is fetched from elsewhere.

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
/// cross-site form cannot send) is checked and kept in an `HttpOnly; SameSite=Strict` cookie
/// for the browser session, which the guard accepts in place of the header. The page's
/// script never holds the key after this.
async fn sign_in(
    req: actix_web::HttpRequest,
    keys: web::Data<crate::service::keys::KeyRing>,
) -> actix_web::Result<HttpResponse> {
    let token = super::auth::bearer(req.headers()).and_then(crate::domain::key::Token::parse);
    let Some(token) = token else {
        return Ok(refused("send the key as `Authorization: Bearer segk_…`"));
    };
    match keys.authenticate(&token).await? {
        Ok(_) => {
            let secure = if req.connection_info().scheme() == "https" {
                "; Secure"
            } else {
                ""
            };
            Ok(HttpResponse::NoContent()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((
                    header::SET_COOKIE,
                    format!(
                        "{}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
                        super::auth::SESSION_COOKIE,
                        token.expose()
                    ),
                ))
                .finish())
        }
        Err(why) => Ok(refused(&why.to_string())),
    }
}

fn refused(detail: &str) -> HttpResponse {
    super::problem::Problem::new(actix_web::http::StatusCode::UNAUTHORIZED, detail).response()
}

/// Signs the dashboard out: the cookie is cleared.
async fn sign_out() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((
            header::SET_COOKIE,
            format!(
                "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                super::auth::SESSION_COOKIE
            ),
        ))
        .finish()
}

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

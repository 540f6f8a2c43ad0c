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

pub fn routes(cfg: &mut web::ServiceConfig) {
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

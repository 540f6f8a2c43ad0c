//! Which hosts and origins this server answers: DNS rebinding and cross-site pages are
//! refused before anything else is decided.

use crate::http::problem::Problem;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};

/// The hosts and browser origins this server answers.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Hosts (lowercase, without port) of the public URLs.
    pub public_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`, lowercase) a browser may call from: the public URLs
    /// and the CORS origins.
    pub allowed: Vec<String>,
}

impl Origins {
    /// A 403 when the request's `Host` is not this server's, or a browser's `Origin` may not
    /// call it.
    pub fn refuse(&self, headers: &HeaderMap) -> Option<HttpResponse> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if let Some(host) = host
            && let Some(detail) = self.refuse_host(host)
        {
            return Some(Problem::new(StatusCode::FORBIDDEN, detail).response());
        }
        let origin = headers.get(header::ORIGIN)?;
        let detail = match origin.to_str() {
            Ok(origin) => self.refuse_origin(origin, host)?,
            Err(_) => "the Origin header is not text".to_owned(),
        };
        Some(Problem::new(StatusCode::FORBIDDEN, detail).response())
    }

    /// `None` when this host may be answered.
    fn refuse_host(&self, host: &str) -> Option<String> {
        let name = host_name(host).to_ascii_lowercase();
        let fine = name == "localhost"
            || name.parse::<std::net::IpAddr>().is_ok()
            || self.public_hosts.contains(&name);
        (!fine).then(|| {
            format!(
                "Host {} is not this server's: it answers an IP address, localhost, or a host \
                 of its public URLs (--public-url)",
                crate::error::quote(host)
            )
        })
    }

    /// `None` when a browser page of `origin` may call; `host` is the request's `Host`.
    fn refuse_origin(&self, origin: &str, host: Option<&str>) -> Option<String> {
        let origin = origin.to_ascii_lowercase();
        let authority = origin.split_once("://").map(|(_, a)| a);
        let same =
            authority.is_some() && authority == host.map(|h| h.to_ascii_lowercase()).as_deref();
        let fine = same || self.allowed.contains(&origin);
        (!fine).then(|| {
            format!(
                "Origin {} may not call this server: only its own pages, its public URLs and its \
                 CORS origins (--cors-origin) may",
                crate::error::quote(&origin)
            )
        })
    }
}

/// The host of a `Host` header value: `[::1]:8080` → `::1`, `a.example:80` → `a.example`.
pub fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_without_their_port() {
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("seg.example.com"), "seg.example.com");
        let origins = Origins {
            public_hosts: vec!["seg.example.com".into()],
            allowed: vec!["https://seg.example.com".into()],
        };
        for fine in [
            "localhost:8080",
            "127.0.0.1",
            "[::1]:1",
            "SEG.example.com:443",
            "10.0.0.7",
        ] {
            assert!(origins.refuse_host(fine).is_none(), "{fine}");
        }
        for foreign in [
            "evil.example:8080",
            "localhost.evil.example",
            "seg.example.com.evil",
        ] {
            assert!(origins.refuse_host(foreign).is_some(), "{foreign}");
        }
        assert!(
            origins
                .refuse_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080"))
                .is_none()
        );
        assert!(
            origins
                .refuse_origin("https://seg.example.com", Some("10.0.0.7"))
                .is_none()
        );
        assert!(
            origins
                .refuse_origin("http://evil.example", Some("127.0.0.1:8080"))
                .is_some()
        );
        assert!(
            origins
                .refuse_origin("null", Some("127.0.0.1:8080"))
                .is_some()
        );
    }
}

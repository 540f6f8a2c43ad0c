//! The routes the gate decides on: every operation of the generated document with the scope
//! it declares, and the few open routes outside it, matched as the router matches them.
//!
//! The gate matches the router's own path (escapes decoded, `%2F` kept) with the router's own
//! matcher (`ResourceDef`), and no two routes of one method may match one path (checked when
//! the table is built), so the route decided on is the one the router dispatches to. A
//! request no route is declared for is answered by the gate (404, 405): it never reaches the
//! router, so a handler registered without a declaration cannot be called.

use crate::domain::key::Scope;
use crate::service::keys::BudgetKind;
use actix_web::dev::ResourceDef;
use actix_web::http::Method;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Orchestrators' probes: no key, whatever the `Host`.
    Probe,
    /// No key: the documentation and the dashboard's assets and sign-in hold no data.
    Public,
    /// A key (or a dashboard session) holding this scope.
    Scope(Scope),
}

/// A route that needs no key, declared beside its registration.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    pub method: &'static str,
    pub template: &'static str,
    pub access: Access,
}

/// One method of one path template.
#[derive(Debug)]
pub struct Route {
    pub method: Method,
    pub template: String,
    pub access: Access,
    pub budget: BudgetKind,
    /// Whether a call is written to the audit log: every call but a non-admin read.
    pub audited: bool,
    def: ResourceDef,
    /// The template's segments (`None`: a parameter); `None` for a pattern with a tail.
    segments: Option<Vec<Option<String>>>,
}

impl Route {
    fn new(method: Method, template: &str, access: Access, budget: BudgetKind) -> Self {
        let tail = template.contains(":.*}");
        let segments = (!tail).then(|| {
            template
                .split('/')
                .skip(1)
                .map(|s| (!s.contains('{')).then(|| s.to_owned()))
                .collect()
        });
        let audited = method != Method::GET || access == Access::Scope(Scope::Admin);
        Self {
            def: ResourceDef::new(template),
            method,
            template: template.to_owned(),
            access,
            budget,
            audited,
            segments,
        }
    }

    /// Whether the router would match `path` (as it reads it) to this route's template.
    fn matches(&self, path: &str, count: usize) -> bool {
        let fits = match &self.segments {
            Some(segments) => {
                segments.len() == count
                    && segments
                        .iter()
                        .zip(path.split('/').skip(1))
                        .all(|(s, p)| s.as_deref().is_none_or(|literal| literal == p))
            }
            None => true,
        };
        // The literal segments are a quick filter; the router's matcher decides.
        fits && self.def.is_match(path)
    }

    /// The path's parameters (name, value as the router reads it), in order.
    pub fn params(&self, path: &str) -> Vec<(String, String)> {
        let mut matched = actix_web::dev::Path::new(path);
        if !self.def.capture_match_info(&mut matched) {
            return Vec::new();
        }
        matched
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    /// Whether the template has no parameter (a literal path wins the 405's `Allow`).
    fn is_literal(&self) -> bool {
        self.segments
            .as_ref()
            .is_some_and(|s| s.iter().all(Option::is_some))
    }
}

/// Could one path match both templates? Literal segments must be equal, a parameter takes
/// any non-empty segment, a tail anything after it.
fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    let tail = |s: &str| s.contains(":.*}");
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (None, _) | (_, None) => return false,
            (Some(x), _) if tail(x) => return true,
            (_, Some(y)) if tail(y) => return true,
            (Some(x), Some(y)) => {
                let literal = |s: &str| !s.contains('{');
                if literal(x) && literal(y) && x != y {
                    return false;
                }
            }
        }
    }
    true
}

/// What the gate decided a request is.
#[derive(Debug)]
pub enum Decision<'a> {
    Route(&'a Route),
    /// A declared path, but not with this method: these are.
    WrongMethod(Vec<Method>),
    /// No declared route.
    Unknown,
}

/// Every route, open or needing a scope.
#[derive(Debug)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// The document's operations with their scopes, and the open routes. An operation of the
    /// document that names no scope and is not declared open, an unknown scope, or two routes
    /// of one method that one path could match, are refused.
    pub fn new(spec: &utoipa::openapi::OpenApi, open: &[Open]) -> Result<Self, String> {
        let value = serde_json::to_value(&spec.paths).map_err(|e| e.to_string())?;
        let mut routes = Vec::new();
        for (template, item) in value.as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes())
                    .map_err(|e| format!("{method} {template}: {e}"))?;
                let access = match declared_scope(op) {
                    Some(scope) => Access::Scope(
                        scope
                            .parse()
                            .map_err(|e| format!("{method} {template}: {e}"))?,
                    ),
                    None => open
                        .iter()
                        .find(|o| o.method == method.as_str() && o.template == template)
                        .map(|o| o.access)
                        .ok_or_else(|| {
                            format!(
                                "{method} {template} declares no scope and is not an open route"
                            )
                        })?,
                };
                let budget = if op["operationId"] == "customer_segment" {
                    BudgetKind::Lookups
                } else {
                    BudgetKind::Calls
                };
                routes.push(Route::new(method, template, access, budget));
            }
        }
        for o in open {
            let method = Method::from_bytes(o.method.as_bytes()).map_err(|e| e.to_string())?;
            if !routes
                .iter()
                .any(|r| r.method == method && r.template == o.template)
            {
                routes.push(Route::new(method, o.template, o.access, BudgetKind::Calls));
            }
        }
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                if a.method == b.method && overlap(&a.template, &b.template) {
                    return Err(format!(
                        "{} {} and {} could match one path",
                        a.method, a.template, b.template
                    ));
                }
            }
        }
        Ok(Self(routes))
    }

    /// The route of this method and path (the path as the router reads it).
    pub fn decide(&self, method: &Method, path: &str) -> Decision<'_> {
        let count = memchr::memchr_iter(b'/', path.as_bytes()).count();
        let mut other_methods = Vec::new();
        for route in self.0.iter().filter(|r| r.matches(path, count)) {
            if route.method == method {
                return Decision::Route(route);
            }
            other_methods.push(route);
        }
        if other_methods.is_empty() {
            return Decision::Unknown;
        }
        // A literal path is that resource alone, even where a templated one matches it too.
        let literal = other_methods.iter().any(|r| r.is_literal());
        let mut allowed: Vec<Method> = Vec::new();
        for route in other_methods {
            if (!literal || route.is_literal()) && !allowed.contains(&route.method) {
                allowed.push(route.method.clone());
            }
        }
        Decision::WrongMethod(allowed)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.0.iter()
    }
}

/// The scope an operation's `security` names (its first requirement's first scope).
fn declared_scope(op: &serde_json::Value) -> Option<&str> {
    op["security"]
        .as_array()?
        .first()?
        .get(super::SCHEME)?
        .as_array()?
        .first()?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Routes {
        let routes = [
            ("GET", "/v1/customers/{id}", Access::Scope(Scope::Read)),
            ("DELETE", "/v1/customers/{id}", Access::Scope(Scope::Admin)),
            ("POST", "/v1/customers/import", Access::Scope(Scope::Write)),
            ("GET", "/docs/{_:.*}", Access::Public),
        ];
        Routes(
            routes
                .into_iter()
                .map(|(m, t, a)| Route::new(m.parse().unwrap(), t, a, BudgetKind::Calls))
                .collect(),
        )
    }

    fn decided(routes: &Routes, method: &str, path: &str) -> Option<String> {
        match routes.decide(&method.parse().unwrap(), path) {
            Decision::Route(r) => Some(format!("{} {}", r.method, r.template)),
            Decision::WrongMethod(m) => Some(format!("405 {m:?}")),
            Decision::Unknown => None,
        }
    }

    #[test]
    fn a_path_is_decided_as_the_router_matches_it() {
        let routes = table();
        let d = |m, p| decided(&routes, m, p);
        assert_eq!(
            d("GET", "/v1/customers/0001").unwrap(),
            "GET /v1/customers/{id}"
        );
        // The router sends a GET of `import` to the customer of that id, and so does the gate.
        assert_eq!(
            d("GET", "/v1/customers/import").unwrap(),
            "GET /v1/customers/{id}"
        );
        assert_eq!(
            d("POST", "/v1/customers/import").unwrap(),
            "POST /v1/customers/import"
        );
        assert_eq!(d("PUT", "/v1/customers/import").unwrap(), "405 [POST]");
        assert_eq!(d("PUT", "/v1/customers/1").unwrap(), "405 [GET, DELETE]");
        assert_eq!(d("GET", "/docs/a/b.js").unwrap(), "GET /docs/{_:.*}");
        for unknown in [
            "/v1/customers/",
            "/v1/customers",
            "/v1/customers/a/b",
            "/V1/customers/1",
            "/v1%2Fcustomers/1",
        ] {
            assert_eq!(d("GET", unknown), None, "{unknown}");
        }
        // The id is the segment as the router reads it.
        let Decision::Route(route) = routes.decide(&Method::GET, "/v1/customers/a%2Fb") else {
            panic!()
        };
        assert_eq!(
            route.params("/v1/customers/a%2Fb"),
            [("id".into(), "a%2Fb".into())]
        );
    }

    #[test]
    fn an_operation_without_a_scope_or_an_open_declaration_is_refused() {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
        let spec = |path: &str| {
            utoipa::openapi::OpenApiBuilder::new()
                .paths(PathsBuilder::new().path(
                    path,
                    PathItem::new(HttpMethod::Get, OperationBuilder::new().build()),
                ))
                .build()
        };
        let probe = Open {
            method: "GET",
            template: "/healthz",
            access: Access::Probe,
        };
        let refused = Routes::new(&spec("/v1/secret"), &[probe]).unwrap_err();
        assert_eq!(
            refused,
            "GET /v1/secret declares no scope and is not an open route"
        );
        let routes = Routes::new(&spec("/healthz"), &[probe]).unwrap();
        assert_eq!(routes.iter().count(), 1);
        let clash = Open {
            method: "GET",
            template: "/{anything}",
            access: Access::Public,
        };
        assert!(Routes::new(&spec("/healthz"), &[probe, clash]).is_err());
    }

    #[test]
    fn routes_one_path_could_match_twice_are_found() {
        assert!(overlap("/v1/customers/{id}", "/v1/customers/import"));
        assert!(overlap("/docs/{_:.*}", "/docs/x/y"));
        assert!(!overlap("/v1/customers/{id}", "/v1/customers"));
        assert!(!overlap(
            "/v1/runs/{id}/assignments",
            "/v1/runs/{id}/assignments.csv"
        ));
        assert!(!overlap("/docs", "/docs/{_:.*}"));
    }
}

//! Routing of a function URL: a table of (path pattern, methods, route) per function. A path
//! no pattern matches is `404 not_found`, a known path with another method `405
//! method_not_allowed` naming the allowed methods, both decided here for every function.

use lambda_http::http::Method;
use shared::error::{ApiError, ErrorCode};

/// The routes of one function; `R` names what each serves (usually a fieldless enum).
pub struct Routes<R> {
    router: matchit::Router<usize>,
    /// Per pattern, in table order: the methods it accepts and what each serves.
    methods: Vec<Vec<(Method, R)>>,
    patterns: Vec<&'static str>,
}

/// A matched route and the path's parameters (`{id}` or `{*id}` in the pattern).
#[derive(Debug)]
pub struct Found<R> {
    pub route: R,
    params: Vec<(String, String)>,
}

impl<R> Found<R> {
    /// The value of the pattern's parameter `name`; empty when the pattern has none by that name.
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }
}

impl<R: Copy> Default for Routes<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Copy> Routes<R> {
    pub fn new() -> Self {
        Self { router: matchit::Router::new(), methods: Vec::new(), patterns: Vec::new() }
    }

    /// Adds a route. Patterns use matchit's syntax (`/runs/{run_id}`, `/alerts/{*key}`). A
    /// pattern that does not parse or conflicts with another is a programming error: the
    /// function's tests fail on their first request.
    pub fn route(mut self, pattern: &'static str, methods: &[Method], route: R) -> Self {
        let index = match self.patterns.iter().position(|p| *p == pattern) {
            Some(i) => i,
            None => {
                if let Err(e) = self.router.insert(pattern, self.patterns.len()) {
                    panic!("route {pattern}: {e}");
                }
                self.patterns.push(pattern);
                self.methods.push(Vec::new());
                self.patterns.len() - 1
            }
        };
        self.methods[index].extend(methods.iter().map(|m| (m.clone(), route)));
        self
    }

    /// The route serving `method` on `path` (a path from [`crate::http::route_path`]).
    pub fn find(&self, method: &Method, path: &str) -> Result<Found<R>, ApiError> {
        let matched = self.router.at(path).map_err(|_| crate::http::not_found())?;
        let allowed = &self.methods[*matched.value];
        match allowed.iter().find(|(m, _)| m == method) {
            Some((_, route)) => Ok(Found {
                route: *route,
                params: matched.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            }),
            None => Err(ApiError::new(ErrorCode::MethodNotAllowed, format!("use {}", list(allowed)))),
        }
    }
}

/// `GET`, `PATCH or PUT`, `GET, PATCH or PUT`.
fn list<R>(allowed: &[(Method, R)]) -> String {
    let names: Vec<&str> = allowed.iter().map(|(m, _)| m.as_str()).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum R {
        Get,
        Save,
        Run,
        Latest,
        Alert,
    }

    fn routes() -> Routes<R> {
        Routes::new()
            .route("/settings", &[Method::GET], R::Get)
            .route("/settings", &[Method::PATCH, Method::PUT], R::Save)
            .route("/runs/latest", &[Method::GET], R::Latest)
            .route("/runs/{*run_id}", &[Method::GET], R::Run)
            .route("/alerts/{key}", &[Method::PATCH], R::Alert)
    }

    #[test]
    fn routes_by_method_and_pattern_with_one_404_and_one_405() {
        let r = routes();
        assert_eq!(r.find(&Method::GET, "/settings").unwrap().route, R::Get);
        assert_eq!(r.find(&Method::PUT, "/settings").unwrap().route, R::Save);
        let e = r.find(&Method::DELETE, "/settings").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (ErrorCode::MethodNotAllowed, "use GET, PATCH or PUT"));
        assert_eq!(r.find(&Method::POST, "/alerts/x").unwrap_err().message, "use PATCH");
        assert_eq!(r.find(&Method::GET, "/nothing").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(r.find(&Method::GET, "/alerts/a/b").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(r.find(&Method::GET, "/runs/latest").unwrap().route, R::Latest);
        let run = r.find(&Method::GET, "/runs/a/b").unwrap();
        assert_eq!((run.route, run.param("run_id")), (R::Run, "a/b"));
        assert_eq!(r.find(&Method::PATCH, "/alerts/id%2325").unwrap().param("key"), "id%2325");
    }
}

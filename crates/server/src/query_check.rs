//! Query parameters a route does not document are refused, never ignored.
//!
//! A client that filters a list by a parameter the server does not know gets every item back
//! with a 200 if the parameter is ignored, which is worse than an error: it believes the
//! filter held. So every API route accepts exactly the query parameters the served OpenAPI
//! document (`openapi.json`) lists for it, and answers any other with a 422 naming it and
//! what the route accepts. The document is therefore also what the server enforces: a
//! parameter cannot be documented without reaching the handler, nor handled without being
//! documented (a test checks that every documented one is read by its handler).

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::{ApiError, ValidationItem};

/// (method, route as the router spells it) → the query parameters it accepts.
static ACCEPTED: LazyLock<HashMap<(String, String), BTreeSet<String>>> =
    LazyLock::new(|| accepted(&serde_json::from_str(crate::openapi::DOCUMENT).expect("openapi.json is JSON")));

/// Reads the query parameters of every operation of an OpenAPI document, its shared
/// parameters (`$ref`) resolved.
pub fn accepted(doc: &Value) -> HashMap<(String, String), BTreeSet<String>> {
    let mut out = HashMap::new();
    let shared = &doc["components"]["parameters"];
    for (path, operations) in doc["paths"].as_object().into_iter().flatten() {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            let Some(parameters) = operation.get("parameters").and_then(Value::as_array) else {
                out.insert((method.to_uppercase(), path.clone()), BTreeSet::new());
                continue;
            };
            let names = parameters
                .iter()
                .map(|p| match p["$ref"].as_str() {
                    Some(r) => &shared[r.rsplit('/').next().unwrap_or_default()],
                    None => p,
                })
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            out.insert((method.to_uppercase(), path.clone()), names);
        }
    }
    out
}

/// The middleware (a route layer, so the matched route is known).
pub async fn check(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    if let (Some(route), Some(query)) = (matched, req.uri().query()) {
        // HEAD is served by the GET handler.
        let method = if req.method() == Method::HEAD { "GET".to_owned() } else { req.method().to_string() };
        if let Some(accepted) = ACCEPTED.get(&(method, route.as_str().to_owned())) {
            let unknown: BTreeSet<String> = url::form_urlencoded::parse(query.as_bytes())
                .map(|(name, _)| name.into_owned())
                .filter(|name| !accepted.contains(name))
                .collect();
            if !unknown.is_empty() {
                let known = if accepted.is_empty() {
                    "this route takes no query parameters".to_owned()
                } else {
                    format!("this route accepts {}", accepted.iter().cloned().collect::<Vec<_>>().join(", "))
                };
                let items = unknown
                    .iter()
                    .map(|name| ValidationItem::query(name, format!("unknown query parameter; {known}")))
                    .collect();
                return ApiError::Validation(items).into_response();
            }
        }
    }
    next.run(req).await
}

//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of hookd's HTTP API, generated
//! from the code: each handler declares its operation (`#[utoipa::path]`: route, parameters,
//! request and response types), and the request and response types derive their schemas
//! (`utoipa::ToSchema`), so a field added to a wire type is in the document at once. The
//! generated document is committed as `openapi.json` (served as it is, and readable in a
//! review); a test fails when the code and the committed file disagree, and
//! `HOOKD_BLESS=1 cargo test -p hookd-server openapi` writes the file again.
//!
//! The document is also what the server enforces for query parameters (`query_check.rs`),
//! and a test checks that it names exactly the routes and methods the router serves.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

pub mod params;
pub mod schemas;

/// The committed document, as served.
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "health",
    summary = "Get this API description",
    description = "No token needed. Returns this OpenAPI document.",
    responses(
        (status = 200, description = "The OpenAPI document.", body = serde_json::Value),
    ),
    security(),
)]
pub async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookd",
        description = include_str!("description.md"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "http://127.0.0.1:8071")),
    security(("bearer" = [])),
    tags(
        (name = "application", description = "Applications: the tenants that own endpoints and messages."),
        (name = "event-type", description = "The catalogue of event types endpoints subscribe to."),
        (name = "endpoint", description = "Where an application's webhooks go, their secrets, headers and recovery."),
        (name = "message", description = "Publishing and reading messages."),
        (name = "attempt", description = "Delivery attempts, destinations and manual resends."),
        (name = "inbox", description = "The webhook tester: inboxes, captured requests, replay, relays and the capture URLs."),
        (name = "health", description = "Health checks and this API description."),
        (name = "metrics", description = "Prometheus metrics."),
        (name = "authentication", description = "Links into the dashboard for one application's owner (the consumer portal), and logging their token out."),
        (name = "operational-webhook", description = "The endpoints that receive operational webhooks (events about hookd itself), through Svix's SDK routes."),
        (name = "source", description = "Receiving webhooks reliably: sources (Svix's Ingest API), their endpoints, the requests they received, and replay.")
    ),
    paths(
        crate::api::applications::list,
        crate::api::applications::create,
        crate::api::applications::get,
        crate::api::applications::put,
        crate::api::applications::patch,
        crate::api::applications::delete,
        crate::api::event_types::list,
        crate::api::event_types::create,
        crate::api::event_types::get,
        crate::api::event_types::put,
        crate::api::event_types::patch,
        crate::api::event_types::delete,
        crate::api::endpoints::list,
        crate::api::endpoints::create,
        crate::api::endpoints::get,
        crate::api::endpoints::put,
        crate::api::endpoints::patch,
        crate::api::endpoints::delete,
        crate::api::endpoints::get_secret,
        crate::api::endpoints::rotate_secret,
        crate::api::endpoints::get_headers,
        crate::api::endpoints::put_headers,
        crate::api::endpoints::patch_headers,
        crate::api::endpoints::stats,
        crate::api::endpoints::recover,
        crate::api::messages::list,
        crate::api::messages::create,
        crate::api::messages::get,
        crate::api::attempts::list_destinations,
        crate::api::attempts::resend,
        crate::api::attempts::get,
        crate::api::attempts::list_by_message,
        crate::api::attempts::list_by_endpoint,
        crate::tester::inbox_api::list,
        crate::tester::inbox_api::create,
        crate::tester::inbox_api::get,
        crate::tester::inbox_api::patch,
        crate::tester::inbox_api::delete,
        crate::tester::inbox_api::list_requests,
        crate::tester::inbox_api::clear_requests,
        crate::tester::inbox_api::get_request,
        crate::tester::inbox_api::delete_request,
        crate::tester::inbox_api::replay,
        crate::tester::inbox_api::relay_response,
        crate::tester::stream::stream,
        crate::health,
        crate::openapi::document,
        crate::metrics::scrape,
        crate::api::authentication::app_portal_access,
        crate::api::authentication::logout,
        crate::api::attempts::list_endpoint_messages,
        crate::api::endpoints::send_example,
        crate::api::messages::expunge_content,
        crate::api::attempts::expunge_content,
        crate::api::attempts::list_by_message_and_endpoint,
        crate::api::authentication::dashboard_access,
        crate::api::operational_endpoints::list,
        crate::api::operational_endpoints::create,
        crate::api::operational_endpoints::get,
        crate::api::operational_endpoints::put,
        crate::api::operational_endpoints::delete,
        crate::api::operational_endpoints::get_secret,
        crate::api::operational_endpoints::rotate_secret,
        crate::api::operational_endpoints::get_headers,
        crate::api::operational_endpoints::put_headers,
        crate::api::event_types::get_retry_schedule,
        crate::api::event_types::put_retry_schedule,
        crate::api::endpoint_auth::get_oauth,
        crate::api::endpoint_auth::put_oauth,
        crate::api::endpoint_auth::delete_oauth,
        crate::api::endpoint_auth::get_oauth_enabled,
        crate::api::endpoint_auth::get_mtls,
        crate::api::endpoint_auth::put_mtls,
        crate::api::endpoint_auth::delete_mtls,
        crate::api::endpoint_auth::get_mtls_enabled,
        crate::api::transformations::get,
        crate::api::transformations::patch,
        crate::api::transformations::simulate,
        crate::api::sources::list,
        crate::api::sources::create,
        crate::api::sources::from_inbox,
        crate::api::sources::get,
        crate::api::sources::put,
        crate::api::sources::patch,
        crate::api::sources::delete,
        crate::api::sources::rotate_token,
        crate::api::sources::list_log,
        crate::api::sources::list_requests,
        crate::api::sources::replay_request,
        crate::api::sources::replay_window,
        crate::api::sources::list_endpoints,
        crate::api::sources::create_endpoint,
        crate::api::sources::get_endpoint,
        crate::api::sources::put_endpoint,
        crate::api::sources::delete_endpoint,
        crate::api::sources::get_endpoint_secret,
        crate::api::sources::rotate_endpoint_secret,
        crate::api::sources::get_endpoint_headers,
        crate::api::sources::put_endpoint_headers,
        crate::api::sources::get_endpoint_transformation,
        crate::api::sources::patch_endpoint_transformation,
        capture_get, capture_post, capture_put, capture_patch, capture_delete, head_health_head, ping_health, ping_health_head, list_attempts_by_message_legacy
    ),
    components(
        schemas(
            crate::error::ErrorBody<'static>,
            crate::error::ValidationBody<'static>,
            crate::extract::OrderParam,
            crate::api::sources::Verdict,
        ),
        responses(Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, PayloadTooLargeText, ValidationError),
    ),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

/// The document as committed: pretty-printed JSON and a final newline.
pub fn generate() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().expect("the document serializes");
    text.push('\n');
    text
}

/// The two ways to send a token.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The admin token or an application token, as `Authorization: Bearer <token>`."))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let query = ApiKeyValue::with_description(
            "token",
            "The admin token as ?token=…, accepted only by the inbox stream (EventSource cannot set headers).",
        );
        components.add_security_scheme("tokenQuery", SecurityScheme::ApiKey(ApiKey::Query(query)));
    }
}

/// An empty JSON object (`{}`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(description = "An empty JSON object.")]
pub struct EmptyResponse {}

/// The answers many operations share, by name (`#/components/responses/…`).
pub mod responses {
    use utoipa::openapi::schema::Type;
    use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder};

    macro_rules! shared_response {
        ($name:ident, $description:literal, $content_type:literal, $schema:expr) => {
            pub struct $name;

            impl<'s> utoipa::ToResponse<'s> for $name {
                fn response() -> (&'s str, RefOr<Response>) {
                    let schema: Option<&str> = $schema;
                    let content = match schema {
                        Some(name) => ContentBuilder::new().schema(Some(Ref::from_schema_name(name))).build(),
                        None => {
                            ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build()
                        }
                    };
                    let response = ResponseBuilder::new().description($description).content($content_type, content);
                    (stringify!($name), response.build().into())
                }
            }
        };
    }

    shared_response!(
        Unauthorized,
        "The bearer token is missing or unknown (code authentication_failed).",
        "application/json",
        Some("HttpError")
    );
    shared_response!(Forbidden, "The token does not reach this resource (code forbidden): an application token used outside its application, or on a route that needs the admin token.", "application/json", Some("HttpError"));
    shared_response!(NotFound, "The resource does not exist (code not_found).", "application/json", Some("HttpError"));
    shared_response!(Conflict, "Conflict (code conflict): a uid, name or eventId already in use, or a request with the same idempotency-key still running.", "application/json", Some("HttpError"));
    shared_response!(
        PayloadTooLarge,
        "The request body is over the server's limit (code payload_too_large).",
        "application/json",
        Some("HttpError")
    );
    shared_response!(PayloadTooLargeText, "The request body is over the server's limit. This route reads the raw body, so the answer is axum's plain-text message rather than the JSON error.", "text/plain", None);
    shared_response!(ValidationError, "Invalid input: malformed JSON, a missing or mistyped field, a value failing a check, or a bad query parameter.", "application/json", Some("HTTPValidationError"));
}
use responses::*;

// Operations served by a handler that serves others too (the capture URL takes every
// method; HEAD is answered by the GET handler; one attempt list has a second, older path),
// declared here so each has its own operation id.

/// Declares the capture operation of one HTTP method (the capture handler takes them all).
macro_rules! capture_operation {
    ($method:ident, $operation_id:literal, $summary:literal, $name:ident, with_body) => {
        capture_operation!(
            $method,
            $operation_id,
            $summary,
            $name,
            request_body(content = Option<serde_json::Value>, content_type = "*/*", description = "Any content; stored as received.")
        );
    };
    ($method:ident, $operation_id:literal, $summary:literal, $name:ident $(, $body:meta)?) => {
        #[utoipa::path(
            $method,
            path = "/in/{inbox_id}",
            operation_id = $operation_id,
            tag = "inbox",
            summary = $summary,
            description = "No token needed: anyone who knows the inbox id can send to it. Every method is accepted, and any sub-path (/in/{inbox_id}/…) is captured the same way, its sub-path recorded. The request is stored, its Standard Webhooks signature checked when the inbox has a secret or a linked endpoint, and it is pushed to live streams. The answer is the local app's response when a `hookd listen` relay is attached and answers in time, else the inbox's configured response (by default 200 {\"ok\":true}). A body over the capture limit is refused with 413 and recorded without its body. The same URL serves sources (/in/{token}, see the source tag): a source verifies the request as its type says, commits it and answers 200 {\"id\": \"msg_…\"} only once committed (a provider's retry of a delivery already accepted is answered 200 with \"duplicate\": true); it answers 401 when verification fails, 413 when the body is too large and 415 when it is not UTF-8 text, and keeps every refused request.",
            params(crate::openapi::params::InboxId),
            $($body,)?
            responses(
                (status = 200, description = "The inbox's configured response (by default a JSON body {\"ok\":true}).", body = serde_json::Value, content_type = "*/*"),
                (status = 404, description = "No such inbox, or it has expired (code not_found).", body = crate::error::ErrorBody<'static>),
                (status = 413, description = "The body is over the capture limit (code payload_too_large); the request is still recorded, as refused.", body = crate::error::ErrorBody<'static>),
                (status = "default", description = "Whatever status, headers and body the inbox is configured to answer with, or the relayed response of the local app.", body = serde_json::Value, content_type = "*/*"),
                (status = 401, description = "A source's verification failed (code unauthorized); the request is kept as refused.", body = crate::error::ErrorBody<'static>),
                (status = 415, description = "A source received a body that is not UTF-8 text (code refused); the request is kept as refused.", body = crate::error::ErrorBody<'static>),
            ),
            security(),
        )]
        #[allow(dead_code)] // declares the operation; the route is served by the capture handler
        fn $name() {}
    };
}

capture_operation!(get, "captureGet", "Capture a GET request", capture_get);
capture_operation!(post, "capturePost", "Capture a POST request", capture_post, with_body);
capture_operation!(put, "capturePut", "Capture a PUT request", capture_put, with_body);
capture_operation!(patch, "capturePatch", "Capture a PATCH request", capture_patch, with_body);
capture_operation!(delete, "captureDelete", "Capture a DELETE request", capture_delete);

#[utoipa::path(
    head,
    path = "/api/v1/health",
    operation_id = "headHealth",
    tag = "health",
    summary = "Check health (HEAD)",
    description = "No token needed. Answers 204 when the database answers.",
    responses(
        (status = 204, description = "The server and its database are up."),
        (status = 503, description = "The database is unreachable (code unavailable)."),
    ),
    security(),
)]
#[allow(dead_code)] // declares the operation; the route is served by the handler named above
fn head_health_head() {}

#[utoipa::path(
    get,
    path = "/api/v1/health/ping",
    operation_id = "pingHealth",
    tag = "health",
    summary = "Ping",
    description = "No token needed. Always 204 while the process serves HTTP; the database is not checked.",
    responses(
        (status = 204, description = "The server is up."),
    ),
    security(),
)]
#[allow(dead_code)] // declares the operation; the route is served by the handler named above
fn ping_health() {}

#[utoipa::path(
    head,
    path = "/api/v1/health/ping",
    operation_id = "headPingHealth",
    tag = "health",
    summary = "Ping (HEAD)",
    description = "No token needed. Always 204 while the process serves HTTP; the database is not checked.",
    responses(
        (status = 204, description = "The server is up."),
    ),
    security(),
)]
#[allow(dead_code)] // declares the operation; the route is served by the handler named above
fn ping_health_head() {}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt",
    operation_id = "listAttemptsByMessageLegacy",
    tag = "attempt",
    summary = "List a message's attempts (older form)",
    description = "The older path of GET /api/v1/app/{app_id}/attempt/msg/{msg_id}, which Svix's older SDKs call; the same answer.",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::EndpointIdFilter, crate::openapi::params::Status, crate::openapi::params::StatusCodeClass, crate::openapi::params::Channel, crate::openapi::params::Tag, crate::openapi::params::Before, crate::openapi::params::After, crate::openapi::params::EventTypes, crate::openapi::params::AttemptWithContent, crate::openapi::params::ExpandedStatuses),
    responses(
        (status = 200, description = "A page of attempts.", body = crate::api::ListResponse<crate::api::attempts::MessageAttemptOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
#[allow(dead_code)] // declares the operation; the route is served by the handler named above
fn list_attempts_by_message_legacy() {}

#[cfg(test)]
mod tests {
    /// The committed document is the one the code generates.
    #[test]
    fn openapi_json_is_generated_from_the_code() {
        let generated = super::generate();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/openapi/openapi.json");
        if std::env::var_os("HOOKD_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == generated,
            "src/openapi/openapi.json is not what the code generates: run `HOOKD_BLESS=1 cargo test -p hookd-server openapi` and commit the file"
        );
    }
}

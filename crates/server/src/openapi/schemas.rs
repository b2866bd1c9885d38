//! Shapes the wire types cannot say by their Rust type: numbers that are an enumeration, header
//! maps whose names and values have rules, `[name, value]` pairs. Fields name them with
//! `#[schema(value_type = …)]`. Written as JSON Schema, since OpenAPI 3.1 keywords such as
//! `prefixItems` and `propertyNames` have no attribute form.

#![allow(dead_code)] // named in `value_type`, never built

use utoipa::openapi::{RefOr, Schema};

macro_rules! json_schema {
    ($(#[$doc:meta])* $name:ident, $json:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                serde_json::from_str($json).expect(concat!("the schema of ", stringify!($name), " is valid"))
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

json_schema!(
    /// A delivery status as a number.
    MessageStatus,
    r##"{"type": "integer", "enum": [0, 1, 2, 3, 4], "description": "Delivery status as a number: 0 success, 1 pending, 2 fail, 3 sending, 4 canceled (its message's payload was expunged before it was delivered)."}"##
);

json_schema!(
    /// A delivery status as text.
    MessageStatusText,
    r##"{"type": "string", "enum": ["success", "pending", "fail", "sending", "canceled"], "description": "Delivery status as text; matches the numeric status."}"##
);

json_schema!(
    /// Why an attempt was made.
    MessageAttemptTriggerType,
    r##"{"type": "integer", "enum": [0, 1], "description": "Why the attempt was made: 0 scheduled (normal delivery or retry), 1 manual (a resend)."}"##
);

json_schema!(
    /// Extra headers of an endpoint's deliveries.
    EndpointHeaders,
    r##"{"type": "object", "description": "Extra headers sent with every delivery. Names are HTTP tokens (case-insensitive); values have no control characters except tab. webhook-*, content-type and user-agent are set by hookd, and headers of the connection (connection, keep-alive, proxy-*, te, trailer, transfer-encoding, upgrade, host, content-length) by the sender: none of them can be given.", "propertyNames": {"type": "string", "maxLength": 65535, "pattern": "^(?![Ww][Ee][Bb][Hh][Oo][Oo][Kk]-|(?:[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-(?:[Tt][Yy][Pp][Ee]|[Ll][Ee][Nn][Gg][Tt][Hh])|[Hh][Oo][Ss][Tt]|[Uu][Ss][Ee][Rr]-[Aa][Gg][Ee][Nn][Tt])$)[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}, "additionalProperties": {"type": "string", "pattern": "^[^\\x00-\\x08\\x0A-\\x1F\\x7F]*$"}}"##
);

json_schema!(
    /// The headers an inbox answers with.
    InboxResponseHeaders,
    r##"{"type": "object", "description": "Response headers. Names are HTTP tokens (case-insensitive); values have no control characters except tab. Connection headers (connection, keep-alive, proxy-*, te, trailer, transfer-encoding, upgrade, host, content-length) are set by the server and cannot be given.", "propertyNames": {"type": "string", "maxLength": 65535, "pattern": "^(?!(?:[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]|[Kk][Ee][Ee][Pp]-[Aa][Ll][Ii][Vv][Ee]|[Pp][Rr][Oo][Xx][Yy]-[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]|[Pp][Rr][Oo][Xx][Yy]-[Aa][Uu][Tt][Hh][Ee][Nn][Tt][Ii][Cc][Aa][Tt][Ee]|[Pp][Rr][Oo][Xx][Yy]-[Aa][Uu][Tt][Hh][Oo][Rr][Ii][Zz][Aa][Tt][Ii][Oo][Nn]|[Tt][Ee]|[Tt][Rr][Aa][Ii][Ll][Ee][Rr]|[Tt][Rr][Aa][Nn][Ss][Ff][Ee][Rr]-[Ee][Nn][Cc][Oo][Dd][Ii][Nn][Gg]|[Uu][Pp][Gg][Rr][Aa][Dd][Ee]|[Hh][Oo][Ss][Tt]|[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh])$)[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}, "additionalProperties": {"type": "string", "pattern": "^[^\\x00-\\x08\\x0A-\\x1F\\x7F]*$"}}"##
);

json_schema!(
    /// One header as `[name, value]`.
    HeaderPair,
    r##"{"type": "array", "description": "One HTTP header as a [name, value] pair.", "prefixItems": [{"type": "string", "description": "Header name."}, {"type": "string", "description": "Header value."}], "items": false, "minItems": 2, "maxItems": 2}"##
);

json_schema!(
    /// One header of a relayed response.
    RelayedHeaderPair,
    r##"{"type": "array", "description": "One header of the relayed response as a [name, value] pair; same rules as InboxResponseHeaders.", "prefixItems": [{"type": "string", "maxLength": 65535, "pattern": "^(?!(?:[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]|[Kk][Ee][Ee][Pp]-[Aa][Ll][Ii][Vv][Ee]|[Pp][Rr][Oo][Xx][Yy]-[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]|[Pp][Rr][Oo][Xx][Yy]-[Aa][Uu][Tt][Hh][Ee][Nn][Tt][Ii][Cc][Aa][Tt][Ee]|[Pp][Rr][Oo][Xx][Yy]-[Aa][Uu][Tt][Hh][Oo][Rr][Ii][Zz][Aa][Tt][Ii][Oo][Nn]|[Tt][Ee]|[Tt][Rr][Aa][Ii][Ll][Ee][Rr]|[Tt][Rr][Aa][Nn][Ss][Ff][Ee][Rr]-[Ee][Nn][Cc][Oo][Dd][Ii][Nn][Gg]|[Uu][Pp][Gg][Rr][Aa][Dd][Ee]|[Hh][Oo][Ss][Tt]|[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh])$)[!#$%&'*+.^_`|~0-9A-Za-z-]+$", "description": "Header name: an HTTP token, not a connection header."}, {"type": "string", "pattern": "^[^\\x00-\\x08\\x0A-\\x1F\\x7F]*$", "description": "Header value: no control characters except tab."}], "items": false, "minItems": 2, "maxItems": 2}"##
);

json_schema!(
    /// String keys to string values.
    Metadata,
    r##"{"type": "object", "description": "A map of string keys to string values.", "additionalProperties": {"type": "string"}}"##
);

json_schema!(
    /// One event of an inbox's live stream, as an SSE client reads it.
    InboxStreamEvent,
    r##"{"type": "object", "description": "One Server-Sent Event of the stream: a `request` event whose id is the request id and whose data is an InboxRequestOut as JSON.", "required": ["event", "id", "data"], "properties": {"event": {"type": "string", "enum": ["request"]}, "id": {"type": "string", "pattern": "^req_[0-9A-HJKMNP-TV-Z]{26}$"}, "data": {"type": "string", "description": "An InboxRequestOut as JSON."}}}"##
);

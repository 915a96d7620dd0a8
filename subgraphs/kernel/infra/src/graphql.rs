//! The GraphQL edge of every subgraph: errors with `extensions.code`, Relay cursors and
//! the request metadata that flows into events.
//!
//! Errors are mapped once, here. An `Internal` error never shows its message to the
//! client (it may hold SQL or paths); it is logged instead.

use std::fmt::Display;

use async_graphql::{Error, ErrorExtensions};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kernel::{Classify, ErrorKind, EventMeta};

/// Turns a classified domain error into a GraphQL error with `extensions.code`.
pub fn error<E: Classify + Display>(err: E) -> Error {
    coded(err.kind(), &err)
}

/// A GraphQL error of the given kind. Internal errors are logged and masked.
pub fn coded(kind: ErrorKind, message: &dyn Display) -> Error {
    let message = if kind == ErrorKind::Internal {
        tracing::error!(error = %message, "internal error");
        "internal error".to_owned()
    } else {
        message.to_string()
    };
    Error::new(message).extend_with(|_, ext| ext.set("code", kind.code()))
}

/// A BAD_USER_INPUT error.
pub fn bad_input(message: impl Display) -> Error {
    coded(ErrorKind::BadUserInput, &message)
}

/// A NOT_FOUND error.
pub fn not_found(message: impl Display) -> Error {
    coded(ErrorKind::NotFound, &message)
}

/// Any unexpected failure (database, serialization): logged, shown as INTERNAL.
pub fn internal(err: impl Display) -> Error {
    coded(ErrorKind::Internal, &err)
}

/// `Money`, `MoneyInput` and the `Long` scalar, identical in every subgraph that
/// shows money (so they compose as shareable types).
pub mod money {
    use async_graphql::{InputObject, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};
    use kernel::{Currency, Money};

    /// A 64-bit integer. Money amounts are minor units (cents), never floats.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Long(pub i64);

    /// A 64-bit signed integer, e.g. an amount in minor units. JSON clients read it
    /// exactly up to 2^53.
    #[Scalar(name = "Long")]
    impl ScalarType for Long {
        fn parse(value: Value) -> InputValueResult<Self> {
            match &value {
                Value::Number(number) => number
                    .as_i64()
                    .map(Long)
                    .ok_or_else(|| InputValueError::custom("expected a whole number within 64 bits")),
                Value::String(text) => text
                    .parse()
                    .map(Long)
                    .map_err(|_| InputValueError::custom("expected a whole number within 64 bits")),
                _ => Err(InputValueError::expected_type(value)),
            }
        }

        fn to_value(&self) -> Value {
            Value::Number(self.0.into())
        }
    }

    /// An amount of money in minor units of an ISO 4217 currency.
    #[derive(Debug, Clone, SimpleObject)]
    #[graphql(name = "Money", shareable)]
    pub struct MoneyObject {
        /// Minor units: cents for USD, yen for JPY.
        pub amount: Long,
        /// ISO 4217 code.
        pub currency: String,
        /// For display, e.g. `12.34 USD`.
        pub formatted: String,
    }

    impl From<Money> for MoneyObject {
        fn from(money: Money) -> Self {
            Self {
                amount: Long(money.amount()),
                currency: money.currency().code().to_owned(),
                formatted: money.to_string(),
            }
        }
    }

    #[derive(Debug, Clone, InputObject)]
    pub struct MoneyInput {
        /// Minor units: cents for USD, yen for JPY.
        pub amount: Long,
        /// ISO 4217 code, e.g. `USD`.
        pub currency: String,
    }

    impl TryFrom<&MoneyInput> for Money {
        type Error = async_graphql::Error;
        fn try_from(input: &MoneyInput) -> Result<Self, Self::Error> {
            let currency = Currency::parse(&input.currency).map_err(super::bad_input)?;
            Ok(Money::new(input.amount.0, currency))
        }
    }
}

/// `PostalAddress` and `PostalAddressInput`, identical in every subgraph that shows or
/// takes an address (so they compose as shareable types).
pub mod address {
    use async_graphql::{InputObject, SimpleObject};
    use kernel::{Address, AddressInput};

    /// A postal address, checked: the country an ISO 3166-1 alpha-2 code, the postal
    /// code in its country's form where the form is known, the phone in E.164.
    #[derive(Debug, Clone, SimpleObject)]
    #[graphql(shareable)]
    pub struct PostalAddress {
        /// The recipient.
        pub name: String,
        pub company: Option<String>,
        pub line1: String,
        pub line2: Option<String>,
        pub city: String,
        /// State, province or region.
        pub region: Option<String>,
        pub postal_code: Option<String>,
        /// ISO 3166-1 alpha-2, e.g. `DE`.
        pub country: String,
        /// The country's English name.
        pub country_name: String,
        /// E.164, e.g. `+4930123456`.
        pub phone: Option<String>,
    }

    impl From<&Address> for PostalAddress {
        fn from(address: &Address) -> Self {
            Self {
                name: address.name().to_owned(),
                company: address.company().map(str::to_owned),
                line1: address.line1().to_owned(),
                line2: address.line2().map(str::to_owned),
                city: address.city().to_owned(),
                region: address.region().map(str::to_owned),
                postal_code: address.postal_code().map(|code| code.as_str().to_owned()),
                country: address.country().as_str().to_owned(),
                country_name: address.country().name().to_owned(),
                phone: address.phone().map(|phone| phone.as_str().to_owned()),
            }
        }
    }

    /// A postal address as typed. The postal code is required where its country's form
    /// is known (US, CA, GB, DE, FR, NL, JP, AU, CN).
    #[derive(Debug, Clone, InputObject)]
    pub struct PostalAddressInput {
        /// The recipient, 1 to 100 characters.
        pub name: String,
        pub company: Option<String>,
        pub line1: String,
        pub line2: Option<String>,
        pub city: String,
        pub region: Option<String>,
        pub postal_code: Option<String>,
        /// ISO 3166-1 alpha-2, e.g. `DE`.
        pub country: String,
        /// E.164, e.g. `+4930123456`.
        pub phone: Option<String>,
    }

    impl TryFrom<PostalAddressInput> for Address {
        type Error = async_graphql::Error;
        fn try_from(input: PostalAddressInput) -> Result<Self, Self::Error> {
            Address::parse(&AddressInput {
                name: input.name,
                company: input.company,
                line1: input.line1,
                line2: input.line2,
                city: input.city,
                region: input.region,
                postal_code: input.postal_code,
                country: input.country,
                phone: input.phone,
            })
            .map_err(super::error)
        }
    }
}

/// Schema directives the gateway acts on, for `#[graphql(directive = …)]`.
///
/// - `@authenticated` (Federation v2.5): the field or type needs a signed-in caller.
///   (`@requiresScopes` comes with async-graphql: `#[graphql(requires_scopes = "…")]`.)
/// - `@cost(weight:)` and `@listSize(…)` (the demand-control directives of Federation
///   v2.9, which our composer knows by name): what a field costs, and how many items a
///   list field returns, for the gateway's cost budget.
pub mod directives {
    #![allow(clippy::too_many_arguments, unused_variables)]

    #[async_graphql::TypeDirective(name = "authenticated", location = "FieldDefinition", location = "Object")]
    pub fn authenticated() {}

    #[async_graphql::TypeDirective(name = "cost", location = "FieldDefinition", location = "Object")]
    pub fn cost(weight: i32) {}

    /// `slicing_arguments` name the arguments that bound the list (`first`);
    /// `sized_fields` name the list fields of a connection they bound (`edges`).
    #[async_graphql::TypeDirective(name = "listSize", location = "FieldDefinition")]
    pub fn list_size(
        assumed_size: Option<i32>,
        slicing_arguments: Option<Vec<String>>,
        sized_fields: Option<Vec<String>>,
        require_one_slicing_argument: Option<bool>,
    ) {
    }
}

/// A subgraph's SDL with the Federation v2 `@link`, sorted so it is stable byte for
/// byte between runs.
///
/// async-graphql links Federation v2.5 with a fixed import list that lacks
/// `@authenticated`; when a field uses it, it is added to the import (and the local
/// definition async-graphql prints for it dropped), so composers read it as the
/// federation directive it is.
pub fn federation_sdl<Q, M, S>(schema: &async_graphql::Schema<Q, M, S>) -> String
where
    Q: async_graphql::ObjectType + 'static,
    M: async_graphql::ObjectType + 'static,
    S: async_graphql::SubscriptionType + 'static,
{
    let sdl = schema.sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .federation()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    );
    import_authenticated(&sdl)
}

fn import_authenticated(sdl: &str) -> String {
    if !sdl.contains("directive @authenticated ") {
        return sdl.to_owned();
    }
    sdl.lines()
        .filter(|line| !line.starts_with("directive @authenticated "))
        .map(|line| {
            if line.trim_start().starts_with("import: [") && line.contains("\"@requiresScopes\"") {
                line.replacen("\"@requiresScopes\"", "\"@requiresScopes\", \"@authenticated\"", 1)
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// How deep an operation may nest in a subgraph. The gateway allows clients depth 10;
/// its fetches add at most the `_entities` level and a fragment, so this refuses only
/// what never came through the gateway.
pub const MAX_DEPTH: usize = 16;
/// How many fields (async-graphql's complexity: every selected field counts one, each
/// alias again) one operation may select in a subgraph. Every operation the test suite
/// sends through the gateway fits; a client's own operation is bounded before it by
/// the gateway's depth, alias and cost limits.
pub const MAX_COMPLEXITY: usize = 200;

/// `builder` with the limits every subgraph enforces itself, so that a subgraph
/// reached inside the network without the gateway in front is still safe: depth
/// [`MAX_DEPTH`] and complexity [`MAX_COMPLEXITY`] (the body limit is the server's).
pub fn with_limits<Q, M, S>(builder: async_graphql::SchemaBuilder<Q, M, S>) -> async_graphql::SchemaBuilder<Q, M, S>
where
    Q: async_graphql::ObjectType + 'static,
    M: async_graphql::ObjectType + 'static,
    S: async_graphql::SubscriptionType + 'static,
{
    builder
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(ValidationCodes)
}

/// Gives every validation error that has no code (an unknown field, an operation over
/// a limit) `GRAPHQL_VALIDATION_FAILED`, and every argument that fails to parse while
/// the operation runs (a null variable where a value is needed, a scalar's own check)
/// `BAD_USER_INPUT`, so clients can tell them apart by code.
struct ValidationCodes;

/// Whether an uncoded error is async-graphql's own for an input value that does not
/// parse (`InputValueError`'s messages).
fn is_input_parse_error(message: &str) -> bool {
    message.starts_with("Failed to parse \"")
        || message.starts_with("Expected input type \"")
        || message.contains("(occurred while parsing \"")
}

impl async_graphql::extensions::ExtensionFactory for ValidationCodes {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(ValidationCodes)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ValidationCodes {
    async fn validation(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextValidation<'_>,
    ) -> Result<async_graphql::ValidationResult, Vec<async_graphql::ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|mut error| {
                    let extensions = error.extensions.get_or_insert_with(Default::default);
                    if extensions.get("code").is_none() {
                        extensions.set("code", "GRAPHQL_VALIDATION_FAILED");
                    }
                    error
                })
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: async_graphql::extensions::NextExecute<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx, operation_name).await;
        for error in &mut response.errors {
            let uncoded = error
                .extensions
                .as_ref()
                .is_none_or(|extensions| extensions.get("code").is_none());
            if uncoded && is_input_parse_error(&error.message) {
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("code", ErrorKind::BadUserInput.code());
            }
        }
        response
    }
}

/// Relay's `PageInfo`, shared by every connection of every subgraph.
#[derive(Debug, Clone, Default, async_graphql::SimpleObject)]
#[graphql(shareable)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// The default and the largest page a connection returns.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Reads a connection's `first` argument.
///
/// # Errors
/// BAD_USER_INPUT when it is below 1 or above [`MAX_PAGE_SIZE`].
pub fn page_size(first: Option<i32>) -> Result<u64, Error> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n >= 1 && (n as u64) <= MAX_PAGE_SIZE => Ok(n as u64),
        Some(n) => Err(bad_input(format!(
            "`first` must be between 1 and {MAX_PAGE_SIZE}, got {n}"
        ))),
    }
}

/// The request's [`EventMeta`], put in the context by the server.
pub fn request_meta(ctx: &async_graphql::Context<'_>) -> EventMeta {
    ctx.data_opt::<EventMeta>().cloned().unwrap_or_default()
}

/// Opaque Relay cursors. Clients must not read them; the service decodes its own.
pub mod cursor {
    use super::*;

    const PREFIX: &str = "c1:";

    pub fn encode(key: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{PREFIX}{key}"))
    }

    /// # Errors
    /// BAD_USER_INPUT when the cursor was not made by [`encode`].
    pub fn decode(cursor: &str) -> Result<String, Error> {
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix(PREFIX).map(str::to_owned))
            .ok_or_else(|| {
                bad_input(format!(
                    "`{}` is not a valid cursor",
                    cursor.chars().take(64).collect::<String>()
                ))
            })
    }
}

/// Reads the W3C `traceparent` trace id and `x-correlation-id` from a request.
pub fn event_meta(headers: &HeaderMap) -> EventMeta {
    let trace_id = headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split('-').nth(1))
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let correlation_id = headers
        .get("x-correlation-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .map(str::to_owned);
    EventMeta {
        trace_id,
        span_id: None,
        correlation_id,
    }
}

/// The address the client called the gateway from, as the gateway says it
/// (`x-identity-client-address`); `None` without one (a call from inside).
#[derive(Debug, Clone, Default)]
pub struct ClientAddress(pub Option<String>);

impl ClientAddress {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self(
            headers
                .get(kernel::identity::tokens::CLIENT_ADDRESS_HEADER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<std::net::IpAddr>().ok())
                .map(|ip| ip.to_string()),
        )
    }
}

/// The request's [`ClientAddress`], when known.
pub fn client_address<'a>(ctx: &async_graphql::Context<'a>) -> Option<&'a str> {
    ctx.data_opt::<ClientAddress>().and_then(|address| address.0.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_bad_input() {
        assert_eq!(cursor::decode(&cursor::encode("abc|1")).unwrap(), "abc|1");
        let err = cursor::decode("%%%").unwrap_err();
        assert_eq!(
            err.extensions.unwrap().get("code").unwrap().to_string(),
            "\"BAD_USER_INPUT\""
        );
        assert!(cursor::decode(&URL_SAFE_NO_PAD.encode("no-prefix")).is_err());
    }

    #[tokio::test]
    async fn arguments_that_fail_to_parse_while_running_are_bad_input() {
        struct Query;
        #[async_graphql::Object]
        impl Query {
            async fn echo(&self, money: money::MoneyInput, tags: Option<Vec<i32>>) -> String {
                format!("{} {:?}", money.amount.0, tags)
            }
        }
        let schema = with_limits(async_graphql::Schema::build(
            Query,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        ))
        .finish();
        let run = |query: &str, variables: serde_json::Value| {
            let request = async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables));
            let schema = schema.clone();
            async move { serde_json::to_value(schema.execute(request).await).unwrap() }
        };
        let scalar = run(
            "query($m: MoneyInput!) { echo(money: $m) }",
            serde_json::json!({ "m": { "amount": "12.5", "currency": "USD" } }),
        )
        .await;
        let unknown_field = run(
            "{ echo(money: { amount: 1, currency: \"USD\" }) nope }",
            serde_json::json!({}),
        )
        .await;
        let fine = run(
            "{ echo(money: { amount: 1, currency: \"USD\" }, tags: [1]) }",
            serde_json::json!({}),
        )
        .await;
        let code = |response: &serde_json::Value| response["errors"][0]["extensions"]["code"].clone();
        assert_eq!(code(&scalar), "BAD_USER_INPUT", "{scalar}");
        assert_eq!(code(&unknown_field), "GRAPHQL_VALIDATION_FAILED", "{unknown_field}");
        assert_eq!(fine["data"]["echo"], "1 Some([1])", "{fine}");
        assert!(is_input_parse_error("Expected input type \"X\", found null."));
        assert!(!is_input_parse_error("the cart is empty"));
    }

    #[test]
    fn internal_errors_are_masked() {
        let err = internal("relation \"products\" does not exist");
        assert_eq!(err.message, "internal error");
    }

    #[test]
    fn trace_and_correlation_ids_come_from_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        headers.insert("x-correlation-id", "checkout-42".parse().unwrap());
        let meta = event_meta(&headers);
        assert_eq!(meta.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(meta.correlation_id.as_deref(), Some("checkout-42"));
        headers.insert("traceparent", "garbage".parse().unwrap());
        assert_eq!(event_meta(&headers).trace_id, None);
    }
}

//! How deep a request's JSON nests, measured before anything parses it.
//!
//! JSON parsers (the engine's sonic-rs, serde) recurse once per array or object level.
//! A body of 100,000 `[` fits in 200 kB, far under the body limit, and parsing it
//! exhausts a thread's stack (the gateway's fuzz run found it; on a running gateway the
//! overflow then held a worker, a core and gigabytes of memory while the runtime's
//! SIGSEGV handler symbolised the deep stack). GraphQL variables and extensions nest as
//! deep as input types do, a handful of levels, so the gateway refuses a request nested
//! deeper than [`MAX_JSON_DEPTH`] before the engine or any plugin parses it: the
//! [`identity`] plugin, which runs first, checks the body and a GET's `variables` and
//! `extensions`. A GraphQL-over-WebSocket message is parsed by the engine before any
//! plugin sees it: there the router's thread stacks are sized for the deepest message a
//! frame holds instead (`crate::serve::THREAD_STACK_BYTES`).
//!
//! [`identity`]: super::identity

use hive_router::GraphQLError;
use hive_router::http::StatusCode;

/// The deepest nesting of arrays and objects a request may send.
pub const MAX_JSON_DEPTH: usize = 64;

/// Whether `json` nests arrays and objects deeper than `max` (brackets inside strings
/// do not count). One pass, no allocation; malformed JSON is the parser's to refuse.
pub fn nests_deeper_than(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The refusal of a request that nests too deep: 400, `BAD_REQUEST`.
pub fn too_deep() -> (GraphQLError, StatusCode) {
    (
        GraphQLError::from_message_and_code(
            format!("the request's JSON nests deeper than {MAX_JSON_DEPTH} levels"),
            "BAD_REQUEST",
        ),
        StatusCode::BAD_REQUEST,
    )
}

/// Whether a request (a POST body, or a GET's query string, whose `variables` and
/// `extensions` are JSON) nests deeper than [`MAX_JSON_DEPTH`].
pub fn request_too_deep(body: &[u8], query_string: &str) -> bool {
    if nests_deeper_than(body, MAX_JSON_DEPTH) {
        return true;
    }
    form_urlencoded::parse(query_string.as_bytes()).any(|(key, value)| {
        matches!(key.as_ref(), "variables" | "extensions") && nests_deeper_than(value.as_bytes(), MAX_JSON_DEPTH)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(!nests_deeper_than(
            br#"{"query":"{ a { b } }","variables":{"x":[1,[2]]}}"#,
            4
        ));
        assert!(nests_deeper_than(br#"{"variables":{"x":[1,[2]]}}"#, 3));
        let string_of_brackets = format!(r#"{{"query":"{}"}}"#, "[".repeat(10_000));
        assert!(
            !nests_deeper_than(string_of_brackets.as_bytes(), 2),
            "brackets in a string"
        );
        let escaped_quote = br#"{"q":"\"[[[[","v":{}}"#;
        assert!(
            !nests_deeper_than(escaped_quote, 2),
            "an escaped quote does not end the string"
        );
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(nests_deeper_than(deep.as_bytes(), MAX_JSON_DEPTH));
        let just_enough = format!("{}{}", "[".repeat(MAX_JSON_DEPTH), "]".repeat(MAX_JSON_DEPTH));
        assert!(!nests_deeper_than(just_enough.as_bytes(), MAX_JSON_DEPTH));
    }

    #[test]
    fn a_get_is_measured_on_its_json_parameters() {
        let deep = "%5B".repeat(MAX_JSON_DEPTH + 1);
        assert!(request_too_deep(
            b"",
            &format!("query=%7B__typename%7D&variables={deep}")
        ));
        assert!(request_too_deep(b"", &format!("extensions={deep}")));
        assert!(
            !request_too_deep(b"", &format!("query={deep}")),
            "the query is GraphQL, not JSON"
        );
    }
}

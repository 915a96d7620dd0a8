//! The operations console for staff (gateway/console/, a TypeScript application built
//! with Vite) served at `/console/` by the gateway itself: its three built files are
//! compiled into the binary, so the console is wherever the gateway is and needs
//! nothing installed. It talks to the gateway like any client (as the client `console`,
//! whose persisted operations are frontend-contracts/console/), so it can do nothing
//! its staff's token does not allow.

use hive_router::executor::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::executor::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use hive_router::ntex;
use serde::Deserialize;

/// Where the console is served.
pub const PATH: &str = "/console";

/// The built console (`npm run build` in gateway/console/ writes these).
const FILES: [(&str, &str, &str); 3] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../console/dist/index.html"),
    ),
    (
        "/console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/dist/console.js"),
    ),
    (
        "/console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/dist/console.css"),
    ),
];

/// The page may load its own files and talk to this gateway (HTTP and WebSocket), and
/// nothing else; no other site may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {}

pub struct Console;

/// The answer to a request for `path`, or None when the path is not the console's.
fn answer(method: &ntex::http::Method, path: &str) -> Option<ntex::http::Response> {
    use ntex::http::{Method, Response, StatusCode};
    let within = path.strip_prefix(PATH)?;
    if within.is_empty() {
        // Relative asset paths need the trailing slash.
        return Some(
            Response::build(StatusCode::PERMANENT_REDIRECT)
                .header("location", format!("{PATH}/"))
                .finish(),
        );
    }
    if !within.starts_with('/') {
        return None;
    }
    let within = if within == "/index.html" { "/" } else { within };
    let Some((_, content_type, body)) = FILES.iter().find(|(name, _, _)| *name == within) else {
        return Some(
            Response::build(StatusCode::NOT_FOUND)
                .content_type("text/plain")
                .body("not found"),
        );
    };
    if method != Method::GET && method != Method::HEAD {
        return Some(
            Response::build(StatusCode::METHOD_NOT_ALLOWED)
                .header("allow", "GET, HEAD")
                .finish(),
        );
    }
    let mut response = Response::build(StatusCode::OK);
    response
        .content_type(*content_type)
        // The files keep their names from build to build: always ask again.
        .header("cache-control", "no-cache")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer");
    Some(if method == Method::HEAD {
        response.finish()
    } else {
        response.body(*body)
    })
}

#[hive_router::async_trait]
impl RouterPlugin for Console {
    type Config = ConsoleConfig;

    fn plugin_name() -> &'static str {
        "console"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let _: ConsoleConfig = payload.config()?;
        payload.initialize_plugin(Console)
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let request = &payload.router_http_request;
            match answer(request.method(), request.path()) {
                Some(response) => payload.end_with_response(response),
                None => payload.proceed(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntex::http::{Method, StatusCode};

    #[test]
    fn serves_its_files_under_its_path_and_nothing_else() {
        let page = answer(&Method::GET, "/console/").unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers().get("content-type").unwrap(), "text/html; charset=utf-8");
        assert!(
            page.headers()
                .get("content-security-policy")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(
            answer(&Method::GET, "/console/index.html").unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            answer(&Method::HEAD, "/console/console.js").unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            answer(&Method::GET, "/console").unwrap().status(),
            StatusCode::PERMANENT_REDIRECT
        );
        assert_eq!(
            answer(&Method::GET, "/console/../graphql").unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            answer(&Method::POST, "/console/").unwrap().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert!(answer(&Method::GET, "/graphql").is_none());
        assert!(answer(&Method::GET, "/consoles").is_none());
        // The built page loads the built script and style by their fixed names.
        let html = FILES[0].2;
        assert!(html.contains("console.js") && html.contains("console.css"), "{html}");
    }
}

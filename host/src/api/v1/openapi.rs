//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every route, written by hand
//! beside this file (`openapi.json`) and served as it is.
//!
//! It is checked, rather than generated, because the handlers build their JSON with
//! `serde_json::json!` in the contract's key order (`render.rs`): a generator would need a
//! typed copy of every body. What keeps it true:
//! - the tests below: its (method, path) set is the router's, and its enums are the
//!   code's (execution states, job body keys);
//! - tests/contract.rs: a validator accepts it, every documented route answers on a live
//!   server, and schemathesis fuzzes that server against it (no 5xx, no answer outside
//!   the document).

use crate::api::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The document, as served.
const DOCUMENT: &str = include_str!("openapi.json");

/// The route of the document.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;
    use crate::api::{ApiConfig, router};
    use crate::job::{ExecutionState, OptionLimits};
    use crate::plugins::PluginRegistry;
    use crate::runtime::{EngineOptions, Runtime};
    use crate::scheduler::{Scheduler, SchedulerConfig};
    use crate::service::Service;
    use crate::store::Store;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// The operations of a path item, as OpenAPI names them.
    const METHODS: [&str; 9] = [
        "get", "head", "delete", "options", "patch", "post", "put", "trace", "connect",
    ];

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    /// Every (METHOD, path template) the document describes.
    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let paths = doc["paths"].as_object().expect("the document has paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect()
    }

    /// Every (METHOD, path template) the router answers, read from its `Debug` output:
    /// axum has no API that lists routes, and its `Debug` shows each route id's path
    /// (`RouteId(3): "/api/v1/jobs/{job_id}"`) and its method router
    /// (`RouteId(3): MethodRouter(MethodRouter { get: Route, head: None, … })`). Nested
    /// routers are flattened into full paths. Should that output change, this set comes
    /// out empty or wrong and the comparison fails: it cannot pass by mistake.
    /// A route for any method (`route_service`) shows as `ANY`.
    fn routed(debug: &str) -> BTreeSet<(String, String)> {
        // Only the path router: the fallback router has route ids of its own.
        let start = debug
            .find("path_router: PathRouter {")
            .expect("Router's Debug names its path_router");
        let end = debug[start..]
            .find("fallback_router:")
            .map_or(debug.len(), |i| start + i);
        let section = &debug[start..end];
        let mut paths = std::collections::HashMap::new();
        let mut methods: std::collections::HashMap<&str, Vec<String>> =
            std::collections::HashMap::new();
        for entry in section.split("RouteId(").skip(1) {
            let Some((id, rest)) = entry.split_once("): ") else {
                continue;
            };
            if let Some(quoted) = rest.strip_prefix('"') {
                let path = quoted.split('"').next().unwrap_or_default();
                paths.insert(id, path.to_owned());
            } else if let Some(fields) = rest.strip_prefix("MethodRouter(MethodRouter {") {
                let fields = fields.split("fallback:").next().unwrap_or_default();
                let set = METHODS
                    .iter()
                    .filter(|m| {
                        fields.split(", ").any(|field| {
                            field
                                .trim()
                                .strip_prefix(&format!("{m}: "))
                                .is_some_and(|endpoint| endpoint != "None")
                        })
                    })
                    .map(|m| m.to_uppercase())
                    .collect();
                methods.insert(id, set);
            } else if rest.starts_with("Route(") {
                methods.insert(id, vec!["ANY".to_owned()]);
            }
        }
        paths
            .into_iter()
            .filter(|(_, path)| !path.contains("__private__axum"))
            .flat_map(|(id, path)| {
                methods
                    .get(id)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |m| (m, path.clone()))
            })
            .collect()
    }

    /// The whole application router over a real (empty) service.
    async fn app_router_debug() -> String {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("wasmcron.db"))
            .await
            .unwrap();
        let runtime = Runtime::new(&EngineOptions::default()).unwrap();
        let plugins = PluginRegistry::new(runtime.clone(), store.clone(), dir.path().into());
        let scheduler = Scheduler::new(
            store.clone(),
            runtime,
            plugins.clone(),
            SchedulerConfig::default(),
        );
        let auth = std::sync::Arc::new(crate::auth::Auth::new(
            store.clone(),
            crate::auth::AuthConfig::default(),
        ));
        let service = Service::new(store, scheduler, plugins, OptionLimits::default(), None);
        format!("{:?}", router(service, auth, ApiConfig::default()))
    }

    #[tokio::test]
    async fn the_document_lists_exactly_the_routes_of_the_router() {
        let routed = routed(&app_router_debug().await);
        let documented = documented();
        let line = |(m, p): &(String, String)| format!("  {m} {p}");
        let undocumented: Vec<String> = routed.difference(&documented).map(line).collect();
        let unrouted: Vec<String> = documented.difference(&routed).map(line).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "host/src/api/v1/openapi.json and the router differ.\n\
             Routed but not documented (add each to the document's `paths`):\n{}\n\
             Documented but not routed (remove each from the document, or route it):\n{}",
            undocumented.join("\n"),
            unrouted.join("\n"),
        );
    }

    /// The access policy (auth/policy.rs) names every route of the router, and no
    /// other: a new route without a role fails here.
    #[tokio::test]
    async fn the_access_policy_lists_exactly_the_routes_of_the_router() {
        let routed = routed(&app_router_debug().await);
        let policed: BTreeSet<(String, String)> = crate::auth::policy::ROUTES
            .iter()
            .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        let line = |(m, p): &(String, String)| format!("  {m} {p}");
        let missing: Vec<String> = routed.difference(&policed).map(line).collect();
        let stale: Vec<String> = policed.difference(&routed).map(line).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "host/src/auth/policy.rs and the router differ.\n\
             Routed without a role (add each to ROUTES):\n{}\n\
             In ROUTES but not routed:\n{}",
            missing.join("\n"),
            stale.join("\n"),
        );
    }

    /// Each operation's `x-required-role` is the policy's, and its `security` and
    /// 401/403 answers follow from it.
    #[test]
    fn the_document_states_each_routes_role_as_the_policy() {
        use crate::auth::policy::{Access, ROUTES};
        let doc = document();
        for (method, path, access) in ROUTES {
            let op = &doc["paths"][*path][method.to_lowercase()];
            let role = match access {
                Access::Public => "public".to_owned(),
                Access::Needs(role) => role.as_str().to_owned(),
            };
            assert_eq!(op["x-required-role"], role.as_str(), "{method} {path}");
            let protected = *access != Access::Public;
            assert_eq!(
                op["security"].as_array().is_some_and(|s| !s.is_empty()),
                protected,
                "{method} {path}: security"
            );
            for status in ["401", "403"] {
                assert_eq!(
                    op["responses"].get(status).is_some(),
                    protected || (*path == "/api/v1/session" && status == "401"),
                    "{method} {path}: {status}"
                );
            }
        }
    }

    #[test]
    fn the_route_listing_reads_axums_debug_output() {
        let debug = r#"Router { path_router: PathRouter { routes: {RouteId(2): MethodRouter(MethodRouter { get: Route, head: None, delete: Route, options: None, patch: None, post: None, put: None, trace: None, connect: None, fallback: Default(Route), allow_header: Bytes(b"GET,HEAD,DELETE") }), RouteId(1): Route(Route)}, node: Node { paths: {RouteId(1): "/any", RouteId(2): "/jobs/{job_id}"} } }, fallback_router: PathRouter { routes: {RouteId(1): Route(Route)}, node: Node { paths: {RouteId(1): "/{*__private__axum_fallback}"} } }, default_fallback: true, catch_all_fallback: Default(Route) }"#;
        let expected: BTreeSet<(String, String)> = [
            ("ANY", "/any"),
            ("GET", "/jobs/{job_id}"),
            ("DELETE", "/jobs/{job_id}"),
        ]
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
        assert_eq!(routed(debug), expected);
    }

    /// The enum of a schema in `components/schemas`.
    fn schema_enum(name: &str) -> Vec<String> {
        document()["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("schema {name} has an enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_execution_states_are_the_codes() {
        let code: Vec<String> = ExecutionState::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        assert_eq!(schema_enum("ExecutionState"), code);
    }

    #[test]
    fn the_job_body_takes_the_keys_the_parser_takes() {
        let doc = document();
        let documented: BTreeSet<&str> = doc["components"]["schemas"]["JobBody"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let parsed: BTreeSet<&str> = super::super::dto::KNOWN_KEYS
            .iter()
            .chain(super::super::dto::OPTION_KEYS.iter())
            .copied()
            .collect();
        assert_eq!(documented, parsed);
        // A job's JSON shows the same options.
        let shown = &doc["components"]["schemas"]["Job"]["properties"];
        for option in super::super::dto::OPTION_KEYS {
            assert!(shown.get(option).is_some(), "Job lacks the option {option}");
        }
    }
}

//! Which role each route needs: one table, [`ROUTES`]. A unit test in `api` checks that
//! it lists exactly the router's routes, and the OpenAPI document states the same role
//! per operation (`x-required-role`), so a new route cannot be left out silently.

use super::Role;

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health checks, the version, logging in).
    Public,
    /// A token (or session) of at least this role.
    Needs(Role),
}

use Access::{Needs, Public};
use Role::{Admin, Operator, Viewer};

/// (method, route template, access) for every route the server has.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/api/v1/version", Public),
    // The web console's files: the login page must load before anyone logs in.
    ("GET", "/", Public),
    ("GET", "/console/{file}", Public),
    ("POST", "/api/v1/session", Public),
    ("GET", "/api/v1/session", Needs(Viewer)),
    ("DELETE", "/api/v1/session", Needs(Viewer)),
    // `/metrics` needs a viewer unless the server runs with --public-metrics.
    ("GET", "/metrics", Needs(Viewer)),
    ("GET", "/api/v1/openapi.json", Needs(Viewer)),
    ("GET", "/api/v1/jobs", Needs(Viewer)),
    ("POST", "/api/v1/jobs", Needs(Operator)),
    ("GET", "/api/v1/jobs/{job_id}", Needs(Viewer)),
    ("PUT", "/api/v1/jobs/{job_id}", Needs(Operator)),
    ("DELETE", "/api/v1/jobs/{job_id}", Needs(Operator)),
    // ndscheduler's verbs: PATCH pauses, OPTIONS resumes.
    ("PATCH", "/api/v1/jobs/{job_id}", Needs(Operator)),
    ("OPTIONS", "/api/v1/jobs/{job_id}", Needs(Operator)),
    ("POST", "/api/v1/jobs/{job_id}/pause", Needs(Operator)),
    ("POST", "/api/v1/jobs/{job_id}/resume", Needs(Operator)),
    ("GET", "/api/v1/jobs/{job_id}/next-runs", Needs(Viewer)),
    // Previews the fire times of a job body; it creates nothing.
    ("POST", "/api/v1/next-runs", Needs(Viewer)),
    ("GET", "/api/v1/jobs/{job_id}/state", Needs(Viewer)),
    ("DELETE", "/api/v1/jobs/{job_id}/state", Needs(Operator)),
    ("GET", "/api/v1/executions", Needs(Viewer)),
    ("POST", "/api/v1/executions", Needs(Operator)),
    ("GET", "/api/v1/executions/{id}", Needs(Viewer)),
    ("POST", "/api/v1/executions/{id}", Needs(Operator)),
    ("DELETE", "/api/v1/executions/{id}", Needs(Operator)),
    ("GET", "/api/v1/executions/{id}/events", Needs(Viewer)),
    ("GET", "/api/v1/events", Needs(Viewer)),
    ("GET", "/api/v1/logs", Needs(Viewer)),
    ("GET", "/api/v1/hosts", Needs(Viewer)),
    ("GET", "/api/v1/plugins", Needs(Viewer)),
    ("GET", "/api/v1/plugins/{name}", Needs(Viewer)),
    ("POST", "/api/v1/plugins/{name}", Needs(Admin)),
    ("DELETE", "/api/v1/plugins/{name}", Needs(Admin)),
    ("GET", "/api/v1/plugins/{name}/wasm", Needs(Viewer)),
    ("GET", "/api/v1/job-classes", Needs(Viewer)),
    // A viewer may not even list secrets' names.
    ("GET", "/api/v1/secrets", Needs(Admin)),
    ("GET", "/api/v1/secrets/{name}", Needs(Admin)),
    ("PUT", "/api/v1/secrets/{name}", Needs(Admin)),
    ("DELETE", "/api/v1/secrets/{name}", Needs(Admin)),
    ("GET", "/api/v1/tokens", Needs(Admin)),
    ("POST", "/api/v1/tokens", Needs(Admin)),
    ("DELETE", "/api/v1/tokens/{name}", Needs(Admin)),
];

/// The access a request needs: its route's in [`ROUTES`] (HEAD as GET). A request no
/// route answers (a 404 or 405 to come) needs a viewer under `/api/` and `/metrics`,
/// nothing elsewhere (the web console's pages are public; its data comes from the API).
pub fn access(method: &str, template: Option<&str>, path: &str) -> Access {
    let method = if method == "HEAD" { "GET" } else { method };
    if let Some(template) = template
        && let Some((_, _, access)) = ROUTES
            .iter()
            .find(|(m, t, _)| *m == method && *t == template)
    {
        return *access;
    }
    if path.starts_with("/api/") || path == "/metrics" {
        Needs(Viewer)
    } else {
        Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (method, template, _) in ROUTES {
            assert!(seen.insert((method, template)), "{method} {template} twice");
        }
    }

    #[test]
    fn unknown_routes_under_the_api_need_a_viewer() {
        assert_eq!(access("GET", None, "/api/v1/nothing"), Needs(Role::Viewer));
        assert_eq!(access("GET", None, "/"), Public);
        assert_eq!(
            access("HEAD", Some("/api/v1/jobs"), "/api/v1/jobs"),
            Needs(Role::Viewer)
        );
        assert_eq!(
            access("PUT", Some("/api/v1/jobs"), "/api/v1/jobs"),
            Needs(Role::Viewer)
        );
    }
}

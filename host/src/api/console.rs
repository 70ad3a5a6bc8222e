//! The web console: static files built into the binary (`host/console/`), served at `/`
//! and `/console/<file>`. The console is plain JavaScript modules over the public API;
//! the server only hands the files out.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and requests
//! only from this origin, nothing inline, no framing) and an `ETag` with
//! `Cache-Control: no-cache`: a browser keeps the files and asks again with
//! `If-None-Match`, which is answered `304` without a body until the binary changes.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

use super::ApiError;
use super::extract::Path;

/// What the browser may do with a console page: nothing from elsewhere, nothing inline.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

/// One file of the console.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../../console/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file, by its path under `/console/` (`index.html` is also `/`).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("words.js", JS),
    asset!("jobs.js", JS),
    asset!("job_form.js", JS),
    asset!("job_detail.js", JS),
    asset!("executions.js", JS),
    asset!("plugins.js", JS),
    asset!("audit.js", JS),
];

/// Each asset's strong ETag: the start of its sha256, computed once.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = hex::encode(Sha256::digest(a.body));
            HeaderValue::from_str(&format!("\"{}\"", &digest[..32])).expect("hex is a header")
        })
        .collect()
});

/// The console's routes: `/` and `/console/<file>` (the files are flat: no folders).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                serve(&file, &headers)
            }),
        )
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.path == path) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such file in the console: {path}"),
        )
        .into_response();
    };
    let asset = &ASSETS[index];
    let etag = ETAGS[index].clone();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_its_own_etag_and_a_known_type() {
        let tags: std::collections::BTreeSet<_> = ETAGS.iter().collect();
        assert_eq!(tags.len(), ASSETS.len());
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
            let ext = a.path.rsplit('.').next().unwrap();
            let expected = match ext {
                "js" => JS,
                "css" => "text/css; charset=utf-8",
                "html" => "text/html; charset=utf-8",
                "svg" => "image/svg+xml",
                other => panic!("{} has an extension with no type: {other}", a.path),
            };
            assert_eq!(a.content_type, expected, "{}", a.path);
        }
    }

    #[test]
    fn an_unchanged_file_answers_304_and_a_changed_one_200() {
        let mut headers = HeaderMap::new();
        let first = serve("app.js", &headers);
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        headers.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(serve("app.js", &headers).status(), StatusCode::NOT_MODIFIED);
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\""));
        assert_eq!(serve("app.js", &headers).status(), StatusCode::OK);
        assert_eq!(serve("nope.js", &headers).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_page_loads_no_inline_script_or_style() {
        let index = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(!index.contains("<script>"), "inline script in index.html");
        assert!(!index.contains("style="), "inline style in index.html");
        assert!(!index.contains("<style"), "inline style in index.html");
    }
}

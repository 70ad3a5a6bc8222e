//! `GET /api/v1/hosts`: the hosts serving the database, alive or dead (docs/postgres.md).

use super::ApiResult;
use crate::api::AppState;
use crate::service::{HostInfo, Service};
use crate::time::format_micros;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;

/// The hosts route.
pub fn router() -> Router<AppState> {
    Router::new().route("/hosts", get(list_hosts))
}

fn host_json(h: &HostInfo) -> Value {
    json!({
        "name": h.host.name,
        "host_id": h.host.host_id,
        "address": h.host.address,
        "pid": h.host.pid,
        "started_time": format_micros(h.host.started_time),
        "last_heartbeat": format_micros(h.host.last_heartbeat),
        "alive": h.alive,
        "shutting_down": h.host.draining && !h.host.stopped,
        "stopped": h.host.stopped,
        "adopted_by": h.host.adopted_by,
        "runs_in_progress": h.runs_in_progress,
        "this_host": h.this_host,
    })
}

async fn list_hosts(State(s): State<Arc<Service>>) -> ApiResult<Json<Value>> {
    let hosts: Vec<Value> = s.hosts().await?.iter().map(host_json).collect();
    Ok(Json(json!({ "hosts": hosts })))
}

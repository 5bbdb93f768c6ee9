//! `GET /recon`: the node's state for operators (`stratus status`): per
//! device its space, objects, quarantined copies and queued updates, and
//! each background worker's last pass. `POST /recon/run/<worker>` runs a
//! pass now and answers its report. Like every backend path it is for the
//! cluster's internal network only.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::{set, text, update, Body, Node, Request, Response};
use crate::device::Device;
use crate::workers::{self, Worker};

pub async fn handle(node: &Node, req: Request) -> Response {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/recon") => json(&status(node)),
        (&Method::POST, p) => match p.strip_prefix("/recon/run/").and_then(Worker::parse) {
            Some(w) => json(&workers::run(node, w).await),
            None => text(StatusCode::NOT_FOUND, "Not Found"),
        },
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    }
}

fn json(v: &Value) -> Response {
    let mut r = http::Response::new(Body::full(Bytes::from(v.to_string())));
    set(&mut r, "content-type", "application/json");
    r
}

pub fn status(node: &Node) -> Value {
    let mut devices: Vec<&std::sync::Arc<Device>> = node.devices.iter().collect();
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    let devices: Vec<Value> = devices.into_iter().map(|d| device(d)).collect();
    json!({
        "v": 1,
        "object_server": node.config.bind.to_string(),
        "container_server": node.config.container_bind.to_string(),
        "account_server": node.config.account_bind.to_string(),
        "devices": devices,
        "workers": node.workers.reports(),
    })
}

fn device(d: &Device) -> Value {
    let (size, avail) = d.space().unwrap_or((0, 0));
    json!({
        "device": d.name,
        "id": d.id,
        "mounted": d.is_mounted(),
        "size_bytes": size,
        "avail_bytes": avail,
        "used_bytes": size.saturating_sub(avail),
        "index_entries": d.objects.estimated_entries(),
        "quarantined": d.objects.quarantined_on_disk(),
        "async_pending": update::queued(d),
    })
}

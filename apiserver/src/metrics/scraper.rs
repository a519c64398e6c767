//! The scrape loop (metrics-server's `pkg/scraper`): every resolution, list the Nodes,
//! ask each Ready node's kubelet for `/metrics/resource` at once (with the API server's
//! kubelet-client certificate), merge the answers into one batch and store it. Without
//! Ready nodes (`ironkube up --no-kubelet`) a round is one Node list from the watch cache.

use super::points::Batch;
use super::prometheus;
use crate::registry::kinds;
use crate::registry::store::{ListOptions, Target};
use crate::server::pod_streams::kubelet_address;
use crate::server::AppState;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The largest kubelet answer read (a node with thousands of containers is well below).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Scrapes until the task is dropped.
pub async fn run(state: Arc<AppState>) {
    let resolution = state.metrics.resolution();
    let mut tick = tokio::time::interval(resolution);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let batch = scrape(&state, timeout(resolution)).await;
        state.metrics.store(batch);
    }
}

/// metrics-server bounds a round by 90% of the resolution.
fn timeout(resolution: Duration) -> Duration {
    (resolution * 9 / 10).max(Duration::from_millis(500))
}

/// One round over every Ready node.
async fn scrape(state: &AppState, timeout: Duration) -> Batch {
    let mut batch = Batch::default();
    let Some(nodes_kind) = kinds::find("", "v1", "nodes") else { return batch };
    let nodes = match state.store.list(Target { kind: nodes_kind, namespace: None }, &ListOptions::default()).await {
        Ok(page) => page.items.iter().filter_map(|i| i.object(nodes_kind).ok()).filter(is_ready).collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!("metrics: cannot list nodes: {e}");
            return batch;
        }
    };
    let rounds = nodes.iter().map(|node| async move {
        let name = node["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let answer = tokio::time::timeout(timeout, scrape_node(state, node, &name)).await.unwrap_or_else(|_| Err("timed out".into()));
        (name, answer)
    });
    for (name, answer) in futures::future::join_all(rounds).await {
        match answer {
            Ok((samples, scraped_ms)) => batch.add_node(&name, &samples, scraped_ms),
            Err(e) => tracing::warn!(node = name, "metrics: scraping the kubelet failed: {e}"),
        }
    }
    batch
}

async fn scrape_node(state: &AppState, node: &Value, name: &str) -> Result<(Vec<prometheus::Sample>, i64), String> {
    let (host, port) = kubelet_address(node, name);
    let scraped_ms = jiff::Timestamp::now().as_millisecond();
    let (status, body) = state.kubelet.get(&host, port, "/metrics/resource", MAX_BODY).await?;
    if !status.is_success() {
        return Err(format!("{host}:{port} answered {status}"));
    }
    let text = std::str::from_utf8(&body).map_err(|e| e.to_string())?;
    Ok((prometheus::parse(text).map_err(|e| e.to_string())?, scraped_ms))
}

/// Whether the Node's `Ready` condition is `True`.
pub fn is_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_ready_nodes_are_scraped() {
        assert!(is_ready(&json!({"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]}})));
        assert!(!is_ready(&json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}})));
        assert!(!is_ready(&json!({})));
        assert_eq!(timeout(Duration::from_secs(15)), Duration::from_millis(13_500));
    }
}

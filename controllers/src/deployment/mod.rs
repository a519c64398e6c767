//! Deployment controller (upstream `pkg/controller/deployment`). Not yet written.

use crate::Context;
use std::sync::Arc;

/// Runs the Deployment controller.
pub async fn run(ctx: Arc<Context>) {
    let _ = ctx;
    std::future::pending::<()>().await
}

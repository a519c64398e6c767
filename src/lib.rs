//! What the kubelet needs of the `ironkube` binaries, as a library so that two binaries
//! share it: `ironkube` (src/main.rs: every component, `up` composes them) and
//! `ironkube-kubelet` (src/bin/ironkube-kubelet.rs: the kubelet alone). The rest of the
//! composition stays in `ironkube`'s own crate: the kubelet-only binary never links it.

pub mod cluster_dns;
pub mod node;

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A binary's `main` once its flags are parsed: logging to stderr (`IRONKUBE_LOG`, default
/// `warn`), a two-thread runtime, then `command`; an error is printed and exits with 1.
pub fn run_command(command: impl FnOnce(&tokio::runtime::Runtime) -> anyhow::Result<()>) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("IRONKUBE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match command(&runtime) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

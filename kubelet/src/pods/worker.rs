//! One task per pod: brings the runtime in line with the spec (sandbox, init containers
//! in order, containers, restarts with back-off, probes), reports status, and on deletion
//! stops everything gracefully and deletes the pod object. Upstream: `pod_workers.go` +
//! `kuberuntime_manager.go` `SyncPod`/`KillPod`.

use super::backoff::Backoff;
use super::{env, hosts};
use super::runtime_config::{self as rc, LABEL_POD_UID};
use super::status::{self, ContainerView, Observed};
use super::Ctx;
use crate::cri::api;
use crate::events::Kind as Ev;
use crate::images::{self, Pulled};
use crate::probes::{self, Kind as ProbeKind, Tally};
use crate::volumes::{self, HostVolume};
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod, PodStatus, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often a pod is re-synced while nothing else wakes it (container exits are seen this fast).
const RESYNC: Duration = Duration::from_secs(1);
/// How often projected volume contents are refreshed from the API.
const VOLUME_RESYNC: Duration = Duration::from_secs(5);

struct Sandbox {
    id: String,
    ip: String,
}

pub(super) struct Worker {
    ctx: Arc<Ctx>,
    sandbox: Option<Sandbox>,
    terminal: bool,
    /// The pod looked finished once; the next sync makes it final (see `sync`).
    final_look: bool,
    crash_backoff: Backoff,
    pull_backoff: Backoff,
    /// Since when a pull failed, per container.
    pull_failed: HashMap<String, Instant>,
    /// Kubelet-decided waiting states, per container name.
    waiting: HashMap<String, (String, String)>,
    /// Finished containers never change: their status is cached.
    exited: HashMap<String, api::ContainerStatus>,
    probes: HashMap<(String, ProbeKind), Tally>,
    killing: HashSet<String>,
    volumes: Option<(HashMap<String, HostVolume>, Instant)>,
    announced_backoff: HashSet<String>,
    start_time: Option<Time>,
    /// Whether this sync changed anything in the runtime (then it is listed again).
    acted: bool,
    last_status: Option<serde_json::Value>,
    reported: Option<PodStatus>,
    /// When the worker started (the pod was first seen): start-up steps are logged at
    /// debug level with the time since, to see where a pod's start-up time goes.
    born: Instant,
}

fn spec_containers(pod: &Pod) -> (Vec<Container>, Vec<Container>) {
    let spec = pod.spec.clone().unwrap_or_default();
    (spec.init_containers.unwrap_or_default(), spec.containers)
}

fn is_exited(c: &api::ContainerStatus) -> bool {
    c.state == api::ContainerState::ContainerExited as i32
}

fn is_running(c: &api::ContainerStatus) -> bool {
    c.state == api::ContainerState::ContainerRunning as i32
}

fn attempt(c: &api::ContainerStatus) -> u32 {
    c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0)
}

fn pod_ref(pod: &Pod) -> String {
    let (ns, name, uid) = rc::names(pod);
    format!("{name}_{ns}({uid})")
}

fn handler_as_probe(h: &LifecycleHandler, timeout: i64) -> Probe {
    Probe { exec: h.exec.clone(), http_get: h.http_get.clone(), tcp_socket: h.tcp_socket.clone(), timeout_seconds: Some(timeout.clamp(1, i32::MAX as i64) as i32), ..Default::default() }
}

/// Runs a lifecycle hook (exec, httpGet, tcpSocket or sleep).
async fn run_hook(ctx: &Ctx, h: &LifecycleHandler, container_id: &str, pod_ip: &str, c: &Container, budget: i64) -> Result<(), String> {
    if let Some(s) = &h.sleep {
        tokio::time::sleep(Duration::from_secs(s.seconds.clamp(0, budget.max(0)) as u64)).await;
        return Ok(());
    }
    probes::run(&ctx.cri, &handler_as_probe(h, budget), container_id, pod_ip, c.ports.as_deref().unwrap_or_default()).await
}

impl Worker {
    pub(super) fn new(ctx: Arc<Ctx>) -> Worker {
        Worker {
            ctx,
            sandbox: None,
            terminal: false,
            final_look: false,
            crash_backoff: Backoff::default(),
            pull_backoff: Backoff::default(),
            pull_failed: HashMap::new(),
            waiting: HashMap::new(),
            exited: HashMap::new(),
            probes: HashMap::new(),
            killing: HashSet::new(),
            volumes: None,
            announced_backoff: HashSet::new(),
            start_time: None,
            acted: false,
            last_status: None,
            reported: None,
            born: Instant::now(),
        }
    }

    /// The worker loop: `rx` carries the latest pod, or None once it is gone from the API.
    pub(super) async fn run(mut self, mut rx: watch::Receiver<Option<Arc<Pod>>>) {
        let mut last: Option<Arc<Pod>> = None;
        loop {
            let current = rx.borrow_and_update().clone();
            match current {
                None => {
                    // Removed from the API without us (force delete): stop at once.
                    if let Some(pod) = last {
                        self.terminate(&pod, 0).await;
                    }
                    return;
                }
                Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                    let grace = pod.metadata.deletion_grace_period_seconds.or(pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds)).unwrap_or(30);
                    self.terminate(&pod, grace).await;
                    self.delete_object(&pod).await;
                    return;
                }
                Some(pod) => {
                    let wait = self.sync(&pod).await;
                    last = Some(pod);
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() { return },
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    async fn delete_object(&self, pod: &Pod) {
        let (ns, name, uid) = rc::names(pod);
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let dp = DeleteParams { grace_period_seconds: Some(0), preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }), ..Default::default() };
        for _ in 0..5 {
            match api.delete(&name, &dp).await {
                Ok(_) => return,
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => return,
                Err(e) => {
                    tracing::warn!("cannot delete pod {ns}/{name}: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn sandboxes(&self, uid: &str) -> Vec<api::PodSandbox> {
        let filter = api::PodSandboxFilter { label_selector: [(LABEL_POD_UID.to_string(), uid.to_string())].into(), ..Default::default() };
        self.ctx.cri.runtime.clone().list_pod_sandbox(api::ListPodSandboxRequest { filter: Some(filter) }).await.map(|r| r.into_inner().items).unwrap_or_default()
    }

    fn step(&self, pod: &Pod, what: &str, since: Instant) {
        tracing::debug!(target: "ironkube_kubelet::timing", "pod {}: {what} took {} ms, at {} ms", pod_ref(pod), since.elapsed().as_millis(), self.born.elapsed().as_millis());
    }

    /// Finds the ready sandbox (adopting one a previous kubelet started) or runs a new one.
    async fn ensure_sandbox(&mut self, pod: &Pod) -> Result<(), String> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let all = self.sandboxes(&uid).await;
        let ready = all.iter().find(|s| s.state == api::PodSandboxState::SandboxReady as i32);
        if let (Some(s), Some(known)) = (ready, &self.sandbox) && s.id == known.id {
            return Ok(());
        }
        let mut rt = self.ctx.cri.runtime.clone();
        if let Some(s) = ready {
            let st = rt.pod_sandbox_status(api::PodSandboxStatusRequest { pod_sandbox_id: s.id.clone(), verbose: false }).await.map_err(|e| e.message().to_string())?;
            let ip = st.into_inner().status.and_then(|s| s.network).map(|n| n.ip).unwrap_or_default();
            self.sandbox = Some(Sandbox { id: s.id.clone(), ip });
            return Ok(());
        }
        if self.terminal {
            return Ok(());
        }
        for s in &all {
            let _ = rt.stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: s.id.clone() }).await;
            let _ = rt.remove_pod_sandbox(api::RemovePodSandboxRequest { pod_sandbox_id: s.id.clone() }).await;
        }
        let dns = match self.ctx.dns.for_pod(pod) {
            Ok(dns) => dns,
            Err(e) => {
                let msg = format!("Failed to create pod sandbox: {e}");
                self.ctx.recorder.pod(pod, None, Ev::Warning, "FailedCreatePodSandBox", msg.clone());
                return Err(msg);
            }
        };
        for w in &dns.warnings {
            self.ctx.recorder.pod(pod, None, Ev::Warning, w.reason, w.message.clone());
        }
        let config = rc::sandbox_config(&self.ctx.root, &self.ctx.node, pod, all.len() as u32, &dns);
        std::fs::create_dir_all(&config.log_directory).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let id = match rt.run_pod_sandbox(api::RunPodSandboxRequest { config: Some(config), runtime_handler: String::new() }).await {
            Ok(r) => r.into_inner().pod_sandbox_id,
            Err(e) => {
                let msg = format!("Failed to create pod sandbox: {}", e.message());
                self.ctx.recorder.pod(pod, None, Ev::Warning, "FailedCreatePodSandBox", msg.clone());
                return Err(msg);
            }
        };
        self.step(pod, "RunPodSandbox", t);
        let st = rt.pod_sandbox_status(api::PodSandboxStatusRequest { pod_sandbox_id: id.clone(), verbose: false }).await.map_err(|e| e.message().to_string())?;
        let ip = st.into_inner().status.and_then(|s| s.network).map(|n| n.ip).unwrap_or_default();
        self.sandbox = Some(Sandbox { id, ip });
        self.exited.clear();
        Ok(())
    }

    /// The containers of the current sandbox, grouped by name, newest attempt first.
    async fn containers(&mut self) -> HashMap<String, Vec<api::ContainerStatus>> {
        let mut out: HashMap<String, Vec<api::ContainerStatus>> = HashMap::new();
        let Some(sb) = &self.sandbox else { return out };
        let mut rt = self.ctx.cri.runtime.clone();
        let filter = api::ContainerFilter { pod_sandbox_id: sb.id.clone(), ..Default::default() };
        let list = rt.list_containers(api::ListContainersRequest { filter: Some(filter) }).await.map(|r| r.into_inner().containers).unwrap_or_default();
        let mut by_name: HashMap<String, Vec<api::Container>> = HashMap::new();
        for c in list {
            let name = c.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
            by_name.entry(name).or_default().push(c);
        }
        for (name, mut cs) in by_name {
            cs.sort_by_key(|c| std::cmp::Reverse(c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0)));
            for c in cs.into_iter().take(2) {
                let status = match self.exited.get(&c.id) {
                    Some(s) => Some(s.clone()),
                    None => rt.container_status(api::ContainerStatusRequest { container_id: c.id.clone(), verbose: false }).await.ok().and_then(|r| r.into_inner().status),
                };
                if let Some(s) = status {
                    if is_exited(&s) {
                        self.exited.insert(s.id.clone(), s.clone());
                    }
                    out.entry(name.clone()).or_default().push(s);
                }
            }
        }
        out
    }

    async fn volumes(&mut self, pod: &Pod) -> Result<HashMap<String, HostVolume>, String> {
        if let Some((v, at)) = &self.volumes && at.elapsed() < VOLUME_RESYNC {
            return Ok(v.clone());
        }
        let ip = self.sandbox.as_ref().map(|s| s.ip.clone()).unwrap_or_default();
        match volumes::prepare(&self.ctx.client, &self.ctx.root, pod, &self.ctx.host_ip, &ip).await {
            Ok(v) => {
                self.volumes = Some((v.clone(), Instant::now()));
                Ok(v)
            }
            Err(e) => {
                if self.volumes.is_none() {
                    self.ctx.recorder.pod(pod, None, Ev::Warning, "FailedMount", e.to_string());
                }
                // Keep serving the last good contents while a refresh fails.
                match &self.volumes {
                    Some((v, _)) => Ok(v.clone()),
                    None => Err(e.to_string()),
                }
            }
        }
    }

    /// Pulls, creates and starts one container; failures become waiting states.
    async fn start_container(&mut self, pod: &Pod, c: &Container, attempt: u32, previous: &[api::ContainerStatus]) {
        let Some(sb) = &self.sandbox else { return };
        let (sandbox_id, pod_ip) = (sb.id.clone(), sb.ip.clone());
        self.acted = true;
        let image = c.image.clone().unwrap_or_default();
        let name = c.name.clone();
        let now = Instant::now();
        if let Some(since) = self.pull_failed.get(&name) && self.pull_backoff.waiting(&name, *since, now).is_some() {
            let msg = format!("Back-off pulling image \"{image}\"");
            self.waiting.insert(name.clone(), ("ImagePullBackOff".into(), msg.clone()));
            if self.announced_backoff.insert(format!("pull/{name}")) {
                self.ctx.recorder.pod(pod, Some(&name), Ev::Normal, "BackOff", msg);
                self.ctx.recorder.pod(pod, Some(&name), Ev::Warning, "Failed", "Error: ImagePullBackOff".into());
            }
            return;
        }
        let policy = c.image_pull_policy.clone().unwrap_or_else(|| "IfNotPresent".into());
        if policy == "Always" && !image.starts_with(images::LOCAL_REGISTRY) {
            self.ctx.recorder.pod(pod, Some(&name), Ev::Normal, "Pulling", format!("Pulling image \"{image}\""));
        }
        let t = Instant::now();
        let pulled = images::ensure(&self.ctx.cri, &image, &policy).await;
        self.step(pod, "image", t);
        match pulled {
            Ok(Pulled::Present(_)) => {
                self.ctx.recorder.pod(pod, Some(&name), Ev::Normal, "Pulled", format!("Container image \"{image}\" already present on machine"));
            }
            Ok(Pulled::Pulled(_)) => {
                self.ctx.recorder.pod(pod, Some(&name), Ev::Normal, "Pulled", format!("Successfully pulled image \"{image}\""));
            }
            Err(e) => {
                if policy != "Never" && !self.pull_failed.contains_key(&name) {
                    self.ctx.recorder.pod(pod, Some(&name), Ev::Normal, "Pulling", format!("Pulling image \"{image}\""));
                }
                self.ctx.recorder.pod(pod, Some(&name), Ev::Warning, "Failed", format!("Failed to pull image \"{image}\": {e}"));
                self.ctx.recorder.pod(pod, Some(&name), Ev::Warning, "Failed", format!("Error: {}", e.reason()));
                self.waiting.insert(name.clone(), (e.reason().into(), e.to_string()));
                self.pull_backoff.next(&name, now);
                self.pull_failed.insert(name.clone(), now);
                self.announced_backoff.remove(&format!("pull/{name}"));
                return;
            }
        }
        self.pull_failed.remove(&name);
        let config_error = |w: &mut Worker, msg: String| {
            w.ctx.recorder.pod(pod, Some(&name), Ev::Warning, "Failed", format!("Error: {msg}"));
            w.waiting.insert(name.clone(), ("CreateContainerConfigError".into(), msg));
        };
        let t = Instant::now();
        // The environment (Service list, ConfigMaps, Secrets) and the volumes (token,
        // projected sources) are independent API round-trips: fetched at once.
        let ctx = self.ctx.clone();
        let (envs, vols) = tokio::join!(env::environment(&ctx.client, pod, c, &ctx.host_ip, &pod_ip), self.volumes(pod));
        let envs = match envs {
            Ok(e) => e,
            Err(e) => return config_error(self, e.0),
        };
        let vols = match vols {
            Ok(v) => v,
            Err(e) => return config_error(self, e),
        };
        self.step(pod, "env and volumes", t);
        let mut mounts = match volumes::container_mounts(c, &vols) {
            Ok(m) => m,
            Err(e) => return config_error(self, e.to_string()),
        };
        let pod_ips: Vec<String> = [pod_ip.clone()].into_iter().filter(|ip| !ip.is_empty()).collect();
        let hosts = self.ctx.dns.hostname_and_domain(pod).map_err(|e| e.to_string()).and_then(|(hostname, domain)| {
            let pod_dir = volumes::pod_dir(&self.ctx.root, pod.metadata.uid.as_deref().unwrap_or_default());
            hosts::mount(&pod_dir, pod, c, &pod_ips, &hostname, domain.as_deref()).map_err(|e| format!("cannot write the pod's hosts file: {e}"))
        });
        match hosts {
            Ok(hosts) => mounts.extend(hosts),
            Err(e) => return config_error(self, e),
        }
        let mut rt = self.ctx.cri.runtime.clone();
        // Keep only the newest finished attempt (for lastState and logs --previous).
        for old in previous.iter().skip(1) {
            let _ = rt.remove_container(api::RemoveContainerRequest { container_id: old.id.clone() }).await;
            self.exited.remove(&old.id);
        }
        let config = rc::container_config(&self.ctx.root, pod, c, attempt, envs, mounts);
        // The same sandbox config again (its warnings were recorded with the sandbox).
        let sandbox_config = match self.ctx.dns.for_pod(pod) {
            Ok(dns) => rc::sandbox_config(&self.ctx.root, &self.ctx.node, pod, 0, &dns),
            Err(e) => {
                tracing::warn!("pod {}: cannot generate the sandbox config: {e}", pod_ref(pod));
                return;
            }
        };
        let t = Instant::now();
        let id = match rt.create_container(api::CreateContainerRequest { pod_sandbox_id: sandbox_id, config: Some(config), sandbox_config: Some(sandbox_config) }).await {
            Ok(r) => r.into_inner().container_id,
            Err(e) => {
                let msg = e.message().to_string();
                self.ctx.recorder.pod(pod, Some(&name), Ev::Warning, "Failed", format!("Error: {msg}"));
                self.waiting.insert(name.clone(), ("CreateContainerError".into(), msg));
                return;
            }
        };
        self.step(pod, "CreateContainer", t);
        self.ctx.recorder.pod(pod, Some(&name), Ev::Normal, "Created", format!("Created container: {name}"));
        let t = Instant::now();
        if let Err(e) = rt.start_container(api::StartContainerRequest { container_id: id.clone() }).await {
            let msg = e.message().to_string();
            self.ctx.recorder.pod(pod, Some(&name), Ev::Warning, "Failed", format!("Error: {msg}"));
            self.waiting.insert(name.clone(), ("RunContainerError".into(), msg));
            return;
        }
        self.step(pod, "StartContainer", t);
        self.waiting.remove(&name);
        self.ctx.recorder.pod(pod, Some(&name), Ev::Normal, "Started", format!("Started container {name}"));
        if let Some(h) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) && let Err(msg) = run_hook(&self.ctx, h, &id, &pod_ip, c, 30).await {
            self.ctx.recorder.pod(pod, Some(&name), Ev::Warning, "FailedPostStartHook", format!("PostStartHook failed: {msg}"));
            let grace = pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30);
            let _ = rt.stop_container(api::StopContainerRequest { container_id: id, timeout: grace }).await;
        }
    }

    /// Restarts a finished container unless it is in back-off (then CrashLoopBackOff).
    async fn restart(&mut self, pod: &Pod, c: &Container, history: &[api::ContainerStatus]) {
        let last = &history[0];
        let finished = Instant::now() - Duration::from_nanos((jiff::Timestamp::now().as_nanosecond() - last.finished_at as i128).clamp(0, u64::MAX as i128) as u64);
        if let Some(delay) = self.crash_backoff.waiting(&c.name, finished, Instant::now()) {
            let msg = format!("back-off {}s restarting failed container={} pod={}", delay.as_secs(), c.name, pod_ref(pod));
            if self.announced_backoff.insert(format!("crash/{}/{}", c.name, last.id)) {
                let (_, name, _) = rc::names(pod);
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                self.ctx.recorder.pod(pod, Some(&c.name), Ev::Warning, "BackOff", format!("Back-off restarting failed container {} in pod {name}_{ns}({})", c.name, pod.metadata.uid.clone().unwrap_or_default()));
            }
            self.waiting.insert(c.name.clone(), ("CrashLoopBackOff".into(), msg));
            return;
        }
        self.crash_backoff.next(&c.name, Instant::now());
        self.start_container(pod, c, attempt(last) + 1, history).await;
    }

    fn should_restart(policy: &str, exit_code: i32) -> bool {
        match policy {
            "Always" => true,
            "OnFailure" => exit_code != 0,
            _ => false,
        }
    }

    /// Runs due probes of a running container; returns (ready, started, next due).
    async fn probe(&mut self, pod: &Pod, c: &Container, cs: &api::ContainerStatus) -> (bool, bool, Duration) {
        let ip = self.sandbox.as_ref().map(|s| s.ip.clone()).unwrap_or_default();
        let started_at = Instant::now() - Duration::from_nanos((jiff::Timestamp::now().as_nanosecond() - cs.started_at as i128).clamp(0, u64::MAX as i128) as u64);
        let mut next = RESYNC;
        let verdict = |kind: ProbeKind, probe: &Option<Probe>| probe.clone().map(|p| (kind, p));
        let startup = verdict(ProbeKind::Startup, &c.startup_probe);
        let mut started = true;
        let mut ready = true;
        let mut list = Vec::new();
        if let Some((k, p)) = startup {
            let ok = self.probes.get(&(cs.id.clone(), k)).is_some_and(|t| t.ok);
            if !ok {
                started = false;
                list.push((k, p));
            }
        }
        if started {
            list.extend(verdict(ProbeKind::Liveness, &c.liveness_probe));
            list.extend(verdict(ProbeKind::Readiness, &c.readiness_probe));
        } else if c.readiness_probe.is_some() {
            ready = false;
        }
        for (kind, p) in list {
            let key = (cs.id.clone(), kind);
            let tally = self.probes.entry(key.clone()).or_insert_with(|| Tally::new(kind, &p, started_at));
            let now = Instant::now();
            if tally.due(now) && !self.killing.contains(&cs.id) {
                let result = probes::run(&self.ctx.cri, &p, &cs.id, &ip, c.ports.as_deref().unwrap_or_default()).await;
                let tally = self.probes.get_mut(&key).expect("tally");
                if let Err(msg) = &result {
                    self.ctx.recorder.pod(pod, Some(&c.name), Ev::Warning, "Unhealthy", format!("{} probe failed: {msg}", kind.word()));
                }
                let flipped = tally.record(&p, result.is_ok(), Instant::now());
                if flipped && !tally.ok && kind != ProbeKind::Readiness {
                    tally.reset_failures();
                    let why = if kind == ProbeKind::Liveness { "liveness" } else { "startup" };
                    self.ctx.recorder.pod(pod, Some(&c.name), Ev::Normal, "Killing", format!("Container {} failed {why} probe, will be restarted", c.name));
                    self.killing.insert(cs.id.clone());
                    let grace = p.termination_grace_period_seconds.or(pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds)).unwrap_or(30);
                    let mut rt = self.ctx.cri.runtime.clone();
                    let id = cs.id.clone();
                    tokio::spawn(async move {
                        let _ = rt.stop_container(api::StopContainerRequest { container_id: id, timeout: grace }).await;
                    });
                }
            }
            let tally = &self.probes[&key];
            next = next.min(tally.until(Instant::now()).max(Duration::from_millis(50)));
            match kind {
                ProbeKind::Readiness => ready = tally.ok,
                ProbeKind::Startup => started = tally.ok,
                ProbeKind::Liveness => {}
            }
        }
        (ready, started, next)
    }

    /// One sync; returns how long to wait before the next one.
    async fn sync(&mut self, pod: &Pod) -> Duration {
        if self.start_time.is_none() {
            self.start_time = Some(pod.status.as_ref().and_then(|s| s.start_time.clone()).unwrap_or_else(|| Time(jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap_or_default())));
        }
        if self.terminal {
            return Duration::from_secs(3600);
        }
        let mut next = RESYNC;
        let t = Instant::now();
        let sandbox = self.ensure_sandbox(pod).await;
        self.step(pod, "sandbox", t);
        if let Err(e) = sandbox {
            tracing::warn!("pod {}: {e}", pod_ref(pod));
            self.report(pod, Vec::new(), Vec::new()).await;
            return Duration::from_secs(2);
        }
        let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.clone()).unwrap_or_else(|| "Always".into());
        let (init, main) = spec_containers(pod);
        self.acted = false;
        let t = Instant::now();
        let before = self.containers().await;
        self.step(pod, "list containers", t);
        let history = |name: &str| before.get(name).cloned().unwrap_or_default();
        // Init containers, one at a time in order.
        let mut initialized = true;
        for c in &init {
            let h = history(&c.name);
            if c.restart_policy.as_deref() == Some("Always") {
                // A sidecar: started in order, then kept running beside the others.
                match h.first() {
                    Some(s) if is_running(s) => {
                        self.waiting.remove(&c.name);
                        continue;
                    }
                    Some(s) if is_exited(s) => {
                        self.restart(pod, c, &h).await;
                        continue;
                    }
                    Some(_) => {}
                    None => self.start_container(pod, c, 0, &[]).await,
                }
                initialized = false;
                break;
            }
            match h.first() {
                Some(s) if is_exited(s) && s.exit_code == 0 => {
                    self.waiting.remove(&c.name);
                    continue;
                }
                Some(s) if is_exited(s) => {
                    if policy != "Never" {
                        self.restart(pod, c, &h).await;
                    }
                }
                Some(_) => {}
                None => self.start_container(pod, c, 0, &[]).await,
            }
            initialized = false;
            break;
        }
        let mut readiness: HashMap<String, (bool, bool)> = HashMap::new();
        if initialized {
            for c in &main {
                let h = history(&c.name);
                match h.first() {
                    None => self.start_container(pod, c, 0, &[]).await,
                    Some(s) if is_exited(s) => {
                        self.killing.remove(&s.id);
                        if Self::should_restart(&policy, s.exit_code) {
                            self.restart(pod, c, &h).await;
                        } else {
                            self.waiting.remove(&c.name);
                        }
                    }
                    Some(s) if is_running(s) => {
                        self.waiting.remove(&c.name);
                        let (ready, started, due) = self.probe(pod, c, s).await;
                        readiness.insert(c.name.clone(), (ready, started));
                        next = next.min(due);
                    }
                    Some(_) => {}
                }
            }
        }
        // Refresh projected volumes (ConfigMap/Secret updates reach running pods).
        if self.volumes.is_some() {
            let _ = self.volumes(pod).await;
        }
        let running = if self.acted { self.containers().await } else { before.clone() };
        let view = |c: &Container, readiness: &HashMap<String, (bool, bool)>, waiting: &HashMap<String, (String, String)>| {
            let h = running.get(&c.name).cloned().unwrap_or_default();
            let (ready, started) = readiness.get(&c.name).copied().unwrap_or((c.readiness_probe.is_none(), c.startup_probe.is_none()));
            ContainerView {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                current: h.first().cloned(),
                previous: h.get(1).cloned(),
                waiting: waiting.get(&c.name).cloned(),
                ready,
                started,
                sidecar: c.restart_policy.as_deref() == Some("Always"),
            }
        };
        let init_views: Vec<ContainerView> = init.iter().map(|c| view(c, &readiness, &self.waiting)).collect();
        let main_views: Vec<ContainerView> = main.iter().map(|c| view(c, &readiness, &self.waiting)).collect();
        let phase = self.report(pod, init_views, main_views).await;
        if phase == "Succeeded" || phase == "Failed" {
            // containerd may report a container's exit before it has handled the OOM event
            // for it (reason "Error" instead of "OOMKilled"): look once more before the pod
            // is final and no longer synced.
            if !self.final_look {
                self.final_look = true;
                return Duration::from_secs(1);
            }
            // A finished pod keeps its containers (for logs) but gives back its sandbox.
            self.terminal = true;
            if let Some(sb) = self.sandbox.take() {
                let _ = self.ctx.cri.runtime.clone().stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: sb.id.clone() }).await;
                self.sandbox = Some(Sandbox { id: sb.id, ip: sb.ip });
                self.report_final(pod).await;
            }
        }
        next
    }

    async fn report_final(&mut self, pod: &Pod) {
        // Re-report with the sandbox down (PodReadyToStartContainers False).
        if let Some(mut s) = self.reported.clone() {
            if let Some(c) = s.conditions.as_mut().and_then(|c| c.iter_mut().find(|c| c.type_ == "PodReadyToStartContainers")) && c.status != "False" {
                c.status = "False".into();
                c.last_transition_time = Some(Time(jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap_or_default()));
            }
            self.patch(pod, s).await;
        }
    }

    /// Computes and writes the status when it changed; returns the phase.
    async fn report(&mut self, pod: &Pod, init: Vec<ContainerView>, containers: Vec<ContainerView>) -> String {
        let (init, containers) = if init.is_empty() && containers.is_empty() {
            let (i, m) = spec_containers(pod);
            let v = |c: &Container| ContainerView { name: c.name.clone(), image: c.image.clone().unwrap_or_default(), ready: false, started: false, ..Default::default() };
            (i.iter().map(v).collect(), m.iter().map(v).collect())
        } else {
            (init, containers)
        };
        let observed = Observed {
            host_ip: self.ctx.host_ip.clone(),
            pod_ip: self.sandbox.as_ref().map(|s| s.ip.clone()),
            sandbox_ready: self.sandbox.is_some() && !self.terminal,
            init,
            containers,
            start_time: self.start_time.clone().unwrap_or(Time(jiff::Timestamp::now())),
        };
        let old = self.reported.clone().or_else(|| pod.status.clone());
        let status = status::pod_status(pod, &observed, old.as_ref());
        let phase = status.phase.clone().unwrap_or_default();
        self.patch(pod, status).await;
        phase
    }

    async fn patch(&mut self, pod: &Pod, mut status: PodStatus) {
        if status.qos_class.is_none() {
            status.qos_class = pod.status.as_ref().and_then(|s| s.qos_class.clone());
        }
        let value = serde_json::to_value(&status).unwrap_or_default();
        if self.last_status.as_ref() == Some(&value) {
            return;
        }
        let (ns, name, _) = rc::names(pod);
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let t = Instant::now();
        let written = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"status": value}))).await;
        self.step(pod, &format!("status {} write", status.phase.as_deref().unwrap_or_default()), t);
        match written {
            Ok(_) => {
                self.last_status = Some(value);
                self.reported = Some(status);
            }
            Err(e) => tracing::warn!("cannot update status of pod {ns}/{name}: {e}"),
        }
    }

    /// Stops every container (preStop first, then SIGTERM, SIGKILL after the grace
    /// period), removes the sandboxes and the pod's volumes.
    pub(super) async fn terminate(&mut self, pod: &Pod, grace: i64) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(grace.max(0) as u64);
        let mut rt = self.ctx.cri.runtime.clone();
        let filter = api::ContainerFilter { label_selector: [(LABEL_POD_UID.to_string(), uid.clone())].into(), ..Default::default() };
        let list = rt.list_containers(api::ListContainersRequest { filter: Some(filter) }).await.map(|r| r.into_inner().containers).unwrap_or_default();
        let (init, main) = spec_containers(pod);
        let ip = self.sandbox.as_ref().map(|s| s.ip.clone()).unwrap_or_default();
        let mut stops = Vec::new();
        for c in list.into_iter().filter(|c| c.state == api::ContainerState::ContainerRunning as i32 || c.state == api::ContainerState::ContainerCreated as i32) {
            let name = c.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
            let spec = main.iter().chain(init.iter()).find(|s| s.name == name).cloned();
            let ctx = self.ctx.clone();
            let pod = pod.clone();
            let ip = ip.clone();
            stops.push(async move {
                ctx.recorder.pod(&pod, Some(&name), Ev::Normal, "Killing", format!("Stopping container {name}"));
                if let Some(spec) = &spec && let Some(h) = spec.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
                    let budget = deadline.saturating_duration_since(Instant::now()).as_secs() as i64;
                    if let Err(msg) = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), run_hook(&ctx, h, &c.id, &ip, spec, budget)).await.unwrap_or_else(|_| Err("timed out".into())) {
                        ctx.recorder.pod(&pod, Some(&name), Ev::Warning, "FailedPreStopHook", format!("PreStopHook failed: {msg}"));
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now()).as_secs() as i64;
                let _ = ctx.cri.runtime.clone().stop_container(api::StopContainerRequest { container_id: c.id.clone(), timeout: left }).await;
            });
        }
        futures::future::join_all(stops).await;
        for s in self.sandboxes(&uid).await {
            let _ = rt.stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: s.id.clone() }).await;
            let _ = rt.remove_pod_sandbox(api::RemovePodSandboxRequest { pod_sandbox_id: s.id.clone() }).await;
        }
        volumes::cleanup(&self.ctx.root, &uid);
        let _ = std::fs::remove_dir_all(rc::log_directory(&self.ctx.root, pod));
    }
}

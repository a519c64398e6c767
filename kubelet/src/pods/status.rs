//! The pod status the kubelet reports, computed from what the runtime shows: phase,
//! conditions and container statuses shaped as upstream `kubelet_pods.go`
//! (`generateAPIPodStatus`, `getPhase`, `convertToAPIContainerStatuses`) and
//! `pkg/kubelet/status/generate.go` shape them. Pure functions, unit-tested.

use crate::cri::api;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What the kubelet knows about one container of the spec.
#[derive(Clone, Debug, Default)]
pub struct ContainerView {
    /// Spec name.
    pub name: String,
    /// Spec image.
    pub image: String,
    /// Latest runtime container.
    pub current: Option<api::ContainerStatus>,
    /// The attempt before it (for `lastState`).
    pub previous: Option<api::ContainerStatus>,
    /// A waiting reason and message the kubelet decided (back-off, pull errors, config errors).
    pub waiting: Option<(String, String)>,
    /// Readiness probe verdict (true without a probe).
    pub ready: bool,
    /// Startup probe verdict (true without a probe).
    pub started: bool,
    /// A restartable init container (sidecar): initialized once running.
    pub sidecar: bool,
}

/// Everything the status is computed from.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The node's IP.
    pub host_ip: String,
    /// The sandbox IP, once known.
    pub pod_ip: Option<String>,
    /// Whether the sandbox is up with its network.
    pub sandbox_ready: bool,
    /// Init containers, spec order.
    pub init: Vec<ContainerView>,
    /// Containers, spec order.
    pub containers: Vec<ContainerView>,
    /// When the kubelet first saw the pod.
    pub start_time: Time,
}

fn ts(nanos: i64) -> Option<Time> {
    if nanos <= 0 {
        return None;
    }
    jiff::Timestamp::from_second(nanos / 1_000_000_000).ok().map(Time)
}

fn exited(c: &api::ContainerStatus) -> bool {
    c.state == api::ContainerState::ContainerExited as i32
}

fn running(c: &api::ContainerStatus) -> bool {
    c.state == api::ContainerState::ContainerRunning as i32
}

fn terminated(c: &api::ContainerStatus) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id: Some(format!("containerd://{}", c.id)),
            exit_code: c.exit_code,
            reason: Some(if c.reason.is_empty() { if c.exit_code == 0 { "Completed".into() } else { "Error".into() } } else { c.reason.clone() }),
            message: (!c.message.is_empty()).then(|| c.message.clone()),
            started_at: ts(c.started_at),
            finished_at: ts(c.finished_at),
            signal: None,
        }),
        ..Default::default()
    }
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState { waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message }), ..Default::default() }
}

/// One container's status.
fn container_status(v: &ContainerView, default_reason: &str, is_init: bool) -> ContainerStatus {
    let cur = v.current.as_ref();
    let (state, last) = match (&v.waiting, cur) {
        (Some((reason, msg)), Some(c)) if exited(c) => (waiting(reason, Some(msg.clone())), Some(terminated(c))),
        (Some((reason, msg)), _) => (waiting(reason, Some(msg.clone())), v.previous.as_ref().filter(|p| exited(p)).map(terminated)),
        (None, Some(c)) => {
            let state = if running(c) {
                ContainerState { running: Some(ContainerStateRunning { started_at: ts(c.started_at) }), ..Default::default() }
            } else if exited(c) {
                terminated(c)
            } else {
                waiting(default_reason, None)
            };
            (state, v.previous.as_ref().filter(|p| exited(p)).map(terminated))
        }
        (None, None) => (waiting(default_reason, None), None),
    };
    let is_running = state.running.is_some();
    let ready = if is_init && v.sidecar {
        is_running && v.ready
    } else if is_init {
        state.terminated.as_ref().is_some_and(|t| t.exit_code == 0)
    } else {
        is_running && v.ready && v.started
    };
    ContainerStatus {
        name: v.name.clone(),
        // The runtime's normalized name (`ironkube.local/busybox:latest`), like upstream.
        image: cur.and_then(|c| c.image.as_ref()).map(|i| i.image.clone()).filter(|i| !i.is_empty()).unwrap_or_else(|| v.image.clone()),
        image_id: cur.map(|c| c.image_ref.clone()).unwrap_or_default(),
        container_id: cur.map(|c| format!("containerd://{}", c.id)),
        restart_count: cur.map(|c| c.metadata.as_ref().map(|m| m.attempt as i32).unwrap_or(0)).unwrap_or(0),
        ready,
        started: Some(is_running && v.started),
        state: Some(state),
        last_state: Some(last.unwrap_or_default()),
        ..Default::default()
    }
}

/// Whether every init container has completed successfully.
pub fn initialized(o: &Observed) -> bool {
    o.init.iter().all(|v| {
        v.current.as_ref().is_some_and(|c| if v.sidecar { running(c) || c.started_at > 0 } else { exited(c) && c.exit_code == 0 })
    })
}

/// Upstream `getPhase`.
pub fn phase(restart_policy: &str, o: &Observed, statuses: &[ContainerStatus], init_statuses: &[ContainerStatus]) -> &'static str {
    if !initialized(o) {
        let failed_init = init_statuses.iter().any(|s| {
            let t = s.state.as_ref().and_then(|st| st.terminated.as_ref()).or(s.last_state.as_ref().and_then(|l| l.terminated.as_ref()));
            t.is_some_and(|t| t.exit_code != 0)
        });
        return if failed_init && restart_policy == "Never" { "Failed" } else { "Pending" };
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in statuses {
        let st = s.state.clone().unwrap_or_default();
        if st.running.is_some() {
            running += 1;
        } else if let Some(t) = st.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        match restart_policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        }
    } else {
        "Pending"
    }
}

fn cond(kind: &str, ok: bool, reason: Option<&str>, message: Option<String>, generation: Option<i64>, now: &Time) -> PodCondition {
    PodCondition {
        type_: kind.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: if ok { None } else { reason.map(str::to_string) },
        message: if ok { None } else { message },
        last_probe_time: None,
        last_transition_time: Some(now.clone()),
        observed_generation: generation,
    }
}

/// The full status; `old` supplies transition times of unchanged conditions.
pub fn pod_status(pod: &Pod, o: &Observed, old: Option<&PodStatus>) -> PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
    let is_initialized = initialized(o);
    let init_statuses: Vec<ContainerStatus> = o.init.iter().map(|v| container_status(v, "PodInitializing", true)).collect();
    let main_default = if is_initialized { "ContainerCreating" } else { "PodInitializing" };
    let statuses: Vec<ContainerStatus> = o.containers.iter().map(|v| container_status(v, main_default, false)).collect();
    let phase = phase(&policy, o, &statuses, &init_statuses);
    let completed = phase == "Succeeded" || phase == "Failed";
    let generation = pod.metadata.generation;
    let now = Time(jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap_or_default());
    let unready: Vec<&str> = statuses.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
    let incomplete: Vec<&str> = init_statuses.iter().zip(&o.init).filter(|(s, v)| !s.ready && !v.sidecar).map(|(s, _)| s.name.as_str()).collect();
    let all_ready = unready.is_empty();
    let ready_reason = if completed { "PodCompleted" } else { "ContainersNotReady" };
    let ready_msg = (!completed).then(|| format!("containers with unready status: [{}]", unready.join(" ")));
    let mut conditions = vec![
        cond("PodReadyToStartContainers", o.sandbox_ready || completed && o.pod_ip.is_some(), None, None, generation, &now),
        cond("Initialized", is_initialized, Some("ContainersNotInitialized"), Some(format!("containers with incomplete status: [{}]", incomplete.join(" "))), generation, &now),
        cond("Ready", all_ready && !completed, Some(ready_reason), ready_msg.clone(), generation, &now),
        cond("ContainersReady", all_ready && !completed, Some(ready_reason), ready_msg, generation, &now),
        cond("PodScheduled", true, None, None, generation, &now),
    ];
    if completed && is_initialized {
        conditions[1].reason = Some("PodCompleted".into());
    }
    // PodReadyToStartContainers goes False once a completed pod's sandbox is gone.
    if completed {
        conditions[0].status = if o.sandbox_ready { "True" } else { "False" }.into();
    }
    if let Some(old) = old.and_then(|s| s.conditions.as_ref()) {
        for c in &mut conditions {
            if let Some(prev) = old.iter().find(|p| p.type_ == c.type_ && p.status == c.status) {
                c.last_transition_time = prev.last_transition_time.clone();
            }
        }
    }
    let pod_ip = o.pod_ip.clone().filter(|ip| !ip.is_empty());
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        host_ip: Some(o.host_ip.clone()),
        host_ips: Some(vec![HostIP { ip: o.host_ip.clone() }]),
        pod_ip: pod_ip.clone(),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
        start_time: Some(o.start_time.clone()),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        qos_class: old.and_then(|s| s.qos_class.clone()),
        observed_generation: generation,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn pod(policy: &str) -> Pod {
        Pod {
            spec: Some(PodSpec { restart_policy: Some(policy.into()), containers: vec![Container { name: "a".into(), ..Default::default() }], ..Default::default() }),
            ..Default::default()
        }
    }

    fn cri(state: api::ContainerState, exit: i32, attempt: u32) -> api::ContainerStatus {
        api::ContainerStatus {
            id: format!("id{attempt}"),
            state: state as i32,
            exit_code: exit,
            started_at: 1_700_000_000_000_000_000,
            metadata: Some(api::ContainerMetadata { name: "a".into(), attempt }),
            ..Default::default()
        }
    }

    fn observed(v: ContainerView) -> Observed {
        Observed { host_ip: "10.0.0.1".into(), pod_ip: Some("10.244.0.2".into()), sandbox_ready: true, init: vec![], containers: vec![v], start_time: Time(jiff::Timestamp::now()) }
    }

    #[test]
    fn running_container_is_ready() {
        let v = ContainerView { name: "a".into(), current: Some(cri(api::ContainerState::ContainerRunning, 0, 0)), ready: true, started: true, ..Default::default() };
        let s = pod_status(&pod("Always"), &observed(v), None);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let ready = s.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(s.container_statuses.unwrap()[0].container_id.as_deref(), Some("containerd://id0"));
    }

    #[test]
    fn exit_codes_give_phases() {
        let ok = ContainerView { name: "a".into(), current: Some(cri(api::ContainerState::ContainerExited, 0, 0)), ..Default::default() };
        assert_eq!(pod_status(&pod("Never"), &observed(ok.clone()), None).phase.as_deref(), Some("Succeeded"));
        let bad = ContainerView { name: "a".into(), current: Some(cri(api::ContainerState::ContainerExited, 3, 0)), ..Default::default() };
        let s = pod_status(&pod("Never"), &observed(bad), None);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        let t = s.container_statuses.unwrap()[0].state.clone().unwrap().terminated.unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    }

    #[test]
    fn crash_loop_keeps_last_state() {
        let v = ContainerView {
            name: "a".into(),
            current: Some(cri(api::ContainerState::ContainerExited, 1, 2)),
            waiting: Some(("CrashLoopBackOff".into(), "back-off".into())),
            ..Default::default()
        };
        let s = pod_status(&pod("Always"), &observed(v), None);
        let c = &s.container_statuses.unwrap()[0];
        assert_eq!(c.restart_count, 2);
        assert_eq!(c.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("CrashLoopBackOff"));
        assert!(c.last_state.as_ref().unwrap().terminated.is_some());
        assert_eq!(s.phase.as_deref(), Some("Running"));
    }

    #[test]
    fn running_sidecar_counts_as_initialized() {
        let sidecar = ContainerView { name: "s".into(), current: Some(cri(api::ContainerState::ContainerRunning, 0, 0)), ready: true, started: true, sidecar: true, ..Default::default() };
        let main = ContainerView { name: "a".into(), current: Some(cri(api::ContainerState::ContainerRunning, 0, 0)), ready: true, started: true, ..Default::default() };
        let mut o = observed(main);
        o.init = vec![sidecar];
        let s = pod_status(&pod("Always"), &o, None);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let init = s.conditions.unwrap().into_iter().find(|c| c.type_ == "Initialized").unwrap();
        assert_eq!(init.status, "True");
        assert!(s.init_container_statuses.unwrap()[0].ready);
    }

    #[test]
    fn pending_init_blocks_main_containers() {
        let init = ContainerView { name: "i".into(), current: Some(cri(api::ContainerState::ContainerRunning, 0, 0)), ..Default::default() };
        let mut o = observed(ContainerView { name: "a".into(), ..Default::default() });
        o.init = vec![init];
        let s = pod_status(&pod("Always"), &o, None);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let w = s.container_statuses.unwrap()[0].state.clone().unwrap().waiting.unwrap();
        assert_eq!(w.reason.as_deref(), Some("PodInitializing"));
        let c = s.conditions.unwrap().into_iter().find(|c| c.type_ == "Initialized").unwrap();
        assert_eq!(c.message.as_deref(), Some("containers with incomplete status: [i]"));
    }
}

//! `spec.podFailurePolicy` (upstream `pkg/controller/job/pod_failure_policy.go`): the first
//! rule matching a failed pod's container exit codes or pod conditions decides whether the
//! failure fails the Job, is ignored or counts against `backoffLimit`.

use crate::cached_pod::{CachedContainerStatus, CachedPod};
use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern};

/// What a failed pod means for its Job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fail the Job with this message (reason `PodFailurePolicy`); the pod counts as failed.
    FailJob(String),
    /// Fail the pod's index (counts as failed; per-index back-off is not implemented).
    FailIndex,
    /// Do not count the failure.
    Ignore,
    /// Count the failure against `backoffLimit` (also when no rule matches).
    Count,
}

/// Applies `policy` to the failed `pod` (upstream `matchPodFailurePolicy`).
pub fn evaluate(policy: Option<&PodFailurePolicy>, pod: &CachedPod) -> Verdict {
    let Some(policy) = policy else { return Verdict::Count };
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched = if let Some(req) = &rule.on_exit_codes {
            matching_container(pod, req).map(|c| {
                let code = c.state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code).unwrap_or_default();
                format!("Container {} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}", c.name, rule.action)
            })
        } else if let Some(patterns) = &rule.on_pod_conditions {
            matching_condition(pod, patterns).map(|type_| format!("Pod {ns}/{name} has condition {type_} matching {} rule at index {index}", rule.action))
        } else {
            None
        };
        if let Some(message) = matched {
            return match rule.action.as_str() {
                "FailJob" => Verdict::FailJob(message),
                "FailIndex" => Verdict::FailIndex,
                "Ignore" => Verdict::Ignore,
                _ => Verdict::Count,
            };
        }
    }
    Verdict::Count
}

fn matching_container<'a>(pod: &'a CachedPod, req: &PodFailurePolicyOnExitCodesRequirement) -> Option<&'a CachedContainerStatus> {
    let status = pod.status.as_ref()?;
    let matches = |c: &&CachedContainerStatus| {
        req.container_name.as_ref().is_none_or(|n| *n == c.name)
            && c.state.as_ref().and_then(|s| s.terminated.as_ref()).is_some_and(|t| {
                t.exit_code != 0
                    && match req.operator.as_str() {
                        "In" => req.values.contains(&t.exit_code),
                        "NotIn" => !req.values.contains(&t.exit_code),
                        _ => false,
                    }
            })
    };
    status.container_statuses.iter().flatten().find(matches).or_else(|| status.init_container_statuses.iter().flatten().find(matches))
}

fn matching_condition<'a>(pod: &'a CachedPod, patterns: &[PodFailurePolicyOnPodConditionsPattern]) -> Option<&'a str> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    patterns.iter().find_map(|p| {
        let want = p.status.as_deref().unwrap_or("True");
        conditions.iter().find(|c| c.type_ == p.type_ && c.status == want).map(|c| c.type_.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::PodFailurePolicyRule;
    use crate::cached_pod::CachedPodStatus;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, PodCondition};

    fn failed_pod(exit_code: i32, condition: Option<&str>) -> CachedPod {
        let mut pod = CachedPod::default();
        pod.metadata.name = Some("p".into());
        pod.metadata.namespace = Some("ns".into());
        pod.status = Some(CachedPodStatus {
            phase: Some("Failed".into()),
            container_statuses: Some(vec![CachedContainerStatus {
                name: "main".into(),
                state: Some(ContainerState { terminated: Some(ContainerStateTerminated { exit_code, ..Default::default() }), ..Default::default() }),
                ..Default::default()
            }]),
            conditions: condition.map(|c| vec![PodCondition { type_: c.into(), status: "True".into(), ..Default::default() }]),
            ..Default::default()
        });
        pod
    }

    fn policy() -> PodFailurePolicy {
        PodFailurePolicy {
            rules: vec![
                PodFailurePolicyRule {
                    action: "FailJob".into(),
                    on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement { container_name: Some("main".into()), operator: "In".into(), values: vec![42] }),
                    on_pod_conditions: None,
                },
                PodFailurePolicyRule {
                    action: "Ignore".into(),
                    on_exit_codes: None,
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern { type_: "DisruptionTarget".into(), status: Some("True".into()) }]),
                },
                PodFailurePolicyRule {
                    action: "Count".into(),
                    on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement { container_name: None, operator: "NotIn".into(), values: vec![1] }),
                    on_pod_conditions: None,
                },
            ],
        }
    }

    #[test]
    fn first_matching_rule_decides() {
        let p = policy();
        assert_eq!(
            evaluate(Some(&p), &failed_pod(42, None)),
            Verdict::FailJob("Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0".into())
        );
        assert_eq!(evaluate(Some(&p), &failed_pod(1, Some("DisruptionTarget"))), Verdict::Ignore);
        assert_eq!(evaluate(Some(&p), &failed_pod(3, None)), Verdict::Count);
        assert_eq!(evaluate(Some(&p), &failed_pod(1, None)), Verdict::Count, "no rule matches");
        assert_eq!(evaluate(None, &failed_pod(42, None)), Verdict::Count);
    }
}

//! The arithmetic of a Deployment rollout, as pure functions over replica counts
//! (upstream `pkg/controller/deployment/util/deployment_util.go`, `rolling.go`, `sync.go`).
//! Each function returns the new `spec.replicas` per ReplicaSet; the controller applies them.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// What the arithmetic needs to know about one ReplicaSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rs {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// Creation time in seconds (older first when sorting), then the name to break ties.
    pub created: (i64, String),
    /// The `deployment.kubernetes.io/max-replicas` annotation.
    pub max_replicas_annotation: Option<i32>,
}

/// Resolves an int-or-percent against `total` (upstream `GetScaledValueFromIntOrPercent`).
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let percent: i64 = s.strip_suffix('%').and_then(|p| p.parse().ok()).ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let product = percent * i64::from(total);
            let v = if round_up { (product + 99).div_euclid(100) } else { product.div_euclid(100) };
            Ok(i32::try_from(v).unwrap_or(i32::MAX))
        }
    }
}

/// `(maxSurge, maxUnavailable)` for `replicas` (upstream `ResolveFenceposts`): surge rounds
/// up, unavailable rounds down, and both 0 becomes unavailable 1 so a rollout can progress.
pub fn resolve_fenceposts(max_surge: Option<&IntOrString>, max_unavailable: Option<&IntOrString>, replicas: i32) -> Result<(i32, i32), String> {
    let default = IntOrString::String("25%".into());
    let surge = scaled_value(max_surge.unwrap_or(&default), replicas, true)?;
    let unavailable = scaled_value(max_unavailable.unwrap_or(&default), replicas, false)?;
    Ok(if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) })
}

/// The new ReplicaSet's size in a rolling update step (upstream `NewRSNewReplicas`).
pub fn new_rs_new_replicas(replicas: i32, max_surge: i32, all_rs_replicas: i32, new_rs_replicas: i32) -> i32 {
    let max_total = replicas + max_surge;
    if all_rs_replicas >= max_total {
        return new_rs_replicas;
    }
    let scale_up = (max_total - all_rs_replicas).min(replicas - new_rs_replicas);
    new_rs_replicas + scale_up
}

/// Scale-down of old ReplicaSets in a rolling update step (upstream
/// `reconcileOldReplicaSets`): first unhealthy replicas (oldest ReplicaSets first), then
/// available ones while more than `replicas - maxUnavailable` stay available. `old` are the
/// active old ReplicaSets; returns their new sizes in the same order.
pub fn scale_down_old(replicas: i32, max_unavailable: i32, old: &[Rs], new: Option<&Rs>) -> Vec<i32> {
    let mut sizes: Vec<i32> = old.iter().map(|r| r.replicas).collect();
    let old_count: i32 = sizes.iter().sum();
    if old_count == 0 {
        return sizes;
    }
    let new_replicas = new.map_or(0, |n| n.replicas);
    let all_count = old_count + new_replicas;
    let min_available = replicas - max_unavailable;
    let new_unavailable = new.map_or(0, |n| n.replicas - n.available);
    let max_scaled_down = all_count - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return sizes;
    }
    let mut order: Vec<usize> = (0..old.len()).collect();
    order.sort_by(|&a, &b| old[a].created.cmp(&old[b].created));
    // 1. Unhealthy replicas of old ReplicaSets (upstream `cleanupUnhealthyReplicas`).
    let mut cleaned = 0;
    for &i in &order {
        if cleaned >= max_scaled_down {
            break;
        }
        if sizes[i] == 0 {
            continue;
        }
        let unhealthy = sizes[i] - old[i].available;
        if unhealthy <= 0 {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(unhealthy);
        sizes[i] -= down;
        cleaned += down;
    }
    // 2. Available replicas above the minimum (upstream `scaleDownOldReplicaSetsForRollingUpdate`).
    let available: i32 = old.iter().map(|r| r.available).sum::<i32>() + new.map_or(0, |n| n.available);
    if available <= min_available {
        return sizes;
    }
    let total = available - min_available;
    let mut scaled = 0;
    for &i in &order {
        if scaled >= total {
            break;
        }
        if sizes[i] == 0 {
            continue;
        }
        let down = sizes[i].min(total - scaled);
        sizes[i] -= down;
        scaled += down;
    }
    sizes
}

/// Proportional scaling of the active ReplicaSets when the Deployment is resized during a
/// rollout (upstream `scale` in `sync.go` for RollingUpdate): each gets a share of the
/// change in proportion to its size; leftovers go to the largest. `deployment_status_replicas`
/// stands in for a missing max-replicas annotation. Returns sizes in the order of `active`.
pub fn proportional(replicas: i32, max_surge: i32, deployment_status_replicas: i32, active: &[Rs]) -> Vec<i32> {
    let current: i32 = active.iter().map(|r| r.replicas).sum();
    let allowed = if replicas > 0 { replicas + max_surge } else { 0 };
    let to_add = allowed - current;
    let mut order: Vec<usize> = (0..active.len()).collect();
    // Larger first; ties: newer first when adding, older first when removing.
    order.sort_by(|&a, &b| {
        let size = active[b].replicas.cmp(&active[a].replicas);
        let age = active[a].created.cmp(&active[b].created);
        size.then(if to_add > 0 { age.reverse() } else { age })
    });
    let mut sizes: Vec<i32> = active.iter().map(|r| r.replicas).collect();
    if to_add == 0 {
        return sizes;
    }
    let mut added = 0;
    for &i in &order {
        let rs = &active[i];
        let proportion = if rs.replicas == 0 || to_add == added {
            0
        } else {
            let fraction = if replicas == 0 {
                -rs.replicas
            } else {
                let annotated = rs.max_replicas_annotation.unwrap_or(deployment_status_replicas);
                let target = f64::from(rs.replicas) * f64::from(replicas + max_surge) / f64::from(annotated.max(1));
                target.round() as i32 - rs.replicas
            };
            let allowed = to_add - added;
            if to_add > 0 { fraction.min(allowed) } else { fraction.max(allowed) }
        };
        sizes[i] += proportion;
        added += proportion;
    }
    if let Some(&first) = order.first() {
        sizes[first] = (sizes[first] + to_add - added).max(0);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(replicas: i32, available: i32, created: i64) -> Rs {
        Rs { replicas, available, created: (created, String::new()), max_replicas_annotation: None }
    }

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        assert_eq!(resolve_fenceposts(None, None, 4), Ok((1, 1)));
        assert_eq!(resolve_fenceposts(None, None, 10), Ok((3, 2)));
        assert_eq!(resolve_fenceposts(None, None, 1), Ok((1, 0)));
        assert_eq!(resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&pct("10%")), 5), Ok((0, 1)));
        assert_eq!(resolve_fenceposts(Some(&pct("50%")), Some(&IntOrString::Int(2)), 3), Ok((2, 2)));
        assert!(resolve_fenceposts(Some(&pct("x%")), None, 3).is_err());
    }

    /// `kubectl set image` on 4 unready replicas (25%/25%): old 3, new 1, never 2 and 2.
    #[test]
    fn first_step_of_a_rollout_with_unready_pods_keeps_the_availability_bound() {
        let (surge, unavailable) = resolve_fenceposts(None, None, 4).unwrap();
        let new = new_rs_new_replicas(4, surge, 4, 0);
        assert_eq!(new, 1);
        let old = scale_down_old(4, unavailable, &[rs(4, 0, 1)], Some(&rs(new, 0, 2)));
        assert_eq!(old, [3]);
        // Next step: the new set uses the surge room (4 + 1 = 5 pods), the old one stays at
        // 3 until new pods become available.
        assert_eq!(new_rs_new_replicas(4, surge, 3 + 1, 1), 2);
        assert_eq!(scale_down_old(4, unavailable, &[rs(3, 0, 1)], Some(&rs(2, 0, 2))), [3]);
        assert_eq!(new_rs_new_replicas(4, surge, 3 + 2, 2), 2);
    }

    #[test]
    fn rollout_with_ready_pods_walks_down_the_old_set() {
        // 4 available old pods: surge 1 new, then scale old down by the available surplus.
        assert_eq!(new_rs_new_replicas(4, 1, 4, 0), 1);
        assert_eq!(scale_down_old(4, 1, &[rs(4, 4, 1)], Some(&rs(1, 0, 2))), [3]);
        // New pod available: new grows to 2, old shrinks to 2.
        assert_eq!(new_rs_new_replicas(4, 1, 3 + 1, 1), 2);
        assert_eq!(scale_down_old(4, 1, &[rs(3, 3, 1)], Some(&rs(2, 1, 2))), [2]);
        // All new available: old goes to 0.
        assert_eq!(scale_down_old(4, 1, &[rs(1, 1, 1)], Some(&rs(4, 4, 2))), [0]);
    }

    #[test]
    fn unhealthy_old_replicas_go_first_and_oldest_first() {
        // replicas 10, maxUnavailable 2: two old sets, the older one unhealthy.
        let sizes = scale_down_old(10, 2, &[rs(5, 5, 2), rs(5, 2, 1)], Some(&rs(0, 0, 3)));
        // allCount 10, minAvailable 8, maxScaledDown 2: both from the unhealthy (older) set.
        assert_eq!(sizes, [5, 3]);
    }

    #[test]
    fn proportional_scaling_splits_by_size_and_gives_leftovers_to_the_largest() {
        // Upstream example: 10 replicas mid-rollout (new 3, old 8, surge 3 → 13 max... )
        // scaled to 15 with maxSurge 3: allowed 18, current 11 → add 7.
        let mut new = rs(3, 0, 2);
        let mut old = rs(8, 8, 1);
        new.max_replicas_annotation = Some(13);
        old.max_replicas_annotation = Some(13);
        let sizes = proportional(15, 3, 11, &[new, old]);
        assert_eq!(sizes.iter().sum::<i32>(), 18);
        assert_eq!(sizes, [4, 14]);
        // Scaling to 0 empties everything.
        assert_eq!(proportional(0, 3, 11, &[rs(3, 0, 2), rs(8, 8, 1)]), [0, 0]);
    }
}

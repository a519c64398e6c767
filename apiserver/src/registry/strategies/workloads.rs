//! Workload kinds: Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet,
//! Job, CronJob, ControllerRevision (upstream `pkg/registry/apps/*`, `pkg/registry/batch/*`).

use crate::registry::strategy::Strategy;

macro_rules! workload {
    ($ty:ident, $inst:ident, $status:expr, $generation:expr) => {
        #[doc = concat!(stringify!($ty), " strategy.")]
        pub struct $ty;
        #[doc = concat!("The ", stringify!($ty), " strategy instance.")]
        pub static $inst: $ty = $ty;
        impl Strategy for $ty {
            fn has_status(&self) -> bool {
                $status
            }
            fn tracks_generation(&self) -> bool {
                $generation
            }
        }
    };
}

workload!(Deployment, DEPLOYMENT, true, true);
workload!(ReplicaSet, REPLICA_SET, true, true);
workload!(ReplicationController, REPLICATION_CONTROLLER, true, true);
workload!(StatefulSet, STATEFUL_SET, true, true);
workload!(DaemonSet, DAEMON_SET, true, true);
workload!(Job, JOB, true, true);
workload!(CronJob, CRON_JOB, true, true);
workload!(ControllerRevision, CONTROLLER_REVISION, false, false);

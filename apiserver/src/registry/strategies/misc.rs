//! Event, Lease, HorizontalPodAutoscaler, Ingress, NetworkPolicy, PodDisruptionBudget,
//! ResourceQuota.

use crate::registry::strategy::Strategy;

macro_rules! simple {
    ($ty:ident, $inst:ident, $status:expr) => {
        #[doc = concat!(stringify!($ty), " strategy.")]
        pub struct $ty;
        #[doc = concat!("The ", stringify!($ty), " strategy instance.")]
        pub static $inst: $ty = $ty;
        impl Strategy for $ty {
            fn has_status(&self) -> bool {
                $status
            }
        }
    };
}

simple!(Event, EVENT, false);
simple!(Lease, LEASE, false);
simple!(Hpa, HPA, true);
simple!(Ingress, INGRESS, true);
simple!(NetworkPolicy, NETWORK_POLICY, false);
simple!(Pdb, PDB, true);
simple!(ResourceQuota, RESOURCE_QUOTA, true);

//! PersistentVolume controller (upstream `pkg/controller/volume/persistentvolume`, plus the
//! `pvcprotection`/`pvprotection` controllers and, for the default `standard` class, a
//! hostPath provisioner).
//!
//! - [`matching`]: which volume a claim binds to (pure).
//! - [`claims`]: the claim side (`syncClaim`): bind, provision, Pending/Bound/Lost.
//! - [`volumes`]: the volume side (`syncVolume`): Available/Bound/Released/Failed, reclaim.
//! - [`protection`]: removes `kubernetes.io/pvc-protection` once no pod uses a claim and
//!   `kubernetes.io/pv-protection` once a volume is not bound.
//! - [`provisioner`]: the `ironkube.io/hostpath` provisioner (directories on this machine).
//!
//! Binding follows upstream's order: the volume's `claimRef` first, then its `Bound`
//! phase, then the claim's `volumeName` (with `pv.kubernetes.io/bind-completed`), then the
//! claim's `Bound` status. Each step is one write; a failure is retried and the next sync
//! picks up where the last one stopped.

pub mod claims;
pub mod matching;
pub mod protection;
pub mod provisioner;
pub mod volumes;

pub use provisioner::HostPathProvisioner;

use crate::context::Context;
use crate::events::EventRecorder;
use crate::informers::SharedInformer;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use std::sync::Arc;
use std::time::Duration;

/// Upstream `--pvclaimbinder-sync-period`: every object is looked at again this often.
const RESYNC: Duration = Duration::from_secs(15);

/// What both sides of the controller share.
pub struct State {
    ctx: Arc<Context>,
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
    /// Events as upstream's `persistentvolume-controller`.
    recorder: EventRecorder,
    /// Events of the provisioner (upstream: the external provisioner's name).
    provisioner_recorder: EventRecorder,
}

impl State {
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims.get(&ObjectRef::new(name).within(namespace))
    }

    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.volumes.get(&ObjectRef::new(name))
    }

    fn class(&self, name: &str) -> Option<Arc<StorageClass>> {
        self.classes.get(&ObjectRef::new(name))
    }

    fn provisioner(&self) -> Option<&HostPathProvisioner> {
        self.ctx.config.hostpath_provisioner.as_ref()
    }
}

/// Runs both sides of the controller until their watches end.
pub async fn run(ctx: Arc<Context>) -> anyhow::Result<()> {
    let client = ctx.client.clone();
    let claims = SharedInformer::<PersistentVolumeClaim>::new(client.clone());
    let volumes = SharedInformer::with_api(Api::<PersistentVolume>::all(client.clone()));
    let classes = SharedInformer::with_api(Api::<StorageClass>::all(client.clone()));
    let state = Arc::new(State {
        recorder: ctx.recorder("persistentvolume-controller"),
        provisioner_recorder: ctx.recorder(provisioner::PROVISIONER),
        claims: claims.store(),
        volumes: volumes.store(),
        classes: classes.store(),
        ctx: ctx.clone(),
    });
    // A claim is looked at again whenever a volume or class changes (a new volume may fit
    // a pending claim) and whenever a pod using it goes away (protection).
    let claim_controller = Controller::for_shared_stream(claims.subscribe(), claims.store())
        .with_config(crate::workers::workers(crate::workers::ONE))
        .watches_shared_stream(ctx.pods.subscribe(), |pod| protection::claims_of(&pod))
        .reconcile_all_on(volumes.subscribe().map(|_| ()))
        .reconcile_all_on(classes.subscribe().map(|_| ()));
    let volume_controller = Controller::for_shared_stream(volumes.subscribe(), volumes.store())
        .with_config(crate::workers::workers(crate::workers::ONE))
        .watches_shared_stream(claims.subscribe(), |claim: Arc<PersistentVolumeClaim>| {
            claim.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|n| !n.is_empty()).map(|n| ObjectRef::new(&n))
        });
    let controllers = async {
        // Never decide on half-filled stores: a claim missing from an unsynced store would
        // look deleted and release its volume.
        let pods = ctx.pods.store();
        let ready = tokio::join!(state.claims.wait_until_ready(), state.volumes.wait_until_ready(), state.classes.wait_until_ready(), pods.wait_until_ready());
        if ready.0.is_err() || ready.1.is_err() || ready.2.is_err() || ready.3.is_err() {
            return;
        }
        tokio::join!(
            claim_controller.run(claims::sync, retry, state.clone()).for_each(|_| futures::future::ready(())),
            volume_controller.run(volumes::sync, retry, state.clone()).for_each(|_| futures::future::ready(())),
        );
    };
    tokio::select! {
        _ = controllers => {}
        _ = async { tokio::join!(claims.run(), volumes.run(), classes.run()) } => {}
    }
    Ok(())
}

fn retry<K>(_obj: Arc<K>, error: &crate::Error, _state: Arc<State>) -> Action {
    tracing::debug!("persistent volume sync failed, retrying: {error}");
    Action::requeue(Duration::from_secs(1))
}

/// RFC 3339 now, for `lastPhaseTransitionTime`.
fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())
}

//! The one table of served kinds. Adding a built-in kind is one row here plus, where it
//! needs one, a strategy in `strategies/`. Routes, discovery and OpenAPI all come from
//! this table.
//!
//! Group, version, kind, plural and scope come from the k8s-openapi type itself
//! (`k8s_openapi::Resource`), so they cannot drift from the upstream types.

use super::reviews;
use super::strategies;
use super::strategy::Strategy;
use k8s_openapi::api;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::LazyLock;

/// The standard verbs of a stored kind.
pub const CRUD: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
/// Verbs of a status subresource.
pub const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// A subresource advertised in discovery.
#[derive(Clone, Debug)]
pub struct Subresource {
    /// Name, e.g. `status`, `scale`, `log`.
    pub name: &'static str,
    /// Group of the kind it returns (`autoscaling` for scale), "" = the parent's group.
    pub group: &'static str,
    /// Version of the kind it returns, "" = the parent's version.
    pub version: &'static str,
    /// Kind it returns, "" = the parent kind.
    pub kind: &'static str,
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// Whether the server implements it today (others answer 501 with a Status).
    pub implemented: bool,
}

impl Subresource {
    const fn status() -> Self {
        Subresource { name: "status", group: "", version: "", kind: "", verbs: GET_PATCH_UPDATE, implemented: true }
    }
    const fn scale() -> Self {
        Subresource { name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: GET_PATCH_UPDATE, implemented: true }
    }
    const fn binding() -> Self {
        Subresource { name: "binding", group: "", version: "", kind: "Binding", verbs: &["create"], implemented: true }
    }

    const fn eviction() -> Self {
        Subresource { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: &["create"], implemented: true }
    }

    /// A subresource served by a connection to the pod's node (log, exec, ...).
    const fn connect(name: &'static str, kind: &'static str, verbs: &'static [&'static str]) -> Self {
        Subresource { name, group: "", version: "", kind, verbs, implemented: true }
    }
    const fn pending(name: &'static str, group: &'static str, version: &'static str, kind: &'static str, verbs: &'static [&'static str]) -> Self {
        Subresource { name, group, version, kind, verbs, implemented: false }
    }
}

/// Typed operations for one k8s-openapi type, erased so the registry stays non-generic.
pub trait Typed: Sync + Send {
    /// Decodes into the upstream type and encodes back: the canonical stored form.
    /// Fields the type does not know are dropped (the store reports them first).
    fn normalize(&self, value: Value) -> Result<Value, serde_json::Error>;
    /// The OpenAPI schema of the type, for `/openapi/v2` and `/openapi/v3`.
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}

struct TypedOf<T>(PhantomData<fn() -> T>);

impl<T> Typed for TypedOf<T>
where
    T: DeserializeOwned + Serialize + schemars::JsonSchema,
{
    fn normalize(&self, value: Value) -> Result<Value, serde_json::Error> {
        let typed: T = serde_json::from_value(value)?;
        serde_json::to_value(typed)
    }
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T>()
    }
}

/// Scope of a k8s-openapi resource type as a bool.
pub trait Scoped {
    /// True for namespaced kinds.
    const NAMESPACED: bool;
}
impl Scoped for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scoped for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// Everything the server knows about one served group/version/kind.
pub struct Kind {
    /// API group, "" for core.
    pub group: &'static str,
    /// Version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Kind of the list, e.g. `DeploymentList`.
    pub list_kind: String,
    /// Plural resource name, e.g. `deployments`.
    pub resource: &'static str,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Verbs on the main resource.
    pub verbs: &'static [&'static str],
    /// Subresources.
    pub subresources: Vec<Subresource>,
    /// The type's OpenAPI definition name, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub definition: String,
    /// Typed decode/encode and schema.
    pub typed: Box<dyn Typed>,
    /// Per-kind behaviour.
    pub strategy: &'static dyn Strategy,
    /// For create-only review kinds: computes the answer instead of storing anything.
    pub review: Option<super::reviews::Review>,
    /// For kinds stored as another version's resource: how to convert.
    pub conversion: Option<super::conversion::Conversion>,
    /// The legacy `bindings` resource: create binds a pod (like `pods/binding`) and
    /// stores nothing.
    pub binds_pods: bool,
}

impl Kind {
    /// `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
    /// The subresource called `name`, if any.
    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }
    /// Whether this kind's verbs include `verb`.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
    /// The resource whose storage keys hold this kind's objects.
    pub fn storage_resource(&self) -> &'static str {
        self.conversion.map_or(self.resource, |c| c.storage_resource)
    }
    /// The group-qualified resource, e.g. `deployments.apps` (for messages).
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() { self.resource.to_string() } else { format!("{}.{}", self.resource, self.group) }
    }
}

struct Row {
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    subresources: Vec<Subresource>,
    strategy: &'static dyn Strategy,
    review: Option<super::reviews::Review>,
    conversion: Option<super::conversion::Conversion>,
    binds_pods: bool,
}

fn row(short_names: &'static [&'static str], categories: &'static [&'static str], strategy: &'static dyn Strategy) -> Row {
    Row { short_names, categories, verbs: CRUD, subresources: Vec::new(), strategy, review: None, conversion: None, binds_pods: false }
}

impl Row {
    fn sub(mut self, s: Subresource) -> Self {
        self.subresources.push(s);
        self
    }
    fn verbs(mut self, verbs: &'static [&'static str]) -> Self {
        self.verbs = verbs;
        self
    }
    fn stored_as(mut self, conversion: super::conversion::Conversion) -> Self {
        self.conversion = Some(conversion);
        self
    }
    fn binds_pods(mut self) -> Self {
        self.verbs = &["create"];
        self.binds_pods = true;
        self
    }
    fn review(mut self, review: super::reviews::Review) -> Self {
        self.verbs = &["create"];
        self.review = Some(review);
        self
    }
}

fn kind<T>(r: Row) -> Kind
where
    T: Resource + DeserializeOwned + Serialize + schemars::JsonSchema + 'static,
    T::Scope: Scoped,
{
    Kind {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list_kind: format!("{}List", T::KIND),
        resource: T::URL_PATH_SEGMENT,
        singular: T::KIND.to_ascii_lowercase(),
        namespaced: <T::Scope as Scoped>::NAMESPACED,
        short_names: r.short_names,
        categories: r.categories,
        verbs: r.verbs,
        subresources: r.subresources,
        definition: <T as schemars::JsonSchema>::schema_name().into_owned(),
        typed: Box::new(TypedOf::<T>(PhantomData)),
        strategy: r.strategy,
        review: r.review,
        conversion: r.conversion,
        binds_pods: r.binds_pods,
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const EXEC_VERBS: &[&str] = &["create", "get"];
/// The `proxy` subresources' discovery verbs (upstream lists them though PATCH is not proxied).
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

/// Every served kind, in discovery order (upstream's group priority order).
pub static KINDS: LazyLock<Vec<Kind>> = LazyLock::new(|| {
    use strategies as s;
    use Subresource as Sub;
    vec![
        // core/v1
        kind::<api::core::v1::Binding>(row(NONE, NONE, &s::Plain).binds_pods()),
        // ComponentStatus is not served: listing it empty would claim no component exists.
        kind::<api::core::v1::ConfigMap>(row(&["cm"], NONE, &s::CONFIG_MAP)),
        kind::<api::core::v1::Endpoints>(row(&["ep"], NONE, &s::ENDPOINTS)),
        kind::<api::core::v1::Event>(row(&["ev"], NONE, &s::EVENT)),
        kind::<api::core::v1::LimitRange>(row(&["limits"], NONE, &s::LIMIT_RANGE)),
        kind::<api::core::v1::Namespace>(
            row(&["ns"], NONE, &s::NAMESPACE)
                .verbs(&["create", "delete", "get", "list", "patch", "update", "watch"])
                .sub(Sub { name: "finalize", group: "", version: "", kind: "", verbs: &["update"], implemented: true })
                .sub(Sub::status()),
        ),
        kind::<api::core::v1::Node>(
            row(&["no"], NONE, &s::NODE)
                .sub(Sub::connect("proxy", "NodeProxyOptions", PROXY_VERBS))
                .sub(Sub::status()),
        ),
        kind::<api::core::v1::PersistentVolumeClaim>(row(&["pvc"], NONE, &s::PVC).sub(Sub::status())),
        kind::<api::core::v1::PersistentVolume>(row(&["pv"], NONE, &s::PV).sub(Sub::status())),
        kind::<api::core::v1::Pod>(
            row(&["po"], ALL, &s::POD)
                .sub(Sub::connect("attach", "PodAttachOptions", EXEC_VERBS))
                .sub(Sub::binding())
                .sub(Sub::pending("ephemeralcontainers", "", "", "", GET_PATCH_UPDATE))
                .sub(Sub::eviction())
                .sub(Sub::connect("exec", "PodExecOptions", EXEC_VERBS))
                .sub(Sub::connect("log", "", &["get"]))
                .sub(Sub::connect("portforward", "PodPortForwardOptions", EXEC_VERBS))
                .sub(Sub::connect("proxy", "PodProxyOptions", PROXY_VERBS))
                .sub(Sub::pending("resize", "", "", "", GET_PATCH_UPDATE))
                .sub(Sub::status()),
        ),
        kind::<api::core::v1::PodTemplate>(row(NONE, NONE, &s::POD_TEMPLATE)),
        kind::<api::core::v1::ReplicationController>(row(&["rc"], ALL, &s::REPLICATION_CONTROLLER).sub(Sub::scale()).sub(Sub::status())),
        kind::<api::core::v1::ResourceQuota>(row(&["quota"], NONE, &s::RESOURCE_QUOTA).sub(Sub::status())),
        kind::<api::core::v1::Secret>(row(NONE, NONE, &s::SECRET)),
        kind::<api::core::v1::ServiceAccount>(
            row(&["sa"], NONE, &s::SERVICE_ACCOUNT)
                .sub(Sub { name: "token", group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", verbs: &["create"], implemented: true }),
        ),
        kind::<api::core::v1::Service>(
            row(&["svc"], ALL, &s::SERVICE)
                .sub(Sub::connect("proxy", "ServiceProxyOptions", PROXY_VERBS))
                .sub(Sub::status()),
        ),
        // apps/v1
        kind::<api::apps::v1::ControllerRevision>(row(NONE, NONE, &s::CONTROLLER_REVISION)),
        kind::<api::apps::v1::DaemonSet>(row(&["ds"], ALL, &s::DAEMON_SET).sub(Sub::status())),
        kind::<api::apps::v1::Deployment>(row(&["deploy"], ALL, &s::DEPLOYMENT).sub(Sub::scale()).sub(Sub::status())),
        kind::<api::apps::v1::ReplicaSet>(row(&["rs"], ALL, &s::REPLICA_SET).sub(Sub::scale()).sub(Sub::status())),
        kind::<api::apps::v1::StatefulSet>(row(&["sts"], ALL, &s::STATEFUL_SET).sub(Sub::scale()).sub(Sub::status())),
        // events.k8s.io/v1 (stored as core Events)
        kind::<api::events::v1::Event>(row(&["ev"], NONE, &s::Plain).stored_as(super::conversion::EVENTS_V1)),
        // authentication.k8s.io/v1, authorization.k8s.io/v1 (computed, never stored)
        kind::<api::authentication::v1::SelfSubjectReview>(row(NONE, NONE, &s::Plain).review(reviews::self_subject)),
        kind::<api::authorization::v1::LocalSubjectAccessReview>(row(NONE, NONE, &s::Plain).review(reviews::subject_access)),
        kind::<api::authorization::v1::SelfSubjectAccessReview>(row(NONE, NONE, &s::Plain).review(reviews::self_subject_access)),
        kind::<api::authorization::v1::SelfSubjectRulesReview>(row(NONE, NONE, &s::Plain).review(reviews::self_subject_rules)),
        kind::<api::authorization::v1::SubjectAccessReview>(row(NONE, NONE, &s::Plain).review(reviews::subject_access)),
        // autoscaling/v2 (stored) and v1 (converted)
        kind::<api::autoscaling::v2::HorizontalPodAutoscaler>(row(&["hpa"], ALL, &s::HPA).sub(Sub::status())),
        kind::<api::autoscaling::v1::HorizontalPodAutoscaler>(row(&["hpa"], ALL, &s::HPA_V1).sub(Sub::status()).stored_as(super::conversion::HPA_V1)),
        // batch/v1
        kind::<api::batch::v1::CronJob>(row(&["cj"], ALL, &s::CRON_JOB).sub(Sub::status())),
        kind::<api::batch::v1::Job>(row(NONE, ALL, &s::JOB).sub(Sub::status())),
        // networking.k8s.io/v1
        kind::<api::networking::v1::IngressClass>(row(NONE, NONE, &s::INGRESS_CLASS)),
        kind::<api::networking::v1::Ingress>(row(&["ing"], NONE, &s::INGRESS).sub(Sub::status())),
        kind::<api::networking::v1::IPAddress>(row(&["ip"], NONE, &s::IP_ADDRESS)),
        kind::<api::networking::v1::NetworkPolicy>(row(&["netpol"], NONE, &s::NETWORK_POLICY)),
        kind::<api::networking::v1::ServiceCIDR>(row(NONE, NONE, &s::SERVICE_CIDR).sub(Sub::status())),
        // policy/v1
        kind::<api::policy::v1::PodDisruptionBudget>(row(&["pdb"], NONE, &s::PDB).sub(Sub::status())),
        // rbac.authorization.k8s.io/v1
        kind::<api::rbac::v1::ClusterRoleBinding>(row(NONE, NONE, &s::ROLE_BINDING)),
        kind::<api::rbac::v1::ClusterRole>(row(NONE, NONE, &s::ROLE)),
        kind::<api::rbac::v1::RoleBinding>(row(NONE, NONE, &s::ROLE_BINDING)),
        kind::<api::rbac::v1::Role>(row(NONE, NONE, &s::ROLE)),
        // storage.k8s.io/v1
        kind::<api::storage::v1::CSIDriver>(row(NONE, NONE, &s::CSI_DRIVER)),
        kind::<api::storage::v1::CSINode>(row(NONE, NONE, &s::CSI_NODE)),
        kind::<api::storage::v1::CSIStorageCapacity>(row(NONE, NONE, &s::CSI_STORAGE_CAPACITY)),
        kind::<api::storage::v1::StorageClass>(row(&["sc"], NONE, &s::STORAGE_CLASS)),
        kind::<api::storage::v1::VolumeAttachment>(row(NONE, NONE, &s::VOLUME_ATTACHMENT).sub(Sub::status())),
        kind::<api::storage::v1::VolumeAttributesClass>(row(&["vac"], NONE, &s::VOLUME_ATTRIBUTES_CLASS)),
        // scheduling.k8s.io/v1
        kind::<api::scheduling::v1::PriorityClass>(row(&["pc"], NONE, &s::PRIORITY_CLASS)),
        // coordination.k8s.io/v1
        kind::<api::coordination::v1::Lease>(row(NONE, NONE, &s::LEASE)),
        // node.k8s.io/v1
        kind::<api::node::v1::RuntimeClass>(row(NONE, NONE, &s::RUNTIME_CLASS)),
        // discovery.k8s.io/v1
        kind::<api::discovery::v1::EndpointSlice>(row(NONE, NONE, &s::ENDPOINT_SLICE)),
    ]
});

/// Finds a kind by group, version and plural resource name.
pub fn find(group: &str, version: &str, resource: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.group == group && k.version == version && k.resource == resource)
}

/// Finds a kind by group, version and kind.
pub fn find_kind(group: &str, version: &str, kind: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.group == group && k.version == version && k.kind == kind)
}

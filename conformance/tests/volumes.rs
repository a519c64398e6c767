//! Persistent volumes like kind and minikube: static PersistentVolumes bind to claims,
//! the default StorageClass `standard` provisions hostPath volumes, reclaim policies and
//! in-use protection apply, and pods keep their data across restarts. Stock kubectl only.
//!
//! The first tests run without a kubelet (`ironkube up --no-kubelet`); the last ones need
//! root and containerd and skip (with a message) elsewhere.

use ironkube_conformance::{Cluster, assert_eventually};

fn get(c: &Cluster, what: &str, path: &str) -> String {
    String::from_utf8_lossy(&c.kubectl(&["get", what, "-o", &format!("jsonpath={{{path}}}")]).stdout).into_owned()
}

fn pv(name: &str, size: &str, class: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: {name}\n  labels: {{size: {size}}}\nspec:\n  capacity: {{storage: {size}}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: {class}\n  hostPath: {{path: /tmp/ironkube-pv-test/{name}}}\n{extra}"
    )
}

fn pvc(name: &str, size: &str, class: Option<&str>, extra: &str) -> String {
    let class = class.map(|c| format!("  storageClassName: \"{c}\"\n")).unwrap_or_default();
    format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: {size}}}}}\n{class}{extra}")
}

fn events(c: &Cluster, name: &str) -> String {
    c.ok(&["get", "events", "--field-selector", &format!("involvedObject.name={name}"), "-o", "jsonpath={range .items[*]}{.type} {.reason}: {.message}{\"\\n\"}{end}"])
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn static_volumes_bind_to_the_smallest_fit_and_retain_releases() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &format!("{}---\n{}", pv("pv-small", "1Gi", "manual", ""), pv("pv-big", "5Gi", "manual", "")));
    assert_eventually!(get(&c, "pv/pv-small", ".status.phase") == "Available", "pv-small never became Available");
    c.ok_with_input(&["apply", "-f", "-"], &pvc("claim", "500Mi", Some("manual"), ""));
    assert_eventually!(get(&c, "pvc/claim", ".status.phase") == "Bound", "claim never bound: {}", events(&c, "claim"));
    assert_eventually!(get(&c, "pv/pv-small", ".status.phase") == "Bound", "pv-small never bound");
    assert_eq!(get(&c, "pvc/claim", ".spec.volumeName"), "pv-small");
    assert_eq!(get(&c, "pv/pv-big", ".status.phase"), "Available");
    assert_eq!(get(&c, "pvc/claim", ".status.capacity.storage"), "1Gi");
    assert_eq!(get(&c, "pvc/claim", ".status.accessModes[0]"), "ReadWriteOnce");
    assert_eq!(get(&c, "pvc/claim", ".metadata.annotations.pv\\.kubernetes\\.io/bind-completed"), "yes");
    assert_eq!(get(&c, "pvc/claim", ".metadata.annotations.pv\\.kubernetes\\.io/bound-by-controller"), "yes");
    assert_eq!(get(&c, "pvc/claim", ".metadata.finalizers[0]"), "kubernetes.io/pvc-protection");
    assert_eq!(get(&c, "pv/pv-small", ".metadata.finalizers[0]"), "kubernetes.io/pv-protection");
    assert_eq!(get(&c, "pv/pv-small", ".spec.claimRef.uid"), get(&c, "pvc/claim", ".metadata.uid"));

    // kubectl's columns, as upstream prints them.
    let pvs = c.ok(&["get", "pv"]);
    let mut lines = pvs.lines();
    assert_eq!(words(lines.next().unwrap()), words("NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE"));
    let small = pvs.lines().find(|l| l.starts_with("pv-small")).expect("pv-small listed");
    assert_eq!(words(small)[..8], words("pv-small 1Gi RWO Retain Bound default/claim manual <unset>")[..], "{pvs}");
    let claims = c.ok(&["get", "pvc"]);
    assert_eq!(words(claims.lines().next().unwrap()), words("NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE"));
    assert_eq!(words(claims.lines().nth(1).unwrap())[..7], words("claim Bound pv-small 1Gi RWO manual <unset>")[..], "{claims}");

    // Retain: the claim goes (no pod uses it), the volume stays Released with its data.
    c.ok(&["delete", "pvc", "claim", "--wait=false"]);
    assert_eventually!(!c.kubectl(&["get", "pvc", "claim"]).status.success(), "claim never went away (pvc-protection kept?)");
    assert_eventually!(get(&c, "pv/pv-small", ".status.phase") == "Released", "pv-small not Released");
    assert!(c.ok(&["get", "pv", "pv-small"]).contains("Released"));
    // A new claim does not take a Released volume.
    c.ok_with_input(&["apply", "-f", "-"], &pvc("again", "500Mi", Some("manual"), ""));
    assert_eventually!(get(&c, "pvc/again", ".spec.volumeName") == "pv-big", "the new claim should take pv-big");

    // A deleted bound volume waits for its claim (pv-protection), then goes.
    c.ok(&["delete", "pv", "pv-big", "--wait=false"]);
    assert_eq!(get(&c, "pv/pv-big", ".status.phase"), "Bound");
    assert!(c.ok(&["get", "pv", "pv-big"]).contains("Terminating"));
    c.ok(&["delete", "pvc", "again"]);
    assert_eventually!(!c.kubectl(&["get", "pv", "pv-big"]).status.success(), "pv-big never went away");
}

#[test]
fn claims_that_fit_nothing_stay_pending_with_the_reason() {
    let c = Cluster::start();
    c.ok_with_input(&["apply", "-f", "-"], &pv("gold", "1Gi", "manual", ""));
    // No class at all: upstream's FailedBinding.
    c.ok_with_input(&["apply", "-f", "-"], &pvc("classless", "1Gi", Some(""), ""));
    assert_eventually!(
        events(&c, "classless").contains("Normal FailedBinding: no persistent volumes available for this claim and no storage class is set"),
        "no FailedBinding event: {}",
        events(&c, "classless")
    );
    assert_eq!(get(&c, "pvc/classless", ".status.phase"), "Pending");
    // A selector no volume matches, and a class that does not exist.
    c.ok_with_input(&["apply", "-f", "-"], &pvc("picky", "1Gi", Some("manual"), "  selector: {matchLabels: {size: 2Gi}}\n"));
    assert_eventually!(
        events(&c, "picky").contains("Warning ProvisioningFailed: storageclass.storage.k8s.io \"manual\" not found"),
        "no ProvisioningFailed event: {}",
        events(&c, "picky")
    );
    // Too big for the only volume.
    c.ok_with_input(&["apply", "-f", "-"], &pvc("greedy", "2Gi", Some("manual"), ""));
    assert_eventually!(events(&c, "greedy").contains("ProvisioningFailed"), "no event for greedy");
    for claim in ["classless", "picky", "greedy"] {
        assert_eq!(get(&c, &format!("pvc/{claim}"), ".status.phase"), "Pending", "{claim}");
    }
    assert_eq!(get(&c, "pv/gold", ".status.phase"), "Available");
    assert!(c.ok(&["get", "pvc", "picky"]).contains("Pending"));
}

#[test]
fn pre_bound_claims_and_volumes_bind_to_each_other() {
    let c = Cluster::start();
    // The claim names its volume (even a bigger one than the smallest fit).
    c.ok_with_input(&["apply", "-f", "-"], &format!("{}---\n{}", pv("small", "1Gi", "manual", ""), pv("named", "3Gi", "manual", "")));
    c.ok_with_input(&["apply", "-f", "-"], &pvc("wants-named", "1Gi", Some("manual"), "  volumeName: named\n"));
    assert_eventually!(get(&c, "pvc/wants-named", ".status.phase") == "Bound", "wants-named never bound: {}", events(&c, "wants-named"));
    assert_eq!(get(&c, "pvc/wants-named", ".spec.volumeName"), "named");
    assert_eq!(get(&c, "pv/named", ".spec.claimRef.name"), "wants-named");
    // Set by the user: not bound-by-controller on the claim.
    assert_eq!(get(&c, "pvc/wants-named", ".metadata.annotations.pv\\.kubernetes\\.io/bound-by-controller"), "");
    // The volume names its claim (claimRef without uid) before the claim exists.
    let reserved = pv("reserved", "2Gi", "manual", "  claimRef: {namespace: default, name: later}\n");
    c.ok_with_input(&["apply", "-f", "-"], &reserved);
    assert_eventually!(get(&c, "pv/reserved", ".status.phase") == "Available", "reserved never became Available");
    c.ok_with_input(&["apply", "-f", "-"], &pvc("later", "1Gi", Some("manual"), ""));
    assert_eventually!(get(&c, "pvc/later", ".spec.volumeName") == "reserved", "later did not take its reserved volume");
    assert_eventually!(get(&c, "pv/reserved", ".spec.claimRef.uid") == get(&c, "pvc/later", ".metadata.uid"), "claimRef uid not set");
    assert_eq!(get(&c, "pv/small", ".status.phase"), "Available");
    // A named volume that does not fit: VolumeMismatch.
    c.ok_with_input(&["apply", "-f", "-"], &pvc("too-big", "5Gi", Some("manual"), "  volumeName: small\n"));
    assert_eventually!(
        events(&c, "too-big").contains("Warning VolumeMismatch: Cannot bind to requested volume \"small\": requested PV is too small"),
        "no VolumeMismatch: {}",
        events(&c, "too-big")
    );
}

#[test]
fn the_default_class_provisions_hostpath_volumes_and_deletes_them() {
    let c = Cluster::start();
    let classes = c.ok(&["get", "storageclass"]);
    assert_eq!(words(classes.lines().next().unwrap()), words("NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE"));
    assert_eq!(words(classes.lines().nth(1).unwrap())[..6], words("standard (default) ironkube.io/hostpath Delete Immediate false")[..], "{classes}");
    c.ok_with_input(&["apply", "-f", "-"], &pvc("data", "64Mi", None, ""));
    assert_eq!(get(&c, "pvc/data", ".spec.storageClassName"), "standard", "DefaultStorageClass admission");
    assert_eventually!(get(&c, "pvc/data", ".status.phase") == "Bound", "data never bound: {}", events(&c, "data"));
    let uid = get(&c, "pvc/data", ".metadata.uid");
    let volume = get(&c, "pvc/data", ".spec.volumeName");
    assert_eq!(volume, format!("pvc-{uid}"));
    let path = get(&c, &format!("pv/{volume}"), ".spec.hostPath.path");
    assert_eq!(std::path::PathBuf::from(&path), c.dir.path().join("volumes").join(format!("default-data-{uid}")));
    assert!(std::path::Path::new(&path).is_dir(), "{path} was not created");
    assert_eq!(get(&c, &format!("pv/{volume}"), ".spec.persistentVolumeReclaimPolicy"), "Delete");
    assert_eq!(get(&c, &format!("pv/{volume}"), ".metadata.annotations.pv\\.kubernetes\\.io/provisioned-by"), "ironkube.io/hostpath");
    assert_eq!(get(&c, "pvc/data", ".metadata.annotations.volume\\.kubernetes\\.io/storage-provisioner"), "ironkube.io/hostpath");
    assert!(!get(&c, &format!("pv/{volume}"), ".spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]").is_empty());
    assert_eventually!(events(&c, "data").contains(&format!("Normal ProvisioningSucceeded: Successfully provisioned volume {volume}")), "{}", events(&c, "data"));
    // An explicit "" opts out of the default class.
    c.ok_with_input(&["apply", "-f", "-"], &pvc("none", "64Mi", Some(""), ""));
    assert_eq!(get(&c, "pvc/none", ".spec.storageClassName"), "");

    // Delete: the claim takes the volume and its directory with it.
    std::fs::write(std::path::Path::new(&path).join("file"), b"x").unwrap();
    c.ok(&["delete", "pvc", "data"]);
    assert_eventually!(!c.kubectl(&["get", "pv", &volume]).status.success(), "{volume} was not deleted");
    assert!(!std::path::Path::new(&path).exists(), "{path} was not removed");
}

fn fake_node(c: &Cluster, name: &str) {
    let node = format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{kubernetes.io/hostname: {name}}}\nstatus:\n  capacity: {{cpu: '4', memory: 8Gi, pods: '110'}}\n  allocatable: {{cpu: '4', memory: 8Gi, pods: '110'}}\n  conditions: [{{type: Ready, status: 'True', reason: KubeletReady, message: fake}}]\n"
    );
    c.ok_with_input(&["apply", "-f", "-"], &node);
}

fn wffc_class(name: &str, provisioner: &str) -> String {
    format!("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {name}\nprovisioner: {provisioner}\nvolumeBindingMode: WaitForFirstConsumer\n")
}

fn pod_using(name: &str, claim: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers: [{{name: c, image: ironkube.local/busybox}}]\n  volumes: [{{name: d, persistentVolumeClaim: {{claimName: {claim}}}}}]\n"
    )
}

/// `WaitForFirstConsumer` claims wait for a pod; the scheduler then picks the node and
/// either pre-binds an available volume there or asks the provisioner for one there.
#[test]
fn kubelet_less_wait_for_first_consumer_claims_follow_their_pod() {
    let c = Cluster::start_with(&["--hostpath-provisioner-node", "n2"]);
    fake_node(&c, "n2");
    // Provisioned: the claim names the pod's node, the provisioner makes the volume there.
    c.ok_with_input(&["apply", "-f", "-"], &wffc_class("local-path", "ironkube.io/hostpath"));
    c.ok_with_input(&["apply", "-f", "-"], &pvc("made", "64Mi", Some("local-path"), ""));
    assert_eventually!(events(&c, "made").contains("Normal WaitForFirstConsumer: waiting for first consumer to be created before binding"), "{}", events(&c, "made"));
    assert_eq!(get(&c, "pvc/made", ".status.phase"), "Pending");
    c.ok_with_input(&["apply", "-f", "-"], &pod_using("p1", "made"));
    assert_eventually!(get(&c, "pod/p1", ".spec.nodeName") == "n2", "p1 not scheduled");
    assert_eq!(get(&c, "pvc/made", ".metadata.annotations.volume\\.kubernetes\\.io/selected-node"), "n2");
    assert_eventually!(get(&c, "pvc/made", ".status.phase") == "Bound", "made never bound: {}", events(&c, "made"));

    // Static: only n1 has a volume of the class, so the pod goes there and gets it.
    fake_node(&c, "n1");
    c.ok_with_input(&["apply", "-f", "-"], &wffc_class("local", "kubernetes.io/no-provisioner"));
    let on_n1 = "  nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [n1]}]}]}}\n";
    c.ok_with_input(&["apply", "-f", "-"], &pv("local-n1", "1Gi", "local", on_n1));
    c.ok_with_input(&["apply", "-f", "-"], &pvc("disk", "512Mi", Some("local"), ""));
    assert_eventually!(events(&c, "disk").contains("WaitForFirstConsumer"), "{}", events(&c, "disk"));
    assert_eq!(get(&c, "pv/local-n1", ".status.phase"), "Available", "a delayed claim must not take a volume before its pod is placed");
    c.ok_with_input(&["apply", "-f", "-"], &pod_using("p2", "disk"));
    assert_eventually!(get(&c, "pod/p2", ".spec.nodeName") == "n1", "p2 not placed with its volume: {}", get(&c, "pod/p2", ".status.conditions"));
    assert_eventually!(get(&c, "pvc/disk", ".spec.volumeName") == "local-n1" && get(&c, "pvc/disk", ".status.phase") == "Bound", "disk never bound: {}", events(&c, "disk"));

    // No volume and no provisioner anywhere: upstream's message.
    c.ok_with_input(&["apply", "-f", "-"], &pvc("none", "1Gi", Some("local"), ""));
    c.ok_with_input(&["apply", "-f", "-"], &pod_using("p3", "none"));
    assert_eventually!(
        get(&c, "pod/p3", ".status.conditions[0].message").contains("2 node(s) didn't find available persistent volumes to bind"),
        "{}",
        get(&c, "pod/p3", ".status.conditions")
    );
}

// ----- with a kubelet -----

fn pod_yaml(name: &str, claim: &str, command: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: ironkube.local/busybox\n    command: [sh, -c, '{command}']\n    volumeMounts: [{{name: data, mountPath: /data}}]\n  volumes:\n  - name: data\n    persistentVolumeClaim: {{claimName: {claim}}}\n"
    )
}

/// A pod writes through the claim, goes away, and a second pod reads the file back.
fn data_survives_pods(c: &Cluster, claim: &str) {
    let writer = format!("{claim}-writer");
    let reader = format!("{claim}-reader");
    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml(&writer, claim, "echo kept-by-the-volume > /data/note"));
    assert_eventually!(get(c, &format!("pod/{writer}"), ".status.phase") == "Succeeded", "{writer}: {}", c.ok(&["describe", "pod", &writer]));
    c.ok(&["delete", "pod", &writer]);
    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml(&reader, claim, "cat /data/note"));
    assert_eventually!(get(c, &format!("pod/{reader}"), ".status.phase") == "Succeeded", "{reader}: {}", c.ok(&["describe", "pod", &reader]));
    assert_eq!(c.ok(&["logs", &reader]).trim(), "kept-by-the-volume");
}

#[test]
fn pods_keep_data_on_a_static_hostpath_volume() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let dir = c.dir.path().join("static-volume");
    let volume = format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: static}}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: manual\n  hostPath: {{path: {}, type: DirectoryOrCreate}}\n",
        dir.display()
    );
    c.ok_with_input(&["apply", "-f", "-"], &volume);
    c.ok_with_input(&["apply", "-f", "-"], &pvc("static-claim", "1Gi", Some("manual"), ""));
    assert_eventually!(get(&c, "pvc/static-claim", ".status.phase") == "Bound", "static-claim never bound");
    data_survives_pods(&c, "static-claim");
    assert_eq!(std::fs::read_to_string(dir.join("note")).unwrap().trim(), "kept-by-the-volume");
}

#[test]
fn pods_keep_data_on_a_provisioned_volume_and_wait_for_claims() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    // A pod whose claim does not exist is not scheduled (VolumeBinding).
    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml("early", "later", "cat /data/note"));
    assert_eventually!(
        get(&c, "pod/early", ".status.conditions[?(@.type==\"PodScheduled\")].message").contains("persistentvolumeclaim \"later\" not found"),
        "early: {}",
        c.ok(&["describe", "pod", "early"])
    );
    c.ok_with_input(&["apply", "-f", "-"], &pvc("dynamic", "64Mi", None, ""));
    data_survives_pods(&c, "dynamic");
    // The claim is protected while a pod uses it.
    c.ok_with_input(&["apply", "-f", "-"], &pod_yaml("holder", "dynamic", "sleep 3600"));
    assert_eventually!(get(&c, "pod/holder", ".status.phase") == "Running", "holder never ran");
    c.ok(&["delete", "pvc", "dynamic", "--wait=false"]);
    assert!(c.ok(&["get", "pvc", "dynamic"]).contains("Terminating"));
    c.ok(&["delete", "pod", "holder", "--grace-period=1"]);
    assert_eventually!(!c.kubectl(&["get", "pvc", "dynamic"]).status.success(), "the claim stayed after its last pod went");
}

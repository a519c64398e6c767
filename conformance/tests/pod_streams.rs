//! `kubectl logs`, `exec`, `attach` and `port-forward` against pods on a real kubelet
//! (its own containerd), through the API server's pod subresources and the kubelet
//! server. kubectl 1.35 uses WebSockets (exec/attach: `v5.channel.k8s.io`, translated by
//! the API server to SPDY with the kubelet; port-forward: SPDY tunnelled in WebSocket);
//! the tests check from kubectl's own log (`-v=6`) that it did not fall back, and force
//! the SPDY/3.1 fallback (`KUBECTL_*_WEBSOCKETS=false`) to keep that path tested. The
//! official Python client's WebSocket exec and port-forward run too. Skips (with a
//! message) where not root or containerd is missing.

use ironkube_conformance::{assert_eventually, kubectl_bin, tls_connector, tls_get, Cluster};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

fn run_pod(c: &Cluster, name: &str, containers: &str, extra: &str) {
    let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {}\n{extra}  containers:\n{containers}", c.node_name());
    c.ok_with_input(&["apply", "-f", "-"], &yaml);
}

fn container(name: &str, script: &str) -> String {
    format!("  - name: {name}\n    image: ironkube.local/busybox\n    command: [sh, -c, {script:?}]\n")
}

fn phase(c: &Cluster, pod: &str) -> String {
    String::from_utf8_lossy(&c.kubectl(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]).stdout).into_owned()
}

fn wait_running(c: &Cluster, pod: &str) {
    assert_eventually!(phase(c, pod) == "Running", "{pod} never ran: {}", c.ok(&["get", "pod", pod, "-o", "yaml"]));
}

fn kubectl(c: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(kubectl_bin());
    cmd.args(args).env("KUBECONFIG", &c.kubeconfig);
    cmd
}

#[test]
fn logs_tail_since_follow_previous_and_container_choice() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    run_pod(&c, "box", &container("box", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"), "");
    wait_running(&c, "box");
    assert_eventually!(c.ok(&["logs", "box"]).contains("line 3"), "no log lines: {}", c.ok(&["logs", "box"]));
    let all = c.ok(&["logs", "box"]);
    assert!(all.starts_with("line 0\nline 1\nline 2\n"), "{all}");
    let tail: Vec<String> = c.ok(&["logs", "--tail=2", "box"]).lines().map(str::to_string).collect();
    assert_eq!(tail.len(), 2, "{tail:?}");
    assert!(tail.iter().all(|l| l.starts_with("line ")), "{tail:?}");
    assert!(c.ok(&["logs", "--since=1m", "box"]).starts_with("line 0\n"));
    let stamped = c.ok(&["logs", "--tail=1", "--timestamps", "box"]);
    let (ts, msg) = stamped.trim_end().split_once(' ').expect("a timestamp");
    assert!(ts.contains('T') && ts.ends_with('Z') && msg.starts_with("line "), "{stamped}");
    assert_eq!(c.ok(&["logs", "--limit-bytes=4", "box"]), "line");
    assert!(c.fails(&["logs", "-p", "box"]).contains("previous terminated container \"box\" in pod \"box\" not found"));

    // -f: lines written after the request arrive on the open stream.
    let mut follow = kubectl(&c, &["logs", "-f", "--tail=1", "box"]).stdout(Stdio::piped()).spawn().expect("kubectl logs -f");
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let first: u64 = lines.next().unwrap().unwrap().trim_start_matches("line ").parse().unwrap();
    let mut last = first;
    for _ in 0..3 {
        last = lines.next().expect("a followed line").unwrap().trim_start_matches("line ").parse().unwrap();
    }
    assert_eq!(last, first + 3, "followed lines are consecutive and new");
    follow.kill().ok();
    follow.wait().ok();

    // -f ends when the container exits; -p shows the previous instance after a restart;
    // several containers: -c picks one, the raw API demands a name.
    run_pod(&c, "two", &(container("a", "echo run; echo bye; sleep 1; exit 1") + &container("b", "echo from-b; sleep 3600")), "");
    assert_eventually!(
        c.ok(&["get", "pod", "two", "-o", "jsonpath={.status.containerStatuses[?(@.name==\"a\")].restartCount}"]).trim().parse::<u32>().unwrap_or(0) >= 1,
        "container a never restarted"
    );
    assert_eq!(c.ok(&["logs", "-p", "two", "-c", "a"]), "run\nbye\n");
    assert_eventually!(c.ok(&["logs", "two", "-c", "b"]) == "from-b\n", "logs of b");
    let raw = c.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/two/log"]);
    assert!(raw.contains("a container name must be specified for pod two, choose one of: [a b]"), "{raw}");
    let unknown = c.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/two/log?container=zz"]);
    assert!(unknown.contains("container zz is not valid for pod two"), "{unknown}");

    run_pod(&c, "once", &container("once", "echo a; sleep 2; echo b"), "  restartPolicy: Never\n");
    wait_running(&c, "once");
    let out = kubectl(&c, &["logs", "-f", "once"]).output().expect("kubectl logs -f");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\n");
}

#[test]
fn exec_output_stdin_exit_codes_tty_and_attach() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    run_pod(&c, "box", &container("box", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"), "");
    wait_running(&c, "box");
    // kubectl's first choice, WebSocket v5, is served (no fallback to SPDY's POST).
    let ws = c.kubectl(&["exec", "-v=6", "box", "--", "sh", "-c", "echo over-ws; exit 3"]);
    let log = String::from_utf8_lossy(&ws.stderr);
    assert!(log.contains("The subprotocol is v5.channel.k8s.io") && !log.contains("verb=\"POST\""), "{log}");
    assert_eq!((ws.status.code(), String::from_utf8_lossy(&ws.stdout).as_ref()), (Some(3), "over-ws\n"), "{log}");
    // SPDY/3.1 when kubectl is told not to use WebSockets: output, stdin, exit code.
    let mut spdy = kubectl(&c, &["exec", "-v=6", "-i", "box", "--", "sh", "-c", "cat; exit 6"])
        .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl exec over SPDY");
    spdy.stdin.take().unwrap().write_all(b"via spdy\n").unwrap();
    let spdy = spdy.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&spdy.stderr);
    assert!(log.contains("verb=\"POST\"") && log.contains("101 Switching Protocols") && !log.contains("v5.channel.k8s.io"), "{log}");
    assert_eq!((spdy.status.code(), String::from_utf8_lossy(&spdy.stdout).as_ref()), (Some(6), "via spdy\n"), "{log}");
    let ls = c.ok(&["exec", "box", "--", "ls", "/"]);
    assert!(ls.lines().any(|l| l == "bin") && ls.lines().any(|l| l == "etc"), "{ls}");
    assert_eq!(c.ok_with_input(&["exec", "-i", "box", "--", "cat"], "hi\nthere\n"), "hi\nthere\n");
    let out = c.kubectl(&["exec", "box", "--", "sh", "-c", "echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("err"));
    let missing = c.fails(&["exec", "box", "--", "/no/such/binary"]);
    assert!(!missing.is_empty());

    // -it: a real terminal on our side (python's pty), a prompt and echo on theirs.
    let script = r##"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
def read_until(token, limit=60):
    global out
    end = time.time() + limit
    while token not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return
read_until(b"# ")
os.write(fd, b"echo $((6*7)); tty\r")
read_until(b"/dev/pts")
# A resize of our terminal reaches the remote one (kubectl's resize channel).
import fcntl, struct, termios
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
for _ in range(30):
    os.write(fd, b"stty size\r")
    read_until(b"33 77", 2)
    if b"33 77" in out:
        break
os.write(fd, b"exit 4\r")
read_until(b"never", 10)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"##;
    let tty = Command::new("python3")
        .args(["-c", script, &kubectl_bin(), "exec", "-it", "box", "--", "sh"])
        .env("KUBECONFIG", &c.kubeconfig)
        .output()
        .expect("python3 for a pty");
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(screen.contains("echo $((6*7)); tty"), "the terminal echoes what we type: {screen}");
    assert!(screen.contains("42") && screen.contains("/dev/pts/"), "the shell runs on a tty: {screen}");
    assert!(screen.contains("33 77"), "the remote terminal follows our size: {screen}");
    assert_eq!(tty.status.code(), Some(4), "{screen}");

    // attach streams the main process's output.
    let mut attach = kubectl(&c, &["attach", "box"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("kubectl attach");
    let mut lines = BufReader::new(attach.stdout.take().unwrap()).lines();
    let line = lines.next().expect("attached output").unwrap();
    assert!(line.starts_with("tick "), "{line}");
    attach.kill().ok();
    attach.wait().ok();

    // Errors: unknown container, several containers through the raw API.
    assert!(c.fails(&["exec", "box", "-c", "zz", "--", "true"]).contains("container zz is not valid for pod box"));
    run_pod(&c, "two", &(container("a", "sleep 3600") + &container("b", "sleep 3600")), "");
    wait_running(&c, "two");
    assert_eq!(c.ok(&["exec", "two", "-c", "b", "--", "echo", "in-b"]), "in-b\n");
    let raw = c.fails(&["create", "--raw", "/api/v1/namespaces/default/pods/two/exec?command=true", "-f", "/dev/null"]);
    assert!(raw.contains("a container name must be specified for pod two, choose one of: [a b]"), "{raw}");
}

/// Runs `kubectl port-forward -v=6 pod/web :80` (with `env`), fetches two files through it;
/// kubectl's log.
fn forward_and_fetch(c: &Cluster, env: &[(&str, &str)]) -> String {
    let mut pf = kubectl(c, &["port-forward", "-v=6", "pod/web", ":80"]).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("kubectl port-forward");
    let mut lines = BufReader::new(pf.stdout.take().unwrap()).lines();
    let mut stderr = pf.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).ok();
        s
    });
    let first = lines.next().expect("a Forwarding line").unwrap();
    // "Forwarding from 127.0.0.1:PORT -> 80"
    let port: u16 = first.split_whitespace().nth(2).and_then(|a| a.rsplit(':').next()).and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{first}"));
    std::thread::spawn(move || for _ in lines {});
    for path in ["/passwd", "/hostname"] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the forwarded port");
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.") && body.lines().next().is_some_and(|l| l.contains(" 200 ")), "{body}");
        if path == "/passwd" {
            assert!(body.contains("root:x:0:0"), "{body}");
        } else {
            assert!(body.trim_end().ends_with("web"), "{body}");
        }
    }
    pf.kill().ok();
    pf.wait().ok();
    log.join().unwrap()
}

#[test]
fn port_forward_carries_bytes_both_ways() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    run_pod(&c, "web", "  - name: web\n    image: ironkube.local/busybox\n    command: [httpd, -f, -p, '80', -h, /etc]\n", "");
    wait_running(&c, "web");
    // SPDY tunnelled in a WebSocket (kubectl's default): a GET upgraded to WebSocket.
    let log = forward_and_fetch(&c, &[]);
    assert!(log.contains("tunneling_dialer") && log.contains("negotiated protocol: portforward.k8s.io") && !log.contains("verb=\"POST\""), "{log}");
    // Plain SPDY/3.1 (a POST upgraded to SPDY).
    let log = forward_and_fetch(&c, &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")]);
    assert!(log.contains("verb=\"POST\"") && !log.contains("tunneling_dialer"), "{log}");
}

#[test]
fn python_client_exec_and_port_forward_over_websocket() {
    let importable = Command::new("python3").args(["-c", "import kubernetes"]).status().is_ok_and(|s| s.success());
    if !importable && std::env::var_os("CI").is_none() {
        eprintln!("skipped: the Python package `kubernetes` is not installed (pip install kubernetes)");
        return;
    }
    let Some(c) = Cluster::start_with_kubelet() else { return };
    run_pod(&c, "py", &(container("box", "sleep 3600") + "  - name: web\n    image: ironkube.local/busybox\n    command: [httpd, -f, -p, '80', -h, /etc]\n"), "");
    wait_running(&c, "py");
    assert_eventually!(c.ok(&["get", "pod", "py", "-o", "jsonpath={.status.containerStatuses[*].ready}"]) == "true true", "both containers run");
    let script = ironkube_conformance::workspace_root().join("conformance/clients/python_pod_streams.py");
    let out = Command::new("python3").arg(script).arg("py").env("KUBECONFIG", &c.kubeconfig).output().unwrap();
    assert!(out.status.success(), "python client failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A client certificate for `cn` signed by the cluster CA, as PEM files in the data dir.
fn client_cert(c: &Cluster, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    use openssl::{asn1::Asn1Time, ec, hash::MessageDigest, nid::Nid, pkey::PKey, x509};
    let pki = c.dir.path().join("pki");
    let ca = x509::X509::from_pem(&std::fs::read(pki.join("ca.crt")).unwrap()).unwrap();
    let ca_key = PKey::private_key_from_pem(&std::fs::read(pki.join("ca.key")).unwrap()).unwrap();
    let key = PKey::from_ec_key(ec::EcKey::generate(&ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = x509::X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
    b.append_extension(x509::extension::ExtendedKeyUsage::new().client_auth().build().unwrap()).unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let (cert, keyf) = (c.dir.path().join(format!("{cn}.crt")), c.dir.path().join(format!("{cn}.key")));
    std::fs::write(&cert, b.build().to_pem().unwrap()).unwrap();
    std::fs::write(&keyf, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert, keyf)
}

/// GETs `path` from the kubelet server on `port` (trusting the cluster CA), optionally
/// with a client certificate; the status code.
fn kubelet_status(c: &Cluster, port: u16, pair: Option<&(std::path::PathBuf, std::path::PathBuf)>, path: &str) -> u16 {
    let client = pair.map(|(cert, key)| (cert.as_path(), key.as_path()));
    let connector = tls_connector(Some(&c.dir.path().join("pki/ca.crt")), client);
    tls_get(&connector, port, path).expect("TLS to the kubelet with a serving certificate from the cluster CA").0
}

#[test]
fn kubelet_server_admits_only_the_api_server() {
    let Some(c) = Cluster::start_with_kubelet() else { return };
    let port: u16 = c.ok(&["get", "node", c.node_name(), "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}"]).trim().parse().expect("a kubelet port");
    assert_ne!(port, 10250, "the harness asks for a free port so clusters can run side by side");
    run_pod(&c, "box", &container("box", "echo hello; sleep 3600"), "");
    wait_running(&c, "box");
    assert_eq!(kubelet_status(&c, port, None, "/containerLogs/default/box/box"), 401);
    let stranger = client_cert(&c, "jane");
    assert_eq!(kubelet_status(&c, port, Some(&stranger), "/containerLogs/default/box/box"), 403);
    let pki = c.dir.path().join("pki");
    let apiserver = (pki.join("apiserver-kubelet-client.crt"), pki.join("apiserver-kubelet-client.key"));
    assert_eq!(kubelet_status(&c, port, Some(&apiserver), "/containerLogs/default/box/box"), 200);
    assert_eq!(kubelet_status(&c, port, Some(&apiserver), "/containerLogs/default/box/nope"), 400);
    // A pod that is not scheduled (no scheduler serves its schedulerName) has no logs yet
    // (upstream: an empty answer), and no exec.
    c.ok_with_input(&["apply", "-f", "-"], "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nowhere\nspec:\n  schedulerName: nobody\n  containers:\n  - name: a\n    image: ironkube.local/busybox\n");
    assert_eq!(c.ok(&["logs", "nowhere"]), "");
    assert!(c.fails(&["exec", "nowhere", "--", "true"]).contains("pod nowhere does not have a host assigned"));
}

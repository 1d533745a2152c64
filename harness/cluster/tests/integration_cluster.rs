//! Integration tests against the real machine: namespaces, veths, a bridge, sshd per node.
//! They need root, so they are marked `#[ignore]` (a plain `cargo test` lists them as ignored);
//! scripts/test runs them as root with `--ignored`. Every test uses its own cluster name and leaves the
//! host's `ip netns`, `ip link` and `iptables -S` exactly as it found them.

use labrys_cluster::ClusterError;
use labrys_control::{ControlError, Remote, SshConfig, SshRemote};
use std::process::Command;
use std::time::{Duration, Instant};

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What must be identical before `up` and after `down`, restricted to what labrys may create
/// (other engineers' tests may create their own clusters concurrently).
fn snapshot(name: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let tag = labrys_cluster::naming::link_prefix(name);
    let ns_prefix = format!("lb-{name}-");
    let netns = sh("ip netns list")
        .lines()
        .filter(|l| l.starts_with(&ns_prefix))
        .map(String::from)
        .collect();
    let links = sh("ip -o link show")
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .filter(|l| l.starts_with(&tag))
        .map(String::from)
        .collect();
    let rules = sh("iptables -w -S")
        .lines()
        .filter(|l| l.contains(&tag))
        .map(String::from)
        .collect();
    (netns, links, rules)
}

const T: Duration = Duration::from_secs(10);

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_cluster_up_exec_down() {
    let name = "lbit-up";
    labrys_cluster::down(name).unwrap();
    let before = snapshot(name);
    assert_eq!(before, Default::default());

    let start = Instant::now();
    let c = labrys_cluster::up(name, 3).unwrap();
    let took = start.elapsed();
    eprintln!("3-node cluster up in {took:?}");
    assert_eq!(c.nodes.len(), 3);
    let nodes = c.connect().unwrap();
    for n in &nodes {
        let out = n.exec_ok(&["hostname"], T).unwrap();
        assert_eq!(out.stdout.trim(), n.node());
        // The node's own address is on its eth0.
        let ip = n
            .exec_ok(&["ip", "-o", "-4", "addr", "show", "eth0"], T)
            .unwrap();
        assert!(ip.stdout.contains(n.host()), "{}", ip.stdout);
    }
    // Private /tmp: a file written on n1 is not on n2.
    nodes[0].sh_ok("echo one > /tmp/labrys-mark", T).unwrap();
    let o = nodes[1].sh("cat /tmp/labrys-mark", T).unwrap();
    assert_ne!(o.status, 0, "n2 sees n1's /tmp");
    // Nodes resolve each other's names and reach each other.
    let o = nodes[1]
        .sh_ok(
            "getent ahostsv4 n1 && timeout 3 bash -c '</dev/tcp/n1/22'",
            T,
        )
        .unwrap();
    assert!(o.stdout.contains(nodes[0].host()), "{}", o.stdout);
    // Upload / download round trip over SCP.
    let local = std::env::temp_dir().join(format!("lbit-up-{}", std::process::id()));
    std::fs::write(&local, b"hello node\n").unwrap();
    nodes[2].upload(&local, "/opt/hello").unwrap();
    assert_eq!(
        nodes[2].exec_ok(&["cat", "/opt/hello"], T).unwrap().stdout,
        "hello node\n"
    );
    let back = local.with_extension("back");
    nodes[2].download("/opt/hello", &back).unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), b"hello node\n");
    // Transfer errors name the node and the path, and leave the session usable.
    let e = nodes[2].download("/nonexistent/labrys", &back).unwrap_err();
    assert!(
        e.to_string().contains("n3") && e.to_string().contains("/nonexistent/labrys"),
        "{e}"
    );
    let e = nodes[2].upload(&local, "/nonexistent/dir/x").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/dir/x"), "{e}");
    assert!(nodes[2].exec_ok(&["true"], T).is_ok());
    std::fs::remove_file(&local).unwrap();
    std::fs::remove_file(&back).unwrap();
    // Many concurrent commands over one session per node. Channels that start at the same
    // moment used to fail now and then (libssh2 took another channel's reply for a refusal),
    // and a channel freed while another thread read the session corrupted the heap: 3,000
    // commands, 30 at a time, made both show.
    for round in 0..100 {
        std::thread::scope(|s| {
            for i in 0..30 {
                let n = nodes[i % 3].clone();
                s.spawn(move || {
                    let o = n.exec_ok(&["echo", &format!("c{i}")], T);
                    let o = o.unwrap_or_else(|e| panic!("round {round}, call {i}: {e}"));
                    assert_eq!(o.stdout.trim(), format!("c{i}"));
                });
            }
        });
    }
    // A timed-out command is reported as such and the session stays usable.
    let e = nodes[0]
        .sh("sleep 5", Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(e, ControlError::Timeout { .. }), "{e}");
    assert!(nodes[0].exec_ok(&["true"], T).is_ok());

    // The SSH connection drops (its server-side processes die): the next call reconnects.
    let ns = labrys_cluster::naming::netns(name, 1);
    let killed = sh(&format!(
        "for p in $(ip netns pids {ns}); do \
           if tr '\\0' ' ' < /proc/$p/cmdline | grep -q '^sshd: root'; then kill -9 $p; echo $p; fi; \
         done"
    ));
    assert!(
        !killed.trim().is_empty(),
        "no session process found to kill"
    );
    let o = nodes[0].exec_ok(&["hostname"], T).unwrap();
    assert_eq!(o.stdout.trim(), "n1");

    // A key the nodes do not know is refused with an authentication error naming the node.
    let stranger = c.state_dir.join("stranger_key");
    labrys_cluster::node::ensure_key(&stranger, "stranger").unwrap();
    let cfg = SshConfig {
        key: Some(stranger),
        ..SshConfig::default()
    };
    let r = SshRemote::new("n1", &c.nodes[0].ip.to_string(), cfg).unwrap();
    let e = r.exec(&["true"], T).unwrap_err();
    assert!(matches!(e, ControlError::Auth { .. }), "{e}");
    assert!(
        e.to_string().contains("n1") && e.to_string().contains("stranger_key"),
        "{e}"
    );

    // A second cluster coexists: its own subnet, both reachable at once.
    let other = labrys_cluster::up("lbit-up2", 1).unwrap();
    assert_ne!(other.nodes[0].ip, c.nodes[0].ip);
    let o = other.connect().unwrap()[0]
        .exec_ok(&["hostname"], T)
        .unwrap();
    assert_eq!(o.stdout.trim(), "n1");
    assert!(nodes[0].exec_ok(&["true"], T).is_ok());
    labrys_cluster::down("lbit-up2").unwrap();
    assert_eq!(snapshot("lbit-up2"), Default::default());

    // `up` again is a no-op returning the same cluster.
    let again = labrys_cluster::up(name, 3).unwrap();
    assert_eq!(again, c);
    assert_eq!(labrys_cluster::load(name).unwrap(), Some(c.clone()));
    let status = labrys_cluster::status(name).unwrap().join("\n");
    assert_eq!(status.matches("ssh ok").count(), 3, "{status}");

    drop(nodes);
    labrys_cluster::down(name).unwrap();
    assert_eq!(snapshot(name), before);
    assert!(!c.state_dir.exists());
    labrys_cluster::down(name).unwrap();
    assert_eq!(labrys_cluster::load(name).unwrap(), None);
}

/// Helper run as a child process: brings a cluster up, then waits to be killed.
#[test]
#[ignore = "a helper other tests run as a child process"]
fn helper_child_up() {
    let Ok(name) = std::env::var("LBIT_CHILD_UP") else {
        return;
    };
    let _ = labrys_cluster::up(&name, 3);
    std::thread::sleep(Duration::from_secs(60));
}

fn spawn_child(name: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "--include-ignored",
            "helper_child_up",
            "--nocapture",
        ])
        .env("LBIT_CHILD_UP", name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_down_after_crash() {
    for (name, delay) in [
        ("lbit-crash-a", None),
        ("lbit-crash-b", Some(Duration::from_millis(150))),
    ] {
        labrys_cluster::down(name).unwrap();
        let before = snapshot(name);
        let mut child = spawn_child(name);
        match delay {
            // Killed in the middle of `up`.
            Some(d) => std::thread::sleep(d),
            // Killed once the cluster is complete.
            None => {
                let deadline = Instant::now() + Duration::from_secs(30);
                while labrys_cluster::load(name).unwrap().is_none() {
                    assert!(Instant::now() < deadline, "child never brought {name} up");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Processes the cluster left running (holders, sshd), found through its namespaces.
        let pids: Vec<String> = sh(&format!(
            "for ns in $(ip netns list | awk '{{print $1}}' | grep '^lb-{name}-n'); do ip netns pids $ns; done"
        ))
        .split_whitespace()
        .map(String::from)
        .collect();
        if delay.is_none() {
            assert!(
                pids.len() >= 3,
                "a complete cluster runs holders and sshd: {pids:?}"
            );
        }
        labrys_cluster::down(name).unwrap();
        assert_eq!(snapshot(name), before, "{name}");
        for pid in &pids {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = state.split(' ').nth(2).unwrap_or("gone");
            assert!(
                state == "gone" || state == "Z",
                "{name}: pid {pid} survived down ({state})"
            );
        }
    }
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_bad_names_and_unreachable_hosts() {
    assert!(matches!(
        labrys_cluster::up("Bad Name", 3),
        Err(ClusterError::BadName { .. })
    ));
    assert!(matches!(
        labrys_cluster::up("lbit-zero", 0),
        Err(ClusterError::BadNodeCount { .. })
    ));
    assert!(matches!(
        labrys_cluster::down("../etc"),
        Err(ClusterError::BadName { .. })
    ));
    // An address nothing answers on: connection fails after retries, naming node and address.
    let cfg = SshConfig {
        connect_attempts: 2,
        connect_timeout: Duration::from_millis(700),
        ..SshConfig::default()
    };
    let r = SshRemote::new("ghost", "203.0.113.1", cfg).unwrap();
    let start = Instant::now();
    let e = r.exec(&["true"], T).unwrap_err();
    assert!(matches!(e, ControlError::Connect { .. }), "{e}");
    assert!(
        e.to_string().contains("ghost") && e.to_string().contains("203.0.113.1"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_up_repairs_a_broken_cluster() {
    let name = "lbit-repair";
    labrys_cluster::down(name).unwrap();
    labrys_cluster::up(name, 2).unwrap();
    // Node n2 dies: every process in its namespace is gone (its sshd with them).
    let ns = labrys_cluster::naming::netns(name, 2);
    sh(&format!(
        "for p in $(ip netns pids {ns}); do kill -9 $p; done"
    ));
    std::thread::sleep(Duration::from_millis(200));
    let status = labrys_cluster::status(name).unwrap().join("\n");
    assert!(status.contains("ssh FAILED"), "{status}");
    // `up` notices and rebuilds it.
    let c = labrys_cluster::up(name, 2).unwrap();
    for n in c.connect().unwrap() {
        assert_eq!(n.exec_ok(&["hostname"], T).unwrap().stdout.trim(), n.node());
    }
    labrys_cluster::down(name).unwrap();
    assert_eq!(snapshot(name), Default::default());
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_up_never_resizes_a_running_cluster() {
    let name = "lbit-size";
    labrys_cluster::down(name).unwrap();
    labrys_cluster::up(name, 3).unwrap();
    let e = labrys_cluster::up(name, 2).unwrap_err();
    assert!(
        matches!(
            e,
            ClusterError::OtherSize {
                have: 3,
                want: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("labrys cluster down --name lbit-size"),
        "{e}"
    );
    // Still all three, each answering.
    let c = labrys_cluster::load(name).unwrap().unwrap();
    assert_eq!(c.nodes.len(), 3);
    assert_eq!(c.connect().unwrap().len(), 3);
    assert_eq!(labrys_cluster::up(name, 3).unwrap().nodes.len(), 3);
    labrys_cluster::down(name).unwrap();
    assert_eq!(snapshot(name), Default::default());
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_doctor_passes_on_a_prepared_machine() {
    let report = labrys_cluster::doctor::run(
        false,
        &labrys_cluster::doctor::Databases {
            packages: vec!["etcd-server"],
            clocks: Vec::new(),
        },
    );
    let text = report.to_string();
    assert!(report.ok(), "{text}");
    // iptables may warn (legacy tables beside nf_tables) without failing: report.ok() covers it.
    for check in ["root", "packages", "netns", "sshd", "cluster"] {
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.name == check && c.status == labrys_cluster::doctor::Status::Ok),
            "{check} not ok:\n{text}"
        );
    }
    assert_eq!(
        labrys_cluster::load("doctor").unwrap(),
        None,
        "smoke cluster left up"
    );
    // Nothing is missing, so nothing is installed (and apt-get is not run).
    let installed =
        labrys_cluster::doctor::ensure_installed(labrys_cluster::doctor::CLUSTER_PACKAGES);
    assert_eq!(installed, Ok(vec![]));
}

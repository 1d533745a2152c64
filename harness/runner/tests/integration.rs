//! Real tests on a real local cluster (root, namespaces, sshd, etcd), marked `#[ignore]` and run
//! as root by scripts/test with `--ignored`:
//! - a short run with partitions must be valid, with nemesis ops, node logs and a verdict in its
//!   run folder, and leave no cluster behind; so must a list-append run with kills;
//! - a harness SIGKILLed mid-test: every line it had written stays in `history.jsonl`, the
//!   history still pairs and can be analyzed, and `cluster down` removes every namespace,
//!   link and etcd process;
//! - a harness sent SIGINT heals (recording the heal as the history's last nemesis op), tears
//!   down, checks and exits by itself with 3 (an interrupted test is no verdict);
//! - `--nodes` pointing at existing hosts over SSH runs the same test, and leaves the hosts'
//!   cluster up (this run did not create it);
//! - a harness SIGKILLed under a partition: no other run may use its cluster while it lives;
//!   the next run (with no nemesis) adopts the cluster, resets every node, is valid, and brings
//!   the cluster down.
//!
//! The killed harnesses are this test binary re-executed (`helper_child_run`) with the options
//! in the environment.

use labrys_harness::{analyze, run_test, NodeSpec, TestOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The databases these tests may name.
fn dbs() -> Vec<std::sync::Arc<dyn labrys_db::DbKind>> {
    vec![std::sync::Arc::new(labrys_etcd::EtcdKind)]
}

const CHILD_CLUSTER: &str = "LABRYS_RUNNER_CHILD_CLUSTER";
const CHILD_STORE: &str = "LABRYS_RUNNER_CHILD_STORE";

fn options(cluster: &str, store: &Path, secs: u64) -> TestOptions {
    TestOptions {
        nemesis: vec!["partition".into()],
        nemesis_interval: Duration::from_secs(4),
        time_limit: Duration::from_secs(secs),
        nodes: NodeSpec::Local {
            cluster: cluster.into(),
            count: 5,
        },
        seed: 11,
        rate: 20.0,
        op_timeout: Duration::from_secs(3),
        store_root: store.to_path_buf(),
        check_timeout: Some(Duration::from_secs(120)),
        ..TestOptions::default()
    }
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Nothing of cluster `name` is left: no namespace, no link, no host iptables rule.
fn assert_nothing_left(name: &str) {
    let ns = sh("ip netns list");
    assert!(
        !ns.contains(&format!("lb-{name}-")),
        "namespaces left: {ns}"
    );
    let prefix = labrys_cluster::naming::link_prefix(name);
    let links = sh("ip -o link");
    assert!(!links.contains(&prefix), "links left: {links}");
    let rules = sh("iptables -S 2>/dev/null; iptables -t nat -S 2>/dev/null");
    assert!(!rules.contains(&prefix), "iptables rules left: {rules}");
    assert!(
        labrys_cluster::load(name).unwrap().is_none(),
        "cluster {name} still recorded"
    );
}

fn history_lines(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs only as a child of the tests below: a whole test run, killed or interrupted by them.
#[test]
#[ignore = "a helper other tests run as a child process"]
fn helper_child_run() {
    let (Ok(cluster), Ok(store)) = (std::env::var(CHILD_CLUSTER), std::env::var(CHILD_STORE))
    else {
        return;
    };
    let o = run_test(&options(&cluster, Path::new(&store), 60), &dbs());
    println!("CHILD-EXIT {}", o.exit_code);
}

fn spawn_child(cluster: &str, store: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "--include-ignored",
            "helper_child_run",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_CLUSTER, cluster)
        .env(CHILD_STORE, store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the child's run has recorded `n` lines including a nemesis op; returns its
/// run folder.
fn wait_for_progress(store: &Path, n: usize, child: &mut std::process::Child) -> PathBuf {
    let start = Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the harness ended early"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no progress in 120 s"
        );
        if let Ok(run) = store.join("latest").canonicalize() {
            let lines = history_lines(&run);
            if lines.len() >= n && lines.iter().any(|l| l.contains("\"nemesis\"")) {
                return run;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn etcd_pids(cluster: &str) -> Vec<String> {
    (1..=5)
        .flat_map(|i| {
            let ns = labrys_cluster::naming::netns(cluster, i);
            sh(&format!("for p in $(ip netns pids {ns} 2>/dev/null); do [ \"$(cat /proc/$p/comm)\" = etcd ] && echo $p; done"))
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_runner_short_partition_run_is_valid() {
    let store = tempfile::tempdir().unwrap();
    let cluster = "lbr-valid";
    let _ = labrys_cluster::down(cluster);
    let o = run_test(&options(cluster, store.path(), 20), &dbs());
    let run = o.run_dir.clone().expect("a run folder");
    assert_eq!(
        o.exit_code,
        0,
        "{o:?}\n{}",
        std::fs::read_to_string(run.join("labrys.log")).unwrap()
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], true);
    let lines = history_lines(&run);
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("start-partition"))
            .count()
            >= 2
    );
    assert!(lines.iter().any(|l| l.contains("\"heal\"")));
    for n in 1..=5 {
        let log = run.join(format!("n{n}/etcd.log"));
        assert!(
            std::fs::metadata(&log)
                .map(|m| m.len() > 0)
                .unwrap_or(false),
            "{log:?}"
        );
    }
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["seed"], 11);
    assert!(test["versions"]["etcd"].as_str().unwrap().contains("3."));
    assert_nothing_left(cluster);
    // Re-checking the stored run gives the same verdict.
    let again = analyze(None, store.path(), Some(Duration::from_secs(120)));
    assert_eq!(
        (again.exit_code, again.run_dir),
        (0, Some(run.canonicalize().unwrap()))
    );
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_runner_list_append_with_kills_is_valid() {
    let store = tempfile::tempdir().unwrap();
    let cluster = "lbr-append";
    let _ = labrys_cluster::down(cluster);
    let o = run_test(
        &TestOptions {
            workload: "list-append".into(),
            nemesis: vec!["kill".into()],
            ..options(cluster, store.path(), 15)
        },
        &dbs(),
    );
    let run = o.run_dir.clone().expect("a run folder");
    assert_eq!(
        o.exit_code,
        0,
        "{o:?}\n{}",
        std::fs::read_to_string(run.join("labrys.log")).unwrap()
    );
    let lines = history_lines(&run);
    assert!(lines.iter().any(|l| l.contains("start-kill")));
    assert!(lines.iter().filter(|l| l.contains("\"append\"")).count() > 50);
    assert_nothing_left(cluster);
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_runner_given_hosts_over_ssh() {
    let store = tempfile::tempdir().unwrap();
    let cluster = "lbr-hosts";
    let _ = labrys_cluster::down(cluster);
    let c = labrys_cluster::up(cluster, 3).unwrap();
    let hosts = c
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.ip.to_string()))
        .collect();
    let o = run_test(
        &TestOptions {
            nodes: NodeSpec::Hosts(hosts),
            ssh_key: Some(c.ssh_key.clone()),
            ..options(cluster, store.path(), 10)
        },
        &dbs(),
    );
    let run = o.run_dir.clone().expect("a run folder");
    let log = std::fs::read_to_string(run.join("labrys.log")).unwrap();
    let still_up = labrys_cluster::load(cluster).unwrap().is_some();
    labrys_cluster::down(cluster).unwrap();
    assert_eq!(o.exit_code, 0, "{o:?}\n{log}");
    assert!(log.contains("over SSH"), "{log}");
    assert!(run.join("n3/etcd.log").is_file());
    assert!(
        still_up,
        "a run must not bring down hosts it did not create"
    );
    assert_nothing_left(cluster);
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_runner_sigkilled_harness_loses_nothing_and_cluster_down_cleans() {
    let store = tempfile::tempdir().unwrap();
    let cluster = "lbr-kill";
    let _ = labrys_cluster::down(cluster);
    let mut child = spawn_child(cluster, store.path());
    let run = wait_for_progress(store.path(), 150, &mut child);
    let before = history_lines(&run);
    let pids = etcd_pids(cluster);
    assert_eq!(pids.len(), 5, "five etcd members should run: {pids:?}");
    child.kill().unwrap(); // SIGKILL: no guard, no teardown
    child.wait().unwrap();

    // Every line written before the kill is there, unchanged, and the history pairs.
    let after = history_lines(&run);
    assert!(after.len() >= before.len());
    assert_eq!(&after[..before.len() - 1], &before[..before.len() - 1]);
    let (h, _) = labrys_store::read_history(&run.join("history.jsonl")).unwrap();
    assert!(h.pairs.len() >= 50);
    let o = analyze(Some(&run), store.path(), Some(Duration::from_secs(120)));
    // A killed run's history can still be checked, and the answer says it is incomplete.
    assert!(
        (o.exit_code == 3 && o.summary.contains("history so far: ")) || o.exit_code == 1,
        "{o:?}"
    );
    assert!(o.summary.contains("incomplete run"), "{o:?}");

    // The cluster outlived the harness; `cluster down` removes all of it.
    assert!(labrys_cluster::load(cluster).unwrap().is_some());
    labrys_cluster::down(cluster).unwrap();
    assert_nothing_left(cluster);
    // Killed processes may take a moment to be reaped; a zombie is dead already.
    let live = |p: &String| {
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
        status.contains("Name:\tetcd") && !status.contains("State:\tZ")
    };
    let start = Instant::now();
    while pids.iter().any(live) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let survivors: Vec<&String> = pids.iter().filter(|p| live(p)).collect();
    assert!(
        survivors.is_empty(),
        "etcd pids {survivors:?} survived cluster down"
    );
    labrys_cluster::down(cluster).unwrap(); // idempotent
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_runner_sigint_heals_tears_down_and_checks() {
    let store = tempfile::tempdir().unwrap();
    let cluster = "lbr-int-heal";
    let _ = labrys_cluster::down(cluster);
    let mut child = spawn_child(cluster, store.path());
    let run = wait_for_progress(store.path(), 100, &mut child);
    let pid = child.id();
    sh(&format!("kill -INT {pid}"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the harness did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        status.success(),
        "the child test itself should end normally: {out}"
    );
    let log = std::fs::read_to_string(run.join("labrys.log")).unwrap();
    assert!(
        out.contains("CHILD-EXIT 3"),
        "an interrupted run of a correct etcd exits 3, not a verdict: {out}\n{log}"
    );
    assert!(log.contains("interrupted by SIGINT"), "{log}");
    // The heal after Ctrl-C is in the history like any nemesis op, and nothing after it.
    let nemesis: Vec<serde_json::Value> = history_lines(&run)
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|op| op["process"] == "nemesis")
        .collect();
    let n = nemesis.len();
    assert!(n >= 3, "{nemesis:?}");
    let (invoke, done) = (&nemesis[n - 2], &nemesis[n - 1]);
    assert_eq!(
        (&invoke["type"], &invoke["f"]),
        (&"invoke".into(), &"heal".into())
    );
    assert_eq!(
        (&done["type"], &done["f"]),
        (&"info".into(), &"heal".into())
    );
    assert!(done.get("error").is_none(), "the heal failed: {done}");
    assert!(done["value"].to_string().contains("healed"), "{done}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert!(
        results["incomplete"]
            .as_str()
            .is_some_and(|w| w.contains("interrupted by SIGINT")),
        "{results}"
    );
    // Re-checking it later gives the same answer as the interrupted test did.
    let again = analyze(Some(&run), store.path(), Some(Duration::from_secs(120)));
    assert!(again.exit_code == 3 || again.exit_code == 1, "{again:?}");
    assert!(run.join("n1/etcd.log").is_file());
    assert_nothing_left(cluster);
}

/// The partition chain's rules on node `i` of `cluster` (empty when there is none).
fn partition_rules(cluster: &str, i: usize) -> String {
    let ns = labrys_cluster::naming::netns(cluster, i);
    sh(&format!(
        "ip netns exec {ns} iptables -w -S LABRYS-PART 2>/dev/null | grep -e '-j DROP'"
    ))
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_runner_a_killed_runs_cluster_is_reset_and_adopted_by_the_next_run() {
    let store = tempfile::tempdir().unwrap();
    let cluster = "lbr-reuse";
    let _ = labrys_cluster::down(cluster);
    let mut child = spawn_child(cluster, store.path());
    wait_for_progress(store.path(), 20, &mut child);
    // Wait until a partition is in effect, then kill the harness under it.
    let start = Instant::now();
    loop {
        // Nemesis ops complete as `info` (Jepsen's convention); the rules tell for sure.
        if (1..=5).any(|i| !partition_rules(cluster, i).is_empty()) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the harness ended early"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no partition in 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // While the harness lives, no other run may reset its nodes.
    let other = tempfile::tempdir().unwrap();
    let o = run_test(
        &TestOptions {
            nemesis: vec![],
            ..options(cluster, other.path(), 5)
        },
        &dbs(),
    );
    assert_eq!(o.exit_code, 3, "{o:?}");
    assert!(o.summary.contains("in use by another labrys run"), "{o:?}");
    child.kill().unwrap(); // SIGKILL: no heal, no teardown
    child.wait().unwrap();
    assert!((1..=5).any(|i| !partition_rules(cluster, i).is_empty()));
    assert_eq!(etcd_pids(cluster).len(), 5);

    // The next run, with no nemesis at all, starts from clean nodes and is valid.
    let store2 = tempfile::tempdir().unwrap();
    let o = run_test(
        &TestOptions {
            nemesis: vec![],
            ..options(cluster, store2.path(), 8)
        },
        &dbs(),
    );
    let run2 = o.run_dir.clone().expect("a run folder");
    let log = std::fs::read_to_string(run2.join("labrys.log")).unwrap();
    assert_eq!(o.exit_code, 0, "{o:?}\n{log}");
    assert!(log.contains("left by a test that did not finish"), "{log}");
    assert!(log.contains("resetting every node"), "{log}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run2.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], true);
    // It adopted the killed run's cluster, so it brought it down.
    assert_nothing_left(cluster);
    assert!(etcd_pids(cluster).is_empty());
}

//! A real ZooKeeper test on a fresh local cluster (root, namespaces, sshd, Debian's
//! `zookeeper`): a short register run with `sync` reads while the nemesis kills and restarts
//! servers must be valid, hold many ok ops and the kill/restart nemesis ops, keep every node's
//! server log, and leave no cluster behind. Marked `#[ignore]`; scripts/test runs it as root
//! with `--ignored`.

use labrys_harness::{run_test, NodeSpec, TestOptions};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const DIR: &str = "/opt/labrys-zookeeper-it";

/// Live (non-zombie) processes whose command line names `dir`'s data directory.
fn servers_of(dir: &str) -> Vec<String> {
    let marker = format!("-Dlabrys.data={dir}/data");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).contains(&marker) && !status.contains("State:\tZ")
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_zookeeper_register_with_kills_is_valid() {
    let store = tempfile::tempdir().unwrap();
    let cluster = "zk-it-kill";
    let _ = labrys_cluster::down(cluster);
    let t0 = Instant::now();
    let o = run_test(
        &TestOptions {
            db: "zookeeper".into(),
            workload: "register".into(),
            nemesis: vec!["kill".into()],
            nemesis_interval: Duration::from_secs(4),
            time_limit: Duration::from_secs(20),
            nodes: NodeSpec::Local {
                cluster: cluster.into(),
                count: 5,
            },
            seed: 7,
            rate: 30.0,
            op_timeout: Duration::from_secs(3),
            store_root: store.path().to_path_buf(),
            check_timeout: Some(Duration::from_secs(120)),
            // A directory of its own, so a server this run left behind is recognisable.
            db_dir: Some(DIR.into()),
            ..TestOptions::default()
        },
        &[Arc::new(labrys_zookeeper::ZookeeperKind)],
    );
    let run = o.run_dir.clone().expect("a run folder");
    let log = std::fs::read_to_string(run.join("labrys.log")).unwrap_or_default();
    assert_eq!(o.exit_code, 0, "{o:?}\n{log}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], true, "{results}");

    let ops: Vec<serde_json::Value> = std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| ops.iter().filter(|o| f(o)).count();
    let ok = count(&|o| o["type"] == "ok" && o["process"] != "nemesis");
    assert!(ok > 150, "only {ok} ok ops\n{log}");
    for f in ["read", "write", "cas"] {
        let n = count(&|o| o["type"] == "ok" && o["f"] == f);
        assert!(n > 10, "only {n} ok {f} ops");
    }
    assert!(
        count(&|o| o["process"] == "nemesis" && o["f"] == "start-kill") >= 2,
        "no kills\n{log}"
    );
    assert!(count(&|o| o["process"] == "nemesis" && o["f"] == "stop-kill") >= 1);
    // Ops name the node that answered them.
    assert!(count(&|o| o["type"] == "ok" && o["node"] == "n3") > 0);
    // Every node's server log was kept, and shows the ensemble.
    for n in 1..=5 {
        let zlog =
            std::fs::read_to_string(run.join(format!("n{n}/zookeeper.log"))).unwrap_or_default();
        assert!(
            zlog.contains("QuorumPeer"),
            "n{n}/zookeeper.log: {}",
            &zlog[..zlog.len().min(500)]
        );
    }
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert!(
        test.to_string().contains("version 3."),
        "version recorded: {test}"
    );

    // Nothing of the cluster is left: no namespace, no recorded cluster, no server.
    let ns = sh("ip netns list");
    assert!(
        !ns.contains(&format!("lb-{cluster}-")),
        "namespaces left: {ns}"
    );
    assert!(labrys_cluster::load(cluster).unwrap().is_none());
    let start = Instant::now();
    let mut left = servers_of(DIR);
    while !left.is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        left = servers_of(DIR);
    }
    assert!(left.is_empty(), "servers left: {left:?}");
    eprintln!("integration run took {:?}", t0.elapsed());
}

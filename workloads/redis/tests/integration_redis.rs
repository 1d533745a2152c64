//! A real run of Redis with Sentinel on a fresh local cluster of five nodes: the register
//! workload for 20 s while the nemesis kills and restarts `redis-server` processes (the first
//! primary among them, so Sentinel fails over). A SIGKILLed server loses nothing it acknowledged (the
//! append-only file is written before the reply, and the replicas have been sent the write),
//! and the clients only talk to the primary the sentinels name, so the run must be valid.
//! Marked `#[ignore]`; scripts/test runs it as root with `--ignored`.

use labrys_harness::{run_test, NodeSpec, TestOptions};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn history(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_redis_register_under_kills_is_valid() {
    let store = tempfile::tempdir().unwrap();
    let cluster = "rd-it";
    let _ = labrys_cluster::down(cluster);
    let started = Instant::now();
    let dbs: Vec<Arc<dyn labrys_db::DbKind>> = vec![Arc::new(labrys_redis::RedisKind)];
    let o = run_test(
        &TestOptions {
            db: "redis".into(),
            workload: "register".into(),
            nemesis: vec!["kill".into()],
            nemesis_interval: Duration::from_secs(6),
            time_limit: Duration::from_secs(20),
            nodes: NodeSpec::Local {
                cluster: cluster.into(),
                count: 5,
            },
            // This seed's first kill hits n1, the first primary, so Sentinel fails over.
            seed: 4,
            rate: 30.0,
            op_timeout: Duration::from_secs(4),
            store_root: store.path().to_path_buf(),
            check_timeout: Some(Duration::from_secs(60)),
            ..TestOptions::default()
        },
        &dbs,
    );
    let run = o.run_dir.clone().expect("a run folder");
    let log = std::fs::read_to_string(run.join("labrys.log")).unwrap_or_default();
    assert_eq!(o.exit_code, 0, "{o:?}\n{log}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], true, "{results}");

    let h = history(&run);
    let of = |t: &str, f: &str| {
        h.iter()
            .filter(|op| op["type"] == t && op["f"] == f)
            .count()
    };
    let ok = of("ok", "read") + of("ok", "write") + of("ok", "cas");
    assert!(ok >= 150, "only {ok} ok ops\n{log}");
    assert!(
        of("ok", "cas") > 0 && of("fail", "cas") > 0,
        "cas ops both ways"
    );
    let kills = h
        .iter()
        .filter(|op| {
            op["process"] == "nemesis" && op["f"] == "start-kill" && op["type"] != "invoke"
        })
        .count();
    assert!(kills >= 1, "no kill was recorded\n{log}");
    assert!(h
        .iter()
        .any(|op| op["f"] == "stop-kill" || op["f"] == "heal"));
    // Ops record the primary that answered them: n1 first, another node after the failover.
    let answered: std::collections::BTreeSet<&str> = h
        .iter()
        .filter(|op| op["type"] == "ok")
        .filter_map(|op| op["node"].as_str())
        .collect();
    assert!(answered.contains("n1"), "{answered:?}");
    assert!(
        answered.len() >= 2,
        "no failover: only {answered:?} answered\n{log}"
    );
    for n in 1..=5 {
        for f in ["redis.log", "sentinel.log"] {
            let p = run.join(format!("n{n}/{f}"));
            assert!(
                std::fs::metadata(&p).map(|m| m.len() > 0).unwrap_or(false),
                "{p:?}"
            );
        }
    }
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert!(
        test["versions"]["redis"].as_str().unwrap().contains("v=7."),
        "{}",
        test["versions"]
    );

    // The cluster is gone.
    assert!(labrys_cluster::load(cluster).unwrap().is_none());
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(
        !ns.contains(&format!("lb-{cluster}-")),
        "namespaces left: {ns}"
    );
    eprintln!("integration run took {:?}", started.elapsed());
}

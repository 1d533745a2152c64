//! A real MariaDB Galera cluster on a fresh local namespace cluster: a short list-append run
//! under kills (every node's server, the bootstrapping first one included, is killed and
//! restarted) must come out valid at the default level (snapshot isolation, which Galera
//! promises between nodes), with many ok transactions, the nemesis ops in the history, every
//! node's server log in the run folder, and no cluster left behind. Marked `#[ignore]`:
//! scripts/test runs it as root with `--ignored`.

use labrys_harness::{run_test, NodeSpec, TestOptions};
use std::process::Command;
use std::time::{Duration, Instant};

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_galera_list_append_with_kills_is_valid() {
    let store = tempfile::Builder::new()
        .prefix("labrys-galera-it")
        .tempdir()
        .unwrap();
    let cluster = "gl-it";
    let _ = labrys_cluster::down(cluster);
    let t0 = Instant::now();
    let o = run_test(
        &TestOptions {
            db: "galera".into(),
            workload: "list-append".into(),
            nemesis: vec!["kill".into()],
            nemesis_interval: Duration::from_secs(5),
            time_limit: Duration::from_secs(20),
            nodes: NodeSpec::Local {
                cluster: cluster.into(),
                count: 3,
            },
            seed: 7,
            rate: 30.0,
            op_timeout: Duration::from_secs(5),
            store_root: store.path().to_path_buf(),
            check_timeout: Some(Duration::from_secs(60)),
            ..TestOptions::default()
        },
        &[std::sync::Arc::new(labrys_galera::GaleraKind)],
    );
    let run = o.run_dir.clone().expect("a run folder");
    let log = std::fs::read_to_string(run.join("labrys.log")).unwrap_or_default();
    if o.exit_code != 0 {
        // Keep the run folder (node logs) for a look.
        let _ = store.keep();
    }
    assert_eq!(o.exit_code, 0, "{o:?}\n{log}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], true, "{results}");
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["isolation"], "repeatable-read");
    assert_eq!(
        test["consistency-models"],
        serde_json::json!(["snapshot-isolation"])
    );
    assert!(
        test["versions"]["galera"]
            .as_str()
            .is_some_and(|v| v.contains("MariaDB") && v.contains("galera-4")),
        "{test}"
    );
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let oks = history
        .lines()
        .filter(|l| l.contains("\"type\":\"ok\"") && l.contains("\"f\":\"txn\""))
        .count();
    assert!(oks >= 150, "only {oks} ok transactions\n{log}");
    assert!(
        history
            .lines()
            .filter(|l| l.contains("start-kill") && l.contains("\"nemesis\""))
            .count()
            >= 4,
        "start-kill invoke and completion, at least twice"
    );
    assert!(history.lines().any(|l| l.contains("stop-kill")));
    for n in 1..=3 {
        let f = run.join(format!("n{n}/galera.log"));
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(text.contains("Synchronized with group"), "{f:?}");
    }
    // Nothing of the cluster is left: no namespace, no recorded cluster.
    assert!(!sh("ip netns list").contains(&format!("lb-{cluster}-")));
    assert!(labrys_cluster::load(cluster).unwrap().is_none());
    eprintln!("integration run took {:.0?}", t0.elapsed());
}

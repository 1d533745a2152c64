//! Bad input ends a test early with exit 3 and a message naming what is wrong, before any
//! cluster is touched (bad names) or as soon as a node cannot be reached.

use labrys_harness::{analyze, run_test, NodeSpec, TestOptions};
use std::time::{Duration, Instant};

/// The databases these tests may name.
fn dbs() -> Vec<std::sync::Arc<dyn labrys_db::DbKind>> {
    vec![std::sync::Arc::new(labrys_etcd::EtcdKind)]
}

#[test]
fn bad_cluster_name_is_an_error_before_anything_runs() {
    let store = tempfile::tempdir().unwrap();
    let o = run_test(
        &TestOptions {
            nodes: NodeSpec::Local {
                cluster: "Not/A Name".into(),
                count: 5,
            },
            store_root: store.path().to_path_buf(),
            ..TestOptions::default()
        },
        &dbs(),
    );
    assert_eq!(o.exit_code, 3);
    assert!(
        o.summary.contains("--cluster") && o.summary.contains("Not/A Name"),
        "{}",
        o.summary
    );
    assert!(o.run_dir.is_none());
    assert_eq!(
        std::fs::read_dir(store.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn unknown_fault_is_an_error_naming_it() {
    let store = tempfile::tempdir().unwrap();
    let o = run_test(
        &TestOptions {
            nemesis: vec!["partition,meteor".into()],
            store_root: store.path().to_path_buf(),
            ..TestOptions::default()
        },
        &dbs(),
    );
    assert_eq!(o.exit_code, 3);
    assert!(o.summary.contains("meteor"), "{}", o.summary);
}

#[test]
fn unreachable_host_is_an_error_naming_the_node_and_records_why() {
    let store = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let o = run_test(
        &TestOptions {
            nodes: NodeSpec::Hosts(vec![("n7".into(), "no-such-host.invalid".into())]),
            time_limit: Duration::from_secs(1),
            store_root: store.path().to_path_buf(),
            ..TestOptions::default()
        },
        &dbs(),
    );
    assert_eq!(o.exit_code, 3, "{o:?}");
    assert!(o.summary.contains("n7"), "{}", o.summary);
    assert!(start.elapsed() < Duration::from_secs(60));
    // The run folder holds what happened; with no op recorded there is no verdict, only the
    // error, and the summary does not blame the empty history.
    let run = o.run_dir.unwrap();
    let log = std::fs::read_to_string(run.join("labrys.log")).unwrap();
    assert!(log.contains("test failed: getting nodes"), "{log}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], "unknown");
    assert!(
        results["error"].as_str().unwrap().contains("n7"),
        "{results}"
    );
    assert!(!o.summary.contains("history"), "{}", o.summary);
}

#[test]
fn analyze_without_runs_is_an_error() {
    let store = tempfile::tempdir().unwrap();
    let o = analyze(None, store.path(), None);
    assert_eq!(o.exit_code, 3);
    assert!(o.summary.contains("no labrys run found"), "{}", o.summary);
}

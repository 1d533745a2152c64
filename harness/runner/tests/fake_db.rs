//! `run_test`'s order of steps, against the in-process fake database: no root, no cluster,
//! no network. The fake records every call the runner makes and serves correct in-memory
//! registers and list-append transactions, so a run must also come out valid.

use labrys_db::fake::FakeKind;
use labrys_db::DbKind;
use labrys_harness::{run_test, NodeSpec, TestOptions};
use std::sync::Arc;
use std::time::Duration;

fn run(workload: &str) -> (labrys_harness::Outcome, Vec<String>, tempfile::TempDir) {
    let store = tempfile::tempdir().unwrap();
    let kind = Arc::new(FakeKind::default());
    let dbs: Vec<Arc<dyn DbKind>> = vec![kind.clone()];
    let o = run_test(
        &TestOptions {
            db: "fake".into(),
            workload: workload.into(),
            nodes: NodeSpec::ThisMachine,
            time_limit: Duration::from_secs(2),
            rate: 100.0,
            seed: 5,
            store_root: store.path().to_path_buf(),
            ..TestOptions::default()
        },
        &dbs,
    );
    (o, kind.db.calls(), store)
}

#[test]
fn a_test_sets_up_runs_heals_reads_tears_down_and_checks_in_that_order() {
    for w in labrys_harness::workload::WORKLOADS {
        let workload = w.name;
        let (o, calls, _store) = run(workload);
        let run_dir = o.run_dir.clone().expect("a run folder");
        let log = std::fs::read_to_string(run_dir.join("labrys.log")).unwrap();
        assert_eq!(o.exit_code, 0, "{workload}: {o:?}\n{log}");
        // Open, reset (wipe), install, start, client; start again after the main phase (the
        // recovery wait before the final reads); wipe at teardown.
        assert_eq!(
            calls,
            vec![
                "open 1".to_string(),
                "wipe n1".into(),
                "install n1".into(),
                "start-all".into(),
                format!("client {workload}"),
                "start-all".into(),
                "wipe n1".into(),
            ],
            "{workload}"
        );
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("results.json")).unwrap()).unwrap();
        assert_eq!(results["valid"], true, "{workload}: {results}");
        let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
        let oks = history
            .lines()
            .filter(|l| l.contains("\"type\":\"ok\""))
            .count();
        assert!(oks > 50, "{workload}: only {oks} ok ops");
        // The fake says which node answered; the runtime records it on the completion.
        assert!(
            history
                .lines()
                .filter(|l| l.contains("\"type\":\"ok\""))
                .all(|l| l.contains("\"node\":\"n1\"")),
            "{workload}"
        );
        let test: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("test.json")).unwrap()).unwrap();
        assert_eq!(test["versions"]["fake"], "fake 1.0", "{test}");
        // The level and its promise are recorded, and the checker held the run to it.
        assert_eq!(test["isolation"], "serializable", "{test}");
        assert_eq!(test["consistency-models"][0], "strict-serializable");
        if workload == "bank" {
            assert_eq!(test["total-amount"], 100);
            assert_eq!(results["stats"]["total"], 100, "{results}");
            assert!(results["stats"]["read_count"].as_u64().unwrap() > 20);
        }
        if matches!(workload, "list-append" | "rw-register") {
            assert_eq!(
                results["stats"]["consistency_models"][0], "strict-serializable",
                "{results}"
            );
        }
        if workload == "set" {
            let ok = results["stats"]["ok_count"].as_u64().unwrap();
            assert!(ok > 50, "{results}");
            assert_eq!(results["stats"]["acknowledged_count"].as_u64(), Some(ok));
            assert_eq!(results["stats"]["lost_count"], 0);
        }
        let stat = |k: &str| results["stats"][k].as_u64().unwrap_or(u64::MAX);
        match workload {
            "counter" => {
                assert!(stat("read_count") > 20, "{results}");
                assert_eq!(stat("error_count"), 0, "{results}");
            }
            "unique-ids" => {
                assert!(stat("acknowledged_count") > 50, "{results}");
                assert_eq!(stat("duplicated_count"), 0, "{results}");
            }
            "queue" => {
                assert!(stat("acknowledged_count") > 20, "{results}");
                assert_eq!(stat("lost_count"), 0, "{results}");
                assert_eq!(results["stats"]["ops"]["drain"]["ok"], 1, "{results}");
            }
            _ => {}
        }
    }
}

#[test]
fn options_the_database_does_not_take_are_refused_before_anything_runs() {
    let store = tempfile::tempdir().unwrap();
    let kind = Arc::new(FakeKind::default());
    let dbs: Vec<Arc<dyn DbKind>> = vec![kind.clone()];
    let base = TestOptions {
        db: "fake".into(),
        nodes: NodeSpec::ThisMachine,
        store_root: store.path().to_path_buf(),
        ..TestOptions::default()
    };
    let o = run_test(
        &TestOptions {
            db_opts: [("reads".to_string(), "sync".to_string())].into(),
            ..base.clone()
        },
        &dbs,
    );
    assert_eq!(o.exit_code, 3);
    assert!(o.summary.contains("fake has no such option"), "{o:?}");
    let o = run_test(
        &TestOptions {
            db: "mongo".into(),
            ..base
        },
        &dbs,
    );
    assert_eq!(o.exit_code, 3);
    assert!(
        o.summary.contains("--db \"mongo\": expected one of fake"),
        "{o:?}"
    );
    assert!(kind.db.calls().is_empty(), "{:?}", kind.db.calls());
    assert_eq!(std::fs::read_dir(store.path()).unwrap().count(), 0);
}

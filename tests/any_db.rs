//! Any database through a test file and a subprocess client (examples/any-db/): etcd
//! described by commands, with a Python client on its JSON gateway. Under partitions it is
//! valid; with reads the database does not promise to be linearizable (`serializable` reads)
//! the stale reads are found. Also: a broken test file is exit 3 naming its place, before
//! anything is touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn labrys(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labrys"))
        .args(args)
        .output()
        .unwrap()
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/any-db")
        .join(name)
        .display()
        .to_string()
}

fn run(config: &str, store: &Path, cluster: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec![
        "test",
        "--config",
        config,
        "--nemesis",
        "partition",
        "--cluster",
        cluster,
        "--store",
        store.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = labrys(&args);
    let results = std::fs::read_to_string(store.join("latest/results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    (o, results)
}

#[test]
fn a_broken_test_file_is_exit_3_naming_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"mine\"\nworkloads = [\"register\"]\ncolour = \"red\"\n[db]\nstart = \"x\"\n[client]\ncommand = \"y\"\n",
    )
    .unwrap();
    let o = labrys(&[
        "test",
        "--config",
        bad.to_str().unwrap(),
        "--store",
        dir.path().join("s").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("{}:3:1: unknown field `colour`", bad.display())),
        "{err}"
    );
    std::fs::write(
        &bad,
        "name = \"mine\"\nworkloads = [\"register\"]\n[db]\nstart = \"x --at {adress}\"\n[client]\ncommand = \"y\"\n",
    )
    .unwrap();
    let o = labrys(&["test", "--config", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("db.start: unknown placeholder {adress}"),
        "{err}"
    );
    // A name the built-in databases use is refused, and so is a --db that disagrees.
    std::fs::write(
        &bad,
        "name = \"etcd\"\nworkloads = [\"register\"]\n[db]\nstart = \"x\"\n[client]\ncommand = \"y\"\n",
    )
    .unwrap();
    let o = labrys(&["test", "--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("built in"));
    let o = labrys(&["test", "--config", &example("etcd.toml"), "--db", "redis"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("disagree"));
}

#[test]
#[ignore = "needs root, namespaces, sshd, etcd and python3: scripts/test runs it as root with --ignored"]
fn integration_any_db_etcd_from_a_test_file_is_valid_under_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let store: PathBuf = dir.path().join("store");
    let (o, results) = run(
        &example("etcd.toml"),
        &store,
        "lbit-anydb",
        &[
            "--time-limit",
            "20",
            "--node-count",
            "3",
            "--nemesis-interval",
            "5",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(results["valid"], true);
    let ok = results["stats"]["ops"]["total"]["ok"].as_u64().unwrap_or(0);
    assert!(ok > 100, "the Python clients did real work: {ok} ok ops");
    let latest = store.join("latest");
    assert!(latest.join("report.html").is_file());
    assert!(
        latest.join("n1/server.log").is_file(),
        "the server's output is kept"
    );
    let clients = std::fs::read_to_string(latest.join("clients.log")).unwrap_or_default();
    assert!(
        clients.contains("client (process 0): process 0: talking to"),
        "the clients' stderr is kept: {clients}"
    );
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["db"], "etcd-any");
    assert!(test["versions"]["etcd-any"]
        .as_str()
        .unwrap_or("")
        .contains("etcd"));
}

#[test]
#[ignore = "needs root, namespaces, sshd, etcd and python3: scripts/test runs it as root with --ignored"]
fn integration_any_db_stale_reads_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let store: PathBuf = dir.path().join("store");
    let (o, results) = run(
        &example("etcd-stale-reads.toml"),
        &store,
        "lbit-anystale",
        &[
            "--time-limit",
            "30",
            "--nemesis-interval",
            "5",
            "--rate",
            "50",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        results["anomaly_types"],
        serde_json::json!(["linearizability"])
    );
}

//! Any database through a test file and a subprocess client (examples/any-db/): etcd
//! described by commands, with a Python client on its JSON gateway. Under partitions it is
//! valid; with reads the database does not promise to be linearizable (`serializable` reads)
//! the stale reads are found. Redis likewise, with a Python client on its text protocol:
//! the queue and counter workloads valid under kills and partitions, replica reads caught.
//! Also: a broken test file is exit 3 naming its place, before anything is touched, and a
//! command that fails on one node is exit 3 naming the node and the command, with the
//! cluster torn down.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn labrys(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labrys"))
        .args(args)
        .output()
        .unwrap()
}

/// Asserts how `labrys` exited, showing everything it printed when it did not.
fn exits(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/any-db")
        .join(name)
        .display()
        .to_string()
}

/// `labrys test --config CONFIG` on its own cluster and store, with `extra` (options separated
/// by spaces; `--nemesis partition` unless they name one).
fn run(config: &str, store: &Path, cluster: &str, extra: &str) -> (Output, serde_json::Value) {
    let extra: Vec<&str> = extra.split_whitespace().collect();
    let mut args = vec!["test", "--config", config];
    if !extra.contains(&"--nemesis") {
        args.extend(["--nemesis", "partition"]);
    }
    args.extend(["--cluster", cluster, "--store", store.to_str().unwrap()]);
    args.extend_from_slice(&extra);
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
        "--time-limit 20 --node-count 3 --nemesis-interval 5",
    );
    exits(&o, 0, "");
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
        "--time-limit 30 --nemesis-interval 5 --rate 50",
    );
    exits(&o, 1, "");
    assert_eq!(
        results["anomaly_types"],
        serde_json::json!(["linearizability"])
    );
}

fn results_of(store: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    // Every run folder once: not through the `latest` links.
    let real = |e: &std::fs::DirEntry| e.file_type().is_ok_and(|t| t.is_dir());
    for test in std::fs::read_dir(store).unwrap().flatten().filter(real) {
        for run in std::fs::read_dir(test.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(real)
        {
            if let Ok(t) = std::fs::read_to_string(run.path().join("results.json")) {
                out.push(serde_json::from_str(&t).unwrap());
            }
        }
    }
    out
}

#[test]
#[ignore = "needs root, namespaces, sshd, redis and python3: scripts/test runs it as root with --ignored"]
fn integration_any_db_redis_queue_and_counter_are_valid_under_kills_and_partitions() {
    for workload in ["queue", "counter"] {
        let dir = tempfile::tempdir().unwrap();
        let store: PathBuf = dir.path().join("store");
        let (o, _) = run(
            &example("redis.toml"),
            &store,
            "lbit-anyredis",
            &format!("--workload {workload} --nemesis partition,kill --time-limit 15 --node-count 3 --nemesis-interval 3 --rate 200"),
        );
        exits(&o, 0, workload);
        let results = results_of(&store);
        assert_eq!(results.len(), 1);
        let r = &results[0];
        assert_eq!(r["valid"], true, "{r}");
        let ops = &r["stats"]["ops"];
        assert!(ops["total"]["ok"].as_u64().unwrap_or(0) > 200, "{r}");
        match workload {
            "queue" => {
                assert_eq!(ops["drain"]["ok"], 1, "the final drain: {r}");
                assert!(
                    r["stats"]["acknowledged_count"].as_u64().unwrap_or(0) > 100,
                    "{r}"
                );
            }
            _ => assert!(r["stats"]["read_count"].as_u64().unwrap_or(0) > 30, "{r}"),
        }
    }
}

#[test]
#[ignore = "needs root, namespaces, sshd, redis and python3: scripts/test runs it as root with --ignored"]
fn integration_any_db_redis_replica_reads_are_caught() {
    // Any partition of three nodes cuts some replica off from the primary (n1), and that
    // replica's workers keep reading what it last had.
    let dir = tempfile::tempdir().unwrap();
    let store: PathBuf = dir.path().join("store");
    let (o, _) = run(
        &example("redis-replica-reads.toml"),
        &store,
        "lbit-anyreplica",
        "--time-limit 15 --node-count 3 --nemesis-interval 3 --rate 200",
    );
    exits(&o, 1, "");
    let results = results_of(&store);
    assert_eq!(
        results[0]["anomaly_types"],
        serde_json::json!(["linearizability"])
    );
}

#[test]
#[ignore = "needs root, namespaces and sshd: scripts/test runs it as root with --ignored"]
fn integration_any_db_a_command_failing_on_one_node_is_exit_3_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let client = dir.path().join("client.py");
    std::fs::write(
        &client,
        "import json, sys\nfor l in sys.stdin:\n    print(json.dumps({'id': json.loads(l)['id'], 'type': 'ok', 'value': 1}), flush=True)\n",
    )
    .unwrap();
    let cases = [
        (
            "install = \"[ {node} != n2 ] || { echo 'no space left on device' >&2; exit 4; }\"\nstart = \"sleep 1000000\"",
            "node n2: db.install `[ n2 != n2 ] || { echo 'no space left on device' >&2; exit 4; }` failed: exit 4: no space left on device",
        ),
        (
            "start = \"sh -c '[ {node} != n3 ] || { echo fatal: bad line 3 >&2; exit 7; }; exec sleep 1000000'\"\nprocess = \"sleep\"",
            "node n3: db.start failed: the server is not running",
        ),
    ];
    for (i, (db, want)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(
            &file,
            format!("name = \"bad{i}\"\nworkloads = [\"unique-ids\"]\n[db]\n{db}\n[client]\ncommand = \"python3 client.py\"\n"),
        )
        .unwrap();
        let store = dir.path().join(format!("store{i}"));
        let cluster = format!("lbit-anybad{i}");
        let (o, _) = run(
            file.to_str().unwrap(),
            &store,
            &cluster,
            "--time-limit 5 --node-count 3",
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(err.contains(want), "wanted {want:?} in:\n{err}");
        let results = results_of(&store);
        assert!(
            results[0]["error"].as_str().unwrap_or("").contains(want),
            "the run folder keeps why: {}",
            results[0]
        );
        if i == 1 {
            assert!(
                err.contains("fatal: bad line 3"),
                "the server's last words: {err}"
            );
        }
        let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&netns.stdout).contains(&cluster),
            "the cluster is torn down"
        );
    }
}

#[test]
#[ignore = "needs root, namespaces, sshd and python3: scripts/test runs it as root with --ignored"]
fn integration_any_db_toykv_a_newcomers_database_is_uploaded_killed_and_its_lost_writes_found() {
    // The template a newcomer copies: a server uploaded from the test file's folder, started
    // by a command line (an assignment before the program, no exec), killed and paused as a
    // process group. Correct, it is valid; acknowledging writes it drops, it is not.
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/any-db/toykv");
    for f in ["server.py", "client.py", "toykv.toml"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let good = dir.path().join("toykv.toml");
    let text = std::fs::read_to_string(&good).unwrap();
    assert!(text.contains("TOYKV_LOSE=0 "), "{text}");
    let lossy = dir.path().join("lossy.toml");
    std::fs::write(&lossy, text.replace("TOYKV_LOSE=0 ", "TOYKV_LOSE=0.2 ")).unwrap();
    for (file, nemesis, want) in [(&good, "kill,pause", 0), (&lossy, "none", 1)] {
        let store = dir.path().join(format!("store{want}"));
        let (o, _) = run(
            file.to_str().unwrap(),
            &store,
            "lbit-anytoy",
            &format!("--nemesis {nemesis} --time-limit 12 --node-count 1 --nemesis-interval 3 --rate 100"),
        );
        exits(&o, want, &file.display().to_string());
        let results = results_of(&store);
        let ok = results[0]["stats"]["ops"]["total"]["ok"]
            .as_u64()
            .unwrap_or(0);
        assert!(ok > 200, "{}", results[0]);
        if want == 1 {
            assert_eq!(
                results[0]["anomaly_types"],
                serde_json::json!(["linearizability"])
            );
        }
    }
    let left = Command::new("sh")
        .args(["-c", "for d in /proc/[0-9]*; do tr '\\000' ' ' <$d/cmdline 2>/dev/null | grep -q '^python3 server.py' && echo $d; done; true"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout),
        "",
        "no server left running"
    );
}

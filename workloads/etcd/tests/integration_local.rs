//! One real etcd member on loopback, driven through `LocalRemote`: start, the register ops,
//! kill (ops fail definitely), restart (data survives), pause (writes become unknown), resume,
//! wipe. Marked `#[ignore]` (it needs the `etcd` binary); scripts/test runs it as root with
//! `--ignored`.

use labrys_control::{LocalRemote, Remote};
use labrys_db::{Primaries, Process};
use labrys_etcd::{Etcd, EtcdAppendClient, EtcdClient, EtcdConfig};
use labrys_gen::{Client, Completion, OpCtx, OpSpec};
use labrys_history::{OpType, Value};
use std::sync::Arc;
use std::time::Duration;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn tuple(k: i64, v: Value) -> Value {
    Value::List(vec![Value::Int(k), v])
}

async fn op(c: &EtcdClient, f: &str, v: Value) -> Completion {
    let ctx = OpCtx {
        process: 0,
        worker: 0,
        node: 0,
    };
    let spec = OpSpec::new(f, v);
    tokio::time::timeout(Duration::from_secs(3), c.invoke(ctx, &spec))
        .await
        .unwrap_or_else(|_| Completion::info("timeout"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
async fn integration_etcd_single_member_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EtcdConfig {
        dir: dir.path().join("etcd").display().to_string(),
        client_port: free_port(),
        peer_port: free_port(),
        ..EtcdConfig::default()
    };
    let node: Arc<dyn Remote> = Arc::new(LocalRemote::new("n1", "127.0.0.1").unwrap());
    let nodes = vec![node.clone()];
    let db = Etcd::for_nodes(cfg, &nodes);
    db.install(node.as_ref()).unwrap();
    assert!(db.version(node.as_ref()).unwrap().contains("etcd Version"));
    db.start_all(&nodes, Duration::from_secs(30)).await.unwrap();
    // Starting twice is harmless.
    db.start(node.as_ref()).unwrap();
    assert_eq!(db.primaries(&nodes), vec!["n1".to_string()]);

    let c = EtcdClient::new(db.client_urls(), "it/").unwrap();
    assert_eq!(
        op(&c, "read", tuple(1, Value::Nil)).await,
        Completion::ok(tuple(1, Value::Nil))
    );
    assert_eq!(
        op(&c, "write", tuple(1, Value::Int(3))).await.kind,
        OpType::Ok
    );
    assert_eq!(
        op(&c, "read", tuple(1, Value::Nil)).await,
        Completion::ok(tuple(1, Value::Int(3)))
    );
    let cas = |o, n| tuple(1, Value::List(vec![Value::Int(o), Value::Int(n)]));
    assert_eq!(op(&c, "cas", cas(3, 4)).await.kind, OpType::Ok);
    assert_eq!(op(&c, "cas", cas(3, 5)).await.kind, OpType::Fail);
    assert_eq!(
        op(&c, "read", tuple(1, Value::Nil)).await,
        Completion::ok(tuple(1, Value::Int(4)))
    );

    // List-append transactions.
    let a = EtcdAppendClient::new(db.client_urls(), "it-append/").unwrap();
    let mop = |f: &str, k: i64, v: Value| Value::List(vec![Value::str(f), Value::Int(k), v]);
    let ctx = OpCtx {
        process: 0,
        worker: 0,
        node: 0,
    };
    let t1 = OpSpec::new(
        "txn",
        Value::List(vec![
            mop("append", 1, Value::Int(1)),
            mop("r", 1, Value::Nil),
        ]),
    );
    let done = a.invoke(ctx, &t1).await;
    assert_eq!(done.kind, OpType::Ok, "{done:?}");
    assert_eq!(
        done.value.unwrap().as_seq().unwrap()[1],
        mop("r", 1, Value::List(vec![Value::Int(1)]))
    );
    let t2 = OpSpec::new("txn", Value::List(vec![mop("append", 1, Value::Int(2))]));
    assert_eq!(a.invoke(ctx, &t2).await.kind, OpType::Ok);
    let t3 = OpSpec::new(
        "txn",
        Value::List(vec![mop("r", 1, Value::Nil), mop("r", 9, Value::Nil)]),
    );
    let done = a.invoke(ctx, &t3).await;
    assert_eq!(
        done.value,
        Some(Value::List(vec![
            mop("r", 1, Value::List(vec![Value::Int(1), Value::Int(2)])),
            mop("r", 9, Value::Nil)
        ]))
    );

    db.kill(node.as_ref()).unwrap();
    assert!(!db.is_running(node.as_ref()).unwrap());
    let w = op(&c, "write", tuple(1, Value::Int(9))).await;
    assert_eq!(
        w.kind,
        OpType::Fail,
        "a refused connection proves the write did not happen: {w:?}"
    );

    db.start_all(&nodes, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        op(&c, "read", tuple(1, Value::Nil)).await,
        Completion::ok(tuple(1, Value::Int(4)))
    );

    db.pause(node.as_ref()).unwrap();
    let w = op(&c, "write", tuple(1, Value::Int(7))).await;
    assert_eq!(
        w.kind,
        OpType::Info,
        "a paused member leaves a write unknown: {w:?}"
    );
    db.resume(node.as_ref()).unwrap();
    db.start_all(&nodes, Duration::from_secs(30)).await.unwrap();
    let r = op(&c, "read", tuple(1, Value::Nil)).await;
    assert!(
        r == Completion::ok(tuple(1, Value::Int(4)))
            || r == Completion::ok(tuple(1, Value::Int(7))),
        "{r:?}"
    );

    let log = dir.path().join("n1-etcd.log");
    // The log the runner keeps from each node (`Db::log_files`) is there to download.
    let files = labrys_db::Db::log_files(&db);
    assert_eq!(files.len(), 1);
    node.download(&files[0].remote, &log).unwrap();
    assert!(std::fs::metadata(&log).unwrap().len() > 0);
    db.wipe(node.as_ref()).unwrap();
    assert!(!db.is_running(node.as_ref()).unwrap());
    assert!(!dir.path().join("etcd").exists());
}

/// A member whose pid file is gone (its harness was killed mid-restart, say) is still found
/// and stopped by `wipe`, paused or not, while an etcd running from another directory is left
/// alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
async fn integration_etcd_wipe_stops_a_member_it_has_no_pid_file_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |sub: &str| EtcdConfig {
        dir: dir.path().join(sub).display().to_string(),
        client_port: free_port(),
        peer_port: free_port(),
        ..EtcdConfig::default()
    };
    let node: Arc<dyn Remote> = Arc::new(LocalRemote::new("n1", "127.0.0.1").unwrap());
    let nodes = vec![node.clone()];
    let (mine, other) = (
        Etcd::for_nodes(cfg("mine"), &nodes),
        Etcd::for_nodes(cfg("other"), &nodes),
    );
    mine.install(node.as_ref()).unwrap();
    mine.start_all(&nodes, Duration::from_secs(30))
        .await
        .unwrap();
    other
        .start_all(&nodes, Duration::from_secs(30))
        .await
        .unwrap();
    let pid_file = dir.path().join("mine/etcd.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    mine.pause(node.as_ref()).unwrap();
    std::fs::remove_file(&pid_file).unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    assert_eq!(
        mine.wipe(node.as_ref()).unwrap(),
        1,
        "the orphan is stopped"
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "etcd {pid} survived wipe: {status}"
    );
    assert!(!dir.path().join("mine").exists());
    assert!(
        other.is_running(node.as_ref()).unwrap(),
        "an etcd from another directory is not this member"
    );
    assert_eq!(other.wipe(node.as_ref()).unwrap(), 0);
}

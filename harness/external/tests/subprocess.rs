//! The subprocess client against real subprocesses (POSIX sh scripts, so no interpreter is
//! needed): well-behaved answers, and every way a client can misbehave, each of which must end
//! as `info` (or `fail` when nothing could start), never as someone else's answer.

use labrys_external::{ClientCommand, NodeEnv, SubprocessClient};
use labrys_gen::{Client, OpCtx, OpSpec};
use labrys_history::{OpType, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A client from a shell script's body; `$line` holds each request, `$id` its id.
fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "while IFS= read -r line; do\n  id=$(printf '%s' \"$line\" | sed 's/.*\"id\":\\([0-9]*\\).*/\\1/')\n{body}\ndone\n"
        ),
    )
    .unwrap();
    format!("sh {}", path.display())
}

fn client(cmd: String) -> (SubprocessClient, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let c = SubprocessClient::new(
        ClientCommand {
            command: cmd,
            dir: None,
            env: vec![("EXTRA".into(), "yes".into())],
        },
        vec![
            NodeEnv {
                name: "n1".into(),
                host: "10.0.0.1".into(),
            },
            NodeEnv {
                name: "n2".into(),
                host: "10.0.0.2".into(),
            },
        ],
        Arc::new(move |s: &str| l.lock().unwrap().push(s.to_string())),
    );
    (c, log)
}

fn ctx(process: i64, worker: usize) -> OpCtx {
    OpCtx {
        process,
        worker,
        node: worker % 2,
    }
}

fn op(f: &str, v: Value) -> OpSpec {
    OpSpec::new(f, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_matched_to_their_ops_and_the_environment_names_the_node() {
    let dir = tempfile::tempdir().unwrap();
    // Replies ok with the node it was told about and the extra variable, on stderr a note.
    let cmd = script(
        dir.path(),
        "echo.sh",
        r#"  echo "got $id" >&2
  printf '{"id":%s,"type":"ok","value":"%s %s %s %s"}\n' "$id" "$LABRYS_NODE" "$LABRYS_NODE_HOST" "$LABRYS_PROCESS" "$EXTRA""#,
    );
    let (c, log) = client(cmd);
    for k in 0..3 {
        let done = c.invoke(ctx(7, 1), &op("read", Value::Nil)).await;
        assert_eq!(done.kind, OpType::Ok, "{done:?}");
        assert_eq!(done.value, Some(Value::Str("n2 10.0.0.2 7 yes".into())));
        let _ = k;
    }
    assert_eq!(c.spawned(), 1, "one subprocess serves a process's ops");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains(&"client (process 7): got 0".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"client (process 7): got 2".to_string()),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_and_info_carry_the_clients_error() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "failing.sh",
        r#"  case "$line" in
    *'"f":"cas"'*) printf '{"id":%s,"type":"fail","error":"mismatch"}\n' "$id" ;;
    *) printf '{"id":%s,"type":"info","error":"timed out","node":"n1"}\n' "$id" ;;
  esac"#,
    );
    let (c, _) = client(cmd);
    let d = c
        .invoke(
            ctx(0, 0),
            &op("cas", Value::List(vec![Value::Int(1), Value::Int(2)])),
        )
        .await;
    assert_eq!(
        (d.kind, d.error.as_deref()),
        (OpType::Fail, Some("mismatch"))
    );
    let d = c.invoke(ctx(0, 0), &op("write", Value::Int(3))).await;
    assert_eq!(d.kind, OpType::Info);
    assert_eq!(d.error.as_deref(), Some("timed out"));
    assert_eq!(d.node.as_deref(), Some("n1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_a_wrong_id_or_an_exit_are_info_and_the_next_process_gets_a_fresh_client() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body, why) in [
        ("garbage.sh", r#"  echo "hello there""#, "not JSON"),
        (
            "wrong-id.sh",
            r#"  printf '{"id":%s,"type":"ok"}\n' "$((id + 5))""#,
            "answered id 5 but was asked id 0",
        ),
        ("exits.sh", "  exit 0", "exited"),
    ] {
        let (c, log) = client(script(dir.path(), name, body));
        let d = c.invoke(ctx(0, 0), &op("read", Value::Nil)).await;
        assert_eq!(d.kind, OpType::Info, "{name}: {d:?}");
        assert!(
            d.error.as_deref().unwrap_or("").contains(why),
            "{name}: {d:?}"
        );
        if why != "exited" {
            assert!(
                log.lock()
                    .unwrap()
                    .iter()
                    .any(|l| l.contains("replacing it")),
                "{name}: the log says what the client did"
            );
        }
        // The runtime retires process 0 after an info; process 2 runs on the same worker.
        let _ = c.invoke(ctx(2, 0), &op("read", Value::Nil)).await;
        assert_eq!(
            c.spawned(),
            2,
            "{name}: a fresh subprocess for the new process"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_client_is_cut_off_by_the_timeout_and_its_late_reply_never_lands() {
    let dir = tempfile::tempdir().unwrap();
    // The first request hangs for 2 s and then answers; later ones answer at once.
    let marker = dir.path().join("hung-once");
    let cmd = script(
        dir.path(),
        "hang.sh",
        &format!(
            r#"  if [ ! -e {m} ]; then touch {m}; sleep 2; fi
  printf '{{"id":%s,"type":"ok","value":"p%s"}}\n' "$id" "$LABRYS_PROCESS""#,
            m = marker.display()
        ),
    );
    let (c, _) = client(cmd);
    let first = tokio::time::timeout(
        Duration::from_millis(300),
        c.invoke(ctx(0, 0), &op("read", Value::Nil)),
    )
    .await;
    assert!(
        first.is_err(),
        "the runtime's timeout ends it (recorded as info)"
    );
    let d = c.invoke(ctx(10, 0), &op("read", Value::Nil)).await;
    assert_eq!(d.value, Some(Value::Str("p10".into())), "{d:?}");
    assert_eq!(c.spawned(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_program_is_info_and_a_client_that_cannot_start_is_fail() {
    let (c, _) = client("exec /no/such/client".into());
    let d = c.invoke(ctx(0, 0), &op("read", Value::Nil)).await;
    // sh starts and was sent the op before its exec failed: labrys cannot know the op went
    // nowhere, so it is info.
    // Whether it died before or after reading the request is a race; info either way.
    assert_eq!(d.kind, OpType::Info, "{d:?}");
    let e = d.error.as_deref().unwrap_or("");
    assert!(
        e.contains("exited") || e.contains("no longer reads"),
        "{d:?}"
    );
    // No process at all (its working directory is missing): nothing was sent, so fail.
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let c = SubprocessClient::new(
        ClientCommand {
            command: "cat".into(),
            dir: Some("/no/such/dir".into()),
            env: vec![],
        },
        vec![],
        Arc::new(move |s: &str| l.lock().unwrap().push(s.to_string())),
    );
    let d = c.invoke(ctx(0, 0), &op("read", Value::Nil)).await;
    assert_eq!(d.kind, OpType::Fail, "{d:?}");
    assert!(d
        .error
        .as_deref()
        .unwrap_or("")
        .contains("cannot start the client `cat`"));
    assert_eq!(log.lock().unwrap().len(), 1, "and the run log says so");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_client_dies_with_everything_it_started() {
    // `sh -c` forks the client rather than exec it: killing the shell alone would leave this
    // script sleeping. Its pid is written down, and it must be gone once it is replaced.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let cmd = script(
        dir.path(),
        "stuck.sh",
        &format!(
            r#"  if [ ! -e {p} ]; then echo $$ > {p}; sleep 30; fi
  printf '{{"id":%s,"type":"ok","value":"p%s"}}\n' "$id" "$LABRYS_PROCESS""#,
            p = pidfile.display()
        ),
    );
    let (c, _) = client(cmd);
    let first = tokio::time::timeout(
        Duration::from_millis(500),
        c.invoke(ctx(0, 0), &op("read", Value::Nil)),
    )
    .await;
    assert!(first.is_err(), "stuck");
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    let alive = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    };
    assert!(alive(&pid), "the client runs while its op is pending");
    let d = c.invoke(ctx(10, 0), &op("read", Value::Nil)).await;
    assert_eq!(d.value, Some(Value::Str("p10".into())), "{d:?}");
    let t = std::time::Instant::now();
    while alive(&pid) && t.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(&pid), "the replaced client {pid} was killed");
}

//! The recorder's promise: an op acknowledged by `append` is in `history.jsonl`, whatever
//! happens to the process afterwards. One test forgets the recorder without closing it; the
//! other SIGKILLs a child process in the middle of a burst of appends.

use labrys_history::{Op, OpType, Value};
use labrys_store::{read_history, Recorder};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "LABRYS_STORE_KILL_CHILD";

fn op_for(i: u64) -> Op {
    let p = (i / 2) as i64 % 7;
    let kind = if i.is_multiple_of(2) {
        OpType::Invoke
    } else {
        OpType::Ok
    };
    let mut op = Op::new(
        0,
        kind,
        p,
        "write",
        Value::List(vec![Value::Int(p), Value::Int(i as i64)]),
    );
    op.time = Some(i as i64 * 1000);
    op
}

/// Every op `expected` holds is in the file at its index, unchanged.
fn assert_all_there(path: &std::path::Path, acked: u64) {
    let (h, _) = read_history(path).unwrap();
    assert!(
        h.ops.len() as u64 >= acked,
        "{} ops in file, {acked} acknowledged",
        h.ops.len()
    );
    for i in 0..acked {
        let got = &h.ops[i as usize];
        let want = op_for(i);
        assert_eq!(got.index, i);
        assert_eq!(
            (got.kind, &got.process, &got.value),
            (want.kind, &want.process, &want.value)
        );
    }
}

#[test]
fn recorder_dropped_without_close_keeps_every_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let r = Recorder::create(&path).unwrap();
    for i in 0..1000 {
        r.append(op_for(i)).unwrap();
    }
    std::mem::forget(r);
    assert_all_there(&path, 1000);
}

/// Runs only as the child of `recorder_survives_sigkill`: appends ops and acknowledges each
/// on stdout once `append` returned, until killed (or a bounded number of ops).
#[test]
fn kill_child_helper() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let r = Recorder::create(std::path::Path::new(&path)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..2_000_000 {
        r.append(op_for(i)).unwrap();
        writeln!(out, "ACK {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn recorder_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = 0u64;
    // Kill it in the middle of its burst, after a few thousand acknowledged ops.
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(i) = line.strip_prefix("ACK ") {
            acked = i.parse::<u64>().unwrap() + 1;
            if acked == 3000 {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
    }
    // Acknowledgements already in the pipe count too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(i) = line.strip_prefix("ACK ") {
            acked = i.parse::<u64>().unwrap() + 1;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child should have died of SIGKILL");
    assert!(acked >= 3000, "child acknowledged only {acked} ops");
    assert_all_there(&path, acked);
}

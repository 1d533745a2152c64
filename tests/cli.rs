//! The `labrys check` contract, end to end through the binary: exit codes, error messages that
//! name file:line:col, the JSON shape, and the verdicts on the shipped example histories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn labrys(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labrys"))
        .args(args)
        .output()
        .expect("run labrys")
}

fn tmp(name: &str, content: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("labrys-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/histories")
        .join(name)
        .display()
        .to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn malformed_inputs_exit_3_naming_file_line_and_column() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("truncated.edn", b"[{:type :invoke :process 0 :f :read}\n {:type :ok :process 0", "truncated.edn:2:"),
        ("badbracket.edn", b"{:type :invoke :process 0 :value [1 2}\n", "badbracket.edn:1:38:"),
        ("notype.jsonl", b"{\"process\":0,\"f\":\"read\"}\n", "notype.jsonl:1:"),
        ("orphan.jsonl", b"{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":1,\"f\":\"read\"}\n", "orphan.jsonl:2:"),
        ("empty.edn", b"", "empty.edn:1:1:"),
        ("garbage.bin", &[0xff, 0x00, 0x13, 0x37, 0xfe, b'{', 0x80], "garbage.bin:1:"),
        ("badjson.jsonl", b"{\"type\":\"invoke\",\"process\":0,\n\"value\":[1,2,}\n", "badjson.jsonl:2:"),
    ];
    for (name, content, want) in cases {
        let p = tmp(name, content);
        let o = labrys(&["check", p.to_str().unwrap(), "--workload", "cas-register"]);
        assert_eq!(o.status.code(), Some(3), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{name}: wanted {want:?} in {:?}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{name} panicked");
    }
}

#[test]
fn deep_nesting_and_huge_integers_do_not_crash() {
    let deep = format!(
        "{{:type :invoke :process 0 :f :read :value {}}}",
        "[".repeat(100_000)
    );
    let p = tmp("deep.edn", deep.as_bytes());
    let o = labrys(&["check", p.to_str().unwrap(), "--workload", "register"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("nesting deeper"), "{}", stderr(&o));
}

#[test]
fn bad_usage_exits_3() {
    assert_eq!(labrys(&["check"]).status.code(), Some(3));
    let o = labrys(&[
        "check",
        &example("cas-register-valid.jsonl"),
        "--workload",
        "no-such-workload",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("possible values"), "{}", stderr(&o));
    let o = labrys(&[
        "check",
        &example("cas-register-valid.jsonl"),
        "-w",
        "register",
        "--initial",
        "{not json or edn",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = labrys(&["check", "/no/such/file.edn", "-w", "register"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("/no/such/file.edn"), "{}", stderr(&o));
}

#[test]
fn json_output_is_one_object_per_file_even_for_errors() {
    let bad = tmp("bad-for-json.edn", b"{:type :ok :process 0 :f :read}\n");
    let o = labrys(&[
        "check",
        bad.to_str().unwrap(),
        bad.to_str().unwrap(),
        "-w",
        "register",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["error"]
        .as_str()
        .unwrap()
        .contains("bad-for-json.edn:1:"));
}

#[test]
fn the_same_history_reads_the_same_from_json_and_edn() {
    for w in ["cas-register-valid", "cas-register-stale-read"] {
        let a = labrys(&[
            "check",
            &example(&format!("{w}.jsonl")),
            "-w",
            "cas-register",
            "--lint",
            "--json",
        ]);
        let b = labrys(&[
            "check",
            &example(&format!("{w}.edn")),
            "-w",
            "cas-register",
            "--lint",
            "--json",
        ]);
        let (ja, jb): (serde_json::Value, serde_json::Value) = (
            serde_json::from_slice(&a.stdout).unwrap(),
            serde_json::from_slice(&b.stdout).unwrap(),
        );
        assert_eq!(ja["stats"]["ops"], jb["stats"]["ops"], "{w}");
        assert_eq!(ja["warnings"], jb["warnings"], "{w}");
    }
}

#[test]
fn lint_flags_a_failed_write_that_was_read() {
    let h = b"{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":7}
{\"type\":\"fail\",\"process\":0,\"f\":\"write\",\"value\":7}
{\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"value\":null}
{\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":7}
";
    let p = tmp("failread.jsonl", h);
    let o = labrys(&["check", p.to_str().unwrap(), "-w", "register", "--lint"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("[fail-then-read] line 4"), "{out}");
    assert!(out.contains("certainly did not happen"), "{out}");
    let clean = labrys(&[
        "check",
        &example("cas-register-valid.jsonl"),
        "-w",
        "cas-register",
        "--lint",
    ]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
}

#[test]
fn shipped_examples_get_their_verdicts_with_a_readable_counterexample() {
    for ext in ["jsonl", "edn"] {
        let valid = labrys(&[
            "check",
            &example(&format!("cas-register-valid.{ext}")),
            "-w",
            "cas-register",
        ]);
        assert_eq!(
            valid.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&valid.stdout)
        );
        let stale = labrys(&[
            "check",
            &example(&format!("cas-register-stale-read.{ext}")),
            "-w",
            "cas-register",
        ]);
        let out = String::from_utf8_lossy(&stale.stdout);
        assert_eq!(stale.status.code(), Some(1), "{out}");
        assert!(
            out.contains("INVALID") && out.contains("linearizability"),
            "{out}"
        );
        // The planted anomaly: after write(1001) and write(1002) completed, a read saw 1001.
        assert!(out.contains("1001") && out.contains("1002"), "{out}");
    }
}

#[test]
fn unique_valued_examples_are_decided_by_the_fast_check_and_explained() {
    let valid = labrys(&[
        "check",
        &example("unique-cas-register-valid.jsonl"),
        "-w",
        "cas-register",
        "--json",
    ]);
    assert_eq!(valid.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&valid.stdout).unwrap();
    assert_eq!(j["stats"]["linearizability"]["decided_by"], "fast check");
    let stale = labrys(&[
        "check",
        &example("unique-cas-register-stale-read.jsonl"),
        "-w",
        "cas-register",
    ]);
    let out = String::from_utf8_lossy(&stale.stdout);
    assert_eq!(stale.status.code(), Some(1), "{out}");
    // The core is the planted anomaly: write 1001, write 1002, then a read of 1001.
    assert!(out.contains("These 3 operations alone"), "{out}");
    assert!(
        out.contains("no order can place process 35 `read → 1001` (invoked at line 165"),
        "{out}"
    );
    assert!(out.contains("uninterrupted run"), "{out}");
}

/// A set that lost an acknowledged add: decided without search, with the two ops that show
/// it (the add, and a later read without its value) as the counterexample.
#[test]
fn set_example_with_a_lost_add() {
    let r = labrys(&[
        "check",
        &example("set-lost-add.jsonl"),
        "-w",
        "linearizable-set",
        "--json",
    ]);
    assert_eq!(r.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(j["stats"]["linearizability"]["decided_by"], "fast check");
    let a = &j["anomalies"]["linearizability"];
    let a = if a.is_array() { &a[0] } else { a };
    assert_eq!(a["window"].as_array().map(Vec::len), Some(2), "{a}");
    let why = a["why"].as_str().unwrap_or_default();
    assert!(
        why.contains("`add 3`") && why.contains("does not contain 3"),
        "{why}"
    );
}

/// JSON integers of 2^64 and above are exact: a read of 2^64 + 1 after a write of 2^64 is a
/// stale read, not a read of the value written.
#[test]
fn integers_beyond_64_bits_stay_distinct() {
    let history = |written: &str, read: &str| {
        format!(
            "{{\"index\":0,\"time\":1,\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":{written}}}\n\
             {{\"index\":1,\"time\":2,\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":{written}}}\n\
             {{\"index\":2,\"time\":3,\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"value\":null}}\n\
             {{\"index\":3,\"time\":4,\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":{read}}}\n"
        )
    };
    let cases = [
        ("18446744073709551616", "18446744073709551617", 1),
        ("18446744073709551616", "18446744073709551616", 0),
        ("-18446744073709551616", "-18446744073709551617", 1),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567891",
            1,
        ),
        ("1", "1.0", 1),
        ("0.5", "0.50", 0),
    ];
    for (i, (w, r, want)) in cases.into_iter().enumerate() {
        let p = tmp(&format!("big-{i}.jsonl"), history(w, r).as_bytes());
        for workload in ["cas-register", "register"] {
            let o = labrys(&["check", p.to_str().unwrap(), "-w", workload]);
            assert_eq!(
                o.status.code(),
                Some(want),
                "write {w}, read {r} as {workload}: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
    // A float that no 64-bit float holds is an error at its place, not a rounded value.
    let p = tmp(
        "lossy.jsonl",
        history("1", "0.1000000000000000000001").as_bytes(),
    );
    let o = labrys(&["check", p.to_str().unwrap(), "-w", "register"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("lossy.jsonl:4:64: found 0.1000000000000000000001"),
        "{}",
        stderr(&o)
    );
}

/// A record too large for `--memory-limit` stops reading with `unknown` (exit 2) naming the
/// file and line, instead of being read whatever it costs; the default limit reads it.
#[test]
fn reading_is_bounded_by_the_memory_limit() {
    let list = vec!["7"; 1_500_000].join(",");
    let text = format!(
        "{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}}\n{{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":[{list}]}}\n"
    );
    let p = tmp("huge-record.jsonl", text.as_bytes());
    let path = p.to_str().unwrap();
    let o = labrys(&["check", path, "-w", "register", "--memory-limit", "1M"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out} {}", stderr(&o));
    assert!(
        out.contains("UNKNOWN") && out.contains("huge-record.jsonl:2:1: this record had taken"),
        "{out}"
    );
    assert!(out.contains("--memory-limit"), "{out}");
    let o = labrys(&[
        "check",
        path,
        "-w",
        "register",
        "--memory-limit",
        "1M",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["valid"], "unknown");
    assert!(j["unknown_reason"]
        .as_str()
        .unwrap()
        .contains("huge-record.jsonl:2:1:"));
    // Many small records pass the limit as a whole, at the record where they do.
    let many: String = (0..50_000)
        .map(|i| format!("{{\"type\":\"invoke\",\"process\":{i},\"f\":\"read\",\"value\":null}}\n"))
        .collect();
    let p2 = tmp("many-records.jsonl", many.as_bytes());
    let o = labrys(&[
        "check",
        p2.to_str().unwrap(),
        "-w",
        "register",
        "--memory-limit",
        "2M",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("needs more than the memory limit of 2.0 MiB"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Without the flag, the default limit (half of physical memory) reads both.
    for p in [path, p2.to_str().unwrap()] {
        let o = labrys(&["check", p, "-w", "register"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

#[test]
fn client_records_without_a_process_or_f_are_errors_at_the_record_at_fault() {
    let p = tmp(
        "noprocess.jsonl",
        b"{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n{\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
    );
    let o = labrys(&["check", p.to_str().unwrap(), "-w", "register", "--lint"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("noprocess.jsonl:2:1: op has no process; expected a process"),
        "{}",
        stderr(&o)
    );
    let p = tmp(
        "nof.jsonl",
        b"{\"type\":\"invoke\",\"process\":0,\"value\":1}\n{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n",
    );
    let o = labrys(&["check", p.to_str().unwrap(), "-w", "register"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("nof.jsonl:1:1: the invoke of process 0 has no f"),
        "{}",
        stderr(&o)
    );
}

/// No client operations: the same answer for every workload (valid, with a warning); `--lint`
/// flags it.
#[test]
fn nothing_to_check_is_one_answer_for_every_workload() {
    let empty = tmp("nothing.json", b"[]\n");
    let nemesis = tmp(
        "nemesis-only.jsonl",
        b"{\"type\":\"invoke\",\"process\":\"nemesis\",\"f\":\"start\",\"value\":null}\n{\"type\":\"info\",\"process\":\"nemesis\",\"f\":\"start\",\"value\":null}\n",
    );
    let workloads = [
        "register",
        "cas-register",
        "list-append",
        "rw-register",
        "set",
        "set-full",
        "bank",
        "counter",
        "long-fork",
        "unique-ids",
        "total-queue",
        "kv",
    ];
    for p in [&empty, &nemesis] {
        for w in workloads {
            let o = labrys(&["check", p.to_str().unwrap(), "-w", w]);
            let out = String::from_utf8_lossy(&o.stdout);
            assert_eq!(o.status.code(), Some(0), "{w}: {out}");
            assert!(
                out.contains("VALID") && out.contains("no client operations to check"),
                "{w}: {out}"
            );
            let o = labrys(&["check", p.to_str().unwrap(), "-w", w, "--lint"]);
            assert_eq!(o.status.code(), Some(1), "{w}");
        }
    }
}

/// A history checked as the wrong workload is an error naming the record, both ways round.
#[test]
fn a_history_of_another_workload_is_an_error() {
    let o = labrys(&[
        "check",
        &example("cas-register-valid.jsonl"),
        "-w",
        "list-append",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("cas-register-valid.jsonl:1:1: found f")
            && stderr(&o).contains("workload list-append expects f txn"),
        "{}",
        stderr(&o)
    );
    let txns = tmp(
        "txns.edn",
        b"{:type :invoke :process 0 :f :txn :value [[:append 1 2]]}\n{:type :ok :process 0 :f :txn :value [[:append 1 2]]}\n",
    );
    for w in ["cas-register", "set", "counter", "bank", "rw-register"] {
        let o = labrys(&["check", txns.to_str().unwrap(), "-w", w]);
        assert_eq!(o.status.code(), Some(3), "{w}");
        assert!(
            stderr(&o).contains("txns.edn:1:1: found"),
            "{w}: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains(&format!("workload {w} expects")),
            "{w}: {}",
            stderr(&o)
        );
    }
}

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

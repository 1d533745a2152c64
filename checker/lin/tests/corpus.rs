//! Every history of `../shared/data/corpus.json` in this crate's workloads must get the
//! verdict its source project asserts.

use labrys_history::{read_file, CheckOptions, Format, Validity, Value};
use std::path::{Path, PathBuf};

const WORKLOADS: &[&str] = &["cas-register", "kv", "mutex", "multi-register", "register"];

fn data_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    d.join("corpus.json").exists().then_some(d)
}

fn options(args: &[serde_json::Value]) -> CheckOptions {
    let mut o = CheckOptions::default();
    let args: Vec<&str> = args.iter().filter_map(|a| a.as_str()).collect();
    for w in args.windows(2) {
        if w[0] == "--initial" {
            let j: serde_json::Value =
                serde_json::from_str(w[1]).unwrap_or(serde_json::Value::String(w[1].into()));
            o.initial = Some(Value::from_json(&j));
        }
    }
    o
}

#[test]
fn corpus_verdicts_match_their_sources() {
    let Some(dir) = data_dir() else {
        eprintln!("SKIPPED: ../shared/data not found");
        return;
    };
    let corpus: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("corpus.json")).expect("read corpus.json"),
    )
    .expect("corpus.json is JSON");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for e in corpus.as_array().expect("an array") {
        let workload = e["workload"].as_str().unwrap_or("");
        if !WORKLOADS.contains(&workload) {
            continue;
        }
        let Some(expected) = e["valid"].as_bool() else {
            continue;
        };
        let file = dir.join(e["file"].as_str().expect("file"));
        let opts = options(e["args"].as_array().map(Vec::as_slice).unwrap_or(&[]));
        let h = read_file(&file, Format::Auto)
            .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        let t = std::time::Instant::now();
        let r = labrys_lin::check(workload, &h, &opts).unwrap_or_else(|err| panic!("{err}"));
        if t.elapsed().as_millis() > 500 {
            eprintln!(
                "slow: {} took {:?}: {}",
                e["file"],
                t.elapsed(),
                r.stats["linearizability"]
            );
        }
        checked += 1;
        let want = if expected {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        if r.valid != want {
            wrong.push(format!(
                "{}: expected {want:?}, got {:?} {:?}",
                e["file"], r.valid, r.unknown_reason
            ));
        }
        if r.valid == Validity::Invalid {
            assert!(
                r.anomalies.contains_key("linearizability"),
                "{}: no counterexample",
                e["file"]
            );
        }
    }
    eprintln!(
        "corpus: {checked} histories checked, {} disagree",
        wrong.len()
    );
    assert!(checked >= 200, "only {checked} corpus histories found");
    assert!(
        wrong.is_empty(),
        "{} of {checked} verdicts disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

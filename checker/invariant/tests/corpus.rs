//! The corpus: real histories from elle-cli with the verdicts elle-cli's own test script
//! asserts, for every workload this crate checks. Every entry must match.

use labrys_history::{read_file, CheckOptions, Format, Validity};
use std::path::{Path, PathBuf};

fn data_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    d.join("corpus.json").exists().then_some(d)
}

fn options(args: &[String]) -> CheckOptions {
    let mut o = CheckOptions::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--group-size" => o.group_size = it.next().and_then(|v| v.parse().ok()),
            "--total-amount" => o.total_amount = it.next().and_then(|v| v.parse().ok()),
            "--allow-negative-balances" => o.allow_negative_balances = true,
            "--linearizable" => o.linearizable = true,
            other => panic!("corpus argument {other:?} is not understood by this test"),
        }
    }
    o
}

#[test]
fn corpus_verdicts_match_their_sources() {
    let Some(dir) = data_dir() else {
        eprintln!("SKIPPED: ../shared/data not found; the corpus test did not run");
        return;
    };
    let corpus: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap()).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for e in corpus.as_array().unwrap() {
        let workload = e["workload"].as_str().unwrap();
        if !labrys_invariant::WORKLOADS.contains(&workload) {
            continue;
        }
        let file = e["file"].as_str().unwrap();
        let Some(expected) = e["valid"].as_bool() else {
            continue;
        };
        let args: Vec<String> = e["args"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        checked += 1;
        let h = match read_file(&dir.join(file), Format::Auto) {
            Ok(h) => h,
            Err(err) => {
                failures.push(format!("{file}: cannot read: {err}"));
                continue;
            }
        };
        let r = match labrys_invariant::check(workload, &h, &options(&args)) {
            Ok(r) => r,
            Err(err) => {
                failures.push(format!("{file}: error: {err}"));
                continue;
            }
        };
        let want = if expected {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        if r.valid != want {
            failures.push(format!(
                "{file} ({workload}): expected {want:?}, got {:?} {:?} {:?}",
                r.valid, r.anomaly_types, r.unknown_reason
            ));
        }
        if let Some(types) = e["anomaly_types"].as_array() {
            let found = types.iter().any(|t| {
                r.anomaly_types
                    .iter()
                    .any(|a| Some(a.as_str()) == t.as_str())
            });
            if !found {
                failures.push(format!(
                    "{file}: expected one of {types:?}, got {:?}",
                    r.anomaly_types
                ));
            }
        }
    }
    eprintln!(
        "corpus: {} of {checked} entries match",
        checked - failures.len()
    );
    assert!(
        checked >= 11,
        "expected at least 11 corpus entries for these workloads, found {checked}"
    );
    assert!(
        failures.is_empty(),
        "corpus disagreements:\n{}",
        failures.join("\n")
    );
}

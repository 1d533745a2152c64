//! The Elle and elle-cli list-append / rw-register histories in `../shared/data`, with the
//! verdicts, anomaly types and model boundaries their sources assert.

use labrys_history::{read_file, CheckOptions, Format, Validity};
use std::path::{Path, PathBuf};

fn data_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    d.join("corpus.json").exists().then_some(d)
}

fn strings(e: &serde_json::Value, field: &str) -> Vec<String> {
    e.get(field)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn corpus_verdicts_match() {
    let Some(dir) = data_dir() else {
        eprintln!("SKIPPED: ../shared/data not found");
        return;
    };
    let corpus: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in &corpus {
        let workload = e["workload"].as_str().unwrap();
        if workload != "list-append" && workload != "rw-register" {
            continue;
        }
        let file = e["file"].as_str().unwrap();
        let args = strings(e, "args");
        let mut opts = CheckOptions::default();
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--consistency-models" && i + 1 < args.len() {
                opts.consistency_models.push(args[i + 1].clone());
                i += 1;
            }
            i += 1;
        }
        let h = match read_file(&dir.join(file), Format::Auto) {
            Ok(h) => h,
            Err(err) => {
                failures.push(format!("{file}: read error {err}"));
                continue;
            }
        };
        let r = match labrys_txn::check(workload, &h, &opts) {
            Ok(r) => r,
            Err(err) => {
                failures.push(format!("{file}: check error {err}"));
                continue;
            }
        };
        checked += 1;
        eprintln!(
            "{file}: valid={:?} anomalies={:?} not={:?} stats={}",
            r.valid,
            r.anomaly_types,
            r.not,
            serde_json::Value::Object(r.stats.clone())
        );
        if r.stats
            .get("inconclusive_classes")
            .and_then(|v| v.as_array())
            .is_some_and(|a| !a.is_empty())
        {
            failures.push(format!(
                "{file}: classification incomplete: {}",
                r.stats["inconclusive_classes"]
            ));
        }
        let want = if e["valid"].as_bool().unwrap() {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        if r.valid != want {
            failures.push(format!("{file}: valid {:?}, expected {want:?}", r.valid));
        }
        let types = strings(e, "anomaly_types");
        if !types.is_empty() && !types.iter().any(|t| r.anomaly_types.contains(t)) {
            failures.push(format!(
                "{file}: none of {types:?} in {:?}",
                r.anomaly_types
            ));
        }
        for m in strings(e, "not_includes") {
            if !r.not.contains(&m) {
                failures.push(format!("{file}: {m} not ruled out ({:?})", r.not));
            }
        }
        for m in strings(e, "allows") {
            if r.not.contains(&m) {
                failures.push(format!("{file}: {m} ruled out but must be allowed"));
            }
        }
    }
    eprintln!("corpus: {checked} list-append/rw-register histories checked");
    assert!(
        checked > 0,
        "no list-append/rw-register entries in corpus.json"
    );
    assert!(
        failures.is_empty(),
        "corpus disagreements:\n{}",
        failures.join("\n")
    );
}

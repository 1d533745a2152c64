//! Every history in `../shared/data/corpus.json` must parse and pair, in whatever format its
//! source project wrote it. Skips loudly when the corpus is not beside the checkout.

use labrys_history::{read_file, Format};
use std::path::PathBuf;

fn data_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if d.join("corpus.json").exists() {
        Some(d)
    } else {
        eprintln!(
            "SKIPPED: ../shared/data not found beside the checkout; the corpus was not parsed"
        );
        None
    }
}

#[test]
fn every_corpus_history_parses_and_pairs() {
    let Some(dir) = data_dir() else { return };
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap()).unwrap();
    let entries = manifest.as_array().unwrap();
    assert_eq!(entries.len(), 259, "the corpus manifest changed size");
    let mut failures = Vec::new();
    let mut ops = 0;
    for e in entries {
        let file = e["file"].as_str().unwrap();
        match read_file(&dir.join(file), Format::Auto) {
            Ok(h) => {
                // One Knossos history holds only nemesis ops; every other one has clients.
                assert!(
                    !h.pairs.is_empty() || h.non_client_ops().count() == h.ops.len(),
                    "{file}"
                );
                ops += h.ops.len();
            }
            Err(err) => failures.push(format!("{file}: {err}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus files failed to parse:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("parsed {} corpus histories, {ops} records", entries.len());
}

#[test]
fn json_and_edn_copies_of_a_history_agree() {
    let Some(dir) = data_dir() else { return };
    for (a, b) in [
        (
            "elle-cli/knossos/cas-register/good/memstress3-9.edn",
            "elle-cli/knossos/cas-register/good/memstress3-9.json",
        ),
        (
            "elle-cli/knossos/mutex/bad/etcd.edn",
            "elle-cli/knossos/mutex/bad/etcd.json",
        ),
        (
            "elle-cli/elle/rw-register.edn",
            "elle-cli/elle/rw-register.json",
        ),
    ] {
        let (ha, hb) = (
            read_file(&dir.join(a), Format::Auto).unwrap(),
            read_file(&dir.join(b), Format::Auto).unwrap(),
        );
        assert_eq!(ha.ops.len(), hb.ops.len(), "{a} vs {b}");
        for (x, y) in ha.ops.iter().zip(&hb.ops) {
            assert_eq!(
                (x.kind, &x.process, &x.f),
                (y.kind, &y.process, &y.f),
                "{a}:{} vs {b}:{}",
                x.line,
                y.line
            );
            assert_eq!(
                x.value.to_json(),
                y.value.to_json(),
                "{a}:{} vs {b}:{}",
                x.line,
                y.line
            );
        }
    }
}

//! The compact reading of transactional histories (`labrys_txn::compact`, what `labrys check`
//! uses for list-append and rw-register) against the full one (`check_history` on a whole
//! `History`): the same verdict, anomalies with the same explanations, warnings, stats (but
//! timings) and errors, on generated valid and faulty histories, on values the compact form
//! leaves in their ops, and on the corpus in `../shared/data`.

use labrys_check::{check_history, check_history_compact};
use labrys_history::read::{read_with_hook, Format, ReadLimits};
use labrys_history::{read_str, CheckOptions, History, Op, OpType, Value};
use labrys_txn::compact::Reader;
use labrys_txn::gen::{generate, GenConfig, Rng};
use labrys_txn::txn::Kind;
use std::path::{Path, PathBuf};

fn kind_of(workload: &str) -> Kind {
    match workload {
        "rw-register" => Kind::RwRegister,
        _ => Kind::ListAppend,
    }
}

/// What a check answered, as JSON without the timings; or its error.
fn answer(r: Result<labrys_history::CheckResult, labrys_check::CheckError>) -> String {
    match r {
        Ok(r) => {
            let mut j = serde_json::to_value(&r).unwrap();
            if let Some(s) = j.get_mut("stats").and_then(|s| s.as_object_mut()) {
                for k in ["phase_ms", "check_ms", "saturation_checks"] {
                    s.remove(k);
                }
                if let Some(p) = s.get_mut("serializability").and_then(|p| p.as_object_mut()) {
                    p.remove("ms");
                    p.remove("prune_ms");
                }
            }
            serde_json::to_string_pretty(&j).unwrap()
        }
        Err(e) => format!("error: {e}"),
    }
}

/// Checks `text` both ways and asserts the answers are equal; returns the answer.
fn both(text: &str, format: Format, workload: &str, models: &[&str]) -> String {
    let opts = CheckOptions {
        consistency_models: models.iter().map(|s| s.to_string()).collect(),
        ..CheckOptions::default()
    };
    let full = match read_str(text, "h", format) {
        Ok(h) => answer(check_history(&h, workload, &opts)),
        Err(e) => format!("error: {e}"),
    };
    let mut reader = Reader::new(kind_of(workload));
    let read = {
        let mut hook = |pos: usize, op: &mut Op| reader.take(pos, op);
        read_with_hook(
            text.as_bytes(),
            "h",
            format,
            ReadLimits::UNLIMITED,
            &mut hook,
        )
    };
    let compact = match read {
        Ok(h) => answer(check_history_compact(&h, reader, workload, &opts)),
        Err(e) => format!("error: {e}"),
    };
    assert_eq!(full, compact, "{workload} {models:?} on:\n{text}");
    full
}

fn jsonl(h: &History) -> String {
    h.ops.iter().map(|o| format!("{}\n", o.to_json())).collect()
}

fn edn(h: &History) -> String {
    h.ops
        .iter()
        .map(|o| {
            format!(
                "{{:index {} :type :{} :process {} :f :{} :value {}}}\n",
                o.index, o.kind, o.process, o.f, o.value
            )
        })
        .collect()
}

/// Makes about `per_mille` of the ok reads stale (a list loses its last element, a register
/// reads nil), which plants cycles of every kind.
fn stale(h: &History, per_mille: u64, seed: u64) -> History {
    let mut rng = Rng::new(seed);
    let mut ops = h.ops.clone();
    for op in &mut ops {
        if op.kind != OpType::Ok {
            continue;
        }
        if let Value::List(mops) = &mut op.value {
            for m in mops {
                if let Value::List(p) = m {
                    if p[0].as_name() == Some("r") && rng.below(1000) < per_mille {
                        p[2] = match &p[2] {
                            Value::List(l) if !l.is_empty() => {
                                Value::List(l[..l.len() - 1].to_vec())
                            }
                            _ => Value::Nil,
                        };
                    }
                }
            }
        }
    }
    History::from_ops(ops, "stale").unwrap()
}

fn config(kind: Kind, txns: usize, seed: u64) -> GenConfig {
    GenConfig {
        kind,
        txns,
        clients: 5,
        keys: 4,
        max_mops: 4,
        writes_per_key: 8,
        fail_per_mille: 50,
        info_per_mille: 50,
        seed,
    }
}

#[test]
fn generated_histories_answer_the_same() {
    for (workload, kind) in [
        ("list-append", Kind::ListAppend),
        ("rw-register", Kind::RwRegister),
    ] {
        let mut invalid = 0;
        for seed in 0..12 {
            let h = generate(&config(kind, 200, seed));
            let valid = both(&jsonl(&h), Format::Json, workload, &[]);
            assert!(valid.contains("\"valid\": true"), "{valid}");
            both(&edn(&h), Format::Edn, workload, &["serializable"]);
            let bad = stale(&h, 100, seed);
            let a = both(&jsonl(&bad), Format::Json, workload, &[]);
            both(&edn(&bad), Format::Edn, workload, &["snapshot-isolation"]);
            if a.contains("\"valid\": false") {
                invalid += 1;
                assert!(a.contains("explanation"), "{a}");
            }
        }
        assert!(
            invalid >= 6,
            "{workload}: only {invalid} faulty histories came out invalid"
        );
    }
}

#[test]
fn values_left_in_their_ops_and_bad_input_answer_the_same() {
    let cases: &[(&str, &str)] = &[
        // Keywords, strings and symbols as tags, and a mix in one op (left in its op).
        ("list-append", "{:type :invoke :process 0 :f :txn :value [[:append 1 1] [:r 1 nil]]}\n{:type :ok :process 0 :f :txn :value [[:append 1 1] [:r 1 [1]]]}\n{:type :invoke :process 1 :f :txn :value [[append 1 2] [\"r\" 1 nil]]}\n{:type :ok :process 1 :f :txn :value [[append 1 2] [\"r\" 1 [1 2]]]}\n{:type :invoke :process 0 :value [[r 1 nil]]}\n{:type :ok :process 0 :value [[r 1 [1 2]]]}\n"),
        // A set read, a read returned in an invocation, nil and empty lists, an empty txn.
        ("list-append", "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\",1],[\"r\",\"x\",[1]]]}\n{\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\",1],[\"r\",\"x\",[1]]]}\n{\"type\":\"invoke\",\"process\":1,\"f\":\"txn\",\"value\":[[\"r\",\"x\",null],[\"r\",\"y\",null]]}\n{\"type\":\"ok\",\"process\":1,\"f\":\"txn\",\"value\":[[\"r\",\"x\",[]],[\"r\",\"y\",null]]}\n{\"type\":\"invoke\",\"process\":2,\"f\":\"txn\",\"value\":[]}\n{\"type\":\"ok\",\"process\":2,\"f\":\"txn\",\"value\":[]}\n{\"type\":\"invoke\",\"process\":3,\"f\":\"txn\",\"value\":[[\"append\",\"x\",2]]}\n{\"type\":\"fail\",\"process\":3,\"f\":\"txn\",\"value\":\"oops\"}\n"),
        ("list-append", "{:type :invoke :process 0 :f :txn :value [[:r 1 nil]]}\n{:type :ok :process 0 :f :txn :value [[:r 1 #{1 2}]]}\n{:type :invoke :process 1 :f :txn :value [[:append 1 1]]}\n{:type :ok :process 1 :f :txn :value [[:append 1 1]]}\n"),
        // Errors: a read returning a map, a micro-op of two elements, a wrong tag, a value
        // that is not a list; a write of the other workload.
        ("list-append", "{:type :invoke :process 0 :f :txn :value [[:r 1 nil]]}\n{:type :ok :process 0 :f :txn :value [[:r 1 {:a 1}]]}\n"),
        ("list-append", "{:type :invoke :process 0 :f :txn :value [[:r 1]]}\n{:type :ok :process 0 :f :txn :value [[:r 1]]}\n"),
        ("list-append", "{:type :invoke :process 0 :f :txn :value [[:w 1 1]]}\n{:type :ok :process 0 :f :txn :value [[:w 1 1]]}\n"),
        ("list-append", "{:type :invoke :process 0 :f :txn :value 3}\n{:type :ok :process 0 :f :txn :value 3}\n"),
        ("list-append", "{:type :invoke :process 0 :f :read :value nil}\n{:type :ok :process 0 :f :read :value 3}\n"),
        // Duplicate writes (lint) and an append seen twice in a read.
        ("list-append", "{:type :invoke :process 0 :f :txn :value [[:append 1 1]]}\n{:type :ok :process 0 :f :txn :value [[:append 1 1]]}\n{:type :invoke :process 1 :f :txn :value [[:append 1 1] [:r 1 nil]]}\n{:type :ok :process 1 :f :txn :value [[:append 1 1] [:r 1 [1 1]]]}\n"),
        ("rw-register", "{:type :invoke :process 0 :f :txn :value [[:w :x 1] [:r :y nil]]}\n{:type :ok :process 0 :f :txn :value [[:w :x 1] [:r :y nil]]}\n{:type :invoke :process 1 :f :txn :value [[:w :y 1] [:r :x nil]]}\n{:type :ok :process 1 :f :txn :value [[:w :y 1] [:r :x nil]]}\n{:type :invoke :process 2 :f :txn :value [[:w :x 1]]}\n{:type :info :process 2 :f :txn :value [[:w :x 1]]}\n{:type :invoke :process 3 :f :txn :value [[:r :x 5]]}\n{:type :ok :process 3 :f :txn :value [[:r :x 1.5]]}\n"),
        ("rw-register", "{:type :invoke :process 0 :f :txn :value [[:append 1 1]]}\n{:type :ok :process 0 :f :txn :value [[:append 1 1]]}\n"),
        // Nothing to check, and a nemesis op.
        ("rw-register", "{:type :info :process :nemesis :f :start :value nil}\n"),
    ];
    for (workload, text) in cases {
        let format = if text.starts_with("{\"") {
            Format::Json
        } else {
            Format::Edn
        };
        both(text, format, workload, &[]);
    }
}

/// The transactions from the compact form are the full reading's: same ids, micro-ops
/// (lists by content) and values, and every stripped value rebuilds as written.
#[test]
fn compact_transactions_and_rebuilt_values_match() {
    for kind in [Kind::ListAppend, Kind::RwRegister] {
        for seed in 0..6 {
            let h = stale(&generate(&config(kind, 300, seed)), 50, seed);
            let text = jsonl(&h);
            let full = read_str(&text, "h", Format::Json).unwrap();
            let old = labrys_txn::txn::Txns::from_history(&full, kind).unwrap();
            let mut reader = Reader::new(kind);
            let stripped = {
                let mut hook = |pos: usize, op: &mut Op| reader.take(pos, op);
                read_with_hook(
                    text.as_bytes(),
                    "h",
                    Format::Json,
                    ReadLimits::UNLIMITED,
                    &mut hook,
                )
                .unwrap()
            };
            let new = reader.into_txns(&stripped).unwrap();
            assert_eq!(old.keys, new.keys);
            assert_eq!(old.vals, new.vals);
            assert_eq!(old.txns.len(), new.txns.len());
            for (i, (a, b)) in old.txns.iter().zip(&new.txns).enumerate() {
                assert_eq!(
                    (a.outcome, a.process, a.line, a.call),
                    (b.outcome, b.process, b.line, b.call)
                );
                let words = |t: &labrys_txn::txn::Txns, m: &labrys_txn::txn::Mop| match m {
                    labrys_txn::txn::Mop::ReadList { key, list } => {
                        format!("r {key} {:?}", list.map(|l| t.list(l).to_vec()))
                    }
                    other => format!("{other:?}"),
                };
                let wa: Vec<_> = a.mops.iter().map(|m| words(&old, m)).collect();
                let wb: Vec<_> = b.mops.iter().map(|m| words(&new, m)).collect();
                assert_eq!(wa, wb, "txn {i}");
                assert_eq!(
                    old.describe(&full, i as u32),
                    new.describe(&stripped, i as u32)
                );
            }
            for pos in 0..full.ops.len() {
                assert_eq!(
                    full.ops[pos].value,
                    *new.op_value(&stripped, pos),
                    "op {pos}"
                );
            }
            let mut restored = stripped.clone();
            labrys_txn::compact::restore(&mut restored, &new);
            assert_eq!(full.ops, restored.ops);
        }
    }
}

fn data_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    d.join("corpus.json").exists().then_some(d)
}

/// Every list-append and rw-register history of the corpus, with its arguments.
#[test]
fn corpus_answers_the_same() {
    let Some(dir) = data_dir() else {
        eprintln!("SKIPPED: ../shared/data not found");
        return;
    };
    let corpus: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap()).unwrap();
    let mut n = 0;
    for e in &corpus {
        let workload = e["workload"].as_str().unwrap();
        if workload != "list-append" && workload != "rw-register" {
            continue;
        }
        let args: Vec<&str> = e["args"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        let models: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "--consistency-models")
            .flat_map(|w| w[1].split(','))
            .collect();
        let text = std::fs::read_to_string(dir.join(e["file"].as_str().unwrap())).unwrap();
        both(&text, Format::Auto, workload, &models);
        n += 1;
    }
    assert!(n >= 8, "only {n} transactional histories in the corpus");
}

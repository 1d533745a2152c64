//! Soundness and completeness on generated histories: a strict-serializable store's histories
//! are always valid; one planted anomaly on fresh keys is found as exactly its class, and
//! exactly the models that class rules out are ruled out.

mod common;

use common::*;
use labrys_history::{OpType, Validity};
use labrys_txn::gen::{generate, GenConfig};
use labrys_txn::model::impossible_models;
use labrys_txn::txn::Kind;
use std::collections::BTreeSet;

fn assert_valid(kind: Kind, cfg: &GenConfig) {
    let h = generate(cfg);
    let r = check(kind, &h, &[]);
    let any_ok = h.calls().any(|c| c.outcome() == OpType::Ok);
    assert!(
        r.valid == Validity::Valid || (!any_ok && r.valid == Validity::Unknown),
        "seed {}: generated {kind:?} history judged {:?}: {:#?}",
        cfg.seed,
        r.valid,
        r.anomalies
    );
    assert!(r.not.is_empty(), "seed {}: {:?}", cfg.seed, r.not);
}

#[test]
fn strict_serializable_store_is_always_valid() {
    for kind in [Kind::ListAppend, Kind::RwRegister] {
        for seed in 0..300 {
            assert_valid(kind, &GenConfig::small(kind, seed));
        }
        for seed in 0..20 {
            let cfg = GenConfig {
                txns: 400,
                clients: 8,
                keys: 5,
                writes_per_key: 20,
                ..GenConfig::small(kind, 1000 + seed)
            };
            assert_valid(kind, &cfg);
        }
    }
}

const X: i64 = 1_000_001;
const Y: i64 = 1_000_002;
const Z: i64 = 1_000_003;
const A: i64 = 1_000_004;
const B: i64 = 1_000_005;
const C: i64 = 1_000_006;
const D: i64 = 1_000_007;

/// Plants `phases` after a generated history and checks the exact outcome.
fn expect_phases(kind: Kind, models: &[&str], phases: Vec<Vec<T>>, expected: &[&str]) {
    for seed in 0..3 {
        let base = generate(&GenConfig::small(kind, 77 + seed));
        let mut next = fresh_process(&base);
        let mut ops = base.ops;
        plant(&mut ops, phases_clone(&phases), &mut next);
        verify(kind, models, history(ops), expected);
    }
}

fn phases_clone(p: &[Vec<T>]) -> Vec<Vec<T>> {
    p.iter()
        .map(|ph| ph.iter().map(|t| T(t.0, t.1.clone())).collect())
        .collect()
}

fn verify(kind: Kind, models: &[&str], h: labrys_history::History, expected: &[&str]) {
    let r = check(kind, &h, models);
    let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    let got: BTreeSet<String> = r.anomaly_types.iter().cloned().collect();
    assert_eq!(got, want, "anomalies: {:#?}", r.anomalies);
    let not: BTreeSet<String> = r.not.iter().cloned().collect();
    assert_eq!(not, impossible_models(expected));
    assert_eq!(
        r.valid,
        if expected.is_empty() {
            Validity::Valid
        } else {
            Validity::Invalid
        }
    );
    for list in r.anomalies.values() {
        for a in list {
            assert!(!a.explanation.is_empty());
        }
    }
}

#[test]
fn planted_g0() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![
            ok(vec![ap(X, 1), ap(Y, 1)]),
            ok(vec![ap(X, 2), ap(Y, 2)]),
            ok(vec![r(X, &[1, 2])]),
            ok(vec![r(Y, &[2, 1])]),
        ]],
        &["G0"],
    );
}

#[test]
fn planted_g1c() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![
            ok(vec![ap(X, 1), r(Y, &[1])]),
            ok(vec![ap(Y, 1), r(X, &[1])]),
        ]],
        &["G1c"],
    );
}

#[test]
fn planted_g_single() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![
            ok(vec![r(X, &[]), r(Y, &[1])]),
            ok(vec![ap(X, 1), ap(Y, 1)]),
            ok(vec![r(X, &[1])]),
        ]],
        // T0 saw T1's append to Y but not its append to X: also a fractured read.
        &["G-single-item", "fractured-read"],
    );
}

#[test]
fn planted_g2_item_write_skew() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![
            ok(vec![r(X, &[]), ap(Y, 1)]),
            ok(vec![r(Y, &[]), ap(X, 1)]),
            ok(vec![r(X, &[1]), r(Y, &[1])]),
        ]],
        &["G2-item"],
    );
}

#[test]
fn planted_g2_item_is_allowed_by_snapshot_isolation() {
    expect_phases(
        Kind::ListAppend,
        &["snapshot-isolation"],
        vec![vec![
            ok(vec![r(X, &[]), ap(Y, 1)]),
            ok(vec![r(Y, &[]), ap(X, 1)]),
        ]],
        &[],
    );
}

#[test]
fn planted_g_nonadjacent() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![
            ok(vec![r(A, &[]), r(D, &[1])]),
            ok(vec![ap(A, 1), ap(B, 1)]),
            ok(vec![r(B, &[1]), r(C, &[])]),
            ok(vec![ap(C, 1), ap(D, 1)]),
            ok(vec![r(A, &[1]), r(C, &[1])]),
        ]],
        &["G-nonadjacent-item"],
    );
}

#[test]
fn planted_g1a() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![fail(vec![ap(X, 1)]), ok(vec![r(X, &[1])])]],
        &["G1a"],
    );
}

#[test]
fn planted_g1b() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![ok(vec![ap(X, 1), ap(X, 2)]), ok(vec![r(X, &[1])])]],
        &["G1b"],
    );
}

#[test]
fn planted_internal() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![
            vec![ok(vec![ap(X, 5)])],
            vec![ok(vec![r(X, &[5]), r(X, &[])])],
        ],
        // Reading X back to empty after seeing 5 also goes back in time (read committed).
        &["internal", "non-monotonic-read"],
    );
}

#[test]
fn planted_dirty_update() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![
            fail(vec![ap(X, 1)]),
            ok(vec![ap(X, 2)]),
            ok(vec![r(X, &[1, 2])]),
        ]],
        &["G1a", "dirty-update"],
    );
}

#[test]
fn planted_duplicate_elements() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![ok(vec![ap(X, 1)]), ok(vec![r(X, &[1, 1])])]],
        &["duplicate-elements"],
    );
}

#[test]
fn planted_incompatible_order() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![
            ok(vec![ap(X, 1)]),
            ok(vec![ap(X, 2)]),
            ok(vec![r(X, &[1, 2])]),
            ok(vec![r(X, &[2, 1])]),
        ]],
        &["incompatible-order"],
    );
}

#[test]
fn planted_future_read() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![ok(vec![r(X, &[1]), ap(X, 1)])]],
        &["future-read"],
    );
}

#[test]
fn planted_garbage_read() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![ok(vec![r(X, &[99])])]],
        &["garbage-read"],
    );
}

#[test]
fn planted_stale_read_is_g_single_realtime() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![
            vec![ok(vec![ap(X, 1)])],
            vec![ok(vec![r(X, &[])]), ok(vec![r(X, &[1])])],
        ],
        &["G-single-item-realtime"],
    );
    // ... which serializability allows.
    expect_phases(
        Kind::ListAppend,
        &["serializable"],
        vec![
            vec![ok(vec![ap(X, 1)])],
            vec![ok(vec![r(X, &[])]), ok(vec![r(X, &[1])])],
        ],
        &[],
    );
}

#[test]
fn planted_g0_realtime() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![
            vec![ok(vec![ap(X, 1)])],
            vec![ok(vec![ap(X, 2)])],
            vec![ok(vec![r(X, &[2, 1])])],
        ],
        &["G0-realtime"],
    );
}

#[test]
fn planted_g1c_realtime() {
    expect_phases(
        Kind::ListAppend,
        &[],
        vec![vec![ok(vec![r(Y, &[1])])], vec![ok(vec![ap(Y, 1)])]],
        &["G1c-realtime"],
    );
}

#[test]
fn planted_g2_item_realtime() {
    for seed in 0..3 {
        let base = generate(&GenConfig::small(Kind::ListAppend, 5 + seed));
        let p = fresh_process(&base);
        let mut ops = base.ops;
        plant_seq(
            &mut ops,
            vec![
                ok(vec![r(X, &[])]),
                ok(vec![ap(X, 1), r(Z, &[])]),
                ok(vec![ap(Z, 1)]),
                ok(vec![r(X, &[1]), r(Z, &[1])]),
            ],
            &[p, p + 1, p + 2, p + 3],
            &[3, 2, -3, 1, -2, -1, 4, -4],
        );
        verify(Kind::ListAppend, &[], history(ops), &["G2-item-realtime"]);
    }
}

#[test]
fn planted_g_single_process() {
    // Session guarantees: the process's second transaction misses its own first append.
    for seed in 0..3 {
        let base = generate(&GenConfig::small(Kind::ListAppend, 9 + seed));
        let p = fresh_process(&base);
        let mut ops = base.ops;
        plant_seq(
            &mut ops,
            vec![
                ok(vec![ap(X, 1)]),
                ok(vec![r(X, &[])]),
                ok(vec![r(X, &[1])]),
            ],
            &[p, p, p + 1],
            &[3, 1, -1, 2, -2, -3],
        );
        verify(
            Kind::ListAppend,
            &["strong-session-snapshot-isolation"],
            history(ops),
            // The second transaction misses its session's own write: read atomic with
            // session order fails too (and only with it).
            &["G-single-item-process", "fractured-read-process"],
        );
    }
}

#[test]
fn register_planted_g1a() {
    expect_phases(
        Kind::RwRegister,
        &[],
        vec![vec![fail(vec![w(X, 1)]), ok(vec![rv(X, 1)])]],
        &["G1a"],
    );
}

#[test]
fn register_planted_internal() {
    expect_phases(
        Kind::RwRegister,
        &[],
        vec![vec![ok(vec![w(X, 1), rv(X, 2)])]],
        &["internal"],
    );
}

#[test]
fn register_planted_lost_update() {
    expect_phases(
        Kind::RwRegister,
        &[],
        vec![
            vec![ok(vec![w(X, 1)])],
            vec![ok(vec![rv(X, 1), w(X, 2)]), ok(vec![rv(X, 1), w(X, 3)])],
        ],
        &["G2-item", "lost-update"],
    );
}

#[test]
fn register_planted_g_single() {
    expect_phases(
        Kind::RwRegister,
        &[],
        vec![vec![ok(vec![rn(X), rv(Y, 1)]), ok(vec![w(X, 1), w(Y, 1)])]],
        &["G-single-item", "fractured-read"],
    );
}

#[test]
fn register_planted_write_skew() {
    expect_phases(
        Kind::RwRegister,
        &[],
        vec![vec![ok(vec![rn(X), w(Y, 1)]), ok(vec![rn(Y), w(X, 1)])]],
        &["G2-item"],
    );
}

#[test]
fn register_planted_cyclic_versions() {
    expect_phases(
        Kind::RwRegister,
        &[],
        vec![vec![
            ok(vec![rv(X, 1), w(X, 2)]),
            ok(vec![rv(X, 2), w(X, 1)]),
        ]],
        &["G0", "G1c", "cyclic-versions"],
    );
}

#[test]
fn dot_files_are_written() {
    let base = generate(&GenConfig::small(Kind::ListAppend, 3));
    let mut next = fresh_process(&base);
    let mut ops = base.ops;
    plant(
        &mut ops,
        vec![vec![
            ok(vec![ap(X, 1), r(Y, &[1])]),
            ok(vec![ap(Y, 1), r(X, &[1])]),
        ]],
        &mut next,
    );
    let h = history(ops);
    let dir = std::env::temp_dir().join(format!("labrys-txn-dot-{}", std::process::id()));
    let opts = labrys_history::CheckOptions {
        out_dir: Some(dir.clone()),
        ..Default::default()
    };
    let r = labrys_txn::check("list-append", &h, &opts).unwrap();
    assert_eq!(r.anomaly_types, vec!["G1c"]);
    let text = std::fs::read_to_string(dir.join("G1c-0.dot")).unwrap();
    assert!(text.starts_with("digraph") && text.contains("wr"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_micro_ops_are_errors_with_lines() {
    use labrys_history::{Op, Value};
    let bad = Value::List(vec![Value::List(vec![
        Value::kw("inc"),
        Value::Int(1),
        Value::Int(2),
    ])]);
    let mut o1 = Op::new(0, OpType::Invoke, 0, "txn", bad.clone());
    o1.line = 7;
    let mut o2 = Op::new(1, OpType::Ok, 0, "txn", bad);
    o2.line = 8;
    let h = labrys_history::History::from_ops(vec![o1, o2], "bad.edn").unwrap();
    let e = labrys_txn::check("list-append", &h, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("bad.edn:8:") && e.contains("expected :append or :r"),
        "{e}"
    );
}

#[test]
fn expired_deadline_gives_unknown_never_valid() {
    let base = generate(&GenConfig::small(Kind::ListAppend, 4));
    let mut next = fresh_process(&base);
    let mut ops = base.ops;
    plant(
        &mut ops,
        vec![vec![
            ok(vec![ap(X, 1), r(Y, &[1])]),
            ok(vec![ap(Y, 1), r(X, &[1])]),
        ]],
        &mut next,
    );
    let opts = labrys_history::CheckOptions {
        deadline: labrys_history::Deadline::after(std::time::Duration::ZERO),
        ..Default::default()
    };
    let r = labrys_txn::check("list-append", &history(ops), &opts).unwrap();
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("deadline"));
}

#[test]
fn unknown_model_is_an_error_listing_known_ones() {
    let h = generate(&GenConfig::small(Kind::ListAppend, 1));
    let opts = labrys_history::CheckOptions {
        consistency_models: vec!["serialisable".into()],
        ..Default::default()
    };
    let e = labrys_txn::check("list-append", &h, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("serialisable") && e.contains("snapshot-isolation"),
        "{e}"
    );
}

#[test]
fn register_unobserved_crashed_write_orders_nothing() {
    // T1 crashed while writing x; nobody read its value, so it may never have happened: T2's
    // read of the initial state is no anti-dependency on it, and there is no cycle.
    for seed in 0..3 {
        let base = generate(&GenConfig::small(Kind::RwRegister, 21 + seed));
        let p = fresh_process(&base);
        let mut ops = base.ops;
        plant_seq(
            &mut ops,
            vec![
                T(OpType::Info, vec![w(X, 1), rv(Y, 1)]),
                ok(vec![w(Y, 1)]),
                ok(vec![rn(X)]),
            ],
            &[p, p + 1, p + 2],
            &[1, 2, -2, 3, -3, -1],
        );
        verify(Kind::RwRegister, &[], history(ops), &[]);
    }
}

/// The anomalies above, as (planted transactions, expected classes), for the property test.
fn plants() -> Vec<(Vec<Vec<T>>, Vec<&'static str>)> {
    vec![
        (
            vec![vec![
                ok(vec![ap(X, 1), ap(Y, 1)]),
                ok(vec![ap(X, 2), ap(Y, 2)]),
                ok(vec![r(X, &[1, 2])]),
                ok(vec![r(Y, &[2, 1])]),
            ]],
            vec!["G0"],
        ),
        (
            vec![vec![
                ok(vec![ap(X, 1), r(Y, &[1])]),
                ok(vec![ap(Y, 1), r(X, &[1])]),
            ]],
            vec!["G1c"],
        ),
        (
            vec![vec![
                ok(vec![r(X, &[]), r(Y, &[1])]),
                ok(vec![ap(X, 1), ap(Y, 1)]),
                ok(vec![r(X, &[1])]),
            ]],
            vec!["G-single-item", "fractured-read"],
        ),
        (
            vec![vec![
                ok(vec![r(X, &[]), ap(Y, 1)]),
                ok(vec![r(Y, &[]), ap(X, 1)]),
            ]],
            vec!["G2-item"],
        ),
        (
            vec![
                vec![ok(vec![ap(X, 1)])],
                vec![ok(vec![r(X, &[])]), ok(vec![r(X, &[1])])],
            ],
            vec!["G-single-item-realtime"],
        ),
        (
            vec![vec![fail(vec![ap(X, 1)]), ok(vec![r(X, &[1])])]],
            vec!["G1a"],
        ),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    #[test]
    fn planted_anomalies_are_found_on_any_base(
        seed in proptest::prelude::any::<u64>(),
        which in 0usize..6,
        clients in 1usize..8,
        txns in 1usize..60,
    ) {
        let (phases, expected) = plants().swap_remove(which);
        let cfg = GenConfig { clients, txns, ..GenConfig::small(Kind::ListAppend, seed) };
        let base = generate(&cfg);
        let mut next = fresh_process(&base);
        let mut ops = base.ops;
        plant(&mut ops, phases, &mut next);
        verify(Kind::ListAppend, &[], history(ops), &expected);
    }
}

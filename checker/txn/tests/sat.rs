//! The exact serializability check (`labrys_txn::sat`: polygraph and SAT solver) against a
//! brute-force oracle on thousands of small random register histories (up to 7 transactions,
//! 2–3 keys, 1–3 sessions; every other one without read-modify-writes, where Elle sees little
//! and the polygraph decides), and for soundness on generated histories. Repeatable read (Adya's
//! PL-2.99, which over items is serializability) against the same oracle.
//!
//! The oracle knows nothing of polygraphs: it tries every order of the committed transactions
//! (depth first, abandoning a prefix at the first read it cannot explain) and accepts when in
//! some order every read sees the transaction's own earlier write of the key, else the last
//! write before it in that order, else the initial nil. With sessions it keeps each process's
//! transactions in history order; with real time (the random histories run one transaction at a
//! time) the history order itself.

mod common;
#[path = "common/small.rs"]
mod small;

use labrys_history::{Deadline, OpType, Validity};
use labrys_txn::model::OrderEdges;
use labrys_txn::sat;
use labrys_txn::txn::{Kind, Txns};
use small::{check_at, expected, random_history, t, to_history, G};

/// Can the ok transactions of `ts` be put in a serial order (keeping each process's order when
/// `sessions`, the history's order when `realtime`) in which every read is explained?
fn oracle(ts: &[G], sessions: bool, realtime: bool) -> bool {
    let ok: Vec<usize> = (0..ts.len())
        .filter(|&i| ts[i].outcome == OpType::Ok)
        .collect();
    let mut placed = vec![false; ts.len()];
    let mut state: std::collections::BTreeMap<i64, i64> = Default::default();
    fn go(
        ts: &[G],
        ok: &[usize],
        sessions: bool,
        realtime: bool,
        placed: &mut Vec<bool>,
        state: &mut std::collections::BTreeMap<i64, i64>,
        n: usize,
    ) -> bool {
        if n == ok.len() {
            return true;
        }
        for &i in ok {
            if placed[i] {
                continue;
            }
            // Every earlier ok transaction of the same process (or any, in real time) first.
            if ok.iter().any(|&j| {
                j < i && !placed[j] && (realtime || (sessions && ts[j].process == ts[i].process))
            }) {
                continue;
            }
            let mut local: std::collections::BTreeMap<i64, i64> = Default::default();
            let mut fine = true;
            for &(is_w, k, v) in &ts[i].mops {
                if is_w {
                    local.insert(k, v);
                } else {
                    let seen = local
                        .get(&k)
                        .copied()
                        .unwrap_or_else(|| state.get(&k).copied().unwrap_or(0));
                    if seen != v {
                        fine = false;
                        break;
                    }
                }
            }
            if !fine {
                continue;
            }
            let saved = state.clone();
            state.extend(local);
            placed[i] = true;
            if go(ts, ok, sessions, realtime, placed, state, n + 1) {
                return true;
            }
            placed[i] = false;
            *state = saved;
        }
        false
    }
    go(ts, &ok, sessions, realtime, &mut placed, &mut state, 0)
}

#[test]
fn sat_matches_the_brute_force_oracle() {
    // SAT_ORACLE_CASES=N runs more.
    let n: u64 = std::env::var("SAT_ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let modes = [
        ("serializable", OrderEdges::None, false, false),
        (
            "strong-session-serializable",
            OrderEdges::Process,
            true,
            false,
        ),
        ("strict-serializable", OrderEdges::Realtime, false, true),
    ];
    let mut invalid = [0usize; 3];
    let mut sat_decided = [0usize; 3];
    let mut by_solver = [0usize; 3];
    let mut elle_blind = 0usize;
    let mut rr_polygraph_only = 0usize;
    for seed in 0..n {
        let mut ts = random_history(seed);
        if seed % 2 == 1 {
            // No read of a key the transaction writes: no read-modify-write, hence no lost
            // update, and Elle sees little beyond wr edges: the polygraph does the work.
            for g in &mut ts {
                let written: Vec<i64> = g.mops.iter().filter(|m| m.0).map(|m| m.1).collect();
                g.mops.retain(|m| m.0 || !written.contains(&m.1));
            }
        }
        let h = to_history(&ts);
        let txns = Txns::from_history(&h, Kind::RwRegister).unwrap();
        for (mi, &(model, order, sessions, realtime)) in modes.iter().enumerate() {
            let want = oracle(&ts, sessions, realtime);
            invalid[mi] += usize::from(!want);
            // The whole check, both ways.
            let r = check_at(&h, model);
            assert_eq!(
                r.valid,
                expected(&ts, want),
                "seed {seed}: {model}: check {:?} ({:?}), oracle {want}\n{ts:#?}",
                r.valid,
                r.anomaly_types
            );
            // The polygraph alone, whenever it runs: exactly the oracle.
            let f = sat::check(&h, &txns, Kind::RwRegister, order, &Deadline::none());
            if f.skipped.is_none() {
                sat_decided[mi] += 1;
                if f.stats.get("sat_rounds").is_some() {
                    by_solver[mi] += 1;
                }
                assert_eq!(
                    f.anomaly.is_none(),
                    want,
                    "seed {seed}: {model}: polygraph {:?}, oracle {want}\n{ts:#?}",
                    f.anomaly
                );
                if let Some(order) = &f.order {
                    assert!(!order.is_empty() || txns.txns.is_empty());
                    // The version order kept agrees with the serial order found.
                    let pos = |x: u32| order.iter().position(|&y| y == x);
                    for (key, ws) in f.versions.as_ref().expect("kept with the order") {
                        let at: Vec<Option<usize>> = ws.iter().map(|&w| pos(w)).collect();
                        assert!(
                            at.iter().all(Option::is_some) && at.windows(2).all(|p| p[0] < p[1]),
                            "seed {seed}: key {key}: versions {ws:?}, order {order:?}"
                        );
                    }
                }
            }
            if mi == 0
                && !want
                && r.anomaly_types
                    .iter()
                    .all(|a| a.starts_with("serializability"))
            {
                elle_blind += 1;
            }
            if mi == 0 {
                // Repeatable read over items (no predicates) is serializability: the same
                // oracle, and the polygraph decides it too.
                let rr = check_at(&h, "repeatable-read");
                assert_eq!(
                    rr.valid,
                    expected(&ts, want),
                    "seed {seed}: repeatable-read: check {:?} ({:?}), oracle {want}\n{ts:#?}",
                    rr.valid,
                    rr.anomaly_types
                );
                if !want
                    && rr
                        .anomaly_types
                        .iter()
                        .all(|a| a.starts_with("serializability"))
                {
                    rr_polygraph_only += 1;
                }
            }
        }
    }
    eprintln!(
        "{n} random histories; not serializable / session / strict: {invalid:?}; decided by the \
         polygraph: {sat_decided:?}, of which reached the SAT solver: {by_solver:?}; only the polygraph saw the serializability violation: \
         {elle_blind}"
    );
    for (mi, &k) in invalid.iter().enumerate() {
        assert!(
            k > n as usize / 50 && k < n as usize * 49 / 50,
            "mode {mi}: {k}"
        );
    }
    assert!(elle_blind > 0, "the polygraph never mattered");
    assert!(
        rr_polygraph_only > 0,
        "the polygraph never mattered for repeatable read"
    );
    assert!(by_solver.iter().all(|&k| k > 0), "the solver never ran");
}

#[test]
fn generated_histories_are_serializable_and_causal_ones_agree() {
    use labrys_txn::gen::{generate, generate_causal, CausalConfig, GenConfig};
    for seed in 0..20 {
        let h = generate(&GenConfig {
            txns: 300,
            clients: 5,
            ..GenConfig::small(Kind::RwRegister, seed)
        });
        for model in [
            "serializable",
            "strict-serializable",
            "strong-session-serializable",
        ] {
            let r = check_at(&h, model);
            assert_eq!(
                r.valid,
                Validity::Valid,
                "seed {seed} {model}: {:?}",
                r.anomaly_types
            );
        }
    }
    // One larger history, where the solver (not only the pruning) has work.
    let h = generate(&GenConfig {
        kind: Kind::RwRegister,
        txns: 2000,
        clients: 20,
        keys: 30,
        max_mops: 6,
        writes_per_key: 24,
        fail_per_mille: 10,
        info_per_mille: 10,
        seed: 7,
    });
    for model in ["serializable", "strict-serializable"] {
        let r = check_at(&h, model);
        assert_eq!(r.valid, Validity::Valid, "{model}: {:?}", r.anomaly_types);
        let s = &r.stats["serializability"];
        assert_eq!(s["verdict"], "serial order found", "{model}: {s}");
    }
    let mut refuted = 0;
    for seed in 0..20 {
        let h = generate_causal(&CausalConfig::small(seed));
        let r = check_at(&h, "serializable");
        assert_ne!(r.valid, Validity::Unknown, "causal seed {seed}");
        refuted += usize::from(r.valid == Validity::Invalid);
        // Causal levels hold; a serializability violation never says otherwise.
        assert!(!r.not.contains(&"causal-cerone".to_string()), "seed {seed}");
    }
    eprintln!("causal histories found not serializable: {refuted} of 20");
}

/// A long fork after initial versions: `T0` wrote x0 and y0, `T1` x1, `T2` y1; `T3` saw x1
/// but y0, `T4` y1 but x0. No read-modify-write, so Elle sees only wr edges and no cycle;
/// every version order closes one. Causal (a long fork is), not serializable.
fn long_fork() -> Vec<G> {
    vec![
        t(0, &[(true, 1, 10), (true, 2, 20)]),
        t(1, &[(true, 1, 11)]),
        t(2, &[(true, 2, 21)]),
        t(3, &[(false, 1, 11), (false, 2, 20)]),
        t(4, &[(false, 2, 21), (false, 1, 10)]),
    ]
}

#[test]
fn planted_long_fork_is_not_serializable_but_causal() {
    let ts = long_fork();
    assert!(!oracle(&ts, false, false));
    let h = to_history(&ts);
    let r = check_at(&h, "serializable");
    assert_eq!(r.valid, Validity::Invalid);
    // A long fork breaks snapshot isolation too: once the serializability check found the
    // violation, the snapshot-isolation check names it after that weaker model as well.
    assert_eq!(
        r.anomaly_types,
        vec![
            "serializability-violation".to_string(),
            "snapshot-isolation-violation".to_string()
        ]
    );
    for m in [
        "serializable",
        "strict-serializable",
        "strong-session-serializable",
        "snapshot-isolation",
    ] {
        assert!(r.not.contains(&m.to_string()), "{m} not ruled out");
    }
    for m in [
        "parallel-snapshot-isolation",
        "causal-cerone",
        "read-atomic",
        "read-committed",
    ] {
        assert!(!r.not.contains(&m.to_string()), "{m} ruled out");
    }
    let text = r.anomalies["serializability-violation"][0]
        .explanation
        .clone();
    assert!(
        text.contains("no serial order explains every read"),
        "{text}"
    );
    assert!(text.contains("<rw"), "{text}");
    // Each order the pruning forced is explained by the cycle the other order closes.
    assert!(
        text.contains("is forced: the other order (assumed below) closes"),
        "{text}"
    );
    // Causal holds: the weaker check stays valid.
    assert_eq!(check_at(&h, "causal-cerone").valid, Validity::Valid);
    // Strict serializability names the violation after the weakest model it refutes.
    let r = check_at(&h, "strict-serializable");
    assert!(r
        .anomaly_types
        .contains(&"serializability-violation".to_string()));
}

#[test]
fn a_serializable_history_gets_its_serial_order() {
    // T1 reads x = 1 from T0 and y's initial nil; T2 overwrites y after T1 read it.
    let ts = vec![
        t(0, &[(true, 1, 10)]),
        t(1, &[(false, 1, 10), (false, 2, 0)]),
        t(2, &[(true, 2, 20), (true, 1, 11)]),
    ];
    assert!(oracle(&ts, false, false));
    let h = to_history(&ts);
    let txns = Txns::from_history(&h, Kind::RwRegister).unwrap();
    let f = sat::check(
        &h,
        &txns,
        Kind::RwRegister,
        OrderEdges::None,
        &Deadline::none(),
    );
    assert!(f.anomaly.is_none() && !f.timed_out && f.skipped.is_none());
    let order = f.order.unwrap();
    let pos = |x: u32| order.iter().position(|&y| y == x).unwrap();
    assert!(pos(0) < pos(1) && pos(1) < pos(2), "{order:?}");
}

#[test]
fn past_the_deadline_the_check_is_unknown_not_a_guess() {
    let ts = vec![
        t(0, &[(true, 1, 10)]),
        t(1, &[(true, 1, 11)]),
        t(2, &[(true, 1, 12)]),
        t(3, &[(false, 1, 11)]),
    ];
    let h = to_history(&ts);
    let txns = Txns::from_history(&h, Kind::RwRegister).unwrap();
    let past = Deadline::after(std::time::Duration::ZERO);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let f = sat::check(&h, &txns, Kind::RwRegister, OrderEdges::None, &past);
    assert!(f.timed_out && f.anomaly.is_none() && f.order.is_none());
}

#[test]
fn values_nobody_wrote_leave_the_check_out() {
    let ts = vec![t(0, &[(true, 1, 10)]), t(1, &[(false, 1, 99)])];
    let h = to_history(&ts);
    let txns = Txns::from_history(&h, Kind::RwRegister).unwrap();
    let f = sat::check(
        &h,
        &txns,
        Kind::RwRegister,
        OrderEdges::None,
        &Deadline::none(),
    );
    assert!(f.skipped.unwrap().contains("no transaction wrote"));
    assert!(f.anomaly.is_none());
}

#[test]
fn a_stale_read_in_real_time_is_only_a_strict_serializability_violation() {
    // One at a time: T0 wrote x = 10, then T1 x = 11, then T2 read 10. Serial as T1 T0 T2;
    // not in real-time order. No read-modify-write, no nil read: Elle's cycles see nothing.
    let ts = vec![
        t(0, &[(true, 1, 10)]),
        t(1, &[(true, 1, 11)]),
        t(2, &[(false, 1, 10)]),
    ];
    assert!(oracle(&ts, false, false) && !oracle(&ts, false, true));
    let h = to_history(&ts);
    assert_eq!(check_at(&h, "serializable").valid, Validity::Valid);
    let r = check_at(&h, "strict-serializable");
    assert_eq!(r.valid, Validity::Invalid);
    // A stale read in real time is no strong snapshot isolation either (each snapshot must
    // hold what committed before its transaction began); plain and session SI still hold.
    assert_eq!(
        r.anomaly_types,
        vec![
            "serializability-violation-realtime".to_string(),
            "snapshot-isolation-violation-realtime".to_string()
        ]
    );
    assert!(r.not.contains(&"strict-serializable".to_string()));
    assert!(r.not.contains(&"strong-snapshot-isolation".to_string()));
    for m in [
        "serializable",
        "strong-session-serializable",
        "snapshot-isolation",
        "strong-session-snapshot-isolation",
    ] {
        assert!(!r.not.contains(&m.to_string()), "{m} ruled out");
    }
    let text = &r.anomalies["serializability-violation-realtime"][0].explanation;
    assert!(text.contains("<realtime"), "{text}");
}

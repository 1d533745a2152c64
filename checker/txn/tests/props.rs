//! Property tests over thousands of small histories:
//! - every history of the strict-serializable generator is valid;
//! - on histories made faulty (stale reads), the fast parallel cycle search names exactly the
//!   cycle classes that a slow, obviously-correct reference finds: the full dependency graph
//!   (virtual nodes expanded, real-time order as all pairs) and brute-force enumeration of every
//!   simple cycle, each classified on its own.

mod common;

use labrys_history::{History, Op, OpType, Validity, Value};
use labrys_txn::cycles::{classify, Step};
use labrys_txn::gen::{generate, GenConfig, Rng};
use labrys_txn::graph::{NONE, PROCESS, REALTIME};
use labrys_txn::model::OrderEdges;
use labrys_txn::txn::{Kind, Outcome, Txns};
use labrys_txn::{append, register};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn config(kind: Kind, seed: u64, clients: usize, txns: usize, keys: usize) -> GenConfig {
    GenConfig {
        txns,
        clients,
        keys,
        ..GenConfig::small(kind, seed)
    }
}

/// Makes some ok reads stale: list reads lose a suffix, register reads go back to nil.
fn corrupt(h: &History, seed: u64, per_mille: u64) -> History {
    let mut rng = Rng::new(seed);
    let mut ops: Vec<Op> = h.ops.clone();
    for op in ops.iter_mut().filter(|o| o.kind == OpType::Ok) {
        let Value::List(mops) = &mut op.value else {
            continue;
        };
        for m in mops.iter_mut() {
            let Value::List(parts) = m else { continue };
            if parts[0].as_name() != Some("r") || rng.below(1000) >= per_mille {
                continue;
            }
            parts[2] = match &parts[2] {
                Value::List(l) if !l.is_empty() => {
                    let n = rng.below(l.len() as u64) as usize;
                    Value::List(l[..n].to_vec())
                }
                Value::Int(_) => Value::Nil,
                other => other.clone(),
            };
        }
    }
    History::from_ops(ops, "corrupted").unwrap()
}

/// Every cycle class present, by brute force; `None` when there are too many cycles.
fn reference_classes(h: &History, kind: Kind, order: OrderEdges) -> Option<BTreeSet<String>> {
    let t = Txns::from_history(h, kind).unwrap();
    let inf = match kind {
        Kind::ListAppend => append::infer(h, &t).unwrap(),
        Kind::RwRegister => register::infer(h, &t).unwrap(),
    };
    let n = t.txns.len() as u32;
    let mut edges: BTreeSet<(u32, u32, u8)> = BTreeSet::new();
    for d in &inf.deps {
        if d.to < n {
            if d.from != d.to {
                edges.insert((d.from, d.to, d.kind));
            }
        } else {
            for &(v, w, _) in &inf.extra_edges {
                if v == d.to && w != d.from {
                    edges.insert((d.from, w, d.kind));
                }
            }
        }
    }
    for (a, ta) in t.txns.iter().enumerate() {
        for (b, tb) in t.txns.iter().enumerate() {
            if ta.outcome != Outcome::Ok || tb.outcome == Outcome::Fail {
                continue;
            }
            match order {
                OrderEdges::Realtime if ta.complete_pos < tb.invoke_pos => {
                    edges.insert((a as u32, b as u32, REALTIME));
                }
                // Process order: the next transaction of the same process that is not failed.
                OrderEdges::Process
                    if ta.process == tb.process
                        && ta.complete_pos < tb.invoke_pos
                        && !t.txns.iter().any(|m| {
                            m.process == ta.process
                                && m.outcome != Outcome::Fail
                                && m.invoke_pos > ta.invoke_pos
                                && m.invoke_pos < tb.invoke_pos
                        }) =>
                {
                    edges.insert((a as u32, b as u32, PROCESS));
                }
                _ => {}
            }
        }
    }
    let mut adj: Vec<Vec<(u32, u8)>> = vec![Vec::new(); n as usize];
    for &(a, b, k) in &edges {
        adj[a as usize].push((b, k));
    }
    let mut classes = BTreeSet::new();
    let mut budget = 300_000u32;
    for s in 0..n {
        let mut path: Vec<Step> = Vec::new();
        let mut on = vec![false; n as usize];
        on[s as usize] = true;
        if !dfs(s, s, &adj, &mut on, &mut path, &mut classes, &mut budget) {
            return None;
        }
    }
    Some(classes)
}

fn dfs(
    start: u32,
    at: u32,
    adj: &[Vec<(u32, u8)>],
    on: &mut [bool],
    path: &mut Vec<Step>,
    classes: &mut BTreeSet<String>,
    budget: &mut u32,
) -> bool {
    for &(b, k) in &adj[at as usize] {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        path.push(Step {
            from: at,
            to: b,
            kind: k,
            why: NONE,
        });
        if b == start {
            classes.insert(classify(path));
        } else if b > start && !on[b as usize] {
            on[b as usize] = true;
            if !dfs(start, b, adj, on, path, classes, budget) {
                return false;
            }
            on[b as usize] = false;
        }
        path.pop();
    }
    true
}

fn is_cycle_class(a: &str) -> bool {
    [
        "G0",
        "G1c",
        "G-single-item",
        "G-nonadjacent-item",
        "G2-item",
    ]
    .iter()
    .any(|b| {
        a == *b
            || a.strip_prefix(b)
                .is_some_and(|r| r == "-realtime" || r == "-process")
    })
}

proptest! {
    // PROPTEST_CASES raises the count for a longer local run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_histories_are_valid(
        seed in any::<u64>(), clients in 1usize..6, txns in 1usize..40, keys in 1usize..5,
        register in any::<bool>()
    ) {
        let kind = if register { Kind::RwRegister } else { Kind::ListAppend };
        let h = generate(&config(kind, seed, clients, txns, keys));
        let r = common::check(kind, &h, &[]);
        prop_assert!(r.valid != Validity::Invalid, "{:#?}", r.anomalies);
    }

    #[test]
    fn fast_search_agrees_with_brute_force(
        seed in any::<u64>(), clients in 2usize..6, txns in 2usize..26, keys in 1usize..4,
        register in any::<bool>(), rate in 100u64..600, models in 0usize..3
    ) {
        let kind = if register { Kind::RwRegister } else { Kind::ListAppend };
        let h = corrupt(&generate(&config(kind, seed, clients, txns, keys)), seed ^ 1, rate);
        // Realtime order, process order, or data dependencies only.
        let (model, order) = [
            ("strict-serializable", OrderEdges::Realtime),
            ("strong-session-serializable", OrderEdges::Process),
            ("serializable", OrderEdges::None),
        ][models];
        let Some(want) = reference_classes(&h, kind, order) else { return Ok(()) };
        let r = common::check(kind, &h, &[model]);
        let got: BTreeSet<String> =
            r.anomaly_types.iter().filter(|a| is_cycle_class(a)).cloned().collect();
        prop_assert_eq!(got, want, "{:#?}", r.anomalies);
    }
}

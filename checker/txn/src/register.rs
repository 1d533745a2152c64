//! rw-register inference: what a register history proves about version order, and the
//! dependencies and non-cycle anomalies that follow.
//!
//! Written values are unique per key, so a read names its writer (wr edges). Version order is
//! not visible in a register, so labrys infers only what is sound:
//! - the initial state (nil) precedes every written version: a transaction that read nil
//!   anti-depends (rw) on every writer of that key. This goes through one virtual node per key,
//!   so it costs one edge per reader and one per writer, not one per pair;
//! - write-follows-read: a transaction that read version `v` of a key and then wrote `w` puts
//!   `v` right before `w`. That gives ww (`v`'s writer → it) and rw (every other reader of `v`
//!   → it). Two such transactions on the same `v` are a `lost-update`; a cycle among these
//!   inferred version orders is `cyclic-versions`.
//!
//! Process and real-time order are not used to infer version order (only as graph edges).
//! A read of a value no transaction wrote is not flagged: elle-cli treats such histories as
//! valid, and labrys agrees.

use crate::append::Inference;
use crate::graph::{sorted_unique, Adj, Dep, Edge, NONE, RW, WR, WW};
use crate::scc::components;
use crate::txn::{Mop, Outcome, Txns, NIL};
use labrys_history::{Anomaly, Error, History};
use petgraph::csr::Csr;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// What one ok transaction did to one key: its external read and its final write.
#[derive(Default, Clone, Copy)]
struct KeyUse {
    ext_read: Option<u32>,
    final_write: Option<u32>,
}

/// Per (key, value): the transaction that wrote it, and whether that write is its final
/// write of the key.
pub(crate) type Writers = HashMap<(u32, u32), (u32, bool)>;

/// A value two transactions wrote to one key: `txn` (the later in the history) and `first`.
pub(crate) struct WrittenTwice {
    pub txn: u32,
    pub first: u32,
    pub key: u32,
    pub val: u32,
}

/// Every written value's writer (see [`Writers`]), or the first value two transactions
/// wrote to the same key: then reads of it have no one writer, and no check may guess.
pub(crate) fn writers(t: &Txns) -> Result<Writers, WrittenTwice> {
    let mut writer: Writers = HashMap::default();
    for (ti, txn) in t.txns.iter().enumerate() {
        for (mi, m) in txn.mops.iter().enumerate() {
            if let Mop::Write { key, val } = *m {
                let last = !txn.mops[mi + 1..]
                    .iter()
                    .any(|m| matches!(m, Mop::Write { key: k, .. } if *k == key));
                if let Some((prev, _)) = writer.insert((key, val), (ti as u32, last)) {
                    if prev != ti as u32 {
                        return Err(WrittenTwice {
                            txn: ti as u32,
                            first: prev,
                            key,
                            val,
                        });
                    }
                }
            }
        }
    }
    Ok(writer)
}

pub fn infer(h: &History, t: &Txns) -> Result<Inference, Error> {
    let mut anomalies: Vec<(&'static str, Anomaly)> = Vec::new();
    let desc = |i: u32| t.describe(h, i);
    let writer = writers(t).map_err(|twice| {
        Error::malformed(
            &t.source,
            t.txns[twice.txn as usize].line,
            format!(
                "value {} is written to key {} twice (also at line {}); \
                 rw-register needs every written value to be unique per key",
                t.val(twice.val),
                t.key(twice.key),
                t.txns[twice.first as usize].line
            ),
        )
    })?;

    // Per ok txn: external read / final write per key; internal and future reads.
    let mut uses: Vec<(u32, u32, KeyUse)> = Vec::new();
    for (ti, txn) in t.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let ti = ti as u32;
        let mut per_key: BTreeMap<u32, (KeyUse, Option<u32>, bool)> = BTreeMap::new();
        for (mi, m) in txn.mops.iter().enumerate() {
            match *m {
                Mop::Write { key, val } => {
                    let e = per_key.entry(key).or_default();
                    e.0.final_write = Some(val);
                    e.1 = Some(val);
                    e.2 = true;
                }
                Mop::ReadReg { key, val: Some(v) } => {
                    let e = per_key.entry(key).or_default();
                    if let Some(known) = e.1 {
                        if known != v {
                            anomalies.push((
                                "internal",
                                Anomaly::new(format!(
                                    "{} read key {} = {}, but its own earlier operations imply {}",
                                    desc(ti),
                                    t.key(key),
                                    t.val(v),
                                    t.val(known)
                                ))
                                .with("txn", ti),
                            ));
                        }
                    } else if !e.2 {
                        e.0.ext_read = Some(v);
                    }
                    e.1 = Some(v);
                    let later = txn.mops[mi + 1..].iter().any(
                        |m| matches!(m, Mop::Write { key: k, val: w } if *k == key && *w == v),
                    );
                    if v != NIL && later {
                        anomalies.push((
                            "future-read",
                            Anomaly::new(format!(
                                "{} read key {} = {} before its own later write of {}",
                                desc(ti),
                                t.key(key),
                                t.val(v),
                                t.val(v)
                            ))
                            .with("txn", ti),
                        ));
                    }
                }
                _ => {}
            }
        }
        for (key, (u, _, _)) in per_key {
            uses.push((ti, key, u));
        }
    }

    let n_txns = t.txns.len() as u32;
    let failed = |w: u32| t.txns[w as usize].outcome == Outcome::Fail;
    let mut deps: Vec<Dep> = Vec::new();
    let mut readers: HashMap<(u32, u32), Vec<u32>> = HashMap::default();
    let mut successors: HashMap<(u32, u32), Vec<(u32, u32)>> = HashMap::default();
    let mut init_node: HashMap<u32, u32> = HashMap::default();
    for &(ti, key, u) in &uses {
        let Some(v) = u.ext_read else { continue };
        readers.entry((key, v)).or_default().push(ti);
        if let Some(w) = u.final_write {
            successors.entry((key, v)).or_default().push((ti, w));
        }
        if v == NIL {
            let next = n_txns + init_node.len() as u32;
            let node = *init_node.entry(key).or_insert(next);
            deps.push(Dep {
                from: ti,
                to: node,
                kind: RW,
                key,
                a: NONE,
                b: NONE,
            });
            continue;
        }
        let Some(&(w, is_final)) = writer.get(&(key, v)) else {
            continue;
        };
        if failed(w) {
            anomalies.push((
                "G1a",
                Anomaly::new(format!(
                    "{} read key {} = {}, which was written by the failed {}",
                    desc(ti),
                    t.key(key),
                    t.val(v),
                    desc(w)
                ))
                .with("reader", ti)
                .with("writer", w),
            ));
            continue;
        }
        if w == ti {
            continue;
        }
        deps.push(Dep {
            from: w,
            to: ti,
            kind: WR,
            key,
            a: v,
            b: NONE,
        });
        if !is_final {
            anomalies.push((
                "G1b",
                Anomaly::new(format!(
                    "{} read key {} = {}, an intermediate write of {}, which wrote key {} again \
                     afterwards",
                    desc(ti),
                    t.key(key),
                    t.val(v),
                    desc(w),
                    t.key(key)
                ))
                .with("reader", ti)
                .with("writer", w),
            ));
        }
    }

    // Write-follows-read: v < w.
    let mut version_edges: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
    let mut succ: Vec<_> = successors.into_iter().collect();
    succ.sort_unstable_by_key(|e| e.0);
    for ((key, v), next) in succ {
        if next.len() > 1 {
            let who: Vec<String> = next.iter().map(|(tx, _)| format!("T{tx}")).collect();
            anomalies.push((
                "lost-update",
                Anomaly::new(format!(
                    "{} all read key {} = {} and then wrote it: all but one of those updates \
                     was lost",
                    who.join(", "),
                    t.key(key),
                    t.val(v)
                ))
                .with("txns", next.iter().map(|n| n.0).collect::<Vec<_>>()),
            ));
        }
        for &(tx, w) in &next {
            version_edges.entry(key).or_default().push((v, w));
            if v != NIL {
                if let Some(&(wv, _)) = writer.get(&(key, v)) {
                    if wv != tx && !failed(wv) {
                        deps.push(Dep {
                            from: wv,
                            to: tx,
                            kind: WW,
                            key,
                            a: v,
                            b: w,
                        });
                    }
                }
            }
            for &r in readers.get(&(key, v)).map(Vec::as_slice).unwrap_or(&[]) {
                if r != tx {
                    let a = if v == NIL { NONE } else { v };
                    deps.push(Dep {
                        from: r,
                        to: tx,
                        kind: RW,
                        key,
                        a,
                        b: w,
                    });
                }
            }
        }
    }
    for (key, edges) in version_edges {
        // Versions of this key as dense nodes, then their SCCs (iteratively: version chains
        // can be long).
        let mut ids: HashMap<u32, u32> = HashMap::default();
        let mut vals: Vec<u32> = Vec::new();
        let mut id = |v: u32, vals: &mut Vec<u32>| {
            *ids.entry(v).or_insert_with(|| {
                vals.push(v);
                vals.len() as u32 - 1
            })
        };
        let dense: Vec<(u32, u32, Edge)> = edges
            .iter()
            .map(|&(a, b)| (id(a, &mut vals), id(b, &mut vals), Edge::new(WW, NONE)))
            .collect();
        let mut g: Adj = Csr::from_sorted_edges(&sorted_unique(dense)).expect("sorted");
        while g.node_count() < vals.len() {
            g.add_node(());
        }
        let (comp, sizes) = components(&g, WW);
        if let Some(c) = sizes.iter().position(|&s| s > 1) {
            let cyc: Vec<u32> = (0..vals.len())
                .filter(|&i| comp[i] == c as u32)
                .map(|i| vals[i])
                .collect();
            let vs: Vec<String> = cyc.iter().map(|&v| t.val(v).to_string()).collect();
            anomalies.push((
                "cyclic-versions",
                Anomaly::new(format!(
                    "key {}: reads followed by writes order versions {} in a cycle",
                    t.key(key),
                    vs.join(", ")
                )),
            ));
        }
    }

    // Initial-state nodes: node -> every writer of the key that certainly took effect: ok, or
    // crashed (info) but read by someone. An unobserved info write may never have happened.
    let mut extra_edges = Vec::new();
    let mut by_key: HashMap<u32, Vec<u32>> = HashMap::default();
    for (&(key, v), &(w, _)) in &writer {
        let happened = match t.txns[w as usize].outcome {
            Outcome::Ok => true,
            Outcome::Info => readers.contains_key(&(key, v)),
            Outcome::Fail => false,
        };
        if happened && init_node.contains_key(&key) {
            by_key.entry(key).or_default().push(w);
        }
    }
    for (key, mut ws) in by_key {
        ws.sort_unstable();
        ws.dedup();
        let node = init_node[&key];
        for w in ws {
            extra_edges.push((node, w, Edge::new(RW, NONE)));
        }
    }
    Ok(Inference {
        anomalies,
        deps,
        extra_edges,
        extra_nodes: init_node.len(),
    })
}

//! list-append inference: version orders from reads, the non-cycle anomalies they reveal, and
//! the ww/wr/rw dependencies between transactions.
//!
//! Appended values are unique per key, so a read `[1 2 3]` of key `k` names both the writers
//! of its elements and the order they were applied in. The longest read of each key is its
//! version order; every other read must be a prefix of it (else `incompatible-order`).
//! Dependencies follow version successors, so a hot key costs one edge per read and per
//! version, never one per pair of transactions:
//! - ww: the writer of each element to the writer of the next (when they differ);
//! - wr: the writer of a read's last element to the reader;
//! - rw: a reader to the writer of the element right after what it read.
//!
//! - appends of committed transactions that no read saw come after the whole longest read, in
//!   an unknown order: the writer of its last element precedes each of them (ww), and each
//!   reader of the whole longest read anti-depends on each of them (rw). Both go through one
//!   virtual node per key, so this too stays linear.
//!
//! Only a transaction's *external* read of a key (its first read, before it appends to that
//! key itself) creates wr/rw edges; later reads are checked against it (`internal`).

use crate::graph::{Dep, Edge, NONE, RW, WR, WW};
use crate::txn::{Mop, Outcome, Txns};
use labrys_history::{Anomaly, Error, History};
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

/// Found anomalies (name, explanation), the dependency edges, and pass-through edges out of
/// virtual nodes numbered from the transaction count (see [`crate::graph`]).
pub struct Inference {
    pub anomalies: Vec<(&'static str, Anomaly)>,
    pub deps: Vec<Dep>,
    pub extra_edges: Vec<(u32, u32, Edge)>,
    pub extra_nodes: usize,
}

/// What one worker collects over a run of transactions; merged in transaction order.
#[derive(Default)]
struct Acc<'a> {
    anomalies: Vec<(&'static str, Anomaly)>,
    deps: Vec<Dep>,
    /// Reads that are not prefixes of their key's order: (key, reader, read).
    incompatible: Vec<(u32, u32, &'a [u32])>,
    /// External reads of a key's whole order: (key, reader, last element).
    full_readers: Vec<(u32, u32, u32)>,
    scratch: Vec<u32>,
    state: Vec<KeyState<'a>>,
}

impl Acc<'_> {
    fn merge(mut self, other: Self) -> Self {
        self.anomalies.extend(other.anomalies);
        self.deps.extend(other.deps);
        self.incompatible.extend(other.incompatible);
        self.full_readers.extend(other.full_readers);
        self
    }
}

/// Within one transaction, per key: the state its last read saw, and the index of the micro-op
/// after that read.
type KeyState<'a> = (u32, Option<&'a [u32]>, usize);

/// Where an appended value came from: transaction and micro-op index.
#[derive(Clone, Copy)]
struct Writer {
    txn: u32,
    mop: u32,
    /// Position of the value in its key's version order, `NONE` when no read saw it.
    pos: u32,
}

pub fn infer(h: &History, t: &Txns) -> Result<Inference, Error> {
    let mut anomalies: Vec<(&'static str, Anomaly)> = Vec::new();
    let desc = |i: u32| t.describe(h, i);
    let kv = |k: u32| t.key(k).to_string();
    let vv = |v: u32| t.val(v).to_string();

    // Writers of each (key, value).
    let mut writer: HashMap<(u32, u32), Writer> = HashMap::default();
    writer.reserve(t.txns.iter().map(|x| x.mops.len()).sum::<usize>() / 2);
    for (ti, txn) in t.txns.iter().enumerate() {
        for (mi, m) in txn.mops.iter().enumerate() {
            if let Mop::Append { key, val } = *m {
                let w = Writer {
                    txn: ti as u32,
                    mop: mi as u32,
                    pos: NONE,
                };
                if let Some(prev) = writer.insert((key, val), w) {
                    let other = &t.txns[prev.txn as usize];
                    return Err(Error::malformed(
                        &t.source,
                        txn.line,
                        format!(
                            "value {} is appended to key {} twice (also at line {}); list-append \
                             needs every appended value to be unique per key",
                            vv(val),
                            kv(key),
                            other.line
                        ),
                    ));
                }
            }
        }
    }
    let is_last_append = |w: Writer, key: u32| {
        !t.txns[w.txn as usize].mops[w.mop as usize + 1..]
            .iter()
            .any(|m| matches!(m, Mop::Append { key: k, .. } if *k == key))
    };

    // The longest duplicate-free read of each key is its version order. A read is checked
    // for duplicates only when it would become the longest; shorter ones are checked below.
    let mut longest: HashMap<u32, (u32, &[u32])> = HashMap::default();
    let mut scratch: Vec<u32> = Vec::new();
    for (ti, txn) in t.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        for m in &txn.mops {
            let Mop::ReadList {
                key,
                list: Some(lr),
            } = m
            else {
                continue;
            };
            let list = t.list(*lr);
            let cur = longest.get(key).map_or(0, |l| l.1.len());
            if (list.len() > cur || cur == 0 && !longest.contains_key(key))
                && !has_duplicates(list, &mut scratch)
            {
                longest.insert(*key, (ti as u32, list));
            }
        }
    }
    // One pass over each version order: positions, the first element without a committed
    // writer, dirty updates, and ww edges.
    let mut deps: Vec<Dep> = Vec::new();
    let mut keys: Vec<u32> = longest.keys().copied().collect();
    keys.sort_unstable();
    let mut first_bad: HashMap<u32, usize> = HashMap::default();
    for &key in &keys {
        let order = longest[&key].1;
        let mut failed_seen: Option<u32> = None;
        let mut reported = false;
        let mut prev: Option<(u32, u32)> = None;
        let mut bad = usize::MAX;
        for (i, &e) in order.iter().enumerate() {
            let Some(w) = writer.get_mut(&(key, e)) else {
                bad = bad.min(i);
                continue;
            };
            w.pos = i as u32;
            let w = *w;
            let wo = t.txns[w.txn as usize].outcome;
            if wo == Outcome::Fail {
                bad = bad.min(i);
                failed_seen.get_or_insert(w.txn);
                continue;
            }
            if let (Some(f), false) = (failed_seen, reported) {
                reported = true;
                anomalies.push((
                    "dirty-update",
                    Anomaly::new(format!(
                        "key {}: {} appended {} after the failed {}'s append; a committed \
                         write was built on an aborted one",
                        kv(key),
                        desc(w.txn),
                        vv(e),
                        desc(f)
                    ))
                    .with("key", kv(key)),
                ));
            }
            // Elements of failed or unknown writers are no committed versions: the ww edge
            // joins consecutive committed (or indeterminate) ones.
            if let Some((pt, pe)) = prev {
                if pt != w.txn {
                    deps.push(Dep {
                        from: pt,
                        to: w.txn,
                        kind: WW,
                        key,
                        a: pe,
                        b: e,
                    });
                }
            }
            prev = Some((w.txn, e));
        }
        first_bad.insert(key, bad);
    }

    // Every ok read: prefixes of the order are checked cheaply, others element by element.
    let reads = t
        .txns
        .par_iter()
        .enumerate()
        .with_min_len(4096)
        .fold(Acc::default, |mut acc, (ti, txn)| {
            let anomalies = &mut acc.anomalies;
            if txn.outcome != Outcome::Ok {
                return acc;
            }
            let ti = ti as u32;
            for (mi, m) in txn.mops.iter().enumerate() {
                let Mop::ReadList {
                    key,
                    list: Some(lr),
                } = m
                else {
                    continue;
                };
                let list = t.list(*lr);
                let lo = longest.get(key);
                let prefix = lo.is_some_and(|&(_, order)| order.starts_with(list));
                if !prefix && has_duplicates(list, &mut acc.scratch) {
                    anomalies.push((
                        "duplicate-elements",
                        Anomaly::new(format!(
                            "{} read key {} as {}: an appended value appears twice",
                            desc(ti),
                            kv(*key),
                            show(t, list)
                        ))
                        .with("key", kv(*key))
                        .with("txn", ti),
                    ));
                    continue;
                }
                if let (false, Some(_)) = (prefix, lo) {
                    acc.incompatible.push((*key, ti, list));
                }
                let from = if prefix {
                    first_bad[key].min(list.len())
                } else {
                    0
                };
                for &e in &list[from..] {
                    match writer.get(&(*key, e)) {
                        None => anomalies.push((
                            "garbage-read",
                            Anomaly::new(format!(
                            "{} read {} in key {}, but no transaction ever appended {} to key {}",
                            desc(ti),
                            vv(e),
                            kv(*key),
                            vv(e),
                            kv(*key)
                        ))
                            .with("key", kv(*key))
                            .with("txn", ti),
                        )),
                        Some(w) if t.txns[w.txn as usize].outcome == Outcome::Fail => anomalies
                            .push((
                                "G1a",
                                Anomaly::new(format!(
                                    "{} read {} in key {}, which was appended by the failed {}",
                                    desc(ti),
                                    vv(e),
                                    kv(*key),
                                    desc(w.txn)
                                ))
                                .with("key", kv(*key))
                                .with("reader", ti)
                                .with("writer", w.txn),
                            )),
                        _ => {}
                    }
                }
                // Its own later appends to this key must not be visible yet.
                for later in &txn.mops[mi + 1..] {
                    if let Mop::Append { key: k, val } = later {
                        if k == key && list.contains(val) {
                            anomalies.push((
                                "future-read",
                                Anomaly::new(format!(
                                    "{} read {} in key {} before its own later append of {}",
                                    desc(ti),
                                    vv(*val),
                                    kv(*key),
                                    vv(*val)
                                ))
                                .with("key", kv(*key))
                                .with("txn", ti),
                            ));
                        }
                    }
                }
            }
            acc
        })
        .reduce(Acc::default, Acc::merge);
    anomalies.extend(reads.anomalies);
    let mut incompatible: HashMap<u32, ()> = HashMap::default();
    for (key, ti, list) in reads.incompatible {
        if incompatible.insert(key, ()).is_some() {
            continue;
        }
        let (lt, order) = longest[&key];
        anomalies.push((
            "incompatible-order",
            Anomaly::new(format!(
                "key {}: {} read {} but {} read {}; neither is a prefix of the other, so they \
                 cannot both be states of one list",
                kv(key),
                desc(ti),
                show(t, list),
                desc(lt),
                show(t, order)
            ))
            .with("key", kv(key)),
        ));
    }

    // Internal consistency, G1b, and wr/rw edges from external reads.
    let edges = t
        .txns
        .par_iter()
        .enumerate()
        .with_min_len(4096)
        .fold(Acc::default, |mut acc, (ti, txn)| {
            let anomalies = &mut acc.anomalies;
            if txn.outcome != Outcome::Ok {
                return acc;
            }
            let ti = ti as u32;
            // Per key: the state the last read saw and the micro-op index after it; the appends
            // since are rescanned when needed (transactions are short), so nothing is allocated.
            let state = &mut acc.state;
            state.clear();
            for (mi, m) in txn.mops.iter().enumerate() {
                let Mop::ReadList {
                    key,
                    list: Some(lr),
                } = m
                else {
                    continue;
                };
                let list = t.list(*lr);
                let i = match state.iter().position(|s| s.0 == *key) {
                    Some(i) => i,
                    None => {
                        state.push((*key, None, 0));
                        state.len() - 1
                    }
                };
                let (known, since) = (state[i].1, state[i].2);
                let appended = || {
                    txn.mops[since..mi].iter().filter_map(move |m| match m {
                        Mop::Append { key: k, val } if k == key => Some(*val),
                        _ => None,
                    })
                };
                let n_app = appended().count();
                let ok = match known {
                    Some(prev) => {
                        list.len() == prev.len() + n_app
                            && list.starts_with(prev)
                            && list[prev.len()..].iter().copied().eq(appended())
                    }
                    None => {
                        list.len() >= n_app
                            && list[list.len() - n_app..].iter().copied().eq(appended())
                    }
                };
                if !ok {
                    let suffix: Vec<u32> = appended().collect();
                    let expected = match known {
                        Some(prev) => {
                            let mut e = prev.to_vec();
                            e.extend(suffix);
                            format!("exactly {}", show(t, &e))
                        }
                        None => format!("a list ending in {}", show(t, &suffix)),
                    };
                    anomalies.push((
                        "internal",
                        Anomaly::new(format!(
                            "{} read key {} as {}, but its own earlier operations imply {}",
                            desc(ti),
                            kv(*key),
                            show(t, list),
                            expected
                        ))
                        .with("key", kv(*key))
                        .with("txn", ti),
                    ));
                }
                let external = known.is_none() && n_app == 0;
                state[i].1 = Some(list);
                state[i].2 = mi + 1;
                if !external {
                    continue;
                }
                if longest.get(key).is_some_and(|l| l.1.len() == list.len()) {
                    acc.full_readers
                        .push((*key, ti, list.last().copied().unwrap_or(NONE)));
                }
                read_edges(
                    h,
                    t,
                    ti,
                    *key,
                    list,
                    &writer,
                    &longest,
                    &mut acc.deps,
                    anomalies,
                    &is_last_append,
                );
            }
            acc
        })
        .reduce(Acc::default, Acc::merge);
    anomalies.extend(edges.anomalies);
    deps.extend(edges.deps);
    let mut full_readers: HashMap<u32, Vec<(u32, u32)>> = HashMap::default();
    for (key, r, last) in edges.full_readers {
        full_readers.entry(key).or_default().push((r, last));
    }

    let (extra_edges, extra_nodes) =
        unseen_appends(t, &keys, &longest, &writer, &full_readers, &mut deps);
    Ok(Inference {
        anomalies,
        deps,
        extra_edges,
        extra_nodes,
    })
}

#[allow(clippy::too_many_arguments)]
fn read_edges(
    h: &History,
    t: &Txns,
    reader: u32,
    key: u32,
    list: &[u32],
    writer: &HashMap<(u32, u32), Writer>,
    longest: &HashMap<u32, (u32, &[u32])>,
    deps: &mut Vec<Dep>,
    anomalies: &mut Vec<(&'static str, Anomaly)>,
    is_last_append: &dyn Fn(Writer, u32) -> bool,
) {
    let Some(&(_, order)) = longest.get(&key) else {
        return;
    };
    let mut last_writer = NONE;
    let (last, next_pos) = match list.last() {
        Some(&e) => {
            if let Some(w) = writer.get(&(key, e)) {
                last_writer = w.txn;
                let wt = &t.txns[w.txn as usize];
                if w.txn != reader && wt.outcome != Outcome::Fail {
                    deps.push(Dep {
                        from: w.txn,
                        to: reader,
                        kind: WR,
                        key,
                        a: e,
                        b: NONE,
                    });
                    if !is_last_append(*w, key) {
                        anomalies.push((
                            "G1b",
                            Anomaly::new(format!(
                                "{} read key {} ending in {}, an intermediate append of {}: \
                                 that transaction appended to key {} again afterwards",
                                t.describe(h, reader),
                                t.key(key),
                                t.val(e),
                                t.describe(h, w.txn),
                                t.key(key)
                            ))
                            .with("key", t.key(key).to_string())
                            .with("reader", reader)
                            .with("writer", w.txn),
                        ));
                    }
                }
            }
            let p = writer.get(&(key, e)).map_or(NONE, |w| w.pos);
            (e, if p == NONE { None } else { Some(p + 1) })
        }
        None => (NONE, Some(0)),
    };
    // The next committed (or indeterminate) version after what was read.
    let next = next_pos.and_then(|p| {
        order[(p as usize).min(order.len())..]
            .iter()
            .find_map(|&e2| {
                writer
                    .get(&(key, e2))
                    .filter(|w| t.txns[w.txn as usize].outcome != Outcome::Fail)
                    .map(|w| (e2, *w))
            })
    });
    if let Some((e2, w2)) = next {
        // When the next version has the same writer as the last element read, the read saw an
        // intermediate state (G1b, reported above), not a version to order against.
        if w2.txn != reader && w2.txn != last_writer {
            deps.push(Dep {
                from: reader,
                to: w2.txn,
                kind: RW,
                key,
                a: last,
                b: e2,
            });
        }
    }
}

/// `[1 2 3]`, with the values as written in the history.
pub fn show(t: &Txns, list: &[u32]) -> String {
    let items: Vec<String> = list.iter().map(|&v| t.val(v).to_string()).collect();
    format!("[{}]", items.join(" "))
}

/// Edges to committed appends that no read observed (see the module docs). Returns the
/// pass-through edges and how many virtual nodes they use.
fn unseen_appends(
    t: &Txns,
    keys: &[u32],
    longest: &HashMap<u32, (u32, &[u32])>,
    writer: &HashMap<(u32, u32), Writer>,
    full_readers: &HashMap<u32, Vec<(u32, u32)>>,
    deps: &mut Vec<Dep>,
) -> (Vec<(u32, u32, Edge)>, usize) {
    let mut unseen: HashMap<u32, Vec<u32>> = HashMap::default();
    for (&(key, _), w) in writer {
        if t.txns[w.txn as usize].outcome == Outcome::Ok
            && longest.contains_key(&key)
            && w.pos == NONE
        {
            unseen.entry(key).or_default().push(w.txn);
        }
    }
    let mut extra = Vec::new();
    let mut next = t.txns.len() as u32;
    for key in keys {
        let Some(ws) = unseen.get_mut(key) else {
            continue;
        };
        ws.sort_unstable();
        ws.dedup();
        let order = longest[key].1;
        if let Some(&last) = order.last() {
            if let Some(w) = writer.get(&(*key, last)) {
                if t.txns[w.txn as usize].outcome != Outcome::Fail {
                    let node = next;
                    next += 1;
                    deps.push(Dep {
                        from: w.txn,
                        to: node,
                        kind: WW,
                        key: *key,
                        a: last,
                        b: NONE,
                    });
                    extra.extend(ws.iter().map(|&u| (node, u, Edge::new(WW, NONE))));
                }
            }
        }
        if let Some(readers) = full_readers.get(key) {
            let node = next;
            next += 1;
            for &(r, last) in readers {
                // A reader whose last element's writer appended again, unseen, read an
                // intermediate state (G1b): no version to order against.
                let lw = writer.get(&(*key, last)).map_or(NONE, |w| w.txn);
                if lw == NONE || ws.binary_search(&lw).is_err() {
                    deps.push(Dep {
                        from: r,
                        to: node,
                        kind: RW,
                        key: *key,
                        a: last,
                        b: NONE,
                    });
                }
            }
            extra.extend(ws.iter().map(|&u| (node, u, Edge::new(RW, NONE))));
        }
    }
    (extra, (next as usize) - t.txns.len())
}

/// Whether a read repeats an element (without allocating for the usual short reads).
fn has_duplicates(list: &[u32], scratch: &mut Vec<u32>) -> bool {
    if list.len() <= 32 {
        return (1..list.len()).any(|i| list[..i].contains(&list[i]));
    }
    scratch.clear();
    scratch.extend_from_slice(list);
    scratch.sort_unstable();
    scratch.windows(2).any(|w| w[0] == w[1])
}

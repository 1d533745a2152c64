//! Adya's read committed (PL-2) on register histories, exact, against a brute-force oracle
//! that enumerates every version order.
//!
//! PL-2 forbids G1a (reading an aborted write), G1b (reading an intermediate write) and G1c
//! (a cycle of write-write and write-read dependencies, G0 included), for *some* version
//! order: the history is read committed iff one version order of each key leaves `ww ∪ wr`
//! acyclic. The check never enumerates orders: `wr` edges are certain, the only version
//! order it infers (a read then a write of the same key by one transaction) runs along a
//! `wr` edge, and a topological order of an acyclic `wr` graph gives every key a version
//! order with no cycle. The oracle knows none of that: it tries every order.

mod common;
#[path = "common/small.rs"]
mod small;

use labrys_history::OpType;
use labrys_txn::gen::Rng;
use small::{check_at, expected, random_history, to_history, G};
use std::collections::HashMap;

/// Whether some ok transaction reads one key twice, with different values, before writing it
/// (an `internal` anomaly: which read is "the" read is then the internal check's business,
/// and the test leaves such histories out).
fn internally_inconsistent(ts: &[G]) -> bool {
    ts.iter().filter(|t| t.outcome == OpType::Ok).any(|t| {
        t.mops.iter().enumerate().any(|(j, &(is_w, k, v))| {
            !is_w
                && t.mops[..j]
                    .iter()
                    .take_while(|m| !(m.0 && m.1 == k))
                    .any(|m| !m.0 && m.1 == k && m.2 != v)
                && !t.mops[..j].iter().any(|m| m.0 && m.1 == k)
        })
    })
}

/// Is there a version order of each key (every permutation of its committed final writes)
/// under which `ts` has no G1a, G1b or G1c? `None`: too many orders to try.
fn read_committed_oracle(ts: &[G]) -> Option<bool> {
    let mut writer: HashMap<(i64, i64), (usize, bool)> = HashMap::new();
    for (i, t) in ts.iter().enumerate() {
        for (j, &(is_w, k, v)) in t.mops.iter().enumerate() {
            if is_w {
                let last = !t.mops[j + 1..].iter().any(|m| m.0 && m.1 == k);
                writer.insert((k, v), (i, last));
            }
        }
    }
    let ok: Vec<usize> = (0..ts.len())
        .filter(|&i| ts[i].outcome == OpType::Ok)
        .collect();
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for &i in &ok {
        for (j, &(is_w, k, v)) in ts[i].mops.iter().enumerate() {
            // Reads of nil read the initial version; reads after the transaction's own write
            // of the key are its own business.
            if is_w || v == 0 || ts[i].mops[..j].iter().any(|m| m.0 && m.1 == k) {
                continue;
            }
            let (w, last) = writer[&(k, v)];
            if ts[w].outcome != OpType::Ok || !last {
                return Some(false); // G1a, G1b
            }
            edges.push((w, i));
        }
    }
    // Each key's committed final writers, and every order of them.
    let mut keys: Vec<Vec<usize>> = Vec::new();
    let mut by_key: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
    for (&(k, _), &(w, last)) in &writer {
        if last && ts[w].outcome == OpType::Ok {
            by_key.entry(k).or_default().push(w);
        }
    }
    for (_, mut ws) in by_key {
        ws.sort_unstable();
        keys.push(ws);
    }
    let orders: usize = keys
        .iter()
        .map(|ws| (1..=ws.len()).product::<usize>())
        .product();
    if orders > 50_000 {
        return None;
    }
    fn perms(v: &[usize]) -> Vec<Vec<usize>> {
        if v.len() <= 1 {
            return vec![v.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..v.len() {
            let mut rest = v.to_vec();
            let x = rest.remove(i);
            for mut p in perms(&rest) {
                p.insert(0, x);
                out.push(p);
            }
        }
        out
    }
    let per_key: Vec<Vec<Vec<usize>>> = keys.iter().map(|ws| perms(ws)).collect();
    let acyclic = |edges: &[(usize, usize)]| {
        // Repeatedly remove nodes without incoming edges.
        let mut left: Vec<(usize, usize)> = edges.to_vec();
        let mut alive: Vec<bool> = vec![true; ts.len()];
        loop {
            let free: Vec<usize> = (0..ts.len())
                .filter(|&u| alive[u] && !left.iter().any(|&(_, b)| b == u))
                .collect();
            if free.is_empty() {
                return left.is_empty();
            }
            for u in free {
                alive[u] = false;
            }
            left.retain(|&(a, _)| alive[a]);
            if left.is_empty() {
                return true;
            }
        }
    };
    let mut pick = vec![0usize; per_key.len()];
    loop {
        let mut all = edges.clone();
        for (k, &p) in pick.iter().enumerate() {
            for pair in per_key[k][p].windows(2) {
                all.push((pair[0], pair[1]));
            }
        }
        if acyclic(&all) {
            return Some(true);
        }
        // Next combination.
        let mut k = 0;
        loop {
            if k == pick.len() {
                return Some(false);
            }
            pick[k] += 1;
            if pick[k] < per_key[k].len() {
                break;
            }
            pick[k] = 0;
            k += 1;
        }
    }
}

/// Some reads turned into reads of an aborted or an intermediate write (G1a, G1b).
fn plant_dirty_reads(ts: &mut [G], seed: u64) {
    let mut rng = Rng::new(seed ^ 0x9e37);
    let written: Vec<(usize, i64, i64)> = ts
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.mops.iter().filter(|m| m.0).map(move |m| (i, m.1, m.2)))
        .collect();
    for (i, t) in ts.iter_mut().enumerate() {
        for j in 0..t.mops.len() {
            let (is_w, k, _) = t.mops[j];
            if is_w || rng.below(4) != 0 || t.mops[..j].iter().any(|m| m.0 && m.1 == k) {
                continue;
            }
            let from: Vec<i64> = written
                .iter()
                .filter(|&&(w, wk, _)| w != i && wk == k)
                .map(|&(_, _, v)| v)
                .collect();
            if !from.is_empty() {
                t.mops[j].2 = from[rng.below(from.len() as u64) as usize];
            }
        }
    }
}

#[test]
fn read_committed_matches_the_brute_force_oracle() {
    // ADYA_ORACLE_CASES=N runs more.
    let n: u64 = std::env::var("ADYA_ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let (mut invalid, mut skipped, mut cyclic_only, mut internal) = (0, 0, 0, 0);
    for seed in 0..n {
        let mut ts = random_history(seed);
        if seed % 3 == 2 {
            plant_dirty_reads(&mut ts, seed);
        }
        if internally_inconsistent(&ts) {
            internal += 1;
            continue;
        }
        let Some(want) = read_committed_oracle(&ts) else {
            skipped += 1;
            continue;
        };
        invalid += usize::from(!want);
        let h = to_history(&ts);
        let r = check_at(&h, "read-committed");
        assert_eq!(
            r.valid,
            expected(&ts, want),
            "seed {seed}: check {:?} ({:?}), oracle {want}\n{ts:#?}",
            r.valid,
            r.anomaly_types
        );
        if !want
            && !r
                .anomaly_types
                .iter()
                .any(|a| a.starts_with("G1a") || a == "G1b")
        {
            cyclic_only += 1;
        }
    }
    eprintln!(
        "{n} random histories: {invalid} not read committed ({cyclic_only} by a cycle alone), \
         {skipped} with too many version orders to enumerate, {internal} left out as \
         internally inconsistent"
    );
    assert!(skipped < n as usize / 20, "skipped {skipped}");
    assert!(internal < n as usize / 2, "left out {internal}");
    assert!(
        invalid > n as usize / 20 && invalid < n as usize * 19 / 20,
        "{invalid}"
    );
    assert!(cyclic_only > 0, "no history needed the cycle check");
}

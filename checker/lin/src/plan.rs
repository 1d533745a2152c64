//! Before searching: drop crashed ops nobody could observe, and cut the history into segments
//! at quiescent points. Both keep the verdict exact; the proofs are here.
//!
//! # Pruning unobserved `info` ops
//! Take a model honouring the [`Model::produces`] contract, and an `info` op `u` with
//! `produces(u) = t` such that no *other* op that may still be linearized after `u` has
//! `observes = t`. Claim: if a linearization containing `u` exists, one without `u` exists.
//! Proof: after `u` the state has token `t`. Let `o` be the op right after `u`. By the
//! contract `o` observes `t` (impossible: nobody does) or is a blind overwrite. Removing `u`
//! leaves the state before it, `s`; a blind overwrite steps from `s` to the same state it
//! reached from `t`, so every later step is unchanged. If nothing follows `u`, removing it
//! changes nothing observable. `u` is `info`, so leaving it out is allowed. ∎
//! Removing one op only lowers observer counts, so pruning runs to a fixpoint.
//!
//! # Splitting at quiescent points
//! A point of the history (between two records) is *quiescent* when every `ok` op invoked
//! before it has returned and every `info` op invoked before it has been pruned *for the rest
//! of the history* (by the argument above, applied to the suffix: its possible observers are
//! the ops invoked later plus the other pending `info` ops). Every op before the point
//! precedes, in real time, every op after it, so a linearization of the whole is a
//! linearization of the part before followed by one of the part after. Hence: the history is
//! linearizable iff some end state of the first segment starts a linearization of the rest —
//! Horn & Kroening's P-compositionality in time rather than by key. The driver
//! (`check::Level`) searches depth-first over segments: a segment's search stops at its first
//! end state and is resumed for another only if the rest cannot start from it. Where
//! enumerating a segment's end states is cheap it enumerates them all, which makes every
//! search before it unneeded: those memo caches are freed, so memory is bounded by the
//! segments since the last such point, not the history. (Enumerating every end state
//! regardless was the old way; on a long segment with crashed cas ops and values that
//! repeat it took 10⁸ steps to confirm the one end state found after 10³.)

use crate::model::{LinOp, Model};
use crate::search::{pack_event, sorted_events, unpack_event};
use rustc_hash::FxHashMap;

/// The search plan: segments of op indices, in order.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Each segment's ops (indices into the op list), by invocation order.
    pub segments: Vec<Vec<usize>>,
    /// `info` ops dropped before searching (never needed in any linearization).
    pub pruned: Vec<bool>,
    /// How many ops were pruned.
    pub pruned_count: usize,
    /// Each segment's events in real-time order, packed as [`crate::search::pack_event`]
    /// packs them with the op's index in its segment: the sweep that cuts the segments has
    /// sorted them already (empty when the history was not split).
    pub events: Vec<Vec<u64>>,
}

/// Computes the plan. With `split == false` the whole history is one segment; with
/// `prune == false` no op is dropped (and no point is quiescent once an `info` op is pending).
pub fn plan<M: Model>(model: &M, ops: &[LinOp<M::Op>], split: bool, prune: bool) -> Plan {
    let n = ops.len();
    let produces: Vec<Option<u64>> = ops
        .iter()
        .map(|o| if prune { model.produces(&o.op) } else { None })
        .collect();
    let observes: Vec<Option<u64>> = ops.iter().map(|o| model.observes(&o.op)).collect();
    let mut observers = Counts::of(observes.iter().flatten().copied(), n);
    let others = |observers: &Counts, u: usize| -> usize {
        let t = produces[u].expect("only producing ops are pruned");
        observers.get(t) - usize::from(observes[u] == Some(t))
    };

    // Global pruning to a fixpoint: observers anywhere in the history count.
    let mut pruned = vec![false; n];
    let mut pruned_count = 0;
    let mut by_token: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    let mut work: Vec<usize> = Vec::new();
    for u in 0..n {
        if ops[u].complete.is_none() {
            if let Some(t) = produces[u] {
                by_token.entry(t).or_default().push(u);
                work.push(u);
            }
        }
    }
    while let Some(u) = work.pop() {
        if pruned[u] || others(&observers, u) > 0 {
            continue;
        }
        pruned[u] = true;
        pruned_count += 1;
        if let Some(t) = observes[u] {
            observers.take_one(t);
            if let Some(us) = by_token.get(&t) {
                work.extend(us.iter().copied().filter(|&w| !pruned[w]));
            }
        }
    }

    let kept: Vec<usize> = (0..n).filter(|&i| !pruned[i]).collect();
    if !split {
        return Plan {
            segments: vec![kept],
            pruned,
            pruned_count,
            events: Vec::new(),
        };
    }

    // Sweep events in real-time order (calls before returns at equal positions).
    let events = sorted_events(kept.iter().map(|&i| (ops[i].invoke, ops[i].complete, i)));
    let mut segments = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    // The current segment's events, and each op's index in its segment.
    let mut seg_events: Vec<Vec<u64>> = Vec::new();
    let mut current_events: Vec<u64> = Vec::new();
    let mut local = vec![0u32; n];
    let mut pending_ok = 0usize;
    // Pending info ops, and how many of them can never be pruned (no token).
    let mut pool: Vec<usize> = Vec::new();
    let mut stuck_in_pool = 0usize;
    for (pos, is_ret, i) in events.into_iter().map(unpack_event) {
        if !is_ret {
            local[i] = current.len() as u32;
            current_events.push(pack_event(pos, false, current.len()));
            current.push(i);
            if ops[i].complete.is_some() {
                pending_ok += 1;
            } else {
                pool.push(i);
                if produces[i].is_none() {
                    stuck_in_pool += 1;
                }
            }
            continue;
        }
        current_events.push(pack_event(pos, true, local[i] as usize));
        pending_ok -= 1;
        if let Some(t) = observes[i] {
            observers.take_one(t);
        }
        if pending_ok > 0 || stuck_in_pool > 0 {
            continue;
        }
        // Prune the pool for the rest of the history, to a fixpoint.
        let mut changed = true;
        while changed && !pool.is_empty() {
            changed = false;
            let mut k = 0;
            while k < pool.len() {
                let u = pool[k];
                if others(&observers, u) == 0 {
                    pool.swap_remove(k);
                    if let Some(t) = observes[u] {
                        observers.take_one(t);
                    }
                    changed = true;
                } else {
                    k += 1;
                }
            }
        }
        if pool.is_empty() {
            segments.push(std::mem::take(&mut current));
            seg_events.push(std::mem::take(&mut current_events));
        }
    }
    if !current.is_empty() {
        segments.push(current);
        seg_events.push(current_events);
    }
    Plan {
        segments,
        pruned,
        pruned_count,
        events: seg_events,
    }
}

/// How many ops observe each token: a table indexed by token when the tokens are small
/// numbers (a register's are its value ids), a hash map otherwise.
enum Counts {
    Dense(Vec<u32>),
    Sparse(FxHashMap<u64, usize>),
}

impl Counts {
    fn of(tokens: impl Iterator<Item = u64> + Clone, ops: usize) -> Counts {
        let max = tokens.clone().max();
        match max {
            Some(m) if m <= (8 * ops as u64).max(1024) => {
                let mut v = vec![0u32; m as usize + 1];
                for t in tokens {
                    v[t as usize] += 1;
                }
                Counts::Dense(v)
            }
            _ => {
                let mut h: FxHashMap<u64, usize> = FxHashMap::default();
                for t in tokens {
                    *h.entry(t).or_default() += 1;
                }
                Counts::Sparse(h)
            }
        }
    }

    fn get(&self, t: u64) -> usize {
        match self {
            Counts::Dense(v) => v.get(t as usize).map_or(0, |&c| c as usize),
            Counts::Sparse(h) => h.get(&t).copied().unwrap_or(0),
        }
    }

    /// One observer of `t` fewer (there was one).
    fn take_one(&mut self, t: u64) {
        match self {
            Counts::Dense(v) => v[t as usize] -= 1,
            Counts::Sparse(h) => *h.get_mut(&t).expect("counted") -= 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::register::{RegOp, Register};
    use labrys_history::Value;

    fn lo(op: RegOp, invoke: usize, complete: Option<usize>) -> LinOp<RegOp> {
        LinOp {
            op,
            invoke,
            complete,
            call: 0,
        }
    }

    #[test]
    fn splits_at_quiescent_points_and_prunes_unobserved_crashes() {
        let mut m = Register::new(&Value::Int(0));
        let v = |m: &mut Register, i| m.values.id(&Value::Int(i));
        let (one, two, nine) = (v(&mut m, 1), v(&mut m, 2), v(&mut m, 9));
        let ops = vec![
            lo(RegOp::Write(one), 0, Some(1)),
            // A crashed write of 9 that nobody reads: never needed.
            lo(RegOp::Write(nine), 2, None),
            lo(RegOp::Read(one), 3, Some(4)),
            lo(RegOp::Write(two), 5, Some(6)),
            lo(RegOp::Read(two), 7, Some(8)),
        ];
        let p = plan(&m, &ops, true, true);
        assert!(p.pruned[1]);
        assert_eq!(p.pruned_count, 1);
        assert_eq!(p.segments, vec![vec![0], vec![2], vec![3], vec![4]]);
        // Without pruning the pending crash blocks every later split.
        let p = plan(&m, &ops, true, false);
        assert_eq!(p.segments, vec![vec![0], vec![1, 2, 3, 4]]);
    }

    #[test]
    fn an_observed_crash_keeps_its_window_open_until_its_last_observer() {
        let mut m = Register::new(&Value::Int(0));
        let nine = m.values.id(&Value::Int(9));
        let one = m.values.id(&Value::Int(1));
        let ops = vec![
            lo(RegOp::Write(nine), 0, None),
            lo(RegOp::Write(one), 1, Some(2)),
            lo(RegOp::Read(nine), 3, Some(4)),
            lo(RegOp::Read(nine), 5, Some(6)),
            lo(RegOp::Write(one), 7, Some(8)),
        ];
        let p = plan(&m, &ops, true, true);
        assert_eq!(p.pruned_count, 0);
        assert_eq!(p.segments, vec![vec![0, 1, 2, 3], vec![4]]);
    }
}

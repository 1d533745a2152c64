//! The mutex model (Knossos's): one global lock, `acquire` when free, `release` when held.
//!
//! It satisfies the [`Model::produces`] contract with tokens 0 (free) and 1 (held): from
//! "held" only a release can step, and it observes "held"; from "free" only an acquire.

use crate::convert::{bad_call, calls_to_ops};
use crate::model::{Fast, LinOp, Model};
use crate::walk::Walk;
use labrys_history::{Error, History};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutexOp {
    Acquire,
    Release,
}

/// A lock; the state is "held".
#[derive(Clone, Copy, Debug, Default)]
pub struct Mutex;

impl Mutex {
    pub fn from_history(h: &History) -> Result<Vec<LinOp<MutexOp>>, Error> {
        calls_to_ops(h, |call, _ok| match call.f() {
            "acquire" => Ok(Some(MutexOp::Acquire)),
            "release" => Ok(Some(MutexOp::Release)),
            f => Err(bad_call(
                h,
                call,
                format!("a mutex op has f {f:?}; expected acquire or release"),
            )),
        })
    }
}

/// A linearization of a mutex history built greedily in O(n log n); `None` when it gets
/// stuck (the history is then searched, which also finds the counterexample).
///
/// A linearization alternates acquire, release, acquire, …, and all acquires are alike, as
/// are all releases. So the walk never has a choice of *kind*: it places, among the ops that
/// may go next in real time (invoked before every unplaced ok op returned), one of the kind
/// the lock needs, and only when the unplaced ok op that returns first (the horizon) needs
/// it: that op itself when it is of the needed kind, else the op of the needed kind whose
/// return is earliest (an info op, which never returns, last). Exchanging two ops of one
/// kind shows the earliest return is never a worse choice, but nothing depends on that: the
/// order is replayed against the model and real time before it is believed.
fn mutex_witness(ops: &[LinOp<MutexOp>]) -> Option<Vec<usize>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Ready ops of each kind (0: acquire, 1: release), earliest return first.
    let mut ready: [BinaryHeap<Reverse<(usize, usize)>>; 2] =
        [BinaryHeap::new(), BinaryHeap::new()];
    let kind = |j: usize| (ops[j].op == MutexOp::Release) as usize;
    let mut placed = vec![false; ops.len()];
    let mut held = false;
    let mut walk = Walk::new(ops);
    while let Some(h) = walk.horizon(ops, |j| {
        ready[kind(j)].push(Reverse((ops[j].complete.unwrap_or(usize::MAX), j)))
    }) {
        let need = held as usize;
        let j = if kind(h) == need {
            h
        } else {
            loop {
                let Reverse((_, j)) = ready[need].pop()?;
                if !placed[j] {
                    break j;
                }
            }
        };
        placed[j] = true;
        held = !held;
        walk.place(ops, j);
    }
    Some(walk.order)
}

impl Model for Mutex {
    type State = bool;
    type Op = MutexOp;

    fn init(&self) -> bool {
        false
    }

    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }

    fn describe_state(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.to_string()
    }

    fn describe_op(&self, op: &MutexOp) -> String {
        match op {
            MutexOp::Acquire => "acquire",
            MutexOp::Release => "release",
        }
        .to_string()
    }

    /// A greedy linearization ([`mutex_witness`]); histories it cannot place are searched.
    fn fast_check(&self, ops: &[LinOp<MutexOp>]) -> Option<Fast<MutexOp>> {
        mutex_witness(ops).map(Fast::Linearizable)
    }

    fn produces(&self, op: &MutexOp) -> Option<u64> {
        Some(matches!(op, MutexOp::Acquire) as u64)
    }

    fn observes(&self, op: &MutexOp) -> Option<u64> {
        Some(matches!(op, MutexOp::Release) as u64)
    }

    /// All acquires step alike, as do all releases.
    fn twin_key(&self, op: &MutexOp) -> Option<u64> {
        Some(matches!(op, MutexOp::Release) as u64)
    }
}

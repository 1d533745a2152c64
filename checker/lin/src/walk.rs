//! The frame shared by the greedy linearizations of the fast checks (FIFO queues, mutexes):
//! which ops may go next in real time, and which op must go soonest.
//!
//! A walk places ops one at a time. An op may go next when it was invoked before every
//! unplaced `ok` op returned (otherwise one of those must precede it); the unplaced ok op
//! that returns first, the *horizon*, is the one the walk must make room for. Info ops never
//! have to be placed. The model-specific part, which op to place, stays with each model.

use crate::model::LinOp;
use std::collections::BTreeSet;

pub(crate) struct Walk {
    /// Op indices by invocation, and how many of them have been admitted.
    by_invoke: Vec<usize>,
    next: usize,
    /// `(return, op)` of the ok ops not placed yet.
    unplaced_ok: BTreeSet<(usize, usize)>,
    /// The order so far.
    pub order: Vec<usize>,
}

impl Walk {
    pub fn new<O>(ops: &[LinOp<O>]) -> Walk {
        let mut by_invoke: Vec<usize> = (0..ops.len()).collect();
        by_invoke.sort_unstable_by_key(|&j| ops[j].invoke);
        let unplaced_ok: BTreeSet<(usize, usize)> = ops
            .iter()
            .enumerate()
            .filter_map(|(j, o)| o.complete.map(|c| (c, j)))
            .collect();
        Walk {
            by_invoke,
            next: 0,
            order: Vec::with_capacity(unplaced_ok.len()),
            unplaced_ok,
        }
    }

    /// The horizon op, after handing `admit` every op that may now go next and was not
    /// handed before (in invocation order); `None` once every ok op is placed.
    pub fn horizon<O>(&mut self, ops: &[LinOp<O>], mut admit: impl FnMut(usize)) -> Option<usize> {
        let &(horizon, h) = self.unplaced_ok.first()?;
        while self.next < self.by_invoke.len() && ops[self.by_invoke[self.next]].invoke < horizon {
            admit(self.by_invoke[self.next]);
            self.next += 1;
        }
        Some(h)
    }

    /// Appends op `j` to the order.
    pub fn place<O>(&mut self, ops: &[LinOp<O>], j: usize) {
        if let Some(c) = ops[j].complete {
            self.unplaced_ok.remove(&(c, j));
        }
        self.order.push(j);
    }
}

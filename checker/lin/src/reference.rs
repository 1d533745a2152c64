//! A brute-force oracle: the definition of linearizability, executed literally.
//!
//! Tries every order of the ops that respects real time (an `ok` op that returned before
//! another was invoked comes first), letting each `info` op appear anywhere after its
//! invocation or not at all, and asks the model to accept each step. Exponential, no
//! memoisation, no pruning, no splitting: it exists so that every optimisation of the real
//! search can be tested against it on thousands of small random histories.

use crate::model::{LinOp, Model};

/// Whether `ops` has a linearization. Only for small inputs (≲ 10 ops).
pub fn is_linearizable<M: Model>(model: &M, ops: &[LinOp<M::Op>]) -> bool {
    let mut used = vec![false; ops.len()];
    go(model, ops, &mut used, &model.init())
}

fn go<M: Model>(model: &M, ops: &[LinOp<M::Op>], used: &mut [bool], state: &M::State) -> bool {
    if (0..ops.len()).all(|j| used[j] || ops[j].complete.is_none()) {
        return true;
    }
    for i in 0..ops.len() {
        if used[i] {
            continue;
        }
        let must_precede = (0..ops.len())
            .any(|j| !used[j] && j != i && ops[j].complete.is_some_and(|c| c < ops[i].invoke));
        if must_precede {
            continue;
        }
        if let Some(next) = model.step(state, &ops[i].op) {
            used[i] = true;
            let found = go(model, ops, used, &next);
            used[i] = false;
            if found {
                return true;
            }
        }
    }
    false
}

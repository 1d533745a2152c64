//! The mutex model (Knossos's): one global lock, `acquire` when free, `release` when held.
//!
//! It satisfies the [`Model::produces`] contract with tokens 0 (free) and 1 (held): from
//! "held" only a release can step, and it observes "held"; from "free" only an acquire.

use crate::convert::{bad_call, calls_to_ops};
use crate::model::{LinOp, Model};
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

    fn produces(&self, op: &MutexOp) -> Option<u64> {
        Some(matches!(op, MutexOp::Acquire) as u64)
    }

    fn observes(&self, op: &MutexOp) -> Option<u64> {
        Some(matches!(op, MutexOp::Release) as u64)
    }
}

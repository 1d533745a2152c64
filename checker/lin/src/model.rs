//! The `Model` trait: what a sequential object is, so the search can ask "may this op happen
//! now, and what is the state afterwards?".
//!
//! A linearizability check compares a concurrent history against a *sequential specification*.
//! Everything the search knows about the object comes through this trait, so adding a model
//! (a lock service, a counter, your own key-value API) is one `impl Model` plus a function
//! turning history calls into [`LinOp`]s.
//!
//! # Bringing your own model
//! ```
//! use labrys_lin::{Model, LinOp, check_ops};
//! use labrys_history::CheckOptions;
//!
//! /// A counter that can be incremented and read.
//! struct Counter;
//! #[derive(Debug)]
//! enum CounterOp { Incr, Read(i64) }
//!
//! impl Model for Counter {
//!     type State = i64;
//!     type Op = CounterOp;
//!     fn init(&self) -> i64 { 0 }
//!     fn step(&self, s: &i64, op: &CounterOp) -> Option<i64> {
//!         match op {
//!             CounterOp::Incr => Some(s + 1),
//!             CounterOp::Read(v) => (v == s).then_some(*s),
//!         }
//!     }
//!     fn describe_state(&self, s: &i64) -> String { s.to_string() }
//!     fn describe_op(&self, op: &CounterOp) -> String { format!("{op:?}") }
//! }
//!
//! // Process 0 increments during [0, 3]; process 1 reads 1 during [1, 2].
//! let ops = vec![
//!     LinOp { op: CounterOp::Incr, invoke: 0, complete: Some(3), call: 0 },
//!     LinOp { op: CounterOp::Read(1), invoke: 1, complete: Some(2), call: 1 },
//! ];
//! let outcome = check_ops(&Counter, &ops, &CheckOptions::default());
//! assert!(outcome.is_linearizable());
//! ```
//!
//! Rules for a model:
//! - `step` must be a pure function of `(state, op)`: the search memoises on states.
//! - Ops carry their *observed results* (a read carries the value it returned), so `step`
//!   returning `None` means "this op, with this result, cannot happen in this state".
//! - States are hashed and compared millions of times: keep them small (intern values to
//!   integers, as the built-in models do).
//! - Describe only what happened. `fail` ops are not given to the search (they never took
//!   effect), and an `info` op whose result is what the model would check (an unknown read)
//!   should not be given either: it constrains nothing.
//! - `produces`/`observes` are an optional optimisation, see their docs; leave the defaults
//!   unless the contract holds for your model.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification.
pub trait Model: Sync {
    /// The object's state. Cheap to clone and hash.
    type State: Clone + Eq + Hash + Send + Sync + Debug;
    /// One operation with its observed result.
    type Op: Send + Sync + Debug;

    /// The state before any op.
    fn init(&self) -> Self::State;

    /// The state after `op` took effect in `state`, or `None` when `op` (with the result the
    /// history recorded for it) cannot happen in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// A state in plain words, for counterexamples (`3`, `locked`, `{x 1, y 2}`).
    fn describe_state(&self, state: &Self::State) -> String;

    /// An op in plain words, for counterexamples (`write 3`, `cas 1→2`, `read → 4`).
    fn describe_op(&self, op: &Self::Op) -> String;

    /// Optional. `true` when `op` never changes the state: whenever `step` succeeds it returns
    /// the state it was given (a read). The search then places such an op as soon as it can
    /// and never tries it later, which is exact (moving a read-only op earlier, to a point
    /// where it succeeds and where everything that must precede it already has, changes no
    /// state and breaks no real-time order). Default `false` (always safe).
    fn is_read_only(&self, _op: &Self::Op) -> bool {
        false
    }

    /// Optional. `Some(t)` when every successful `step` of `op` leaves a state identified by
    /// token `t` whatever the state before (a write of 3 always leaves "3").
    ///
    /// Contract, for the pruning of crashed ops to stay exact: for every token `t`, every op
    /// that can step from a state with token `t` either has `observes(op) == Some(t)` or is a
    /// *blind overwrite*: it steps from every state, always to the same state. (A register has
    /// this property: after a write of 3, the next op is a read of 3, a cas from 3, or a write.)
    fn produces(&self, _op: &Self::Op) -> Option<u64> {
        None
    }

    /// Optional, see [`Model::produces`]: the state token this op requires to step, if any.
    fn observes(&self, _op: &Self::Op) -> Option<u64> {
        None
    }

    /// Optional. `Some(c)` when an `info` occurrence of `op` can always be moved to *right
    /// before* an op `o` with `observes(o) == Some(c)`, or left out: for every linearization
    /// with `op` in it, one exists where `op` is immediately followed by such an `o`, or
    /// absent. The search then never places `op` anywhere else, which prunes the many
    /// pointless positions of crashed ops. Default: a blind op under the
    /// [`Model::produces`] contract (it observes nothing and produces `t`) defers to `t`:
    /// what follows it either observes `t` or overwrites it blindly, and then it can go.
    fn defer_class(&self, op: &Self::Op) -> Option<u64> {
        match self.observes(op) {
            None => self.produces(op),
            Some(_) => None,
        }
    }

    /// Optional. Pairs `(a, b)` of indices into `ops` (one window of the search): `b` may
    /// only be placed once `a` is. The search then never tries `b` while `a` is unplaced,
    /// which cuts orders that could only fail later. Contract, for the verdict to stay exact:
    /// whenever the window has a linearization, it has one that places `a` before `b` for
    /// every pair (or leaves `b` out, when `b` is `info`). Pairs that hold in *every*
    /// linearization qualify; so do normal forms, like using interchangeable crashed ops in
    /// invocation order. Default: none.
    fn extra_order(&self, _ops: &[&LinOp<Self::Op>]) -> Vec<(usize, usize)> {
        Vec::new()
    }

    /// Optional. A key such that two ops with the same key are *twins*: `step` gives the
    /// same answer for both from every state (a write of 3 and another write of 3; two reads
    /// of 5). The search then tries, among twins that may go next, only the one that must
    /// return first (see `search`). Ops that step differently must have different keys;
    /// `None`: no twin. (The search also requires twins to agree on `observes`,
    /// `defer_class` and `is_read_only`, and checks that itself.) Default `None`.
    fn twin_key(&self, _op: &Self::Op) -> Option<u64> {
        None
    }

    /// Optional. `true` when a window's ops can be cut down to a *source-closed* subset for
    /// a counterexample: with every kept op that observes a token (see [`Model::produces`])
    /// the subset keeps every op that may be the last producing op before it. Contract:
    /// restricting a linearization of the window (from any start state) to such a subset is
    /// a linearization of the subset from the same start state. A register has this
    /// property: the last op before a read or cas of `v` that wrote anything wrote `v`, and
    /// is kept. Default `false`.
    fn closed_cores(&self) -> bool {
        false
    }

    /// Optional. A decision procedure faster than the search for the histories it
    /// recognises (`None`: not one of them, search as usual). Its answers are *checked*, not
    /// trusted: a [`Fast::Linearizable`] order is replayed against [`Model::step`] and real
    /// time, and a [`Fast::NotLinearizable`] core is searched exactly; an answer that fails
    /// its check is ignored and the search runs. Contract for the core: the history is
    /// linearizable only if the sub-history of the core's ops is (for a register with values
    /// written once: a core that holds the writer of every value its ops observe).
    fn fast_check(&self, _ops: &[LinOp<Self::Op>]) -> Option<Fast<Self::Op>> {
        None
    }
}

/// The answer of a [`Model::fast_check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fast<O> {
    /// A linearization: indices into the ops, in order. Every `ok` op appears once; an `info`
    /// op appears at most once (absent: it never took effect).
    Linearizable(Vec<usize>),
    /// A few ops that cannot be linearized even on their own, with why in plain words. In
    /// `why`, `⟨i⟩` stands for op `i` (reports replace it with the op's words and lines).
    /// `relaxed` replaces some core ops, for the core's search, by ops that step from more
    /// states (a cas by a blind write of its new value, so that a core need not reach back
    /// to the start of the history) or that see less (a set read projected onto the core's
    /// values); the contract holds for the relaxed core.
    NotLinearizable {
        core: Vec<usize>,
        why: String,
        relaxed: Vec<(usize, O)>,
    },
}

impl<O> Fast<O> {
    /// A core with nothing relaxed.
    pub fn core(core: Vec<usize>, why: String) -> Fast<O> {
        Fast::NotLinearizable {
            core,
            why,
            relaxed: Vec::new(),
        }
    }

    /// The same answer with `why` as its explanation.
    pub fn with_why(mut self, text: String) -> Fast<O> {
        if let Fast::NotLinearizable { why, .. } = &mut self {
            *why = text;
        }
        self
    }

    /// How an explanation names op `i`: the marker `⟨i⟩`, which reports replace with the
    /// op's process, words and lines.
    pub fn op(i: usize) -> String {
        format!("⟨{i}⟩")
    }
}

/// An operation to linearize: the model op plus its real-time interval.
///
/// Positions are any total order of the history's events (the built-in converters use the
/// record positions in the file). `complete: None` is an op whose outcome is unknown (`info`,
/// or never completed): it may take effect at any point after `invoke`, or never.
#[derive(Clone, Debug)]
pub struct LinOp<O> {
    pub op: O,
    pub invoke: usize,
    pub complete: Option<usize>,
    /// Index of the client call in `History::pairs` (or any id the caller wants echoed in
    /// counterexamples).
    pub call: usize,
}

//! A whole history, with each client's invocations paired to their completions.
//!
//! Pairing is where most malformed histories show up, so it happens once, here, and every
//! checker gets the same answer. The rules (Jepsen's):
//! - a completion (`ok`/`fail`/`info`) pairs with the pending invoke of the same process;
//! - a completion with no pending invoke, a second invoke while one is pending, or a completion
//!   whose `f` differs from its invoke's are errors naming the line and column of the record at
//!   fault (when only one of the two has an `f`, the one without it);
//! - an invoke never completed by the end of the history is treated as `info` (unknown);
//! - ops of named processes (`:nemesis`) are kept in `ops` but never paired.

use crate::error::Error;
use crate::op::{Op, OpType, Process};
use rustc_hash::FxHashMap as HashMap;

/// A client operation: an invocation and, when there is one, its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// Position of the invoke in `History::ops`.
    pub invoke: usize,
    /// Position of the completion in `History::ops`; `None` when the history ends first.
    pub completion: Option<usize>,
}

/// A parsed, paired history.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Every record in file order, client and non-client alike.
    pub ops: Vec<Op>,
    /// Client operations in invocation order.
    pub pairs: Vec<Pair>,
    /// Where the history came from (a file name), for messages.
    pub source: String,
    /// True when no record named a process and the reader inferred them (Elle's hand-written
    /// EDN histories): pairing is then an assumption, and lint says so.
    pub processes_inferred: bool,
    /// Bytes the ops hold, as the reader estimated them against its memory limit (0 when the
    /// history was not read from text).
    pub held_bytes: u64,
}

/// A borrowed view of one client operation.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub invoke: &'a Op,
    pub completion: Option<&'a Op>,
    /// Position of the invoke in `History::ops`.
    pub invoke_pos: usize,
    /// Position of the completion in `History::ops`, or `usize::MAX` when there is none: an op
    /// that never completed is concurrent with everything after its invocation.
    pub complete_pos: usize,
}

impl<'a> Call<'a> {
    /// `Ok`, `Fail`, or `Info` (also when the history ended before a completion).
    pub fn outcome(&self) -> OpType {
        self.completion.map(|c| c.kind).unwrap_or(OpType::Info)
    }

    /// The value a checker should read: the completion's for `ok` ops (reads learn their
    /// result there), the invocation's otherwise.
    pub fn value(&self) -> &'a crate::Value {
        match self.completion {
            Some(c) if c.kind == OpType::Ok => &c.value,
            _ => &self.invoke.value,
        }
    }

    pub fn f(&self) -> &'a str {
        &self.invoke.f
    }

    pub fn process(&self) -> i64 {
        self.invoke.process.client().unwrap_or(-1)
    }
}

impl History {
    /// Pairs `ops` (in file order) and checks that they form a well-formed history.
    pub fn from_ops(ops: Vec<Op>, source: impl Into<String>) -> Result<History, Error> {
        let source = source.into();
        // Per process: the position of its pending invoke and that invoke's index in `pairs`.
        let mut pending: HashMap<i64, (usize, usize)> = HashMap::default();
        let mut pairs: Vec<Pair> = Vec::new();
        for (pos, op) in ops.iter().enumerate() {
            let Process::Client(p) = op.process else {
                continue;
            };
            match op.kind {
                OpType::Invoke => {
                    if let Some(&(prev, _)) = pending.get(&p) {
                        return Err(Error::malformed_at(
                            &source,
                            op.line,
                            op.col,
                            format!(
                                "process {p} invokes {} while its invoke of {} (line {}) is still pending; \
                                 expected a completion (ok/fail/info) of that op first",
                                op.f, ops[prev].f, ops[prev].line
                            ),
                        ));
                    }
                    pending.insert(p, (pos, pairs.len()));
                    pairs.push(Pair {
                        invoke: pos,
                        completion: None,
                    });
                }
                _ => {
                    let Some((inv, pair)) = pending.remove(&p) else {
                        return Err(Error::malformed_at(
                            &source,
                            op.line,
                            op.col,
                            format!(
                                "{} of {} by process {p} has no pending invoke; expected an invoke by \
                                 process {p} before it",
                                op.kind, op.f
                            ),
                        ));
                    };
                    let inv_op = &ops[inv];
                    if inv_op.f != op.f {
                        // Blame the record that is wrong: the one without an f when only one
                        // has it, else the completion (it disagrees with what was invoked).
                        let (bad, other) = if inv_op.f.is_empty() {
                            (inv_op, op)
                        } else {
                            (op, inv_op)
                        };
                        let what = |o: &Op| {
                            if o.f.is_empty() {
                                "no f".to_string()
                            } else {
                                format!("f {:?}", &*o.f)
                            }
                        };
                        return Err(Error::malformed_at(
                            &source,
                            bad.line,
                            bad.col,
                            format!(
                                "the {} of process {p} has {} but its {} (line {}) has {}; \
                                 expected the same f on both records",
                                bad.kind,
                                what(bad),
                                other.kind,
                                other.line,
                                what(other)
                            ),
                        ));
                    }
                    pairs[pair].completion = Some(pos);
                }
            }
        }
        Ok(History {
            ops,
            pairs,
            source,
            processes_inferred: false,
            held_bytes: 0,
        })
    }

    /// Client operations in invocation order.
    pub fn calls(&self) -> impl Iterator<Item = Call<'_>> + '_ {
        self.pairs.iter().map(move |p| self.call(*p))
    }

    pub fn call(&self, p: Pair) -> Call<'_> {
        Call {
            invoke: &self.ops[p.invoke],
            completion: p.completion.map(|c| &self.ops[c]),
            invoke_pos: p.invoke,
            complete_pos: p.completion.unwrap_or(usize::MAX),
        }
    }

    /// Ops of non-client processes (the nemesis and the like).
    pub fn non_client_ops(&self) -> impl Iterator<Item = &Op> + '_ {
        self.ops.iter().filter(|o| !o.is_client())
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

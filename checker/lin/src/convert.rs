//! From a paired history to the ops the search linearizes: the semantics of outcomes.
//!
//! - `ok`: the op took effect at one instant between its invocation and its completion, with
//!   the result the completion recorded;
//! - `fail`: it certainly did not take effect, so it is dropped (Knossos's reading; Porcupine
//!   instead reads a failed etcd cas as "compared and found another value", which gives the
//!   same verdicts on its corpus and is strictly weaker information);
//! - `info` (or never completed): it may take effect at any instant after its invocation, or
//!   never. Its result is unknown, so the model sees the invocation's value; an op whose only
//!   effect is its result (a read) then constrains nothing and the model drops it.
//!
//! Positions are record positions in the history, which orders every invocation and
//! completion in real time.

use crate::model::LinOp;
use labrys_history::{Call, Error, History, OpType};

/// Builds one [`LinOp`] per client call that may have taken effect. `make(call, ok)` returns
/// the model op (`ok` says whether the result is known) or `None` to drop the call.
pub fn calls_to_ops<O>(
    h: &History,
    mut make: impl FnMut(&Call<'_>, bool) -> Result<Option<O>, Error>,
) -> Result<Vec<LinOp<O>>, Error> {
    // One op per call at most: sized once instead of doubling (and copying) a dozen times.
    let mut out = Vec::with_capacity(h.pairs.len());
    for (i, call) in h.calls().enumerate() {
        let ok = match call.outcome() {
            OpType::Ok => true,
            OpType::Fail => continue,
            _ => false,
        };
        if let Some(op) = make(&call, ok)? {
            out.push(LinOp {
                op,
                invoke: call.invoke_pos,
                complete: ok.then_some(call.complete_pos),
                call: i,
            });
        }
    }
    Ok(out)
}

/// The line to blame for a call: its completion's when it has one with a line, else the
/// invocation's.
pub fn line_of(call: &Call<'_>) -> u32 {
    match call.completion {
        Some(c) if c.line > 0 => c.line,
        _ => call.invoke.line,
    }
}

/// An error for a call the model cannot read.
pub fn bad_call(h: &History, call: &Call<'_>, msg: impl std::fmt::Display) -> Error {
    Error::malformed(&h.source, line_of(call), msg)
}

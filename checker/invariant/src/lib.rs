//! Checkers for workloads whose correctness is an invariant rather than a full model.
//!
//! Many Jepsen tests do not ask "is this history linearizable?" but "did the system keep a
//! promise?": a bank whose total never changes, a set that loses no acknowledged element, a
//! counter whose reads stay within bounds. This crate decides those promises with Jepsen's
//! semantics, one module per checker:
//!
//! - [`bank`]: balances sum to the total, no negative or unexpected accounts;
//! - [`set`]: adds, then a final read; lost / unexpected / recovered elements;
//! - [`set_full`]: reads throughout; per element visibility, loss and staleness;
//! - [`counter`]: every read between acknowledged and possibly-applied increments;
//! - [`long_fork`]: group reads observing incompatible orders of inserts;
//! - [`unique_ids`]: `generate` never returns the same id twice;
//! - [`total_queue`]: what is enqueued comes out, once.
//!
//! [`independent`] checks Jepsen histories of many keys at once (`[key value]` tuples) key by
//! key. [`report`] holds the shared ways of naming ops and summarising element sets in results;
//! `max_tree` answers set-full's "latest earlier read that could have seen it" queries.

pub mod bank;
pub mod counter;
pub mod independent;
pub mod long_fork;
mod max_tree;
pub mod report;
pub mod set;
pub mod set_full;
pub mod total_queue;
pub mod unique_ids;

use labrys_history::{CheckOptions, CheckResult, Error, History};

/// Every workload name [`check`] decides. `queue` is accepted as another name of
/// `total-queue`.
pub const WORKLOADS: &[&str] = &[
    "bank",
    "set",
    "set-full",
    "counter",
    "long-fork",
    "unique-ids",
    "total-queue",
    "queue",
];

/// Checks `h` as `workload`.
///
/// Options read: `total_amount` and `allow_negative_balances` (bank), `group_size`
/// (long-fork), `linearizable` (set-full), `initial` (counter: an integer start value).
/// A history whose values do not have the shape the workload needs is an error naming the file
/// and line; a history that cannot be decided is an `unknown` result with the reason.
pub fn check(workload: &str, h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    match workload {
        "bank" => bank::check(h, opts),
        "set" => set::check(h, opts),
        "set-full" => set_full::check(h, opts),
        "counter" => counter::check(h, opts),
        "long-fork" => long_fork::check(h, opts),
        "unique-ids" => unique_ids::check(h, opts),
        "total-queue" | "queue" => total_queue::check(h, opts),
        other => Ok(CheckResult::unknown(format!(
            "labrys-invariant has no checker for workload {other:?}; it decides: {}",
            WORKLOADS.join(", ")
        ))),
    }
}

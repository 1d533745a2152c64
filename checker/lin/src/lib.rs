//! Linearizability checking for labrys: Knossos's models, a search that goes beyond
//! Porcupine's, and counterexamples a person can read.
//!
//! - [`model`]: the [`Model`] trait (bring your own) and [`LinOp`];
//! - [`models`]: register, cas-register, mutex, multi-register, queues, set, kv strings;
//! - [`convert`]: outcome semantics (`ok` / `fail` / `info`) from a history to ops;
//! - [`unique`]: registers whose observed values are written once, decided in O(n log n)
//!   (the model's [`Model::fast_check`]; `check` verifies its answers);
//! - [`plan`]: pruning unobserved crashed ops and splitting at quiescent points (proofs there);
//! - [`search`]: the memoised just-in-time linearization search;
//! - [`check`]: the driver, [`check_ops`];
//! - [`kv`]: independent keys in parallel;
//! - [`report`]: counterexamples as `CheckResult` anomalies;
//! - [`reference`]: a brute-force oracle for differential tests;
//! - [`sim`]: correct concurrent objects that write histories (soundness tests, benchmarks).
//!
//! The entry point from a history is [`check`].

pub mod check;
pub mod convert;
pub mod intern;
pub mod kv;
pub mod model;
pub mod models;
pub mod plan;
pub mod reference;
pub mod report;
pub mod search;
pub mod sim;
pub mod unique;
mod walk;

pub use check::{check_ops, check_ops_with, Counterexample, Outcome, Strategy, Verdict};
pub use model::{Fast, LinOp, Model};

use labrys_history::{CheckOptions, CheckResult, Error, History, Value};
use models::queue::{Order, Queue};

/// Workloads [`check`] accepts. `set` is the linearizable set object (add/read), not Jepsen's
/// set checker.
pub const WORKLOADS: &[&str] = &[
    "register",
    "cas-register",
    "kv",
    "multi-register",
    "mutex",
    "set",
    "fifo-queue",
    "unordered-queue",
];

/// Checks `h` for linearizability against the model `workload` names.
///
/// Options read: `initial` (register value, or a key → value map for multi-register; default
/// nil / empty), `deadline`, `memory_limit` (memo cache budget, default 4 GiB), `progress`.
pub fn check(workload: &str, h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    let initial = opts.initial.clone().unwrap_or(Value::Nil);
    Ok(match workload {
        "register" | "cas-register" => {
            use models::register::Register;
            let (m, ops) = Register::from_history(h, &initial)?;
            let out = check_ops(&m, &ops, opts);
            if out.verdict == check::Verdict::NotLinearizable {
                // Merging unread values never changes the verdict (a bisimulation), but the
                // counterexample reads better with real values.
                if let Some(raw) = m.without_merging() {
                    if let Some(again) = check::explain_again(&raw, &ops, opts, &out) {
                        return Ok(report::to_result(&raw, &ops, h, &again));
                    }
                }
            }
            report::to_result(&m, &ops, h, &out)
        }
        "mutex" => {
            let m = models::mutex::Mutex;
            let ops = models::mutex::Mutex::from_history(h)?;
            report::to_result(&m, &ops, h, &check_ops(&m, &ops, opts))
        }
        "multi-register" => {
            let (m, ops) =
                models::multi_register::MultiRegister::from_history(h, opts.initial.as_ref())?;
            report::to_result(&m, &ops, h, &check_ops(&m, &ops, opts))
        }
        "fifo-queue" | "unordered-queue" => {
            let order = if workload == "fifo-queue" {
                Order::Fifo
            } else {
                Order::Unordered
            };
            let (m, ops) = Queue::from_history(h, order)?;
            report::to_result(&m, &ops, h, &check_ops(&m, &ops, opts))
        }
        "set" => {
            let (m, ops) = models::set::SetModel::from_history(h)?;
            report::to_result(&m, &ops, h, &check_ops(&m, &ops, opts))
        }
        "kv" => kv::check(h, opts)?,
        other => {
            return Err(Error::malformed(
                &h.source,
                0,
                format!(
                    "labrys-lin has no model for workload {other:?}; expected one of {}",
                    WORKLOADS.join(", ")
                ),
            ))
        }
    })
}

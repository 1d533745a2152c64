//! Fault injection with Jepsen's names and semantics, driven over [`labrys_control::Remote`].
//!
//! - [`db`]: [`NemesisDb`], what the nemesis takes of a database (process faults, primaries,
//!   libfaketime);
//! - [`rng`]: the seeded generator behind every random choice (targets, partitions, timing);
//! - [`fault`]: the fault families a test may ask for, parsed from `--nemesis`;
//! - [`topology`]: pure partition shapes (halves, majorities ring, bridge, isolated node) as
//!   grudges: who drops whose packets;
//! - [`target`]: pure choice of the nodes a process fault hits (one, minority, majority ...);
//! - [`schedule`]: which fault op comes next;
//! - [`net`]: iptables and tc commands that apply and heal network faults on a node;
//! - [`delay`]: packet delay through NFQUEUE and a delayer process (no `tc netem` needed);
//! - [`clock`]: libfaketime-based clock bumps and strobes;
//! - [`nemesis`]: [`Nemesis`], which applies ops, remembers what is active and heals it all.

pub mod clock;
pub mod db;
pub mod delay;
pub mod fault;
pub mod nemesis;
pub mod net;
pub mod rng;
pub mod schedule;
pub mod target;
pub mod topology;

pub use db::NemesisDb;
pub use fault::Fault;
pub use nemesis::{HealOnDrop, Nemesis, NemesisConfig, NemesisError};

/// Node names `n1..=nN`, for tests.
#[cfg(test)]
pub(crate) fn test_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

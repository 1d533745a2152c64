//! labrys's generator library: what operations a test performs, when, and by which process.
//!
//! A test is a [`Generator`] of client operations (built from small combinators in the spirit
//! of Jepsen's: [`mix`], [`stagger`], [`limit`], [`time_limit`], [`phases`] ...) that a pool of
//! worker tasks pulls from, each acting as one logical process against one node. A
//! [`NemesisDriver`] runs alongside on its own interval. Every op is recorded (invoke before
//! the call, completion after) through a [`labrys_store::Recorder`].
//!
//! - [`generator`]: the `Generator` trait and its combinators;
//! - [`client`]: what a database client implements, and what an op's outcome is;
//! - [`runtime`]: the workers, process ids, per-op timeouts, recording, nemesis interleaving;
//! - [`seed`]: every random choice derives from one seed.

pub mod client;
pub mod generator;
pub mod runtime;
pub mod seed;

pub use client::{Client, Completion, OpCtx, OpFuture, OpSpec};
pub use generator::{
    from_fn, limit, mix, once, phases, sequence, sleep, stagger, time_limit, Ctx, Generator, Pull,
};
pub use runtime::{
    LiveCounters, NemesisDriver, NemesisLog, RunConfig, RunStats, Runtime, RuntimeError,
};
pub use seed::{rng_for, Rng};

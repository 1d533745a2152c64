//! The driver: plan, then search segment after segment, carrying the set of possible states.
//!
//! This is the generic entry point for any [`Model`]: [`check_ops`]. It returns an
//! [`Outcome`] in model terms (op indices, described states); `crate::report` turns that into
//! a `CheckResult` with history lines.

use crate::model::{LinOp, Model};
use crate::plan::plan;
use crate::search::{search_segment, Best, Limits, SegResult, Stop};
use labrys_history::CheckOptions;
use std::sync::atomic::AtomicBool;

/// At most this many end states are carried across a quiescent point; past it, the window
/// widens to the next point (exact either way: it only changes where we cut).
pub const MAX_CARRIED_STATES: usize = 64;

/// The reason given for a search stopped because its result was no longer needed.
pub const CANCELLED: &str = "not finished: another key was already found not linearizable";

/// The reason given for a search stopped at its step budget.
pub const OUT_OF_STEPS: &str = "not finished within its step budget";

/// The memo cache budget when `opts.memory_limit` is not set.
pub const DEFAULT_MEMORY_LIMIT: u64 = 4 << 30;

/// Which optimisations to use. Every combination gives the same verdict (tested
/// differentially); the defaults use all of them.
#[derive(Clone, Copy, Debug)]
pub struct Strategy {
    /// Split at quiescent points and carry state sets (see `plan`).
    pub split: bool,
    /// Drop `info` ops nobody could observe (see `plan`).
    pub prune: bool,
    /// Place read-only ops as early as possible, never later (see `Model::is_read_only`).
    pub read_only: bool,
    /// Place blind crashed writes only right before an op that observes them (see `search`).
    pub defer: bool,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy {
            split: true,
            prune: true,
            read_only: true,
            defer: true,
        }
    }
}

/// The verdict of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// Out of time or memory: the reason.
    Unknown(String),
}

/// Where a search got stuck, or how far it got before it stopped.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The window (a segment between quiescent points) that cannot be linearized from any
    /// state the ops before it can leave: op indices, by invocation.
    pub window: Vec<usize>,
    /// Model states at the start of the window (at most a few).
    pub states_before: Vec<String>,
    /// `ok` ops linearized in total at the furthest point (earlier windows included).
    pub prefix_ok: usize,
    /// Ops of the window placed at the furthest point, in no particular order.
    pub placed: Vec<usize>,
    /// Model states after them.
    pub states: Vec<String>,
    /// The last ops placed before getting stuck, in order (the first state of `states` is
    /// the one after them).
    pub tail: Vec<usize>,
    /// The `ok` op that no order can place: unplaced, with the earliest completion.
    pub stuck: Option<usize>,
    /// Unplaced ops concurrent with `stuck` (the candidates that were tried before it).
    pub concurrent: Vec<usize>,
}

/// What [`check_ops`] concluded.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    /// For `NotLinearizable` (and `Unknown`, as the longest linearizable prefix found).
    pub counterexample: Option<Counterexample>,
    pub ops: usize,
    pub segments: usize,
    pub largest_segment: usize,
    pub pruned_info: usize,
    pub steps: u64,
}

impl Outcome {
    pub fn is_linearizable(&self) -> bool {
        self.verdict == Verdict::Linearizable
    }
}

/// Checks `ops` against `model` with every optimisation.
pub fn check_ops<M: Model>(model: &M, ops: &[LinOp<M::Op>], opts: &CheckOptions) -> Outcome {
    check_ops_with(model, ops, opts, Strategy::default())
}

/// Checks `ops` against `model` with the given optimisations.
pub fn check_ops_with<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    opts: &CheckOptions,
    strategy: Strategy,
) -> Outcome {
    check_ops_cancellable(model, ops, opts, strategy, None, u64::MAX)
}

/// [`check_ops_with`], stopping with `Unknown` soon after `cancel` becomes true or after
/// `max_steps` model steps (reason [`CANCELLED`] or [`OUT_OF_STEPS`]).
pub fn check_ops_cancellable<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    opts: &CheckOptions,
    strategy: Strategy,
    cancel: Option<&AtomicBool>,
    max_steps: u64,
) -> Outcome {
    let p = plan(model, ops, strategy.split, strategy.prune);
    let mut limits = Limits {
        cancel,
        max_steps,
        deadline: opts.deadline,
        memory: opts.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT),
        steps: 0,
    };
    let ok_total = ops.iter().filter(|o| o.complete.is_some()).count();
    let bar = (opts.progress && ok_total >= 20_000).then(|| {
        let b = indicatif::ProgressBar::new(ok_total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "linearizing {bar:40} {pos}/{len} ok ops {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut outcome = Outcome {
        verdict: Verdict::Linearizable,
        counterexample: None,
        ops: ops.len(),
        segments: p.segments.len(),
        largest_segment: 0,
        pruned_info: p.pruned_count,
        steps: 0,
    };
    let mut states = vec![model.init()];
    let mut ok_done = 0usize;
    let segs = &p.segments;
    let mut k = 0;
    while k < segs.len() {
        // Search segments k..=end as one window; widen it when the end states of a window
        // are too many to carry (each widening doubles the window).
        let mut end = k;
        loop {
            let window: Vec<usize> = segs[k..=end].iter().flatten().copied().collect();
            let win_ops: Vec<&LinOp<M::Op>> = window.iter().map(|&i| &ops[i]).collect();
            let want_all = end + 1 < segs.len();
            match search_segment(
                model,
                &win_ops,
                &states,
                want_all,
                MAX_CARRIED_STATES,
                strategy,
                &mut limits,
            ) {
                SegResult::Ends(ends) => {
                    states = ends;
                    ok_done += win_ops.iter().filter(|o| o.complete.is_some()).count();
                    outcome.largest_segment = outcome.largest_segment.max(window.len());
                    break;
                }
                SegResult::TooManyEnds => {
                    end = (end + (end - k + 1)).min(segs.len() - 1);
                    continue;
                }
                SegResult::Stuck(best) => {
                    outcome.verdict = Verdict::NotLinearizable;
                    outcome.counterexample =
                        Some(counterexample(model, ops, &window, &states, ok_done, best));
                }
                SegResult::Stopped(why, best) => {
                    let reason = match why {
                        Stop::Deadline => "the time limit passed during the linearization search".to_string(),
                        Stop::Cancelled => CANCELLED.to_string(),
                        Stop::Budget => OUT_OF_STEPS.to_string(),
                        Stop::Memory => format!(
                            "the linearization search's memo cache reached the memory limit ({} MiB) on a \
                             window of {} ops",
                            limits.memory >> 20,
                            window.len()
                        ),
                    };
                    outcome.verdict = Verdict::Unknown(reason);
                    outcome.counterexample =
                        Some(counterexample(model, ops, &window, &states, ok_done, best));
                }
            }
            outcome.steps = limits.steps;
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            return outcome;
        }
        k = end + 1;
        if let Some(b) = &bar {
            b.set_position(ok_done as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    outcome.steps = limits.steps;
    outcome
}

fn counterexample<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    seg: &[usize],
    before: &[M::State],
    ok_done: usize,
    best: Best<M::State>,
) -> Counterexample {
    let mut placed_local = vec![false; seg.len()];
    for &j in &best.placed {
        placed_local[j] = true;
    }
    // The ok op that cannot be placed: unplaced, earliest completion.
    let stuck_local = (0..seg.len())
        .filter(|&j| !placed_local[j])
        .filter_map(|j| ops[seg[j]].complete.map(|c| (c, j)))
        .min()
        .map(|(_, j)| j);
    let concurrent = match stuck_local {
        Some(s) => {
            let so = &ops[seg[s]];
            let end = so.complete.unwrap_or(usize::MAX);
            (0..seg.len())
                .filter(|&j| j != s && !placed_local[j])
                .filter(|&j| {
                    let o = &ops[seg[j]];
                    o.invoke < end && o.complete.is_none_or(|c| c > so.invoke)
                })
                .map(|j| seg[j])
                .collect()
        }
        None => Vec::new(),
    };
    Counterexample {
        window: seg.to_vec(),
        states_before: before
            .iter()
            .take(crate::search::MAX_STATES)
            .map(|s| model.describe_state(s))
            .collect(),
        prefix_ok: ok_done + best.ok_placed,
        placed: best.placed.iter().map(|&j| seg[j]).collect(),
        states: best
            .states
            .iter()
            .map(|s| model.describe_state(s))
            .collect(),
        stuck: stuck_local.map(|j| seg[j]),
        tail: best.tail.iter().map(|&j| seg[j]).collect(),
        concurrent,
    }
}

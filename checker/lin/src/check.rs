//! The driver: plan, then search segment after segment, carrying the set of possible states.
//!
//! This is the generic entry point for any [`Model`]: [`check_ops`]. It returns an
//! [`Outcome`] in model terms (op indices, described states); `crate::report` turns that into
//! a `CheckResult` with history lines.

use crate::model::{Fast, LinOp, Model};
use crate::plan::plan;
use crate::search::{search_segment, Best, Limits, SegResult, Stop};
use labrys_history::CheckOptions;
use rustc_hash::FxHashMap;
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
    /// Ask the model's [`Model::fast_check`] first (its answers are checked, see there).
    pub fast: bool,
    /// Respect the model's [`Model::extra_order`] in the search.
    pub order: bool,
    /// Cut a counterexample's window down to a few ops (see `shrink`); no effect on verdicts.
    pub shrink: bool,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy {
            split: true,
            prune: true,
            read_only: true,
            defer: true,
            fast: true,
            order: true,
            shrink: true,
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
    /// `true` when `window` is a set of ops picked from the history (not a stretch of it)
    /// that cannot be linearized even on their own.
    pub subset: bool,
    /// Why, in plain words, when the model's fast check said so.
    pub why: Option<String>,
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
    /// What decided: [`SEARCH`] or the model's fast check ([`FAST`]).
    pub method: &'static str,
}

/// [`Outcome::method`] of the search.
pub const SEARCH: &str = "search";

/// [`Outcome::method`] of a model's [`Model::fast_check`] (checked).
pub const FAST: &str = "fast check";

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
    if strategy.fast {
        if let Some(o) = fast(model, ops, strategy, &mut limits) {
            return o;
        }
    }
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
        method: SEARCH,
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
                    let mut c = counterexample(model, ops, &window, &states, ok_done, best);
                    if strategy.shrink && model.closed_cores() {
                        if let Some(small) =
                            shrink(model, ops, &window, &states, strategy, &mut limits)
                        {
                            c = small;
                        }
                    }
                    outcome.counterexample = Some(c);
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

/// The model's fast check, with its answer checked: an order is replayed, a core is searched.
/// `None` when the model has none for these ops, or its answer did not hold up (then the
/// search decides; a debug build panics, since that is a bug in the model's fast check).
fn fast<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    strategy: Strategy,
    limits: &mut Limits<'_>,
) -> Option<Outcome> {
    let answer = model.fast_check(ops)?;
    let mut outcome = Outcome {
        verdict: Verdict::Linearizable,
        counterexample: None,
        ops: ops.len(),
        segments: 1,
        largest_segment: ops.len(),
        pruned_info: 0,
        steps: 0,
        method: FAST,
    };
    match answer {
        Fast::Linearizable(order) => {
            if replay(model, ops, &order) {
                outcome.pruned_info = ops.len() - order.len();
                outcome.steps = order.len() as u64;
                return Some(outcome);
            }
            debug_assert!(false, "fast check gave an order that does not replay");
            None
        }
        Fast::NotLinearizable { core, why, relaxed } => {
            // Relaxed ops stand in for the originals in the core's search (see `Fast`).
            let stand_ins: Vec<(usize, LinOp<M::Op>)> = relaxed
                .into_iter()
                .filter(|(i, _)| core.contains(i))
                .map(|(i, op)| {
                    let o = &ops[i];
                    let l = LinOp {
                        op,
                        invoke: o.invoke,
                        complete: o.complete,
                        call: o.call,
                    };
                    (i, l)
                })
                .collect();
            let refs: Vec<&LinOp<M::Op>> = core
                .iter()
                .map(|&i| match stand_ins.iter().find(|(j, _)| *j == i) {
                    Some((_, l)) => l,
                    None => &ops[i],
                })
                .collect();
            let init = [model.init()];
            let exact = Strategy {
                fast: false,
                ..strategy
            };
            let before = limits.steps;
            match search_segment(model, &refs, &init, false, 1, exact, limits) {
                SegResult::Stuck(best) => {
                    let mut c = counterexample(model, ops, &core, &init, 0, best);
                    c.subset = true;
                    c.why = Some(why);
                    outcome.verdict = Verdict::NotLinearizable;
                    outcome.counterexample = Some(c);
                    outcome.largest_segment = core.len();
                    outcome.steps = limits.steps - before;
                    Some(outcome)
                }
                SegResult::Ends(_) | SegResult::TooManyEnds => {
                    debug_assert!(false, "fast check gave a core that is linearizable: {why}");
                    None
                }
                SegResult::Stopped(..) => None,
            }
        }
    }
}

/// Searches `ops` once more with `raw`, the same model without merged states, to explain a
/// violation `first` found with real values: within a few times the first search's steps.
/// `Some` when that search also found the violation (the verdict is the same either way;
/// only the counterexample reads better).
pub fn explain_again<M: Model>(
    raw: &M,
    ops: &[LinOp<M::Op>],
    opts: &CheckOptions,
    first: &Outcome,
) -> Option<Outcome> {
    let budget = first.steps.saturating_mul(4).max(1_000_000);
    let again = check_ops_cancellable(raw, ops, opts, Strategy::default(), None, budget);
    (again.verdict == Verdict::NotLinearizable).then_some(again)
}

/// Searches for the subset budget of [`shrink`].
const SHRINK_SEARCHES: usize = 60;

/// Steps each of [`shrink`]'s searches may take (past it, the subset counts as linearizable).
const SHRINK_STEPS: u64 = 5_000;

/// Cuts a window that cannot be linearized from `starts` down to a few ops that cannot
/// either (for models with [`Model::closed_cores`]): drop one op at a time, keep the possible
/// sources of what the rest observe, and keep the drop when the rest still cannot be
/// linearized from any start state. By the contract of `closed_cores`, a linearization of the window would
/// restrict to one of the subset, so the subset explains the window's failure. Bounded by
/// [`SHRINK_SEARCHES`] small searches; `None` when nothing smaller was found.
fn shrink<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    window: &[usize],
    starts: &[M::State],
    strategy: Strategy,
    limits: &mut Limits<'_>,
) -> Option<Counterexample> {
    let exact = Strategy {
        fast: false,
        ..strategy
    };
    let sources = Sources::new(model, ops, window);
    let closed = |keep: &[usize]| sources.close(keep);
    let stuck_on = |subset: &[usize], limits: &mut Limits<'_>| {
        let refs: Vec<&LinOp<M::Op>> = subset.iter().map(|&i| &ops[i]).collect();
        let saved = limits.max_steps;
        limits.max_steps = limits.steps.saturating_add(SHRINK_STEPS).min(saved);
        let r = search_segment(model, &refs, starts, false, 1, exact, limits);
        limits.max_steps = saved;
        match r {
            SegResult::Stuck(best) => Some(best),
            _ => None,
        }
    };
    // Delta debugging: drop chunks of the core (halves, then quarters, … then single ops),
    // keeping a drop whenever what is left still cannot be linearized.
    let mut core: Vec<usize> = window.to_vec();
    let mut best = None;
    let mut searches = 0;
    let mut size = core.len().div_ceil(2);
    while size >= 1 && searches < SHRINK_SEARCHES {
        let mut progressed = false;
        // Chunks from the end first: the op no order can place is usually early in a
        // window, so the later ops are the ones that tend to go.
        let mut end = core.len();
        while end > 0 && searches < SHRINK_SEARCHES {
            let chunk = end.saturating_sub(size)..end.min(core.len());
            let rest: Vec<usize> = core
                .iter()
                .enumerate()
                .filter(|(k, _)| !chunk.contains(k))
                .map(|(_, &i)| i)
                .collect();
            let candidate = closed(&rest);
            if candidate.len() < core.len() {
                searches += 1;
                if let Some(b) = stuck_on(&candidate, limits) {
                    core = candidate;
                    best = Some(b);
                    progressed = true;
                }
            }
            end = chunk.start;
        }
        if !progressed {
            if size == 1 {
                break;
            }
            size = size.div_ceil(2).max(1).min(size - 1);
        }
    }
    // The last accepted search is the core's own (`None`: nothing smaller was found).
    let mut c = counterexample(model, ops, &core, starts, 0, best?);
    c.subset = true;
    Some(c)
}

/// The possible sources of each op of a window that observes a token (see
/// [`Model::closed_cores`]): the window's ops producing that token that may be the last
/// producing op before it in some linearization, i.e. invoked before it returned, with no
/// `ok` producing op certainly in between (invoked after the source returned, returned
/// before the observer began: it is in every linearization, between the two). The last
/// producing op before an observer always is one of them, so a subset closed under
/// [`Sources::close`] keeps the restriction argument.
pub struct Sources {
    of: FxHashMap<usize, Vec<usize>>,
}

impl Sources {
    pub fn new<M: Model>(model: &M, ops: &[LinOp<M::Op>], window: &[usize]) -> Sources {
        let end = |i: usize| ops[i].complete.unwrap_or(usize::MAX);
        let producing: Vec<usize> = window
            .iter()
            .copied()
            .filter(|&i| model.produces(&ops[i].op).is_some())
            .collect();
        let of = window
            .iter()
            .filter_map(|&r| {
                let t = model.observes(&ops[r].op)?;
                let src = producing
                    .iter()
                    .copied()
                    .filter(|&w| w != r && model.produces(&ops[w].op) == Some(t))
                    .filter(|&w| ops[w].invoke < end(r))
                    .filter(|&w| {
                        !producing.iter().any(|&x| {
                            x != w
                                && ops[x].complete.is_some()
                                && ops[x].invoke > end(w)
                                && end(x) < ops[r].invoke
                        })
                    })
                    .collect();
                Some((r, src))
            })
            .collect();
        Sources { of }
    }

    /// `keep` with the possible sources of its ops, transitively; sorted.
    pub fn close(&self, keep: &[usize]) -> Vec<usize> {
        let mut out: std::collections::BTreeSet<usize> = keep.iter().copied().collect();
        let mut work: Vec<usize> = keep.to_vec();
        while let Some(r) = work.pop() {
            for &w in self.of.get(&r).map(Vec::as_slice).unwrap_or(&[]) {
                if out.insert(w) {
                    work.push(w);
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Whether `order` is a linearization of `ops`: each op at most once, every `ok` op present,
/// each step allowed by the model, and no op placed after one invoked after it returned.
pub fn replay<M: Model>(model: &M, ops: &[LinOp<M::Op>], order: &[usize]) -> bool {
    let mut used = vec![false; ops.len()];
    let mut state = model.init();
    let mut latest_invoke: Option<usize> = None;
    for &i in order {
        let Some(o) = ops.get(i) else { return false };
        if std::mem::replace(&mut used[i], true) {
            return false;
        }
        if let (Some(c), Some(l)) = (o.complete, latest_invoke) {
            if c < l {
                return false;
            }
        }
        latest_invoke = latest_invoke.max(Some(o.invoke));
        match model.step(&state, &o.op) {
            Some(next) => state = next,
            None => return false,
        }
    }
    ops.iter()
        .zip(&used)
        .all(|(o, &u)| u || o.complete.is_none())
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
        subset: false,
        why: None,
    }
}

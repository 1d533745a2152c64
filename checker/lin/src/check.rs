//! The driver: plan, then search the segments depth-first (see [`Level`]).
//!
//! This is the generic entry point for any [`Model`]: [`check_ops`]. It returns an
//! [`Outcome`] in model terms (op indices, described states); `crate::report` turns that into
//! a `CheckResult` with history lines.

use crate::model::{Fast, LinOp, Model};
use crate::plan::plan;
use crate::search::{search_segment, Best, Limits, Next, SegResult, SegSearch, Stop};
use labrys_history::CheckOptions;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// At most this many end states of a segment are enumerated before the search goes on
/// depth-first instead (see [`Level`]).
pub const MAX_CARRIED_STATES: usize = 64;

/// Steps a segment's search may take enumerating every end state before the search goes on
/// depth-first instead (see [`Level`] and [`Strategy::enumerate`]).
pub const EAGER_STEPS: u64 = 20_000;

/// See [`Strategy::eager_from`]: enumerating a segment's end states only frees memory (the
/// searches of the segments before it), which a history this short never needs, while it
/// searches the segment exhaustively where depth-first stops at its first end state (a
/// 1,000-op history of three segments: 20,027 steps enumerating, 5,796 depth-first).
pub const EAGER_FROM_OPS: usize = 20_000;

/// One segment in the depth-first search over segments of [`check_ops_cancellable`].
///
/// A linearization of the history is one of each segment in turn, each starting where the
/// one before ended (see `plan`). The search goes depth-first: a segment's search stops at
/// its first end state, which the next segment's search takes as a start; when a segment's
/// search runs out (no end state from any start given), the segment before is asked for its
/// next end state. Every search keeps its memo cache while it may be asked again, so no
/// configuration of any segment is explored twice: asking for every end state costs no more
/// than enumerating them up front did, and a valid history costs what one search for a
/// linearization costs, as in Porcupine. Enumerating every end state up front (within
/// [`Strategy::enumerate`] steps) proves the history up to there leaves no other state, so
/// the searches before it are dropped: memory stays bounded by the segments since the last
/// such point. Histories shorter than [`Strategy::eager_from`] ops never enumerate: what
/// that frees is small, and it searches each segment to the end.
///
/// Exact: the history is linearizable iff some sequence of end states chains through every
/// segment; the depth-first search tries every end state of every segment from every start
/// it can be given before it gives up, and a search only ever stops early for a verdict
/// (linearizable) or a limit (unknown). When it gives up, the furthest segment's search was
/// given every state the history before it can leave, and found no end state from any.
struct Level<'a, M: Model> {
    /// Index into the plan's segments.
    seg: usize,
    search: SegSearch<'a, M>,
    /// Whether the search is still enumerating every end state (it was given every start
    /// state), until `pause_at` steps or [`MAX_CARRIED_STATES`] end states.
    eager: bool,
    pause_at: u64,
    /// The end states enumerated so far.
    found: Vec<M::State>,
    /// Bytes its memo cache held when the search last left it (0 while it is searching).
    held: u64,
    /// Whether it was given every state the history before it can leave (so a core of its
    /// ops that no order linearizes from them refutes the history, see [`REFUTE_AFTER`]).
    complete: bool,
}

/// Steps a search may take before a core is looked for around where it is stuck, while it
/// is still searching; then again each time it has taken four times as many.
///
/// A history that is not linearizable is, to the search, one whose every order up to the
/// violation must be tried: at 30 clients with values that repeat, millions of orders. But
/// a violation is usually local, and [`shrink`] finds small subsets that no order
/// linearizes, each verified by an exhaustive search of its own. Any subset closed under
/// possible sources refutes the window (see [`Sources`]), whether or not the window's own
/// search has finished, so the core can be looked for early: around the op the search is
/// stuck on at its furthest point, within an eighth of the steps taken so far. Done only on
/// the lowest level, given every start state it can have. Attempts are spaced four times
/// further apart each time, so together they cost at most a sixth of the search itself
/// (1/8 · (1 + 1/4 + 1/16 + …)), and nothing on histories decided sooner.
pub const REFUTE_AFTER: u64 = 1_000_000;

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
    /// Steps a segment's search may spend enumerating every end state up front, which frees
    /// the searches before it, before it goes on depth-first over segments (see [`Level`]);
    /// 0: always depth-first. Default [`EAGER_STEPS`].
    pub enumerate: u64,
    /// Histories of fewer ops never enumerate (see [`EAGER_FROM_OPS`]).
    pub eager_from: usize,
    /// Try the candidates that must return first first (read-only ops before all); else
    /// in invocation order (see `search`).
    pub deadline_first: bool,
    /// Among twin candidates (`Model::twin_key`) try only the one returning first.
    pub twins: bool,
    /// Steps a search takes before it looks for a small core that refutes the history, and
    /// goes on looking each time it has taken four times as many (see [`REFUTE_AFTER`];
    /// needs `shrink`); 0: never. Default [`REFUTE_AFTER`].
    pub refute: u64,
    /// Steps after which a search by return races one by invocation on a second thread (see
    /// [`check_ops_cancellable`]), or after [`RACE_STEPS_PER_OP`] steps per op when that is
    /// fewer (but at least [`RACE_MIN`]); 0: never. Default [`RACE_AFTER`].
    pub race: u64,
    /// At the memory budget, drop the memo entries behind the search and go on, rather
    /// than answer unknown (see `search`).
    pub forget: bool,
}

/// See [`Strategy::race`]: about a millisecond of search; most histories are decided within it.
/// A history of fewer than `RACE_AFTER / RACE_STEPS_PER_OP` ops races after that many steps
/// per op, and never before [`RACE_MIN`] steps.
pub const RACE_AFTER: u64 = 20_000;

/// See [`RACE_AFTER`].
pub const RACE_STEPS_PER_OP: u64 = 4;

/// See [`RACE_AFTER`]: a thread costs about what a few thousand steps do.
pub const RACE_MIN: u64 = 2_000;

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
            enumerate: EAGER_STEPS,
            eager_from: EAGER_FROM_OPS,
            deadline_first: true,
            twins: true,
            refute: REFUTE_AFTER,
            race: RACE_AFTER,
            forget: true,
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
    /// For a subset cut from a window that does not start the history: the window's first
    /// op, where `states_before` hold (everything before it is consistent).
    pub from: Option<usize>,
    /// Ops of a fast check's core that its search took in a relaxed form (see
    /// [`Fast::NotLinearizable`]), with that form in words.
    pub read_as: Vec<(usize, String)>,
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
///
/// A search (by return) that is not done within [`Strategy::race`] steps gets a rival on a
/// second thread, a search by invocation from the start (see `search`); the first goes on
/// where it was, each with half the memory budget, and the first verdict wins and stops the
/// other. Which order finds a linearization sooner depends on the history (a stale read that
/// another write explains can take the order by return 30 times longer, while on most
/// histories it is the faster one, up to 100 times); both are exact, so on two cores the
/// race takes the better one's time, or the rival's plus the steps before it started, and on
/// one core at most the sum of both.
pub fn check_ops_cancellable<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    opts: &CheckOptions,
    strategy: Strategy,
    cancel: Option<&AtomicBool>,
    max_steps: u64,
) -> Outcome {
    let alone = Strategy {
        race: 0,
        ..strategy
    };
    if strategy.race == 0 || !strategy.deadline_first || strategy.race >= max_steps {
        return check_once(model, ops, opts, alone, [cancel, None], max_steps, None);
    }
    let by_invocation = CheckOptions {
        progress: false,
        memory_limit: Some(opts.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT) / 2),
        ..opts.clone()
    };
    let other = Strategy {
        deadline_first: false,
        ..alone
    };
    let (done_a, done_b) = (AtomicBool::new(false), AtomicBool::new(false));
    let decided =
        |o: &Outcome| matches!(o.verdict, Verdict::Linearizable | Verdict::NotLinearizable);
    std::thread::scope(|scope| {
        let mut rival = None;
        let mut begin = |steps: u64| {
            let (opts, done_a, done_b) = (&by_invocation, &done_a, &done_b);
            rival = Some((
                steps,
                scope.spawn(move || {
                    let o = check_once(
                        model,
                        ops,
                        opts,
                        other,
                        [cancel, Some(done_a)],
                        max_steps,
                        None,
                    );
                    if decided(&o) {
                        done_b.store(true, Ordering::Relaxed);
                    }
                    o
                }),
            ));
        };
        let race = Race {
            // Short histories race sooner: a search by return that has taken a few steps
            // per op is off its good path (1,000 ops, 10 clients, values 0..9: 89k steps
            // alone, 21.5k raced from 4k on).
            at: strategy.race.min(
                (ops.len() as u64)
                    .saturating_mul(RACE_STEPS_PER_OP)
                    .max(RACE_MIN),
            ),
            begin: &mut begin,
        };
        let a = check_once(
            model,
            ops,
            opts,
            alone,
            [cancel, Some(&done_b)],
            max_steps,
            Some(race),
        );
        if decided(&a) {
            done_a.store(true, Ordering::Relaxed);
        }
        let Some((before, b)) = rival else {
            return a;
        };
        match b.join() {
            // A panic in the other thread is the same panic here.
            Err(e) => std::panic::resume_unwind(e),
            Ok(b) => {
                debug_assert!(
                    !(decided(&a) && decided(&b) && a.verdict != b.verdict),
                    "the two orders disagree: {:?} vs {:?}",
                    a.verdict,
                    b.verdict
                );
                if decided(&b) && !decided(&a) {
                    // The steps of the search by return before the race, and the winner's.
                    Outcome {
                        steps: b.steps + before,
                        ..b
                    }
                } else {
                    a
                }
            }
        }
    })
}

/// The start of a race (see [`check_ops_cancellable`]): once the search has taken `at`
/// steps, `begin` (given the steps so far) starts the rival, and the search goes on with half
/// the memory budget.
struct Race<'r> {
    at: u64,
    begin: &'r mut dyn FnMut(u64),
}

/// One search of the whole history with one strategy (see [`check_ops_cancellable`]). It
/// stops once `cancel` or `rival` is set (`rival`: the other search of a race, set when that
/// one has a verdict); `race`: when to start the rival, if this search is the one by return.
fn check_once<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    opts: &CheckOptions,
    strategy: Strategy,
    [cancel, rival]: [Option<&AtomicBool>; 2],
    max_steps: u64,
    mut race: Option<Race<'_>>,
) -> Outcome {
    let p = plan(model, ops, strategy.split, strategy.prune);
    let mut limits = Limits {
        cancel,
        rival,
        max_steps,
        deadline: opts.deadline,
        memory: opts.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT),
        steps: 0,
        held: 0,
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
    let segs = &p.segments;
    let mut ok_before = vec![0usize; segs.len() + 1];
    for (k, seg) in segs.iter().enumerate() {
        ok_before[k + 1] =
            ok_before[k] + seg.iter().filter(|&&i| ops[i].complete.is_some()).count();
    }
    let level = |k: usize, starts: Vec<M::State>, complete: bool, steps: u64| {
        let seg_ops = segs[k].iter().map(|&i| &ops[i]).collect();
        let mut search = match p.events.get(k) {
            Some(events) => SegSearch::new_sorted(model, seg_ops, strategy, events),
            None => SegSearch::new(model, seg_ops, strategy),
        };
        for s in starts {
            search.add_start(s);
        }
        Level {
            seg: k,
            search,
            eager: strategy.enumerate > 0
                && ops.len() >= strategy.eager_from
                && complete
                && k + 1 < segs.len(),
            pause_at: steps.saturating_add(strategy.enumerate),
            found: Vec::new(),
            held: 0,
            complete,
        }
    };
    // The levels of a depth-first search over segments (see [`Level`]): `levels[cur]` is
    // searching; the levels above it keep their searches for the states it has yet to give.
    let mut levels: Vec<Level<'_, M>> = Vec::new();
    if !segs.is_empty() {
        levels.push(level(0, vec![model.init()], true, limits.steps));
        outcome.largest_segment = segs[0].len();
    }
    let mut cur = 0;
    let mut stopped: Option<Stop> = None;
    let mut stuck = false;
    let early = strategy.shrink && strategy.refute > 0 && model.closed_cores();
    let mut refute_at = strategy.refute;
    // The memo caches of the levels other than `cur` (each as of when it was left), counted
    // against the memory budget.
    let mut held = 0u64;
    let switch = |levels: &mut [Level<'_, M>], held: &mut u64, from: usize, to: usize| {
        levels[from].held = levels[from].search.bytes();
        *held += levels[from].held;
        *held -= std::mem::take(&mut levels[to].held);
    };
    while !levels.is_empty() {
        limits.held = held;
        let race_at = race.as_ref().map_or(u64::MAX, |r| r.at);
        if limits.steps >= race_at {
            if let Some(r) = race.take() {
                (r.begin)(limits.steps);
                limits.memory /= 2;
            }
            continue;
        }
        let lv = &mut levels[cur];
        let next = lv.seg + 1;
        if lv.eager {
            match lv.search.next_end(&mut limits, lv.pause_at.min(race_at)) {
                Next::End(s) => {
                    lv.found.push(s);
                    if lv.found.len() <= MAX_CARRIED_STATES {
                        continue;
                    }
                }
                Next::Exhausted if lv.found.is_empty() => {
                    stuck = true;
                    break;
                }
                Next::Exhausted => {
                    // Every state the history up to here can leave is known: the next
                    // segment starts from all of them, and nothing before is needed again.
                    let found = std::mem::take(&mut lv.found);
                    levels.clear();
                    held = 0;
                    levels.push(level(next, found, true, limits.steps));
                    outcome.largest_segment = outcome.largest_segment.max(segs[next].len());
                    if let Some(b) = &bar {
                        b.set_position(ok_before[next] as u64);
                    }
                    continue;
                }
                Next::Paused if limits.steps >= race_at => continue,
                Next::Paused => {}
                Next::Stopped(why) => {
                    stopped = Some(why);
                    break;
                }
            }
            // Too costly (or too many ends) to enumerate: go on depth-first, keeping this
            // search to resume should the states found so far lead nowhere.
            lv.eager = false;
            let found = std::mem::take(&mut lv.found);
            if !found.is_empty() {
                levels.push(level(next, found, false, limits.steps));
                outcome.largest_segment = outcome.largest_segment.max(segs[next].len());
                switch(&mut levels, &mut held, cur, cur + 1);
                cur += 1;
            }
            continue;
        }
        let refutable = early && lv.complete && cur == 0;
        let pause = if refutable { refute_at } else { u64::MAX };
        match lv.search.next_end(&mut limits, pause.min(race_at)) {
            Next::End(_) if next == segs.len() => break,
            Next::End(s) => {
                if cur + 1 == levels.len() {
                    levels.push(level(next, Vec::new(), false, limits.steps));
                    outcome.largest_segment = outcome.largest_segment.max(segs[next].len());
                    if let Some(b) = &bar {
                        b.set_position(ok_before[next] as u64);
                    }
                }
                levels[cur + 1].search.add_start(s);
                switch(&mut levels, &mut held, cur, cur + 1);
                cur += 1;
            }
            Next::Exhausted if cur == 0 => {
                stuck = true;
                break;
            }
            Next::Exhausted => {
                switch(&mut levels, &mut held, cur, cur - 1);
                cur -= 1;
            }
            Next::Paused if limits.steps >= race_at => continue,
            Next::Paused if limits.cancelled() => {
                // The answer is no longer needed: the search stops at its next check.
                refute_at = u64::MAX;
            }
            Next::Paused => {
                // Still searching: look for a core around where it is stuck.
                let window = &segs[lv.seg];
                let states = lv.search.starts().to_vec();
                let c = counterexample(model, ops, window, &states, 0, lv.search.best());
                limits.held = held + lv.search.bytes();
                let budget = limits.steps / 8;
                if let Some(core) = shrink(
                    model,
                    ops,
                    window,
                    c.stuck,
                    &states,
                    strategy,
                    budget,
                    true,
                    &mut limits,
                ) {
                    outcome.verdict = Verdict::NotLinearizable;
                    outcome.counterexample = Some(core);
                    break;
                }
                refute_at = limits.steps.saturating_mul(4);
            }
            Next::Stopped(why) => {
                stopped = Some(why);
                break;
            }
        }
    }
    // The furthest level: stuck, it is the window no state before it can start a
    // linearization of (every level below it is exhausted, so it was given every such state).
    if let Some(top) = levels.last().filter(|_| stuck || stopped.is_some()) {
        let window = &segs[top.seg];
        let states = top.search.starts().to_vec();
        let ok_done = ok_before[top.seg];
        let best = top.search.best();
        if stuck {
            outcome.verdict = Verdict::NotLinearizable;
            let mut c = counterexample(model, ops, window, &states, ok_done, best);
            if strategy.shrink && model.closed_cores() {
                limits.held = 0;
                if let Some(small) = shrink(
                    model,
                    ops,
                    window,
                    c.stuck,
                    &states,
                    strategy,
                    SHRINK_TOTAL_STEPS,
                    false,
                    &mut limits,
                ) {
                    c = small;
                }
            }
            outcome.counterexample = Some(c);
        } else if let Some(why) = stopped {
            let reason = match why {
                Stop::Deadline => {
                    "the time limit passed during the linearization search".to_string()
                }
                Stop::Cancelled => CANCELLED.to_string(),
                Stop::Budget => OUT_OF_STEPS.to_string(),
                Stop::Memory => format!(
                    "the linearization search's memo cache reached the memory limit ({} MiB) on \
                     a window of {} ops",
                    limits.memory >> 20,
                    levels[cur].search.ops().len()
                ),
            };
            outcome.verdict = Verdict::Unknown(reason);
            outcome.counterexample =
                Some(counterexample(model, ops, window, &states, ok_done, best));
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
            match search_segment(model, &refs, &init, exact, limits) {
                SegResult::Stuck(best) => {
                    let mut c = counterexample(model, ops, &core, &init, 0, best);
                    c.subset = true;
                    c.why = Some(why);
                    c.read_as = stand_ins
                        .iter()
                        .map(|(i, l)| (*i, model.describe_op(&l.op)))
                        .collect();
                    outcome.verdict = Verdict::NotLinearizable;
                    outcome.counterexample = Some(c);
                    outcome.largest_segment = core.len();
                    outcome.steps = limits.steps - before;
                    Some(outcome)
                }
                SegResult::Ends(_) => {
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

/// Steps one of [`shrink`]'s searches may take (past it, the subset counts as linearizable).
const SHRINK_STEPS: u64 = 500_000;

/// Steps all of one [`shrink`]'s searches may take together.
const SHRINK_TOTAL_STEPS: u64 = 3_000_000;

/// Cuts a window that cannot be linearized from `starts` down to a few ops that cannot
/// either (for models with [`Model::closed_cores`]). Every candidate is a subset closed
/// under possible sources ([`Sources`]); by the contract of `closed_cores`, a linearization
/// of the window would restrict to one of the subset, so a subset that cannot be linearized
/// explains the window's failure. First a core is grown around the op no order could place
/// (the nearest ops in time, galloping then bisecting on how many), then delta debugging
/// drops what it can. Bounded by [`SHRINK_SEARCHES`] searches and `total_steps` steps
/// ([`SHRINK_TOTAL_STEPS`] for a counterexample); `None` when nothing smaller was found.
#[allow(clippy::too_many_arguments)]
fn shrink<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    window: &[usize],
    stuck: Option<usize>,
    starts: &[M::State],
    strategy: Strategy,
    total_steps: u64,
    grow_only: bool,
    limits: &mut Limits<'_>,
) -> Option<Counterexample> {
    let exact = Strategy {
        fast: false,
        ..strategy
    };
    let sources = Sources::new(model, ops, window);
    let closed = |keep: &[usize]| sources.close(keep);
    let budget_end = limits.steps.saturating_add(total_steps);
    // Past the deadline, or (while the window's own search goes on) once nobody needs the
    // answer: every search below would stop at once, but closing each candidate would not.
    let over = |limits: &Limits<'_>| limits.deadline.expired() || (grow_only && limits.cancelled());
    let stuck_on = |subset: &[usize], limits: &mut Limits<'_>| {
        let refs: Vec<&LinOp<M::Op>> = subset.iter().map(|&i| &ops[i]).collect();
        let saved = limits.max_steps;
        limits.max_steps = limits
            .steps
            .saturating_add(SHRINK_STEPS)
            .min(budget_end)
            .min(saved);
        let r = search_segment(model, &refs, starts, exact, limits);
        limits.max_steps = saved;
        match r {
            SegResult::Stuck(best) => Some(best),
            _ => None,
        }
    };
    let mut core: Vec<usize> = window.to_vec();
    let mut seeds: Vec<usize> = window.to_vec();
    let mut best = None;
    let mut searches = 0;
    // First grow a core around the op no order could place: with the window's other ops
    // ordered by how close in time they are to it (overlapping, then those that returned
    // just before it began, then those that began just after it returned; ok ops before
    // info ops, which closing the set brings in where they matter), binary search
    // for the shortest prefix whose closed set still cannot be linearized. Failing is not
    // monotone in the prefix (a larger closed set may hold a write that explains a read a
    // smaller one could not), so the bisection may miss the shortest; but every candidate
    // is searched before it is taken, so what it takes is right. It costs a handful of
    // small searches where dropping chunks from the whole window takes dozens of big ones.
    if let Some(s) = stuck {
        let so = &ops[s];
        let gap = |i: usize| {
            let o = &ops[i];
            match o.complete {
                Some(c) if c < so.invoke => (1, so.invoke - c),
                _ if so.complete.is_some_and(|e| o.invoke > e) => {
                    (2, o.invoke - so.complete.unwrap_or(0))
                }
                _ => (0, 0),
            }
        };
        let mut near: Vec<usize> = window.iter().copied().filter(|&i| i != s).collect();
        near.sort_by_key(|&i| (ops[i].complete.is_none(), gap(i), ops[i].invoke));
        // (seeds, their closure, its failed search)
        type Grown<S> = (Vec<usize>, Vec<usize>, Best<S>);
        let mut found: Option<Grown<M::State>> = None;
        let mut attempt = |k: usize, searches: &mut usize, limits: &mut Limits<'_>| {
            let mut pick: Vec<usize> = near[..k].to_vec();
            pick.push(s);
            pick.sort_unstable();
            let candidate = closed(&pick);
            *searches += 1;
            let b = stuck_on(&candidate, limits)?;
            found = Some((pick, candidate, b));
            Some(())
        };
        // Gallop (1, 2, 4, … ops: small subsets are cheap to search), then bisect.
        let (mut lo, mut hi) = (0, near.len());
        let mut k = 0;
        while searches < SHRINK_SEARCHES / 3 && limits.steps < budget_end && !over(limits) {
            if attempt(k, &mut searches, limits).is_some() {
                hi = k;
                break;
            }
            lo = k + 1;
            if k == near.len() {
                break;
            }
            k = (2 * k).clamp(1, near.len());
        }
        while lo < hi
            && searches < SHRINK_SEARCHES / 2
            && limits.steps < budget_end
            && !over(limits)
        {
            let mid = (lo + hi) / 2;
            match attempt(mid, &mut searches, limits) {
                Some(()) => hi = mid,
                None => lo = mid + 1,
            }
        }
        if let Some((pick, candidate, b)) = found.filter(|(_, c, _)| c.len() < core.len()) {
            seeds = pick;
            core = candidate;
            best = Some(b);
        }
    }
    // Looking for a core while the window's own search goes on: nothing grown, nothing to
    // shrink (the window is not known to fail, and every chunk dropped from a long window
    // costs a closure of it).
    if grow_only && best.is_none() {
        return None;
    }
    // Then delta debugging: drop chunks (halves, then quarters, … then single ops), keeping
    // a drop whenever what is left, closed again, still cannot be linearized. First over
    // the seeds (the ops the core was closed from), so that the sources only the dropped
    // ops needed go too; then over the core's own ops, so that a source can stay while the
    // op it was brought in for goes.
    for (seeding, units) in [(true, seeds), (false, core.clone())] {
        let mut units = units;
        let mut size = units.len().div_ceil(2);
        while size >= 1 && searches < SHRINK_SEARCHES && limits.steps < budget_end && !over(limits)
        {
            let mut progressed = false;
            // Chunks from the end first: the op no order can place is usually early in a
            // window, so the later ops are the ones that tend to go.
            let mut end = units.len();
            while end > 0
                && searches < SHRINK_SEARCHES
                && limits.steps < budget_end
                && !over(limits)
            {
                let chunk = end.saturating_sub(size)..end.min(units.len());
                let rest: Vec<usize> = units
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| !chunk.contains(k))
                    .map(|(_, &i)| i)
                    .collect();
                let candidate = closed(&rest);
                if candidate == core {
                    // The same core from fewer seeds (over core ops: nothing dropped).
                    if seeding {
                        units = rest;
                        progressed = true;
                    }
                } else if candidate.len() < core.len() {
                    searches += 1;
                    if let Some(b) = stuck_on(&candidate, limits) {
                        units = if seeding { rest } else { candidate.clone() };
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
    }
    // The last accepted search is the core's own (`None`: nothing smaller was found).
    let mut c = counterexample(model, ops, &core, starts, 0, best?);
    c.subset = true;
    c.from = window
        .first()
        .copied()
        .filter(|&f| ops.iter().any(|o| o.invoke < ops[f].invoke));
    c.why = c.stuck.map(|s| why_stuck(&c, s));
    Some(c)
}

/// The one line a searched core gets as its "why" (a fast check's core brings its own):
/// the op no order could place and the states the furthest orders leave. Every claim in
/// it is what the core's exhaustive search established: no order of the core's ops
/// respects real time and the object's rules, and those that place the most of them end
/// in these states with `stuck` still to go, before its return.
fn why_stuck(c: &Counterexample, stuck: usize) -> String {
    let others = c.window.len().saturating_sub(1);
    let states = match c.states.as_slice() {
        [] => "no state".to_string(),
        [one] => format!("state {one}"),
        many => format!("one of the states {}", many.join(", ")),
    };
    let op = Fast::<()>::op(stuck);
    match others {
        0 => format!(
            "{op} cannot take effect in {states}, where it starts, and no operation that could \
             change that may take effect before it."
        ),
        1 => format!(
            "{op} cannot take effect whether the one other operation goes before it or not."
        ),
        n => format!(
            "{op} must take effect before it returns, but the orders of the other {n} \
             operations that real time allows and that get furthest leave the object in \
             {states}, where it cannot."
        ),
    }
}

/// The possible sources of the ops of a window that observe a token (see
/// [`Model::closed_cores`]), for closing a subset of the window under them.
///
/// An op kept in a subset gets a *deadline*: its return for an ok op, none for an info op
/// picked on its own. Its possible sources are the window's ops producing its token that
/// may be the last producing op before it in a linearization where it takes effect before
/// its deadline: invoked before the deadline, with no `ok` producing op certainly in between
/// (invoked after the source returned, returned before the observer began: it is in every
/// linearization, between the two). An ok source keeps its own deadline; an info source is
/// added with the deadline of the op it serves, the latest such when it serves several.
///
/// Why a closed subset `S` keeps the restriction argument: take a linearization `L` of the
/// window and keep, of `S`, the ok ops and the info ops that `L` places before their
/// deadline (the others are info ops: leaving them out is allowed). Each kept observer took
/// effect before its deadline, so the last producer before it in `L` is one of its possible
/// sources, in `S`, and kept too: an ok op always is, an info one was placed before the
/// observer, so before the deadline it was added with. Restricting `L` to the kept ops thus
/// leaves every observer the same last producer, the same token: a linearization of `S`.
/// Bounding info ops this way matters: a crashed cas may take effect at any time, so
/// without a deadline every later writer of the value it expects is a possible source, and
/// closing a subset drags in most of the window.
pub struct Sources {
    /// The window's producing ops by token, each list by invocation.
    by_token: FxHashMap<u64, Vec<usize>>,
    /// The window's ok producing ops by invocation, and from each position on the earliest
    /// return among them: "is some ok producer invoked after `t` returned before `u`?" is
    /// one binary search.
    ok_by_invoke: Vec<usize>,
    earliest_return_from: Vec<usize>,
    /// The token each observing op of the window observes.
    observes: FxHashMap<usize, u64>,
    invoke: FxHashMap<usize, usize>,
    end: FxHashMap<usize, usize>,
}

impl Sources {
    pub fn new<M: Model>(model: &M, ops: &[LinOp<M::Op>], window: &[usize]) -> Sources {
        let mut by_token: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        for &i in window {
            if let Some(t) = model.produces(&ops[i].op) {
                by_token.entry(t).or_default().push(i);
            }
        }
        for list in by_token.values_mut() {
            list.sort_unstable_by_key(|&i| ops[i].invoke);
        }
        let mut ok_by_invoke: Vec<usize> = by_token
            .values()
            .flatten()
            .copied()
            .filter(|&i| ops[i].complete.is_some())
            .collect();
        ok_by_invoke.sort_unstable_by_key(|&i| ops[i].invoke);
        let mut earliest_return_from = vec![usize::MAX; ok_by_invoke.len() + 1];
        for k in (0..ok_by_invoke.len()).rev() {
            let c = ops[ok_by_invoke[k]].complete.unwrap_or(usize::MAX);
            earliest_return_from[k] = earliest_return_from[k + 1].min(c);
        }
        Sources {
            by_token,
            ok_by_invoke,
            earliest_return_from,
            observes: window
                .iter()
                .filter_map(|&i| Some((i, model.observes(&ops[i].op)?)))
                .collect(),
            invoke: window.iter().map(|&i| (i, ops[i].invoke)).collect(),
            end: window
                .iter()
                .map(|&i| (i, ops[i].complete.unwrap_or(usize::MAX)))
                .collect(),
        }
    }

    /// Whether some ok producing op was invoked after `after` and returned before `before`.
    fn ok_producer_between(&self, after: usize, before: usize) -> bool {
        if after == usize::MAX {
            return false;
        }
        let k = self
            .ok_by_invoke
            .partition_point(|i| self.invoke[i] <= after);
        self.earliest_return_from[k] < before
    }

    /// The possible sources of `r` when it takes effect before `deadline`.
    fn of(&self, r: usize, deadline: usize) -> impl Iterator<Item = usize> + '_ {
        let candidates = match self.observes.get(&r).and_then(|t| self.by_token.get(t)) {
            Some(list) => &list[..list.partition_point(|w| self.invoke[w] < deadline)],
            None => &[][..],
        };
        let r_invoke = self.invoke[&r];
        candidates
            .iter()
            .copied()
            .filter(move |&w| w != r && !self.ok_producer_between(self.end[&w], r_invoke))
    }

    /// `keep` with the possible sources of its ops, transitively; sorted.
    pub fn close(&self, keep: &[usize]) -> Vec<usize> {
        let mut deadline: std::collections::BTreeMap<usize, usize> =
            keep.iter().map(|&i| (i, self.end[&i])).collect();
        let mut work: Vec<usize> = keep.to_vec();
        while let Some(r) = work.pop() {
            let d = deadline[&r];
            let found: Vec<usize> = self.of(r, d).collect();
            for w in found {
                // An ok source is in every linearization, wherever it is placed: it keeps
                // its own deadline. An info source matters only before `d`.
                let dw = if self.end[&w] != usize::MAX {
                    self.end[&w]
                } else {
                    d
                };
                if deadline.get(&w).is_none_or(|&e| e < dw) {
                    deadline.insert(w, dw);
                    work.push(w);
                }
            }
        }
        deadline.into_keys().collect()
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
        from: None,
        read_as: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::register::{RegOp, Register};
    use labrys_history::{Deadline, Value};

    fn limits(rival: &AtomicBool) -> Limits<'_> {
        Limits {
            deadline: Deadline::none(),
            cancel: None,
            rival: Some(rival),
            max_steps: u64::MAX,
            memory: DEFAULT_MEMORY_LIMIT,
            steps: 0,
            held: 0,
        }
    }

    /// The core search while the window's own search goes on is for a race that may already
    /// be won: once the rival has its answer it stops before it searches anything (it once
    /// went on closing candidates for seconds after the answer was in).
    #[test]
    fn the_core_search_beside_a_search_stops_once_the_rival_has_its_answer() {
        let mut m = Register::new(&Value::Int(0));
        let one = m.values.id(&Value::Int(1));
        let five = m.values.id(&Value::Int(5));
        let zero = m.initial;
        let lo = |op, invoke, complete| LinOp {
            op,
            invoke,
            complete: Some(complete),
            call: 0,
        };
        // A read of the initial value after a write of 1 returned: a core of both, in a
        // window with two more ops.
        let ops = vec![
            lo(RegOp::Write(one), 0, 1),
            lo(RegOp::Read(zero), 2, 3),
            lo(RegOp::Write(five), 4, 5),
            lo(RegOp::Read(five), 6, 7),
        ];
        let starts = [m.init()];
        let run = |rival: &AtomicBool| {
            let mut l = limits(rival);
            let core = shrink(
                &m,
                &ops,
                &[0, 1, 2, 3],
                Some(1),
                &starts,
                Strategy::default(),
                1_000_000,
                true,
                &mut l,
            );
            (core, l.steps)
        };
        let (core, steps) = run(&AtomicBool::new(false));
        assert_eq!(core.expect("a core").window, vec![0, 1]);
        assert!(steps > 0);
        let (core, steps) = run(&AtomicBool::new(true));
        assert!(core.is_none());
        assert_eq!(steps, 0);
    }
}

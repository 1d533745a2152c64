//! The search: Wing & Gong / Lowe just-in-time linearization with memoisation, iterative.
//!
//! The ops of one segment (see [`crate::plan`]) become a doubly-linked list of call and return
//! events in real-time order. Walking it from the head: at a call, try to *linearize* the op
//! now (the model steps); on success, remove its call and return from the list and restart
//! from the head. At a return, the op returning there was never linearized, and nothing later
//! can fix that: backtrack, undoing the most recent linearization and trying the next call
//! after it. The list only ever offers ops that are *minimal* (invoked before every pending
//! op's return), which is exactly the set that may go next in real time.
//!
//! Memoisation: a configuration is (set of linearized ops, model state); what happens after it
//! depends on nothing else, so a configuration seen before is never explored twice. The set is
//! a bitset over the segment's ops (segments are usually small, so keys are a few words).
//!
//! Ops without a return (`info`) never force a backtrack: they may be linearized at any point
//! or never. A segment is linearized once every `ok` op is.
//!
//! Deferring `info` ops (`Model::defer_class`): an `info` op `u` with class `c` is placed
//! only immediately before an op that observes `c`. Exact by the contract of `defer_class`
//! (some linearization exists iff one exists in this normal form). For a blind write under
//! the `Model::produces` contract: the op right after `u` observes `t` or is a blind
//! overwrite; in the second case, or when nothing follows, dropping `u` leaves every later
//! state unchanged, and `u` may be dropped since it is `info`. Without this, every crashed write
//! is a candidate at every step until the end of the history, doubling the configurations per
//! pending crash. The memo key carries the pending requirement.
//!
//! Explicit stack, no recursion: depth is bounded by memory, not by the thread's stack. The
//! deadline is polled every 1024 steps and the cache size is checked on every insertion
//! against the memory budget.

use crate::check::Strategy;
use crate::model::{LinOp, Model};
use labrys_history::Deadline;
use rustc_hash::FxHashSet;
use std::sync::atomic::{AtomicBool, Ordering};

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// Shared limits for one check.
pub struct Limits<'a> {
    pub deadline: Deadline,
    /// Set by another thread when the search is no longer needed (another key failed).
    pub cancel: Option<&'a AtomicBool>,
    /// Give up (with `Stop::Budget`) past this many steps.
    pub max_steps: u64,
    /// Bytes the memo cache may use (an estimate).
    pub memory: u64,
    /// Steps taken so far (model steps attempted), for stats.
    pub steps: u64,
    /// Bytes (an estimate) held by other memo caches still alive, counted against `memory`.
    pub held: u64,
}

/// Why a search stopped without a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Deadline,
    Memory,
    Cancelled,
    Budget,
}

/// The furthest the search got in a segment: most `ok` ops linearized.
#[derive(Clone, Debug)]
pub struct Best<S> {
    /// Segment-local indices of the ops linearized (ok and info).
    pub placed: Vec<usize>,
    /// `ok` ops among them.
    pub ok_placed: usize,
    /// Model states reachable with that many ok ops placed (at most [`MAX_STATES`]).
    pub states: Vec<S>,
    /// The last ops placed on the way to the first of those states, in order (at most
    /// [`TAIL`]).
    pub tail: Vec<usize>,
}

/// How many of the last placed ops a counterexample shows.
pub const TAIL: usize = 6;

/// At most this many alternative states are kept for a counterexample.
pub const MAX_STATES: usize = 8;

/// The answer of [`search_segment`].
pub enum SegResult<S> {
    /// A state some linearization of the segment ends in.
    Ends(Vec<S>),
    /// No linearization from any start state.
    Stuck(Best<S>),
    Stopped(Stop, Best<S>),
}

/// What [`SegSearch::next_end`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<S> {
    /// An end state not returned before.
    End(S),
    /// Every start given so far is searched through: no other end state.
    Exhausted,
    /// The step count reached the pause point asked for; calling again continues.
    Paused,
    Stopped(Stop),
}

struct Events {
    /// Per event (index 0 is the head sentinel): local op index.
    op: Vec<u32>,
    /// For a call event: its return event, or NIL.
    ret: Vec<u32>,
    is_call: Vec<bool>,
    next: Vec<u32>,
    prev: Vec<u32>,
}

impl Events {
    fn new<O>(ops: &[&LinOp<O>]) -> Events {
        // (position, is_return, local op). Calls sort before returns at equal positions, which
        // makes such ops concurrent: the permissive reading.
        let mut evs: Vec<(usize, bool, u32)> = Vec::with_capacity(ops.len() * 2);
        for (j, o) in ops.iter().enumerate() {
            evs.push((o.invoke, false, j as u32));
            if let Some(c) = o.complete {
                evs.push((c, true, j as u32));
            }
        }
        evs.sort_unstable();
        let n = evs.len() + 1;
        let mut e = Events {
            op: vec![NIL; n],
            ret: vec![NIL; n],
            is_call: vec![false; n],
            next: vec![NIL; n],
            prev: vec![NIL; n],
        };
        let mut call_of = vec![NIL; ops.len()];
        for (i, &(_, is_ret, j)) in evs.iter().enumerate() {
            let id = (i + 1) as u32;
            e.op[id as usize] = j;
            e.is_call[id as usize] = !is_ret;
            if is_ret {
                e.ret[call_of[j as usize] as usize] = id;
            } else {
                call_of[j as usize] = id;
            }
        }
        for i in 0..n {
            e.next[i] = if i + 1 < n { (i + 1) as u32 } else { NIL };
            e.prev[i] = if i > 0 { (i - 1) as u32 } else { NIL };
        }
        e
    }

    fn unlink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = x;
        if n != NIL {
            self.prev[n as usize] = x;
        }
    }

    /// Removes a call and its return (in that order, so `unlift` can undo it LIFO).
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let r = self.ret[call as usize];
        if r != NIL {
            self.unlink(r);
        }
    }

    fn unlift(&mut self, call: u32) {
        let r = self.ret[call as usize];
        if r != NIL {
            self.relink(r);
        }
        self.relink(call);
    }
}

fn set_bit(bits: &mut [u64], j: usize) {
    bits[j / 64] |= 1 << (j % 64);
}

fn clear_bit(bits: &mut [u64], j: usize) {
    bits[j / 64] &= !(1 << (j % 64));
}

fn bit_indices(bits: &[u64]) -> Vec<usize> {
    let mut out = Vec::new();
    for (w, &word) in bits.iter().enumerate() {
        let mut x = word;
        while x != 0 {
            out.push(w * 64 + x.trailing_zeros() as usize);
            x &= x - 1;
        }
    }
    out
}

/// Searches one segment from each of `starts` until the first linearization.
pub fn search_segment<M: Model>(
    model: &M,
    ops: &[&LinOp<M::Op>],
    starts: &[M::State],
    strategy: Strategy,
    limits: &mut Limits<'_>,
) -> SegResult<M::State> {
    let mut search = SegSearch::new(model, ops.to_vec(), strategy);
    for s in starts {
        search.add_start(s.clone());
    }
    match search.next_end(limits, u64::MAX) {
        Next::End(s) => SegResult::Ends(vec![s]),
        Next::Exhausted => SegResult::Stuck(search.best()),
        Next::Stopped(why) => SegResult::Stopped(why, search.best()),
        Next::Paused => unreachable!("no pause point was set"),
    }
}

/// A search of one segment that can be resumed: [`SegSearch::next_end`] returns the end
/// states of the segment's linearizations one at a time, from every start state given so far
/// ([`SegSearch::add_start`], also between calls). One memo cache serves every start and
/// every call, so asking for all end states costs what one exhaustive search costs, and
/// asking for the first costs what a search for one linearization costs.
pub struct SegSearch<'a, M: Model> {
    model: &'a M,
    ops: Vec<&'a LinOp<M::Op>>,
    ev: Events,
    is_ok: Vec<bool>,
    read_only: Vec<bool>,
    ok_total: usize,
    /// A blind `info` write (produces a token, observes none) is only ever placed right
    /// before an op that observes its token (see the module docs); `need` is that token.
    blind_info: Vec<Option<u64>>,
    observes: Vec<Option<u64>>,
    /// Orders every linearization has beyond real time (`Model::extra_order`): an op is a
    /// candidate only once all its predecessors are placed. Which ops are candidates is then
    /// still a function of the placed set, so the memo stays exact.
    succ: Vec<Vec<u32>>,
    blockers: Vec<u32>,
    cache: FxHashSet<Key<M::State>>,
    entry_bytes: u64,
    bits: Vec<u64>,
    best: Best<M::State>,
    best_bits: Vec<u64>,
    /// Every end state returned so far.
    ends: FxHashSet<M::State>,
    /// Every start state given, in order.
    starts: Vec<M::State>,
    /// How many of `starts` the search has taken up.
    started: usize,
    stack: Vec<(u32, M::State, Option<u64>)>,
    /// Whether a search from a start is under way (`state`, `need`, `ok_left`, `entry` and
    /// the stack are its position).
    running: bool,
    /// The last call returned an end state: backtrack from it before anything else.
    resume: bool,
    state: M::State,
    need: Option<u64>,
    ok_left: usize,
    entry: u32,
}

type Key<S> = (Box<[u64]>, S, Option<u64>);

impl<'a, M: Model> SegSearch<'a, M> {
    pub fn new(model: &'a M, ops: Vec<&'a LinOp<M::Op>>, strategy: Strategy) -> Self {
        let m = ops.len();
        let words = m.div_ceil(64).max(1);
        let ev = Events::new(&ops);
        let is_ok: Vec<bool> = ops.iter().map(|o| o.complete.is_some()).collect();
        let read_only = ops
            .iter()
            .map(|o| strategy.read_only && model.is_read_only(&o.op))
            .collect();
        let ok_total = is_ok.iter().filter(|&&b| b).count();
        let blind_info = ops
            .iter()
            .map(|o| {
                let deferrable = strategy.defer && o.complete.is_none();
                deferrable.then(|| model.defer_class(&o.op)).flatten()
            })
            .collect();
        let observes = ops.iter().map(|o| model.observes(&o.op)).collect();
        let mut succ: Vec<Vec<u32>> = vec![Vec::new(); m];
        let mut blockers: Vec<u32> = vec![0; m];
        if strategy.order {
            for (a, b) in model.extra_order(&ops) {
                if a < m && b < m && a != b {
                    succ[a].push(b as u32);
                    blockers[b] += 1;
                }
            }
        }
        SegSearch {
            model,
            ops,
            ev,
            is_ok,
            read_only,
            ok_total,
            blind_info,
            observes,
            succ,
            blockers,
            cache: FxHashSet::default(),
            entry_bytes: (words * 8 + std::mem::size_of::<M::State>() + 64) as u64,
            bits: vec![0u64; words],
            best: Best {
                placed: Vec::new(),
                ok_placed: 0,
                states: Vec::new(),
                tail: Vec::new(),
            },
            best_bits: vec![0u64; words],
            ends: FxHashSet::default(),
            starts: Vec::new(),
            started: 0,
            stack: Vec::new(),
            running: false,
            resume: false,
            state: model.init(),
            need: None,
            ok_left: 0,
            entry: NIL,
        }
    }

    /// Adds a start state (the next [`SegSearch::next_end`] searches from it too).
    pub fn add_start(&mut self, s: M::State) {
        self.starts.push(s);
    }

    /// Every start state given so far.
    pub fn starts(&self) -> &[M::State] {
        &self.starts
    }

    /// The segment's ops.
    pub fn ops(&self) -> &[&'a LinOp<M::Op>] {
        &self.ops
    }

    /// Bytes the memo cache holds (an estimate).
    pub fn bytes(&self) -> u64 {
        self.cache.len() as u64 * self.entry_bytes
    }

    /// The furthest point reached so far.
    pub fn best(&self) -> Best<M::State> {
        let mut b = self.best.clone();
        b.placed = bit_indices(&self.best_bits);
        b
    }

    /// Searches on to the next end state not returned before, or `Paused` once
    /// `limits.steps` reaches `pause_at`.
    pub fn next_end(&mut self, limits: &mut Limits<'_>, pause_at: u64) -> Next<M::State> {
        loop {
            if !self.running {
                let Some(s0) = self.starts.get(self.started).cloned() else {
                    return Next::Exhausted;
                };
                self.started += 1;
                let key = (self.bits.clone().into_boxed_slice(), s0.clone(), None);
                if !self.cache.insert(key) {
                    continue;
                }
                if self.best.ok_placed == 0 && self.best.states.len() < MAX_STATES {
                    self.best.states.push(s0.clone());
                }
                self.state = s0;
                self.need = None;
                self.ok_left = self.ok_total;
                self.entry = self.ev.next[HEAD as usize];
                self.running = true;
            }
            match self.run(limits, pause_at) {
                Some(n) => return n,
                None => self.running = false,
            }
        }
    }

    /// Searches from the current position: `Some` when there is something to return, `None`
    /// when the search from the current start is done.
    fn run(&mut self, limits: &mut Limits<'_>, pause_at: u64) -> Option<Next<M::State>> {
        let model = self.model;
        let ev = &mut self.ev;
        loop {
            limits.steps += 1;
            if limits.steps & 1023 == 0 {
                let why = if limits.steps >= limits.max_steps {
                    Some(Stop::Budget)
                } else if limits.deadline.expired() {
                    Some(Stop::Deadline)
                } else if limits.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    Some(Stop::Cancelled)
                } else {
                    None
                };
                if let Some(why) = why {
                    return Some(Next::Stopped(why));
                }
            }
            if limits.steps >= pause_at {
                return Some(Next::Paused);
            }
            let mut backtrack = std::mem::take(&mut self.resume);
            if backtrack {
                // Returned an end state last time: go on from there.
            } else if self.ok_left == 0 && self.need.is_some() {
                // Ending on a blind info write is the same as leaving it out.
                backtrack = true;
            } else if self.ok_left == 0 {
                if self.ends.insert(self.state.clone()) {
                    self.resume = true;
                    return Some(Next::End(self.state.clone()));
                }
                backtrack = true;
            } else if self.entry == NIL {
                backtrack = true;
            } else if ev.is_call[self.entry as usize] {
                let entry = self.entry;
                let j = ev.op[entry as usize] as usize;
                let allowed =
                    (self.need.is_none() || self.observes[j] == self.need) && self.blockers[j] == 0;
                if let Some(next) = model.step(&self.state, &self.ops[j].op).filter(|_| allowed) {
                    set_bit(&mut self.bits, j);
                    let key = (
                        self.bits.clone().into_boxed_slice(),
                        next.clone(),
                        self.blind_info[j],
                    );
                    if self.cache.insert(key) {
                        if limits.held + self.cache.len() as u64 * self.entry_bytes > limits.memory
                        {
                            return Some(Next::Stopped(Stop::Memory));
                        }
                        let prev = std::mem::replace(&mut self.state, next);
                        self.stack.push((entry, prev, self.need));
                        self.need = self.blind_info[j];
                        ev.lift(entry);
                        for &s in &self.succ[j] {
                            self.blockers[s as usize] -= 1;
                        }
                        if self.is_ok[j] {
                            self.ok_left -= 1;
                        }
                        let done = self.ok_total - self.ok_left;
                        let best = &mut self.best;
                        if done > best.ok_placed {
                            best.ok_placed = done;
                            self.best_bits.copy_from_slice(&self.bits);
                            best.states.clear();
                            best.states.push(self.state.clone());
                            let from = self.stack.len().saturating_sub(TAIL);
                            best.tail = self.stack[from..]
                                .iter()
                                .map(|(e, _, _)| ev.op[*e as usize] as usize)
                                .collect();
                        } else if done == best.ok_placed
                            && best.states.len() < MAX_STATES
                            && !best.states.contains(&self.state)
                        {
                            best.states.push(self.state.clone());
                        }
                        self.entry = ev.next[HEAD as usize];
                        continue;
                    }
                    clear_bit(&mut self.bits, j);
                    if self.read_only[j] {
                        // Placing it now was already explored, and placing it now covers
                        // every other choice from here (see `Model::is_read_only`).
                        backtrack = true;
                    }
                }
                if !backtrack {
                    self.entry = ev.next[entry as usize];
                }
            } else {
                backtrack = true;
            }
            // Undo the latest placement and try the next candidate after it; a read-only op
            // was placed as early as possible, which covers every later placement of it
            // (see `Model::is_read_only`), so undo past it too.
            while backtrack {
                let Some((e, prev, prev_need)) = self.stack.pop() else {
                    break;
                };
                self.need = prev_need;
                let j = ev.op[e as usize] as usize;
                clear_bit(&mut self.bits, j);
                ev.unlift(e);
                for &s in &self.succ[j] {
                    self.blockers[s as usize] += 1;
                }
                if self.is_ok[j] {
                    self.ok_left += 1;
                }
                self.state = prev;
                self.entry = ev.next[e as usize];
                backtrack = self.read_only[j];
            }
            if backtrack {
                return None;
            }
        }
    }
}

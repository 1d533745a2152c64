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

pub enum SegResult<S> {
    /// Every state a linearization of the segment can end in (only the first when the caller
    /// asked for one).
    Ends(Vec<S>),
    /// No linearization from any start state.
    Stuck(Best<S>),
    Stopped(Stop, Best<S>),
    /// More than `max_ends` end states: the caller should search a larger window instead.
    TooManyEnds,
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

/// Searches one segment from each of `starts`. With `want_all`, enumerates every end state
/// (giving up with `TooManyEnds` past `max_ends`); otherwise stops at the first linearization.
pub fn search_segment<M: Model>(
    model: &M,
    ops: &[&LinOp<M::Op>],
    starts: &[M::State],
    want_all: bool,
    max_ends: usize,
    strategy: Strategy,
    limits: &mut Limits<'_>,
) -> SegResult<M::State> {
    let m = ops.len();
    let words = m.div_ceil(64).max(1);
    let mut ev = Events::new(ops);
    let is_ok: Vec<bool> = ops.iter().map(|o| o.complete.is_some()).collect();
    let read_only: Vec<bool> = ops
        .iter()
        .map(|o| strategy.read_only && model.is_read_only(&o.op))
        .collect();
    let ok_total = is_ok.iter().filter(|&&b| b).count();

    let entry_bytes = (words * 8 + std::mem::size_of::<M::State>() + 64) as u64;
    let max_entries = (limits.memory / entry_bytes).max(1) as usize;
    // A blind `info` write (produces a token, observes none) is only ever placed right
    // before an op that observes its token (see the module docs); `need` is that token.
    let blind_info: Vec<Option<u64>> = ops
        .iter()
        .map(|o| {
            let deferrable = strategy.defer && o.complete.is_none();
            deferrable.then(|| model.defer_class(&o.op)).flatten()
        })
        .collect();
    let observes: Vec<Option<u64>> = ops.iter().map(|o| model.observes(&o.op)).collect();
    // Orders every linearization has beyond real time (`Model::extra_order`): an op is a
    // candidate only once all its predecessors are placed. Which ops are candidates is then
    // still a function of the placed set, so the memo stays exact.
    let mut succ: Vec<Vec<u32>> = vec![Vec::new(); m];
    let mut blockers: Vec<u32> = vec![0; m];
    if strategy.order {
        for (a, b) in model.extra_order(ops) {
            if a < m && b < m && a != b {
                succ[a].push(b as u32);
                blockers[b] += 1;
            }
        }
    }
    type Key<S> = (Box<[u64]>, S, Option<u64>);
    let mut cache: FxHashSet<Key<M::State>> = FxHashSet::default();
    let mut bits = vec![0u64; words];
    let mut best = Best {
        placed: Vec::new(),
        ok_placed: 0,
        states: Vec::new(),
        tail: Vec::new(),
    };
    let mut best_bits = vec![0u64; words];
    let mut ends: Vec<M::State> = Vec::new();
    let mut stack: Vec<(u32, M::State, Option<u64>)> = Vec::new();

    for s0 in starts {
        if !cache.insert((bits.clone().into_boxed_slice(), s0.clone(), None)) {
            continue;
        }
        if best.ok_placed == 0 && best.states.len() < MAX_STATES {
            best.states.push(s0.clone());
        }
        let mut state = s0.clone();
        let mut need: Option<u64> = None;
        let mut ok_left = ok_total;
        let mut entry = ev.next[HEAD as usize];
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
                    best.placed = bit_indices(&best_bits);
                    return SegResult::Stopped(why, best);
                }
            }
            let mut backtrack = false;
            if ok_left == 0 && need.is_some() {
                // Ending on a blind info write is the same as leaving it out.
                backtrack = true;
            } else if ok_left == 0 {
                if !ends.contains(&state) {
                    if ends.len() >= max_ends {
                        return SegResult::TooManyEnds;
                    }
                    ends.push(state.clone());
                }
                if !want_all {
                    return SegResult::Ends(ends);
                }
                backtrack = true;
            } else if entry == NIL {
                backtrack = true;
            } else if ev.is_call[entry as usize] {
                let j = ev.op[entry as usize] as usize;
                let allowed = (need.is_none() || observes[j] == need) && blockers[j] == 0;
                if let Some(next) = model.step(&state, &ops[j].op).filter(|_| allowed) {
                    set_bit(&mut bits, j);
                    if cache.insert((bits.clone().into_boxed_slice(), next.clone(), blind_info[j]))
                    {
                        if cache.len() > max_entries {
                            best.placed = bit_indices(&best_bits);
                            return SegResult::Stopped(Stop::Memory, best);
                        }
                        let prev = std::mem::replace(&mut state, next);
                        stack.push((entry, prev, need));
                        need = blind_info[j];
                        ev.lift(entry);
                        for &s in &succ[j] {
                            blockers[s as usize] -= 1;
                        }
                        if is_ok[j] {
                            ok_left -= 1;
                        }
                        let done = ok_total - ok_left;
                        if done > best.ok_placed {
                            best.ok_placed = done;
                            best_bits.copy_from_slice(&bits);
                            best.states.clear();
                            best.states.push(state.clone());
                            let from = stack.len().saturating_sub(TAIL);
                            best.tail = stack[from..]
                                .iter()
                                .map(|(e, _, _)| ev.op[*e as usize] as usize)
                                .collect();
                        } else if done == best.ok_placed
                            && best.states.len() < MAX_STATES
                            && !best.states.contains(&state)
                        {
                            best.states.push(state.clone());
                        }
                        entry = ev.next[HEAD as usize];
                        continue;
                    }
                    clear_bit(&mut bits, j);
                    if read_only[j] {
                        // Placing it now was already explored, and placing it now covers
                        // every other choice from here (see `Model::is_read_only`).
                        backtrack = true;
                    }
                }
                if !backtrack {
                    entry = ev.next[entry as usize];
                }
            } else {
                backtrack = true;
            }
            // Undo the latest placement and try the next candidate after it; a read-only op
            // was placed as early as possible, which covers every later placement of it
            // (see `Model::is_read_only`), so undo past it too.
            while backtrack {
                let Some((e, prev, prev_need)) = stack.pop() else {
                    break;
                };
                need = prev_need;
                let j = ev.op[e as usize] as usize;
                clear_bit(&mut bits, j);
                ev.unlift(e);
                for &s in &succ[j] {
                    blockers[s as usize] += 1;
                }
                if is_ok[j] {
                    ok_left += 1;
                }
                state = prev;
                entry = ev.next[e as usize];
                backtrack = read_only[j];
            }
            if backtrack {
                break;
            }
        }
    }
    if ends.is_empty() {
        best.placed = bit_indices(&best_bits);
        SegResult::Stuck(best)
    } else {
        SegResult::Ends(ends)
    }
}

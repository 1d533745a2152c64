//! The search: Wing & Gong / Lowe just-in-time linearization with memoisation, iterative.
//!
//! The ops of one segment (see [`crate::plan`]) become a doubly-linked list of call and return
//! events in real-time order. The calls before the first return in the list are the ops that
//! may go next in real time (invoked before every pending op's return): the *candidates*.
//! Try to *linearize* one (the model steps); on success, remove its call and return from the
//! list and take the candidates of what is left. When no candidate steps, backtrack: undo the
//! most recent linearization and try the next candidate after it. An `ok` op whose return
//! comes first in the list must go before every op invoked after that return, and nothing
//! later can fix it if it cannot: the candidates end there.
//!
//! Candidate order (`Strategy::deadline_first`): read-only ops first (placing one that steps
//! covers every other choice, see `Model::is_read_only`), then by return, `info` ops last.
//! The order never changes what is explored when a segment has no linearization; it decides
//! how soon one is found. Lowe's walk tries candidates in invocation order, so the op that
//! started first, which in a history with many clients is often one that returns last (or a
//! crashed op that never returns), was tried first at every level: on a valid 1,000-op
//! history from 30 clients with values 0..9 that took 56M steps, by return 26M.
//!
//! Twins (`Strategy::twins`, `Model::twin_key`): among candidates that step alike from every
//! state (two writes of 3), only the one that returns first is tried. Exact: take a
//! linearization from here whose next op is twin `b` while its twin `a` (a candidate, returning
//! no later) comes later, at position `p`. Swap them. `a` may go now (it is a candidate);
//! `b` at `p` steps as `a` did, is invoked already, and `p` is before `a`'s return, so before
//! `b`'s; an op `c` placed before `p` needed nothing of `b`, since it was invoked before `a`
//! returned (it preceded `a`), so before `b` returned. Same steps, same end state: by
//! induction, whatever the search can reach it reaches with twins tried once, end states
//! included. (A linearization that places `b` and never `a` is one where `a` is `info`, and
//! so is `b`: placing `a` in `b`'s stead is the same argument without the second swap.)
//! Twins must also agree on being `ok`, read-only, deferred and what they observe,
//! and take part in no extra order; the search checks that. Same history: 26M steps → 9M.
//!
//! Memoisation: a configuration is (set of linearized ops, model state); what happens after it
//! depends on nothing else, so a configuration seen before is never explored twice. The set is
//! keyed in a few words however long the segment (see [`Placed`]): a bitset over a
//! 14,000-op segment would be 1.8 KB per configuration.
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
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, Ordering};

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// One placement on the search's stack: its call event, what it changed (the state, `need`,
/// the interned info set's number, all before it) and its index in its frame of candidates.
struct Frame<S> {
    entry: u32,
    state: S,
    need: Option<u64>,
    info_id: u32,
    at: u32,
}

/// Shared limits for one check.
pub struct Limits<'a> {
    pub deadline: Deadline,
    /// Set by another thread when the search is no longer needed (another key failed).
    pub cancel: Option<&'a AtomicBool>,
    /// Set by the other search of a race (see `check`) once it has a verdict.
    pub rival: Option<&'a AtomicBool>,
    /// Give up (with `Stop::Budget`) past this many steps.
    pub max_steps: u64,
    /// Bytes the memo cache may use (an estimate).
    pub memory: u64,
    /// Steps taken so far (model steps attempted), for stats.
    pub steps: u64,
    /// Bytes (an estimate) held by other memo caches still alive, counted against `memory`.
    pub held: u64,
}

impl Limits<'_> {
    /// Whether `cancel` or `rival` is set: the search's answer is no longer needed.
    pub fn cancelled(&self) -> bool {
        [self.cancel, self.rival]
            .iter()
            .flatten()
            .any(|c| c.load(Ordering::Relaxed))
    }
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

/// A history event as one sortable word: position (31 bits), return after call (1 bit),
/// op index (32 bits). Positions are record numbers and ops are indices into one history,
/// so both fit; the sort is then a sort of integers, which the small histories' checks,
/// dominated by such set-up, feel.
pub(crate) fn pack_event(position: usize, is_return: bool, op: usize) -> u64 {
    debug_assert!(position < 1 << 31 && op < 1 << 32);
    ((position as u64) << 33) | (u64::from(is_return) << 32) | op as u64
}

/// The events of `(invoke, complete, op)` triples, packed ([`pack_event`]) and sorted.
/// Ops come in invocation order and their returns nearly so: the calls are checked, the
/// returns sorted by a sort that takes runs as they come, and the two merged.
pub(crate) fn sorted_events(ops: impl Iterator<Item = (usize, Option<usize>, usize)>) -> Vec<u64> {
    let (lower, _) = ops.size_hint();
    let mut calls = Vec::with_capacity(lower);
    let mut rets = Vec::with_capacity(lower);
    for (invoke, complete, j) in ops {
        calls.push(pack_event(invoke, false, j));
        if let Some(c) = complete {
            rets.push(pack_event(c, true, j));
        }
    }
    if !calls.is_sorted() {
        calls.sort_unstable();
    }
    rets.sort();
    let mut out = Vec::with_capacity(calls.len() + rets.len());
    let (mut a, mut b) = (0, 0);
    while a < calls.len() && b < rets.len() {
        if calls[a] < rets[b] {
            out.push(calls[a]);
            a += 1;
        } else {
            out.push(rets[b]);
            b += 1;
        }
    }
    out.extend_from_slice(&calls[a..]);
    out.extend_from_slice(&rets[b..]);
    out
}

/// The inverse of [`pack_event`].
pub(crate) fn unpack_event(packed: u64) -> (usize, bool, usize) {
    (
        (packed >> 33) as usize,
        packed & (1 << 32) != 0,
        (packed & 0xffff_ffff) as usize,
    )
}

impl Events {
    fn new<O>(ops: &[&LinOp<O>]) -> Events {
        // (position, is_return, local op), packed into one word so that the sort compares
        // integers. Calls sort before returns at equal positions, which makes such ops
        // concurrent: the permissive reading.
        let evs = sorted_events(
            ops.iter()
                .enumerate()
                .map(|(j, o)| (o.invoke, o.complete, j)),
        );
        Events::of_sorted(ops.len(), &evs)
    }

    /// The events of `m` ops from their packed events in order ([`sorted_events`]).
    fn of_sorted(m: usize, evs: &[u64]) -> Events {
        let n = evs.len() + 1;
        let mut e = Events {
            op: vec![NIL; n],
            ret: vec![NIL; n],
            is_call: vec![false; n],
            next: vec![NIL; n],
            prev: vec![NIL; n],
        };
        let mut call_of = vec![NIL; m];
        for (i, &packed) in evs.iter().enumerate() {
            let (_, is_ret, j) = unpack_event(packed);
            let j = j as u32;
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

/// The set of placed ops, kept so that its memo key is a few words however long the segment.
///
/// Number the segment's `ok` ops by invocation (rank `r`) and let `first` be the lowest rank
/// not placed. Every placed `ok` op of rank above `first` was placed while `first` was not
/// (the placed ops are the stack, in order), so it was a candidate then: invoked before the
/// first return still in the list, which is at or before `first`'s return. So it has a rank
/// below `lim[first]`, the number of `ok` ops invoked no later than `first` returns. The set of
/// placed `ok` ops is therefore fixed by `first` and the bit words from `first`'s word to
/// `lim[first]`'s (ranks below `first` are all placed, ranks past the window none): a couple
/// of words where a whole bitset over a 14,000-op segment takes 220. `info` ops never
/// return, so nothing bounds which of them are placed: their bitset is interned (it changes
/// only when an `info` op is placed, which is rare) and the key holds its number.
struct Placed {
    /// Per op: rank among the `ok` ops by invocation, or among the `info` ops (`is_ok` says
    /// which).
    rank: Vec<u32>,
    is_ok: Vec<bool>,
    /// Per `ok` rank: how many `ok` ops are invoked no later than it returns.
    lim: Vec<u32>,
    ok_bits: Vec<u64>,
    info_bits: Vec<u64>,
    first: u32,
    /// The number of `info_bits` in `interned`.
    info_id: u32,
    interned: FxHashMap<Box<[u64]>, u32>,
    /// Every op's bit, for counterexamples (indices into the segment's ops).
    bits: Vec<u64>,
}

/// A configuration's memo key: the placed set (see [`Placed`]), the state, and the token a
/// pending blind `info` write needs next.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key<S> {
    first: u32,
    info: u32,
    window: SmallVec<[u64; 2]>,
    state: S,
    need: Option<u64>,
}

impl Placed {
    fn new<O>(ops: &[&LinOp<O>]) -> Placed {
        let m = ops.len();
        let is_ok: Vec<bool> = ops.iter().map(|o| o.complete.is_some()).collect();
        let mut ok: Vec<usize> = (0..m).filter(|&j| is_ok[j]).collect();
        ok.sort_by_key(|&j| (ops[j].invoke, j));
        let mut rank = vec![0u32; m];
        for (r, &j) in ok.iter().enumerate() {
            rank[j] = r as u32;
        }
        let mut infos = 0u32;
        for j in (0..m).filter(|&j| !is_ok[j]) {
            rank[j] = infos;
            infos += 1;
        }
        let invokes: Vec<usize> = ok.iter().map(|&j| ops[j].invoke).collect();
        let lim = ok
            .iter()
            .map(|&j| {
                let done = ops[j].complete.expect("an ok op");
                invokes.partition_point(|&i| i <= done) as u32
            })
            .collect();
        let info_bits = vec![0u64; (infos as usize).div_ceil(64)];
        let mut interned = FxHashMap::default();
        interned.insert(info_bits.clone().into_boxed_slice(), 0);
        Placed {
            rank,
            is_ok,
            lim,
            ok_bits: vec![0u64; ok.len().div_ceil(64)],
            info_bits,
            first: 0,
            info_id: 0,
            interned,
            bits: vec![0u64; m.div_ceil(64).max(1)],
        }
    }

    fn place(&mut self, j: usize) {
        set_bit(&mut self.bits, j);
        let r = self.rank[j] as usize;
        if self.is_ok[j] {
            set_bit(&mut self.ok_bits, r);
            let n = self.lim.len() as u32;
            while self.first < n && get_bit(&self.ok_bits, self.first as usize) {
                self.first += 1;
            }
        } else {
            set_bit(&mut self.info_bits, r);
            self.intern();
        }
    }

    /// Undoes `place(j)`; `info_id` is the number the info set had before.
    fn unplace(&mut self, j: usize, info_id: u32) {
        clear_bit(&mut self.bits, j);
        let r = self.rank[j] as usize;
        if self.is_ok[j] {
            clear_bit(&mut self.ok_bits, r);
            self.first = self.first.min(r as u32);
        } else {
            clear_bit(&mut self.info_bits, r);
            self.info_id = info_id;
        }
    }

    fn intern(&mut self) {
        let next = self.interned.len() as u32;
        self.info_id = match self.interned.get(self.info_bits.as_slice()) {
            Some(&id) => id,
            None => {
                self.interned
                    .insert(self.info_bits.clone().into_boxed_slice(), next);
                next
            }
        };
    }

    fn key<S>(&self, state: S, need: Option<u64>) -> Key<S> {
        let window = match self.lim.get(self.first as usize) {
            Some(&lim) => self.ok_bits[self.first as usize / 64..=(lim as usize - 1) / 64].into(),
            None => SmallVec::new(),
        };
        Key {
            first: self.first,
            info: self.info_id,
            window,
            state,
            need,
        }
    }

    /// Bytes the interned info sets take (an estimate).
    fn interned_bytes(&self) -> u64 {
        self.interned.len() as u64 * (self.info_bits.len() as u64 * 8 + 48)
    }
}

fn get_bit(bits: &[u64], j: usize) -> bool {
    bits[j / 64] >> (j % 64) & 1 != 0
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
    /// Heap bytes of the memo keys whose window did not fit in the key.
    spilled: u64,
    placed: Placed,
    best: Best<M::State>,
    best_bits: Vec<u64>,
    /// Every end state returned so far.
    ends: FxHashSet<M::State>,
    /// Every start state given, in order.
    starts: Vec<M::State>,
    /// How many of `starts` the search has taken up.
    started: usize,
    /// Per placement: its call event, the state and `need` before it, and its index in its
    /// frame of `cands`.
    stack: Vec<Frame<M::State>>,
    /// Candidate call events, one frame per placement level (`frames`: where each starts);
    /// `cursor`: the next candidate to try in the last frame.
    cands: Vec<u32>,
    /// Per frame: where it starts in `cands`, and the first return event in the list then
    /// (`NIL` if none), which the calls of the frame all precede.
    frames: Vec<(usize, u32)>,
    cursor: usize,
    /// Twin class per op (`Model::twin_key`, refined by what else the search asks of an op),
    /// or `NIL`: among candidates of one class only the one returning first is tried.
    twin: Vec<u32>,
    /// Per call event, when `strategy.deadline_first`: its place among candidates as one
    /// word (read-only first, then by return event, `info` ops last, ties by call event).
    order: Vec<u64>,
    /// Whether [`SegSearch::forget_behind`] may drop memo entries (`Strategy::forget`).
    forget: bool,
    /// Whether a search from a start is under way (`state`, `need`, `ok_left`, `entry` and
    /// the stack are its position).
    running: bool,
    /// The last call returned an end state: backtrack from it before anything else.
    resume: bool,
    state: M::State,
    need: Option<u64>,
    ok_left: usize,
}

impl<'a, M: Model> SegSearch<'a, M> {
    pub fn new(model: &'a M, ops: Vec<&'a LinOp<M::Op>>, strategy: Strategy) -> Self {
        let ev = Events::new(&ops);
        Self::with_events(model, ops, strategy, ev)
    }

    /// [`SegSearch::new`] given the segment's events in order, packed as [`pack_event`]
    /// packs them with each op's index in `ops` (as [`crate::plan::Plan::events`] has them).
    pub fn new_sorted(
        model: &'a M,
        ops: Vec<&'a LinOp<M::Op>>,
        strategy: Strategy,
        events: &[u64],
    ) -> Self {
        debug_assert_eq!(
            events,
            &sorted_events(
                ops.iter()
                    .enumerate()
                    .map(|(j, o)| (o.invoke, o.complete, j))
            )[..]
        );
        let ev = Events::of_sorted(ops.len(), events);
        Self::with_events(model, ops, strategy, ev)
    }

    fn with_events(
        model: &'a M,
        ops: Vec<&'a LinOp<M::Op>>,
        strategy: Strategy,
        ev: Events,
    ) -> Self {
        let m = ops.len();
        let words = m.div_ceil(64).max(1);
        let is_ok: Vec<bool> = ops.iter().map(|o| o.complete.is_some()).collect();
        let read_only: Vec<bool> = ops
            .iter()
            .map(|o| strategy.read_only && model.is_read_only(&o.op))
            .collect();
        let ok_total = is_ok.iter().filter(|&&b| b).count();
        let blind_info: Vec<Option<u64>> = ops
            .iter()
            .map(|o| {
                let deferrable = strategy.defer && o.complete.is_none();
                deferrable.then(|| model.defer_class(&o.op)).flatten()
            })
            .collect();
        let observes: Vec<Option<u64>> = ops.iter().map(|o| model.observes(&o.op)).collect();
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
        // Twins also agree on everything else the search asks of an op, and take part in no
        // extra order (the exchange argument moves ops).
        let mut classes: rustc_hash::FxHashMap<_, u32> = rustc_hash::FxHashMap::default();
        let twin = (0..m)
            .map(|j| {
                let key = strategy.twins.then(|| model.twin_key(&ops[j].op)).flatten();
                match key {
                    Some(k) if succ[j].is_empty() && blockers[j] == 0 => {
                        let full = (k, is_ok[j], read_only[j], blind_info[j], observes[j]);
                        let next = classes.len() as u32;
                        *classes.entry(full).or_insert(next)
                    }
                    _ => NIL,
                }
            })
            .collect();
        let placed = Placed::new(&ops);
        let order = if strategy.deadline_first {
            (0..ev.op.len())
                .map(|e| {
                    let writes = !read_only.get(ev.op[e] as usize).copied().unwrap_or(false);
                    (u64::from(writes) << 63) | (u64::from(ev.ret[e]) << 31) | e as u64
                })
                .collect()
        } else {
            Vec::new()
        };
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
            // The key and hashbrown's control byte.
            entry_bytes: (std::mem::size_of::<Key<M::State>>() + 1) as u64,
            spilled: 0,
            placed,
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
            cands: Vec::new(),
            frames: Vec::new(),
            cursor: 0,
            twin,
            order,
            forget: strategy.forget,
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
        // By capacity: the table is allocated in powers of two, up to twice what it holds.
        self.cache.capacity() as u64 * self.entry_bytes
            + self.spilled
            + self.placed.interned_bytes()
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
                if self.cache.capacity() == 0 {
                    // About one configuration per op is the least a search stores: growing
                    // to that by doubling would re-hash every key a dozen times.
                    let want = self.ops.len().min(1 << 14);
                    if limits.held + 2 * want as u64 * self.entry_bytes <= limits.memory / 4 {
                        self.cache.reserve(want);
                    }
                }
                let key = self.placed.key(s0.clone(), None);
                if !self.cache.insert(key) {
                    continue;
                }
                if self.best.ok_placed == 0 && self.best.states.len() < MAX_STATES {
                    self.best.states.push(s0.clone());
                }
                self.state = s0;
                self.need = None;
                self.ok_left = self.ok_total;
                self.cands.clear();
                self.frames.clear();
                if self.stack.capacity() == 0 {
                    // A search that gets through places every op once: one frame each, of a
                    // few candidates (sized once instead of doubling and copying).
                    let m = self.ops.len();
                    self.stack.reserve(m);
                    self.frames.reserve(m + 1);
                    self.cands.reserve(4 * m + 64);
                }
                self.fill(None);
                self.running = true;
            }
            match self.run(limits, pause_at) {
                Some(n) => return n,
                None => self.running = false,
            }
        }
    }

    /// The candidates of the current configuration, as a new frame: the calls before the
    /// first return in the list (the ops that may go next in real time), read-only ops
    /// first, then by return (`info` ops last) when `strategy.deadline_first`.
    fn fill(&mut self, placed: Option<u32>) {
        let start = self.cands.len();
        let before = self.frames.last().copied();
        self.cursor = 0;
        let ev = &self.ev;
        if let (Some(x), Some((from, first_ret))) = (placed, before) {
            // The frame after placing `x` is the last one without `x`, plus, when `x`'s
            // return was the first return, the calls it hid: the calls from there to the
            // next return, which come after every call of the last frame in real time.
            // (Event numbers follow the list, so `x`'s return, just unlinked, still points
            // at what followed it.) The last frame is in order already: copy it, and put
            // the few new calls in their places.
            for i in from..start {
                let e = self.cands[i];
                if e != x {
                    self.cands.push(e);
                }
            }
            let r = ev.ret[x as usize];
            let mut e = first_ret;
            if r == first_ret && r != NIL {
                e = ev.next[r as usize];
                while e != NIL && ev.is_call[e as usize] {
                    if self.order.is_empty() {
                        self.cands.push(e);
                    } else {
                        let key = self.order[e as usize];
                        let order = &self.order;
                        let at = start
                            + self.cands[start..].partition_point(|&c| order[c as usize] < key);
                        self.cands.insert(at, e);
                    }
                    e = ev.next[e as usize];
                }
            }
            self.frames.push((start, e));
            // Checked at every eighth depth: enough to catch a wrong frame, cheap enough for
            // the debug-build tests whose frames hold hundreds of crashed calls.
            debug_assert!(
                !self.stack.len().is_multiple_of(8)
                    || self.cands[start..] == self.sorted_calls()[..]
            );
            return;
        }
        let mut e = ev.next[HEAD as usize];
        while e != NIL && ev.is_call[e as usize] {
            self.cands.push(e);
            e = ev.next[e as usize];
        }
        self.frames.push((start, e));
        if !self.order.is_empty() {
            let order = &self.order;
            self.cands[start..].sort_unstable_by_key(|&e| order[e as usize]);
        }
    }

    /// The candidates as [`SegSearch::fill`] computes them without a last frame.
    fn sorted_calls(&self) -> Vec<u32> {
        let ev = &self.ev;
        let mut out = Vec::new();
        let mut e = ev.next[HEAD as usize];
        while e != NIL && ev.is_call[e as usize] {
            out.push(e);
            e = ev.next[e as usize];
        }
        if !self.order.is_empty() {
            out.sort_unstable_by_key(|&e| self.order[e as usize]);
        }
        out
    }

    /// Whether a twin of the candidate at `at` (same twin class) is in the current frame and
    /// must return before it (ties: the earlier call), so that trying `at` is redundant
    /// (see the module docs).
    fn has_earlier_twin(&self, at: usize) -> bool {
        let e = self.cands[at];
        let class = self.twin[self.ev.op[e as usize] as usize];
        if class == NIL {
            return false;
        }
        let mine = (self.ev.ret[e as usize], e);
        let (base, _) = *self.frames.last().expect("a frame");
        self.cands[base..].iter().any(|&o| {
            self.twin[self.ev.op[o as usize] as usize] == class
                && (self.ev.ret[o as usize], o) < mine
        })
    }

    /// Searches from the current position: `Some` when there is something to return, `None`
    /// when the search from the current start is done.
    fn run(&mut self, limits: &mut Limits<'_>, pause_at: u64) -> Option<Next<M::State>> {
        let model = self.model;
        loop {
            limits.steps += 1;
            if limits.steps & 1023 == 0 {
                let why = if limits.steps >= limits.max_steps {
                    Some(Stop::Budget)
                } else if limits.deadline.expired() {
                    Some(Stop::Deadline)
                } else if limits.cancelled() {
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
            } else {
                let (base, _) = *self.frames.last().expect("a frame");
                let at = base + self.cursor;
                if at >= self.cands.len() {
                    backtrack = true;
                } else {
                    self.cursor += 1;
                    let entry = self.cands[at];
                    let j = self.ev.op[entry as usize] as usize;
                    let allowed = (self.need.is_none() || self.observes[j] == self.need)
                        && self.blockers[j] == 0;
                    let next = model.step(&self.state, &self.ops[j].op).filter(|_| allowed);
                    if let Some(next) = next.filter(|_| !self.has_earlier_twin(at)) {
                        let info_id = self.placed.info_id;
                        self.placed.place(j);
                        let key = self.placed.key(next.clone(), self.blind_info[j]);
                        // A full table doubles on the next insertion, and holds both tables
                        // while it moves: before that would pass the budget, forget the
                        // configurations behind the search (see `forget_behind`), or stop
                        // when that frees too little.
                        // Checked before the insertion, so that a stopped search has not
                        // recorded a configuration it never explored.
                        let heap = if key.window.spilled() {
                            key.window.capacity() as u64 * 8 + 16
                        } else {
                            0
                        };
                        let grows = self.cache.len() == self.cache.capacity();
                        let after = if grows {
                            2 * self.bytes()
                        } else {
                            self.bytes()
                        } + heap;
                        if limits.held + after > limits.memory && !self.forget_behind() {
                            self.placed.unplace(j, info_id);
                            return Some(Next::Stopped(Stop::Memory));
                        }
                        if self.cache.insert(key) {
                            self.spilled += heap;
                            let prev = std::mem::replace(&mut self.state, next);
                            self.stack.push(Frame {
                                entry,
                                state: prev,
                                need: self.need,
                                info_id,
                                at: (at - base) as u32,
                            });
                            self.need = self.blind_info[j];
                            self.ev.lift(entry);
                            for &s in &self.succ[j] {
                                self.blockers[s as usize] -= 1;
                            }
                            if self.is_ok[j] {
                                self.ok_left -= 1;
                            }
                            self.note_progress();
                            self.fill(Some(entry));
                            continue;
                        }
                        self.placed.unplace(j, info_id);
                        if self.read_only[j] {
                            // Placing it now was already explored, and placing it now covers
                            // every other choice from here (see `Model::is_read_only`).
                            backtrack = true;
                        }
                    }
                }
            }
            // Undo the latest placement and try the next candidate after it; a read-only op
            // was placed as early as possible, which covers every later placement of it
            // (see `Model::is_read_only`), so undo past it too.
            while backtrack {
                let (frame, _) = self.frames.pop().expect("a frame");
                self.cands.truncate(frame);
                let Some(f) = self.stack.pop() else {
                    break;
                };
                self.need = f.need;
                let j = self.ev.op[f.entry as usize] as usize;
                self.placed.unplace(j, f.info_id);
                self.ev.unlift(f.entry);
                for &s in &self.succ[j] {
                    self.blockers[s as usize] += 1;
                }
                if self.is_ok[j] {
                    self.ok_left += 1;
                }
                self.state = f.state;
                self.cursor = f.at as usize + 1;
                backtrack = self.read_only[j];
            }
            if backtrack {
                return None;
            }
        }
    }

    /// Drops the memo entries of configurations *behind* the current one: those with an `ok`
    /// op unplaced that the current configuration has placed below its own lowest unplaced
    /// one (a smaller `first`). `true` when that emptied at least a quarter of the table.
    ///
    /// Sound whatever is dropped: the memo only saves exploring a configuration twice, and
    /// a configuration explored again gives the same answer (its end states are already
    /// in `ends`, so none is returned twice). What it costs is time, if the search comes
    /// back to them: it does so only by backtracking below the point where `first` was
    /// placed, which on a history it goes through forward is rare, while the entries
    /// behind it are most of a long segment's memo.
    fn forget_behind(&mut self) -> bool {
        if !self.forget {
            return false;
        }
        let first = self.placed.first;
        let before = self.cache.len();
        let mut spilled = 0;
        self.cache.retain(|k| {
            let keep = k.first >= first;
            if keep && k.window.spilled() {
                spilled += k.window.capacity() as u64 * 8 + 16;
            }
            keep
        });
        self.spilled = spilled;
        self.cache.len() * 4 <= before * 3
    }

    /// Records the furthest point reached (most `ok` ops placed) for counterexamples.
    fn note_progress(&mut self) {
        let done = self.ok_total - self.ok_left;
        let best = &mut self.best;
        if done > best.ok_placed {
            best.ok_placed = done;
            self.best_bits.copy_from_slice(&self.placed.bits);
            best.states.clear();
            best.states.push(self.state.clone());
            let from = self.stack.len().saturating_sub(TAIL);
            best.tail.clear();
            best.tail.extend(
                self.stack[from..]
                    .iter()
                    .map(|f| self.ev.op[f.entry as usize] as usize),
            );
        } else if done == best.ok_placed
            && best.states.len() < MAX_STATES
            && !best.states.contains(&self.state)
        {
            best.states.push(self.state.clone());
        }
    }
}

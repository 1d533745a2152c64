//! Exact checking of three session-aware axiomatic levels by saturation, in the manner of AWDIT
//! (Møldrup et al., PLDI 2025) over Biswas and Enea's definitions: read committed
//! (`read-committed-be`), read atomic (`read-atomic`) and causal consistency (`causal-cerone`).
//!
//! ## Why
//!
//! Elle's cycles use only the dependencies the data proves. In a register history the version
//! order is mostly unknown, so a fractured read (`T3` sees `x` from `T1` and `y` from `T2`,
//! while `T1` wrote `y` and `T2` wrote `x`) leaves no certain cycle: whichever order the
//! versions had, some cycle exists, but no single one is certain. The axiomatic levels need no
//! version order: they ask whether *some* commit order `co` (a total order of the committed
//! transactions containing session order `so` and write-read `wr`) explains every read.
//!
//! ## The definitions
//!
//! A history has committed transactions, a virtual initial transaction `⊥` that wrote every
//! key first, `so` (per process, in invocation order) and `wr` (`t1 →wr t3` when a read of
//! `t3` returned a value `t1` wrote). A read `α` of key `x` in `t3` that reads from `t1` forces,
//! for every other committed `t2` that writes `x` and is *visible* to `α`, `t2 <co t1`. Visible:
//! - read committed (`rc`): `t2` wrote what an earlier read of `t3` (in program order) returned;
//! - read atomic (`ra`): `t2 →wr t3` or `t2 →so t3`;
//! - causal (`cc`): `t2 (so ∪ wr)+ t3` (happens before).
//!
//! The level holds iff some total order `co ⊇ so ∪ wr` satisfies every such axiom.
//!
//! ## Saturation is exact
//!
//! Let `S` be the set of forced pairs `t2 → t1` above. Whether `t2` is visible to `α` depends
//! only on `so` and `wr`, never on `co`, so `S` is fixed by the history. If `so ∪ wr ∪ S` has a
//! cycle, every candidate `co` would have to contain it: no `co` exists. If it has none, any
//! topological order of it is a `co` that contains `so ∪ wr` and puts every forced pair in the
//! right order: the level holds. A forced pair `t2 → ⊥` is a contradiction by itself (`⊥`
//! precedes everything). So each level is one saturation and one acyclicity test (Tarjan without
//! recursion, [`crate::scc`]). A cycle of `so ∪ wr` alone, without a forced pair, is `G1c`
//! or `G1c-process`: the dependency-graph search names it (these levels proscribe both), so it
//! is not reported again here.
//!
//! Shortcuts, each proved before the code that takes it:
//! - only the *last* `so`-predecessor of `t3` writing `x` needs an edge for `ra`: an older one
//!   `t2'` reaches it by `so`, which is in the graph, so `t2' → t2 → t1` already orders it;
//! - for `cc`, only the last write of `x` on each *chain* (below) that happens before `t3`
//!   needs an edge, and none when it also happens before `t1`: proved under "Chains";
//! - for `ra` and `rc`, pairs (reader, writer it read from) are intersected by walking the
//!   smaller of the writer's written keys and the reader's reads, so the work is
//!   `O(Σ min(|W|, |R|))` (the `O(n^1.5)` bound of AWDIT's analysis).
//! - for `cc`, a pair `t2 → t1` is skipped when a later write of `t2`'s chain was already
//!   forced before `t1` (`t2` happens before that one); this keeps the forced pairs of a hot
//!   value read by many from repeating;
//! - a clock is the join of the predecessors' clocks; a predecessor already covered by what is
//!   joined (its own entry is) happens before something joined, so its clock is below and is
//!   skipped. A clock is kept only while a successor is left, and handed down to the session
//!   successor when that is the last one (it is then updated in place, not copied);
//! - the strongest level asked for is checked first, with session order: its forced pairs
//!   reach every weaker level's and every sessionless one's (each of those pairs is one of
//!   its own, or follows from one by `so` or happens-before, which are in its graph), so when it
//!   is acyclic every check is. The others run only to name the weakest violation.
//!
//! ## Chains: vector clocks over a chain decomposition of happens-before
//!
//! Why: vector clocks indexed by session cost `O(n·k)` with `k` sessions, and a Jepsen history
//! gives a client a new process after each crashed transaction, so `k` grows with the history
//! (≈ 50,000 sessions in 10 M transactions, of which ≈ 50 run at any time). Nothing in the
//! argument needs sessions, only *chains*: sequences `c_0, c_1, …` of transactions with
//! `c_i hb c_{i+1}` (`hb = (so ∪ wr)+`), partitioning the committed transactions.
//!
//! Clocks. Let `past(t)` be `t` with everything that happens before it. If `c_j ∈ past(t)` and
//! `i < j`, then `c_i hb c_j`, so `c_i ∈ past(t)`: the members of a chain in `past(t)` are a
//! prefix of it, and `t' = c_i ∈ past(t)` iff `i < clock(t)[c]`, where `clock(t)[c]` is that
//! prefix's length. As `past(t) = {t} ∪ ⋃ past(p)` over the `so ∪ wr` predecessors `p`,
//! `clock(t)` is the join of theirs, with `t`'s own entry set to its position plus one. A
//! chain grown or opened after `p` was placed (in topological order) adds nothing to
//! `past(p)`, whose members are all placed before `p`: an old clock stays right, and its
//! entries for chains opened since (past its length) are 0.
//!
//! The forced pairs. For a read of `x` in `t3` from `t1`, the axiom forces `t2 <co t1` for
//! every writer `t2 ≠ t1` of `x` in `past(t3) ∖ {t3}`. Those of a chain `c` are its writers
//! of `x` at positions below `clock(t3)[c]`, `t3`'s own entry excluded (it is set after the
//! reads). Let `t2` be the last of them. If it is in `past(t1)`, so are the earlier ones (a
//! prefix): each happens before `t1` or is `t1`, and `so ∪ wr` already orders it; no edge.
//! Otherwise the edge `t2 → t1` is added, and every earlier writer `t2'` of the chain has
//! `t2' hb t2`, a path of `so ∪ wr`, so `t2' → … → t2 → t1` is in the graph. The graph thus has
//! the same transitive closure as `so ∪ wr ∪ S`: the same cycles, the same SCCs (a pair of `S`
//! left out lies on a path through one kept, whose ends are in its SCC), the same verdict. A
//! pair into `⊥` (read of the initial state) is kept for the last writer of each chain that
//! has one, so there is one iff the axiom forces one. Sessions are one such decomposition
//! (the previous implementation); any other gives the same closure.
//!
//! A transaction that nothing follows in `so ∪ wr` (a read-only one, or one whose writes
//! nobody read, that ends its session) is in no other transaction's past: no clock but its
//! own counts it, and a read of another transaction never asks about its writes. It joins no
//! chain (its own reads still use its clock, whose own entry they exclude anyway). Jepsen's
//! crashed processes end in many of those: left in, each would pin a chain nobody can extend.
//!
//! Building the chains, greedily in the topological order: a transaction extends its session
//! predecessor's chain, whose tail that predecessor always is (see below); the first
//! transaction of a session extends a *free* chain (whose tail is the last of its session)
//! whose tail it covers (its clock entry for the chain equals the chain's length: the tail is
//! in its past, so it happens before), or else opens a chain. Only free chains are taken, so
//! a session's next transaction always finds its predecessor at its chain's tail: a chain is
//! sessions end to end, so there are never more chains than sessions, and a replaced
//! process's chain is taken over by a later session that has seen its last transaction. The
//! predecessors' chains are tried first (one test each), then every free chain (a pass over
//! at most `k` entries, as the join itself). The writes of each key are kept per (key, chain)
//! as they are placed: a read only asks about chain members in its past, placed already.
//!
//! Popping a tail. A transaction `T` is *in no past to come* once every successor of `T` is
//! placed and no kept clock has `T` (a path from `T` to a transaction not yet placed leaves
//! the placed ones at some `d` with a successor left, whose clock is kept and has `T`). Such
//! a `T` that is a chain's tail is popped: it leaves the chain, its writes leave the (key,
//! chain) lists, and the next member takes its position. Every clock still to be read has
//! none of `T`, so its entry for the chain still counts a prefix. A forced-pair record names
//! the transaction forced (not a position), and a popped one no longer counts. Two cases are
//! popped: at once, a transaction whose successors all join no chain (nothing chained can
//! have covered it, so it is still the tail: e.g. the last transaction before a crash, read
//! only by a read-only transaction that ended its session); and, when retiring (below), any
//! free chain's tail found in no past to come.
//!
//! Retiring chains. The chains are at least as many as the width of happens-before
//! (Dilworth): a session whose first transaction only writes has no predecessor, and those
//! first transactions are an antichain (≈ 7,800 in the 10 M-transaction benchmark). So clocks
//! are indexed by *active* chains, and a free chain is retired, its entry dropped from every
//! kept clock, when each kept clock has all of it or none of it. Then one bit per clock,
//! `full`, stands for every retired chain: a clock has all of every retired chain (`full`) or
//! none of any. Invariant, for every clock kept or made later: a transaction `u` placed after
//! a retirement has in its past a transaction placed before it only through some `d` placed
//! before, with a successor left at the retirement, so kept then: `d` had all or none of the
//! chains retired, by the condition, and all or none of those retired before, by induction;
//! `u`'s past is the union of its predecessors', so `full(u)` is the `or` of theirs (a
//! transaction without predecessors has none). Before the first retirement `full` means
//! nothing, and each kept clock is classified by what it has of the chains retired (chains it
//! has part of are not retired). An entry of a retired chain reads as its length when `full`,
//! else 0: exactly the prefix it has. Retirement is tried whenever the active chains grew by
//! half since the last try (at least 64), costing `O(free · kept)` each time. On that
//! benchmark (`bench/txn/README.md`): 7,820 chains, at most 121 active at once, for 49,769
//! sessions.
//!
//! Differential tests (`awdit_tests.rs`) compare the closure of the forced order with the
//! per-session implementation's and with the axiom's on random histories with many short
//! sessions, causal stores' histories and planted violations (retiring as often as possible
//! and the (key, chain) map used from two chains on, so that every path runs).
//!
//! ## With and without session order
//!
//! Each level is also checked with `so` removed everywhere (from visibility and from `co`):
//! that is the level as a sessionless model. A history violating the sessionless form violates
//! every model that implies it, including Adya's `snapshot-isolation` and `serializable`
//! (each admits a commit order in which every transaction reads the latest version committed
//! before it started, which satisfies the causal axiom without sessions, hence the weaker two).
//! A violation that exists only with `so` rules out only the session-aware levels (the
//! `-process` anomaly names). For `rc` and `ra` the sessionless check is run exactly; for `cc`
//! (whose chains and clocks are built over `so ∪ wr`) a cycle of the session-aware check is
//! called sessionless when neither its edges nor the happens-before behind its forced edges
//! use `so`, and `-process` otherwise: a weaker claim when unsure, never a stronger one.
//!
//! ## What counts as committed, and what a read reads
//!
//! - `fail` transactions are out (a read of their write is `G1a`, reported elsewhere).
//! - `info` transactions: in when some ok read returned one of their writes (they must then
//!   have committed), out otherwise. Dropping an unread `info` transaction is exact: it has no
//!   outgoing `wr` and, the last of its session, no outgoing `so`, so it is visible to nobody and
//!   adds no forced pair among the others; every cycle of the full history lies among the
//!   others. Its reads are unknown and left out: fewer reads mean fewer forced pairs, so a cycle
//!   found is a cycle of every way those reads could have gone. A session ends at an `info`
//!   transaction (the next transaction of that process starts a new session), as Jepsen
//!   replaces the process.
//! - Only *external* reads count: a read of a key after the transaction's own write to it is
//!   internal (checked by `internal`). A read of a value no transaction wrote, or that two
//!   transactions wrote, names no writer and is skipped (values must be unique per key; the
//!   register inference already refuses histories that repeat one). A list read reads from
//!   the writer of its last element, or from `⊥` when empty: the sound reading of a list, as
//!   every appender visible to the reader precedes that writer in the arbitration order.

use crate::graph::{sorted_unique, Adj, Edge, NONE, PROCESS, WR, WW};
use crate::scc::components_by;
use crate::txn::{Kind, Mop, Outcome, Txns, NIL};
use labrys_history::{Anomaly, Deadline, History};
use petgraph::csr::Csr;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[cfg(test)]
#[path = "awdit_tests.rs"]
mod tests;

/// The virtual initial transaction.
pub const BOT: u32 = u32::MAX - 1;

/// Keys written by at most this many chains find a chain's entry by a scan, not a map (2 in
/// tests, so that the small histories use the map too).
const FEW_CHAINS: usize = if cfg!(test) { 2 } else { 64 };

/// At most this many cycles of a check are classified (sessionless or not) and explained.
const MAX_EXPLAINED: usize = crate::MAX_PER_TYPE;

/// The three levels, weakest first: each one's forced pairs contain the previous one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    ReadCommitted,
    ReadAtomic,
    Causal,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::ReadCommitted, Level::ReadAtomic, Level::Causal];

    /// The anomaly a cycle of this level is reported as.
    pub fn anomaly(self, with_so: bool) -> &'static str {
        match (self, with_so) {
            (Level::ReadCommitted, false) => "non-monotonic-read",
            (Level::ReadCommitted, true) => "non-monotonic-read-process",
            (Level::ReadAtomic, false) => "fractured-read",
            (Level::ReadAtomic, true) => "fractured-read-process",
            (Level::Causal, false) => "causality-violation",
            (Level::Causal, true) => "causality-violation-process",
        }
    }

    /// The (session-aware) model this level is.
    pub fn model(self) -> &'static str {
        match self {
            Level::ReadCommitted => "read-committed-be",
            Level::ReadAtomic => "read-atomic",
            Level::Causal => "causal-cerone",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Level::ReadCommitted => {
                "read committed (Biswas–Enea: reads within a transaction never go back)"
            }
            Level::ReadAtomic => {
                "read atomic (a transaction that sees one write of another sees all of them)"
            }
            Level::Causal => {
                "causal consistency (a transaction sees every write that happens before it)"
            }
        }
    }
}

/// Every anomaly name this module reports.
pub const ANOMALIES: [&str; 6] = [
    "non-monotonic-read",
    "non-monotonic-read-process",
    "fractured-read",
    "fractured-read-process",
    "causality-violation",
    "causality-violation-process",
];

/// One external read of a committed transaction.
#[derive(Clone, Copy, Debug)]
pub struct Read {
    pub txn: u32,
    pub key: u32,
    /// The value read (for a list, its last element; `NIL` when empty).
    pub val: u32,
    /// The transaction read from, or [`BOT`].
    pub from: u32,
}

/// Why `before` is visible to the read that forces `before <co after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// An earlier read (index) of the same transaction read from `before`.
    Earlier(u32),
    /// A read (index) of the same transaction read from `before`.
    Read(u32),
    /// `before` ran earlier in the reader's session.
    Session,
    /// `before` happens before the reader (`so ∪ wr`, transitively).
    HappensBefore,
}

/// A forced pair: `before <co after` because of read `read` (`after` wrote what it returned, or
/// `after` is [`BOT`]).
#[derive(Clone, Copy, Debug)]
pub struct Co {
    pub before: u32,
    pub after: u32,
    pub read: u32,
    pub via: Via,
}

/// A history as the saturation sees it.
pub struct Prepared {
    kind: Kind,
    pub included: Vec<bool>,
    read_off: Vec<u32>,
    pub reads: Vec<Read>,
    write_off: Vec<u32>,
    /// Per transaction, (key, last value written) sorted by key.
    writes: Vec<(u32, u32)>,
    /// Per transaction: its session (`NONE` when not included) and position in it.
    session: Vec<u32>,
    pos: Vec<u32>,
    sessions: Vec<Vec<u32>>,
}

/// One step of a cycle: `kind` is `WR` (`why`: a read index), `PROCESS`, or `WW` for a forced
/// pair (`why`: an index into the forced pairs).
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub from: u32,
    pub to: u32,
    pub kind: u8,
    pub why: u32,
}

/// The result of checking one level, with or without session order.
pub struct LevelResult {
    pub level: Level,
    pub with_so: bool,
    pub co: Vec<Co>,
    /// Forced pairs (indices) `t2 <co ⊥`: each a contradiction on its own.
    pub initial: Vec<u32>,
    /// One cycle per cyclic SCC of `so ∪ wr ∪ co` with a forced pair inside (at most
    /// [`MAX_EXPLAINED`] are extracted).
    pub cycles: Vec<Vec<Step>>,
    /// Cyclic SCCs with a forced pair inside, in all (some without an extracted cycle).
    pub n_sccs: usize,
    /// Cyclic SCCs of `so ∪ wr` alone: `G1c` or `G1c-process`, which the dependency-graph
    /// search reports whenever these levels are asked for; not reported here.
    pub plain_sccs: usize,
    /// For causal: the position of each transaction in the topological order used.
    rank: Vec<u32>,
    /// For causal: the chains its clocks were over (0 when it did not run to the end).
    pub chains: u32,
    /// For causal: the most chains active at once (the clocks' widest).
    pub width: u32,
    /// The deadline passed: nothing was decided.
    pub timed_out: bool,
}

impl LevelResult {
    /// The level is violated.
    pub fn violated(&self) -> bool {
        self.forced_violation() || self.plain_sccs > 0
    }

    /// The level is violated by a forced pair (what this module reports).
    pub fn forced_violation(&self) -> bool {
        !self.initial.is_empty() || self.n_sccs > 0
    }
}

impl Prepared {
    pub fn new(t: &Txns) -> Prepared {
        let n = t.txns.len();
        let kind = match t.txns.iter().flat_map(|x| &x.mops).next() {
            Some(Mop::Append { .. } | Mop::ReadList { .. }) => Kind::ListAppend,
            _ => Kind::RwRegister,
        };
        // (key, value) -> writer, or NONE when written by two transactions.
        let mut writer: HashMap<(u32, u32), u32> = HashMap::default();
        for (ti, txn) in t.txns.iter().enumerate() {
            for m in &txn.mops {
                if let Mop::Write { key, val } | Mop::Append { key, val } = *m {
                    let e = writer.entry((key, val)).or_insert(ti as u32);
                    if *e != ti as u32 {
                        *e = NONE;
                    }
                }
            }
        }
        let mut read_off = Vec::with_capacity(n + 1);
        let mut reads: Vec<Read> = Vec::new();
        let mut own: Vec<u32> = Vec::new();
        for (ti, txn) in t.txns.iter().enumerate() {
            read_off.push(reads.len() as u32);
            if txn.outcome != Outcome::Ok {
                continue;
            }
            own.clear();
            for m in &txn.mops {
                let (key, val) = match *m {
                    Mop::Write { key, .. } | Mop::Append { key, .. } => {
                        own.push(key);
                        continue;
                    }
                    Mop::ReadReg { key, val: Some(v) } => (key, v),
                    Mop::ReadList { key, list: Some(l) } => {
                        (key, t.list(l).last().copied().unwrap_or(NIL))
                    }
                    _ => continue,
                };
                if own.contains(&key) {
                    continue;
                }
                let from = if val == NIL {
                    BOT
                } else {
                    match writer.get(&(key, val)) {
                        Some(&w)
                            if w != NONE
                                && w != ti as u32
                                && t.txns[w as usize].outcome != Outcome::Fail =>
                        {
                            w
                        }
                        _ => continue,
                    }
                };
                reads.push(Read {
                    txn: ti as u32,
                    key,
                    val,
                    from,
                });
            }
        }
        read_off.push(reads.len() as u32);
        let mut included: Vec<bool> = t.txns.iter().map(|x| x.outcome == Outcome::Ok).collect();
        for r in &reads {
            if r.from != BOT {
                included[r.from as usize] = true;
            }
        }
        let mut write_off = Vec::with_capacity(n + 1);
        let mut writes: Vec<(u32, u32)> = Vec::new();
        for (ti, txn) in t.txns.iter().enumerate() {
            write_off.push(writes.len() as u32);
            if !included[ti] {
                continue;
            }
            let start = writes.len();
            for m in &txn.mops {
                if let Mop::Write { key, val } | Mop::Append { key, val } = *m {
                    match writes[start..].iter_mut().find(|e| e.0 == key) {
                        Some(e) => e.1 = val,
                        None => writes.push((key, val)),
                    }
                }
            }
            writes[start..].sort_unstable();
        }
        write_off.push(writes.len() as u32);
        let mut session = vec![NONE; n];
        let mut pos = vec![NONE; n];
        let mut sessions: Vec<Vec<u32>> = Vec::new();
        let mut open: HashMap<i64, u32> = HashMap::default();
        for (ti, txn) in t.txns.iter().enumerate() {
            if !included[ti] {
                continue;
            }
            let s = *open.entry(txn.process).or_insert_with(|| {
                sessions.push(Vec::new());
                sessions.len() as u32 - 1
            });
            session[ti] = s;
            pos[ti] = sessions[s as usize].len() as u32;
            sessions[s as usize].push(ti as u32);
            if txn.outcome != Outcome::Ok {
                // An info transaction ends its session.
                open.remove(&txn.process);
            }
        }
        Prepared {
            kind,
            included,
            read_off,
            reads,
            write_off,
            writes,
            session,
            pos,
            sessions,
        }
    }

    fn n(&self) -> usize {
        self.included.len()
    }

    fn read_range(&self, t: u32) -> std::ops::Range<usize> {
        self.read_off[t as usize] as usize..self.read_off[t as usize + 1] as usize
    }

    fn writes_of(&self, t: u32) -> &[(u32, u32)] {
        &self.writes[self.write_off[t as usize] as usize..self.write_off[t as usize + 1] as usize]
    }

    /// The last value `t` wrote to `key`, if it wrote it.
    fn wrote(&self, t: u32, key: u32) -> Option<u32> {
        let w = self.writes_of(t);
        w.binary_search_by_key(&key, |e| e.0).ok().map(|i| w[i].1)
    }

    /// `so` predecessor of `t` (the previous transaction of its session).
    fn so_pred(&self, t: u32) -> Option<u32> {
        let s = self.session[t as usize];
        let p = self.pos[t as usize];
        (s != NONE && p > 0).then(|| self.sessions[s as usize][p as usize - 1])
    }

    /// Forced pairs of read committed: `t2` wrote the key and an earlier read of the same
    /// transaction read from `t2`.
    fn saturate_rc(&self, out: &mut Vec<Co>) {
        // Per key written by a writer seen so far: (writer, the read that saw it). Writers
        // with more written keys than the reader has reads are kept aside and asked per read.
        let mut by_key: HashMap<u32, Vec<(u32, u32)>> = HashMap::default();
        let mut big: Vec<(u32, u32)> = Vec::new();
        let mut seen: HashSet<u32> = HashSet::default();
        for t3 in 0..self.n() as u32 {
            let rs = self.read_range(t3);
            if rs.len() < 2 {
                continue;
            }
            by_key.clear();
            big.clear();
            seen.clear();
            let nr = rs.len();
            for i in rs {
                let r = self.reads[i];
                if let Some(ws) = by_key.get(&r.key) {
                    for &(t2, j) in ws {
                        if t2 != r.from {
                            out.push(Co {
                                before: t2,
                                after: r.from,
                                read: i as u32,
                                via: Via::Earlier(j),
                            });
                        }
                    }
                }
                for &(t2, j) in &big {
                    if t2 != r.from && self.wrote(t2, r.key).is_some() {
                        out.push(Co {
                            before: t2,
                            after: r.from,
                            read: i as u32,
                            via: Via::Earlier(j),
                        });
                    }
                }
                if r.from != BOT && seen.insert(r.from) {
                    let w = self.writes_of(r.from);
                    if w.len() <= nr {
                        for &(y, _) in w {
                            by_key.entry(y).or_default().push((r.from, i as u32));
                        }
                    } else {
                        big.push((r.from, i as u32));
                    }
                }
            }
        }
    }

    /// Forced pairs of read atomic: `t2 →wr t3`, and with `with_so` the last `so`-predecessor
    /// of `t3` writing the key.
    fn saturate_ra(&self, with_so: bool, out: &mut Vec<Co>) {
        let mut rf: Vec<(u32, u32)> = Vec::new();
        let mut by_key: Vec<(u32, u32)> = Vec::new();
        for t3 in 0..self.n() as u32 {
            let rs = self.read_range(t3);
            if rs.is_empty() {
                continue;
            }
            rf.clear();
            by_key.clear();
            for i in rs.clone() {
                let r = self.reads[i];
                by_key.push((r.key, i as u32));
                if r.from != BOT {
                    rf.push((r.from, i as u32));
                }
            }
            rf.sort_unstable();
            rf.dedup_by_key(|e| e.0);
            by_key.sort_unstable();
            for &(t2, j) in &rf {
                let w = self.writes_of(t2);
                let mut force = |i: usize| {
                    let r = self.reads[i];
                    if r.from != t2 {
                        out.push(Co {
                            before: t2,
                            after: r.from,
                            read: i as u32,
                            via: Via::Read(j),
                        });
                    }
                };
                if w.len() <= by_key.len() {
                    for &(y, _) in w {
                        let lo = by_key.partition_point(|e| e.0 < y);
                        for &(k, i) in &by_key[lo..] {
                            if k != y {
                                break;
                            }
                            force(i as usize);
                        }
                    }
                } else {
                    for i in rs.clone() {
                        if self.wrote(t2, self.reads[i].key).is_some() {
                            force(i);
                        }
                    }
                }
            }
        }
        if with_so {
            let mut last: HashMap<u32, u32> = HashMap::default();
            for s in &self.sessions {
                last.clear();
                for &t3 in s {
                    for i in self.read_range(t3) {
                        let r = self.reads[i];
                        if let Some(&t2) = last.get(&r.key) {
                            if t2 != r.from {
                                out.push(Co {
                                    before: t2,
                                    after: r.from,
                                    read: i as u32,
                                    via: Via::Session,
                                });
                            }
                        }
                    }
                    for &(y, _) in self.writes_of(t3) {
                        last.insert(y, t3);
                    }
                }
            }
        }
    }

    /// `so ∪ wr` without repeated pairs, both ways, as CSR: (successor offsets, successors,
    /// predecessor offsets, predecessors).
    fn hb_csr(&self) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>) {
        let n = self.n();
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for r in &self.reads {
            if r.from != BOT {
                pairs.push((r.from, r.txn));
            }
        }
        for s in &self.sessions {
            for w in s.windows(2) {
                pairs.push((w[0], w[1]));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut succ_off = vec![0u32; n + 1];
        let mut pred_off = vec![0u32; n + 1];
        for &(a, b) in &pairs {
            succ_off[a as usize + 1] += 1;
            pred_off[b as usize + 1] += 1;
        }
        for i in 0..n {
            succ_off[i + 1] += succ_off[i];
            pred_off[i + 1] += pred_off[i];
        }
        let succ: Vec<u32> = pairs.iter().map(|e| e.1).collect();
        let mut pred = vec![0u32; pairs.len()];
        let mut fill = pred_off.clone();
        for &(a, b) in &pairs {
            pred[fill[b as usize] as usize] = a;
            fill[b as usize] += 1;
        }
        (succ_off, succ, pred_off, pred)
    }

    /// Forced pairs of causal consistency (with session order): for each read of `x` from
    /// `t1`, the last write of `x` on each chain that happens before the reader but not
    /// before `t1` (chains and why they suffice: the module doc). Returns the topological rank
    /// of each transaction and how many chains there were, or `None` when `so ∪ wr` is cyclic
    /// (then read committed already fails).
    fn saturate_cc(
        &self,
        out: &mut Vec<Co>,
        deadline: &Deadline,
    ) -> Result<Option<(Vec<u32>, u32, u32)>, ()> {
        let n = self.n();
        let (succ_off, succ, pred_off, pred) = self.hb_csr();
        let mut indeg: Vec<u32> = (0..n).map(|t| pred_off[t + 1] - pred_off[t]).collect();
        // Chains: each transaction's chain and position in it; per chain its length and, while
        // its tail is the last of its session ("free"), its index in `free`.
        let mut chain = vec![NONE; n];
        let mut cpos = vec![NONE; n];
        let mut chain_len: Vec<u32> = Vec::new();
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut free_at: Vec<u32> = Vec::new();
        let mut free: Vec<u32> = Vec::new();
        // Clock entries are per active chain: each chain's index in the clocks (`NONE` once
        // retired), and each index's chain. A retired chain is all in a clock's past or none
        // of it (the module doc): `full` says which, per transaction.
        let mut slot: Vec<u32> = Vec::new();
        let mut slot_chain: Vec<u32> = Vec::new();
        let mut full: Vec<bool> = vec![false; n];
        let mut n_retired = 0usize;
        let mut next_retire = RETIRE_MIN;
        let mut width = 0usize;
        // Transactions whose clock is kept, and where each is in `live`.
        let mut live: Vec<u32> = Vec::new();
        let mut live_at: Vec<u32> = vec![NONE; n];
        // Per key: the chains that wrote it so far (in order of their first write) and, in
        // parallel, the slot of their positions of writes of it (ascending, as placed).
        let n_keys = self
            .writes
            .iter()
            .map(|e| e.0 as usize + 1)
            .max()
            .unwrap_or(0);
        let mut key_chains: Vec<Vec<u32>> = vec![Vec::new(); n_keys];
        // Per key, parallel to its chains: (slot, the chain's last position writing it), the
        // last one at hand as it is nearly always the answer (no search, no other cache line).
        let mut key_slots: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n_keys];
        // (key, chain) -> index in the key's chains.
        let mut index_of: HashMap<(u32, u32), u32> = HashMap::default();
        let mut slots: Vec<Vec<u32>> = Vec::new();
        let mut cand: Vec<u32> = Vec::new();
        // Clocks over chains (inclusive of the transaction itself; entries past a clock's length,
        // chains opened after it was made, are 0), kept while a successor is left and then
        // recycled; a transaction whose last successor is its session successor hands its clock
        // over to it (no copy: a long session is one clock updated in place).
        let mut remaining: Vec<u32> = (0..n).map(|t| succ_off[t + 1] - succ_off[t]).collect();
        let mut clocks: Vec<Option<Vec<u32>>> = vec![None; n];
        let mut pool: Vec<Vec<u32>> = Vec::new();
        let mut rank = vec![NONE; n];
        let mut heap: BinaryHeap<Reverse<u32>> = (0..n as u32)
            .filter(|&t| self.included[t as usize] && indeg[t as usize] == 0)
            .map(Reverse)
            .collect();
        // Per t1 (while it has successors left), sorted by chain: the latest write of that chain
        // already forced before t1 (a transaction: positions are reused after a pop).
        let mut forced: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
        // Transactions whose successors all join no chain: in no chained transaction's past,
        // so popped off their chain's tail once those successors are placed (module doc).
        let has_succ = |t: u32| succ_off[t as usize + 1] > succ_off[t as usize];
        let dead_end: Vec<bool> = (0..n as u32)
            .map(|t| {
                has_succ(t)
                    && succ[succ_off[t as usize] as usize..succ_off[t as usize + 1] as usize]
                        .iter()
                        .all(|&q| !has_succ(q))
            })
            .collect();
        // Pops `p` off its chain's tail (in no past to come: the module doc), which makes what
        // was before it the tail again, and its position free for the next member.
        macro_rules! pop_tail {
            ($p:expr) => {{
                let p: u32 = $p;
                let c = chain[p as usize];
                let pp = cpos[p as usize];
                debug_assert_eq!(members[c as usize].last(), Some(&p));
                debug_assert_eq!(chain_len[c as usize], pp + 1);
                members[c as usize].pop();
                chain_len[c as usize] = pp;
                chain[p as usize] = NONE;
                cpos[p as usize] = NONE;
                for &(y, _) in self.writes_of(p) {
                    let j = key_index(&key_chains, &index_of, y, c).expect("written");
                    let e = &mut key_slots[y as usize][j as usize];
                    let ps = &mut slots[e.0 as usize];
                    debug_assert_eq!(ps.last(), Some(&pp));
                    ps.pop();
                    e.1 = ps.last().copied().unwrap_or(NONE);
                }
            }};
        }
        let mut done = 0u32;
        while let Some(Reverse(t3)) = heap.pop() {
            if done.is_multiple_of(4096) && deadline.expired() {
                return Err(());
            }
            rank[t3 as usize] = done;
            done += 1;
            if slot_chain.len() >= next_retire {
                // A free chain's tail whose successors are all placed, and that no kept clock
                // has, is in no past to come either: popped, so that the chain may be extended
                // or retired.
                for &c in &free {
                    let s = slot[c as usize] as usize;
                    while let Some(&t) = members[c as usize].last() {
                        let len = chain_len[c as usize];
                        if remaining[t as usize] > 0
                            || live.iter().any(|&u| {
                                clocks[u as usize]
                                    .as_deref()
                                    .and_then(|x| x.get(s).copied())
                                    .unwrap_or(0)
                                    >= len
                            })
                        {
                            break;
                        }
                        pop_tail!(t);
                    }
                }
                n_retired += retire(
                    &mut RetireState {
                        slot: &mut slot,
                        slot_chain: &mut slot_chain,
                        free: &mut free,
                        free_at: &mut free_at,
                        clocks: &mut clocks,
                    },
                    &chain_len,
                    &mut full,
                    &live,
                    n_retired == 0,
                );
                next_retire = slot_chain.len() + RETIRE_MIN.max(slot_chain.len() / 2);
            }
            let k = slot_chain.len();
            // The clock is the join of the predecessors' (inclusive) clocks: start from the
            // session predecessor's, and join only the writers it does not already cover (a
            // covered writer happens before something joined, so its clock is below).
            let so_pred = self.so_pred(t3);
            let reads_from = |p: u32| self.read_range(t3).any(|i| self.reads[i].from == p);
            // Before any retirement a source is vacuously full.
            let mut cur_full = so_pred.map_or(n_retired == 0, |p| full[p as usize]);
            let mut cur = match so_pred {
                // t3 is its last successor and does not read its clock: take it over.
                Some(p) if remaining[p as usize] == 1 && !reads_from(p) => {
                    unlive(&mut live, &mut live_at, p);
                    clocks[p as usize]
                        .take()
                        .expect("a clock while successors are left")
                }
                Some(p) => {
                    let mut c = pool.pop().unwrap_or_default();
                    c.clear();
                    c.extend_from_slice(clocks[p as usize].as_deref().expect("live clock"));
                    c
                }
                None => {
                    let mut c = pool.pop().unwrap_or_default();
                    c.clear();
                    c
                }
            };
            cur.resize(k, 0);
            let preds = &pred[pred_off[t3 as usize] as usize..pred_off[t3 as usize + 1] as usize];
            for &p in preds {
                if Some(p) == so_pred
                    || clock_at(&slot, &chain_len, &cur, cur_full, chain[p as usize])
                        > cpos[p as usize]
                {
                    continue;
                }
                cur_full |= full[p as usize];
                let other = clocks[p as usize].as_deref().expect("live clock");
                for (c, &v) in cur.iter_mut().zip(other) {
                    *c = (*c).max(v);
                }
            }
            // Its chain: none when nothing follows it (it is in no other transaction's past,
            // so no clock counts it and no read asks about its writes: see the module doc); else
            // the session predecessor's (always its tail: a chain is taken only when free);
            // else a free chain whose tail it covers, the predecessors' chains first (one test
            // each), then every free one (no more than the join's cost); else a new one.
            let chained = has_succ(t3);
            let c3 = if !chained {
                NONE
            } else {
                match so_pred {
                    Some(p) => {
                        debug_assert_eq!(members[chain[p as usize] as usize].last(), Some(&p));
                        chain[p as usize]
                    }
                    None => {
                        // Free chains are active (a retired one left `free`).
                        let covered = |c: u32| {
                            free_at[c as usize] != NONE
                                && cur[slot[c as usize] as usize] == chain_len[c as usize]
                        };
                        let found = preds
                            .iter()
                            .map(|&p| chain[p as usize])
                            .find(|&c| covered(c))
                            .or_else(|| free.iter().copied().find(|&c| covered(c)));
                        match found {
                            Some(c) => c,
                            None => {
                                let c = chain_len.len() as u32;
                                chain_len.push(0);
                                members.push(Vec::new());
                                free_at.push(NONE);
                                slot.push(k as u32);
                                slot_chain.push(c);
                                cur.push(0);
                                c
                            }
                        }
                    }
                }
            };
            width = width.max(slot_chain.len());
            let p3 = if c3 == NONE {
                NONE
            } else {
                if free_at[c3 as usize] != NONE {
                    let i = free_at[c3 as usize] as usize;
                    free.swap_remove(i);
                    if let Some(&moved) = free.get(i) {
                        free_at[moved as usize] = i as u32;
                    }
                    free_at[c3 as usize] = NONE;
                }
                let p3 = chain_len[c3 as usize];
                debug_assert!(n_retired > 0 || slot[c3 as usize] == c3);
                debug_assert_eq!(
                    cur[slot[c3 as usize] as usize], p3,
                    "a chain is extended past its tail only"
                );
                chain[t3 as usize] = c3;
                cpos[t3 as usize] = p3;
                members[c3 as usize].push(t3);
                p3
            };
            for i in self.read_range(t3) {
                let r = self.reads[i];
                let Some(chains) = key_chains.get(r.key as usize) else {
                    continue;
                };
                let (clock1, full1): (&[u32], bool) = if r.from == BOT {
                    (&[], false)
                } else {
                    let c = clocks[r.from as usize].as_deref().expect("live clock");
                    (c, full[r.from as usize])
                };
                // The chains where the reader knows more than t1, without a branch per chain
                // (most fail the test; a mispredicted branch each was the main cost).
                cand.resize(chains.len(), 0);
                let mut m = 0;
                if n_retired == 0 {
                    // Nothing retired yet: a chain's entry is at its own index.
                    for (j, &c) in chains.iter().enumerate() {
                        cand[m] = j as u32;
                        let seen_by_t1 = clock1.get(c as usize).copied().unwrap_or(0);
                        m += usize::from(cur[c as usize] > seen_by_t1);
                    }
                } else {
                    for (j, &c) in chains.iter().enumerate() {
                        cand[m] = j as u32;
                        let seen_by_t1 = clock_at(&slot, &chain_len, clock1, full1, c);
                        let seen = clock_at(&slot, &chain_len, &cur, cur_full, c);
                        m += usize::from(seen > seen_by_t1);
                    }
                }
                for &j in &cand[..m] {
                    let c = chains[j as usize];
                    let limit = clock_at(&slot, &chain_len, &cur, cur_full, c);
                    let seen_by_t1 = clock_at(&slot, &chain_len, clock1, full1, c);
                    let (slot, last) = key_slots[r.key as usize][j as usize];
                    let p2 = if last < limit {
                        last
                    } else {
                        let ps = &slots[slot as usize];
                        let below = ps.partition_point(|&p| p < limit);
                        if below == 0 {
                            continue;
                        }
                        ps[below - 1]
                    };
                    if p2 < seen_by_t1 {
                        continue;
                    }
                    if r.from != BOT {
                        // Already forced before t1: this write or a later one of its chain
                        // (which it happens before).
                        let t2 = members[c as usize][p2 as usize];
                        let f = &mut forced[r.from as usize];
                        match f.binary_search_by_key(&c, |e| e.0) {
                            Ok(x) if chain[f[x].1 as usize] == c && cpos[f[x].1 as usize] >= p2 => {
                                continue
                            }
                            Ok(x) => f[x].1 = t2,
                            Err(x) => f.insert(x, (c, t2)),
                        }
                    }
                    out.push(Co {
                        before: members[c as usize][p2 as usize],
                        after: r.from,
                        read: i as u32,
                        via: Via::HappensBefore,
                    });
                }
            }
            if c3 != NONE {
                for &(y, _) in self.writes_of(t3) {
                    let found = key_index(&key_chains, &index_of, y, c3);
                    let j = match found {
                        Some(j) => j,
                        None => {
                            let kc = &mut key_chains[y as usize];
                            kc.push(c3);
                            key_slots[y as usize].push((slots.len() as u32, p3));
                            slots.push(Vec::new());
                            if kc.len() == FEW_CHAINS + 1 {
                                for (j, &c) in kc.iter().enumerate() {
                                    index_of.insert((y, c), j as u32);
                                }
                            } else if kc.len() > FEW_CHAINS {
                                index_of.insert((y, c3), kc.len() as u32 - 1);
                            }
                            kc.len() as u32 - 1
                        }
                    };
                    let e = &mut key_slots[y as usize][j as usize];
                    e.1 = p3;
                    slots[e.0 as usize].push(p3);
                }
                chain_len[c3 as usize] = p3 + 1;
                debug_assert_eq!(members[c3 as usize].len() as u32, p3 + 1);
                cur[slot[c3 as usize] as usize] = p3 + 1;
            }
            let s3 = self.session[t3 as usize];
            if self.pos[t3 as usize] + 1 == self.sessions[s3 as usize].len() as u32 {
                // The last of its session: no session successor will claim its chain (or, when
                // it joined none, its predecessor's).
                let c = match so_pred {
                    _ if c3 != NONE => c3,
                    Some(p) => chain[p as usize],
                    None => NONE,
                };
                if c != NONE {
                    free_at[c as usize] = free.len() as u32;
                    free.push(c);
                }
            }
            if remaining[t3 as usize] > 0 {
                clocks[t3 as usize] = Some(cur);
                full[t3 as usize] = cur_full;
                live_at[t3 as usize] = live.len() as u32;
                live.push(t3);
            } else {
                pool.push(cur);
            }
            for &p in preds {
                remaining[p as usize] -= 1;
                if remaining[p as usize] == 0 && dead_end[p as usize] {
                    // Nothing chained can have covered it, so it is still the tail.
                    pop_tail!(p);
                }
                if remaining[p as usize] == 0 {
                    if let Some(c) = clocks[p as usize].take() {
                        unlive(&mut live, &mut live_at, p);
                        pool.push(c);
                    }
                    forced[p as usize] = Vec::new();
                }
            }
            for &q in &succ[succ_off[t3 as usize] as usize..succ_off[t3 as usize + 1] as usize] {
                indeg[q as usize] -= 1;
                if indeg[q as usize] == 0 {
                    heap.push(Reverse(q));
                }
            }
        }
        let n_included = self.included.iter().filter(|&&b| b).count() as u32;
        Ok((done == n_included).then_some((rank, chain_len.len() as u32, width as u32)))
    }

    /// Checks one level, with or without session order (causal: with only).
    pub fn check_level(&self, level: Level, with_so: bool) -> LevelResult {
        self.check_level_until(level, with_so, &Deadline::none())
    }

    /// [`Self::check_level`], giving up (`timed_out`, nothing found) once `deadline` passes
    /// during the causal saturation, the one long step.
    pub fn check_level_until(
        &self,
        level: Level,
        with_so: bool,
        deadline: &Deadline,
    ) -> LevelResult {
        let mut co = Vec::new();
        let mut rank = Vec::new();
        let (mut chains, mut width) = (0, 0);
        match level {
            Level::ReadCommitted => self.saturate_rc(&mut co),
            Level::ReadAtomic => self.saturate_ra(with_so, &mut co),
            Level::Causal => {
                assert!(with_so, "causal is checked with session order only");
                match self.saturate_cc(&mut co, deadline) {
                    Ok(Some((r, k, w))) => (rank, chains, width) = (r, k, w),
                    Ok(None) => {
                        // so ∪ wr is cyclic: report its cycles (no forced pair needed).
                        co.clear();
                    }
                    Err(()) => {
                        return LevelResult {
                            level,
                            with_so,
                            co: Vec::new(),
                            initial: Vec::new(),
                            cycles: Vec::new(),
                            n_sccs: 0,
                            plain_sccs: 0,
                            rank,
                            chains,
                            width,
                            timed_out: true,
                        }
                    }
                }
            }
        }
        let initial: Vec<u32> = (0..co.len() as u32)
            .filter(|&i| co[i as usize].after == BOT)
            .collect();
        let (cycles, n_sccs, plain_sccs) = self.cycles(&co, with_so);
        LevelResult {
            level,
            with_so,
            co,
            initial,
            cycles,
            n_sccs,
            plain_sccs,
            rank,
            chains,
            width,
            timed_out: false,
        }
    }

    /// One cycle through a forced pair per cyclic SCC of `so ∪ wr ∪ co` that has one (the
    /// first [`MAX_EXPLAINED`] extracted), the number of those SCCs, and the number of cyclic
    /// SCCs without a forced pair.
    fn cycles(&self, co: &[Co], with_so: bool) -> (Vec<Vec<Step>>, usize, usize) {
        let n = self.n();
        let mut edges: Vec<(u32, u32, Edge)> = Vec::new();
        for (i, r) in self.reads.iter().enumerate() {
            if r.from != BOT {
                edges.push((r.from, r.txn, Edge::new(WR, i as u32)));
            }
        }
        if with_so {
            for s in &self.sessions {
                for w in s.windows(2) {
                    edges.push((w[0], w[1], Edge::new(PROCESS, NONE)));
                }
            }
        }
        for (i, c) in co.iter().enumerate() {
            if c.after != BOT && c.before != c.after {
                edges.push((c.before, c.after, Edge::new(WW, i as u32)));
            }
        }
        let edges = sorted_unique(edges);
        let mut adj: Adj = Csr::from_sorted_edges(&edges).expect("sorted and unique");
        drop(edges);
        while adj.node_count() < n {
            adj.add_node(());
        }
        let (comp, sizes) = components_by(&adj, |_, _| true);
        let n_cyclic = sizes.iter().filter(|&&s| s > 1).count();
        let mut out = Vec::new();
        if n_cyclic == 0 {
            return (out, 0, 0);
        }
        // Per SCC, a forced pair inside it, in the order found.
        let mut start: HashMap<u32, (u32, u32)> = HashMap::default();
        let mut cyclic: Vec<u32> = Vec::new();
        for (i, c) in co.iter().enumerate() {
            let (a, b) = (c.before as usize, c.after as usize);
            if c.after != BOT && comp[a] == comp[b] && !start.contains_key(&comp[a]) {
                start.insert(comp[a], (c.before, i as u32));
                cyclic.push(comp[a]);
            }
        }
        let n_sccs = cyclic.len();
        let mut parent: Vec<(u32, Step)> = vec![(NONE, Step::none()); n];
        let mut stamp = vec![NONE; n];
        for (ci, &c) in cyclic.iter().enumerate().take(MAX_EXPLAINED) {
            // BFS from `src` back to `dst` inside the SCC; the cycle closes with the step
            // `dst -> src` (a forced pair) or is found as a path back to `src` itself.
            let (before, i) = start[&c];
            let src = co[i as usize].after;
            let closing = Step {
                from: before,
                to: src,
                kind: WW,
                why: i,
            };
            let dst = before;
            let mut queue = std::collections::VecDeque::from([src]);
            stamp[src as usize] = ci as u32;
            let mut found: Option<(u32, Step)> = None;
            'bfs: while let Some(v) = queue.pop_front() {
                let targets = adj.neighbors_slice(v);
                let es = adj.edges_slice(v);
                for (&w, e) in targets.iter().zip(es) {
                    if comp[w as usize] != c {
                        continue;
                    }
                    let kind = [WR, WW, PROCESS]
                        .into_iter()
                        .find(|&kd| e.kinds & kd != 0)
                        .unwrap_or(PROCESS);
                    let step = Step {
                        from: v,
                        to: w,
                        kind,
                        why: e.why(kind),
                    };
                    if w == dst {
                        found = Some((v, step));
                        break 'bfs;
                    }
                    if stamp[w as usize] != ci as u32 {
                        stamp[w as usize] = ci as u32;
                        parent[w as usize] = (v, step);
                        queue.push_back(w);
                    }
                }
            }
            let Some((mut v, last)) = found else {
                continue;
            };
            let mut steps = vec![last];
            while v != src {
                let (p, s) = parent[v as usize];
                steps.push(s);
                v = p;
            }
            steps.reverse();
            let mut cycle = Vec::with_capacity(steps.len() + 1);
            cycle.push(closing);
            cycle.extend(steps);
            out.push(cycle);
        }
        (out, n_sccs, n_cyclic - n_sccs)
    }

    /// A shortest `so ∪ wr` path `from → … → to` (`so` only when `with_so`), limited to
    /// transactions ranked between them in `rank` (empty: unlimited).
    fn hb_path(&self, from: u32, to: u32, with_so: bool, rank: &[u32]) -> Option<Vec<Step>> {
        let lo = rank.get(from as usize).copied().unwrap_or(0);
        let mut parent: HashMap<u32, Step> = HashMap::default();
        let mut queue = std::collections::VecDeque::from([to]);
        // Backwards from `to`.
        while let Some(v) = queue.pop_front() {
            if v == from {
                let mut path = Vec::new();
                let mut x = from;
                while x != to {
                    let s = parent[&x];
                    path.push(s);
                    x = s.to;
                }
                return Some(path);
            }
            let mut preds: Vec<Step> = Vec::new();
            for i in self.read_range(v) {
                let r = self.reads[i];
                if r.from != BOT {
                    preds.push(Step {
                        from: r.from,
                        to: v,
                        kind: WR,
                        why: i as u32,
                    });
                }
            }
            if with_so {
                if let Some(p) = self.so_pred(v) {
                    preds.push(Step {
                        from: p,
                        to: v,
                        kind: PROCESS,
                        why: NONE,
                    });
                }
            }
            for s in preds {
                if rank.get(s.from as usize).is_some_and(|&r| r < lo) {
                    continue;
                }
                if s.from != to && !parent.contains_key(&s.from) {
                    parent.insert(s.from, s);
                    queue.push_back(s.from);
                }
            }
        }
        None
    }

    /// Whether a causal cycle needs session order: a `so` step, or a forced pair whose
    /// happens-before has no `wr`-only path.
    fn needs_so(&self, r: &LevelResult, cycle: &[Step]) -> bool {
        cycle.iter().any(|s| match s.kind {
            PROCESS => true,
            WW => {
                let c = r.co[s.why as usize];
                let reader = self.reads[c.read as usize].txn;
                self.hb_path(c.before, reader, false, &r.rank).is_none()
            }
            _ => false,
        })
    }
}

/// Where chain `c` is among the chains that wrote key `y`: a key written by few chains is
/// searched in place; the map, a cache miss per write on a long history, holds only the keys
/// of many.
#[inline]
fn key_index(
    key_chains: &[Vec<u32>],
    index_of: &HashMap<(u32, u32), u32>,
    y: u32,
    c: u32,
) -> Option<u32> {
    let kc = &key_chains[y as usize];
    if kc.len() <= FEW_CHAINS {
        kc.iter().rposition(|&x| x == c).map(|j| j as u32)
    } else {
        index_of.get(&(y, c)).copied()
    }
}

/// A clock's entry for chain `c`: its own for an active chain; for a retired one, all of it
/// or nothing, as `full` says.
#[inline]
fn clock_at(slot: &[u32], len: &[u32], clock: &[u32], full: bool, c: u32) -> u32 {
    match slot[c as usize] {
        NONE if full => len[c as usize],
        NONE => 0,
        s => clock.get(s as usize).copied().unwrap_or(0),
    }
}

fn unlive(live: &mut Vec<u32>, live_at: &mut [u32], t: u32) {
    let i = live_at[t as usize] as usize;
    live.swap_remove(i);
    if let Some(&moved) = live.get(i) {
        live_at[moved as usize] = i as u32;
    }
    live_at[t as usize] = NONE;
}

/// Try retirement once the active chains reach this many (then half as many again).
const RETIRE_MIN: usize = if cfg!(test) { 1 } else { 64 };

struct RetireState<'a> {
    slot: &'a mut Vec<u32>,
    slot_chain: &'a mut Vec<u32>,
    free: &'a mut Vec<u32>,
    free_at: &'a mut Vec<u32>,
    clocks: &'a mut Vec<Option<Vec<u32>>>,
}

/// Retires every free chain that each kept clock has all of (when full) or none of (when
/// not), and drops their entries from the kept clocks. Before the first retirement `full`
/// means nothing yet: each kept clock is then classified by what it has of the chains
/// retired. Returns how many.
fn retire(
    st: &mut RetireState,
    len: &[u32],
    full: &mut [bool],
    live: &[u32],
    first: bool,
) -> usize {
    let entry = |clocks: &[Option<Vec<u32>>], slot: &[u32], t: u32, c: u32| -> u32 {
        clocks[t as usize]
            .as_deref()
            .and_then(|x| x.get(slot[c as usize] as usize).copied())
            .unwrap_or(0)
    };
    let mut gone: Vec<u32> = st
        .free
        .iter()
        .copied()
        .filter(|&c| {
            // An empty chain (its members popped) is anyone's to extend: kept.
            len[c as usize] > 0
                && live.iter().all(|&t| {
                    let v = entry(st.clocks, st.slot, t, c);
                    let f = full[t as usize];
                    ((f || first) && v == len[c as usize]) || ((!f || first) && v == 0)
                })
        })
        .collect();
    if first {
        // A clock that has all of some of them keeps those only: then each has all or none.
        for &t in live {
            if gone
                .iter()
                .any(|&c| entry(st.clocks, st.slot, t, c) == len[c as usize])
            {
                gone.retain(|&c| entry(st.clocks, st.slot, t, c) == len[c as usize]);
            }
        }
        if let Some(&c) = gone.first() {
            for &t in live {
                full[t as usize] = entry(st.clocks, st.slot, t, c) == len[c as usize];
            }
        }
    }
    if gone.is_empty() {
        return 0;
    }
    let old: Vec<u32> = gone.iter().map(|&c| st.slot[c as usize]).collect();
    for &c in &gone {
        st.slot[c as usize] = NONE;
        st.free_at[c as usize] = NONE;
    }
    st.free.retain(|&c| st.slot[c as usize] != NONE);
    for (i, &c) in st.free.iter().enumerate() {
        st.free_at[c as usize] = i as u32;
    }
    let mut dropped = vec![false; st.slot_chain.len()];
    for &s in &old {
        dropped[s as usize] = true;
    }
    let keep: Vec<usize> = (0..st.slot_chain.len()).filter(|&s| !dropped[s]).collect();
    for &t in live {
        let clock = st.clocks[t as usize].as_mut().expect("live clock");
        let moved: Vec<u32> = keep
            .iter()
            .map(|&s| clock.get(s).copied().unwrap_or(0))
            .collect();
        *clock = moved;
    }
    let chains: Vec<u32> = keep.iter().map(|&s| st.slot_chain[s]).collect();
    for (s, &c) in chains.iter().enumerate() {
        st.slot[c as usize] = s as u32;
    }
    *st.slot_chain = chains;
    gone.len()
}

impl Step {
    fn none() -> Step {
        Step {
            from: NONE,
            to: NONE,
            kind: 0,
            why: NONE,
        }
    }
}

/// What the saturation checks found, per anomaly name: how many, and up to
/// [`crate::MAX_PER_TYPE`] explanations.
#[derive(Default)]
pub struct Found {
    pub anomalies: Vec<(&'static str, usize, Vec<Anomaly>)>,
    pub timed_out: bool,
    /// Which checks ran (a model's name, `-sessionless` when without session order), with
    /// their milliseconds; `prepare` first.
    pub ran: Vec<(String, f64)>,
    /// When causal was checked: the sessions, the chains its clocks were over, and the most
    /// chains active at once.
    pub causal_chains: Option<(usize, u32, u32)>,
}

/// The highest level whose anomalies (either kind) are among `prohibited`, if any.
pub fn needed(prohibited: &std::collections::BTreeSet<String>) -> Option<Level> {
    Level::ALL
        .into_iter()
        .rev()
        .find(|l| prohibited.contains(l.anomaly(false)) || prohibited.contains(l.anomaly(true)))
}

/// Runs the checks up to `top`. First `top` with session order alone: when it holds, so does
/// everything weaker. Otherwise, to name the weakest violation: each level without session
/// order (read committed and read atomic) until one fails, then with session order below the
/// weakest level that failed without it, until one fails. Later levels are not run once one
/// fails: the lattice rules out every level above a failed one.
pub fn check(h: &History, t: &Txns, top: Level, deadline: &Deadline) -> Found {
    let started = std::time::Instant::now();
    let p = Prepared::new(t);
    let mut found = Found::default();
    let mut lap = {
        let mut last = started;
        move |found: &mut Found, what: String| {
            let now = std::time::Instant::now();
            found.ran.push((what, (now - last).as_secs_f64() * 1000.0));
            last = now;
        }
    };
    lap(&mut found, "prepare".into());
    // The strongest check first: its forced pairs contain every other check's (weaker levels,
    // and the same level without session order), so when it finds no cycle none would.
    let strongest = p.check_level_until(top, true, deadline);
    if top == Level::Causal && !strongest.timed_out {
        found.causal_chains = Some((p.sessions.len(), strongest.chains, strongest.width));
    }
    lap(&mut found, top.model().to_string());
    if strongest.timed_out || !strongest.violated() {
        found.timed_out = deadline.expired();
        return found;
    }
    drop(strongest);
    let mut failed_plain: Option<Level> = None;
    for level in [Level::ReadCommitted, Level::ReadAtomic] {
        if level > top || deadline.expired() {
            break;
        }
        let r = p.check_level(level, false);
        lap(&mut found, level.model().to_string() + "-sessionless");
        if r.forced_violation() {
            report(h, t, &p, &r, &mut found);
            failed_plain = Some(level);
            break;
        }
    }
    for level in Level::ALL {
        if level > top || failed_plain.is_some_and(|f| level >= f) {
            break;
        }
        if deadline.expired() {
            found.timed_out = true;
            break;
        }
        let r = p.check_level_until(level, true, deadline);
        lap(&mut found, level.model().to_string());
        if r.timed_out {
            found.timed_out = true;
            break;
        }
        if r.forced_violation() {
            report(h, t, &p, &r, &mut found);
            break;
        }
    }
    if deadline.expired() {
        found.timed_out = true;
    }
    found
}

fn add(found: &mut Found, name: &'static str, a: Option<Anomaly>) {
    let i = match found.anomalies.iter().position(|e| e.0 == name) {
        Some(i) => i,
        None => {
            found.anomalies.push((name, 0, Vec::new()));
            found.anomalies.len() - 1
        }
    };
    let e = &mut found.anomalies[i];
    e.1 += 1;
    if let Some(a) = a {
        if e.2.len() < crate::MAX_PER_TYPE {
            e.2.push(a);
        }
    }
}

/// Names and explains the violations of one level's check.
fn report(h: &History, t: &Txns, p: &Prepared, r: &LevelResult, found: &mut Found) {
    let classify = |steps: &[Step]| -> bool {
        // with session order needed?
        match (r.level, r.with_so) {
            (_, false) => false,
            (Level::Causal, true) => p.needs_so(r, steps),
            _ => true,
        }
    };
    for (n, &i) in r.initial.iter().enumerate() {
        let step = Step {
            from: r.co[i as usize].before,
            to: BOT,
            kind: WW,
            why: i,
        };
        if n >= MAX_EXPLAINED {
            add(found, r.level.anomaly(r.with_so), None);
            continue;
        }
        let with_so = classify(&[step]);
        let name = r.level.anomaly(with_so);
        let a = explain(h, t, p, r, &[step], name);
        add(found, name, Some(a));
    }
    for c in &r.cycles {
        let with_so = classify(c);
        let name = r.level.anomaly(with_so);
        let a = explain(h, t, p, r, c, name);
        add(found, name, Some(a));
    }
    for _ in r.cycles.len()..r.n_sccs {
        add(found, r.level.anomaly(r.with_so), None);
    }
}

fn val(t: &Txns, v: u32) -> String {
    t.val(v).to_string()
}

/// How a read reads, in words: `read key x = 3`, or for lists `read key x ending in 3`.
fn read_words(t: &Txns, p: &Prepared, r: &Read) -> String {
    let k = t.key(r.key);
    match (p.kind, r.from == BOT) {
        (Kind::ListAppend, true) => format!("read key {k} as empty (its initial state)"),
        (Kind::ListAppend, false) => format!("read key {k} ending in {}", val(t, r.val)),
        (Kind::RwRegister, true) => format!("read key {k} in its initial state (nil)"),
        (Kind::RwRegister, false) => format!("read key {k} = {}", val(t, r.val)),
    }
}

fn step_words(t: &Txns, p: &Prepared, r: &LevelResult, s: &Step) -> String {
    let (a, b) = (s.from, s.to);
    match s.kind {
        WR => {
            let rd = p.reads[s.why as usize];
            format!(
                "T{b} {}, which T{a} wrote, so T{a} <wr T{b}",
                read_words(t, p, &rd)
            )
        }
        PROCESS => format!(
            "T{a} ran before T{b} on process {} (session order), so T{a} <process T{b}",
            t.txns[a as usize].process
        ),
        _ => forced_words(t, p, r, &r.co[s.why as usize]),
    }
}

/// Why `c.before <co c.after` is forced: the read, the two writes, and why the first is visible.
fn forced_words(t: &Txns, p: &Prepared, r: &LevelResult, c: &Co) -> String {
    let rd = p.reads[c.read as usize];
    let (t1, t2, t3) = (c.after, c.before, rd.txn);
    let k = t.key(rd.key);
    let w2 = p.wrote(t2, rd.key).map(|v| val(t, v)).unwrap_or_default();
    let visible = match c.via {
        Via::Earlier(j) => format!(
            "earlier in the same transaction T{t3} {}, which T{t2} wrote: a transaction's reads \
             never go back to a state before what it has already seen",
            read_words(t, p, &p.reads[j as usize])
        ),
        Via::Read(j) => format!(
            "T{t3} {}, which T{t2} wrote: a transaction that sees one of T{t2}'s writes sees all \
             of them",
            read_words(t, p, &p.reads[j as usize])
        ),
        Via::Session => format!(
            "T{t2} ran earlier on the same process {} (session order): a session sees its own \
             earlier writes",
            t.txns[t3 as usize].process
        ),
        Via::HappensBefore => {
            let path = p
                .hb_path(t2, t3, false, &r.rank)
                .or_else(|| p.hb_path(t2, t3, true, &r.rank))
                .unwrap_or_default();
            let mut chain = format!("T{t2}");
            for s in &path {
                let kd = if s.kind == WR { "wr" } else { "process" };
                chain.push_str(&format!(" <{kd} T{}", s.to));
            }
            let mut why: Vec<String> = Vec::new();
            for s in &path {
                if s.kind == WR {
                    why.push(format!(
                        "T{} {} from T{}",
                        s.to,
                        read_words(t, p, &p.reads[s.why as usize]),
                        s.from
                    ));
                } else {
                    why.push(format!(
                        "T{} ran after T{} on process {}",
                        s.to, s.from, t.txns[s.to as usize].process
                    ));
                }
            }
            format!(
                "T{t2} happens before T{t3} ({chain}: {}): a transaction sees every write that \
                 happens before it",
                why.join("; ")
            )
        }
    };
    if t1 == BOT {
        format!(
            "T{t3} {}, but T{t2} wrote key {k} ({w2}) and {visible}; so T{t2}'s write would have \
             to come before the initial state, which precedes every transaction: a contradiction",
            read_words(t, p, &rd)
        )
    } else {
        format!(
            "T{t3} {}, written by T{t1}; T{t2} also wrote key {k} ({w2}) and {visible}; so T{t3} \
             must see a version of key {k} at least as new as T{t2}'s, forcing T{t2} <co T{t1}",
            read_words(t, p, &rd)
        )
    }
}

fn explain(
    h: &History,
    t: &Txns,
    p: &Prepared,
    r: &LevelResult,
    cycle: &[Step],
    name: &str,
) -> Anomaly {
    let sessions = if r.with_so {
        "with session order"
    } else {
        "without session order"
    };
    let mut text = format!(
        "{name}: no commit order satisfies {} {sessions}. ",
        r.level.words()
    );
    let mut txns: Vec<u32> = cycle.iter().map(|s| s.from).collect();
    if cycle.len() == 1 && cycle[0].to == BOT {
        let c = r.co[cycle[0].why as usize];
        txns.push(p.reads[c.read as usize].txn);
        text.push_str("A read of the initial state after a visible write:\n");
    } else {
        text.push_str(&format!(
            "Forced order in a cycle over {} transactions:\n",
            cycle.len()
        ));
    }
    for &x in &txns {
        text.push_str(&format!("  {}\n", t.describe(h, x)));
    }
    text.push_str("because:\n");
    let mut steps = Vec::new();
    for s in cycle {
        let why = step_words(t, p, r, s);
        text.push_str(&format!("  - {why}\n"));
        let mut j = serde_json::Map::new();
        j.insert("from".into(), s.from.into());
        if s.to == BOT {
            j.insert("to".into(), "init".into());
        } else {
            j.insert("to".into(), s.to.into());
        }
        let kind = match s.kind {
            WR => "wr",
            PROCESS => "process",
            _ => "co",
        };
        j.insert("type".into(), kind.into());
        j.insert("explanation".into(), why.into());
        let key = match s.kind {
            WR => Some(p.reads[s.why as usize].key),
            WW => Some(p.reads[r.co[s.why as usize].read as usize].key),
            _ => None,
        };
        if let Some(k) = key {
            j.insert("key".into(), t.key(k).to_string().into());
        }
        steps.push(serde_json::Value::Object(j));
    }
    if cycle.len() == 1 && cycle[0].to == BOT {
        // For drawings: the initial state closes the cycle.
        steps.push(serde_json::json!({
            "from": "init",
            "to": cycle[0].from,
            "type": "init",
            "explanation": "the initial state precedes every transaction",
        }));
    } else {
        let order: Vec<String> = cycle.iter().map(|s| format!("T{}", s.from)).collect();
        text.push_str(&format!(
            "so {} < T{}: a transaction precedes itself, a contradiction.",
            order.join(" < "),
            cycle[0].from
        ));
    }
    let lines: Vec<u32> = txns.iter().map(|&x| t.txns[x as usize].line).collect();
    Anomaly::new(text)
        .with("cycle", txns)
        .with("lines", lines)
        .with("steps", steps)
        .with("model", r.level.model())
}

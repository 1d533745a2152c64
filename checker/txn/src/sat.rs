//! Exact serializability and snapshot isolation of rw-register histories whose version order
//! is unknown, with a SAT solver over the history's polygraph (Papadimitriou 1979; Cobra,
//! PolySI, VeriStrong).
//!
//! ## Why
//!
//! Elle's inference sees only the dependencies the data proves. In a register the version
//! order is mostly hidden, so many non-serializable histories have no certain cycle: each way
//! of ordering two writes closes a different cycle, and no single one is certain. Serializability
//! asks whether *some* version order makes the dependency graph acyclic; that is a search, and a
//! SAT solver ([`batsat`]) does it.
//!
//! ## The polygraph
//!
//! Nodes are the committed transactions and a virtual initial transaction `⊥` that wrote every
//! key's initial nil. Known edges: `wr` (a read names its writer: values are unique per key,
//! [`crate::register`] refuses histories that repeat one), and, only when the requested model
//! needs them, session order (`strong-session-serializable`) or real time
//! (`strict-serializable`, through [`crate::graph`]'s completion chain). For each key and each
//! pair of its writers `A`, `B`, one constraint: either `A → B` (ww) and every reader of `A`
//! `→ B` (rw), or `B → A` and every reader of `B` `→ A`. A history is serializable iff some
//! choice per constraint leaves the graph acyclic: a topological order of that graph is a serial
//! order in which every read sees the last write before it (the rw edges put each reader before
//! the next version), and conversely a serial order orders each pair of writers and gives every
//! edge above forwards. `⊥` precedes every writer and has no incoming edge, so it is never on a
//! cycle: it is kept implicit (its readers get `rw` edges, its write no node).
//!
//! ## Snapshot isolation
//!
//! A history is snapshot isolation iff some version order makes `(ww ∪ wr) ; rw?` acyclic
//! (with session order added to `ww ∪ wr` for strong-session SI, real time for strong SI:
//! Cerone and Gotsman's proof builds visibility from that union, so whatever order is in it
//! is visible, and an order that must be visible is in the union): every cycle of
//! dependencies must hold two rw edges in a row (Cerone and Gotsman 2016; PolySI checks the
//! same relation). The same polygraph decides it on a different graph ([`lift`]): each node
//! has a second copy entered only by rw edges and left only by the other kinds, so a cycle of
//! that graph is a cycle of dependencies with no two adjacent rw edges, and conversely. All
//! that follows (chains, pruning, the lazy loop, explanations) runs unchanged on it. The
//! chains stay exact: a lost update is not SI either (the two writers' rw and ww edges make
//! such a cycle), and every pair's edges a chain order leaves out are implied by paths through
//! the chains that end in ww edges, which never put two rw edges side by side. PolySI composes
//! the edges (`ww;rw` pairs as edges of their own); the two copies give the same cycles without
//! building the composition, whose size is the product of in- and out-degrees.
//!
//! ## Shortcuts, each proved
//!
//! - Read-modify-write chains. If `T` reads key `x` from `A` (or from `⊥`) and then writes `x`,
//!   then in every serial order `A` is the last writer of `x` before `T`: `A` and `T` are
//!   adjacent among `x`'s writers. Following these links gives chains (a writer has at most one
//!   such successor, else `lost-update`, and no cycle, else `cyclic-versions`: both found by
//!   [`crate::register`] and refuting serializability before this runs) that are contiguous in
//!   `x`'s version order. So within a chain the order is known (ww and rw edges, no choice), and
//!   between two chains `P`, `Q` one boolean says which comes first. `P` before `Q` needs only
//!   `last(P) → first(Q)` and every reader of `last(P)` `→ first(Q)`: every other pair of
//!   writers `a ∈ P`, `b ∈ Q` is then ordered through the chains' known edges, and every reader
//!   of a non-last `a ∈ P` already precedes `a`'s chain successor by a known rw edge. The chain
//!   of `⊥` comes first in every order: its constraints are known edges.
//! - Pruning by known reachability. A choice whose edge `u → v` has `v` reaching `u` over known
//!   edges closes a cycle in every completion: the other choice is forced (a unit clause, its
//!   edges become known, and the pass repeats until nothing changes: a fixpoint). If both
//!   choices of one constraint close a cycle, no order exists: that is a violation, explained by
//!   both cycles. Whether `v` reaches `u` is first answered by a topological rank of the known
//!   graph (`rank(v) > rank(u)`: it cannot); otherwise by a search bounded by a step budget
//!   (an unanswered question forces nothing, which is sound). Rounds repeat while a round
//!   forces at least a quarter of the open constraints, else the solver takes the rest: each
//!   round is a pass over every open constraint, and on a valid 10,000-transaction history the
//!   first round costs about as much as the whole SAT search after it (measured: one round of
//!   budget 200, 3.5 s in all; three rounds 6.4 s; the fixpoint with budget 2,000, 11 s).
//! - The search left is a lazy loop, sound and complete: solve; build the graph of known and
//!   chosen edges; if it has a cycle, add a clause forbidding that combination of choices on the
//!   cycle's constraint edges (true of every acyclic completion, as those choices with the known
//!   edges are cyclic) and solve again; an acyclic model is a serial order, and an unsatisfiable
//!   formula means every completion holds some forbidden combination, hence a cycle. Each
//!   round adds clauses for up to [`CYCLES_PER_ROUND`] node-disjoint shortest cycles. The solver
//!   starts from a hint (each choice agreeing with a topological order of the known edges,
//!   ties broken by completion time), which on a serializable history is usually nearly right.
//!   VeriStrong checks acyclicity inside the solver's search (a theory with an incremental
//!   topological order); labrys does not yet.
//!
//! ## What counts, and when the check cannot be exact
//!
//! Committed: `ok` transactions, and `info` ones whose write some read returned (an unread
//! `info` transaction can go last in every serial order: its reads are unknown, its writes
//! unseen, and nothing follows it in session or real time). Only external reads count (a read
//! after the transaction's own write is `internal`'s business). A read of a value written by a
//! failed transaction (`G1a`), of an intermediate write (`G1b`), of a value no transaction wrote,
//! or two differing external reads of one key in one transaction (`internal`), or a lost update
//! or cyclic versions: the check does not run (`skipped` names why); those are anomalies found
//! elsewhere, or, for a value nobody wrote, something elle-cli accepts and labrys does not guess
//! about. Nor does it run past [`MAX_CONSTRAINTS`] open pairs of writers (a bound on memory):
//! then the verdict is `unknown` unless something else refutes the level, as Elle's cycles
//! alone are not exact, and `stats.serializability.skipped` says why. Time is bounded by the
//! deadline, [`DEFAULT_SECONDS`] when the caller gave none: past it, `unknown`, naming the
//! open pairs and the keys with most of them.
//!
//! ## Not yet
//!
//! Splitting the constraints into independent components; the acyclicity check inside
//! the solver (a `batsat` theory); an unsatisfiable core as the explanation (today: the
//! shortest cycles blocked, and why each forced order is forced). Without the components and
//! the theory each lazy round rebuilds the whole graph, which is what the deadline bounds on
//! large histories (a valid 50,000-transaction one, ≈1.4 million open pairs, takes 5–12 s).
//!
//! ## Names
//!
//! An unsatisfiable polygraph is `serializability-violation` when no order edges were used
//! (plain `serializable` is refuted, and everything stronger), `-process` when session order was
//! needed (`strong-session-serializable` and stronger), `-realtime` when real time was
//! (`strict-serializable`). Likewise `snapshot-isolation-violation` (plain
//! `snapshot-isolation` refuted), `-process` (`strong-session-snapshot-isolation`) and
//! `-realtime` (`strong-snapshot-isolation`).
//! A violation found with order edges is checked again without them to name the weakest
//! model it refutes.

use crate::graph::{self, Dep, NONE, PROCESS, REALTIME, RW, WR, WW};
use crate::model::OrderEdges;
use crate::txn::{Kind, Mop, Outcome, Txns, NIL};
use batsat::{lbool, BasicSolver, Lit, SolverInterface, Var};
use labrys_history::{Anomaly, Deadline, History};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, VecDeque};

/// The anomaly names, by the order edges the violation needed.
pub const ANOMALIES: [&str; 3] = [
    "serializability-violation",
    "serializability-violation-process",
    "serializability-violation-realtime",
];

/// Cycles (node-disjoint, shortest through their start) turned into clauses per round.
pub const CYCLES_PER_ROUND: usize = 64;

/// At most this many open pairs of writers: beyond, the check does not run and the verdict
/// is `unknown` (`too_large`) unless something else refutes the level. The cap bounds memory
/// (≈1 KB per open pair at most, edges of both orders and the solver's clauses); time is
/// bounded by the deadline.
pub const MAX_CONSTRAINTS: usize = 4_000_000;

/// The check's deadline when the caller gave none (`labrys check` without `--time-limit`):
/// the lazy loop rebuilds the whole graph each round and nothing bounds the number of rounds
/// (a valid 10,000-transaction history, 278,000 pairs, takes under a second; a 50,000-one,
/// ≈1.4 million pairs, 5–12 s), so a check nobody bounded must still end, and end in
/// `unknown` naming what is open rather than in Elle's verdict, which is not exact.
/// `labrys_txn::check` gives every polygraph check of one history one such deadline; this
/// module's functions take the deadline they are given.
pub const DEFAULT_SECONDS: u64 = 120;

/// Steps a reachability question of the pruning may take before it is left unanswered.
const PRUNE_BUDGET: usize = 200;

/// Which order edges the check must use for the requested models, or `None` when no requested
/// model implies serializability.
pub fn needed(prohibited: &std::collections::BTreeSet<String>) -> Option<OrderEdges> {
    if prohibited.contains(ANOMALIES[2]) {
        Some(OrderEdges::Realtime)
    } else if prohibited.contains(ANOMALIES[1]) {
        Some(OrderEdges::Process)
    } else if prohibited.contains(ANOMALIES[0]) {
        Some(OrderEdges::None)
    } else {
        None
    }
}

/// The snapshot-isolation anomaly names: without order edges (plain `snapshot-isolation`), with
/// session order (`strong-session-snapshot-isolation`), with real time
/// (`strong-snapshot-isolation`: a transaction's snapshot holds every transaction that
/// committed before it began).
pub const SI_ANOMALIES: [&str; 3] = [
    "snapshot-isolation-violation",
    "snapshot-isolation-violation-process",
    "snapshot-isolation-violation-realtime",
];

/// Which order edges the snapshot-isolation check must use for the requested models, or `None`
/// when no requested model implies snapshot isolation.
pub fn needed_si(prohibited: &std::collections::BTreeSet<String>) -> Option<OrderEdges> {
    if prohibited.contains(SI_ANOMALIES[2]) {
        Some(OrderEdges::Realtime)
    } else if prohibited.contains(SI_ANOMALIES[1]) {
        Some(OrderEdges::Process)
    } else if prohibited.contains(SI_ANOMALIES[0]) {
        Some(OrderEdges::None)
    } else {
        None
    }
}

/// What the polygraph decides: serializability, or snapshot isolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Serializable,
    SnapshotIsolation,
}

fn name(level: Level, order: OrderEdges) -> &'static str {
    match (level, order) {
        (Level::Serializable, OrderEdges::None) => ANOMALIES[0],
        (Level::Serializable, OrderEdges::Process) => ANOMALIES[1],
        (Level::Serializable, OrderEdges::Realtime) => ANOMALIES[2],
        (Level::SnapshotIsolation, OrderEdges::None) => SI_ANOMALIES[0],
        (Level::SnapshotIsolation, OrderEdges::Process) => SI_ANOMALIES[1],
        (Level::SnapshotIsolation, OrderEdges::Realtime) => SI_ANOMALIES[2],
    }
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Found {
    /// The violation, named and explained.
    pub anomaly: Option<(&'static str, Anomaly)>,
    /// When the serializability check finds the history serializable: a serial order of the
    /// committed transactions (the snapshot-isolation check leaves it `None`: its graph has two
    /// copies of each node, and a commit order is not one of its topological orders).
    pub order: Option<Vec<u32>>,
    /// When the level holds: a version order of every key written (key, its committed
    /// writers in order) that the verdict rests on: with it the graph has no cycle the level
    /// forbids.
    pub versions: Option<Vec<(u32, Vec<u32>)>>,
    /// The deadline passed before an answer.
    pub timed_out: bool,
    /// Why the check did not run (it cannot be exact on this history).
    pub skipped: Option<String>,
    /// It did not run because the history has more than [`MAX_CONSTRAINTS`] open pairs (the
    /// other reasons to skip are anomalies that refute the level anyway).
    pub too_large: bool,
    /// Sizes and counts, for `stats`.
    pub stats: serde_json::Map<String, serde_json::Value>,
}

impl Found {
    /// Whether the level holds: no violation, and the version order it rests on was found
    /// (not the case when the check was skipped or ran out of time).
    pub fn holds(&self) -> bool {
        self.anomaly.is_none() && self.versions.is_some()
    }
}

/// A known edge or one side of a constraint: `Dep` with `from`/`to` nodes.
type E = Dep;

/// One constraint: key, the two chains; `true` is `p` before `q`.
#[derive(Clone, Copy, Debug)]
struct Constraint {
    key: u32,
    p: u32,
    q: u32,
}

/// A chain of writers of one key, in version order; `first == BOT` for the chain of `⊥`.
#[derive(Clone, Debug)]
struct Chain {
    /// (writer, value written); the writer is `BOT` for `⊥`.
    w: Vec<(u32, u32)>,
}

const BOT: u32 = u32::MAX - 1;

struct Problem {
    /// Nodes of the search graph: `base`, or `2 * base` for snapshot isolation (see [`lift`]).
    n_nodes: usize,
    /// Nodes of the dependency graph (transactions, then virtual completion nodes).
    base: usize,
    /// Snapshot isolation: edges are [`lift`]ed.
    si: bool,
    known: Vec<E>,
    chains: Vec<Chain>,
    /// Per key with writers: the key and its chains `start..end` (`start`: the chain of `⊥`).
    key_chains: Vec<(u32, u32, u32)>,
    constraints: Vec<Constraint>,
    /// Readers (external, committed) of each (key, value).
    readers: HashMap<(u32, u32), Vec<u32>>,
    /// Per graph node: for virtual (completion) nodes, not a transaction.
    n_txns: usize,
    virtual_pos: Vec<usize>,
}

impl Problem {
    /// The edges of choosing `side` for constraint `c` (true: `p` before `q`).
    fn edges(&self, c: usize, side: bool, out: &mut Vec<E>) {
        let k = self.constraints[c];
        let (a, b) = if side { (k.p, k.q) } else { (k.q, k.p) };
        let start = out.len();
        before(
            &self.chains[a as usize],
            &self.chains[b as usize],
            k.key,
            &self.readers,
            out,
        );
        if self.si {
            lift(self.base as u32, out, start);
        }
    }

    /// [`Problem::edges`] of one choice, each labelled with it, appended to `out` (`buf`:
    /// scratch).
    fn labelled_edges(&self, c: usize, side: bool, buf: &mut Vec<E>, out: &mut Vec<Lab>) {
        buf.clear();
        self.edges(c, side, buf);
        out.extend(buf.iter().map(|&dep| Lab {
            dep,
            c: c as u32,
            side,
        }));
    }
}

/// Snapshot isolation's graph, from the dependency edges `out[start..]` (in place): each node
/// `u` has two copies, `u` ("reached by a ww, wr or order edge, or a start": an rw edge may
/// follow) and `u + base` ("reached by an rw edge": the next edge is not rw). A dependency
/// edge `u → v` becomes `u → v` and `u + base → v`; an rw edge `u → v` becomes `u → v + base`.
/// A cycle of this graph is a cycle of dependencies in which no two rw edges are adjacent
/// (going round), and every such cycle lifts to one: so this graph is acyclic iff
/// `(ww ∪ wr ∪ so) ; rw?` is, which is snapshot isolation (Cerone and Gotsman, "Analysing
/// snapshot isolation", 2016; the construction PolySI checks).
fn lift(base: u32, out: &mut Vec<E>, start: usize) {
    let end = out.len();
    for i in start..end {
        let d = out[i];
        if d.kind == RW {
            out[i].to = d.to + base;
        } else {
            out.push(Dep {
                from: d.from + base,
                ..d
            });
        }
    }
}

/// The edges putting chain `a` before chain `b` (key `key`).
fn before(
    a: &Chain,
    b: &Chain,
    key: u32,
    readers: &HashMap<(u32, u32), Vec<u32>>,
    out: &mut Vec<E>,
) {
    let (la, va) = *a.w.last().expect("chains are not empty");
    let (fb, vb) = b.w[0];
    if la != BOT {
        out.push(Dep {
            from: la,
            to: fb,
            kind: WW,
            key,
            a: va,
            b: vb,
        });
    }
    for &r in readers.get(&(key, va)).map(Vec::as_slice).unwrap_or(&[]) {
        if r != fb {
            out.push(Dep {
                from: r,
                to: fb,
                kind: RW,
                key,
                a: if va == NIL { NONE } else { va },
                b: vb,
            });
        }
    }
}

/// Why [`prepare`] gave up: an anomaly found on the way (the level is refuted elsewhere), or
/// too many open pairs.
struct Skip {
    why: String,
    too_large: bool,
}

impl From<String> for Skip {
    fn from(why: String) -> Skip {
        Skip {
            why,
            too_large: false,
        }
    }
}

/// Builds the polygraph, or says why it cannot be exact.
fn prepare(t: &Txns, order: OrderEdges, si: bool, cap: usize) -> Result<Problem, Skip> {
    let n_txns = t.txns.len();
    let writer = crate::register::writers(t).map_err(|twice| {
        format!(
            "value {} is written to key {} twice",
            t.val(twice.val),
            t.key(twice.key)
        )
    })?;
    // External reads and final writes of ok transactions.
    let mut ext: Vec<(u32, u32, u32)> = Vec::new(); // (txn, key, value)
    let mut finals: Vec<(u32, u32, u32)> = Vec::new();
    for (ti, txn) in t.txns.iter().enumerate() {
        if txn.outcome == Outcome::Fail {
            continue;
        }
        let ti = ti as u32;
        let mut seen: BTreeMap<u32, (Option<u32>, bool)> = BTreeMap::new();
        for m in &txn.mops {
            match *m {
                Mop::Write { key, val } => {
                    let e = seen.entry(key).or_default();
                    e.1 = true;
                    let _ = val;
                }
                Mop::ReadReg { key, val: Some(v) } if txn.outcome == Outcome::Ok => {
                    let e = seen.entry(key).or_default();
                    if e.1 {
                        continue;
                    }
                    match e.0 {
                        Some(prev) if prev != v => {
                            return Err(format!(
                                "T{ti} read key {} twice with different values",
                                t.key(key)
                            )
                            .into())
                        }
                        Some(_) => {}
                        None => {
                            e.0 = Some(v);
                            ext.push((ti, key, v));
                        }
                    }
                }
                _ => {}
            }
        }
        for m in &txn.mops {
            if let Mop::Write { key, val } = *m {
                if writer.get(&(key, val)) == Some(&(ti, true)) {
                    finals.push((ti, key, val));
                }
            }
        }
    }
    let mut readers: HashMap<(u32, u32), Vec<u32>> = HashMap::default();
    let mut read_from: HashMap<(u32, u32), u32> = HashMap::default(); // (txn, key) -> value
    let mut committed = vec![false; n_txns];
    for (i, txn) in t.txns.iter().enumerate() {
        committed[i] = txn.outcome == Outcome::Ok;
    }
    let mut known: Vec<E> = Vec::new();
    for &(r, key, v) in &ext {
        readers.entry((key, v)).or_default().push(r);
        read_from.insert((r, key), v);
        if v == NIL {
            continue;
        }
        let Some(&(w, fin)) = writer.get(&(key, v)) else {
            return Err(format!(
                "T{r} read key {} = {}, which no transaction wrote",
                t.key(key),
                t.val(v)
            )
            .into());
        };
        match t.txns[w as usize].outcome {
            Outcome::Fail => {
                return Err(format!("T{r} read a value the failed T{w} wrote (G1a)").into())
            }
            Outcome::Info => committed[w as usize] = true,
            Outcome::Ok => {}
        }
        if !fin {
            return Err(format!("T{r} read an intermediate write of T{w} (G1b)").into());
        }
        if w == r {
            return Err(format!("T{r} read its own later write (future-read)").into());
        }
        known.push(Dep {
            from: w,
            to: r,
            kind: WR,
            key,
            a: v,
            b: NONE,
        });
    }
    // Writers per key, chains.
    let mut by_key: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
    for &(w, key, v) in &finals {
        if committed[w as usize] {
            by_key.entry(key).or_default().push((w, v));
        }
    }
    let mut chains: Vec<Chain> = Vec::new();
    let mut key_chains: Vec<(u32, u32, u32)> = Vec::new();
    let mut constraints: Vec<Constraint> = Vec::new();
    for (key, ws) in by_key {
        // successor of each value: the writer that read it and then wrote.
        let mut succ: HashMap<u32, (u32, u32)> = HashMap::default();
        let mut has_pred = vec![false; ws.len()];
        for (i, &(w, v)) in ws.iter().enumerate() {
            if let Some(&rv) = read_from.get(&(w, key)) {
                if succ.insert(rv, (w, v)).is_some() {
                    return Err(format!("lost update on key {}", t.key(key)).into());
                }
                has_pred[i] = true;
            }
        }
        let mut starts: Vec<(u32, u32)> = vec![(BOT, NIL)];
        starts.extend(
            ws.iter()
                .zip(&has_pred)
                .filter(|(_, &p)| !p)
                .map(|(&x, _)| x),
        );
        let first_chain = chains.len();
        let mut covered = 0usize;
        for s in starts {
            let mut c = vec![s];
            let mut cur = s.1;
            while let Some(&nx) = succ.get(&cur) {
                c.push(nx);
                cur = nx.1;
                if c.len() > ws.len() + 1 {
                    return Err(format!("cyclic versions on key {}", t.key(key)).into());
                }
            }
            covered += c.len() - usize::from(s.0 == BOT);
            for p in c.windows(2) {
                before(
                    &Chain { w: vec![p[0]] },
                    &Chain { w: vec![p[1]] },
                    key,
                    &readers,
                    &mut known,
                );
            }
            chains.push(Chain { w: c });
        }
        if covered != ws.len() {
            return Err(format!("cyclic versions on key {}", t.key(key)).into());
        }
        let last = chains.len();
        key_chains.push((key, first_chain as u32, last as u32));
        let others = last - first_chain - 1;
        if constraints.len() + others * others.saturating_sub(1) / 2 > cap {
            return Err(Skip {
                why: format!(
                    "more than {cap} pairs of writers whose order the data leaves open \
                     (key {} alone has {others} chains of writers)",
                    t.key(key)
                ),
                too_large: true,
            });
        }
        for q in first_chain + 1..last {
            before(&chains[first_chain], &chains[q], key, &readers, &mut known);
            for p in q + 1..last {
                constraints.push(Constraint {
                    key,
                    p: q as u32,
                    q: p as u32,
                });
            }
        }
    }
    // Order edges, through the dependency graph's own construction (virtual completion nodes).
    let og = graph::build(t, Vec::new(), Vec::new(), 0, order);
    let n_nodes = og.adj.node_count();
    for u in 0..n_nodes as u32 {
        if u < n_txns as u32 && !committed[u as usize] {
            continue;
        }
        for (i, &v) in og.adj.neighbors_slice(u).iter().enumerate() {
            let kind = og.adj.edges_slice(u)[i].kinds & (PROCESS | REALTIME);
            if kind != 0 && (v >= n_txns as u32 || committed[v as usize]) {
                known.push(Dep {
                    from: u,
                    to: v,
                    kind: if kind & REALTIME != 0 {
                        REALTIME
                    } else {
                        PROCESS
                    },
                    key: NONE,
                    a: NONE,
                    b: NONE,
                });
            }
        }
    }
    if si {
        lift(n_nodes as u32, &mut known, 0);
    }
    Ok(Problem {
        n_nodes: if si { 2 * n_nodes } else { n_nodes },
        base: n_nodes,
        si,
        known,
        chains,
        key_chains,
        constraints,
        readers,
        n_txns,
        virtual_pos: og.virtual_pos,
    })
}

/// An edge of the search graph: the dep and where it came from (`NONE`: known; else the
/// constraint's index and side).
#[derive(Clone, Copy)]
struct Lab {
    dep: E,
    c: u32,
    side: bool,
}

/// Compressed adjacency of `edges`.
struct Csr {
    off: Vec<u32>,
    e: Vec<Lab>,
}

fn csr(n: usize, edges: Vec<Lab>) -> Csr {
    let mut off = vec![0u32; n + 1];
    for l in &edges {
        off[l.dep.from as usize + 1] += 1;
    }
    for i in 0..n {
        off[i + 1] += off[i];
    }
    let mut pos = off.clone();
    let mut e = vec![
        edges.first().copied().unwrap_or(Lab {
            dep: Dep {
                from: 0,
                to: 0,
                kind: 0,
                key: 0,
                a: 0,
                b: 0
            },
            c: NONE,
            side: false
        });
        edges.len()
    ];
    for l in edges {
        let p = &mut pos[l.dep.from as usize];
        e[*p as usize] = l;
        *p += 1;
    }
    Csr { off, e }
}

impl Csr {
    fn out(&self, u: u32) -> &[Lab] {
        &self.e[self.off[u as usize] as usize..self.off[u as usize + 1] as usize]
    }
}

/// A topological order of the graph (Kahn's, ties by `prio`), and the nodes left on or behind
/// cycles.
fn topo(g: &Csr, n: usize, prio: &[u64]) -> (Vec<u32>, Vec<bool>) {
    let mut indeg = vec![0u32; n];
    for l in &g.e {
        indeg[l.dep.to as usize] += 1;
    }
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32)>> = (0..n as u32)
        .filter(|&u| indeg[u as usize] == 0)
        .map(|u| std::cmp::Reverse((prio[u as usize], u)))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse((_, u))) = heap.pop() {
        order.push(u);
        for l in g.out(u) {
            let v = l.dep.to as usize;
            indeg[v] -= 1;
            if indeg[v] == 0 {
                heap.push(std::cmp::Reverse((prio[v], v as u32)));
            }
        }
    }
    let left: Vec<bool> = indeg.iter().map(|&d| d > 0).collect();
    (order, left)
}

/// A placeholder edge (scratch arrays).
const NO_LAB: Lab = Lab {
    dep: Dep {
        from: NONE,
        to: NONE,
        kind: 0,
        key: NONE,
        a: NONE,
        b: NONE,
    },
    c: NONE,
    side: false,
};

/// The strongly connected components of the graph restricted to the nodes `left`: per node,
/// its component's number, or `NONE` when it lies on no cycle (outside `left`, or alone in its
/// component without a self-loop).
fn cyclic_sccs(g: &Csr, left: &[bool]) -> Vec<u32> {
    let (mut comp, sizes) = crate::scc::components_with(
        left.len(),
        |u| g.out(u).len(),
        |u, i| {
            let v = g.out(u)[i].dep.to;
            (left[u as usize] && left[v as usize]).then_some(v)
        },
    );
    for (u, c) in comp.iter_mut().enumerate() {
        let u = u as u32;
        if !left[u as usize] || (sizes[*c as usize] == 1 && !g.out(u).iter().any(|l| l.dep.to == u))
        {
            *c = NONE;
        }
    }
    comp
}

/// Up to `max` cycles among the nodes `left`, as lists of edges: for each node in turn, within
/// its strongly connected component, a shortest cycle through it, again while one exists that
/// avoids every constraint on the cycles already found (so each cycle blocks a different
/// combination of choices: several wrong choices through one transaction are all found in one
/// round). Stops early, with at least one cycle, once its searches have looked at a few times
/// the graph's edges.
fn cycles(g: &Csr, left: &[bool], max: usize, deadline: &Deadline) -> Vec<Vec<Lab>> {
    let n = left.len();
    let comp = cyclic_sccs(g, left);
    let budget = 4 * g.e.len() + n;
    let mut steps = 0usize;
    let mut cut: rustc_hash::FxHashSet<u32> = Default::default();
    let mut parent: Vec<Option<Lab>> = vec![None; n];
    let mut seen = vec![0u32; n];
    let mut stamp = 0u32;
    let mut out = Vec::new();
    'nodes: for s in 0..n as u32 {
        let cs = comp[s as usize];
        if cs == NONE {
            continue;
        }
        loop {
            if out.len() >= max || (!out.is_empty() && (deadline.expired() || steps > budget)) {
                break 'nodes;
            }
            // BFS from s within its component, over edges of no cut constraint, until an edge
            // back to s.
            stamp += 1;
            let mut q = VecDeque::from([s]);
            seen[s as usize] = stamp;
            let mut back: Option<Lab> = None;
            'bfs: while let Some(u) = q.pop_front() {
                for l in g.out(u) {
                    steps += 1;
                    if l.c != NONE && cut.contains(&l.c) {
                        continue;
                    }
                    let v = l.dep.to;
                    if v == s {
                        back = Some(*l);
                        break 'bfs;
                    }
                    if comp[v as usize] == cs && seen[v as usize] != stamp {
                        seen[v as usize] = stamp;
                        parent[v as usize] = Some(*l);
                        q.push_back(v);
                    }
                }
            }
            let Some(b) = back else { continue 'nodes };
            let mut cyc = vec![b];
            let mut u = b.dep.from;
            while u != s {
                let l = parent[u as usize].expect("on the BFS tree");
                cyc.push(l);
                u = l.dep.from;
            }
            cyc.reverse();
            let before = cut.len();
            cut.extend(cyc.iter().filter(|l| l.c != NONE).map(|l| l.c));
            out.push(cyc);
            if cut.len() == before {
                // A cycle of known edges alone: nothing to cut, nothing more to find here.
                break 'nodes;
            }
        }
    }
    out
}

/// Decides serializability (with the order edges `order`) of a register history.
pub fn check(h: &History, t: &Txns, kind: Kind, order: OrderEdges, deadline: &Deadline) -> Found {
    check_level(h, t, kind, Level::Serializable, order, deadline)
}

/// Decides snapshot isolation (with the order edges `order`: session order for strong-session
/// SI, real time for strong SI) of a register history.
pub fn check_si(
    h: &History,
    t: &Txns,
    kind: Kind,
    order: OrderEdges,
    deadline: &Deadline,
) -> Found {
    check_level(h, t, kind, Level::SnapshotIsolation, order, deadline)
}

/// Decides `level` with the order edges `order`; a violation is named after the weakest model
/// it refutes (checked again with fewer order edges).
pub fn check_level(
    h: &History,
    t: &Txns,
    kind: Kind,
    level: Level,
    order: OrderEdges,
    deadline: &Deadline,
) -> Found {
    let started = std::time::Instant::now();
    let mut found = check_with(h, t, kind, level, order, deadline);
    // Name a violation after the weakest model it refutes.
    if found.anomaly.is_some() && order != OrderEdges::None && !deadline.expired() {
        let weaker: &[OrderEdges] = if order == OrderEdges::Realtime {
            &[OrderEdges::None, OrderEdges::Process]
        } else {
            &[OrderEdges::None]
        };
        for &o in weaker {
            let f = check_with(h, t, kind, level, o, deadline);
            if f.anomaly.is_some() {
                found.anomaly = f.anomaly;
                break;
            }
        }
    }
    found.stats.insert(
        "ms".into(),
        (started.elapsed().as_secs_f64() * 1000.0).into(),
    );
    found
}

fn check_with(
    h: &History,
    t: &Txns,
    kind: Kind,
    level: Level,
    order: OrderEdges,
    deadline: &Deadline,
) -> Found {
    let mut found = Found::default();
    if kind != Kind::RwRegister {
        found.skipped = Some("only rw-register histories".into());
        return found;
    }
    let p = match prepare(t, order, level == Level::SnapshotIsolation, MAX_CONSTRAINTS) {
        Ok(p) => p,
        Err(Skip { why, too_large }) => {
            found.skipped = Some(why);
            found.too_large = too_large;
            return found;
        }
    };
    let n = p.n_nodes;
    found
        .stats
        .insert("constraints".into(), p.constraints.len().into());
    found
        .stats
        .insert("known_edges".into(), p.known.len().into());
    // Priority for ties (and SI's solver hint): completion position; virtual nodes by their
    // position. A crashed (`info`) transaction someone read took effect before its first
    // reader completed, and usually not long before (it is guessed just before that); one
    // nobody read, at its invocation.
    let mut first_read = vec![usize::MAX; p.n_txns];
    for d in &p.known {
        if d.kind == WR && (d.from as usize) < p.n_txns && (d.to as usize) < p.n_txns {
            let r = &mut first_read[d.from as usize];
            *r = (*r).min(t.txns[d.to as usize].complete_pos);
        }
    }
    let prio: Vec<u64> = (0..n)
        .map(|u| {
            let u = u % p.base;
            if u < p.n_txns {
                let x = &t.txns[u];
                if x.outcome == Outcome::Ok {
                    2 * x.complete_pos as u64
                } else if first_read[u] != usize::MAX {
                    2 * first_read[u] as u64 - 1
                } else {
                    2 * x.invoke_pos as u64
                }
            } else {
                2 * p.virtual_pos[u - p.n_txns] as u64
            }
        })
        .collect();
    let known_lab: Vec<Lab> = p
        .known
        .iter()
        .map(|&dep| Lab {
            dep,
            c: NONE,
            side: false,
        })
        .collect();
    let kg = csr(n, known_lab.clone());
    let (korder, kleft) = topo(&kg, n, &prio);
    if kleft.iter().any(|&x| x) {
        let cyc = cycles(&kg, &kleft, 1, deadline);
        let none = HashMap::default();
        found.anomaly = Some((
            name(level, order),
            explain(h, t, &p, order, &[], &cyc, &none),
        ));
        return found;
    }
    let mut rank = vec![0u32; n];
    for (i, &u) in korder.iter().enumerate() {
        rank[u as usize] = i as u32;
    }
    // Pruning, one pass per round until nothing more is forced.
    let m = p.constraints.len();
    let mut forced: Vec<Option<bool>> = vec![None; m];
    // Per forced constraint: the cycle its other order closes.
    let mut why_forced: HashMap<u32, (bool, Vec<Lab>)> = HashMap::default();
    let mut edges_buf = Vec::new();
    let mut known_now = known_lab;
    let mut pruned = 0usize;
    let mut rounds = 0usize;
    let t_prune = std::time::Instant::now();
    loop {
        rounds += 1;
        let open_before = m - pruned;
        let g = csr(n, known_now.clone());
        let (ord, left) = topo(&g, n, &prio);
        if left.iter().any(|&x| x) {
            // Forced choices closed a cycle: every completion is cyclic.
            let cyc = cycles(&g, &left, 1, deadline);
            found.anomaly = Some((
                name(level, order),
                explain(h, t, &p, order, &[], &cyc, &why_forced),
            ));
            return found;
        }
        for (i, &u) in ord.iter().enumerate() {
            rank[u as usize] = i as u32;
        }
        let mut changed = false;
        let mut mark = vec![0u32; n];
        let mut parent: Vec<Lab> = vec![NO_LAB; n];
        let mut stamp = 0u32;
        #[allow(clippy::needless_range_loop)] // `forced` changes inside
        for c in 0..m {
            if forced[c].is_some() {
                continue;
            }
            if deadline.expired() {
                found.timed_out = true;
                open_stats(&p, t, &forced, &mut found);
                return found;
            }
            let mut closes = [None, None];
            for (si, side) in [true, false].into_iter().enumerate() {
                edges_buf.clear();
                p.edges(c, side, &mut edges_buf);
                for e in &edges_buf {
                    stamp += 1;
                    if let Some(path) =
                        reaches(&g, &rank, e.to, e.from, &mut mark, &mut parent, stamp)
                    {
                        let mut cyc = path;
                        cyc.push(Lab {
                            dep: *e,
                            c: c as u32,
                            side,
                        });
                        closes[si] = Some(cyc);
                        break;
                    }
                }
            }
            match closes {
                [Some(a), Some(b)] => {
                    found.anomaly = Some((
                        name(level, order),
                        explain(h, t, &p, order, &[c], &[a, b], &why_forced),
                    ));
                    return found;
                }
                [Some(_), None] | [None, Some(_)] => {
                    let side = closes[0].is_none();
                    forced[c] = Some(side);
                    if let Some(cyc) = closes[usize::from(side)].take() {
                        why_forced.insert(c as u32, (side, cyc));
                    }
                    pruned += 1;
                    changed = true;
                    p.labelled_edges(c, side, &mut edges_buf, &mut known_now);
                }
                _ => {}
            }
        }
        // Another round (a full pass) only while it pays: a round that forced less than a
        // quarter of what was open leaves the rest to the solver.
        if !changed || (m - pruned) * 4 > open_before * 3 {
            break;
        }
    }
    found.stats.insert(
        "prune_ms".into(),
        (t_prune.elapsed().as_millis() as u64).into(),
    );
    found.stats.insert("pruned".into(), pruned.into());
    found.stats.insert("prune_rounds".into(), rounds.into());
    // SAT: one variable per open constraint.
    let mut s = BasicSolver::default();
    {
        let d = *deadline;
        let mut cb = batsat::BasicCallbacks::new();
        cb.set_stop(move || d.expired());
        *s.cb_mut() = cb;
    }
    let mut var: Vec<Option<Var>> = vec![None; m];
    for c in 0..m {
        if forced[c].is_some() {
            continue;
        }
        let k = p.constraints[c];
        let pc = &p.chains[k.p as usize];
        let qc = &p.chains[k.q as usize];
        let (a, b) = (
            pc.w.last().expect("non-empty").0 as usize,
            qc.w[0].0 as usize,
        );
        // Serializability: the topological order of the known edges (ties by completion).
        // Snapshot isolation: completion order alone (a commit order; the known graph's order
        // of first copies ignores what rw edges force, and SI's cycles need them).
        let hint = if p.si {
            prio[a] < prio[b]
        } else {
            rank[a] < rank[b]
        };
        var[c] = Some(s.new_var(lbool::new(hint), true));
    }
    let open: Vec<usize> = (0..m).filter(|&c| var[c].is_some()).collect();
    found.stats.insert("sat_vars".into(), open.len().into());
    let lit = |c: usize, side: bool| Lit::new(var[c].expect("open"), side);
    let mut iterations = 0usize;
    let mut clauses = 0usize;
    let mut shortest: Vec<Vec<Lab>> = Vec::new();
    // Every blocking clause and the cycle it came from, for the unsatisfiable core.
    let mut blocked: Vec<(Vec<Lit>, Vec<Lab>)> = Vec::new();
    loop {
        iterations += 1;
        let r = s.solve_limited(&[]);
        if r == lbool::FALSE {
            found.stats.insert("sat_rounds".into(), iterations.into());
            found.stats.insert("sat_clauses".into(), clauses.into());
            // A small set of cycles whose blocking clauses alone (with the forced orders) are
            // unsatisfiable: every choice of the constraints they assume closes one of them.
            let mut is_core = false;
            if let Some(core) = core(open.len(), &blocked, deadline) {
                found.stats.insert("core_cycles".into(), core.len().into());
                let mut cyc: Vec<Vec<Lab>> =
                    core.into_iter().map(|i| blocked[i].1.clone()).collect();
                cyc.sort_by_key(Vec::len);
                if cyc.len() <= MAX_CORE_SHOWN {
                    shortest = cyc;
                    is_core = true;
                }
            }
            let involved: Vec<usize> = {
                let mut v: Vec<usize> = shortest
                    .iter()
                    .flatten()
                    .filter(|l| l.c != NONE)
                    .map(|l| l.c as usize)
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            let mut a = explain(h, t, &p, order, &involved, &shortest, &why_forced);
            if is_core {
                a.explanation = a.explanation.replacen(
                    "Cycles found, each under the orders it assumes:",
                    &format!(
                        "These {} cycles are enough to see it: whichever way the {} pairs they \
                         assume are ordered, one of them closes (each cycle under the orders it \
                         assumes):",
                        shortest.len(),
                        involved.len()
                    ),
                    1,
                );
            }
            found.anomaly = Some((name(level, order), a));
            return found;
        }
        if r != lbool::TRUE {
            found.timed_out = true;
            found.stats.insert("sat_rounds".into(), iterations.into());
            open_stats(&p, t, &forced, &mut found);
            return found;
        }
        let mut all = known_now.clone();
        for &c in &open {
            let side = s.value_var(var[c].expect("open")) == lbool::TRUE;
            p.labelled_edges(c, side, &mut edges_buf, &mut all);
        }
        let g = csr(n, all);
        let (ord, left) = topo(&g, n, &prio);
        if !left.iter().any(|&x| x) {
            found.stats.insert("sat_rounds".into(), iterations.into());
            found.stats.insert("sat_clauses".into(), clauses.into());
            if level == Level::Serializable {
                found.order = Some(
                    ord.into_iter()
                        .filter(|&u| (u as usize) < p.n_txns)
                        .collect(),
                );
            }
            let sides: Vec<bool> = (0..m)
                .map(|c| {
                    forced[c].unwrap_or_else(|| s.value_var(var[c].expect("open")) == lbool::TRUE)
                })
                .collect();
            found.versions = Some(versions(&p, &sides));
            return found;
        }
        for cyc in cycles(&g, &left, CYCLES_PER_ROUND, deadline) {
            let mut clause: Vec<Lit> = cyc
                .iter()
                .filter(|l| l.c != NONE && forced[l.c as usize].is_none())
                .map(|l| !lit(l.c as usize, l.side))
                .collect();
            clause.sort_unstable_by_key(|l| l.idx());
            clause.dedup();
            if shortest.len() < 3 {
                shortest.push(cyc.clone());
                shortest.sort_by_key(Vec::len);
            } else if cyc.len() < shortest[2].len() {
                shortest[2] = cyc.clone();
                shortest.sort_by_key(Vec::len);
            }
            clauses += 1;
            blocked.push((clause.clone(), cyc));
            s.add_clause_reuse(&mut clause);
        }
        if deadline.expired() {
            found.timed_out = true;
            found.stats.insert("sat_rounds".into(), iterations.into());
            open_stats(&p, t, &forced, &mut found);
            return found;
        }
    }
}

/// What is open when the deadline stops the check: `open_constraints`, the pairs of writers
/// (or chains) whose order is not yet settled (forced by the pruning or not), and `open_keys`,
/// the few keys holding most of them with their counts (each key's constraints are a
/// component of the choice: they share no variable with another key's).
fn open_stats(p: &Problem, t: &Txns, forced: &[Option<bool>], found: &mut Found) {
    let mut per_key: HashMap<u32, usize> = HashMap::default();
    for (c, k) in p.constraints.iter().enumerate() {
        if forced[c].is_none() {
            *per_key.entry(k.key).or_default() += 1;
        }
    }
    let open: usize = per_key.values().sum();
    let mut keys: Vec<(u32, usize)> = per_key.into_iter().collect();
    keys.sort_by_key(|&(k, n)| (std::cmp::Reverse(n), k));
    let words: Vec<String> = keys
        .iter()
        .take(5)
        .map(|&(k, n)| format!("{} ({n})", t.key(k)))
        .collect();
    found.stats.insert("open_constraints".into(), open.into());
    found
        .stats
        .insert("open_keys".into(), words.join(", ").into());
}

/// Cycles shown at most when they are an unsatisfiable core (else the three shortest found).
const MAX_CORE_SHOWN: usize = 8;

/// Indices of a subset of `blocked` whose clauses are unsatisfiable together (over the
/// `n_vars` open constraints' variables, created in the same order as the main solver's):
/// each clause gets a selector assumed true, the solver's failed assumptions are a core, and
/// a second solve over the core alone shrinks it. `None` if the deadline passes first.
fn core(
    n_vars: usize,
    blocked: &[(Vec<Lit>, Vec<Lab>)],
    deadline: &Deadline,
) -> Option<Vec<usize>> {
    let mut keep: Vec<usize> = (0..blocked.len()).collect();
    for _ in 0..2 {
        let mut s = BasicSolver::default();
        let d = *deadline;
        let mut cb = batsat::BasicCallbacks::new();
        cb.set_stop(move || d.expired());
        *s.cb_mut() = cb;
        for _ in 0..n_vars {
            s.new_var_default();
        }
        let sel: Vec<Var> = keep.iter().map(|_| s.new_var_default()).collect();
        for (&i, &v) in keep.iter().zip(&sel) {
            let mut clause = blocked[i].0.clone();
            clause.push(Lit::new(v, false));
            s.add_clause_reuse(&mut clause);
        }
        let assume: Vec<Lit> = sel.iter().map(|&v| Lit::new(v, true)).collect();
        if s.solve_limited(&assume) != lbool::FALSE {
            return None;
        }
        let next: Vec<usize> = keep
            .iter()
            .zip(&sel)
            .filter(|&(_, &v)| s.unsat_core_contains_var(v))
            .map(|(&i, _)| i)
            .collect();
        if next.is_empty() || next.len() == keep.len() {
            break;
        }
        keep = next;
    }
    Some(keep)
}

/// The version order of each key that the choices `sides` (one per constraint) make: the
/// chains of a key ordered by how many of its other chains each precedes (the choices that
/// left the graph acyclic are a total order of them).
fn versions(p: &Problem, sides: &[bool]) -> Vec<(u32, Vec<u32>)> {
    let mut wins = vec![0u32; p.chains.len()];
    for (c, &side) in sides.iter().enumerate() {
        let k = p.constraints[c];
        wins[if side { k.p } else { k.q } as usize] += 1;
    }
    p.key_chains
        .iter()
        .map(|&(key, start, end)| {
            let mut cs: Vec<u32> = (start..end).collect();
            // `⊥`'s chain first, then by wins.
            cs[1..].sort_by_key(|&c| std::cmp::Reverse(wins[c as usize]));
            let ws = cs
                .iter()
                .flat_map(|&c| p.chains[c as usize].w.iter().map(|&(w, _)| w))
                .filter(|&w| w != BOT)
                .collect();
            (key, ws)
        })
        .collect()
}

/// A path `from ⇝ to` over known edges, if the bounded search finds one. `rank` (a topological
/// order of `g`) cuts the search: a node ranked above `to` cannot reach it.
fn reaches(
    g: &Csr,
    rank: &[u32],
    from: u32,
    to: u32,
    mark: &mut [u32],
    parent: &mut [Lab],
    stamp: u32,
) -> Option<Vec<Lab>> {
    if from == to {
        return Some(Vec::new());
    }
    if rank[from as usize] > rank[to as usize] {
        return None;
    }
    let limit = rank[to as usize];
    let mut q = VecDeque::from([from]);
    mark[from as usize] = stamp;
    let mut steps = 0usize;
    while let Some(u) = q.pop_front() {
        for l in g.out(u) {
            steps += 1;
            if steps > PRUNE_BUDGET {
                return None;
            }
            let v = l.dep.to;
            if mark[v as usize] == stamp || rank[v as usize] > limit {
                continue;
            }
            mark[v as usize] = stamp;
            parent[v as usize] = *l;
            if v == to {
                let mut path = Vec::new();
                let mut x = to;
                while x != from {
                    let l = parent[x as usize];
                    path.push(l);
                    x = l.dep.from;
                }
                path.reverse();
                return Some(path);
            }
            q.push_back(v);
        }
    }
    None
}

/// Words for a violation: the constraints involved and the cycles found.
fn explain(
    h: &History,
    t: &Txns,
    p: &Problem,
    order: OrderEdges,
    involved: &[usize],
    cycles: &[Vec<Lab>],
    why_forced: &HashMap<u32, (bool, Vec<Lab>)>,
) -> Anomaly {
    let order_words = match order {
        OrderEdges::None => "",
        OrderEdges::Process => " and session order",
        OrderEdges::Realtime => " and real-time order",
    };
    let (what, cycle) = match p.si {
        false => ("no serial order explains every read", "a cycle"),
        true => (
            "no snapshot-isolation execution explains every read (snapshot isolation allows a \
             cycle of dependencies only where two rw edges follow each other)",
            "a cycle with no two rw edges in a row (going round)",
        ),
    };
    let mut text = if involved.is_empty() && cycles.iter().all(|c| c.iter().all(|l| l.c == NONE)) {
        format!("{what}: the dependencies the reads prove{order_words} already form {cycle}")
    } else {
        format!(
            "{what}: of the {} pairs of writers (or read-modify-write chains) whose order the data leaves open, every way of ordering them closes {cycle} with the dependencies the reads prove{order_words}. Cycles found, each under the orders it assumes:",
            p.constraints.len()
        )
    };
    let mut cyc_json = Vec::new();
    // Forced orders met along the way, explained after the cycles (a few at most).
    let mut queue: VecDeque<u32> = VecDeque::new();
    let mut told: Vec<u32> = Vec::new();
    let mut put = |text: &mut String, cyc: &[Lab], queue: &mut VecDeque<u32>| {
        let mut nodes = Vec::new();
        for s in collapse(p, cyc) {
            let forced = s.c != NONE && why_forced.get(&s.c).is_some_and(|f| f.0 == s.side);
            text.push_str(&format!("\n  - {}", step_words(h, t, &s, forced)));
            if forced && !told.contains(&s.c) && told.len() < 8 {
                told.push(s.c);
                queue.push_back(s.c);
            }
            nodes.push(s.dep.from);
        }
        let order: Vec<String> = nodes.iter().map(|n| format!("T{n}")).collect();
        if let Some(f) = nodes.first() {
            text.push_str(&format!("\n  so {} < T{f}", order.join(" < ")));
        }
        nodes
    };
    for (i, cyc) in cycles.iter().enumerate() {
        text.push_str(&format!("\n cycle {}:", i + 1));
        cyc_json.push(put(&mut text, cyc, &mut queue));
    }
    while let Some(c) = queue.pop_front() {
        let k = p.constraints[c as usize];
        let (pc, qc) = (&p.chains[k.p as usize].w, &p.chains[k.q as usize].w);
        text.push_str(&format!(
            "\n the order of key {}'s writes by T{} and T{} is forced: the other order (assumed below) closes this cycle:",
            t.key(k.key),
            pc[0].0,
            qc[0].0
        ));
        cyc_json.push(put(&mut text, &why_forced[&c].1, &mut queue));
    }
    let txns: Vec<u32> = {
        let mut v: Vec<u32> = cyc_json.iter().flatten().copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    for &x in &txns {
        text.push_str(&format!("\n {}", t.describe(h, x)));
    }
    Anomaly::new(text)
        .with("cycles", cyc_json)
        .with("txns", txns)
}

/// The steps of a cycle with virtual (completion) nodes merged into single real-time steps.
fn collapse(p: &Problem, cyc: &[Lab]) -> Vec<Lab> {
    // Snapshot isolation's second copies of nodes are the nodes themselves.
    let base = p.base as u32;
    let cyc: Vec<Lab> = cyc
        .iter()
        .map(|l| Lab {
            dep: Dep {
                from: l.dep.from % base,
                to: l.dep.to % base,
                ..l.dep
            },
            ..*l
        })
        .collect();
    let is_v = |u: u32| u as usize >= p.n_txns;
    // Rotate so that the cycle starts at a transaction.
    let Some(start) = cyc.iter().position(|l| !is_v(l.dep.from)) else {
        return Vec::new();
    };
    let mut out: Vec<Lab> = Vec::new();
    for i in 0..cyc.len() {
        let l = cyc[(start + i) % cyc.len()];
        if is_v(l.dep.from) {
            if let Some(last) = out.last_mut() {
                last.dep.to = l.dep.to;
            }
        } else {
            out.push(l);
        }
    }
    out
}

fn step_words(h: &History, t: &Txns, l: &Lab, forced: bool) -> String {
    let d = l.dep;
    let (a, b) = (d.from, d.to);
    let v = |x: u32| {
        if x == NONE || x == NIL {
            "nil".to_string()
        } else {
            t.val(x).to_string()
        }
    };
    let assumed = if forced {
        " (forced order, see below)"
    } else if l.c != NONE {
        " (assumed order)"
    } else {
        ""
    };
    match d.kind {
        WR => format!("T{b} read key {} = {}, which T{a} wrote, so T{a} <wr T{b}", t.key(d.key), v(d.a)),
        WW if l.c == NONE => format!(
            "T{b} read key {} = {} (written by T{a}) and then wrote {}, so T{a} <ww T{b}",
            t.key(d.key),
            v(d.a),
            v(d.b)
        ),
        WW => format!(
            "T{a}'s write of key {} = {} comes before T{b}'s write of {}{assumed}, so T{a} <ww T{b}",
            t.key(d.key),
            v(d.a),
            v(d.b)
        ),
        RW => format!(
            "T{a} read key {} = {}, and T{b}'s write of {} comes after that version{assumed}, so T{a} <rw T{b}",
            t.key(d.key),
            v(d.a),
            v(d.b)
        ),
        PROCESS => format!(
            "T{a} and T{b} ran one after the other on process {}, so T{a} <process T{b}",
            t.txns[a as usize].process
        ),
        _ => {
            let at = |pos: usize| {
                h.ops.get(pos).map_or(String::new(), |o| {
                    if o.line > 0 {
                        format!(" (line {})", o.line)
                    } else {
                        format!(" (op {})", o.index)
                    }
                })
            };
            format!(
                "T{a} completed{} before T{b} was invoked{}, so T{a} <realtime T{b}",
                at(t.txns[a as usize].complete_pos),
                at(t.txns[b as usize].invoke_pos)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the cap on open pairs the check does not run and says it was too large (the
    /// whole check then answers `unknown`), while a refuting anomaly found on the way is not
    /// "too large".
    #[test]
    fn too_many_open_pairs_is_too_large_not_a_verdict() {
        // Five blind writes of x (ten open pairs), then a read of a value nobody wrote.
        let mut text = String::new();
        for i in 0..5 {
            text += &format!(
                "{{\"type\":\"invoke\",\"process\":{i},\"f\":\"txn\",\"value\":[[\"w\",\"x\",{v}]]}}\n\
                 {{\"type\":\"ok\",\"process\":{i},\"f\":\"txn\",\"value\":[[\"w\",\"x\",{v}]]}}\n",
                v = i + 1
            );
        }
        let h = labrys_history::read_str(&text, "t", labrys_history::Format::Json).unwrap();
        let t = Txns::from_history(&h, Kind::RwRegister).unwrap();
        let skip = |cap| prepare(&t, OrderEdges::None, false, cap).err();
        let s = skip(9).expect("ten pairs, cap nine");
        assert!(s.too_large, "{}", s.why);
        assert!(skip(10).is_none());
        let text = text + "{\"type\":\"invoke\",\"process\":9,\"f\":\"txn\",\"value\":[[\"r\",\"x\",null]]}\n\
                           {\"type\":\"ok\",\"process\":9,\"f\":\"txn\",\"value\":[[\"r\",\"x\",77]]}\n";
        let h = labrys_history::read_str(&text, "t", labrys_history::Format::Json).unwrap();
        let t = Txns::from_history(&h, Kind::RwRegister).unwrap();
        let s = prepare(&t, OrderEdges::None, false, 1_000)
            .err()
            .expect("a read of a value nobody wrote");
        assert!(!s.too_large, "{}", s.why);
    }

    /// Whether some assignment of `n` variables satisfies every clause (brute force).
    fn satisfiable(n: usize, clauses: &[&Vec<Lit>]) -> bool {
        (0..1u32 << n).any(|bits| {
            clauses.iter().all(|c| {
                c.iter()
                    .any(|l| (((bits >> l.var().idx()) & 1) == 1) == l.sign())
            })
        })
    }

    #[test]
    fn the_core_is_an_unsatisfiable_subset_of_the_blocking_clauses() {
        let mut rng = crate::gen::Rng::new(5);
        let mut shrunk = 0;
        for _ in 0..300 {
            let n = 2 + rng.below(4) as usize;
            let mut blocked = Vec::new();
            let mut all: Vec<Vec<Lit>> = Vec::new();
            // Random clauses until unsatisfiable.
            while satisfiable(n, &all.iter().collect::<Vec<_>>()) {
                let len = 1 + rng.below(3) as usize;
                let mut c: Vec<Lit> = (0..len)
                    .map(|_| {
                        Lit::new(
                            Var::unsafe_from_idx(rng.below(n as u64) as u32),
                            rng.below(2) == 0,
                        )
                    })
                    .collect();
                c.sort_unstable_by_key(|l| l.idx());
                c.dedup();
                all.push(c.clone());
                blocked.push((c, Vec::new()));
            }
            let core = core(n, &blocked, &Deadline::none()).expect("no deadline");
            let subset: Vec<&Vec<Lit>> = core.iter().map(|&i| &blocked[i].0).collect();
            assert!(!subset.is_empty());
            assert!(!satisfiable(n, &subset), "{all:?} core {core:?}");
            shrunk += usize::from(core.len() < blocked.len());
        }
        assert!(shrunk > 0, "the core never left a clause out");
    }
}

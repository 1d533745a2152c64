//! Finding and naming dependency cycles: G0, G1c, G-single-item, G-nonadjacent-item and
//! G2-item, each plain and with a `-process` or `-realtime` variant.
//!
//! Strategy (after the Elle paper, with one deadline for the whole search instead of Elle's
//! per-search timeouts):
//! 1. The SCCs of the whole graph: a cycle lives inside one SCC, and in a healthy history
//!    every SCC is a single node, so the common case costs one linear pass.
//! 2. For each non-trivial SCC and each anomaly class, in parallel (rayon): restrict to the
//!    edge kinds that class allows, take the sub-SCCs of that restriction, and try each
//!    candidate first edge whose ends share a sub-SCC (rw for G-single and G2, wr for G1c, ww
//!    for G0). One 0-1 BFS over (node, small state) pairs from the edge's target answers every
//!    candidate edge into that target at once; the state tracks what the class needs (was the
//!    last edge rw, did we see another rw, two adjacent rw, an order edge).
//!    For classes whose first edge's kind may not appear again (G-single: one rw edge, the
//!    rest ww/wr/order), the sub-SCC proves little (it is the SCC of every kind), and trying
//!    every rw edge costs a BFS each: quadratic, minutes on a 200k-transaction history that
//!    has no such cycle (any causal one). So a candidate `u -> v` is first asked whether `v`
//!    reaches `u` at all over the edges the walk may take ([`crate::reach`], exact, all
//!    candidates at once); only those that do are searched.
//! 3. The shortest walk found is collapsed (virtual nodes merged into single real-time steps),
//!    checked to be a simple cycle, and classified from its own edges exactly as Elle names
//!    cycles; only a cycle whose class matches is reported. A reported cycle is therefore always
//!    real.
//! 4. When the shortest walk repeats a transaction, the BFS is redone with the candidate's
//!    source kept out of the walk's interior, then a bounded depth-first search looks for a
//!    simple cycle. If that bound is hit without an answer, the class is reported as
//!    inconclusive (the verdict becomes unknown rather than valid), never silently dropped.
//! 5. The deadline is looked at between candidate groups and every few thousand steps inside
//!    each BFS and DFS, and between reachability sweeps; past it the class reports `timed_out` (unknown
//!    unless a prohibited anomaly was found anyway).
//!
//! SCCs come from [`crate::scc`] (iterative Tarjan: the graphs are too deep for recursion).

use crate::graph::{Adj, Edge, Graph, NONE, PROCESS, REALTIME, RW, WR, WW};

/// One relation taken along a walk: its kind and the `Dep` explaining it.
#[derive(Clone, Copy, Debug, Default)]
struct Hop {
    kind: u8,
    why: u32,
}
use crate::model::OrderEdges;
use crate::reach::Reach;
use crate::scc::components;
use labrys_history::Deadline;
use petgraph::csr::Csr;
use petgraph::visit::EdgeRef;
use rayon::prelude::*;
use std::collections::{BTreeSet, VecDeque};

/// One step of a cycle between two transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub from: u32,
    pub to: u32,
    pub kind: u8,
    /// Index into `Graph::deps` for data edges, `NONE` for order edges.
    pub why: u32,
}

/// A cycle and its anomaly name.
#[derive(Clone, Debug)]
pub struct Cycle {
    pub anomaly: String,
    pub steps: Vec<Step>,
}

/// What the search found.
#[derive(Debug, Default)]
pub struct Found {
    pub cycles: Vec<Cycle>,
    /// Non-trivial SCCs and the size (in transactions) of the largest.
    pub sccs: usize,
    pub largest_scc: usize,
    pub timed_out: bool,
    /// Classes whose bounded fallback search ran out of steps (or depth) in some SCC without finding a
    /// cycle: their absence there is not proven.
    pub inconclusive: Vec<String>,
}

/// Elle's name for a cycle, from its edges alone.
pub fn classify(steps: &[Step]) -> String {
    let count = |k: u8| steps.iter().filter(|s| s.kind == k).count();
    let (rw, wr) = (count(RW), count(WR));
    let adjacent =
        (0..steps.len()).any(|i| steps[i].kind == RW && steps[(i + 1) % steps.len()].kind == RW);
    let base = if rw == 1 {
        "G-single-item"
    } else if rw > 1 {
        if adjacent {
            "G2-item"
        } else {
            "G-nonadjacent-item"
        }
    } else if wr > 0 {
        "G1c"
    } else {
        "G0"
    };
    let suffix = if count(REALTIME) > 0 {
        "-realtime"
    } else if count(PROCESS) > 0 {
        "-process"
    } else {
        ""
    };
    format!("{base}{suffix}")
}

/// One anomaly class to search for.
#[derive(Clone, Copy, Debug)]
struct Spec {
    name: &'static str,
    /// Kinds usable after the first edge.
    allowed: u8,
    /// Kind of the first edge.
    first: u8,
    rw_in_path: bool,
    nonadjacent: bool,
    need_more_rw: bool,
    need_adj: bool,
    /// The order-edge kind this variant must use (0 for the plain class).
    x: u8,
}

const LAST_RW: u8 = 1;
const MORE_RW: u8 = 2;
const ADJ: u8 = 4;
const HAS_X: u8 = 8;
const STATES: usize = 16;

impl Spec {
    fn all(order: OrderEdges) -> Vec<Spec> {
        let base = [
            ("G0", WW, WW, false, false, false, false),
            ("G1c", WW | WR, WR, false, false, false, false),
            ("G-single-item", WW | WR, RW, false, false, false, false),
            (
                "G-nonadjacent-item",
                WW | WR | RW,
                RW,
                true,
                true,
                true,
                false,
            ),
            ("G2-item", WW | WR | RW, RW, true, false, true, true),
        ];
        let (x, names): (u8, [&'static str; 5]) = match order {
            OrderEdges::None => (0, ["", "", "", "", ""]),
            OrderEdges::Process => (
                PROCESS,
                [
                    "G0-process",
                    "G1c-process",
                    "G-single-item-process",
                    "G-nonadjacent-item-process",
                    "G2-item-process",
                ],
            ),
            OrderEdges::Realtime => (
                REALTIME,
                [
                    "G0-realtime",
                    "G1c-realtime",
                    "G-single-item-realtime",
                    "G-nonadjacent-item-realtime",
                    "G2-item-realtime",
                ],
            ),
        };
        let mut specs = Vec::new();
        for (i, (name, allowed, first, rw_in_path, nonadjacent, more, adj)) in
            base.into_iter().enumerate()
        {
            let s = Spec {
                name,
                allowed,
                first,
                rw_in_path,
                nonadjacent,
                need_more_rw: more,
                need_adj: adj,
                x: 0,
            };
            specs.push(s);
            if x != 0 {
                specs.push(Spec {
                    name: names[i],
                    allowed: allowed | x,
                    x,
                    ..s
                });
            }
        }
        specs
    }

    fn init(&self) -> u8 {
        if self.first == RW {
            LAST_RW
        } else {
            0
        }
    }

    /// The state after taking an edge of `kind` from a real node in state `s`.
    fn step(&self, s: u8, kind: u8) -> Option<u8> {
        if kind & self.allowed == 0 {
            return None;
        }
        let rw = kind == RW;
        if rw && (!self.rw_in_path || (self.nonadjacent && s & LAST_RW != 0)) {
            return None;
        }
        let mut n = s & !LAST_RW;
        if rw {
            n |= LAST_RW | MORE_RW;
            if s & LAST_RW != 0 {
                n |= ADJ;
            }
        }
        if kind & (PROCESS | REALTIME) != 0 {
            n |= HAS_X;
        }
        Some(n)
    }

    /// Whether arriving at the first edge's source in state `s` closes a cycle of this class.
    fn accepts(&self, s: u8) -> bool {
        (self.x == 0 || s & HAS_X != 0)
            && (!self.need_more_rw || s & MORE_RW != 0)
            && (!self.nonadjacent || s & LAST_RW == 0)
            && (!self.need_adj || s & (ADJ | LAST_RW) != 0)
    }
}

/// One SCC as its own small graph.
struct Local<'g> {
    g: &'g Graph,
    nodes: Vec<u32>,
    adj: Adj,
}

impl Local<'_> {
    fn is_virtual(&self, l: u32) -> bool {
        self.g.is_virtual(self.nodes[l as usize])
    }
}

/// Finds one cycle of each wanted class in each non-trivial SCC of `g`.
pub fn search(
    g: &Graph,
    order: OrderEdges,
    wanted: &BTreeSet<String>,
    deadline: &Deadline,
) -> Found {
    let (comp, sizes) = components(&g.adj, u8::MAX);
    let mut real_in: Vec<u32> = vec![0; sizes.len()];
    for n in 0..g.n_txns {
        real_in[comp[n] as usize] += 1;
    }
    let mut slot: Vec<u32> = vec![NONE; sizes.len()];
    let mut sccs: Vec<Vec<u32>> = Vec::new();
    for n in 0..g.adj.node_count() as u32 {
        let c = comp[n as usize] as usize;
        if real_in[c] > 1 {
            if slot[c] == NONE {
                slot[c] = sccs.len() as u32;
                sccs.push(Vec::new());
            }
            sccs[slot[c] as usize].push(n);
        }
    }
    let mut found = Found {
        sccs: sccs.len(),
        largest_scc: sccs
            .iter()
            .map(|c| c.iter().filter(|&&n| !g.is_virtual(n)).count())
            .max()
            .unwrap_or(0),
        ..Found::default()
    };
    if sccs.is_empty() {
        return found;
    }
    // Global node -> (scc, local index).
    let mut scc_of = vec![NONE; g.adj.node_count()];
    let mut local_of = vec![NONE; g.adj.node_count()];
    for (i, c) in sccs.iter().enumerate() {
        for (j, &n) in c.iter().enumerate() {
            scc_of[n as usize] = i as u32;
            local_of[n as usize] = j as u32;
        }
    }
    let specs: Vec<Spec> = Spec::all(order)
        .into_iter()
        .filter(|s| wanted.contains(s.name))
        .collect();
    let locals: Vec<Local> = sccs
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut nodes = c.clone();
            let mut edges: Vec<(u32, u32, Edge)> = Vec::new();
            for (j, &n) in c.iter().enumerate() {
                for e in g.adj.edges(n) {
                    let t = e.target();
                    if scc_of[t as usize] == i as u32 {
                        edges.push((j as u32, local_of[t as usize], *e.weight()));
                    }
                }
            }
            edges.sort_unstable_by_key(|e| (e.0, e.1));
            let mut adj: Adj = Csr::from_sorted_edges(&edges).expect("sorted and unique");
            while adj.node_count() < nodes.len() {
                adj.add_node(());
            }
            nodes.shrink_to_fit();
            Local { g, nodes, adj }
        })
        .collect();
    let jobs: Vec<(usize, Spec)> = (0..locals.len())
        .flat_map(|i| specs.iter().map(move |s| (i, *s)))
        .collect();
    let results: Vec<SpecResult> = jobs
        .par_iter()
        .map(|(i, spec)| search_spec(&locals[*i], spec, deadline))
        .collect();
    for r in results {
        found.timed_out |= r.timed_out;
        if r.exhausted && r.cycle.is_none() && !found.inconclusive.contains(&r.name) {
            found.inconclusive.push(r.name.clone());
        }
        found.cycles.extend(r.cycle);
    }
    found
}

/// What one class's search in one SCC came to.
struct SpecResult {
    name: String,
    cycle: Option<Cycle>,
    /// The deadline cut it short.
    timed_out: bool,
    /// The bounded fallback ran out of steps or depth.
    exhausted: bool,
}

/// Searches one SCC for one class.
fn search_spec(l: &Local, spec: &Spec, deadline: &Deadline) -> SpecResult {
    let (cycle, timed_out, exhausted) = search_spec_inner(l, spec, deadline);
    SpecResult {
        name: spec.name.to_string(),
        cycle,
        timed_out,
        exhausted,
    }
}

fn search_spec_inner(l: &Local, spec: &Spec, deadline: &Deadline) -> (Option<Cycle>, bool, bool) {
    // Jobs queued behind others may start late: each linear pass below costs a fraction of a
    // second on a big SCC, so look before each.
    if deadline.expired() {
        return (None, true, false);
    }
    let mask = spec.allowed | spec.first;
    let (mut comp, sizes) = components(&l.adj, mask);
    for c in comp.iter_mut() {
        if sizes[*c as usize] < 2 {
            *c = NONE;
        }
    }
    // When the first edge's kind may not follow it (G-single: one rw edge, then none), the
    // SCC above proves little; a candidate u -> v is kept only if v can reach u over the edges
    // the rest of the walk may take (from a pass-through node, any edge).
    if deadline.expired() {
        return (None, true, false);
    }
    let reach = (spec.first & spec.allowed == 0).then(|| {
        let allowed = spec.allowed;
        Reach::new(&l.adj, |n, e| e.kinds & allowed != 0 || l.is_virtual(n))
    });
    // Candidate first edges (u -> v), grouped by v; when v is a pass-through node, one group per
    // edge, because the walk must not leave v straight back to u.
    let mut cands: Vec<(u32, u32, Hop)> = Vec::new();
    for u in 0..l.nodes.len() as u32 {
        if comp[u as usize] == NONE || l.is_virtual(u) {
            continue;
        }
        for e in l.adj.edges(u) {
            let v = e.target();
            if e.weight().kinds & spec.first != 0 && comp[v as usize] == comp[u as usize] {
                cands.push((
                    v,
                    u,
                    Hop {
                        kind: spec.first,
                        why: e.weight().why(spec.first),
                    },
                ));
            }
        }
    }
    if let Some(r) = &reach {
        // Can v reach u? From a pass-through v the walk may not go straight back to u, so when
        // v -> u is an edge, ask instead whether another of v's successors reaches u.
        let mut queries: Vec<(u32, u32)> = Vec::with_capacity(cands.len());
        let mut owner: Vec<usize> = Vec::with_capacity(cands.len());
        for (i, &(v, u, _)) in cands.iter().enumerate() {
            let succ = l.adj.neighbors_slice(v);
            if l.is_virtual(v) && succ.binary_search(&u).is_ok() {
                for &t in succ.iter().filter(|&&t| t != u) {
                    queries.push((t, u));
                    owner.push(i);
                }
            } else {
                queries.push((v, u));
                owner.push(i);
            }
        }
        let mut keep = vec![false; cands.len()];
        for (ok, i) in r.filter(&queries, deadline).into_iter().zip(owner) {
            keep[i] |= ok;
        }
        let mut k = keep.into_iter();
        cands.retain(|_| k.next().unwrap_or(true));
    }
    if cands.is_empty() {
        return (None, false, false);
    }
    cands.sort_unstable_by_key(|c| (c.0, c.1));
    let mut search = Search::new(l, spec, &comp, deadline);
    let mut dfs_budget = DFS_BUDGET_PER_SPEC;
    // After the first cycle, a few more candidate groups are tried for a shorter one.
    let mut best: Option<Cycle> = None;
    let mut extra_groups = if l.nodes.len() <= SHORTER_CYCLE_MAX_SCC {
        SHORTER_CYCLE_GROUPS
    } else {
        0
    };
    let keep = |c: Cycle, best: &mut Option<Cycle>| {
        if best.as_ref().is_none_or(|b| c.steps.len() < b.steps.len()) {
            *best = Some(c);
        }
    };
    let mut i = 0;
    while i < cands.len() {
        if deadline.expired() || search.timed_out.get() {
            let timed_out = best.is_none();
            return (best, timed_out, false);
        }
        if best.is_some() {
            if extra_groups == 0 || best.as_ref().is_some_and(|b| b.steps.len() <= 2) {
                break;
            }
            extra_groups -= 1;
        }
        let v = cands[i].0;
        let start_entered = if l.is_virtual(v) { cands[i].1 } else { NONE };
        let group_end = if l.is_virtual(v) {
            i + 1
        } else {
            i + cands[i..].iter().take_while(|c| c.0 == v).count()
        };
        let group_start = i;
        i = group_end;
        // One BFS answers every candidate edge into v, shortest first.
        let start = search.bfs(v, start_entered, NONE);
        let mut ends: Vec<(u32, u32, Hop)> = Vec::new();
        let mut retry: Vec<(u32, Hop)> = Vec::new();
        for &(_, u, first) in &cands[group_start..group_end] {
            if let Some(end) = search.best_end(u) {
                ends.push((search.dist[end as usize], end, first));
            }
        }
        ends.sort_unstable_by_key(|e| e.0);
        let mut found = false;
        for (_, end, first) in ends {
            match search.cycle(start, end, v, first) {
                Some(c) => {
                    keep(c, &mut best);
                    found = true;
                    break;
                }
                None => retry.push((end / STATES as u32, first)),
            }
        }
        if found {
            continue;
        }
        // The shortest walk repeated a transaction: search again with u kept out of the
        // interior, then exhaustively (bounded) for a simple cycle.
        for (u, first) in retry {
            if deadline.expired() {
                search.timed_out.set(true);
                break;
            }
            let start = search.bfs(v, start_entered, u);
            if let Some(end) = search.best_end(u) {
                if let Some(c) = search.cycle(start, end, v, first) {
                    keep(c, &mut best);
                    break;
                }
            }
            if let Some(c) = search.dfs(u, v, first, start_entered, &mut dfs_budget) {
                keep(c, &mut best);
                break;
            }
        }
    }
    if best.is_some() {
        return (best, false, false);
    }
    if search.timed_out.get() {
        return (None, true, false);
    }
    (None, false, dfs_budget == 0 || search.cut.get())
}

/// Steps of a BFS or DFS between two looks at the deadline.
const DEADLINE_EVERY: u32 = 1 << 14;
/// Total DFS steps one class may spend in one SCC on candidates whose shortest walk was not a
/// simple cycle.
const DFS_BUDGET_PER_SPEC: u64 = 2_000_000;
/// Candidate groups searched after the first cycle of a class is found, for a shorter one.
const SHORTER_CYCLE_GROUPS: u32 = 16;
/// ... but only in SCCs up to this many nodes, where a BFS is cheap.
const SHORTER_CYCLE_MAX_SCC: usize = 20_000;
/// Longest cycle (in edges, virtual hops included) the DFS fallback looks for.
const DFS_MAX_DEPTH: usize = 48;

/// Reusable search state over one SCC and one class.
struct Search<'a> {
    l: &'a Local<'a>,
    spec: &'a Spec,
    comp: &'a [u32],
    dist: Vec<u32>,
    parent: Vec<(u32, Hop)>,
    touched: Vec<u32>,
    queue: VecDeque<u32>,
    /// The DFS fallback gave up on a longer path somewhere: absence is not proven.
    cut: std::cell::Cell<bool>,
    deadline: &'a Deadline,
    /// The deadline passed inside a BFS or DFS, which then stopped early.
    timed_out: std::cell::Cell<bool>,
}

impl<'a> Search<'a> {
    fn new(
        l: &'a Local<'a>,
        spec: &'a Spec,
        comp: &'a [u32],
        deadline: &'a Deadline,
    ) -> Search<'a> {
        let n = l.nodes.len();
        Search {
            l,
            spec,
            comp,
            dist: vec![u32::MAX; n * STATES],
            parent: vec![(NONE, Hop::default()); n * STATES],
            touched: Vec::new(),
            queue: VecDeque::new(),
            cut: std::cell::Cell::new(false),
            deadline,
            timed_out: std::cell::Cell::new(false),
        }
    }

    /// 0-1 BFS over (node, state) from v after the first edge; `forbid` is reached but never
    /// expanded. Returns the start index.
    fn bfs(&mut self, v: u32, start_entered: u32, forbid: u32) -> u32 {
        let (l, spec, comp) = (self.l, self.spec, self.comp);
        for &t in &self.touched {
            self.dist[t as usize] = u32::MAX;
        }
        self.touched.clear();
        let c = comp[v as usize];
        let start = v * STATES as u32 + spec.init() as u32;
        self.dist[start as usize] = 0;
        self.touched.push(start);
        self.queue.push_back(start);
        let mut pops: u32 = 0;
        while let Some(idx) = self.queue.pop_front() {
            pops = pops.wrapping_add(1);
            if pops.is_multiple_of(DEADLINE_EVERY) && self.deadline.expired() {
                // What was reached so far is still real; the caller stops at the deadline.
                self.queue.clear();
                self.timed_out.set(true);
                break;
            }
            let (node, s) = (idx / STATES as u32, (idx % STATES as u32) as u8);
            if node == forbid {
                continue;
            }
            let d = self.dist[idx as usize];
            let from_virtual = l.is_virtual(node);
            // A pass-through node never leads straight back to where the walk entered it.
            let entered = if idx == start {
                start_entered
            } else if from_virtual {
                self.parent[idx as usize].0 / STATES as u32
            } else {
                NONE
            };
            for e in l.adj.edges(node) {
                let t = e.target();
                if comp[t as usize] != c || t == entered {
                    continue;
                }
                let w: &Edge = e.weight();
                for bit in [WW, WR, RW, PROCESS, REALTIME] {
                    if w.kinds & bit == 0 {
                        continue;
                    }
                    let (ns, cost) = if from_virtual {
                        (Some(s), 0)
                    } else {
                        (spec.step(s, bit), 1)
                    };
                    let Some(ns) = ns else { continue };
                    let nidx = t * STATES as u32 + ns as u32;
                    if d + cost < self.dist[nidx as usize] {
                        if self.dist[nidx as usize] == u32::MAX {
                            self.touched.push(nidx);
                        }
                        self.dist[nidx as usize] = d + cost;
                        self.parent[nidx as usize] = (
                            idx,
                            Hop {
                                kind: bit,
                                why: w.why(bit),
                            },
                        );
                        if cost == 0 {
                            self.queue.push_front(nidx);
                        } else {
                            self.queue.push_back(nidx);
                        }
                    }
                    if from_virtual {
                        break;
                    }
                }
            }
        }
        start
    }

    /// The closest accepting state reached at u.
    fn best_end(&self, u: u32) -> Option<u32> {
        (0..STATES as u32)
            .map(|s| u * STATES as u32 + s)
            .filter(|&i| self.dist[i as usize] != u32::MAX && self.spec.accepts((i % 16) as u8))
            .min_by_key(|&i| self.dist[i as usize])
    }

    /// The walk u -first-> v ... u as a cycle of this class, if it is a simple one.
    fn cycle(&self, start: u32, end: u32, v: u32, first: Hop) -> Option<Cycle> {
        let u = end / STATES as u32;
        let mut path: Vec<(u32, u32, Hop)> = Vec::new();
        let mut cur = end;
        while cur != start {
            let (p, e) = self.parent[cur as usize];
            path.push((p / STATES as u32, cur / STATES as u32, e));
            cur = p;
        }
        path.push((u, v, first));
        path.reverse();
        let steps = collapse(self.l, &path)?;
        (classify(&steps) == self.spec.name).then(|| Cycle {
            anomaly: self.spec.name.to_string(),
            steps,
        })
    }

    /// Bounded depth-first search for a simple cycle u -first-> v ... u of this class.
    fn dfs(
        &self,
        u: u32,
        v: u32,
        first: Hop,
        start_entered: u32,
        budget: &mut u64,
    ) -> Option<Cycle> {
        let mut on = vec![false; self.l.nodes.len()];
        on[u as usize] = true;
        on[v as usize] = !self.l.is_virtual(v);
        let mut path = vec![(u, v, first)];
        if self.dfs_from(
            u,
            v,
            self.spec.init(),
            start_entered,
            &mut on,
            &mut path,
            budget,
        ) {
            let steps = collapse(self.l, &path)?;
            if classify(&steps) == self.spec.name {
                return Some(Cycle {
                    anomaly: self.spec.name.to_string(),
                    steps,
                });
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn dfs_from(
        &self,
        u: u32,
        node: u32,
        s: u8,
        entered: u32,
        on: &mut [bool],
        path: &mut Vec<(u32, u32, Hop)>,
        budget: &mut u64,
    ) -> bool {
        if self.timed_out.get() {
            return false;
        }
        if path.len() >= DFS_MAX_DEPTH {
            self.cut.set(true);
            return false;
        }
        let from_virtual = self.l.is_virtual(node);
        let c = self.comp[u as usize];
        for e in self.l.adj.edges(node) {
            let t = e.target();
            if self.comp[t as usize] != c || t == entered {
                continue;
            }
            let w: &Edge = e.weight();
            for bit in [WW, WR, RW, PROCESS, REALTIME] {
                if w.kinds & bit == 0 {
                    continue;
                }
                if *budget == 0 {
                    return false;
                }
                *budget -= 1;
                if (*budget).is_multiple_of(DEADLINE_EVERY as u64) && self.deadline.expired() {
                    self.timed_out.set(true);
                    return false;
                }
                let ns = if from_virtual {
                    Some(s)
                } else {
                    self.spec.step(s, bit)
                };
                let Some(ns) = ns else { continue };
                path.push((
                    node,
                    t,
                    Hop {
                        kind: bit,
                        why: w.why(bit),
                    },
                ));
                if t == u {
                    if self.spec.accepts(ns)
                        && collapse(self.l, path).is_some_and(|st| classify(&st) == self.spec.name)
                    {
                        return true;
                    }
                } else if !on[t as usize] {
                    let real = !self.l.is_virtual(t);
                    on[t as usize] = real;
                    let next_entered = if self.l.is_virtual(t) { node } else { NONE };
                    if self.dfs_from(u, t, ns, next_entered, on, path, budget) {
                        return true;
                    }
                    on[t as usize] = false;
                }
                path.pop();
                if from_virtual {
                    break;
                }
            }
        }
        false
    }
}

/// Turns a walk of local edges into transaction steps, merging virtual nodes; `None` unless
/// it is a simple cycle over transactions.
fn collapse(l: &Local, path: &[(u32, u32, Hop)]) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut open: Option<(u32, Hop)> = None;
    for &(a, b, e) in path {
        if !l.is_virtual(a) {
            open = Some((a, e));
        }
        if !l.is_virtual(b) {
            let (from, e) = open.take()?;
            steps.push(Step {
                from: l.nodes[from as usize],
                to: l.nodes[b as usize],
                kind: e.kind,
                why: e.why,
            });
        }
    }
    let mut seen: Vec<u32> = steps.iter().map(|s| s.from).collect();
    seen.sort_unstable();
    let n = seen.len();
    seen.dedup();
    (steps.len() >= 2 && seen.len() == n).then_some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(kinds: &[u8]) -> Vec<Step> {
        let n = kinds.len() as u32;
        kinds
            .iter()
            .enumerate()
            .map(|(i, &k)| Step {
                from: i as u32,
                to: (i as u32 + 1) % n,
                kind: k,
                why: NONE,
            })
            .collect()
    }

    #[test]
    fn classification_follows_elle() {
        assert_eq!(classify(&st(&[WW, WW])), "G0");
        assert_eq!(classify(&st(&[WW, WR])), "G1c");
        assert_eq!(classify(&st(&[RW, WR])), "G-single-item");
        assert_eq!(classify(&st(&[RW, WR, RW, WW])), "G-nonadjacent-item");
        assert_eq!(classify(&st(&[RW, RW])), "G2-item");
        // Adjacency wraps around from the last step to the first.
        assert_eq!(classify(&st(&[RW, WW, RW])), "G2-item");
        assert_eq!(classify(&st(&[WW, PROCESS])), "G0-process");
        assert_eq!(
            classify(&st(&[RW, REALTIME, PROCESS])),
            "G-single-item-realtime"
        );
    }
}

//! The transaction dependency graph: ww/wr/rw data dependencies plus process or real-time
//! order, stored once as a compressed adjacency (petgraph's `Csr`).
//!
//! Two encodings keep the edge count linear in the history instead of quadratic:
//! - real-time order goes through a chain of virtual "completion" nodes: `T -> C_k` when `T`
//!   completes as the k-th completion, `C_k -> C_k+1`, and `C_k -> T'` when `T'` is invoked
//!   after completion k (and before k+1). `T1` reaches `T2` through the chain exactly when
//!   `T1` completed before `T2` was invoked;
//! - "precedes every one of these writers" facts go through one virtual node per key:
//!   rw-register's readers of the initial state, and list-append's readers (and last writer)
//!   of a key's longest read, before the committed appends no read saw.
//!
//! Edges leaving a virtual node are pass-through: a search treats a path
//! `T -> virtual... -> T'` as one edge of the kind that entered the chain, at no extra cost.

use crate::model::OrderEdges;
use crate::txn::{Outcome, Txns};
use petgraph::csr::Csr;
use petgraph::Directed;

/// Edge kinds, as bits so searches can take sets of them.
pub const WW: u8 = 1;
pub const WR: u8 = 2;
pub const RW: u8 = 4;
pub const PROCESS: u8 = 8;
pub const REALTIME: u8 = 16;
/// The data dependencies.
pub const DATA: u8 = WW | WR | RW;

/// No value (an empty read, the initial state).
pub const NONE: u32 = u32::MAX;

/// Why a data edge exists: enough to explain it in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dep {
    pub from: u32,
    pub to: u32,
    pub kind: u8,
    pub key: u32,
    /// ww: `from`'s value; wr: the value read; rw: the value `from` read (`NONE`: initial).
    pub a: u32,
    /// ww / rw: `to`'s value.
    pub b: u32,
}

/// An edge as stored: every relation between its two nodes (a bit set of kinds) and, per data
/// kind, the index of one `Dep` explaining it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub kinds: u8,
    why: [u32; 3],
}

impl Default for Edge {
    fn default() -> Self {
        Edge {
            kinds: 0,
            why: [NONE; 3],
        }
    }
}

impl Edge {
    /// An edge of one kind, explained by `Dep` number `why` (`NONE` for order edges).
    pub fn new(kind: u8, why: u32) -> Edge {
        let mut e = Edge {
            kinds: kind,
            ..Edge::default()
        };
        if let Some(i) = Self::slot(kind) {
            e.why[i] = why;
        }
        e
    }

    fn slot(kind: u8) -> Option<usize> {
        match kind {
            WW => Some(0),
            WR => Some(1),
            RW => Some(2),
            _ => None,
        }
    }

    /// The `Dep` explaining this edge's `kind` relation, or `NONE`.
    pub fn why(&self, kind: u8) -> u32 {
        Self::slot(kind).map_or(NONE, |i| self.why[i])
    }

    /// Adds the relations of `other` (between the same two nodes).
    pub fn merge(&mut self, other: &Edge) {
        for k in [WW, WR, RW] {
            let i = Self::slot(k).unwrap_or(0);
            if self.kinds & k == 0 && other.kinds & k != 0 {
                self.why[i] = other.why[i];
            }
        }
        self.kinds |= other.kinds;
    }
}

/// Sorts edges and merges those between the same two nodes, as `Csr` wants them.
pub fn sorted_unique(mut edges: Vec<(u32, u32, Edge)>) -> Vec<(u32, u32, Edge)> {
    use rayon::slice::ParallelSliceMut;
    edges.par_sort_unstable_by_key(|e| (e.0, e.1));
    // Merge in place: no second copy of what can be millions of edges.
    let mut w = 0;
    for r in 0..edges.len() {
        if w > 0 && edges[w - 1].0 == edges[r].0 && edges[w - 1].1 == edges[r].1 {
            let e = edges[r].2;
            edges[w - 1].2.merge(&e);
        } else {
            edges[w] = edges[r];
            w += 1;
        }
    }
    edges.truncate(w);
    edges
}

pub type Adj = Csr<(), Edge, Directed, u32>;

/// A graph of `n` nodes with `edges` (`(from, to, kind)`), for tests.
#[cfg(test)]
pub(crate) fn adj(n: usize, edges: &[(u32, u32, u8)]) -> Adj {
    let e = sorted_unique(
        edges
            .iter()
            .map(|&(a, b, k)| (a, b, Edge::new(k, 0)))
            .collect(),
    );
    let mut g: Adj = Csr::from_sorted_edges(&e).unwrap();
    while g.node_count() < n {
        g.add_node(());
    }
    g
}

/// The dependency graph. Nodes `0..n_txns` are transactions (indices into `Txns::txns`);
/// higher nodes are virtual.
pub struct Graph {
    pub n_txns: usize,
    pub adj: Adj,
    pub deps: Vec<Dep>,
    /// Per virtual node (index `node - n_txns`): the completion position it stands for, or
    /// `NONE` for per-key nodes.
    pub virtual_pos: Vec<usize>,
}

/// Builds a graph from data dependencies, extra pass-through edges (rw-register's per-key
/// nodes, already numbered from `n_txns`), and the order edges asked for.
pub fn build(
    txns: &Txns,
    deps: Vec<Dep>,
    extra: Vec<(u32, u32, Edge)>,
    n_extra_nodes: usize,
    order: OrderEdges,
) -> Graph {
    let n_txns = txns.txns.len();
    let mut edges: Vec<(u32, u32, Edge)> = Vec::with_capacity(deps.len() + 3 * n_txns);
    for (i, d) in deps.iter().enumerate() {
        if d.from != d.to {
            edges.push((d.from, d.to, Edge::new(d.kind, i as u32)));
        }
    }
    edges.extend(extra);
    let mut virtual_pos = vec![NONE as usize; n_extra_nodes];
    let in_graph = |o: Outcome| o != Outcome::Fail;
    match order {
        OrderEdges::None => {}
        OrderEdges::Process => {
            // Consecutive transactions of a process; only from ok ones (an info one may take
            // effect arbitrarily late).
            let mut last_ok: rustc_hash::FxHashMap<i64, u32> = Default::default();
            for (i, t) in txns.txns.iter().enumerate() {
                if !in_graph(t.outcome) {
                    continue;
                }
                if let Some(&p) = last_ok.get(&t.process) {
                    edges.push((p, i as u32, Edge::new(PROCESS, NONE)));
                }
                if t.outcome == Outcome::Ok {
                    last_ok.insert(t.process, i as u32);
                } else {
                    last_ok.remove(&t.process);
                }
            }
        }
        OrderEdges::Realtime => {
            let mut completions: Vec<(usize, u32)> = txns
                .txns
                .iter()
                .enumerate()
                .filter(|(_, t)| t.outcome == Outcome::Ok)
                .map(|(i, t)| (t.complete_pos, i as u32))
                .collect();
            completions.sort_unstable();
            // Invocations are already in history order.
            let mut ci = 0;
            let mut last: Option<u32> = None;
            let rt = Edge::new(REALTIME, NONE);
            for (i, t) in txns.txns.iter().enumerate() {
                if !in_graph(t.outcome) {
                    continue;
                }
                while ci < completions.len() && completions[ci].0 < t.invoke_pos {
                    let c = (n_txns + virtual_pos.len()) as u32;
                    virtual_pos.push(completions[ci].0);
                    if let Some(l) = last {
                        edges.push((l, c, rt));
                    }
                    edges.push((completions[ci].1, c, rt));
                    last = Some(c);
                    ci += 1;
                }
                if let Some(l) = last {
                    edges.push((l, i as u32, rt));
                }
            }
        }
    }
    let n_nodes = n_txns + virtual_pos.len();
    let edges = sorted_unique(edges);
    let mut adj: Adj = Csr::from_sorted_edges(&edges).expect("edges are sorted and unique");
    while adj.node_count() < n_nodes {
        adj.add_node(());
    }
    Graph {
        n_txns,
        adj,
        deps,
        virtual_pos,
    }
}

impl Graph {
    pub fn is_virtual(&self, node: u32) -> bool {
        node as usize >= self.n_txns
    }
}

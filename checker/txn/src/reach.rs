//! "Can this node reach that one?" over a subset of a graph's edges, answered mostly in
//! constant time, for pruning cycle searches.
//!
//! A cycle class whose first edge is of a kind the rest of the cycle may not use (G-single:
//! one rw edge, then only ww/wr and order edges) cannot be pruned by SCCs alone: the SCC of
//! every edge kind is the whole tangle, yet a history may hold no such cycle at all (a causal
//! history never has G-single). Trying each rw edge with a search costs time quadratic in the
//! SCC. But the edge `u -rw-> v` closes such a cycle only if `v` reaches `u` over the allowed
//! edges, and that is what this index answers:
//! - the SCCs of the allowed edges, numbered in reverse topological order (Tarjan's), so a
//!   component can reach only components with smaller numbers;
//! - GRAIL interval labels (Yildirim, Chaoji and Zaki, 2010) over the condensation DAG, from a
//!   few depth-first traversals in different child orders: `a` reaches `b` only if every
//!   label of `b` nests in the same label of `a`;
//! - the queries the labels cannot settle are answered exactly, 256 sources at a time, by one
//!   sweep of the DAG in topological order propagating a bit per source.
//!
//! Every "no" is a proof (unreachable over the kept edges, which over-approximate what a cycle
//! search may walk); past the deadline unsettled queries answer "maybe". So pruning with
//! [`Reach::filter`] never drops a cycle.

use crate::graph::{Adj, Edge};
use crate::scc::components_by;
use labrys_history::Deadline;

/// Labelings; each costs one DAG traversal and one interval per component.
const LABELINGS: usize = 3;
/// Words of source bits a sweep carries per component.
const LANES: usize = 4;

pub struct Reach {
    comp: Vec<u32>,
    /// Condensation DAG as adjacency offsets and targets.
    start: Vec<u32>,
    succ: Vec<u32>,
    /// Per labeling, per component: (lowest post-order rank reachable, own post-order rank).
    labels: Vec<Vec<(u32, u32)>>,
}

impl Reach {
    /// The index over edges `keep(source, edge)` accepts.
    pub fn new(adj: &Adj, keep: impl Fn(u32, &Edge) -> bool) -> Reach {
        let (comp, sizes) = components_by(adj, &keep);
        let nc = sizes.len();
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for n in 0..adj.node_count() as u32 {
            let a = comp[n as usize];
            for (t, e) in adj.neighbors_slice(n).iter().zip(adj.edges_slice(n)) {
                let b = comp[*t as usize];
                if a != b && keep(n, e) {
                    pairs.push((a, b));
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut start = vec![0u32; nc + 1];
        for &(a, _) in &pairs {
            start[a as usize + 1] += 1;
        }
        for i in 0..nc {
            start[i + 1] += start[i];
        }
        let succ: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        let mut r = Reach {
            comp,
            start,
            succ,
            labels: Vec::with_capacity(LABELINGS),
        };
        for i in 0..LABELINGS {
            let l = r.label(i);
            r.labels.push(l);
        }
        r
    }

    fn children(&self, c: u32) -> &[u32] {
        &self.succ[self.start[c as usize] as usize..self.start[c as usize + 1] as usize]
    }

    /// One GRAIL labeling: an iterative post-order traversal, roots and children visited in an
    /// order that depends on `which`.
    fn label(&self, which: usize) -> Vec<(u32, u32)> {
        let nc = self.start.len() - 1;
        let mut lab = vec![(u32::MAX, u32::MAX); nc];
        let mut rank = 0u32;
        let mut stack: Vec<(u32, usize)> = Vec::new();
        // The k-th child visited: forward, backward, or from the middle.
        let pick = |kids: &[u32], k: usize| -> u32 {
            match which % 3 {
                0 => kids[k],
                1 => kids[kids.len() - 1 - k],
                _ => kids[(k + kids.len() / 2) % kids.len()],
            }
        };
        for i in 0..nc {
            let root = match which % 3 {
                1 => (nc - 1 - i) as u32,
                2 => ((i * 7919 + 17) % nc) as u32,
                _ => i as u32,
            };
            if lab[root as usize].1 != u32::MAX || lab[root as usize].0 == 0 {
                continue;
            }
            // lab.0 == 0 marks "on the stack or done" before the rank is known.
            lab[root as usize].0 = 0;
            stack.push((root, 0));
            while let Some(&mut (c, ref mut k)) = stack.last_mut() {
                let kids = self.children(c);
                if *k < kids.len() {
                    let t = pick(kids, *k);
                    *k += 1;
                    if lab[t as usize].0 == u32::MAX {
                        lab[t as usize].0 = 0;
                        stack.push((t, 0));
                    }
                } else {
                    stack.pop();
                    let low = kids
                        .iter()
                        .map(|&t| lab[t as usize].0)
                        .min()
                        .unwrap_or(rank)
                        .min(rank);
                    lab[c as usize] = (low, rank);
                    rank += 1;
                }
            }
        }
        lab
    }

    /// `b`'s intervals nest in `a`'s (necessary for `a` to reach `b`).
    fn nests(&self, a: u32, b: u32) -> bool {
        self.labels.iter().all(|l| {
            let (la, lb) = (l[a as usize], l[b as usize]);
            la.0 <= lb.0 && lb.1 <= la.1
        })
    }

    /// For each query `(from, to)` of nodes: false only when `from` certainly cannot reach
    /// `to` over the kept edges. Exact unless `deadline` passes first (then the queries not
    /// yet settled answer true).
    pub fn filter(&self, queries: &[(u32, u32)], deadline: &Deadline) -> Vec<bool> {
        let mut out = vec![false; queries.len()];
        // Hard queries, as (source component, target component, query index).
        let mut hard: Vec<(u32, u32, usize)> = Vec::new();
        for (i, &(from, to)) in queries.iter().enumerate() {
            let (a, b) = (self.comp[from as usize], self.comp[to as usize]);
            if a == b {
                out[i] = true;
            } else if b < a && self.nests(a, b) {
                hard.push((a, b, i));
            }
        }
        // Highest sources first, so a batch's sweep covers a narrow band of components.
        hard.sort_unstable_by(|x, y| y.cmp(x));
        let nc = self.start.len() - 1;
        let mut mask = vec![[0u64; LANES]; nc];
        let mut q = 0;
        while q < hard.len() {
            if deadline.expired() {
                for &(_, _, i) in &hard[q..] {
                    out[i] = true;
                }
                break;
            }
            // Up to 64 * LANES distinct sources.
            let mut end = q;
            let mut sources = 0;
            while end < hard.len() && (sources < 64 * LANES || hard[end].0 == hard[end - 1].0) {
                if end == q || hard[end].0 != hard[end - 1].0 {
                    sources += 1;
                }
                end += 1;
            }
            let batch = &hard[q..end];
            let hi = batch[0].0;
            let lo = batch.iter().map(|h| h.1).min().unwrap_or(0);
            let mut bit = 0usize;
            let mut bits: Vec<usize> = Vec::with_capacity(batch.len());
            for (k, h) in batch.iter().enumerate() {
                if k > 0 && h.0 != batch[k - 1].0 {
                    bit += 1;
                }
                mask[h.0 as usize][bit / 64] |= 1 << (bit % 64);
                bits.push(bit);
            }
            // Components reach only lower-numbered ones: descending order is topological.
            for c in (lo..=hi).rev() {
                let m = mask[c as usize];
                if m == [0; LANES] {
                    continue;
                }
                for &t in self.children(c) {
                    if t >= lo {
                        let d = &mut mask[t as usize];
                        for w in 0..LANES {
                            d[w] |= m[w];
                        }
                    }
                }
            }
            for (h, b) in batch.iter().zip(bits) {
                out[h.2] = mask[h.1 as usize][b / 64] >> (b % 64) & 1 != 0;
            }
            mask[lo as usize..=hi as usize].fill([0; LANES]);
            q = end;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::Rng;
    use crate::graph::{adj, RW, WR, WW};

    /// Plain reachability by search, the reference.
    fn reaches(n: usize, edges: &[(u32, u32, u8)], mask: u8, a: u32, b: u32) -> bool {
        let mut seen = vec![false; n];
        let mut stack = vec![a];
        seen[a as usize] = true;
        while let Some(x) = stack.pop() {
            if x == b {
                return true;
            }
            for &(s, t, k) in edges {
                if s == x && k & mask != 0 && !seen[t as usize] {
                    seen[t as usize] = true;
                    stack.push(t);
                }
            }
        }
        false
    }

    #[test]
    fn answers_exactly() {
        let mut rng = Rng::new(5);
        for round in 0..300 {
            let n = 2 + rng.below(40) as usize;
            let m = rng.below(3 * n as u64) as usize;
            let mut edges: Vec<(u32, u32, u8)> = Vec::new();
            for _ in 0..m {
                let a = rng.below(n as u64) as u32;
                let mut b = rng.below(n as u64) as u32;
                // Mostly forward edges, so there are DAG parts worth labelling.
                if rng.below(4) != 0 && b < a {
                    b = a + (b % (n as u32 - a).max(1));
                }
                let k = [WW, WR, RW][rng.below(3) as usize];
                if a != b && b < n as u32 {
                    edges.push((a, b, k));
                }
            }
            let g = adj(n, &edges);
            let mask = WW | WR;
            let r = Reach::new(&g, |_, e| e.kinds & mask != 0);
            let queries: Vec<(u32, u32)> = (0..n as u32)
                .flat_map(|a| (0..n as u32).map(move |b| (a, b)))
                .collect();
            let got = r.filter(&queries, &Deadline::none());
            for (&(a, b), got) in queries.iter().zip(got) {
                assert_eq!(
                    got,
                    reaches(n, &edges, mask, a, b),
                    "round {round}: {a} -> {b}"
                );
            }
        }
    }
}

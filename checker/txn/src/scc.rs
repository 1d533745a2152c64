//! Strongly connected components without recursion.
//!
//! Tarjan's algorithm with an explicit call stack: dependency graphs of a million
//! transactions have paths a million nodes long (the real-time chain alone), far deeper than a
//! thread's stack allows a recursive search to go.

use crate::graph::{Adj, Edge, NONE};

/// The SCC of each node, over edges whose kinds intersect `mask`: `(comp, sizes)` where
/// `comp[n]` indexes `sizes`.
pub fn components(adj: &Adj, mask: u8) -> (Vec<u32>, Vec<u32>) {
    components_by(adj, |_, e| e.kinds & mask != 0)
}

/// The SCC of each node, over the edges `keep(source, edge)` accepts. Components are numbered
/// in reverse topological order: when component `a` reaches a different component `b`,
/// `b < a`.
pub fn components_by(adj: &Adj, keep: impl Fn(u32, &Edge) -> bool) -> (Vec<u32>, Vec<u32>) {
    components_with(
        adj.node_count(),
        |v| adj.neighbors_slice(v).len(),
        |v, ei| keep(v, &adj.edges_slice(v)[ei]).then(|| adj.neighbors_slice(v)[ei]),
    )
}

/// The SCC of each of `n` nodes of any graph: node `v` has `degree(v)` out-edges and its
/// `i`-th leads to `target(v, i)` (`None`: ignore that edge). Numbered as in
/// [`components_by`].
pub fn components_with(
    n: usize,
    degree: impl Fn(u32) -> usize,
    target: impl Fn(u32, usize) -> Option<u32>,
) -> (Vec<u32>, Vec<u32>) {
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut comp = vec![NONE; n];
    let mut sizes: Vec<u32> = Vec::new();
    let mut next = 0u32;
    let mut call: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if index[root as usize] != NONE {
            continue;
        }
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        call.push((root, 0));
        while let Some(&(v, ei)) = call.last() {
            if ei < degree(v) {
                call.last_mut().expect("non-empty").1 += 1;
                let Some(w) = target(v, ei) else {
                    continue;
                };
                if index[w as usize] == NONE {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    call.push((w, 0));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            } else {
                call.pop();
                if let Some(&(p, _)) = call.last() {
                    low[p as usize] = low[p as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let id = sizes.len() as u32;
                    let mut size = 0;
                    loop {
                        let w = stack.pop().expect("v is on the stack");
                        on_stack[w as usize] = false;
                        comp[w as usize] = id;
                        size += 1;
                        if w == v {
                            break;
                        }
                    }
                    sizes.push(size);
                }
            }
        }
    }
    (comp, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{adj, RW, WW};

    #[test]
    fn finds_cycles_and_respects_the_mask() {
        let g = adj(
            5,
            &[(0, 1, WW), (1, 2, WW), (2, 0, RW), (3, 4, WW), (4, 3, WW)],
        );
        let (c, sizes) = components(&g, WW | RW);
        assert_eq!(c[0], c[1]);
        assert_eq!(c[1], c[2]);
        assert_eq!(c[3], c[4]);
        assert_ne!(c[0], c[3]);
        assert_eq!(sizes[c[0] as usize], 3);
        let (c, sizes) = components(&g, WW);
        assert_ne!(c[0], c[2]);
        assert_eq!(sizes[c[0] as usize], 1);
        assert_eq!(sizes[c[3] as usize], 2);
    }

    #[test]
    fn a_million_node_path_does_not_overflow_the_stack() {
        let n = 1_000_000u32;
        let mut e: Vec<(u32, u32, u8)> = (0..n - 1).map(|i| (i, i + 1, WW)).collect();
        e.push((n - 1, 0, WW));
        let g = adj(n as usize, &e);
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || components(&g, WW).1)
            .unwrap();
        assert_eq!(handle.join().unwrap(), vec![n]);
    }
}

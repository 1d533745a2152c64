//! "Which is the latest earlier read that could have seen this element?", in logarithmic time.
//!
//! set-full needs, for an element added at history position `x` and a read ranked `r`, the
//! highest rank below `r` whose read completed after `x`. Walking back read by read is linear
//! per question, and quadratic overall when one slow read overlaps most of the test; a max
//! segment tree over completion positions answers each question in O(log n).

/// A max segment tree over a fixed sequence of positions.
pub(crate) struct MaxTree {
    size: usize,
    nodes: Vec<usize>,
}

impl MaxTree {
    pub(crate) fn new(values: impl ExactSizeIterator<Item = usize>) -> MaxTree {
        let size = values.len().next_power_of_two().max(1);
        let mut nodes = vec![0; 2 * size];
        for (i, v) in values.enumerate() {
            nodes[size + i] = v;
        }
        for i in (1..size).rev() {
            nodes[i] = nodes[2 * i].max(nodes[2 * i + 1]);
        }
        MaxTree { size, nodes }
    }

    /// The highest index below `end` whose value is greater than `x`.
    pub(crate) fn last_above_before(&self, end: usize, x: usize) -> Option<usize> {
        self.search(1, 0, self.size, end, x)
    }

    fn search(&self, node: usize, lo: usize, hi: usize, end: usize, x: usize) -> Option<usize> {
        if lo >= end || self.nodes[node] <= x {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.search(2 * node + 1, mid, hi, end, x)
            .or_else(|| self.search(2 * node, lo, mid, end, x))
    }
}

#[cfg(test)]
mod tests {
    use super::MaxTree;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_a_backwards_scan(values in prop::collection::vec(0usize..50, 0..40), end in 0usize..45, x in 0usize..50) {
            let t = MaxTree::new(values.iter().copied());
            let end = end.min(values.len());
            let want = (0..end).rev().find(|&i| values[i] > x);
            prop_assert_eq!(t.last_above_before(end, x), want);
        }
    }
}

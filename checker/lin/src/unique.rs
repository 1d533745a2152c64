//! Registers whose observed values are each written at most once: decided in O(n log n)
//! instead of searched.
//!
//! Jepsen's register tests write unique values, and there the search is the wrong tool: with
//! 30 clients some op is always pending, no point of the history is quiescent, and the memo
//! cache of (linearized set, state) grows with 2^(concurrent ops). Gibbons & Korach (1997)
//! showed that read/write registers with unique writes are decidable in O(n log n) by
//! looking at each value's *cluster* (its write and its reads); this module extends that
//! idea to compare-and-set and to crashed (`info`) ops.
//!
//! # The argument
//! Call a value *observed* when some op reads it or a cas expects it. This module applies
//! when every observed value has at most one writer (a write or a cas to it) and the initial
//! value, if observed, has none. Then in any linearization the register holds each observed
//! value during one contiguous stretch, so:
//!
//! 1. *Which ops happen.* `ok` ops happen. An `info` op happens if an op that happens
//!    observes the value it writes (it is that value's only writer); otherwise it can be left
//!    out: an op writing a value nobody observes is followed by a blind write or by nothing,
//!    so removing it changes no later step (the same proof as `plan`'s pruning). Taking
//!    the closure from the `ok` ops gives the *required* ops; the rest are dropped. A required
//!    op observing a value no op writes (and that is not the initial value) can never step:
//!    not linearizable.
//! 2. *Segments.* Each required writer `w` of value `v` opens a segment: `w`, then every
//!    required read of `v` (in any order among themselves), and it ends at the next state
//!    change. The state after the segment leaves `v` forever, so all reads of `v` must sit
//!    inside it; and a required `cas v → v'` must be the op that ends it (any other write
//!    would leave `v` for good and the cas could never succeed). Two required cas from the
//!    same value: not linearizable.
//! 3. *Blocks.* Following cas links, segments form chains: a *block* starts at a plain write
//!    (or at the initial value, a virtual write before everything) and continues through the
//!    cas from its value, the cas from that one's value, and so on. A block's ops are
//!    contiguous in every linearization and their order is fixed up to reads within a
//!    segment. A cas whose chain leads back to itself belongs to no block: none of its values
//!    can come first, not linearizable.
//! 4. *Inside a block*, an op `y` of a later group (writer, then its reads, then the next
//!    writer, …) that returned before an op `x` of an earlier group was invoked breaks real
//!    time: not linearizable. Otherwise the block's own order respects real time (reads of
//!    one segment sorted by invocation).
//! 5. *Between blocks.* Since blocks are contiguous, real time only asks: block `A` before
//!    block `B` whenever some op of `A` returned before some op of `B` was invoked, i.e.
//!    `lo(A) < hi(B)` with `lo` the earliest return and `hi` the latest invocation in a block
//!    (`info` ops never return). Any order of the blocks that satisfies these constraints,
//!    with each block in its own order, is a linearization: every real-time pair is either
//!    inside a block (point 4) or between two (point 5), and every step succeeds by
//!    construction. So the history is linearizable iff the constraint graph on blocks is
//!    acyclic. We sort it topologically, always taking a block with no constraint from the
//!    remaining ones. If none exists, let `P` be the remaining block with the least `lo` and
//!    `X` any other whose `lo < hi(P)` (one exists, since `P` is constrained); `X` is
//!    constrained too, by some `Y` with `lo(Y) < hi(X)`, and `lo(P) ≤ lo(Y)`, so `P` and `X`
//!    must each precede the other (Gibbons & Korach's overlapping zones, for chains).
//!
//! # Certificates
//! Nothing here is trusted: a "linearizable" answer comes with the order, which
//! `check::replay` steps through the model and checks against real time; a "not
//! linearizable" answer comes with a *core* of a few ops that the exact search must fail to
//! linearize on its own. A core always holds the writer of every value its ops observe, so
//! (by point 2) any linearization of the whole history restricted to the core is one of the
//! core: a core that cannot be linearized proves the history cannot. The core is also the
//! counterexample a person reads.

use crate::model::{Fast, LinOp};
use crate::models::register::{RegOp, Register};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeSet;

const NONE: usize = usize::MAX;

/// Times: positions shifted so that the initial value's virtual write is at -1 and an op
/// that never returned returns at `i64::MAX`.
fn invoked(o: &LinOp<RegOp>) -> i64 {
    o.invoke as i64
}

fn returned(o: &LinOp<RegOp>) -> i64 {
    o.complete.map_or(i64::MAX, |c| c as i64)
}

fn observes(op: RegOp) -> Option<u32> {
    match op {
        RegOp::Read(v) | RegOp::Cas(v, _) => Some(v),
        RegOp::Write(_) => None,
    }
}

fn writes(op: RegOp) -> Option<u32> {
    match op {
        RegOp::Write(v) | RegOp::Cas(_, v) => Some(v),
        RegOp::Read(_) => None,
    }
}

/// For registers whose values repeat (where [`decide`] does not apply): an `ok` op that
/// observes a value no op could have written before it returned (every op writing it
/// began after, or there is none) and that is not the initial value. No linearization
/// places a writer of that value before it, so the op alone is a core: the history is
/// linearizable only if this one-op history is, from the initial value, and it is not.
/// Linear time; finds reads from the future and values nobody wrote, the violations a
/// search could otherwise only report after exhausting every order of the ops before them.
pub fn read_before_written(reg: &Register, ops: &[LinOp<RegOp>]) -> Option<Fast<RegOp>> {
    let mut first_write: FxHashMap<u32, usize> = FxHashMap::default();
    for o in ops {
        if let Some(v) = writes(o.op) {
            let at = first_write.entry(v).or_insert(o.invoke);
            *at = (*at).min(o.invoke);
        }
    }
    let d = Describe { reg, ops };
    let (i, v) = ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let done = o.complete?;
            let v = observes(o.op).filter(|&v| v != reg.initial)?;
            let possible = first_write.get(&v).is_some_and(|&at| at <= done);
            (!possible).then_some((done, i, v))
        })
        .min()
        .map(|(_, i, v)| (i, v))?;
    let why = match first_write.get(&v) {
        Some(_) => format!(
            "{} needs the register to hold {}, but every operation that writes {} began \
             after it returned, and it is not the initial value.",
            d.op(i),
            d.value(v),
            d.value(v)
        ),
        None => format!(
            "{} needs the register to hold {}, but no operation that may have taken effect \
             writes {} and it is not the initial value.",
            d.op(i),
            d.value(v),
            d.value(v)
        ),
    };
    Some(Fast::core(vec![i], why))
}

/// One block: its ops in groups (writer, its reads, next writer, …); the initial value's
/// block has no writer op in its first group.
struct Block {
    groups: Vec<Vec<usize>>,
    lo: i64,
    hi: i64,
}

/// Decides `ops` on `reg` when every observed value is written at most once; `None` when
/// that does not hold (the caller searches instead).
pub fn decide(reg: &Register, ops: &[LinOp<RegOp>]) -> Option<Fast<RegOp>> {
    let initial = reg.initial;
    let n = ops.len();
    let mut observed: FxHashSet<u32> = FxHashSet::default();
    for o in ops {
        if let Some(v) = observes(o.op) {
            observed.insert(v);
        }
    }
    let mut writer: FxHashMap<u32, usize> = FxHashMap::default();
    for (i, o) in ops.iter().enumerate() {
        if let Some(v) = writes(o.op).filter(|v| observed.contains(v)) {
            if v == initial || writer.insert(v, i).is_some() {
                return None;
            }
        }
    }
    let d = Describe { reg, ops };

    // 1. Required ops: the ok ones and, transitively, the writers of what they observe.
    let mut required = vec![false; n];
    let mut because = vec![NONE; n];
    let mut stack: Vec<usize> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        if o.complete.is_some() {
            required[i] = true;
            stack.push(i);
        }
    }
    while let Some(i) = stack.pop() {
        let Some(v) = observes(ops[i].op).filter(|&v| v != initial) else {
            continue;
        };
        match writer.get(&v) {
            None => {
                let mut core = vec![i];
                let mut j = i;
                while because[j] != NONE {
                    j = because[j];
                    core.push(j);
                }
                core.sort_unstable();
                let why = format!(
                    "{} needs the register to hold {}, but no operation that may have taken \
                     effect writes {} and it is not the initial value.",
                    d.op(i),
                    d.value(v),
                    d.value(v)
                );
                return Some(Fast::core(core, why));
            }
            Some(&w) => {
                if !required[w] {
                    required[w] = true;
                    because[w] = i;
                    stack.push(w);
                }
            }
        }
    }
    // The core around `seed`: with each op, the writer of what it observes, back to the
    // `cut` ops, which the core's search sees as blind writes (a cas relaxed to a write of
    // its new value: whatever a linearization of the history does before it, the relaxed
    // op steps, so the restriction argument still holds and the core stays short).
    let closure = |seed: &[usize], cut: &[usize]| -> Fast<RegOp> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<usize> = seed.iter().copied().filter(|&i| i != NONE).collect();
        while let Some(i) = stack.pop() {
            if out.insert(i) {
                // A crashed op is in only because an op that happened needs it: bring that
                // op along, or the core could simply leave the crashed one out.
                if ops[i].complete.is_none() && because[i] != NONE {
                    stack.push(because[i]);
                }
                if cut.contains(&i) {
                    continue;
                }
                if let Some(w) = observes(ops[i].op)
                    .filter(|&v| v != initial)
                    .and_then(|v| writer.get(&v))
                {
                    stack.push(*w);
                }
            }
        }
        let relaxed = cut
            .iter()
            .filter(|&&c| out.contains(&c))
            .filter_map(|&c| match ops[c].op {
                RegOp::Cas(_, new) => Some((c, RegOp::Write(new))),
                _ => None,
            })
            .collect();
        Fast::NotLinearizable {
            core: out.into_iter().collect(),
            why: String::new(),
            relaxed,
        }
    };

    // 2. Segments: node `n` is the initial value's virtual write, node `i < n` op i's write.
    let node_of = |v: u32| -> usize {
        if v == initial {
            n
        } else {
            writer[&v]
        }
    };
    let mut next = vec![NONE; n + 1];
    let mut reads: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    let mut cas_count = 0usize;
    for i in (0..n).filter(|&i| required[i]) {
        match ops[i].op {
            RegOp::Read(v) => reads.entry(node_of(v)).or_default().push(i),
            RegOp::Cas(a, _) => {
                cas_count += 1;
                let p = node_of(a);
                if next[p] != NONE {
                    let other = next[p];
                    let why = format!(
                        "both {} and {} need the register to hold {}; it holds {} only once, and \
                         whichever succeeds first replaces it for good.",
                        d.op(other),
                        d.op(i),
                        d.value(a),
                        d.value(a)
                    );
                    // Cut at the writer of the shared value, unless it is one of the two
                    // (a cas to its own expected value): its need for that value is the point.
                    let w = if p == n || p == other || p == i {
                        NONE
                    } else {
                        p
                    };
                    return Some(closure(&[other, i, w], &[w]).with_why(why));
                }
                next[p] = i;
            }
            RegOp::Write(_) => {}
        }
    }

    // 3–4. Blocks, each checked on its own.
    let heads = std::iter::once(n)
        .chain((0..n).filter(|&i| required[i] && matches!(ops[i].op, RegOp::Write(_))));
    let mut blocks: Vec<Block> = Vec::new();
    let mut cas_seen = vec![false; n];
    for head in heads {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut node = head;
        loop {
            groups.push(if node == n { Vec::new() } else { vec![node] });
            let mut rs = reads.remove(&node).unwrap_or_default();
            rs.sort_unstable_by_key(|&r| ops[r].invoke);
            groups.push(rs);
            node = next[node];
            if node == NONE {
                break;
            }
            cas_seen[node] = true;
        }
        // Real time inside the block: no later group may return before an earlier one began.
        let (mut hi, mut hi_op) = (-1i64, NONE);
        let mut lo = if head == n { -1 } else { i64::MAX };
        for g in &groups {
            if let Some(&y) = g.iter().min_by_key(|&&y| returned(&ops[y])) {
                if returned(&ops[y]) < hi {
                    let x = hi_op;
                    let why = format!(
                        "{} must take effect after {}, since the register holds each of these \
                         values once, in the order {}; yet {} returned before {} was invoked.",
                        d.op(y),
                        d.op(x),
                        d.chain_between(&groups, x, y),
                        d.op(y),
                        d.op(x),
                    );
                    let w = segment_writer(&groups, x);
                    return Some(closure(&[x, y, w], &[w]).with_why(why));
                }
                lo = lo.min(returned(&ops[y]));
            }
            for &x in g {
                if invoked(&ops[x]) > hi {
                    (hi, hi_op) = (invoked(&ops[x]), x);
                }
            }
        }
        blocks.push(Block { groups, lo, hi });
    }
    if cas_seen.iter().filter(|&&b| b).count() < cas_count {
        // A cas not reached from any block: its values form a cycle.
        let c = (0..n)
            .find(|&i| required[i] && matches!(ops[i].op, RegOp::Cas(..)) && !cas_seen[i])
            .expect("an unreached cas exists");
        let f = closure(&[c], &[]);
        let Fast::NotLinearizable { core, .. } = &f else {
            unreachable!("closure gives a core")
        };
        let values: Vec<String> = core
            .iter()
            .filter(|&&i| matches!(ops[i].op, RegOp::Cas(..)))
            .filter_map(|&i| writes(ops[i].op))
            .map(|v| d.value(v))
            .collect();
        let why = format!(
            "the values {} are each written only by a cas from another of them, so none of \
             them can be written first.",
            values.join(", ")
        );
        return Some(f.with_why(why));
    }

    // 5. Order the blocks: repeatedly take one that no remaining block must precede.
    let mut by_lo: BTreeSet<(i64, usize)> = BTreeSet::new();
    let mut by_hi: BTreeSet<(i64, usize)> = BTreeSet::new();
    for (b, blk) in blocks.iter().enumerate() {
        by_lo.insert((blk.lo, b));
        by_hi.insert((blk.hi, b));
    }
    let mut order: Vec<usize> = Vec::with_capacity(n);
    while let Some(&(l1, p)) = by_lo.first() {
        let l2 = by_lo.iter().nth(1).map_or(i64::MAX, |&(l, _)| l);
        // A block other than P is free iff its hi ≤ lo(P); P is free iff hi(P) ≤ l2.
        let free = |b: usize| {
            if b == p {
                blocks[p].hi <= l2
            } else {
                blocks[b].hi <= l1
            }
        };
        let pick = by_hi
            .iter()
            .take(2)
            .map(|&(_, b)| b)
            .find(|&b| free(b))
            .or_else(|| free(p).then_some(p));
        let Some(b) = pick else {
            let x = by_lo.iter().nth(1).expect("two blocks remain").1;
            return Some(two_blocks(&d, &blocks[p], &blocks[x], closure));
        };
        by_lo.remove(&(blocks[b].lo, b));
        by_hi.remove(&(blocks[b].hi, b));
        order.extend(blocks[b].groups.iter().flatten());
    }
    Some(Fast::Linearizable(order))
}

/// The counterexample of two blocks that must each come before the other.
fn two_blocks(
    d: &Describe<'_>,
    p: &Block,
    x: &Block,
    closure: impl Fn(&[usize], &[usize]) -> Fast<RegOp>,
) -> Fast<RegOp> {
    let ops = d.ops;
    let first_return = |b: &Block| {
        b.groups
            .iter()
            .flatten()
            .copied()
            .min_by_key(|&i| returned(&ops[i]))
            .unwrap_or(NONE)
    };
    let last_invoke = |b: &Block| {
        b.groups
            .iter()
            .flatten()
            .copied()
            .max_by_key(|&i| invoked(&ops[i]))
            .unwrap_or(NONE)
    };
    let (p1, p2, x1, x2) = (
        first_return(p),
        last_invoke(p),
        first_return(x),
        last_invoke(x),
    );
    // P's earliest return may be the initial value's virtual write (before everything).
    let p_before = if p1 == NONE || returned(&ops[p1]) > p.lo {
        "the initial value comes before everything".to_string()
    } else {
        format!("{} returned before {} was invoked", d.op(p1), d.op(x2))
    };
    let why = format!(
        "each value is written once, so a write and the reads of its value (and a cas from \
         it, and so on) must happen as one uninterrupted run. Here two runs must each come \
         before the other. Run A: {}. Run B: {}. A before B: {p_before}. B before A: {} \
         returned before {} was invoked.",
        d.block(p),
        d.block(x),
        d.op(x1),
        d.op(p2)
    );
    // Each run is needed only from the earliest segment its two ops sit in.
    // (The initial value's run always starts at the beginning: its virtual write is what
    // makes it come first.)
    let cut = |b: &Block, a: usize, c: usize| {
        if a == NONE || c == NONE || b.groups[0].is_empty() {
            return NONE;
        }
        let first = [a, c]
            .into_iter()
            .min_by_key(|&i| b.groups.iter().position(|g| g.contains(&i)));
        first.map_or(NONE, |i| segment_writer(&b.groups, i))
    };
    let (wp, wx) = (cut(p, p1, p2), cut(x, x1, x2));
    closure(&[p1, p2, x1, x2, wp, wx], &[wp, wx]).with_why(why)
}

/// The writer op of the segment `op` sits in (itself when it is one), or `NONE` for the
/// initial value's segment.
fn segment_writer(groups: &[Vec<usize>], op: usize) -> usize {
    let g = groups.iter().position(|g| g.contains(&op)).unwrap_or(0);
    groups[g - g % 2].first().copied().unwrap_or(NONE)
}

/// Plain words for ops, values and blocks.
struct Describe<'a> {
    reg: &'a Register,
    ops: &'a [LinOp<RegOp>],
}

impl Describe<'_> {
    fn value(&self, v: u32) -> String {
        self.reg.values.value(v).to_string()
    }

    /// An op, as the marker a report replaces with its words and lines ([`Fast::op`]).
    fn op(&self, i: usize) -> String {
        if i == NONE {
            return "the initial value".into();
        }
        Fast::<RegOp>::op(i)
    }

    /// The values a block's writers write, in order, shortened in the middle.
    fn values_of(&self, groups: &[Vec<usize>]) -> Vec<String> {
        groups
            .iter()
            .step_by(2)
            .map(|g| match g.first() {
                Some(&w) => writes(self.ops[w].op).map_or_else(String::new, |v| self.value(v)),
                None => self.value(self.reg.initial),
            })
            .collect()
    }

    fn arrows(vals: &[String]) -> String {
        if vals.len() <= 6 {
            vals.join(" → ")
        } else {
            format!(
                "{} → … ({} more) … → {}",
                vals[..3].join(" → "),
                vals.len() - 5,
                vals[vals.len() - 2..].join(" → ")
            )
        }
    }

    /// The chain of values from the group of `x` to the group of `y`.
    fn chain_between(&self, groups: &[Vec<usize>], x: usize, y: usize) -> String {
        let at = |op: usize| groups.iter().position(|g| g.contains(&op)).unwrap_or(0);
        let (gx, gy) = (at(x) / 2, at(y) / 2);
        let vals = self.values_of(groups);
        Self::arrows(&vals[gx.min(vals.len() - 1)..=gy.min(vals.len() - 1)])
    }

    fn block(&self, b: &Block) -> String {
        let vals = self.values_of(&b.groups);
        let reads = b
            .groups
            .iter()
            .skip(1)
            .step_by(2)
            .map(Vec::len)
            .sum::<usize>();
        let head = if b.groups[0].is_empty() {
            format!("the initial value {}", vals[0])
        } else {
            self.op(b.groups[0][0])
        };
        let chain = if vals.len() > 1 {
            format!(", then the cas chain {}", Self::arrows(&vals))
        } else {
            String::new()
        };
        let reads = match reads {
            0 if vals.len() == 1 => ", a value nobody read".to_string(),
            0 => String::new(),
            1 => " and the 1 read of it".to_string(),
            n => format!(" and the {n} reads of them"),
        };
        format!("{head}{chain}{reads}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::replay;
    use labrys_history::Value;

    fn setup(spec: &[(RegOp, usize, Option<usize>)]) -> (Register, Vec<LinOp<RegOp>>) {
        let mut m = Register::new(&Value::Int(0));
        for v in 1..10 {
            m.values.id(&Value::Int(v));
        }
        let ops = spec
            .iter()
            .enumerate()
            .map(|(i, &(op, invoke, complete))| LinOp {
                op,
                invoke,
                complete,
                call: i,
            })
            .collect();
        (m, ops)
    }

    use RegOp::{Cas, Read, Write};

    #[test]
    fn a_valid_chain_gives_an_order_that_replays() {
        // 0 → cas → 1, read 1, write 2, read 2; a crashed write of 3 nobody reads.
        let (m, ops) = setup(&[
            (Cas(0, 1), 0, Some(3)),
            (Read(1), 1, Some(5)),
            (Write(2), 4, Some(6)),
            (Write(3), 2, None),
            (Read(2), 7, Some(8)),
        ]);
        let Some(Fast::Linearizable(order)) = decide(&m, &ops) else {
            panic!("valid")
        };
        assert!(replay(&m, &ops, &order));
        assert!(!order.contains(&3), "the unobserved crash is left out");
    }

    #[test]
    fn non_unique_values_are_left_to_the_search() {
        let (m, ops) = setup(&[
            (Write(1), 0, Some(1)),
            (Write(1), 2, Some(3)),
            (Read(1), 4, Some(5)),
        ]);
        assert_eq!(decide(&m, &ops), None);
        // Writing the initial value again, when someone reads it, too.
        let (m, ops) = setup(&[(Write(0), 0, Some(1)), (Read(0), 2, Some(3))]);
        assert_eq!(decide(&m, &ops), None);
    }

    #[test]
    fn a_stale_read_is_a_two_block_core() {
        // write 1, then write 2, then read 1.
        let (m, ops) = setup(&[
            (Write(1), 0, Some(1)),
            (Write(2), 2, Some(3)),
            (Read(1), 4, Some(5)),
        ]);
        let Some(Fast::NotLinearizable { core, why, .. }) = decide(&m, &ops) else {
            panic!("invalid")
        };
        assert_eq!(core, vec![0, 1, 2], "{why}");
    }

    #[test]
    fn reading_a_value_nobody_wrote_is_its_own_core() {
        let (m, ops) = setup(&[(Write(1), 0, Some(1)), (Read(7), 2, Some(3))]);
        assert_eq!(
            decide(&m, &ops)
                .map(|f| matches!(f, Fast::NotLinearizable { core, .. } if core == vec![1])),
            Some(true)
        );
    }

    #[test]
    fn two_cas_from_one_value_and_cycles_are_caught() {
        let (m, ops) = setup(&[(Cas(0, 1), 0, Some(1)), (Cas(0, 2), 2, Some(3))]);
        assert!(matches!(
            decide(&m, &ops),
            Some(Fast::NotLinearizable { .. })
        ));
        let (m, ops) = setup(&[(Cas(1, 2), 0, Some(1)), (Cas(2, 1), 2, Some(3))]);
        let Some(Fast::NotLinearizable { core, .. }) = decide(&m, &ops) else {
            panic!("a cycle")
        };
        assert_eq!(core, vec![0, 1]);
    }

    #[test]
    fn a_read_inside_a_chain_out_of_order_is_caught() {
        // cas 0→1 completes; a read of 0 begins after the cas to 2 (from 1) completed.
        let (m, ops) = setup(&[
            (Cas(0, 1), 0, Some(1)),
            (Cas(1, 2), 2, Some(3)),
            (Read(0), 4, Some(5)),
        ]);
        let Some(Fast::NotLinearizable { core, why, .. }) = decide(&m, &ops) else {
            panic!("invalid")
        };
        assert_eq!(core, vec![0, 2], "{why}");
    }
}

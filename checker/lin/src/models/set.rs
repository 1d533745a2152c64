//! The set model: `add v` and `read → #{...}`, a linearizable set object.
//!
//! The state is the sorted list of interned elements; a read must return exactly that set.
//! An `info` read constrains nothing and is dropped; an `info` add may or may not have happened.
//!
//! When every value is added at most once (Jepsen's set workloads add unique values),
//! [`set_fast`] decides without search; other histories are searched.

use crate::convert::{bad_call, calls_to_ops};
use crate::intern::Interner;
use crate::model::{Fast, LinOp, Model};
use labrys_history::{Error, History};
use rustc_hash::FxHashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetOp {
    Add(u32),
    /// A read, with the sorted, deduplicated elements it returned.
    Read(Box<[u32]>),
}

#[derive(Clone, Debug)]
pub struct SetModel {
    pub values: Interner,
}

impl SetModel {
    pub fn from_history(h: &History) -> Result<(SetModel, Vec<LinOp<SetOp>>), Error> {
        let mut values = Interner::new();
        let ops = calls_to_ops(h, |call, ok| {
            let v = call.value();
            Ok(match call.f() {
                "add" => Some(SetOp::Add(values.id(v))),
                "read" if !ok => None,
                "read" => {
                    let elems = if v.is_nil() {
                        &[][..]
                    } else {
                        v.as_seq().ok_or_else(|| {
                            bad_call(
                                h,
                                call,
                                format!("set read returned {}; expected a set or list", v.kind()),
                            )
                        })?
                    };
                    let mut ids: Vec<u32> = elems.iter().map(|e| values.id(e)).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    Some(SetOp::Read(ids.into_boxed_slice()))
                }
                f => {
                    return Err(bad_call(
                        h,
                        call,
                        format!("a set op has f {f:?}; expected add or read"),
                    ))
                }
            })
        })?;
        Ok((SetModel { values }, ops))
    }
}

/// A set whose values are each added at most once, decided in O(n log n) plus the size of
/// the reads.
///
/// The distinct sets the reads returned must form a chain `R1 ⊂ R2 ⊂ …` (a set only grows),
/// and the only possible order, up to swapping ops that commute, is then in *blocks*: the
/// adds of `R1`, the reads of `R1`, the adds of `R2 ∖ R1`, the reads of `R2`, …, and last
/// the adds no read saw. (An add must precede every read containing its value and follow
/// every read without it; info adds nobody saw are left out, as their semantics allow.)
/// Inside a block any order works, so the history is linearizable iff the blocks respect
/// real time: no op of a later block returned before an op of an earlier block began. A
/// prefix-maximum of invocations against a suffix-minimum of returns checks every block
/// boundary at once. The linearization returned puts each block in invocation order.
///
/// A violation comes with a core of two to four ops whose reads are *projected* onto the one
/// or two values involved (`read → {a}` for a read that returned `{a b c}` when the core is
/// about `a` and `d`), and which holds the add of each of those values (when there is one).
/// That keeps the contract: membership of each value evolves on its own, so any
/// linearization of the history, restricted to the core's ops with reads projected onto the
/// core's values, is a linearization of the core (the adds that make those reads true are
/// in it).
fn set_fast(values: &Interner, ops: &[LinOp<SetOp>]) -> Option<Fast<SetOp>> {
    let op = Fast::<SetOp>::op;
    let mut add_of: FxHashMap<u32, usize> = FxHashMap::default();
    for (j, o) in ops.iter().enumerate() {
        if let SetOp::Add(v) = o.op {
            if add_of.insert(v, j).is_some() {
                return None;
            }
        }
    }
    let project = |j: usize, keep: &[u32]| project(ops, j, keep);
    let violation = |core: Vec<usize>, why: String, relaxed: Vec<(usize, SetOp)>| {
        let mut core = core;
        core.sort_unstable();
        core.dedup();
        Some(Fast::NotLinearizable { core, why, relaxed })
    };
    let value = |v: u32| values.value(v).to_string();
    let mut reads: Vec<usize> = Vec::new();
    for (j, o) in ops.iter().enumerate() {
        if let SetOp::Read(r) = &o.op {
            if let Some(&v) = r.iter().find(|v| !add_of.contains_key(v)) {
                let why = format!("{} returns {}, which no add added.", op(j), value(v));
                return violation(vec![j], why, vec![project(j, &[v])]);
            }
            reads.push(j);
        }
    }
    let set = |j: usize| match &ops[j].op {
        SetOp::Read(r) => &r[..],
        SetOp::Add(_) => &[][..],
    };
    reads.sort_by(|&a, &b| set(a).len().cmp(&set(b).len()).then(set(a).cmp(set(b))));
    // Levels: runs of reads that returned the same set, smallest first.
    let levels: Vec<&[usize]> = reads.chunk_by(|&a, &b| set(a) == set(b)).collect();
    for w in levels.windows(2) {
        let (a, b) = (w[0][0], w[1][0]);
        if let Some(&v) = set(a).iter().find(|v| set(b).binary_search(v).is_err()) {
            // `b` is at least as big as `a` and differs from it, so it has a value `a` lacks.
            let u = set(b).iter().find(|u| set(a).binary_search(u).is_err());
            debug_assert!(u.is_some(), "a larger set lacks nothing");
            let u = *u?;
            let why = format!(
                "{} saw {} but not {}, and {} saw {} but not {}: a set only grows, so neither \
                 read can come first.",
                op(a),
                value(v),
                value(u),
                op(b),
                value(u),
                value(v)
            );
            let core = vec![a, b, add_of[&v], add_of[&u]];
            return violation(core, why, vec![project(a, &[v, u]), project(b, &[v, u])]);
        }
    }
    // Blocks: 2k for the adds first seen at level k, 2k + 1 for the reads of level k, and
    // 2 × levels for the adds nobody saw (info ones left out).
    let mut block: Vec<Option<usize>> = vec![None; ops.len()];
    let mut seen_at: FxHashMap<u32, usize> = FxHashMap::default();
    for (k, level) in levels.iter().enumerate() {
        for &j in level.iter() {
            block[j] = Some(2 * k + 1);
        }
        for &v in set(level[0]) {
            seen_at.entry(v).or_insert(k);
        }
    }
    for (&v, &j) in &add_of {
        block[j] = match seen_at.get(&v) {
            Some(&k) => Some(2 * k),
            None if ops[j].complete.is_some() => Some(2 * levels.len()),
            None => None,
        };
    }
    let mut order: Vec<usize> = (0..ops.len()).filter(|&j| block[j].is_some()).collect();
    order.sort_by_key(|&j| (block[j], ops[j].invoke));
    // Real time across blocks: at each block boundary, the op that began last before it
    // against the op that returns first after it, for each kind (0: add, 1: read), so that
    // the pair explained most directly can be kept: a read missing an add that had
    // returned, a read showing a value before its add began, two reads, then two adds and
    // the read between them. Any violated boundary has a violating pair of some kinds.
    let end = |j: usize| ops[j].complete.unwrap_or(usize::MAX);
    let kind = |j: usize| matches!(ops[j].op, SetOp::Read(_)) as usize;
    let mut first_return_after = vec![[None::<usize>; 2]; order.len() + 1];
    for i in (0..order.len()).rev() {
        let j = order[i];
        let mut here = first_return_after[i + 1];
        let k = kind(j);
        if here[k].is_none_or(|b| end(j) < end(b)) {
            here[k] = Some(j);
        }
        first_return_after[i] = here;
    }
    let rank = [[3, 1], [0, 2]]; // rank[kind of x][kind of y]
    let mut worst: Option<(usize, usize)> = None;
    let mut latest = [None::<usize>; 2];
    for i in 0..order.len() {
        let j = order[i];
        let k = kind(j);
        if latest[k].is_none_or(|l| ops[j].invoke > ops[l].invoke) {
            latest[k] = Some(j);
        }
        // The boundary after position i, when it is a block boundary.
        if i + 1 == order.len() || block[order[i + 1]] == block[j] {
            continue;
        }
        for x in latest.iter().flatten().copied() {
            for y in first_return_after[i + 1].iter().flatten().copied() {
                let better =
                    worst.is_none_or(|(a, b)| rank[kind(x)][kind(y)] < rank[kind(a)][kind(b)]);
                if end(y) < ops[x].invoke && better {
                    worst = Some((x, y));
                }
            }
        }
    }
    match worst {
        Some(pair) => set_core(values, ops, pair, &add_of, &levels, &seen_at),
        None => Some(Fast::Linearizable(order)),
    }
}

/// Read `j` with only the values of `keep` in its result (any other op unchanged).
fn project(ops: &[LinOp<SetOp>], j: usize, keep: &[u32]) -> (usize, SetOp) {
    let SetOp::Read(r) = &ops[j].op else {
        return (j, ops[j].op.clone());
    };
    let p: Vec<u32> = r.iter().copied().filter(|v| keep.contains(v)).collect();
    (j, SetOp::Read(p.into_boxed_slice()))
}

/// The core of a real-time violation between blocks: `y`, in a later block than `x`,
/// returned before `x` began. See [`set_fast`].
fn set_core(
    values: &Interner,
    ops: &[LinOp<SetOp>],
    (x, y): (usize, usize),
    add_of: &FxHashMap<u32, usize>,
    levels: &[&[usize]],
    seen_at: &FxHashMap<u32, usize>,
) -> Option<Fast<SetOp>> {
    let op = Fast::<SetOp>::op;
    let project = |j: usize, keep: &[u32]| project(ops, j, keep);
    let value = |v: u32| values.value(v).to_string();
    let set = |j: usize| match &ops[j].op {
        SetOp::Read(r) => &r[..],
        SetOp::Add(_) => &[][..],
    };
    let (core, why, relaxed) = match (&ops[x].op, &ops[y].op) {
        (SetOp::Add(v), SetOp::Add(u)) => {
            // `v` is seen at some level that does not have `u` (u's block is later).
            // `v` is added in a block before another, so some read saw it.
            debug_assert!(
                seen_at.contains_key(v),
                "an add before the last block is seen"
            );
            let r = levels[*seen_at.get(v)?][0];
            let why = format!(
                "{} returned before {} began, yet {} saw {} without {}.",
                op(y),
                op(x),
                op(r),
                value(*v),
                value(*u)
            );
            (vec![x, y, r], why, vec![project(r, &[*v, *u])])
        }
        (SetOp::Add(v), SetOp::Read(_)) => {
            let why = format!(
                "{} returned {} before {}, its only add, began.",
                op(y),
                value(*v),
                op(x)
            );
            (vec![x, y], why, vec![project(y, &[*v])])
        }
        (SetOp::Read(_), SetOp::Add(u)) => {
            let why = format!(
                "{} returned before {} began, yet {} does not contain {}.",
                op(y),
                op(x),
                op(x),
                value(*u)
            );
            (vec![x, y], why, vec![project(x, &[*u])])
        }
        (SetOp::Read(_), SetOp::Read(_)) => {
            // `y` is at a later level than `x`, so its set is strictly bigger.
            let v = set(y).iter().find(|v| set(x).binary_search(v).is_err());
            debug_assert!(v.is_some(), "a later level has a value the earlier lacks");
            let v = *v?;
            let why = format!(
                "{} returned before {} began, yet it saw {} and the later read does not: a \
                 set only grows.",
                op(y),
                op(x),
                value(v)
            );
            (
                vec![x, y, add_of[&v]],
                why,
                vec![project(x, &[v]), project(y, &[v])],
            )
        }
    };
    let mut core = core;
    core.sort_unstable();
    core.dedup();
    Some(Fast::NotLinearizable { core, why, relaxed })
}

impl Model for SetModel {
    type State = Box<[u32]>;
    type Op = SetOp;

    fn init(&self) -> Box<[u32]> {
        Box::new([])
    }

    fn step(&self, s: &Box<[u32]>, op: &SetOp) -> Option<Box<[u32]>> {
        match op {
            SetOp::Add(v) => match s.binary_search(v) {
                Ok(_) => Some(s.clone()),
                Err(at) => {
                    let mut n = s.to_vec();
                    n.insert(at, *v);
                    Some(n.into_boxed_slice())
                }
            },
            SetOp::Read(r) => (r == s).then(|| s.clone()),
        }
    }

    fn is_read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }

    /// Values added at most once: [`set_fast`]; otherwise searched.
    fn fast_check(&self, ops: &[LinOp<SetOp>]) -> Option<Fast<SetOp>> {
        set_fast(&self.values, ops)
    }

    fn describe_state(&self, s: &Box<[u32]>) -> String {
        let parts: Vec<String> = s
            .iter()
            .map(|v| self.values.value(*v).to_string())
            .collect();
        format!("#{{{}}}", parts.join(" "))
    }

    fn describe_op(&self, op: &SetOp) -> String {
        match op {
            SetOp::Add(v) => format!("add {}", self.values.value(*v)),
            SetOp::Read(r) => format!("read → {}", self.describe_state(r)),
        }
    }
}

//! Queue models: `fifo-queue` and `unordered-queue`, with `enqueue v` and `dequeue → v`.
//!
//! An ok dequeue returning `nil` means the queue was empty. An `info` dequeue's result is
//! unknown: in a FIFO queue it may remove the head (deterministic, so it is modelled); in an
//! unordered queue it may remove any element, which a deterministic model cannot say, so it is
//! dropped. Dropping it is exact as long as nothing checks emptiness (an extra element never
//! stops a dequeue of another), so when a history has both info dequeues and empty
//! dequeues, the empty dequeues are dropped too: that may miss a violation, never invent one.

use crate::convert::{bad_call, calls_to_ops};
use crate::intern::Interner;
use crate::model::{Fast, LinOp, Model};
use crate::walk::Walk;
use labrys_history::{Error, History};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueOp {
    Enqueue(u32),
    /// Dequeue returning a value.
    Dequeue(u32),
    /// Dequeue that found the queue empty.
    DequeueEmpty,
    /// Dequeue whose result is unknown (FIFO only): removes the head.
    DequeueAny,
}

/// Which order a queue promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Fifo,
    Unordered,
}

#[derive(Clone, Debug)]
pub struct Queue {
    pub order: Order,
    pub values: Interner,
    /// When every value an ok dequeue returns was enqueued at most once: the shared value of
    /// the elements no ok dequeue returns (a crashed dequeue can only have removed one of
    /// those, see [`Queue::step`]).
    pub unobserved_only: Option<u32>,
}

impl Queue {
    pub fn from_history(h: &History, order: Order) -> Result<(Queue, Vec<LinOp<QueueOp>>), Error> {
        let mut values = Interner::new();
        let info_dequeues = h.calls().any(|c| {
            c.f() == "dequeue"
                && c.outcome() != labrys_history::OpType::Ok
                && c.outcome() != labrys_history::OpType::Fail
        });
        let mut ops = calls_to_ops(h, |call, ok| {
            let v = call.value();
            Ok(match call.f() {
                "enqueue" => Some(QueueOp::Enqueue(values.id(v))),
                "dequeue" if !ok => (order == Order::Fifo).then_some(QueueOp::DequeueAny),
                "dequeue" if v.is_nil() => {
                    (order == Order::Fifo || !info_dequeues).then_some(QueueOp::DequeueEmpty)
                }
                "dequeue" => Some(QueueOp::Dequeue(values.id(v))),
                f => {
                    return Err(bad_call(
                        h,
                        call,
                        format!("a queue op has f {f:?}; expected enqueue or dequeue"),
                    ))
                }
            })
        })?;
        drop_unobserved_crashed_enqueues(&mut ops);
        merge_unobserved(&mut values, &mut ops);
        let mut enqueued = vec![0u32; values.len()];
        let mut dequeued = vec![false; values.len()];
        for o in &ops {
            match o.op {
                QueueOp::Enqueue(v) => enqueued[v as usize] += 1,
                QueueOp::Dequeue(v) => dequeued[v as usize] = true,
                _ => {}
            }
        }
        let once = (0..values.len()).all(|v| !dequeued[v] || enqueued[v] <= 1);
        let anon = values.get(&labrys_history::Value::Symbol(ANON.into()));
        let unobserved_only = once.then_some(anon.unwrap_or(u32::MAX));
        Ok((
            Queue {
                order,
                values,
                unobserved_only,
            },
            ops,
        ))
    }
}

/// Drops every `info` enqueue of a value no ok dequeue returns. Exact: take a linearization
/// in which such an enqueue `u` took effect. If nothing ever removes `u`, every dequeue after
/// it took an element ahead of `u` (FIFO: nothing behind `u` reaches the head; unordered: a
/// dequeue names its value), and no empty dequeue can follow it; removing `u` changes none of
/// those steps. If a crashed dequeue removed it (FIFO), remove that dequeue too: from then on
/// the states are the same. Both removed ops are `info`, so the result is a linearization.
/// Without this, each crashed enqueue nobody dequeued may sit at every position of the order,
/// which multiplies the states a FIFO search explores.
fn drop_unobserved_crashed_enqueues(ops: &mut Vec<LinOp<QueueOp>>) {
    let observed: std::collections::HashSet<u32> = ops
        .iter()
        .filter_map(|o| match o.op {
            QueueOp::Dequeue(v) if o.complete.is_some() => Some(v),
            _ => None,
        })
        .collect();
    ops.retain(|o| {
        !(o.complete.is_none() && matches!(o.op, QueueOp::Enqueue(v) if !observed.contains(&v)))
    });
}

/// Renames every enqueued value that no ok dequeue returns to one shared value, shown as
/// `<some value no dequeue returned>`. Exact: `step` compares queue elements only with dequeued values (a
/// dequeue's result), never with each other, so queues that differ only in which unobserved
/// values they hold, at the same positions, behave the same under every op. Without it, the
/// orders of concurrent enqueues nobody dequeues are all distinct states.
const ANON: &str = "<some value no dequeue returned>";

fn merge_unobserved(values: &mut Interner, ops: &mut [LinOp<QueueOp>]) {
    let mut observed = vec![false; values.len()];
    for o in ops.iter() {
        if let QueueOp::Dequeue(v) = o.op {
            observed[v as usize] = true;
        }
    }
    if observed.iter().all(|&b| b) {
        return;
    }
    let anon = values.id(&labrys_history::Value::Symbol(ANON.into()));
    for o in ops.iter_mut() {
        if let QueueOp::Enqueue(v) = o.op {
            if !observed.get(v as usize).copied().unwrap_or(false) {
                o.op = QueueOp::Enqueue(anon);
            }
        }
    }
}

/// The violations of [`fifo_violation`] that concern one value, which hold for unordered
/// queues too (a value dequeued that was never enqueued, or before its enqueue began, or
/// twice); the same restriction argument makes each core enough, since neither kind of
/// queue lets a value's ops depend on the others'. Otherwise the (enqueue, ok dequeue) pairs
/// of the values dequeued, and whether a crashed dequeue is in the history.
#[allow(clippy::type_complexity)]
fn value_violation(
    ops: &[LinOp<QueueOp>],
    anon: u32,
) -> Result<(Vec<(usize, usize)>, bool), Fast<QueueOp>> {
    let mut enq: FxHashMap<u32, usize> = FxHashMap::default();
    let mut deq: FxHashMap<u32, usize> = FxHashMap::default();
    let mut crashed_dequeues = false;
    let name = |i: usize| format!("⟨{i}⟩");
    for (j, o) in ops.iter().enumerate() {
        match o.op {
            QueueOp::Enqueue(v) if v != anon => {
                enq.insert(v, j);
            }
            QueueOp::Dequeue(v) if o.complete.is_some() => {
                if let Some(&first) = deq.get(&v) {
                    let mut core: Vec<usize> = enq.get(&v).into_iter().copied().collect();
                    core.extend([first, j]);
                    core.sort_unstable();
                    let why = format!(
                        "{} and {} return the same value, which was enqueued at most once.",
                        name(first),
                        name(j)
                    );
                    return Err(Fast::NotLinearizable {
                        core,
                        why,
                        relaxed: Vec::new(),
                    });
                }
                deq.insert(v, j);
            }
            QueueOp::DequeueAny => crashed_dequeues = true,
            _ => {}
        }
    }
    let end = |j: usize| ops[j].complete.unwrap_or(usize::MAX);
    let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(deq.len());
    for (v, &d) in &deq {
        match enq.get(v) {
            None => {
                let why = format!("{} returns a value no enqueue may have added.", name(d));
                return Err(Fast::NotLinearizable {
                    core: vec![d],
                    why,
                    relaxed: Vec::new(),
                });
            }
            Some(&e) if end(d) < ops[e].invoke => {
                let why = format!(
                    "{} returned before {}, the only enqueue of its value, began.",
                    name(d),
                    name(e)
                );
                return Err(Fast::NotLinearizable {
                    core: vec![e.min(d), e.max(d)],
                    why,
                    relaxed: Vec::new(),
                });
            }
            Some(&e) => pairs.push((e, d)),
        }
    }
    Ok((pairs, crashed_dequeues))
}

/// Violations of a FIFO queue whose values are enqueued once that show in a few ops
/// (Henzinger, Sezgin & Vafeiadis's "aspects"): a value dequeued that was never enqueued or
/// before it was enqueued, a value dequeued twice, and two values that went in one after
/// the other and came out the other way round (or the first never came out, when no crashed
/// dequeue could have taken it). Each comes with its core: all the ops on one or two values.
///
/// A core is enough: restrict any linearization of the whole history to the ops on the
/// core's values, dropping every other op. The result is a linearization of the core: a
/// FIFO queue's behaviour on some values does not depend on the others (dropping the
/// elements of other values leaves these in the same order, at the head when they were),
/// crashed dequeues cannot have taken a value an ok dequeue returns (see [`Queue::step`]),
/// and dropping a read-only empty dequeue changes no state. So a core that cannot be
/// linearized proves the history cannot. `check` confirms every core with the exact search.
fn fifo_violation(ops: &[LinOp<QueueOp>], anon: u32) -> Option<Fast<QueueOp>> {
    let (mut pairs, crashed_dequeues) = match value_violation(ops, anon) {
        Ok(found) => found,
        Err(core) => return Some(core),
    };
    let name = |i: usize| format!("⟨{i}⟩");
    let end = |j: usize| ops[j].complete.unwrap_or(usize::MAX);
    // Out of order: enqueue x returned before enqueue y began, and dequeue y returned before
    // dequeue x began. Sweep the y's by enqueue invocation, adding each x once its enqueue
    // has returned, and keep the x whose dequeue began last.
    pairs.sort_unstable_by_key(|&(e, _)| ops[e].invoke);
    let mut by_end: Vec<(usize, usize)> = pairs.clone();
    by_end.sort_unstable_by_key(|&(e, _)| end(e));
    let mut latest: Option<(usize, usize)> = None;
    let mut k = 0;
    for &(ey, dy) in &pairs {
        while k < by_end.len() && end(by_end[k].0) < ops[ey].invoke {
            let (ex, dx) = by_end[k];
            if latest.is_none_or(|(_, d)| ops[dx].invoke > ops[d].invoke) {
                latest = Some((ex, dx));
            }
            k += 1;
        }
        if let Some((ex, dx)) = latest.filter(|&(_, dx)| end(dy) < ops[dx].invoke) {
            let mut core = vec![ex, ey, dx, dy];
            core.sort_unstable();
            let why = format!(
                "{} returned before {} began, so its value is ahead in the queue; yet {} \
                 returned before {} began.",
                name(ex),
                name(ey),
                name(dy),
                name(dx)
            );
            return Some(Fast::NotLinearizable {
                core,
                why,
                relaxed: Vec::new(),
            });
        }
    }
    // A value that never came out blocks every value enqueued after it, unless a crashed
    // dequeue may have taken it.
    if !crashed_dequeues {
        let first_stuck = ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.complete.is_some() && o.op == QueueOp::Enqueue(anon))
            .min_by_key(|(j, _)| end(*j));
        if let Some((ex, _)) = first_stuck {
            if let Some(&(ey, dy)) = pairs.iter().find(|&&(ey, _)| end(ex) < ops[ey].invoke) {
                let mut core = vec![ex, ey, dy];
                core.sort_unstable();
                let why = format!(
                    "{} returned before {} began, so its value is ahead in the queue; it \
                     never comes out, yet {} takes the value behind it.",
                    name(ex),
                    name(ey),
                    name(dy)
                );
                return Some(Fast::NotLinearizable {
                    core,
                    why,
                    relaxed: Vec::new(),
                });
            }
        }
    }
    None
}

/// A linearization of a FIFO queue whose values are enqueued once, built greedily in
/// O(n log n); `None` when the greedy choice gets stuck (the history is then searched).
///
/// It walks the history placing one op at a time, only ever ops that may go next in real
/// time (invoked before every unplaced ok op returned), each legal in the queue it builds.
/// First what is always safe to place at once:
/// - the dequeue of the head's value; a crashed dequeue when the head is a value nobody
///   dequeued; on an empty queue, a dequeue that found it empty.
///
/// Any linearization from here can be rearranged to take such an op now: nothing before it
/// can have changed the head (only enqueues can go first; a crashed dequeue cannot take a
/// value somebody dequeued), and it was invoked before every unplaced op returned.
/// Otherwise only what the unplaced ok op that returns first (the *horizon*) needs:
/// - an enqueue: enqueues go in, earliest deadline first (see [`deadlines`]), until it is
///   in. Only this is a guess and may be wrong;
/// - a dequeue of a value not yet enqueued, on an empty queue: that value's enqueue;
/// - anything else: stuck.
///
/// Enqueuing only when the horizon needs it matters: a value put in early may turn out to be
/// ahead of one whose enqueue had not even begun yet but must come out first.
/// A wrong guess costs no exactness: the order is a real linearization by construction, and
/// `check` replays it against the model and real time before believing it; info ops never
/// needed are left out, as their semantics allow. It settles the valid histories the search
/// finds hardest: values enqueued concurrently and dequeued concurrently, where the search
/// keeps both orders of every such pair alive.
fn fifo_witness(ops: &[LinOp<QueueOp>], anon: u32) -> Option<Vec<usize>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut deq_of: FxHashMap<u32, usize> = FxHashMap::default();
    let mut enq_of: FxHashMap<u32, usize> = FxHashMap::default();
    for (j, o) in ops.iter().enumerate() {
        match (o.op, o.complete) {
            (QueueOp::Dequeue(v), Some(_)) if deq_of.insert(v, j).is_some() => return None,
            (QueueOp::Enqueue(v), _) if v != anon && enq_of.insert(v, j).is_some() => return None,
            _ => {}
        }
    }
    let deadline = deadlines(ops, anon, &deq_of);
    let mut admitted = vec![false; ops.len()];
    let mut placed = vec![false; ops.len()];
    let mut enqueues = BinaryHeap::new();
    let mut dequeue_of: FxHashMap<u32, usize> = FxHashMap::default();
    let mut empties: Vec<usize> = Vec::new();
    let mut crashed: VecDeque<usize> = VecDeque::new();
    let mut queue: VecDeque<u32> = VecDeque::new();
    let mut walk = Walk::new(ops);
    while let Some(h) = walk.horizon(ops, |j| {
        admitted[j] = true;
        match ops[j].op {
            QueueOp::Enqueue(_) => enqueues.push(Reverse((deadline[j], j))),
            QueueOp::Dequeue(v) => {
                dequeue_of.insert(v, j);
            }
            QueueOp::DequeueEmpty => empties.push(j),
            QueueOp::DequeueAny => crashed.push_back(j),
        }
    }) {
        let safe = match queue.front() {
            Some(&v) if v == anon => crashed.pop_front(),
            Some(v) => dequeue_of.remove(v),
            None => empties.pop(),
        };
        let j = match (safe, ops[h].op) {
            (Some(j), _) => j,
            (None, QueueOp::Enqueue(_)) => loop {
                let Reverse((_, j)) = enqueues.pop()?;
                if !placed[j] {
                    break j;
                }
            },
            (None, QueueOp::Dequeue(v)) if queue.is_empty() => {
                let &e = enq_of.get(&v)?;
                if !admitted[e] || placed[e] {
                    return None;
                }
                e
            }
            (None, _) => return None,
        };
        match ops[j].op {
            QueueOp::Enqueue(v) => queue.push_back(v),
            QueueOp::Dequeue(_) | QueueOp::DequeueAny => {
                queue.pop_front();
            }
            QueueOp::DequeueEmpty => {}
        }
        placed[j] = true;
        walk.place(ops, j);
    }
    Some(walk.order)
}

/// For each enqueue, the latest moment its value can come out: its dequeue's return, or
/// earlier if a value that must come out after it (enqueued after this enqueue returned)
/// must come out earlier still, or if a dequeue that found the queue empty began after this
/// enqueue returned (the value must be out by then). Values nobody dequeued (and ops that
/// are not enqueues) get `usize::MAX`, unless an empty dequeue follows. Ties go to the
/// dequeue invoked first.
fn deadlines(
    ops: &[LinOp<QueueOp>],
    anon: u32,
    deq_of: &FxHashMap<u32, usize>,
) -> Vec<(usize, usize)> {
    let mut out = vec![(usize::MAX, usize::MAX); ops.len()];
    let mut enqs: Vec<usize> = (0..ops.len())
        .filter(|&j| matches!(ops[j].op, QueueOp::Enqueue(_)))
        .collect();
    enqs.sort_unstable_by_key(|&j| ops[j].invoke);
    // `later[i]`: the smallest deadline among `enqs[i..]`, filled from the back; an enqueue
    // looks up the ones invoked after it returned, all of which are filled by then.
    let mut later = vec![(usize::MAX, usize::MAX); enqs.len() + 1];
    // The same for the returns of ok empty dequeues, by invocation.
    let mut empties: Vec<usize> = (0..ops.len())
        .filter(|&j| ops[j].op == QueueOp::DequeueEmpty && ops[j].complete.is_some())
        .collect();
    empties.sort_unstable_by_key(|&j| ops[j].invoke);
    let mut empty_after = vec![(usize::MAX, usize::MAX); empties.len() + 1];
    for i in (0..empties.len()).rev() {
        let e = &ops[empties[i]];
        empty_after[i] = empty_after[i + 1].min((e.complete.unwrap_or(usize::MAX), e.invoke));
    }
    for i in (0..enqs.len()).rev() {
        let j = enqs[i];
        let own = match ops[j].op {
            QueueOp::Enqueue(v) if v != anon => deq_of
                .get(&v)
                .map(|&d| (ops[d].complete.unwrap_or(usize::MAX), ops[d].invoke)),
            _ => None,
        };
        let own = own.unwrap_or((usize::MAX, usize::MAX));
        let after = match ops[j].complete {
            Some(c) => later[enqs.partition_point(|&k| ops[k].invoke < c)]
                .min(empty_after[empties.partition_point(|&k| ops[k].invoke < c)]),
            None => (usize::MAX, usize::MAX),
        };
        out[j] = own.min(after);
        later[i] = later[i + 1].min(out[j]);
    }
    out
}

impl Model for Queue {
    /// FIFO: elements in order. Unordered: a sorted multiset.
    type State = VecDeque<u32>;
    type Op = QueueOp;

    fn init(&self) -> VecDeque<u32> {
        VecDeque::new()
    }

    fn step(&self, q: &VecDeque<u32>, op: &QueueOp) -> Option<VecDeque<u32>> {
        match (*op, self.order) {
            (QueueOp::Enqueue(v), Order::Fifo) => {
                let mut q = q.clone();
                q.push_back(v);
                Some(q)
            }
            (QueueOp::Enqueue(v), Order::Unordered) => {
                let mut q = q.clone();
                let at = q.partition_point(|&x| x <= v);
                q.insert(at, v);
                Some(q)
            }
            (QueueOp::Dequeue(v), Order::Fifo) => {
                (q.front() == Some(&v)).then(|| q.iter().skip(1).copied().collect())
            }
            (QueueOp::Dequeue(v), Order::Unordered) => {
                let at = q.binary_search(&v).ok()?;
                let mut q = q.clone();
                q.remove(at);
                Some(q)
            }
            (QueueOp::DequeueEmpty, _) => q.is_empty().then(VecDeque::new),
            // When values are enqueued once, a crashed dequeue cannot have taken a value an ok
            // dequeue returns (that one would then find it gone, or it was taken already):
            // it can only have removed an element nobody dequeued.
            (QueueOp::DequeueAny, _) => match (q.front(), self.unobserved_only) {
                (None, _) => None,
                (Some(&h), Some(anon)) if h != anon => None,
                _ => Some(q.iter().skip(1).copied().collect()),
            },
        }
    }

    fn is_read_only(&self, op: &QueueOp) -> bool {
        matches!(op, QueueOp::DequeueEmpty)
    }

    /// Every dequeue "observes" class 0, which only serves [`Model::defer_class`]: no op
    /// produces a token, so nothing is pruned.
    fn observes(&self, op: &QueueOp) -> Option<u64> {
        match op {
            QueueOp::Enqueue(_) => None,
            _ => Some(0),
        }
    }

    /// A FIFO dequeue whose result is unknown removes the head. Moving it later, past
    /// enqueues, to right before the next dequeue of any kind changes no state (it needs a
    /// non-empty queue, so the head it removes is the same, and enqueues append at the other
    /// end); with no dequeue after it, leaving it out changes nothing anyone observes. So it
    /// defers to class 0.
    fn defer_class(&self, op: &QueueOp) -> Option<u64> {
        matches!(op, QueueOp::DequeueAny).then_some(0)
    }

    /// FIFO with values enqueued once: the queue's order is the dequeue order, so
    /// - if `x` and `y` are both dequeued (ok) and `dequeue x` returned before `dequeue y`
    ///   was invoked, then `enqueue x` comes before `enqueue y` (had `y` gone in first, it
    ///   would have come out first);
    /// - if `enqueue x` returned before `enqueue y` was invoked, `dequeue x` comes before
    ///   `dequeue y` (a crashed dequeue cannot have removed `x`, see [`Queue::step`]).
    ///
    /// Both hold in every linearization. Only pairs concurrent in real time are listed (the
    /// others are ordered by real time already, or contradict it, which the search finds).
    /// Without them the search tries every order of concurrent enqueues and learns which
    /// was right only when the values come out, possibly much later.
    ///
    /// Crashed dequeues are interchangeable (each may remove the head at any time after its
    /// invocation): if a linearization uses a later-invoked one where an earlier one is
    /// unused or used later, swapping them gives another linearization (the earlier one was
    /// invoked by then, and nothing has to follow an op that never returned). So they are
    /// also chained in invocation order: the search uses them first to last, instead of
    /// trying every subset.
    fn extra_order(&self, ops: &[&LinOp<QueueOp>]) -> Vec<(usize, usize)> {
        if self.order != Order::Fifo {
            return Vec::new();
        }
        let mut any: Vec<usize> = (0..ops.len())
            .filter(|&j| ops[j].op == QueueOp::DequeueAny && ops[j].complete.is_none())
            .collect();
        any.sort_unstable_by_key(|&j| ops[j].invoke);
        let chain = any.windows(2).map(|w| (w[0], w[1]));
        let Some(anon) = self.unobserved_only else {
            return chain.collect();
        };
        let end = |j: usize| ops[j].complete.unwrap_or(usize::MAX);
        let mut enq: FxHashMap<u32, usize> = FxHashMap::default();
        let mut deq: FxHashMap<u32, Option<usize>> = FxHashMap::default();
        for (j, o) in ops.iter().enumerate() {
            match o.op {
                QueueOp::Enqueue(v) if v != anon => {
                    enq.insert(v, j);
                }
                QueueOp::Dequeue(v) if o.complete.is_some() => {
                    // A value dequeued twice gets no pairs (the search rejects it anyway).
                    deq.entry(v).and_modify(|d| *d = None).or_insert(Some(j));
                }
                _ => {}
            }
        }
        let pairs: Vec<(usize, usize)> = enq
            .iter()
            .filter_map(|(v, &e)| deq.get(v).copied().flatten().map(|d| (e, d)))
            .collect();
        let mut out: Vec<(usize, usize)> = chain.collect();
        // Over the (enqueue, dequeue) pairs of the values: for two values whose `a` ops
        // overlap in time, order those by their `b` ops when those are ordered.
        let mut order_by = |a: fn(&(usize, usize)) -> usize, b: fn(&(usize, usize)) -> usize| {
            let mut sorted = pairs.clone();
            sorted.sort_unstable_by_key(|p| ops[a(p)].invoke);
            for (i, x) in sorted.iter().enumerate() {
                for y in &sorted[i + 1..] {
                    if ops[a(y)].invoke > end(a(x)) {
                        break;
                    }
                    if end(b(x)) < ops[b(y)].invoke {
                        out.push((a(x), a(y)));
                    } else if end(b(y)) < ops[b(x)].invoke {
                        out.push((a(y), a(x)));
                    }
                }
            }
        };
        order_by(|p| p.0, |p| p.1); // enqueues, in the order their values came out
        order_by(|p| p.1, |p| p.0); // dequeues, in the order their values went in
        out
    }

    /// FIFO queues whose values are enqueued once: the violations of [`fifo_violation`], or
    /// else the greedy linearization of [`fifo_witness`], both O(n log n); histories with
    /// neither are searched.
    fn fast_check(&self, ops: &[LinOp<QueueOp>]) -> Option<Fast<QueueOp>> {
        match (self.order, self.unobserved_only) {
            (Order::Fifo, Some(anon)) => fifo_violation(ops, anon)
                .or_else(|| fifo_witness(ops, anon).map(Fast::Linearizable)),
            (Order::Unordered, Some(anon)) => value_violation(ops, anon).err(),
            _ => None,
        }
    }

    fn describe_state(&self, q: &VecDeque<u32>) -> String {
        let parts: Vec<String> = q
            .iter()
            .map(|v| self.values.value(*v).to_string())
            .collect();
        format!("[{}]", parts.join(" "))
    }

    fn describe_op(&self, op: &QueueOp) -> String {
        match *op {
            QueueOp::Enqueue(v) => format!("enqueue {}", self.values.value(v)),
            QueueOp::Dequeue(v) => format!("dequeue → {}", self.values.value(v)),
            QueueOp::DequeueEmpty => "dequeue → empty".into(),
            QueueOp::DequeueAny => "dequeue (result unknown)".into(),
        }
    }
}

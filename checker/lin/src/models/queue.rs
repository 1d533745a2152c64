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
use crate::model::{LinOp, Model};
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
    fn extra_order(&self, ops: &[&LinOp<QueueOp>]) -> Vec<(usize, usize)> {
        let Some(anon) = self.unobserved_only else {
            return Vec::new();
        };
        if self.order != Order::Fifo {
            return Vec::new();
        }
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
        let mut out = Vec::new();
        // (enqueue, dequeue) of each value; for every two whose enqueues overlap, order
        // them by their dequeues, and for every two whose dequeues overlap, by their enqueues.
        let mut by_enq: Vec<(usize, usize)> = pairs.clone();
        by_enq.sort_unstable_by_key(|&(e, _)| ops[e].invoke);
        for (i, &(ex, dx)) in by_enq.iter().enumerate() {
            for &(ey, dy) in &by_enq[i + 1..] {
                if ops[ey].invoke > end(ex) {
                    break;
                }
                if end(dx) < ops[dy].invoke {
                    out.push((ex, ey));
                } else if end(dy) < ops[dx].invoke {
                    out.push((ey, ex));
                }
            }
        }
        let mut by_deq = pairs;
        by_deq.sort_unstable_by_key(|&(_, d)| ops[d].invoke);
        for (i, &(ex, dx)) in by_deq.iter().enumerate() {
            for &(ey, dy) in &by_deq[i + 1..] {
                if ops[dy].invoke > end(dx) {
                    break;
                }
                if end(ex) < ops[ey].invoke {
                    out.push((dx, dy));
                } else if end(ey) < ops[ex].invoke {
                    out.push((dy, dx));
                }
            }
        }
        out
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

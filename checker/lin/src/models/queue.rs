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
        merge_unobserved(&mut values, &mut ops);
        Ok((Queue { order, values }, ops))
    }
}

/// Renames every enqueued value that no ok dequeue returns to one shared value, shown as
/// `<some value no dequeue returned>`. Exact: `step` compares queue elements only with dequeued values (a
/// dequeue's result), never with each other, so queues that differ only in which unobserved
/// values they hold, at the same positions, behave the same under every op. Without it, the
/// orders of concurrent enqueues nobody dequeues are all distinct states.
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
    let anon = values.id(&labrys_history::Value::Symbol(
        "<some value no dequeue returned>".into(),
    ));
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
            (QueueOp::DequeueAny, _) => {
                (!q.is_empty()).then(|| q.iter().skip(1).copied().collect())
            }
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

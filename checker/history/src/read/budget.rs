//! How much memory reading may use, and the running count that enforces it.
//!
//! A history is held in memory once read, so a file can ask for more than the machine has: a
//! single op whose value is a list of 100 million elements is 200 MB of text and several GB of
//! values. Every reader therefore counts what it builds against [`ReadLimits`]:
//!
//! - while a record is parsed, each value is charged as it is built (its slot in the enclosing
//!   list, with the list's spare capacity; the bytes of strings), and the text held for it (a
//!   record longer than the read buffer, a Jepsen log line) is checked too, so a giant record
//!   is stopped while it grows, not after;
//! - one record may hold at most [`ReadLimits::record`] (a quarter of the limit), so no single
//!   record can take what the rest of the history and the checker need;
//! - when a record becomes an op, what the op keeps (estimated by walking it, with the
//!   allocator's overhead per allocation and the pair the history adds) is added to a running
//!   total, which may not pass [`ReadLimits::total`].
//!
//! Passing either stops reading with [`Error::OverMemoryLimit`] naming the record's
//! file:line:col: the history may well be fine, the limit is what stopped us, so `labrys check`
//! answers `unknown` (exit 2) and says how to raise it. The figures are estimates of heap
//! bytes, deliberately on the high side.

use crate::error::Error;
use crate::history::Pair;
use crate::op::Op;
use crate::value::Value;
use std::cell::Cell;
use std::mem::size_of;
use std::sync::Arc;

/// What reading may hold in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Bytes all the ops read may hold together (estimated).
    pub total: u64,
    /// Bytes one record may hold while it is read, its text included.
    pub record: u64,
}

impl ReadLimits {
    /// No limit (tests, and callers that bound memory some other way).
    pub const UNLIMITED: ReadLimits = ReadLimits {
        total: u64::MAX,
        record: u64::MAX,
    };

    /// Reading within `memory` bytes: all of it for the ops, a quarter for any one record.
    pub fn within(memory: u64) -> ReadLimits {
        ReadLimits {
            total: memory,
            record: (memory / 4).max(1),
        }
    }
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits::UNLIMITED
    }
}

/// Which limit was passed, and what was held when it was.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Exceeded {
    Record { held: u64 },
    Total { held: u64 },
}

/// The running count of one file's reading.
pub(crate) struct Budget {
    limits: ReadLimits,
    /// Bytes kept by the ops finished so far.
    used: Cell<u64>,
    /// Bytes charged to the record being read.
    record: Cell<u64>,
    records: Cell<u64>,
    /// Set when a charge failed, so a reader that only sees a generic error (serde's) can
    /// tell that this was the reason.
    exceeded: Cell<Option<Exceeded>>,
}

impl Budget {
    pub(crate) fn new(limits: ReadLimits) -> Budget {
        Budget {
            limits,
            used: Cell::new(0),
            record: Cell::new(0),
            records: Cell::new(0),
            exceeded: Cell::new(None),
        }
    }

    pub(crate) fn unlimited() -> Budget {
        Budget::new(ReadLimits::UNLIMITED)
    }

    /// Bytes the ops read so far keep.
    pub(crate) fn used(&self) -> u64 {
        self.used.get()
    }

    /// Charges `n` bytes to the record being read.
    #[inline]
    pub(crate) fn charge(&self, n: u64) -> Result<(), Exceeded> {
        let r = self.record.get().saturating_add(n);
        self.record.set(r);
        self.check(r)
    }

    /// Checks that `n` more bytes held for a moment (text of the record being read) fit,
    /// without charging them.
    #[inline]
    pub(crate) fn check_transient(&self, n: u64) -> Result<(), Exceeded> {
        self.check(self.record.get().saturating_add(n))
    }

    #[inline]
    fn check(&self, record: u64) -> Result<(), Exceeded> {
        let e = if record > self.limits.record {
            Exceeded::Record { held: record }
        } else if self.used.get().saturating_add(record) > self.limits.total {
            Exceeded::Total {
                held: self.used.get().saturating_add(record),
            }
        } else {
            return Ok(());
        };
        self.exceeded.set(Some(e));
        Err(e)
    }

    /// Pushes onto a vector being built for the current record, charging any growth first.
    #[inline]
    pub(crate) fn push<T>(&self, v: &mut Vec<T>, x: T) -> Result<(), Exceeded> {
        if v.len() == v.capacity() {
            let grow = v.capacity().max(4);
            self.charge((grow * size_of::<T>()) as u64)?;
            v.reserve_exact(grow);
        }
        v.push(x);
        Ok(())
    }

    /// The record became `op`: what it keeps replaces what was charged while reading it.
    pub(crate) fn keep(&self, op: &Op) -> Result<(), Exceeded> {
        self.record.set(0);
        let kept = op_bytes(op);
        self.check(kept)?;
        self.used.set(self.used.get() + kept);
        self.records.set(self.records.get() + 1);
        Ok(())
    }

    /// An op already kept now holds `after` bytes instead of `before` (a reader's hook moved
    /// its value into a compact form elsewhere): the running total follows.
    pub(crate) fn rekeep(&self, before: u64, after: u64) {
        self.used
            .set(self.used.get().saturating_sub(before).saturating_add(after));
    }

    /// The reason the last charge failed, if one did.
    pub(crate) fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded.get()
    }

    /// The error for a passed limit, at the record that starts at `line`:`col`.
    pub(crate) fn error(&self, e: Exceeded, source: &str, line: u32, col: u32) -> Error {
        let msg = match e {
            Exceeded::Record { held } => format!(
                "this record had taken {} of memory when reading stopped, more than the {} one \
                 record may use (a quarter of the memory limit of {}); not read. Raise \
                 --memory-limit to read it (without it, the limit is half of this machine's \
                 memory)",
                size(held),
                size(self.limits.record),
                size(self.limits.total)
            ),
            Exceeded::Total { held } => format!(
                "the history needs more than the memory limit of {}: the {} records before this \
                 one and this one hold {}; reading stopped here. Raise --memory-limit to read it \
                 (without it, the limit is half of this machine's memory)",
                size(self.limits.total),
                self.records.get(),
                size(held)
            ),
        };
        Error::over_memory_limit(source, line, col, msg)
    }
}

/// Bytes as a person reads them: `1.5 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut x = bytes as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit < UNITS.len() - 1 {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

/// Heap bytes one allocation of `n` bytes takes, with the allocator's header and rounding.
fn alloc(n: usize) -> u64 {
    if n == 0 {
        0
    } else {
        (n + 8).next_multiple_of(16).max(32) as u64
    }
}

/// Heap bytes a value owns (not its own slot).
pub(crate) fn value_heap(v: &Value) -> u64 {
    match v {
        Value::Str(s) | Value::Keyword(s) | Value::Symbol(s) | Value::BigInt(s) => alloc(s.len()),
        Value::List(items) | Value::Set(items) => {
            alloc(items.capacity() * size_of::<Value>()) + items.iter().map(value_heap).sum::<u64>()
        }
        Value::Map(m) => {
            alloc(m.capacity() * size_of::<(Value, Value)>())
                + m.iter()
                    .map(|(k, v)| value_heap(k) + value_heap(v))
                    .sum::<u64>()
        }
        Value::Nil | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Char(_) => 0,
    }
}

/// Bytes an op keeps once read: itself in the history's list, its pair, its values.
pub(crate) fn op_bytes(op: &Op) -> u64 {
    (size_of::<Op>() + size_of::<Pair>()) as u64
        + value_heap(&op.value)
        + alloc(op.extra.capacity() * size_of::<(Arc<str>, Value)>())
        + op.extra.iter().map(|(_, v)| value_heap(v)).sum::<u64>()
}

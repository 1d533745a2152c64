//! Transactions as the checker sees them: a history's client calls turned into micro-op lists
//! with interned keys and values.
//!
//! Both workloads share this shape: `[:append k v]`, `[:w k v]` and `[:r k value]` micro-ops
//! (EDN keywords, symbols or JSON strings alike). Interning keys and values to `u32` once here
//! keeps every later pass (version orders, dependency edges) on plain integers, which is what
//! makes a million-transaction history cheap. Malformed micro-ops are errors naming the file
//! and line, never panics.

use labrys_history::{Call, Error, History, OpType, Value};
use rustc_hash::FxHashMap as HashMap;

/// What finally happened to a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// One micro-op, with interned key and values. For reads, `None` is an unknown result (nil
/// in an invocation, or a read of a transaction that did not complete ok).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mop {
    Append {
        key: u32,
        val: u32,
    },
    /// A list-append read: the elements in order (see [`Txns::list`]); `None` is unknown.
    ReadList {
        key: u32,
        list: Option<ListRef>,
    },
    Write {
        key: u32,
        val: u32,
    },
    /// A register read; `Some(NIL)` reads the initial (nil) state.
    ReadReg {
        key: u32,
        val: Option<u32>,
    },
}

/// Where a read's elements sit in [`Txns::elems`]: one arena for every read, rather than one
/// allocation per read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRef {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

/// Interned id of `nil` among register values.
pub const NIL: u32 = 0;

/// One transaction.
#[derive(Clone, Debug)]
pub struct Txn {
    pub outcome: Outcome,
    pub process: i64,
    /// Position of the invocation and completion in `History::ops` (`usize::MAX` if none).
    pub invoke_pos: usize,
    pub complete_pos: usize,
    /// Line of the invocation (0 when not from a file).
    pub line: u32,
    /// Position of the call in `History::pairs`.
    pub call: usize,
    pub mops: Vec<Mop>,
}

/// The transactions of a history, with the tables to turn interned ids back into values.
#[derive(Debug, Default)]
pub struct Txns {
    pub txns: Vec<Txn>,
    /// The elements of every list read, back to back.
    pub elems: Vec<u32>,
    pub keys: Vec<Value>,
    pub vals: Vec<Value>,
    pub source: String,
    /// The values of the ops a compact reading left empty ([`crate::compact`]), from which
    /// [`Txns::describe`] and [`Txns::op_value`] rebuild them; `None` when read from a
    /// [`History`] that holds every value.
    pub compact: Option<Box<crate::compact::Stripped>>,
}

#[derive(Default)]
pub(crate) struct Interner {
    ids: HashMap<Value, u32>,
    /// Integers, the usual case, without hashing or cloning a `Value`.
    ints: HashMap<i64, u32>,
    pub(crate) vals: Vec<Value>,
}

impl Interner {
    pub(crate) fn id(&mut self, v: &Value) -> u32 {
        if let Value::Int(n) = v {
            if let Some(&i) = self.ints.get(n) {
                return i;
            }
            let i = self.vals.len() as u32;
            self.vals.push(v.clone());
            self.ints.insert(*n, i);
            return i;
        }
        if let Some(&i) = self.ids.get(v) {
            return i;
        }
        let i = self.vals.len() as u32;
        self.vals.push(v.clone());
        self.ids.insert(v.clone(), i);
        i
    }
}

/// Which micro-op vocabulary a workload uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ListAppend,
    RwRegister,
}

impl Txns {
    /// Reads every client call whose `f` is `txn` (or absent) as a transaction.
    pub fn from_history(h: &History, kind: Kind) -> Result<Txns, Error> {
        // One sequential pass: reading the calls in parallel chunks was tried, and under a
        // loaded machine it bought no time for ~200 MB more peak memory (two copies of the
        // read elements while merging).
        let c = parse_calls(h, kind, 0..h.pairs.len())?;
        Ok(Txns {
            txns: c.txns,
            elems: c.elems,
            keys: c.keys.vals,
            vals: c.vals.vals,
            source: h.source.clone(),
            compact: None,
        })
    }

    /// The value of op `pos` of `h` as recorded: the op's own, or rebuilt from the compact
    /// form when a compact reading left it empty.
    pub fn op_value<'a>(&'a self, h: &'a History, pos: usize) -> std::borrow::Cow<'a, Value> {
        match self.compact.as_ref().and_then(|c| c.rebuild(self, pos)) {
            Some(v) => std::borrow::Cow::Owned(v),
            None => std::borrow::Cow::Borrowed(&h.ops[pos].value),
        }
    }

    /// `T12` plus where to find it: process, line, and the micro-ops as recorded.
    pub fn describe(&self, h: &History, t: u32) -> String {
        let txn = &self.txns[t as usize];
        let call = h.call(h.pairs[txn.call]);
        let value = match txn.outcome {
            Outcome::Ok => self.op_value(h, txn.complete_pos),
            _ => self.op_value(h, txn.invoke_pos),
        };
        let outcome = match txn.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        let at = if txn.line > 0 {
            format!("line {}", txn.line)
        } else {
            format!("op {}", call.invoke.index)
        };
        format!("T{t} (process {}, {at}, {outcome}: {})", txn.process, value)
    }

    /// The elements of a list read.
    pub fn list(&self, r: ListRef) -> &[u32] {
        &self.elems[r.start as usize..(r.start + r.len) as usize]
    }

    pub fn key(&self, k: u32) -> &Value {
        &self.keys[k as usize]
    }

    pub fn val(&self, v: u32) -> &Value {
        &self.vals[v as usize]
    }
}

/// Transactions read from a run of calls, with their interners.
struct Chunk {
    txns: Vec<Txn>,
    elems: Vec<u32>,
    keys: Interner,
    vals: Interner,
}

/// Reads the transactions among calls `range` (positions in `History::pairs`).
fn parse_calls(h: &History, kind: Kind, range: std::ops::Range<usize>) -> Result<Chunk, Error> {
    let mut c = Chunk {
        txns: Vec::with_capacity(range.len()),
        elems: Vec::new(),
        keys: Interner::default(),
        vals: Interner::default(),
    };
    c.vals.id(&Value::Nil); // NIL == 0
    for ci in range {
        let call = h.call(h.pairs[ci]);
        let f = call.f();
        if !(f.is_empty() || f == "txn") {
            continue;
        }
        let outcome = Outcome::of(&call);
        let mops = parse_call(
            h,
            &call,
            outcome,
            kind,
            &mut c.keys,
            &mut c.vals,
            &mut c.elems,
        )?;
        c.txns.push(Txn::of(&call, ci, outcome, mops));
    }
    Ok(c)
}

impl Txn {
    /// The transaction of `call` (the `ci`-th call of its history).
    pub(crate) fn of(call: &Call<'_>, ci: usize, outcome: Outcome, mops: Vec<Mop>) -> Txn {
        Txn {
            outcome,
            process: call.process(),
            invoke_pos: call.invoke_pos,
            complete_pos: call.complete_pos,
            line: call.invoke.line,
            call: ci,
            mops,
        }
    }
}

impl Outcome {
    /// A call's outcome (`info` for a crash or no completion).
    pub(crate) fn of(call: &Call<'_>) -> Outcome {
        match call.outcome() {
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        }
    }
}

/// The micro-ops of `call`'s transaction value (its completion's when `ok`), with the error a
/// value that is no list of micro-ops gets, at the line it came from.
pub(crate) fn parse_call(
    h: &History,
    call: &Call<'_>,
    outcome: Outcome,
    kind: Kind,
    keys: &mut Interner,
    vals: &mut Interner,
    elems: &mut Vec<u32>,
) -> Result<Vec<Mop>, Error> {
    let line = call
        .completion
        .filter(|_| outcome == Outcome::Ok)
        .unwrap_or(call.invoke)
        .line;
    let value = call.value();
    let bad = |msg: String| Error::malformed(&h.source, line, msg);
    let Some(list) = value.as_seq() else {
        return Err(bad(format!(
            "transaction value is {}; expected a list of micro-ops like [[:append k v] [:r k nil]]",
            value.kind()
        )));
    };
    parse_mops(kind, list, outcome == Outcome::Ok, keys, vals, elems, &bad)
}

/// The micro-ops of one transaction value `list`, interning keys and values and putting list
/// reads' elements in `elems`; `read_known`: reads carry their results (an ok completion).
pub(crate) fn parse_mops(
    kind: Kind,
    list: &[Value],
    read_known: bool,
    keys: &mut Interner,
    vals: &mut Interner,
    elems: &mut Vec<u32>,
    bad: &dyn Fn(String) -> Error,
) -> Result<Vec<Mop>, Error> {
    let mut mops = Vec::with_capacity(list.len());
    for m in list {
        let parts = m.as_seq().unwrap_or(&[]);
        if parts.len() != 3 {
            return Err(bad(format!(
                "micro-op {m} is not a 3-element list; expected [f key value]"
            )));
        }
        let tag = parts[0].as_name().unwrap_or("");
        let key = keys.id(&parts[1]);
        let v = &parts[2];
        let mop = match (kind, tag) {
            (Kind::ListAppend, "append") => Mop::Append {
                key,
                val: vals.id(v),
            },
            (Kind::ListAppend, "r") => {
                let start = elems.len() as u32;
                let list = if !read_known {
                    None
                } else if v.is_nil() {
                    // An ok read of nil: the key has never been appended to.
                    Some(ListRef { start, len: 0 })
                } else {
                    let Some(items) = v.as_seq() else {
                        return Err(bad(format!(
                            "read of key {} returned {}; expected a list or nil",
                            parts[1],
                            v.kind()
                        )));
                    };
                    for e in items {
                        elems.push(vals.id(e));
                    }
                    Some(ListRef {
                        start,
                        len: elems.len() as u32 - start,
                    })
                };
                Mop::ReadList { key, list }
            }
            (Kind::RwRegister, "w") => Mop::Write {
                key,
                val: vals.id(v),
            },
            (Kind::RwRegister, "r") => Mop::ReadReg {
                key,
                val: if read_known { Some(vals.id(v)) } else { None },
            },
            _ => {
                let expected = match kind {
                    Kind::ListAppend => ":append or :r",
                    Kind::RwRegister => ":w or :r",
                };
                return Err(bad(format!(
                    "micro-op {m} has function {}; expected {expected}",
                    parts[0]
                )));
            }
        };
        mops.push(mop);
    }
    Ok(mops)
}

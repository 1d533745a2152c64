//! Compact reading of list-append and rw-register histories: the micro-ops go straight into
//! flat integer arrays as each record is read, and the ops keep no value trees.
//!
//! Why: a transaction's value as [`Value`]s is a tree of small allocations (a list of
//! three-element lists, a read's list of integers), about 1.3 KB per op; ten million
//! transactions (twenty million ops) would take ~27 GB before the check even starts. Here a
//! reader hook ([`labrys_history::read::OpHook`]) decodes each op's value once into
//! [`CMop`]s (tag, interned key, interned value: 12 bytes), list reads' elements into one
//! arena, and leaves the op an empty list (no allocation). The [`History`] keeps everything
//! else (pairing, lines, processes, time), so pairing, the shape check, lint and the per-`f`
//! stats run on it unchanged.
//!
//! Nothing is lost: a value is stripped only when it has the one form that can be rebuilt
//! exactly (a list of `[tag key value]` lists whose tags are all keywords, all strings or all
//! symbols, naming the workload's micro-ops; a read in an invocation or a failed or crashed
//! completion is nil; a list-append read returns nil or a list). Any other value stays in its
//! op, and [`Reader::into_txns`] reads it the way [`Txns::from_history`] does, so bad input
//! gets the same error at the same place. [`Stripped::rebuild`] gives back a stripped value
//! for explanations and reports ([`Txns::describe`], [`restore`]).
//!
//! The interned ids end up the ones [`Txns::from_history`] gives (keys and values numbered in
//! the order the calls first use them), so the checker's passes, and with them its anomalies
//! and explanations, are the same as on the full history: ids are interned in file order while
//! reading, then renumbered by a pass over the calls in invocation order.

use crate::txn::{parse_call, Interner, Kind, ListRef, Mop, Outcome, Txn, Txns, NIL};
use labrys_history::read::OpHook;
use labrys_history::{Error, History, Op, OpType, Value, Warning};
use rustc_hash::FxHashMap as HashMap;

/// A micro-op of a stripped op, with ids as the reader interned them (renumbered by
/// [`Reader::into_txns`]).
#[derive(Clone, Copy, Debug)]
pub struct CMop {
    pub key: u32,
    /// The appended or written value; a register read's value; a list read's index in
    /// [`Stripped::lists`]; unused for [`Tag::ReadNil`].
    pub val: u32,
    pub tag: Tag,
}

/// What a [`CMop`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `append` (list-append) or `w` (rw-register).
    Write,
    /// A read of nil (an invocation's, or a list-append read of a key never appended to).
    ReadNil,
    /// A list-append read returning a list.
    ReadList,
    /// An ok rw-register read (its value may be nil).
    ReadReg,
}

/// How the tags of a stripped op were written (0: the op was not stripped).
const KEYWORD: u8 = 1;
const STRING: u8 = 2;
const SYMBOL: u8 = 3;

/// Marks an id of a value that no transaction's chosen op uses: an index into the extra table.
const EXTRA: u32 = 1 << 31;
const UNMAPPED: u32 = u32::MAX;

/// The stripped values of a history, enough to rebuild each exactly.
#[derive(Debug, Default)]
pub struct Stripped {
    kind: Option<Kind>,
    /// Per op: 0 when its value is in the op, else how its tags were written.
    style: Vec<u8>,
    /// Per op, where its micro-ops start in `mops` (one more entry at the end).
    starts: Vec<u32>,
    mops: Vec<CMop>,
    /// List reads, into [`Txns::elems`].
    lists: Vec<ListRef>,
    extra_keys: Vec<Value>,
    extra_vals: Vec<Value>,
    /// Lint's `duplicate-writes` warning, found on the compact form.
    duplicate_writes: Option<Warning>,
}

impl Stripped {
    /// The value of op `pos` when it was stripped (`None`: the op holds it).
    pub fn rebuild(&self, t: &Txns, pos: usize) -> Option<Value> {
        let style = *self.style.get(pos)?;
        if style == 0 {
            return None;
        }
        let name = |s: &str| match style {
            KEYWORD => Value::Keyword(s.into()),
            STRING => Value::Str(s.into()),
            _ => Value::Symbol(s.into()),
        };
        let key = |k: u32| {
            if k & EXTRA != 0 {
                self.extra_keys[(k & !EXTRA) as usize].clone()
            } else {
                t.key(k).clone()
            }
        };
        let val = |v: u32| {
            if v & EXTRA != 0 {
                self.extra_vals[(v & !EXTRA) as usize].clone()
            } else {
                t.val(v).clone()
            }
        };
        let write = match self.kind {
            Some(Kind::RwRegister) => "w",
            _ => "append",
        };
        let range = self.starts[pos] as usize..self.starts[pos + 1] as usize;
        Some(Value::List(
            self.mops[range]
                .iter()
                .map(|m| {
                    let (f, v) = match m.tag {
                        Tag::Write => (write, val(m.val)),
                        Tag::ReadNil => ("r", Value::Nil),
                        Tag::ReadReg => ("r", val(m.val)),
                        Tag::ReadList => (
                            "r",
                            Value::List(
                                t.list(self.lists[m.val as usize])
                                    .iter()
                                    .map(|&e| val(e))
                                    .collect(),
                            ),
                        ),
                    };
                    Value::List(vec![name(f), key(m.key), v])
                })
                .collect(),
        ))
    }

    /// Lint's `duplicate-writes` warning for the history, if it has one.
    pub fn duplicate_writes(&self) -> Option<Warning> {
        self.duplicate_writes.clone()
    }
}

/// The compact form being read: pass [`Reader::hook`] to
/// [`labrys_history::read_file_with_hook`], then turn it into [`Txns`] with
/// [`Reader::into_txns`].
pub struct Reader {
    kind: Kind,
    keys: Interner,
    vals: Interner,
    s: Stripped,
    /// List reads' elements (reader ids until renumbered).
    elems: Vec<u32>,
}

impl Reader {
    pub fn new(kind: Kind) -> Reader {
        let mut vals = Interner::default();
        vals.id(&Value::Nil); // NIL == 0
        Reader {
            kind,
            keys: Interner::default(),
            vals,
            s: Stripped {
                kind: Some(kind),
                starts: vec![0],
                ..Stripped::default()
            },
            elems: Vec::new(),
        }
    }

    /// The hook for the history reader: strips `op` (at position `pos`) when its value has the
    /// form that can be rebuilt; returns the bytes its compact form holds.
    pub fn hook(&mut self) -> impl FnMut(usize, &mut Op) -> u64 + '_ {
        move |pos, op| self.take(pos, op)
    }

    /// Takes op `pos` into the compact form (see [`Reader::hook`]).
    pub fn take(&mut self, pos: usize, op: &mut Op) -> u64 {
        debug_assert_eq!(pos, self.s.style.len());
        let (m0, e0, l0, v0) = (
            self.s.mops.len(),
            self.elems.len(),
            self.s.lists.len(),
            self.vals.vals.len() + self.keys.vals.len(),
        );
        let style = if op.is_client() && (op.f.is_empty() || &*op.f == "txn") {
            self.decode(&op.value, op.kind == OpType::Ok)
        } else {
            None
        };
        let style = match style {
            Some(s) => {
                op.value = Value::List(Vec::new());
                s
            }
            None => {
                self.s.mops.truncate(m0);
                self.elems.truncate(e0);
                self.s.lists.truncate(l0);
                0
            }
        };
        self.s.style.push(style);
        self.s.starts.push(self.s.mops.len() as u32);
        let new_vals = (self.vals.vals.len() + self.keys.vals.len() - v0) as u64;
        ((self.s.mops.len() - m0) * 12
            + (self.elems.len() - e0) * 4
            + (self.s.lists.len() - l0) * 8) as u64
            + 5
            + new_vals * 64
    }

    /// Decodes a value of the strippable form into `mops`; `None` when it is not.
    fn decode(&mut self, v: &Value, ok: bool) -> Option<u8> {
        let Value::List(list) = v else { return None };
        let mut style = 0;
        for m in list {
            let Value::List(parts) = m else { return None };
            let [tag, k, x] = parts.as_slice() else {
                return None;
            };
            let (s, name) = match tag {
                Value::Keyword(n) => (KEYWORD, n),
                Value::Str(n) => (STRING, n),
                Value::Symbol(n) => (SYMBOL, n),
                _ => return None,
            };
            if style != 0 && style != s {
                return None;
            }
            style = s;
            let write = match self.kind {
                Kind::ListAppend => "append",
                Kind::RwRegister => "w",
            };
            let key = self.keys.id(k);
            let (tag, val) = if **name == *write {
                (Tag::Write, self.vals.id(x))
            } else if &**name != "r" {
                return None;
            } else if !ok || x.is_nil() {
                match (ok, x) {
                    (_, Value::Nil) => (Tag::ReadNil, 0),
                    _ => return None,
                }
            } else {
                match (self.kind, x) {
                    (Kind::RwRegister, x) => (Tag::ReadReg, self.vals.id(x)),
                    (Kind::ListAppend, Value::List(items)) => {
                        let start = self.elems.len() as u32;
                        for e in items {
                            let id = self.vals.id(e);
                            self.elems.push(id);
                        }
                        self.s.lists.push(ListRef {
                            start,
                            len: items.len() as u32,
                        });
                        (Tag::ReadList, self.s.lists.len() as u32 - 1)
                    }
                    _ => return None,
                }
            };
            self.s.mops.push(CMop { key, val, tag });
        }
        // An empty transaction: any style rebuilds it.
        Some(if style == 0 { KEYWORD } else { style })
    }

    /// The transactions of `h` (read with this reader's hook), as [`Txns::from_history`]
    /// would read them from the full history: the same ids, micro-ops and errors.
    pub fn into_txns(self, h: &History) -> Result<Txns, Error> {
        let Reader {
            kind,
            mut keys,
            mut vals,
            mut s,
            mut elems,
        } = self;
        let mut kmap: Vec<u32> = vec![UNMAPPED; keys.vals.len()];
        let mut vmap: Vec<u32> = vec![UNMAPPED; vals.vals.len()];
        let mut out_keys: Vec<Value> = Vec::new();
        let mut out_vals: Vec<Value> = Vec::new();
        // The final id of reader id `id`: numbered at first use, the value moved out.
        fn fin(id: u32, map: &mut Vec<u32>, from: &mut [Value], out: &mut Vec<Value>) -> u32 {
            let i = id as usize;
            if i >= map.len() {
                map.resize(i + 1, UNMAPPED);
            }
            if map[i] == UNMAPPED {
                map[i] = out.len() as u32;
                out.push(std::mem::take(&mut from[i]));
            }
            map[i]
        }
        fin(NIL, &mut vmap, &mut vals.vals, &mut out_vals);
        let mut txns: Vec<Txn> = Vec::with_capacity(h.pairs.len());
        for (ci, pair) in h.pairs.iter().enumerate() {
            let call = h.call(*pair);
            let f = call.f();
            if !(f.is_empty() || f == "txn") {
                continue;
            }
            let outcome = Outcome::of(&call);
            let pos = match outcome {
                Outcome::Ok => call.complete_pos,
                _ => call.invoke_pos,
            };
            let mut mops = if s.style[pos] != 0 {
                let range = s.starts[pos] as usize..s.starts[pos + 1] as usize;
                let mut out = Vec::with_capacity(range.len());
                for m in &s.mops[range] {
                    let key = m.key;
                    out.push(match (kind, m.tag) {
                        (Kind::ListAppend, Tag::Write) => Mop::Append { key, val: m.val },
                        (Kind::RwRegister, Tag::Write) => Mop::Write { key, val: m.val },
                        (Kind::ListAppend, Tag::ReadNil) => Mop::ReadList {
                            key,
                            list: (outcome == Outcome::Ok).then_some(ListRef { start: 0, len: 0 }),
                        },
                        (Kind::RwRegister, Tag::ReadNil) => Mop::ReadReg {
                            key,
                            val: (outcome == Outcome::Ok).then_some(NIL),
                        },
                        (_, Tag::ReadList) => Mop::ReadList {
                            key,
                            list: Some(s.lists[m.val as usize]),
                        },
                        (_, Tag::ReadReg) => Mop::ReadReg {
                            key,
                            val: Some(m.val),
                        },
                    });
                }
                out
            } else {
                parse_call(h, &call, outcome, kind, &mut keys, &mut vals, &mut elems)?
            };
            // Renumber in the order the full reading would have interned: key, then values.
            for m in &mut mops {
                match m {
                    Mop::Append { key, val } | Mop::Write { key, val } => {
                        *key = fin(*key, &mut kmap, &mut keys.vals, &mut out_keys);
                        *val = fin(*val, &mut vmap, &mut vals.vals, &mut out_vals);
                    }
                    Mop::ReadList { key, list } => {
                        *key = fin(*key, &mut kmap, &mut keys.vals, &mut out_keys);
                        if let Some(l) = list {
                            for e in &elems[l.start as usize..(l.start + l.len) as usize] {
                                fin(*e, &mut vmap, &mut vals.vals, &mut out_vals);
                            }
                        }
                    }
                    Mop::ReadReg { key, val } => {
                        *key = fin(*key, &mut kmap, &mut keys.vals, &mut out_keys);
                        if let Some(v) = val {
                            *v = fin(*v, &mut vmap, &mut vals.vals, &mut out_vals);
                        }
                    }
                }
            }
            txns.push(Txn::of(&call, ci, outcome, mops));
        }
        // Lint's duplicate writes, on reader ids (equal ids, equal values), in call order.
        let dup = duplicate_writes(h, &s, &mut keys, &mut vals);
        // Values no chosen op uses (stripped invocations of ok calls and the like) go to the
        // extra tables, for rebuilding.
        kmap.resize(keys.vals.len(), UNMAPPED);
        vmap.resize(vals.vals.len(), UNMAPPED);
        for (i, m) in kmap.iter_mut().enumerate() {
            if *m == UNMAPPED {
                *m = EXTRA | s.extra_keys.len() as u32;
                s.extra_keys.push(std::mem::take(&mut keys.vals[i]));
            }
        }
        for (i, m) in vmap.iter_mut().enumerate() {
            if *m == UNMAPPED {
                *m = EXTRA | s.extra_vals.len() as u32;
                s.extra_vals.push(std::mem::take(&mut vals.vals[i]));
            }
        }
        drop((keys, vals));
        if let Some((n, line, prev, k, v)) = dup {
            let (k, v) = (kmap[k as usize], vmap[v as usize]);
            let key = if k & EXTRA != 0 {
                &s.extra_keys[(k & !EXTRA) as usize]
            } else {
                &out_keys[k as usize]
            };
            let val = if v & EXTRA != 0 {
                &s.extra_vals[(v & !EXTRA) as usize]
            } else {
                &out_vals[v as usize]
            };
            s.duplicate_writes = Some(labrys_history::lint::duplicate_writes_warning(
                n,
                line,
                prev,
                Some(key),
                val,
            ));
        }
        for e in &mut elems {
            *e = vmap[*e as usize];
        }
        for m in &mut s.mops {
            m.key = kmap[m.key as usize];
            if matches!(m.tag, Tag::Write | Tag::ReadReg) {
                m.val = vmap[m.val as usize];
            }
        }
        Ok(Txns {
            txns,
            elems,
            keys: out_keys,
            vals: out_vals,
            source: h.source.clone(),
            compact: Some(Box::new(s)),
        })
    }
}

/// Lint's `duplicate-writes` on the compact form, as [`labrys_history::lint::lint`] finds it
/// on the full history: the count, and the first repeat's line, earlier line, key and value
/// (reader ids).
fn duplicate_writes(
    h: &History,
    s: &Stripped,
    keys: &mut Interner,
    vals: &mut Interner,
) -> Option<(usize, u32, u32, u32, u32)> {
    let mut seen: HashMap<(u32, u32), u32> = HashMap::default();
    let mut n = 0usize;
    let mut first: Option<(u32, u32, u32, u32)> = None;
    for pair in &h.pairs {
        let pos = pair.invoke;
        let inv = &h.ops[pos];
        let mut note = |k: u32, v: u32| {
            if let Some(&prev) = seen.get(&(k, v)) {
                n += 1;
                first.get_or_insert((inv.line, prev, k, v));
            } else {
                seen.insert((k, v), inv.line);
            }
        };
        if s.style[pos] != 0 {
            for m in &s.mops[s.starts[pos] as usize..s.starts[pos + 1] as usize] {
                if m.tag == Tag::Write {
                    note(m.key, m.val);
                }
            }
        } else {
            for mop in inv.value.as_seq().unwrap_or(&[]) {
                if let Some([tag, k, v]) = mop.as_seq() {
                    if matches!(tag.as_name(), Some("append" | "w")) {
                        note(keys.id(k), vals.id(v));
                    }
                }
            }
        }
    }
    let (line, prev, k, v) = first?;
    Some((n, line, prev, k, v))
}

/// Puts every stripped value back into `h` (for an HTML report, which draws ops' values).
pub fn restore(h: &mut History, t: &Txns) {
    let Some(s) = &t.compact else { return };
    for (pos, op) in h.ops.iter_mut().enumerate() {
        if let Some(v) = s.rebuild(t, pos) {
            op.value = v;
        }
    }
}

/// Reads a list-append or rw-register history file in the compact form.
pub fn read_file(
    path: &std::path::Path,
    format: labrys_history::Format,
    limits: labrys_history::ReadLimits,
    kind: Kind,
) -> Result<(History, Reader), Error> {
    let mut r = Reader::new(kind);
    let h = {
        let mut hook = |pos: usize, op: &mut Op| r.take(pos, op);
        let hook: OpHook<'_> = &mut hook;
        labrys_history::read_file_with_hook(path, format, limits, hook)?
    };
    Ok((h, r))
}

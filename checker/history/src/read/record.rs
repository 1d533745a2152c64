//! Turning one record (a map read from JSON or EDN) into an [`Op`].
//!
//! Both readers produce a [`Value::Map`] per record and hand it here, so the field rules live in
//! one place: `type` is required; `process` is an integer (a client) or a name (`:nemesis`);
//! `f` is a name (`:read`, `"read"`); `index`/`time` are integers when present; every other field
//! is kept in `extra` in the order it was written.
//!
//! Records without `process` (some elle-cli and Elle examples) get a synthetic client process:
//! [`ProcessFiller`] gives each such invoke a fresh negative id and each such completion the id
//! of the oldest invoke still waiting, so adjacent invoke/complete pairs stay paired and no
//! process order is invented between unrelated ops.

use crate::error::Error;
use crate::op::{Op, OpType, Process};
use crate::value::Value;
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// Interns `f` names and process names so a million ops share a handful of allocations.
#[derive(Default)]
pub struct Interner {
    names: HashMap<Box<str>, Arc<str>>,
}

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.names.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.names.insert(s.into(), a.clone());
        a
    }
}

/// Assigns synthetic processes to records that have none (see the module doc).
#[derive(Default)]
pub struct ProcessFiller {
    next: i64,
    waiting: VecDeque<i64>,
}

impl ProcessFiller {
    fn fill(&mut self, kind: OpType) -> i64 {
        if kind == OpType::Invoke {
            self.next -= 1;
            self.waiting.push_back(self.next);
            self.next
        } else {
            // A completion with nothing waiting gets a fresh id; pairing then reports it.
            self.waiting.pop_front().unwrap_or_else(|| {
                self.next -= 1;
                self.next
            })
        }
    }
}

/// State shared across the records of one file.
#[derive(Default)]
pub struct RecordContext {
    pub interner: Interner,
    pub filler: ProcessFiller,
}

/// Converts a record map into an op; `pos` is its 0-based position (the index when the record
/// has none), `line` where it starts.
pub fn op_from_record(rec: Value, pos: u64, line: u32, source: &str) -> Result<Op, Error> {
    op_from_record_in(&mut RecordContext::default(), rec, pos, line, source)
}

pub(crate) fn op_from_record_in(
    cx: &mut RecordContext,
    rec: Value,
    pos: u64,
    line: u32,
    source: &str,
) -> Result<Op, Error> {
    let Value::Map(fields) = rec else {
        return Err(Error::malformed(
            source,
            line,
            format!(
                "found {} where an op was expected; expected a map such as \
                 {{:type :invoke, :process 0, :f :read, :value nil}}",
                rec.kind()
            ),
        ));
    };
    let mut b = RecordBuilder::default();
    for (k, v) in fields {
        match k.as_name() {
            Some(name) => b.field(cx, name, v),
            None => b.field(cx, &k.to_string(), v),
        }
    }
    b.finish(cx, pos, line, source)
}

/// Builds an op one field at a time, so a reader can hand over fields as it parses them
/// (the JSON reader does, without allocating keys). The first bad field is remembered and
/// reported by [`RecordBuilder::finish`].
#[derive(Default)]
pub(crate) struct RecordBuilder {
    index: Option<u64>,
    time: Option<i64>,
    kind: Option<OpType>,
    process: Option<Process>,
    f: Option<Arc<str>>,
    value: Value,
    extra: Vec<(Arc<str>, Value)>,
    error: Option<String>,
}

impl RecordBuilder {
    /// A field whose value is a string, handed over without building a [`Value`]: `type` and
    /// `f` take this path in the JSON reader.
    pub(crate) fn name_field(&mut self, cx: &mut RecordContext, name: &str, text: &str) {
        match name {
            "type" => match OpType::parse(text) {
                Some(t) => self.kind = Some(t),
                None => self.fail(format!(
                    "found type {text:?}; expected one of invoke, ok, fail, info"
                )),
            },
            "f" => self.f = Some(cx.interner.get(text)),
            _ => self.field(cx, name, Value::Str(text.into())),
        }
    }

    pub(crate) fn field(&mut self, cx: &mut RecordContext, name: &str, v: Value) {
        match name {
            "type" => match v.as_name().and_then(OpType::parse) {
                Some(t) => self.kind = Some(t),
                None => self.fail(format!(
                    "found :type {v}; expected one of :invoke, :ok, :fail, :info"
                )),
            },
            "process" => match &v {
                Value::Int(p) => self.process = Some(Process::Client(*p)),
                Value::Nil => {}
                other => match other.as_name() {
                    Some(n) => {
                        self.process = Some(match n.parse::<i64>() {
                            Ok(p) => Process::Client(p),
                            Err(_) => Process::Named(cx.interner.get(n)),
                        })
                    }
                    None => self.fail(format!(
                        "found :process {v}; expected an integer or a name such as :nemesis"
                    )),
                },
            },
            "f" => {
                self.f = Some(match v.as_name() {
                    Some(n) => cx.interner.get(n),
                    None if v.is_nil() => cx.interner.get(""),
                    None => cx.interner.get(&v.to_string()),
                })
            }
            "value" => self.value = v,
            "index" => match non_negative(&v) {
                Some(i) => self.index = Some(i),
                None => self.fail(format!("found :index {v}; expected a non-negative integer")),
            },
            "time" => match &v {
                Value::Int(t) => self.time = Some(*t),
                Value::Float(t) => self.time = Some(*t as i64),
                Value::Nil => {}
                _ => self.fail(format!(
                    "found :time {v}; expected an integer (nanoseconds)"
                )),
            },
            _ => self.extra.push((cx.interner.get(name), v)),
        }
    }

    fn fail(&mut self, msg: String) {
        self.error.get_or_insert(msg);
    }

    pub(crate) fn finish(
        self,
        cx: &mut RecordContext,
        pos: u64,
        line: u32,
        source: &str,
    ) -> Result<Op, Error> {
        if let Some(msg) = self.error {
            return Err(Error::malformed(source, line, msg));
        }
        let Some(kind) = self.kind else {
            return Err(Error::malformed(
                source,
                line,
                "op has no :type; expected :type with one of :invoke, :ok, :fail, :info",
            ));
        };
        let process = match self.process {
            Some(p) => p,
            None => Process::Client(cx.filler.fill(kind)),
        };
        Ok(Op {
            index: self.index.unwrap_or(pos),
            time: self.time,
            kind,
            process,
            f: self.f.unwrap_or_else(|| cx.interner.get("")),
            value: self.value,
            extra: self.extra,
            line,
        })
    }
}

fn non_negative(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) if *i >= 0 => Some(*i as u64),
        _ => None,
    }
}

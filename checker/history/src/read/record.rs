//! Turning one record (a map read from JSON or EDN) into an [`Op`].
//!
//! Both readers hand a record's fields here, so the field rules live in one place: `type` is
//! required; `process` is an integer (a client) or a name (`:nemesis`); `f` is a name (`:read`,
//! `"read"`); `index`/`time` are integers when present; every other field is kept in `extra` in
//! the order it was written.
//!
//! A client record without `process` is an error ("expected a process"), with one exception
//! that the format genuinely allows: Elle's hand-written EDN histories (its paper example,
//! elle-cli's long-fork example) name no process in any record. When the first record that is
//! not a named process (nemesis) has no `:process` in an EDN file, the whole file is read that
//! way: [`ProcessFiller`] gives each invoke a fresh negative id and each completion the id of the
//! oldest invoke still waiting, so adjacent invoke/complete pairs stay paired and no process
//! order is invented between unrelated ops; lint then warns (`inferred-processes`) that pairing
//! was assumed. A file that mixes records with and without a client process is an error naming
//! the first record that breaks the file's rule. JSON histories (labrys's own, Porcupine's,
//! elle-cli's) always name processes, so there a missing one is always an error.

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

/// Whether records without `process` may stand for client ops (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingProcess {
    /// A client record must name its process (JSON).
    #[default]
    Reject,
    /// A file whose client records all lack one is read with inferred processes (EDN).
    InferWhenNoneHaveOne,
}

/// What the client records of a file said about processes so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcessMode {
    /// The client record at this line named a process, so every one must.
    Named(u32),
    /// The client record at this line named none, so none may.
    Inferred(u32),
}

/// State shared across the records of one file.
#[derive(Default)]
pub struct RecordContext {
    pub interner: Interner,
    pub filler: ProcessFiller,
    pub missing_process: MissingProcess,
    mode: Option<ProcessMode>,
}

impl RecordContext {
    pub fn new(missing_process: MissingProcess) -> RecordContext {
        RecordContext {
            missing_process,
            ..RecordContext::default()
        }
    }

    /// True when client processes were inferred (no record named one).
    pub fn processes_inferred(&self) -> bool {
        matches!(self.mode, Some(ProcessMode::Inferred(_)))
    }
}

/// Why a record could not become an op: a bad field (the reader knows where that field is
/// written), or something about the record as a whole (reported at its start).
#[derive(Debug)]
pub(crate) enum RecordError {
    Field {
        /// 0-based position of the field in the record.
        index: usize,
        name: Box<str>,
        msg: String,
    },
    Record(String),
}

impl RecordError {
    /// The error at its place: `field_at(index, name)` gives where a field is written, when the
    /// reader knows; otherwise the record's start.
    pub(crate) fn at(
        self,
        source: &str,
        line: u32,
        col: u32,
        field_at: impl FnOnce(usize, &str) -> Option<(u32, u32)>,
    ) -> Error {
        match self {
            RecordError::Field { index, name, msg } => {
                let (l, c) = field_at(index, &name).unwrap_or((line, col));
                Error::malformed_at(source, l, c, msg)
            }
            RecordError::Record(msg) => Error::malformed_at(source, line, col, msg),
        }
    }
}

/// Converts a record map into an op; `pos` is its 0-based position (the index when the record
/// has none), `line`:`col` where it starts. A missing process is an error.
pub fn op_from_record(
    rec: Value,
    pos: u64,
    line: u32,
    col: u32,
    source: &str,
) -> Result<Op, Error> {
    op_from_record_in(
        &mut RecordContext::default(),
        rec,
        pos,
        (line, col),
        &[],
        source,
    )
}

/// [`op_from_record`] within a file: `key_pos[i]` is where the record's i-th key is written
/// (empty when unknown).
pub(crate) fn op_from_record_in(
    cx: &mut RecordContext,
    rec: Value,
    pos: u64,
    (line, col): (u32, u32),
    key_pos: &[(u32, u32)],
    source: &str,
) -> Result<Op, Error> {
    let Value::Map(fields) = rec else {
        return Err(Error::malformed_at(
            source,
            line,
            col,
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
    b.finish(cx, pos, line, col)
        .map_err(|e| e.at(source, line, col, |i, _| key_pos.get(i).copied()))
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
    /// Fields handed over so far.
    fields: usize,
    /// The first bad field: its position, name and the message.
    error: Option<(usize, Box<str>, String)>,
}

impl RecordBuilder {
    /// A field whose value is a string, handed over without building a [`Value`]: `type` and
    /// `f` take this path in the JSON reader.
    pub(crate) fn name_field(&mut self, cx: &mut RecordContext, name: &str, text: &str) {
        match name {
            "type" => match OpType::parse(text) {
                Some(t) => self.kind = Some(t),
                None => self.fail(
                    name,
                    format!("found type {text:?}; expected one of invoke, ok, fail, info"),
                ),
            },
            "f" => self.f = Some(cx.interner.get(text)),
            _ => return self.field(cx, name, Value::Str(text.into())),
        }
        self.fields += 1;
    }

    pub(crate) fn field(&mut self, cx: &mut RecordContext, name: &str, v: Value) {
        self.field_inner(cx, name, v);
        self.fields += 1;
    }

    fn field_inner(&mut self, cx: &mut RecordContext, name: &str, v: Value) {
        match name {
            "type" => match v.as_name().and_then(OpType::parse) {
                Some(t) => self.kind = Some(t),
                None => self.fail(
                    name,
                    format!("found :type {v}; expected one of :invoke, :ok, :fail, :info"),
                ),
            },
            "process" => match &v {
                Value::Int(p) => self.process = Some(Process::Client(*p)),
                other => match other.as_name() {
                    Some(n) => {
                        self.process = Some(match n.parse::<i64>() {
                            Ok(p) => Process::Client(p),
                            Err(_) => Process::Named(cx.interner.get(n)),
                        })
                    }
                    None => self.fail(
                        name,
                        format!(
                            "found :process {v}; expected a process: an integer for a client, \
                             or a name such as :nemesis"
                        ),
                    ),
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
                None => self.fail(
                    name,
                    format!("found :index {v}; expected a non-negative integer"),
                ),
            },
            "time" => match &v {
                Value::Int(t) => self.time = Some(*t),
                Value::Float(t) => self.time = Some(*t as i64),
                Value::Nil => {}
                _ => self.fail(
                    name,
                    format!("found :time {v}; expected an integer (nanoseconds)"),
                ),
            },
            _ => self.extra.push((cx.interner.get(name), v)),
        }
    }

    fn fail(&mut self, name: &str, msg: String) {
        let index = self.fields;
        self.error.get_or_insert_with(|| (index, name.into(), msg));
    }

    /// The op, or what is wrong with the record. `line`:`col` is where it starts.
    pub(crate) fn finish(
        self,
        cx: &mut RecordContext,
        pos: u64,
        line: u32,
        col: u32,
    ) -> Result<Op, RecordError> {
        if let Some((index, name, msg)) = self.error {
            return Err(RecordError::Field { index, name, msg });
        }
        let Some(kind) = self.kind else {
            return Err(RecordError::Record(
                "op has no :type; expected :type with one of :invoke, :ok, :fail, :info".into(),
            ));
        };
        let process = match (self.process, cx.mode) {
            (Some(p @ Process::Named(_)), _) => p,
            (Some(p @ Process::Client(_)), None | Some(ProcessMode::Named(_))) => {
                cx.mode.get_or_insert(ProcessMode::Named(line));
                p
            }
            (Some(Process::Client(p)), Some(ProcessMode::Inferred(first))) => {
                return Err(RecordError::Record(format!(
                    "this record names process {p}, but no record before it does (from line \
                     {first} on); expected no :process in any client record (Elle's \
                     hand-written histories) or one in every record"
                )))
            }
            (None, _) if cx.missing_process == MissingProcess::Reject => {
                return Err(RecordError::Record(
                    "op has no process; expected a process: an integer for a client, a name \
                     such as \"nemesis\" otherwise"
                        .into(),
                ))
            }
            (None, Some(ProcessMode::Named(first))) => {
                return Err(RecordError::Record(format!(
                    "op has no :process; expected a process (an integer for a client, a name \
                     such as :nemesis otherwise), as the records before it have (from line \
                     {first} on)"
                )))
            }
            (None, _) => {
                cx.mode.get_or_insert(ProcessMode::Inferred(line));
                Process::Client(cx.filler.fill(kind))
            }
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
            col,
        })
    }
}

fn non_negative(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) if *i >= 0 => Some(*i as u64),
        _ => None,
    }
}

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
use std::collections::{HashMap, VecDeque};
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
            format!("found {} where an op was expected; expected a map such as {{:type :invoke, :process 0, :f :read, :value nil}}", rec.kind()),
        ));
    };
    let mut index = None;
    let mut time = None;
    let mut kind = None;
    let mut process = None;
    let mut f: Option<Arc<str>> = None;
    let mut value = Value::Nil;
    let mut extra = Vec::new();
    for (k, v) in fields {
        let Some(name) = k.as_name() else {
            extra.push((cx.interner.get(&k.to_string()), v));
            continue;
        };
        match name {
            "type" => {
                let t = v.as_name().and_then(OpType::parse).ok_or_else(|| {
                    Error::malformed(
                        source,
                        line,
                        format!("found :type {v}; expected one of :invoke, :ok, :fail, :info"),
                    )
                })?;
                kind = Some(t);
            }
            "process" => {
                process = Some(match &v {
                    Value::Int(p) => Process::Client(*p),
                    Value::Nil => continue,
                    other => match other.as_name() {
                        Some(n) => match n.parse::<i64>() {
                            Ok(p) => Process::Client(p),
                            Err(_) => Process::Named(cx.interner.get(n)),
                        },
                        None => {
                            return Err(Error::malformed(
                                source,
                                line,
                                format!(
                            "found :process {v}; expected an integer or a name such as :nemesis"
                        ),
                            ))
                        }
                    },
                })
            }
            "f" => {
                f = Some(match v.as_name() {
                    Some(n) => cx.interner.get(n),
                    None if v.is_nil() => cx.interner.get(""),
                    None => cx.interner.get(&v.to_string()),
                })
            }
            "value" => value = v,
            "index" => {
                index = Some(non_negative(&v).ok_or_else(|| {
                    Error::malformed(
                        source,
                        line,
                        format!("found :index {v}; expected a non-negative integer"),
                    )
                })?)
            }
            "time" => {
                time = match &v {
                    Value::Int(t) => Some(*t),
                    Value::Float(t) => Some(*t as i64),
                    Value::Nil => None,
                    _ => {
                        return Err(Error::malformed(
                            source,
                            line,
                            format!("found :time {v}; expected an integer (nanoseconds)"),
                        ))
                    }
                }
            }
            _ => extra.push((cx.interner.get(name), v)),
        }
    }
    let Some(kind) = kind else {
        return Err(Error::malformed(
            source,
            line,
            "op has no :type; expected :type with one of :invoke, :ok, :fail, :info",
        ));
    };
    let process = match process {
        Some(p) => p,
        None => Process::Client(cx.filler.fill(kind)),
    };
    Ok(Op {
        index: index.unwrap_or(pos),
        time,
        kind,
        process,
        f: f.unwrap_or_else(|| cx.interner.get("")),
        value,
        extra,
        line,
    })
}

fn non_negative(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) if *i >= 0 => Some(*i as u64),
        _ => None,
    }
}

//! The set model: `add v` and `read → #{...}`, a linearizable set object.
//!
//! The state is the sorted list of interned elements; a read must return exactly that set.
//! An `info` read constrains nothing and is dropped; an `info` add may or may not have happened.

use crate::convert::{bad_call, calls_to_ops};
use crate::intern::Interner;
use crate::model::{LinOp, Model};
use labrys_history::{Error, History};

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

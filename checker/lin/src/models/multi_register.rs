//! The multi-register model (Knossos's): `f: txn` whose value is a list of `[:read k v]` and
//! `[:write k v]` micro-ops applied atomically, in order, to a map of registers.
//!
//! Keys are compared by name (`:x`, `"x"` and `x` are one key), so `--initial '{"x":0}'`
//! matches histories that write `:x`. A read of `nil` constrains nothing (Knossos's reading:
//! the value was not recorded); an `info` txn keeps only its writes, since its reads are
//! unknown. The state is one interned value per key.

use crate::convert::{bad_call, calls_to_ops};
use crate::intern::Interner;
use crate::model::{LinOp, Model};
use labrys_history::{Error, History, Value};

/// One micro-op: key id and value id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Micro {
    Read(u32, u32),
    Write(u32, u32),
}

/// A transaction's micro-ops, applied in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn(pub Vec<Micro>);

#[derive(Clone, Debug)]
pub struct MultiRegister {
    pub keys: Interner,
    pub values: Interner,
    initial: Vec<u32>,
}

fn key_of(v: &Value) -> Value {
    match v.as_name() {
        Some(n) => Value::str(n),
        None => v.clone(),
    }
}

impl MultiRegister {
    /// Reads `h`; `initial` is a map from key to value (absent keys start `nil`).
    pub fn from_history(
        h: &History,
        initial: Option<&Value>,
    ) -> Result<(MultiRegister, Vec<LinOp<Txn>>), Error> {
        let mut keys = Interner::new();
        let mut values = Interner::new();
        let nil = values.id(&Value::Nil);
        let mut init_pairs = Vec::new();
        match initial {
            None | Some(Value::Nil) => {}
            Some(Value::Map(m)) => {
                for (k, v) in m {
                    init_pairs.push((keys.id(&key_of(k)), values.id(v)));
                }
            }
            Some(v) => {
                return Err(Error::malformed(
                    &h.source,
                    0,
                    format!(
                        "--initial for multi-register is {}; expected a map such as {{\"x\":0}}",
                        v.kind()
                    ),
                ))
            }
        }
        let ops = calls_to_ops(h, |call, ok| {
            if call.f() != "txn" {
                return Err(bad_call(
                    h,
                    call,
                    format!("a multi-register op has f {:?}; expected txn", call.f()),
                ));
            }
            let v = call.value();
            let Some(mops) = v.as_seq() else {
                return Err(bad_call(
                    h,
                    call,
                    format!("txn value is {}; expected a list of [f k v]", v.kind()),
                ));
            };
            let mut out = Vec::new();
            for m in mops {
                let Some([f, k, x]) = m.as_seq() else {
                    return Err(bad_call(h, call, format!("micro-op {m} is not [f k v]")));
                };
                let k = keys.id(&key_of(k));
                match f.as_name() {
                    Some("read" | "r") if ok && !x.is_nil() => {
                        out.push(Micro::Read(k, values.id(x)))
                    }
                    Some("read" | "r") => {}
                    Some("write" | "w") => out.push(Micro::Write(k, values.id(x))),
                    _ => {
                        return Err(bad_call(
                            h,
                            call,
                            format!("micro-op {m}: expected :read or :write"),
                        ))
                    }
                }
            }
            Ok((!out.is_empty()).then_some(Txn(out)))
        })?;
        let mut initial = vec![nil; keys.len()];
        for (k, v) in init_pairs {
            initial[k as usize] = v;
        }
        Ok((
            MultiRegister {
                keys,
                values,
                initial,
            },
            ops,
        ))
    }
}

impl Model for MultiRegister {
    type State = Box<[u32]>;
    type Op = Txn;

    fn init(&self) -> Box<[u32]> {
        self.initial.clone().into_boxed_slice()
    }

    fn step(&self, s: &Box<[u32]>, op: &Txn) -> Option<Box<[u32]>> {
        let mut next: Option<Box<[u32]>> = None;
        for m in &op.0 {
            match *m {
                Micro::Read(k, v) => {
                    let cur = next.as_ref().unwrap_or(s);
                    if cur[k as usize] != v {
                        return None;
                    }
                }
                Micro::Write(k, v) => {
                    next.get_or_insert_with(|| s.clone())[k as usize] = v;
                }
            }
        }
        Some(next.unwrap_or_else(|| s.clone()))
    }

    fn is_read_only(&self, op: &Txn) -> bool {
        op.0.iter().all(|m| matches!(m, Micro::Read(..)))
    }

    fn describe_state(&self, s: &Box<[u32]>) -> String {
        let parts: Vec<String> = s
            .iter()
            .enumerate()
            .map(|(k, v)| format!("{} {}", self.keys.value(k as u32), self.values.value(*v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    fn describe_op(&self, op: &Txn) -> String {
        let parts: Vec<String> =
            op.0.iter()
                .map(|m| match *m {
                    Micro::Read(k, v) => {
                        format!("read {} → {}", self.keys.value(k), self.values.value(v))
                    }
                    Micro::Write(k, v) => {
                        format!("write {} {}", self.keys.value(k), self.values.value(v))
                    }
                })
                .collect();
        format!("txn [{}]", parts.join("; "))
    }
}

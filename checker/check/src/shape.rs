//! What each workload's operations look like, checked before any checker runs.
//!
//! A history recorded for one workload and checked as another must not get a verdict: a
//! register history read as list-append has no transactions and would come out `unknown`, a
//! list-append history read as a counter has no increments and would come out `valid`. So
//! every client operation is checked against its workload here, once, for every workload
//! alike: its `f` must be one the workload knows, and where the `f` does not tell the shapes
//! apart (transactions), its value must be a list of the workload's micro-ops. The first op
//! that does not fit is an error naming the file:line:col of the record at fault (the invoke
//! for a wrong `f` or a wrong invoked value, the completion for a wrong returned value) and
//! what the workload expects. Finer rules (a bank read is a map of balances, a counter adds an
//! integer ...) stay with the checkers, which report them the same way.

use labrys_history::{Error, History, Op, OpType, Value};

/// What one workload accepts.
struct Shape {
    /// The `f` names it knows (`""`: records without `f`, as Elle writes transactions).
    fs: &'static [&'static str],
    /// What a history of it looks like, for the message.
    expected: &'static str,
    /// The values it can read, or `None` when any value will do.
    value: Option<ValueRule>,
}

#[derive(Clone, Copy)]
enum ValueRule {
    /// A transaction: a list of `[f k v]` micro-ops whose `f` is one of these (`nonempty`:
    /// at least one).
    Txn {
        tags: &'static [&'static str],
        nonempty: bool,
    },
    /// A `cas` takes `[old new]`; other ops any value.
    CasPair,
    /// A `transfer` takes a map (`{:from :to :amount}`); other ops any value.
    TransferMap,
    /// Jepsen's long-fork transactions: one write `[[:w k v]]`, or reads only.
    LongFork,
    /// Jepsen's independent keys: `read`/`write`/`cas` take `[key value]` (a cas's value
    /// `[old new]`); Porcupine's `get`/`put`/`append` any value.
    KvTuple,
}

fn shape(workload: &str) -> Option<Shape> {
    const REGISTER: &str = "f read, write or cas (a cas's value [old new])";
    const SET: &str = "f add or read";
    const TXN_APPEND: &[&str] = &["append", "r"];
    Some(match workload {
        "register" | "cas-register" => Shape {
            fs: &["read", "write", "cas"],
            expected: REGISTER,
            value: Some(ValueRule::CasPair),
        },
        "kv" => Shape {
            fs: &["get", "put", "append", "read", "write", "cas"],
            expected: "f get, put or append with a :key field (Porcupine's kv), or read, write \
                       or cas on [key value] tuples (Jepsen's independent keys)",
            value: Some(ValueRule::KvTuple),
        },
        "multi-register" => Shape {
            fs: &["txn"],
            expected: "f txn with a list of micro-ops such as [[:w x 1] [:r y nil]]",
            value: Some(ValueRule::Txn {
                tags: &["r", "w", "read", "write"],
                nonempty: false,
            }),
        },
        "mutex" => Shape {
            fs: &["acquire", "release"],
            expected: "f acquire or release",
            value: None,
        },
        "fifo-queue" | "unordered-queue" => Shape {
            fs: &["enqueue", "dequeue"],
            expected: "f enqueue or dequeue",
            value: None,
        },
        "linearizable-set" | "set" | "set-full" => Shape {
            fs: &["add", "read"],
            expected: SET,
            value: None,
        },
        "list-append" => Shape {
            fs: &["txn", ""],
            expected: "f txn (or none, as Elle writes) with a list of micro-ops such as \
                       [[:append 1 2] [:r 1 nil]]",
            value: Some(ValueRule::Txn {
                tags: TXN_APPEND,
                nonempty: false,
            }),
        },
        "rw-register" => Shape {
            fs: &["txn", ""],
            expected: "f txn (or none, as Elle writes) with a list of micro-ops such as \
                       [[:w 1 2] [:r 1 nil]]",
            value: Some(ValueRule::Txn {
                tags: &["w", "r"],
                nonempty: false,
            }),
        },
        "bank" => Shape {
            fs: &["read", "transfer"],
            expected: "f read (a map of account to balance) or transfer (a map such as \
                       {:from 1 :to 2 :amount 5})",
            value: Some(ValueRule::TransferMap),
        },
        "counter" => Shape {
            fs: &["add", "read"],
            expected: "f add (an integer) or read",
            value: None,
        },
        "long-fork" => Shape {
            fs: &["txn", "read", "write", ""],
            expected: "transactions that write one key ([[:w k 1]]) or read a group of keys \
                       ([[:r k1 nil] [:r k2 nil]])",
            value: Some(ValueRule::LongFork),
        },
        "unique-ids" => Shape {
            fs: &["generate"],
            expected: "f generate",
            value: None,
        },
        "total-queue" | "queue" => Shape {
            fs: &["enqueue", "dequeue", "drain"],
            expected: "f enqueue, dequeue or drain",
            value: None,
        },
        _ => return None,
    })
}

/// Checks that every client operation of `h` has the shape `workload` needs; the first that
/// does not is an error at the record at fault. Unknown workload names pass (the registry
/// rejects them first).
pub fn check_shape(h: &History, workload: &str) -> Result<(), Error> {
    let Some(shape) = shape(workload) else {
        return Ok(());
    };
    for call in h.calls() {
        let inv = call.invoke;
        if !shape.fs.contains(&call.f()) {
            let found = if call.f().is_empty() {
                "an op without f".to_string()
            } else {
                format!("f {:?}", call.f())
            };
            return Err(at(
                h,
                inv,
                format!(
                    "found {found} (process {}); workload {workload} expects {}",
                    inv.process, shape.expected
                ),
            ));
        }
        let Some(rule) = shape.value else { continue };
        // The invoked value, and the returned one when the op completed ok (reads fill in
        // their results there); a failed or crashed op's completion may carry anything.
        let returned = call.completion.filter(|c| c.kind == OpType::Ok);
        for op in std::iter::once(inv).chain(returned) {
            if let Err(why) = fits(rule, call.f(), &op.value) {
                return Err(at(
                    h,
                    op,
                    format!(
                        "{why} in the {} of process {}; workload {workload} expects {}",
                        op.kind, op.process, shape.expected
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn at(h: &History, op: &Op, msg: String) -> Error {
    Error::malformed_at(&h.source, op.line, op.col, msg)
}

/// Whether `v` fits `rule` for an op `f`; the reason when not.
fn fits(rule: ValueRule, f: &str, v: &Value) -> Result<(), String> {
    match rule {
        ValueRule::CasPair if f == "cas" => match v.as_seq() {
            Some([_, _]) => Ok(()),
            _ => Err(format!("found the cas value {}", brief(v))),
        },
        ValueRule::TransferMap if f == "transfer" => match v {
            Value::Map(_) => Ok(()),
            _ => Err(format!("found the transfer value {}", brief(v))),
        },
        ValueRule::CasPair | ValueRule::TransferMap => Ok(()),
        ValueRule::KvTuple if matches!(f, "read" | "write" | "cas") => match v.as_seq() {
            Some([_, x]) if f != "cas" || matches!(x.as_seq(), Some([_, _])) => Ok(()),
            _ => Err(format!(
                "found the {f} value {}, not a [key value] tuple",
                brief(v)
            )),
        },
        ValueRule::KvTuple => Ok(()),
        ValueRule::LongFork => {
            fits(
                ValueRule::Txn {
                    tags: &["r", "w"],
                    nonempty: true,
                },
                f,
                v,
            )?;
            let mops = v.as_seq().unwrap_or(&[]);
            let writes = mops
                .iter()
                .filter(|m| m.as_seq().and_then(|p| p[0].as_name()) == Some("w"))
                .count();
            if writes > 0 && mops.len() > 1 {
                return Err(format!(
                    "found the transaction {}, which both writes and reads or writes twice",
                    brief(v)
                ));
            }
            Ok(())
        }
        ValueRule::Txn { tags, nonempty } => {
            let Some(mops) = v.as_seq() else {
                return Err(format!(
                    "found the value {}, not a list of micro-ops",
                    brief(v)
                ));
            };
            if nonempty && mops.is_empty() {
                return Err("found an empty transaction".into());
            }
            for m in mops {
                let ok = match m.as_seq() {
                    Some([tag, _, _]) => tag.as_name().is_some_and(|t| tags.contains(&t)),
                    _ => false,
                };
                if !ok {
                    return Err(format!("found the micro-op {}", brief(m)));
                }
            }
            Ok(())
        }
    }
}

/// A value for a message, cut short when long.
fn brief(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 60 {
        format!("{s} ({})", v.kind())
    } else {
        let head: String = s.chars().take(57).collect();
        format!("{head}... ({})", v.kind())
    }
}

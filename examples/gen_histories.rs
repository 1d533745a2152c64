//! Writes the example histories under `examples/histories/` from a simulation, so the project
//! ships histories it made itself (run: `cargo run --example gen_histories`).
//!
//! The simulation is a correct, linearizable compare-and-set register (initially nil) shared by concurrent
//! clients: each operation takes effect atomically at some moment between its invocation and
//! its completion; some clients crash mid-operation (their op ends `info`, and may or may not
//! have taken effect), and a `cas` whose expected value doesn't match ends `fail` (it did
//! nothing). Its histories are linearizable by construction. The `unique-` ones write each
//! value once, as Jepsen's register workloads do. The `stale-read` variant then
//! appends two acknowledged writes of fresh values and a read that returns the older one: no
//! order of operations explains it.

use labrys_history::{Op, OpType, Process, Value};
use std::io::Write;
use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone)]
struct Pending {
    f: &'static str,
    value: Value,
    /// The result once the op has taken effect: (completion type, completion value).
    applied: Option<(OpType, Value)>,
}

/// Simulates `n_ops` client operations on a cas register by `clients` concurrent clients.
/// With `unique`, every write and cas writes a value never written before (Jepsen's usual
/// register workload), and a cas usually expects the value the register holds.
fn simulate(seed: u64, clients: usize, n_ops: usize, unique: bool) -> Vec<Op> {
    let mut rng = Rng(seed);
    let mut fresh = 0i64;
    let mut state = Value::Nil;
    let mut ops = Vec::new();
    let mut time = 0i64;
    let mut process: Vec<i64> = (0..clients as i64).collect();
    let mut pending: Vec<Option<Pending>> = vec![None; clients];
    let mut started = 0;
    let emit = |ops: &mut Vec<Op>, time: &mut i64, kind, p: i64, f: &str, value: Value| {
        *time += 1_000 + (ops.len() as i64 * 7919) % 5_000;
        let mut op = Op::new(ops.len() as u64, kind, p, f, value);
        op.time = Some(*time);
        ops.push(op);
    };
    while started < n_ops || pending.iter().any(Option::is_some) {
        let c = rng.below(clients as u64) as usize;
        match &mut pending[c] {
            None if started < n_ops => {
                let (f, value) = match rng.below(3) {
                    0 => ("read", Value::Nil),
                    1 if unique => {
                        fresh += 1;
                        ("write", Value::Int(fresh))
                    }
                    _ if unique => {
                        fresh += 1;
                        let old = if rng.below(3) > 0 {
                            state.clone()
                        } else {
                            Value::Int(fresh + 10_000)
                        };
                        ("cas", Value::List(vec![old, Value::Int(fresh)]))
                    }
                    1 => ("write", Value::Int(rng.below(5) as i64)),
                    _ => (
                        "cas",
                        Value::List(vec![
                            Value::Int(rng.below(5) as i64),
                            Value::Int(rng.below(5) as i64),
                        ]),
                    ),
                };
                emit(
                    &mut ops,
                    &mut time,
                    OpType::Invoke,
                    process[c],
                    f,
                    value.clone(),
                );
                pending[c] = Some(Pending {
                    f,
                    value,
                    applied: None,
                });
                started += 1;
            }
            None => {}
            Some(p) if p.applied.is_none() && rng.below(2) == 0 => {
                // The operation takes effect now, atomically.
                p.applied = Some(match p.f {
                    "read" => (OpType::Ok, state.clone()),
                    "write" => {
                        state = p.value.clone();
                        (OpType::Ok, p.value.clone())
                    }
                    _ => {
                        let s = p.value.as_seq().expect("cas value");
                        if state == s[0] {
                            state = s[1].clone();
                            (OpType::Ok, p.value.clone())
                        } else {
                            (OpType::Fail, p.value.clone())
                        }
                    }
                });
            }
            Some(p) => {
                let p = p.clone();
                if rng.below(12) == 0 {
                    // The client crashes: outcome unknown, whether or not it took effect.
                    emit(
                        &mut ops,
                        &mut time,
                        OpType::Info,
                        process[c],
                        p.f,
                        p.value.clone(),
                    );
                    process[c] += clients as i64;
                    pending[c] = None;
                } else if let Some((kind, value)) = p.applied {
                    emit(&mut ops, &mut time, kind, process[c], p.f, value);
                    pending[c] = None;
                }
            }
        }
    }
    ops
}

/// Appends write(1001), write(1002), then a read that returns 1001: a stale read.
fn plant_stale_read(ops: &mut Vec<Op>) {
    let p = ops
        .iter()
        .filter_map(|o| o.process.client())
        .max()
        .unwrap_or(0)
        + 1;
    let mut time = ops.last().and_then(|o| o.time).unwrap_or(0);
    for (kind, f, v) in [
        (OpType::Invoke, "write", Value::Int(1001)),
        (OpType::Ok, "write", Value::Int(1001)),
        (OpType::Invoke, "write", Value::Int(1002)),
        (OpType::Ok, "write", Value::Int(1002)),
        (OpType::Invoke, "read", Value::Nil),
        (OpType::Ok, "read", Value::Int(1001)),
    ] {
        time += 1_000;
        let mut op = Op::new(ops.len() as u64, kind, p, f, v);
        op.time = Some(time);
        ops.push(op);
    }
}

fn edn_line(op: &Op) -> String {
    let process = match &op.process {
        Process::Client(p) => p.to_string(),
        Process::Named(n) => format!(":{n}"),
    };
    format!(
        "{{:index {}, :time {}, :type :{}, :process {}, :f :{}, :value {}}}",
        op.index,
        op.time.unwrap_or(0),
        op.kind,
        process,
        op.f,
        op.value
    )
}

fn write(path: &Path, ops: &[Op], edn: bool) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for op in ops {
        let line = if edn {
            edn_line(op)
        } else {
            op.to_json().to_string()
        };
        writeln!(w, "{line}").expect("write");
    }
    println!("wrote {} ({} records)", path.display(), ops.len());
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/histories");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let valid = simulate(0x5eed_0001, 5, 200, false);
    write(&dir.join("cas-register-valid.jsonl"), &valid, false);
    write(&dir.join("cas-register-valid.edn"), &valid, true);
    let mut stale = simulate(0x5eed_0002, 5, 60, false);
    plant_stale_read(&mut stale);
    write(&dir.join("cas-register-stale-read.jsonl"), &stale, false);
    write(&dir.join("cas-register-stale-read.edn"), &stale, true);
    // Values written once: decided by the fast check, explained by its core.
    let valid = simulate(0x5eed_0003, 10, 400, true);
    write(&dir.join("unique-cas-register-valid.jsonl"), &valid, false);
    let mut stale = simulate(0x5eed_0004, 10, 80, true);
    plant_stale_read(&mut stale);
    write(
        &dir.join("unique-cas-register-stale-read.jsonl"),
        &stale,
        false,
    );
}

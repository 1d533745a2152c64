//! A generator of histories from a strict-serializable in-memory store, for tests and
//! benchmarks.
//!
//! Clients invoke random transactions concurrently; each transaction takes effect atomically
//! at its completion, which lies inside its invocation–completion interval, so every history
//! generated is strict-serializable by construction. Some transactions fail (no effect) and
//! some crash (`info`: may or may not have taken effect; the client then gets a fresh process
//! id, as in Jepsen). Keys retire after a number of writes, keeping reads short.

use crate::txn::Kind;
use labrys_history::{History, Op, OpType, Value};
use std::collections::HashMap;

/// Shape of a generated history.
#[derive(Clone, Debug)]
pub struct GenConfig {
    pub kind: Kind,
    pub txns: usize,
    pub clients: usize,
    /// Active keys at any time.
    pub keys: usize,
    pub max_mops: usize,
    /// Writes per key before it retires and a fresh key replaces it.
    pub writes_per_key: usize,
    /// Per mille of transactions that fail / crash.
    pub fail_per_mille: u32,
    pub info_per_mille: u32,
    pub seed: u64,
}

impl GenConfig {
    pub fn small(kind: Kind, seed: u64) -> GenConfig {
        GenConfig {
            kind,
            txns: 12,
            clients: 3,
            keys: 3,
            max_mops: 4,
            writes_per_key: 6,
            fail_per_mille: 100,
            info_per_mille: 80,
            seed,
        }
    }
}

/// A tiny deterministic PRNG (splitmix64): the generator must not depend on a crate's
/// algorithm changing between versions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

enum GMop {
    Append(i64, i64),
    Write(i64, i64),
    Read(i64),
}

struct Store {
    lists: HashMap<i64, Vec<i64>>,
    regs: HashMap<i64, i64>,
}

impl Store {
    /// Applies a transaction atomically; returns the micro-ops with read results filled in.
    fn apply(&mut self, mops: &[GMop]) -> Vec<Value> {
        mops.iter()
            .map(|m| match *m {
                GMop::Append(k, v) => {
                    self.lists.entry(k).or_default().push(v);
                    mop("append", k, Value::Int(v))
                }
                GMop::Write(k, v) => {
                    self.regs.insert(k, v);
                    mop("w", k, Value::Int(v))
                }
                GMop::Read(k) => mop("r", k, self.read(k)),
            })
            .collect()
    }

    fn read(&self, k: i64) -> Value {
        if let Some(l) = self.lists.get(&k) {
            Value::List(l.iter().map(|&v| Value::Int(v)).collect())
        } else if let Some(&v) = self.regs.get(&k) {
            Value::Int(v)
        } else {
            Value::Nil
        }
    }
}

fn mop(f: &str, k: i64, v: Value) -> Value {
    Value::List(vec![Value::kw(f), Value::Int(k), v])
}

fn unapplied(mops: &[GMop]) -> Vec<Value> {
    mops.iter()
        .map(|m| match *m {
            GMop::Append(k, v) => mop("append", k, Value::Int(v)),
            GMop::Write(k, v) => mop("w", k, Value::Int(v)),
            GMop::Read(k) => mop("r", k, Value::Nil),
        })
        .collect()
}

/// Generates a strict-serializable history.
pub fn generate(c: &GenConfig) -> History {
    let mut rng = Rng::new(c.seed);
    let mut store = Store {
        lists: HashMap::new(),
        regs: HashMap::new(),
    };
    let mut ops: Vec<Op> = Vec::with_capacity(c.txns * 2);
    // Active keys and their write counts; next fresh key; next value per key.
    let mut active: Vec<(i64, usize)> = (0..c.keys as i64).map(|k| (k, 0)).collect();
    let mut next_key = c.keys as i64;
    let mut next_val: HashMap<i64, i64> = HashMap::new();
    let mut process: Vec<i64> = (0..c.clients as i64).collect();
    let mut next_process = c.clients as i64;
    let mut pending: Vec<Option<Vec<GMop>>> = (0..c.clients).map(|_| None).collect();
    let mut started = 0;
    let mut done = 0;
    while done < c.txns {
        let i = rng.below(c.clients as u64) as usize;
        let push = |ops: &mut Vec<Op>, kind, p, v| {
            let idx = ops.len() as u64;
            let mut op = Op::new(idx, kind, p, "txn", Value::List(v));
            op.time = Some(idx as i64 * 1000);
            ops.push(op);
        };
        match pending[i].take() {
            None if started < c.txns => {
                let n = 1 + rng.below(c.max_mops as u64) as usize;
                let mut mops = Vec::with_capacity(n);
                for _ in 0..n {
                    let slot = rng.below(active.len() as u64) as usize;
                    let k = active[slot].0;
                    let write = rng.below(2) == 0;
                    if write {
                        let v = next_val.entry(k).or_insert(0);
                        *v += 1;
                        mops.push(match c.kind {
                            Kind::ListAppend => GMop::Append(k, *v),
                            Kind::RwRegister => GMop::Write(k, *v),
                        });
                        active[slot].1 += 1;
                        if active[slot].1 >= c.writes_per_key {
                            active[slot] = (next_key, 0);
                            next_key += 1;
                        }
                    } else {
                        mops.push(GMop::Read(k));
                    }
                }
                push(&mut ops, OpType::Invoke, process[i], unapplied(&mops));
                pending[i] = Some(mops);
                started += 1;
            }
            None => {}
            Some(mops) => {
                let r = rng.below(1000) as u32;
                if r < c.fail_per_mille {
                    push(&mut ops, OpType::Fail, process[i], unapplied(&mops));
                } else if r < c.fail_per_mille + c.info_per_mille {
                    if rng.below(2) == 0 {
                        store.apply(&mops);
                    }
                    push(&mut ops, OpType::Info, process[i], unapplied(&mops));
                    process[i] = next_process;
                    next_process += 1;
                } else {
                    let v = store.apply(&mops);
                    push(&mut ops, OpType::Ok, process[i], v);
                }
                done += 1;
            }
        }
    }
    History::from_ops(ops, "generated").expect("generated histories are well-formed")
}

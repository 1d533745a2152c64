//! Generators of histories for tests and benchmarks: [`generate`], from a strict-serializable
//! in-memory store, and [`generate_causal`], rw-register histories from a causally consistent
//! (not serializable) replicated store.
//!
//! [`generate`]: clients invoke random transactions concurrently; each transaction takes effect atomically
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

    /// The benchmarks' shape (`bench/txn`): 50 clients, 200 active keys retiring after 32
    /// writes, 1–7 micro-ops, 1% failed and 0.5% crashed transactions.
    pub fn benchmark(kind: Kind, txns: usize, seed: u64) -> GenConfig {
        GenConfig {
            kind,
            txns,
            clients: 50,
            keys: 200,
            max_mops: 7,
            writes_per_key: 32,
            fail_per_mille: 10,
            info_per_mille: 5,
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
    let mut ops: Vec<Op> = Vec::with_capacity(c.txns * 2);
    generate_each(c, &mut |op| ops.push(op));
    History::from_ops(ops, "generated").expect("generated histories are well-formed")
}

/// [`generate`], handing each op to `emit` in history order instead of keeping them: a
/// ten-million-transaction history can be written to a file without being held.
pub fn generate_each(c: &GenConfig, emit: &mut dyn FnMut(Op)) {
    let mut rng = Rng::new(c.seed);
    let mut store = Store {
        lists: HashMap::new(),
        regs: HashMap::new(),
    };
    let mut n_ops: u64 = 0;
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
        let mut push = |_: (), kind, p, v| {
            let idx = n_ops;
            n_ops += 1;
            let mut op = Op::new(idx, kind, p, "txn", Value::List(v));
            op.time = Some(idx as i64 * 1000);
            emit(op);
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
                push((), OpType::Invoke, process[i], unapplied(&mops));
                pending[i] = Some(mops);
                started += 1;
            }
            None => {}
            Some(mops) => {
                let r = rng.below(1000) as u32;
                if r < c.fail_per_mille {
                    push((), OpType::Fail, process[i], unapplied(&mops));
                } else if r < c.fail_per_mille + c.info_per_mille {
                    if rng.below(2) == 0 {
                        store.apply(&mops);
                    }
                    push((), OpType::Info, process[i], unapplied(&mops));
                    process[i] = next_process;
                    next_process += 1;
                } else {
                    let v = store.apply(&mops);
                    push((), OpType::Ok, process[i], v);
                }
                done += 1;
            }
        }
    }
}

/// Shape of a history from a causally consistent store ([`generate_causal`]).
#[derive(Clone, Debug)]
pub struct CausalConfig {
    pub txns: usize,
    /// Sessions (client processes), each pinned to replica `session % replicas`.
    pub sessions: usize,
    pub replicas: usize,
    /// Keys, chosen with Zipf's law (exponent 1: a fifth of the keys take most accesses).
    pub keys: usize,
    /// Mean micro-ops per transaction (geometric, at least one).
    pub mean_mops: u32,
    /// Per mille of micro-ops that are reads (the rest are writes).
    pub read_per_mille: u32,
    /// One replication step (one replica catching up, in causal order, on another's log) per
    /// this many events: the larger, the staler the replicas.
    pub sync_every: u64,
    /// Per mille of transactions that fail (no effect).
    pub fail_per_mille: u32,
    pub seed: u64,
}

impl CausalConfig {
    /// Roughly the shape of AWDIT's generated causal histories: 1,001 sessions, a few thousand
    /// keys with skewed popularity, ~4-5 micro-ops per transaction, 80% reads.
    pub fn awdit_like(txns: usize, seed: u64) -> CausalConfig {
        CausalConfig {
            txns,
            sessions: 1001,
            replicas: 16,
            keys: 2000,
            mean_mops: 4,
            read_per_mille: 800,
            sync_every: 16,
            fail_per_mille: 5,
            seed,
        }
    }

    /// A small history with few keys and sessions: lost updates and write skews in plenty.
    pub fn small(seed: u64) -> CausalConfig {
        CausalConfig {
            txns: 300,
            sessions: 7,
            replicas: 3,
            keys: 8,
            mean_mops: 3,
            read_per_mille: 600,
            sync_every: 6,
            fail_per_mille: 20,
            seed,
        }
    }
}

/// A committed transaction in its origin replica's log.
struct LogTxn {
    /// What the origin replica had applied of each replica's log when it committed.
    deps: Vec<u32>,
    /// Lamport timestamp (clock, origin): a total order extending causality.
    ts: (u64, usize),
    writes: Vec<(i64, i64)>,
}

struct Replica {
    /// Per key: the value and timestamp of the write that wins (the latest by timestamp).
    state: HashMap<i64, (i64, (u64, usize))>,
    /// How many transactions of each replica's log this replica has applied.
    applied: Vec<u32>,
    clock: u64,
}

impl Replica {
    fn install(&mut self, writes: &[(i64, i64)], ts: (u64, usize)) {
        self.clock = self.clock.max(ts.0);
        for &(k, v) in writes {
            match self.state.get_mut(&k) {
                Some(cur) if cur.1 > ts => {}
                Some(cur) => *cur = (v, ts),
                None => {
                    self.state.insert(k, (v, ts));
                }
            }
        }
    }
}

/// Zipf's law over `0..n` with exponent 1, by inverting the cumulative weights.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut acc = 0.0;
        Zipf(
            (1..=n.max(1))
                .map(|i| {
                    acc += 1.0 / i as f64;
                    acc
                })
                .collect(),
        )
    }

    fn sample(&self, rng: &mut Rng) -> i64 {
        let total = self.0[self.0.len() - 1];
        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.0.partition_point(|&c| c <= x).min(self.0.len() - 1) as i64
    }
}

/// Generates a history of a causally consistent (Cerone et al.'s `causal`), non-serializable
/// store of registers.
///
/// Each replica applies transactions atomically to its own state: its sessions' transactions
/// at their completion, other replicas' transactions by lazy replication in causal order (a
/// remote transaction is applied only after every transaction it depended on, i.e. everything
/// its origin had applied when it committed). Conflicts resolve by last-writer-wins on Lamport
/// timestamps, which extend causality, so one total arbitration order explains every read:
/// each read returns the latest (by timestamp) write among the transactions its replica has
/// applied, which are closed under causality and include the session's earlier transactions.
/// Sessions therefore see stale but causal snapshots, and lost updates and write skews between
/// replicas are common. Values are unique per key; failed transactions have no effect.
pub fn generate_causal(c: &CausalConfig) -> History {
    let mut rng = Rng::new(c.seed);
    let r = c.replicas.max(1);
    let zipf = Zipf::new(c.keys);
    let mut replicas: Vec<Replica> = (0..r)
        .map(|_| Replica {
            state: HashMap::new(),
            applied: vec![0; r],
            clock: 0,
        })
        .collect();
    let mut logs: Vec<Vec<LogTxn>> = (0..r).map(|_| Vec::new()).collect();
    let mut ops: Vec<Op> = Vec::with_capacity(c.txns * 2);
    let mut pending: Vec<Option<Vec<GMop>>> = (0..c.sessions).map(|_| None).collect();
    let mut next_val: i64 = 0;
    let (mut started, mut done) = (0, 0);
    let mut events: u64 = 0;
    while done < c.txns {
        events += 1;
        if c.sync_every > 0 && events.is_multiple_of(c.sync_every) && r > 1 {
            // dst catches up on src's log as far as causality allows.
            let dst = rng.below(r as u64) as usize;
            let src = (dst + 1 + rng.below(r as u64 - 1) as usize) % r;
            loop {
                let i = replicas[dst].applied[src];
                let Some(t) = logs[src].get(i as usize) else {
                    break;
                };
                if t.deps
                    .iter()
                    .zip(&replicas[dst].applied)
                    .any(|(d, a)| d > a)
                {
                    break;
                }
                replicas[dst].install(&t.writes, t.ts);
                replicas[dst].applied[src] += 1;
            }
        }
        let s = rng.below(c.sessions as u64) as usize;
        let push = |ops: &mut Vec<Op>, kind, v| {
            let idx = ops.len() as u64;
            let mut op = Op::new(idx, kind, s as i64, "txn", Value::List(v));
            op.time = Some(idx as i64 * 1000);
            ops.push(op);
        };
        match pending[s].take() {
            None if started < c.txns => {
                let mut mops = Vec::new();
                loop {
                    let k = zipf.sample(&mut rng);
                    if (rng.below(1000) as u32) < c.read_per_mille {
                        mops.push(GMop::Read(k));
                    } else {
                        next_val += 1;
                        mops.push(GMop::Write(k, next_val));
                    }
                    if rng.below(c.mean_mops.max(1) as u64) == 0 {
                        break;
                    }
                }
                push(&mut ops, OpType::Invoke, unapplied(&mops));
                pending[s] = Some(mops);
                started += 1;
            }
            None => {}
            Some(mops) => {
                done += 1;
                if (rng.below(1000) as u32) < c.fail_per_mille {
                    push(&mut ops, OpType::Fail, unapplied(&mops));
                    continue;
                }
                let home = s % r;
                let rep = &mut replicas[home];
                // The transaction's own writes, seen by its later reads.
                let mut own: HashMap<i64, i64> = HashMap::new();
                let done_mops: Vec<Value> = mops
                    .iter()
                    .map(|m| match *m {
                        GMop::Read(k) => {
                            let v = own
                                .get(&k)
                                .copied()
                                .or_else(|| rep.state.get(&k).map(|e| e.0));
                            mop("r", k, v.map_or(Value::Nil, Value::Int))
                        }
                        GMop::Write(k, v) => {
                            own.insert(k, v);
                            mop("w", k, Value::Int(v))
                        }
                        GMop::Append(..) => unreachable!("registers only"),
                    })
                    .collect();
                if !own.is_empty() {
                    let mut writes: Vec<(i64, i64)> = own.into_iter().collect();
                    writes.sort_unstable();
                    let ts = (rep.clock + 1, home);
                    let deps = rep.applied.clone();
                    rep.install(&writes, ts);
                    rep.applied[home] += 1;
                    logs[home].push(LogTxn { deps, ts, writes });
                }
                push(&mut ops, OpType::Ok, done_mops);
            }
        }
    }
    History::from_ops(ops, "generated-causal").expect("generated histories are well-formed")
}

//! Test support: histories generated from correct in-memory models, run by simulated
//! concurrent clients, and written back out as EDN and JSON text.
//!
//! A generated history is valid by construction: every op takes effect atomically at one
//! moment between its invocation and completion (or, when it crashes, perhaps never). Tests
//! then plant one violation and expect the checker to find it.
#![allow(dead_code)]

use labrys_history::{History, Op, OpType, Value};
use std::collections::{HashMap, HashSet};

/// A small deterministic PRNG (xorshift64*), seeded by proptest or by a fixed number.
#[derive(Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What applying an op to a model gives.
pub enum Applied {
    Ok(Value),
    Fail,
}

/// A correct in-memory system under test.
pub trait Model {
    /// The next op a client invokes: `(f, value)`.
    fn next_op(&mut self, rng: &mut SimRng) -> (String, Value);
    /// Applies the op atomically.
    fn apply(&mut self, f: &str, value: &Value, rng: &mut SimRng) -> Applied;
}

enum Slot {
    Idle,
    Pending {
        f: String,
        value: Value,
        result: Option<Applied>,
    },
}

/// Drives `clients` concurrent clients for `steps` scheduling steps against `model`.
/// `crash_percent` of linearisation points are replaced by a crash (info, maybe applied).
pub struct Sim {
    pub ops: Vec<Op>,
    pub rng: SimRng,
    time: i64,
}

impl Sim {
    pub fn new(seed: u64) -> Sim {
        Sim {
            ops: Vec::new(),
            rng: SimRng::new(seed),
            time: 1_000_000_000,
        }
    }

    pub fn push(&mut self, kind: OpType, process: i64, f: &str, value: Value) {
        self.time += 1 + self.rng.below(3_000_000) as i64;
        let mut op = Op::new(self.ops.len() as u64, kind, process, f, value);
        op.time = Some(self.time);
        self.ops.push(op);
    }

    /// Runs the clients. Returns the next unused process id.
    pub fn run<M: Model>(
        &mut self,
        model: &mut M,
        clients: usize,
        steps: usize,
        crash_percent: u64,
    ) -> i64 {
        let mut slots: Vec<(i64, Slot)> = (0..clients).map(|i| (i as i64, Slot::Idle)).collect();
        for _ in 0..steps {
            let i = self.rng.below(clients as u64) as usize;
            let (pid, slot) = &mut slots[i];
            let pid = *pid;
            match std::mem::replace(slot, Slot::Idle) {
                Slot::Idle => {
                    let (f, value) = model.next_op(&mut self.rng);
                    self.push(OpType::Invoke, pid, &f, value.clone());
                    slots[i].1 = Slot::Pending {
                        f,
                        value,
                        result: None,
                    };
                }
                Slot::Pending {
                    f,
                    value,
                    result: None,
                } => {
                    if self.rng.chance(crash_percent) {
                        // Crash: maybe it took effect, maybe not; the client never learns.
                        if self.rng.chance(50) {
                            let _ = model.apply(&f, &value, &mut self.rng);
                        }
                        self.push(OpType::Info, pid, &f, value);
                        slots[i].0 = pid + clients as i64;
                    } else {
                        let r = model.apply(&f, &value, &mut self.rng);
                        slots[i].1 = Slot::Pending {
                            f,
                            value,
                            result: Some(r),
                        };
                    }
                }
                Slot::Pending {
                    f,
                    value,
                    result: Some(r),
                } => match r {
                    Applied::Ok(v) => self.push(OpType::Ok, pid, &f, v),
                    Applied::Fail => self.push(OpType::Fail, pid, &f, value),
                },
            }
        }
        // Let every pending op finish.
        for (pid, slot) in slots.iter_mut() {
            if let Slot::Pending { f, value, result } = std::mem::replace(slot, Slot::Idle) {
                let r = result.unwrap_or_else(|| model.apply(&f, &value, &mut self.rng));
                match r {
                    Applied::Ok(v) => self.push(OpType::Ok, *pid, &f, v),
                    Applied::Fail => self.push(OpType::Fail, *pid, &f, value),
                }
            }
        }
        slots.iter().map(|(p, _)| *p).max().unwrap_or(0) + 1
    }

    /// One op by a fresh process, alone (a final read, a drain).
    pub fn solo<M: Model>(&mut self, model: &mut M, pid: i64, f: &str, value: Value) {
        self.push(OpType::Invoke, pid, f, value.clone());
        match model.apply(f, &value, &mut self.rng) {
            Applied::Ok(v) => self.push(OpType::Ok, pid, f, v),
            Applied::Fail => self.push(OpType::Fail, pid, f, value),
        }
    }

    pub fn history(&self) -> History {
        History::from_ops(self.ops.clone(), "generated").expect("generated histories pair")
    }
}

/// A set of integers, added one fresh element at a time; `read_percent` of ops read the whole
/// set and `fail_percent` of adds fail without effect.
pub struct SetModel {
    pub elements: Vec<i64>,
    pub next: i64,
    pub read_percent: u64,
    pub fail_percent: u64,
}

impl SetModel {
    pub fn new(read_percent: u64, fail_percent: u64) -> SetModel {
        SetModel {
            elements: Vec::new(),
            next: 0,
            read_percent,
            fail_percent,
        }
    }
}

impl Model for SetModel {
    fn next_op(&mut self, rng: &mut SimRng) -> (String, Value) {
        if rng.chance(self.read_percent) {
            return ("read".into(), Value::Nil);
        }
        self.next += 1;
        ("add".into(), int(self.next))
    }

    fn apply(&mut self, f: &str, value: &Value, rng: &mut SimRng) -> Applied {
        if f == "read" {
            return Applied::Ok(list(self.elements.iter().map(|e| int(*e))));
        }
        if rng.chance(self.fail_percent) {
            return Applied::Fail;
        }
        self.elements.push(value.as_i64().unwrap());
        Applied::Ok(value.clone())
    }
}

/// Rebuilds a history from edited ops.
pub fn rebuild(ops: Vec<Op>) -> History {
    History::from_ops(ops, "edited").expect("edited histories pair")
}

/// The history as EDN, one op map per line (Jepsen's newer format).
pub fn to_edn(h: &History) -> String {
    let mut s = String::new();
    for op in &h.ops {
        s.push_str(&format!(
            "{{:index {}, :time {}, :type :{}, :process {}, :f :{}, :value {}}}\n",
            op.index,
            op.time.unwrap_or(0),
            op.kind,
            op.process,
            op.f,
            op.value
        ));
    }
    s
}

/// The history as one JSON array of op objects.
pub fn to_json(h: &History) -> String {
    let ops: Vec<serde_json::Value> = h.ops.iter().map(Op::to_json).collect();
    serde_json::to_string_pretty(&ops).expect("JSON serialises")
}

pub fn int(i: i64) -> Value {
    Value::Int(i)
}

pub fn list(v: impl IntoIterator<Item = Value>) -> Value {
    Value::List(v.into_iter().collect())
}

/// Builds a history from `(kind, process, f, value)` rows.
pub fn hist(rows: &[(OpType, i64, &str, Value)]) -> History {
    let ops = rows
        .iter()
        .enumerate()
        .map(|(i, (k, p, f, v))| {
            let mut op = Op::new(i as u64, *k, *p, f, v.clone());
            op.time = Some(i as i64 * 1_000_000);
            op
        })
        .collect();
    History::from_ops(ops, "test").expect("test histories pair")
}

/// Jepsen's set-full loop, transcribed into its essentials: at every ok read's completion,
/// update every element added so far. Returns (stable, lost, never-read, stale) counts, stale
/// meaning stable but missed by a read invoked after the element was known.
pub fn reference_set_full(h: &History) -> (usize, usize, usize, usize) {
    #[derive(Default, Clone)]
    struct St {
        known: Option<usize>,
        last_present: Option<usize>,
        last_absent: Option<usize>,
    }
    let mut inv_of: HashMap<usize, usize> = HashMap::new();
    for p in &h.pairs {
        if let Some(c) = p.completion {
            inv_of.insert(c, p.invoke);
        }
    }
    let mut order: Vec<Value> = Vec::new();
    let mut st: HashMap<Value, St> = HashMap::new();
    for (pos, op) in h.ops.iter().enumerate() {
        match (&*op.f, op.kind) {
            ("add", OpType::Invoke) => {
                if !st.contains_key(&op.value) {
                    order.push(op.value.clone());
                }
                st.insert(op.value.clone(), St::default());
            }
            ("add", OpType::Ok) => {
                let s = st.get_mut(&op.value).unwrap();
                s.known = s.known.or(Some(pos));
            }
            ("read", OpType::Ok) => {
                let inv = inv_of[&pos];
                let seen: HashSet<&Value> = op.value.as_seq().unwrap().iter().collect();
                for (v, s) in st.iter_mut() {
                    if seen.contains(v) {
                        s.known = s.known.or(Some(pos));
                        s.last_present = Some(s.last_present.map_or(inv, |p| p.max(inv)));
                    } else {
                        s.last_absent = Some(s.last_absent.map_or(inv, |p| p.max(inv)));
                    }
                }
            }
            _ => {}
        }
    }
    let (mut stable, mut lost, mut never, mut stale) = (0, 0, 0, 0);
    for v in &order {
        let s = &st[v];
        let is_stable = s.last_present.is_some() && s.last_absent < s.last_present;
        let is_lost = matches!((s.known, s.last_absent), (Some(k), Some(a)) if s.last_present < Some(a) && k < a);
        if is_stable {
            stable += 1;
            if matches!((s.known, s.last_absent), (Some(k), Some(a)) if a > k) {
                stale += 1;
            }
        } else if is_lost {
            lost += 1
        } else {
            never += 1
        }
    }
    (stable, lost, never, stale)
}

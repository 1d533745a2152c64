//! A simulator of *correct* concurrent objects that writes Jepsen-style histories, for
//! soundness tests and benchmarks.
//!
//! A checker must never call a valid history invalid; the surest valid histories are the ones
//! a correct object produces under random concurrency. [`Sim::run`] interleaves clients that
//! invoke ops, has each op take effect on the true object at a random instant inside its
//! interval, and crashes (→ `info`, the client gets a new process id, the op may or may not
//! have taken effect) or refuses (→ `fail`, the op did not take effect) some of them.
//! [`random_history`] instead writes *random* results, for differential tests where both
//! verdicts must occur. Both are deterministic in their seed.

use labrys_history::{History, Op, OpType, Value};

/// A small deterministic PRNG (xorshift64*), so proptest shrinks over seeds.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    Register,
    CasRegister,
    Mutex,
    Fifo,
    Unordered,
    Set,
}

impl Object {
    pub fn workload(self) -> &'static str {
        match self {
            Object::Register => "register",
            Object::CasRegister => "cas-register",
            Object::Mutex => "mutex",
            Object::Fifo => "fifo-queue",
            Object::Unordered => "unordered-queue",
            Object::Set => "set",
        }
    }
}

/// The true state of the simulated object.
#[derive(Clone, Debug)]
enum Truth {
    Reg(Value),
    Lock(bool),
    Queue(Vec<i64>, bool),
    Set(Vec<i64>),
}

struct Pending {
    process: i64,
    f: &'static str,
    invoke_value: Value,
    /// `Some(Ok(v))` once applied with result `v`; `Some(Err(()))` when the op was refused.
    applied: Option<Result<Value, ()>>,
}

/// Parameters of a simulation.
#[derive(Clone, Copy, Debug)]
pub struct Sim {
    pub object: Object,
    pub processes: usize,
    pub ops: usize,
    /// Percent chance that a step crashes a pending op (→ info, process retired).
    pub crash: u64,
    /// Percent chance that a step fails a not-yet-applied op.
    pub fail: u64,
    /// Register values drawn from `0..domain` instead of unique ones (0: unique).
    pub domain: i64,
    pub initial: i64,
}

impl Sim {
    pub fn new(object: Object) -> Sim {
        Sim {
            object,
            processes: 4,
            ops: 40,
            crash: 3,
            fail: 5,
            domain: 0,
            initial: 0,
        }
    }

    /// Runs a correct object under random concurrency; every history it writes is linearizable.
    pub fn run(&self, seed: u64) -> Vec<Op> {
        let mut rng = Rng::new(seed);
        let mut truth = match self.object {
            Object::Register | Object::CasRegister => Truth::Reg(Value::Int(self.initial)),
            Object::Mutex => Truth::Lock(false),
            Object::Fifo | Object::Unordered => {
                Truth::Queue(Vec::new(), self.object == Object::Fifo)
            }
            Object::Set => Truth::Set(Vec::new()),
        };
        let mut out: Vec<Op> = Vec::new();
        let mut slots: Vec<Option<Pending>> = (0..self.processes).map(|_| None).collect();
        let mut proc_ids: Vec<i64> = (0..self.processes as i64).collect();
        let mut next_proc = self.processes as i64;
        let mut fresh = 1000i64;
        let mut invoked = 0usize;
        let emit = |out: &mut Vec<Op>, kind, p, f: &str, v: Value| {
            let i = out.len() as u64;
            out.push(Op::new(i, kind, p, f, v));
        };
        let mut guard = 0;
        while (invoked < self.ops || slots.iter().any(Option::is_some)) && guard < self.ops * 50 {
            guard += 1;
            let s = rng.below(self.processes as u64) as usize;
            let p = proc_ids[s];
            match slots[s].take() {
                None => {
                    if invoked >= self.ops {
                        continue;
                    }
                    invoked += 1;
                    let mut value = |rng: &mut Rng| {
                        if self.domain > 0 {
                            rng.below(self.domain as u64) as i64
                        } else {
                            fresh += 1;
                            fresh
                        }
                    };
                    let (f, v) = match self.object {
                        Object::Register | Object::CasRegister => {
                            match rng.below(if self.object == Object::CasRegister {
                                3
                            } else {
                                2
                            }) {
                                0 => ("read", Value::Nil),
                                1 => ("write", Value::Int(value(&mut rng))),
                                _ => {
                                    let old = match (&truth, rng.chance(60)) {
                                        (Truth::Reg(v), true) => v.clone(),
                                        _ => Value::Int(rng.below(3) as i64 + self.initial),
                                    };
                                    ("cas", Value::List(vec![old, Value::Int(value(&mut rng))]))
                                }
                            }
                        }
                        Object::Mutex => (
                            if rng.chance(50) { "acquire" } else { "release" },
                            Value::Nil,
                        ),
                        Object::Fifo | Object::Unordered => {
                            if rng.chance(55) {
                                fresh += 1;
                                ("enqueue", Value::Int(fresh))
                            } else {
                                ("dequeue", Value::Nil)
                            }
                        }
                        Object::Set => {
                            if rng.chance(60) {
                                fresh += 1;
                                ("add", Value::Int(fresh))
                            } else {
                                ("read", Value::Nil)
                            }
                        }
                    };
                    emit(&mut out, OpType::Invoke, p, f, v.clone());
                    slots[s] = Some(Pending {
                        process: p,
                        f,
                        invoke_value: v,
                        applied: None,
                    });
                }
                Some(mut pend) => {
                    if rng.chance(self.crash) {
                        // Crash: the op may already have taken effect, or never will.
                        emit(&mut out, OpType::Info, p, pend.f, pend.invoke_value.clone());
                        proc_ids[s] = next_proc;
                        next_proc += 1;
                        continue;
                    }
                    match pend.applied.take() {
                        None => {
                            if rng.chance(self.fail) {
                                emit(&mut out, OpType::Fail, p, pend.f, pend.invoke_value.clone());
                            } else if rng.chance(50) {
                                pend.applied =
                                    Some(apply(&mut truth, pend.f, &pend.invoke_value, &mut rng));
                                slots[s] = Some(pend);
                            } else {
                                slots[s] = Some(pend);
                            }
                        }
                        Some(Ok(v)) => emit(&mut out, OpType::Ok, pend.process, pend.f, v),
                        Some(Err(())) => emit(
                            &mut out,
                            OpType::Fail,
                            pend.process,
                            pend.f,
                            pend.invoke_value.clone(),
                        ),
                    }
                }
            }
        }
        // Anything still pending never completed: left without completion (unknown).
        out
    }
}

fn apply(truth: &mut Truth, f: &str, v: &Value, rng: &mut Rng) -> Result<Value, ()> {
    match (truth, f) {
        (Truth::Reg(x), "read") => Ok(x.clone()),
        (Truth::Reg(x), "write") => {
            *x = v.clone();
            Ok(v.clone())
        }
        (Truth::Reg(x), "cas") => {
            let s = v.as_seq().expect("pair");
            if *x == s[0] {
                *x = s[1].clone();
                Ok(v.clone())
            } else {
                Err(())
            }
        }
        (Truth::Lock(h), "acquire") => {
            if *h {
                Err(())
            } else {
                *h = true;
                Ok(Value::Nil)
            }
        }
        (Truth::Lock(h), "release") => {
            if *h {
                *h = false;
                Ok(Value::Nil)
            } else {
                Err(())
            }
        }
        (Truth::Queue(q, _), "enqueue") => {
            q.push(v.as_i64().expect("int"));
            Ok(v.clone())
        }
        (Truth::Queue(q, fifo), "dequeue") => {
            if q.is_empty() {
                Ok(Value::Nil)
            } else {
                // FIFO takes the head; an unordered queue may take any element.
                let i = if *fifo || rng.chance(50) {
                    0
                } else {
                    rng.below(q.len() as u64) as usize
                };
                Ok(Value::Int(q.remove(i)))
            }
        }
        (Truth::Set(s), "add") => {
            s.push(v.as_i64().expect("int"));
            Ok(v.clone())
        }
        (Truth::Set(s), "read") => Ok(Value::Set(s.iter().map(|x| Value::Int(*x)).collect())),
        _ => unreachable!("the simulator never invokes {f} on this object"),
    }
}

/// Pairs simulated ops into a history.
pub fn history(ops: Vec<Op>) -> History {
    History::from_ops(ops, "simulated").expect("the simulator writes well-formed histories")
}

/// The ok writes of a register history as (invoke, complete, value), by completion.
fn ok_writes_by_return(h: &History) -> Vec<(usize, usize, Value)> {
    let mut writes: Vec<(usize, usize, Value)> = h
        .calls()
        .filter(|c| c.outcome() == OpType::Ok && c.f() == "write")
        .map(|c| (c.invoke_pos, c.complete_pos, c.invoke.value.clone()))
        .collect();
    writes.sort_by_key(|w| w.1);
    writes
}

/// Makes one ok read return a value overwritten before it began: an ok write w0 of v0
/// completes, then an ok write w1 begins and completes, then the read begins. With unique
/// written values v0 can only come from w0, so no linearization lets the read see it. Picks
/// the first such read at or after `from` (a position in `ops`); returns its completion's
/// position.
pub fn plant_stale_read(ops: &mut [Op], from: usize) -> Option<usize> {
    let h = History::from_ops(ops.to_vec(), "planted").ok()?;
    let writes = ok_writes_by_return(&h);
    for c in h
        .calls()
        .filter(|c| c.outcome() == OpType::Ok && c.f() == "read" && c.invoke_pos >= from)
    {
        // The latest w1 completed before the read, and a w0 completed before w1 began.
        let before: Vec<&(usize, usize, Value)> =
            writes.iter().filter(|w| w.1 < c.invoke_pos).collect();
        for w1 in before.iter().rev() {
            if let Some(w0) = before.iter().rev().find(|w0| w0.1 < w1.0) {
                ops[c.complete_pos].value = w0.2.clone();
                return Some(c.complete_pos);
            }
        }
    }
    None
}

/// Makes one ok read of a cas-register return a value `v` no linearization can give it,
/// also when values repeat: an ok write `w` of another value returns before the read begins,
/// and every op that could leave `v` (a write of `v` or a cas to `v`, ok or crashed, invoked
/// before the read returns) returned before `w` began. Then in every linearization `w` comes
/// after all of them and before the read, so the read sees `w`'s value or a later one, never
/// `v`. (`v` may be the initial value, which is older than every op.) Picks the first such
/// read at or after `from` and the `w` that returned last before it; returns the read's
/// completion position.
///
/// When values repeat and clients crash, there is usually no such `v`: a crashed write may
/// take effect at any time after it began, so every value some crashed op wrote stays
/// readable for ever. Then the first ok read at or after `from` returns a value no op wrote
/// (one past the largest integer written): just as impossible, and still found only by
/// exhausting every order of the ops before the read returns.
pub fn plant_impossible_read(ops: &mut [Op], from: usize) -> Option<usize> {
    let h = History::from_ops(ops.to_vec(), "planted").ok()?;
    // (invoke, return or MAX, value produced) of every op that may have taken effect.
    let producers: Vec<(usize, usize, Value)> = h
        .calls()
        .filter(|c| c.outcome() != OpType::Fail)
        .filter_map(|c| {
            let v = match c.f() {
                "write" => c.invoke.value.clone(),
                "cas" => c.invoke.value.as_seq()?.get(1)?.clone(),
                _ => return None,
            };
            let done = if c.outcome() == OpType::Ok {
                c.complete_pos
            } else {
                usize::MAX
            };
            Some((c.invoke_pos, done, v))
        })
        .collect();
    let writes = ok_writes_by_return(&h);
    let mut values: Vec<Value> = Vec::new();
    for p in &producers {
        if !values.contains(&p.2) {
            values.push(p.2.clone());
        }
    }
    for r in h
        .calls()
        .filter(|c| c.outcome() == OpType::Ok && c.f() == "read" && c.invoke_pos >= from)
    {
        let Some(w) = writes.iter().rev().find(|w| w.1 < r.invoke_pos) else {
            continue;
        };
        let impossible = values.iter().find(|v| {
            **v != w.2
                && **v != *r.value()
                && producers
                    .iter()
                    .filter(|p| p.2 == **v && p.0 < r.complete_pos)
                    .all(|p| p.1 < w.0)
        });
        if let Some(v) = impossible {
            ops[r.complete_pos].value = v.clone();
            return Some(r.complete_pos);
        }
    }
    let unwritten = values.iter().filter_map(Value::as_i64).max().unwrap_or(0) + 1;
    let r = h
        .calls()
        .find(|c| c.outcome() == OpType::Ok && c.f() == "read" && c.invoke_pos >= from)?;
    ops[r.complete_pos].value = Value::Int(unwritten);
    Some(r.complete_pos)
}

/// Makes an ok dequeue at or after `from` return the value an earlier ok dequeue returned
/// (one that returned before it began): a value enqueued once comes out twice, which no
/// queue, FIFO or unordered, allows. Returns whether it found such a pair.
pub fn plant_dequeued_twice(ops: &mut [Op], from: usize) -> bool {
    let Ok(h) = History::from_ops(ops.to_vec(), "planted") else {
        return false;
    };
    let deqs: Vec<(usize, usize, Value)> = h
        .calls()
        .filter(|c| c.outcome() == OpType::Ok && c.f() == "dequeue")
        .filter(|c| !c.value().is_nil() && c.invoke_pos >= from)
        .map(|c| (c.invoke_pos, c.complete_pos, c.value().clone()))
        .collect();
    let pair = deqs
        .iter()
        .find_map(|d1| deqs.iter().find(|d2| d2.0 > d1.1).map(|d2| (d1, d2)));
    let Some((d1, d2)) = pair else {
        return false;
    };
    ops[d2.1].value = d1.2.clone();
    true
}

/// Swaps the results of two ok dequeues `d1`, `d2` (d1 returned before d2 began) whose
/// values `x`, `y` were enqueued one after the other: afterwards `d1` takes `y` while `x`,
/// which went in first, is still queued. Returns whether it found such a pair.
pub fn plant_reordered_dequeues(ops: &mut [Op], from: usize) -> bool {
    let h = History::from_ops(ops.to_vec(), "planted").expect("well-formed");
    let ok = |f: &str| -> Vec<(usize, usize, Value)> {
        h.calls()
            .filter(|c| c.outcome() == OpType::Ok && c.f() == f && !c.value().is_nil())
            .map(|c| (c.invoke_pos, c.complete_pos, c.value().clone()))
            .collect()
    };
    let (enqs, deqs) = (ok("enqueue"), ok("dequeue"));
    let enq_of = |v: &Value| enqs.iter().find(|e| &e.2 == v).cloned();
    for (i, d1) in deqs.iter().enumerate().filter(|(_, d)| d.0 >= from) {
        for d2 in deqs[i + 1..].iter().filter(|d2| d2.0 > d1.1) {
            if let (Some(ex), Some(ey)) = (enq_of(&d1.2), enq_of(&d2.2)) {
                if ex.1 < ey.0 {
                    ops[d1.1].value = d2.2.clone();
                    ops[d2.1].value = d1.2.clone();
                    return true;
                }
            }
        }
    }
    false
}

/// The client loop the random generators share: `processes` clients, about `ops` calls.
/// `call(rng, index)` picks an invocation's `f` and value; `result(rng, f, value)` picks an
/// ok completion's value. 75% of completions are ok, 15% info (the client then gets a new
/// process id) and 10% fail; calls still pending at the end never complete.
fn random_calls(
    seed: u64,
    processes: usize,
    ops: usize,
    mut call: impl FnMut(&mut Rng, u64) -> (&'static str, Value),
    mut result: impl FnMut(&mut Rng, &'static str, Value) -> Value,
) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<Op> = Vec::new();
    let mut pending: Vec<Option<(&'static str, Value)>> = vec![None; processes];
    let mut ids: Vec<i64> = (0..processes as i64).collect();
    let mut next = processes as i64;
    let (mut invoked, mut steps) = (0, 0);
    while steps < ops * 6 && (invoked < ops || pending.iter().any(Option::is_some)) {
        steps += 1;
        let s = rng.below(processes as u64) as usize;
        let p = ids[s];
        let i = out.len() as u64;
        match pending[s].take() {
            None if invoked < ops => {
                invoked += 1;
                let (f, v) = call(&mut rng, i);
                out.push(Op::new(i, OpType::Invoke, p, f, v.clone()));
                pending[s] = Some((f, v));
            }
            None => {}
            Some((f, v)) => {
                let roll = rng.below(100);
                let (kind, value) = if roll < 75 {
                    (OpType::Ok, result(&mut rng, f, v))
                } else if roll < 90 {
                    (OpType::Info, v)
                } else {
                    (OpType::Fail, v)
                };
                out.push(Op::new(i, kind, p, f, value));
                if kind == OpType::Info {
                    ids[s] = next;
                    next += 1;
                }
            }
        }
    }
    out
}

/// A random small history with *random* results (so both verdicts occur), for differential
/// tests: `processes` clients, about `ops` calls, values in `0..3`.
pub fn random_history(object: Object, seed: u64, processes: usize, ops: usize) -> Vec<Op> {
    let val = |rng: &mut Rng| Value::Int(rng.below(3) as i64);
    random_calls(
        seed,
        processes,
        ops,
        |rng, _| match object {
            Object::Register | Object::CasRegister => match rng.below(3) {
                0 => ("read", Value::Nil),
                1 => ("write", val(rng)),
                _ => ("cas", Value::List(vec![val(rng), val(rng)])),
            },
            Object::Mutex => (
                if rng.chance(50) { "acquire" } else { "release" },
                Value::Nil,
            ),
            Object::Fifo | Object::Unordered => {
                if rng.chance(50) {
                    ("enqueue", val(rng))
                } else {
                    ("dequeue", Value::Nil)
                }
            }
            Object::Set => {
                if rng.chance(50) {
                    ("add", val(rng))
                } else {
                    ("read", Value::Nil)
                }
            }
        },
        |rng, f, v| match f {
            "read" if object == Object::Set => {
                Value::Set((0..3).filter(|_| rng.chance(50)).map(Value::Int).collect())
            }
            "read" => val(rng),
            "dequeue" if rng.chance(25) => Value::Nil,
            "dequeue" => val(rng),
            _ => v,
        },
    )
}

/// A random small FIFO-queue history whose enqueued values are unique, with *random*
/// dequeue results (mostly the oldest value not yet returned, sometimes any enqueued value
/// or nothing), crashes and failures: for differential tests of the FIFO queue's added
/// orders and fast check.
pub fn random_unique_queue_history(seed: u64, processes: usize, ops: usize) -> Vec<Op> {
    let enqueued = std::cell::RefCell::new(Vec::<i64>::new());
    random_calls(
        seed,
        processes,
        ops,
        |rng, i| {
            if rng.chance(55) {
                enqueued.borrow_mut().push(1000 + i as i64);
                ("enqueue", Value::Int(1000 + i as i64))
            } else {
                ("dequeue", Value::Nil)
            }
        },
        |rng, f, v| {
            let mut enqueued = enqueued.borrow_mut();
            if f == "enqueue" {
                v
            } else if enqueued.is_empty() || rng.chance(15) {
                Value::Nil
            } else if rng.chance(70) {
                Value::Int(enqueued.remove(0))
            } else {
                Value::Int(enqueued[rng.below(enqueued.len() as u64) as usize])
            }
        },
    )
}

/// A random small set history whose added values are unique (`1000+`), with *random*
/// reads: mostly the values of the first adds invoked so far (what a correct set tends to
/// show), sometimes any subset of them, rarely a value nobody added. For differential tests
/// of the set's fast check.
pub fn random_unique_set_history(seed: u64, processes: usize, ops: usize) -> Vec<Op> {
    let added = std::cell::RefCell::new(Vec::<i64>::new());
    random_calls(
        seed,
        processes,
        ops,
        |rng, i| {
            if rng.chance(50) {
                added.borrow_mut().push(1000 + i as i64);
                ("add", Value::Int(1000 + i as i64))
            } else {
                ("read", Value::Nil)
            }
        },
        |rng, f, v| {
            if f != "read" {
                return v;
            }
            let added = added.borrow();
            let mut out: Vec<Value> = if rng.chance(70) {
                let n = rng.below(added.len() as u64 + 1) as usize;
                added[..n].iter().map(|&x| Value::Int(x)).collect()
            } else {
                added
                    .iter()
                    .filter(|_| rng.chance(50))
                    .map(|&x| Value::Int(x))
                    .collect()
            };
            if rng.chance(4) {
                out.push(Value::Int(999));
            }
            Value::Set(out.into_iter().collect())
        },
    )
}

/// A random small register history whose written values are unique (`1000+`), with
/// *random* results: reads return the initial value 0, a value some write was invoked with,
/// or (rarely) a value nobody wrote; cas ops expect such values too. For differential tests
/// of the fast check for values written once.
pub fn random_unique_history(seed: u64, processes: usize, ops: usize) -> Vec<Op> {
    let written = std::cell::RefCell::new(vec![0i64]);
    let pick = |rng: &mut Rng, written: &[i64]| {
        if rng.chance(8) {
            Value::Int(999)
        } else {
            Value::Int(written[rng.below(written.len() as u64) as usize])
        }
    };
    random_calls(
        seed,
        processes,
        ops,
        |rng, i| {
            let fresh = 1000 + i as i64;
            match rng.below(3) {
                0 => ("read", Value::Nil),
                1 => {
                    written.borrow_mut().push(fresh);
                    ("write", Value::Int(fresh))
                }
                _ => {
                    written.borrow_mut().push(fresh);
                    let old = pick(rng, &written.borrow());
                    ("cas", Value::List(vec![old, Value::Int(fresh)]))
                }
            }
        },
        |rng, f, v| {
            if f == "read" {
                pick(rng, &written.borrow())
            } else {
                v
            }
        },
    )
}

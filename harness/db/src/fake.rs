//! A database that lives in this process: the contract without root, nodes or network.
//!
//! It records every call it receives (`install n1`, `start-all`, `kill n2`, ...) so a test can
//! assert the order in which the runner drives a database, and its clients are correct
//! in-memory objects, so a run against it must come out valid: Jepsen's independent
//! cas-registers (`read`/`write`/`cas` on `[key value]`) and Elle's list-append transactions
//! (`[[append k v] [r k nil]]`), each op applied atomically under one lock. It offers
//! [`Process`] (a killed or paused node's ops `fail` until it is started or resumed) and
//! [`Primaries`] (the first node that is up).

use crate::{
    Db, DbError, DbFuture, DbInfo, DbKind, DbOptions, Isolation, LogFile, Primaries, Process,
};
use labrys_control::Remote;
use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The fake's facts.
pub static INFO: DbInfo = DbInfo {
    name: "fake",
    packages: &[],
    honours_faketime: true,
    faketime_note: "",
    workloads: &[
        "register",
        "list-append",
        "rw-register",
        "bank",
        "set",
        "counter",
        "unique-ids",
        "queue",
    ],
    options: &[],
    isolations: &[Isolation {
        name: "serializable",
        models: &["strict-serializable"],
        promise: "one lock around everything: every op happens at one instant",
    }],
};

/// [`DbKind`] of the fake; every database it opens shares one call log.
#[derive(Default)]
pub struct FakeKind {
    pub db: Arc<FakeDb>,
}

impl DbKind for FakeKind {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn open(&self, nodes: &[Arc<dyn Remote>], _: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        self.db.call(format!("open {}", nodes.len()));
        Ok(self.db.clone())
    }
}

#[derive(Default)]
struct State {
    registers: HashMap<Value, Value>,
    lists: HashMap<Value, Vec<Value>>,
    /// The bank's balances, created on the first bank op.
    accounts: Option<Vec<i64>>,
    set: Vec<Value>,
    counter: i64,
    /// The last id `generate` handed out.
    last_id: i64,
    queue: std::collections::VecDeque<Value>,
    /// Nodes whose server is down (killed or paused).
    down: BTreeSet<String>,
}

/// The fake database. `calls()` lists what was asked of it, in order. Clones share it all.
#[derive(Clone, Default)]
pub struct FakeDb {
    inner: Arc<Inner>,
}

/// What the database and its clients share.
#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<String>>,
    state: Mutex<State>,
    /// Node names, in order, as `start_all` last saw them (clients map `ctx.node` to one).
    nodes: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeDb {
    pub fn calls(&self) -> Vec<String> {
        lock(&self.inner.calls).clone()
    }

    fn call(&self, c: String) {
        self.inner.call(c);
    }
}

impl Inner {
    fn call(&self, c: String) {
        lock(&self.calls).push(c);
    }

    fn apply(&self, ctx: OpCtx, op: &OpSpec, workload: &str) -> Completion {
        let node = lock(&self.nodes).get(ctx.node).cloned();
        let mut st = lock(&self.state);
        if node.is_some_and(|n| st.down.contains(&n)) {
            return Completion::fail("node down");
        }
        let pair = |v: &Value| match v {
            Value::List(kv) if kv.len() == 2 => Some((kv[0].clone(), kv[1].clone())),
            _ => None,
        };
        match &*op.f {
            "read" if workload == "bank" => {
                let acc = st
                    .accounts
                    .get_or_insert_with(|| crate::bank::initial().map(|(_, b)| b).collect());
                Completion::ok(Value::Map(
                    acc.iter()
                        .enumerate()
                        .map(|(a, b)| (Value::Int(a as i64), Value::Int(*b)))
                        .collect(),
                ))
            }
            "read" if workload == "set" => Completion::ok(Value::List(st.set.clone())),
            "read" if workload == "counter" => Completion::ok(Value::Int(st.counter)),
            "add" if workload == "counter" => match op.value.as_i64() {
                Some(n) => {
                    st.counter += n;
                    Completion::ok(op.value.clone())
                }
                None => Completion::fail("expected an integer"),
            },
            "generate" => {
                st.last_id += 1;
                Completion::ok(Value::Int(st.last_id))
            }
            "enqueue" => {
                st.queue.push_back(op.value.clone());
                Completion::ok(op.value.clone())
            }
            "dequeue" => Completion::ok(st.queue.pop_front().unwrap_or(Value::Nil)),
            "drain" => Completion::ok(Value::List(st.queue.drain(..).collect())),
            "read" | "write" | "cas" => {
                let Some((k, v)) = pair(&op.value) else {
                    return Completion::fail("expected [key value]");
                };
                let cur = st.registers.get(&k).cloned().unwrap_or(Value::Nil);
                match &*op.f {
                    "read" => Completion::ok(Value::List(vec![k, cur])),
                    "write" => {
                        st.registers.insert(k, v);
                        Completion::ok(op.value.clone())
                    }
                    _ => match pair(&v) {
                        Some((old, new)) if old == cur => {
                            st.registers.insert(k, new);
                            Completion::ok(op.value.clone())
                        }
                        Some(_) => Completion::fail("cas: value differs"),
                        None => Completion::fail("cas: expected [old new]"),
                    },
                }
            }
            "txn" => {
                let Value::List(mops) = &op.value else {
                    return Completion::fail("expected a list of micro-ops");
                };
                let mut out = Vec::with_capacity(mops.len());
                for m in mops {
                    let Value::List(m) = m else {
                        return Completion::fail("expected [f k v]");
                    };
                    let (f, k) = (m[0].as_str().unwrap_or(""), m[1].clone());
                    match f {
                        "append" => {
                            st.lists.entry(k).or_default().push(m[2].clone());
                            out.push(Value::List(m.clone()));
                        }
                        "w" => {
                            st.registers.insert(k, m[2].clone());
                            out.push(Value::List(m.clone()));
                        }
                        "r" if st.registers.contains_key(&k) => {
                            let v = st.registers[&k].clone();
                            out.push(Value::List(vec![m[0].clone(), k, v]));
                        }
                        _ => {
                            let l = st.lists.get(&k).cloned().unwrap_or_default();
                            out.push(Value::List(vec![m[0].clone(), k, Value::List(l)]));
                        }
                    }
                }
                Completion::ok(Value::List(out))
            }
            "transfer" => {
                let field = |name: &str| {
                    op.value
                        .as_map()
                        .and_then(|m| m.iter().find(|(k, _)| k.as_name() == Some(name)))
                        .and_then(|(_, v)| v.as_i64())
                };
                let (Some(from), Some(to), Some(amount)) =
                    (field("from"), field("to"), field("amount"))
                else {
                    return Completion::fail("expected {from, to, amount}");
                };
                let acc = st
                    .accounts
                    .get_or_insert_with(|| crate::bank::initial().map(|(_, b)| b).collect());
                let (f, t) = (from as usize, to as usize);
                if f >= acc.len() || t >= acc.len() {
                    return Completion::fail("no such account");
                }
                if acc[f] < amount {
                    return Completion::fail("insufficient funds");
                }
                acc[f] -= amount;
                acc[t] += amount;
                Completion::ok(op.value.clone())
            }
            "add" => {
                st.set.push(op.value.clone());
                Completion::ok(op.value.clone())
            }
            other => Completion::fail(format!("unknown op {other}")),
        }
    }
}

impl Db for FakeDb {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.call(format!("install {}", node.node()));
        Ok(())
    }
    fn version(&self, _: &dyn Remote) -> Result<String, DbError> {
        Ok("fake 1.0".into())
    }
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        self.call(format!("wipe {}", node.node()));
        let mut st = lock(&self.inner.state);
        st.down.remove(node.node());
        if lock(&self.inner.nodes).first().map(String::as_str) == Some(node.node()) {
            st.registers.clear();
            st.lists.clear();
            st.accounts = None;
            st.set.clear();
        }
        Ok(0)
    }
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        _: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            *lock(&self.inner.nodes) = nodes.iter().map(|n| n.node().to_string()).collect();
            self.call("start-all".into());
            Ok(())
        })
    }
    fn log_files(&self) -> Vec<LogFile> {
        Vec::new()
    }
    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError> {
        self.call(format!("client {workload}"));
        Ok(Arc::new(FakeClient(
            self.inner.clone(),
            workload.to_string(),
        )))
    }
    fn process(&self) -> Option<Arc<dyn Process>> {
        Some(Arc::new(self.clone()))
    }
    fn primaries(&self) -> Option<Arc<dyn Primaries>> {
        Some(Arc::new(self.clone()))
    }
}

struct FakeClient(Arc<Inner>, String);

impl Client for FakeClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            let c = self.0.apply(ctx, op, &self.1);
            match lock(&self.0.nodes).get(ctx.node) {
                Some(n) => c.on_node(n.clone()),
                None => c,
            }
        })
    }
}

impl Process for FakeDb {
    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.call(format!("start {}", node.node()));
        lock(&self.inner.state).down.remove(node.node());
        Ok(())
    }
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.call(format!("kill {}", node.node()));
        lock(&self.inner.state).down.insert(node.node().to_string());
        Ok(())
    }
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.call(format!("pause {}", node.node()));
        lock(&self.inner.state).down.insert(node.node().to_string());
        Ok(())
    }
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.call(format!("resume {}", node.node()));
        lock(&self.inner.state).down.remove(node.node());
        Ok(())
    }
}

impl Primaries for FakeDb {
    fn primaries(&self, nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        let st = lock(&self.inner.state);
        nodes
            .iter()
            .map(|n| n.node().to_string())
            .find(|n| !st.down.contains(n))
            .into_iter()
            .collect()
    }
}

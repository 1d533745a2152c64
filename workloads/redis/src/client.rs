//! Clients that find the Redis primary through Sentinel.
//!
//! Each worker asks the sentinels (its own node's first, then the others) for the primary's
//! address (`SENTINEL get-master-addr-by-name`), connects to it, and keeps that connection
//! until an error; then it drops the connection and asks again on its next op. Every
//! completion records the node that answered (`node`), so a history shows which primary
//! acknowledged what.
//!
//! Ops: register `read [k nil]` is `GET`, `write [k v]` is `SET`, `cas [k [old new]]` is one
//! Lua script (atomic on the server: compare, then set) answering 1 or 0; set `add v` is
//! `SADD`, the final `read` is `SMEMBERS`.
//!
//! Outcomes: no primary known, or a connection refused, means the op was never sent: `fail`.
//! An error reply (`READONLY` from a demoted primary, `LOADING`, `MASTERDOWN`, a script
//! error) means the server did not run it: `fail`. An I/O error or a dropped connection
//! after the command was sent leaves a write's outcome unknown: `info`; a read that errs
//! changed nothing: `fail`.

use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Compare-and-set, atomically on the server.
pub const CAS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// The set workload's key.
pub const SET_KEY: &str = "labrys-set";

const CONNECT: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Register,
    Set,
}

impl Workload {
    pub fn parse(s: &str) -> Option<Workload> {
        match s {
            "register" => Some(Workload::Register),
            "set" => Some(Workload::Set),
            _ => None,
        }
    }
}

/// A worker's connection to the node it believes is the primary.
struct Conn {
    node: String,
    con: MultiplexedConnection,
}

/// How an op ended early.
enum Abort {
    Fail(String),
    Info(String),
}

/// Redis clients for every worker.
pub struct RedisClient {
    /// (node name, host), in node order.
    nodes: Vec<(String, String)>,
    port: u16,
    sentinel_port: u16,
    workload: Workload,
    conns: Mutex<HashMap<usize, Conn>>,
}

async fn connect(host: &str, port: u16) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(format!("redis://{host}:{port}/"))
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    match tokio::time::timeout(CONNECT, client.get_multiplexed_async_connection()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("{host}:{port}: cannot connect: {e}")),
        Err(_) => Err(format!("{host}:{port}: no connection within {CONNECT:?}")),
    }
}

/// The key of register `k`.
fn key(k: &Value) -> String {
    match k.as_name() {
        Some(s) => format!("r{s}"),
        None => format!("r{k}"),
    }
}

fn text(v: &Value) -> String {
    match v.as_name() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    }
}

/// A stored text back as a value: an integer when it is one.
pub fn decode(s: &str) -> Value {
    s.parse::<i64>()
        .map(Value::Int)
        .unwrap_or_else(|_| Value::str(s))
}

/// Whether an error is the server's answer (it did not run the command) rather than a lost
/// connection (it may have).
fn is_reply(e: &redis::RedisError) -> bool {
    !(e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error())
}

impl RedisClient {
    pub fn new(
        nodes: Vec<(String, String)>,
        port: u16,
        sentinel_port: u16,
        workload: Workload,
    ) -> RedisClient {
        RedisClient {
            nodes,
            port,
            sentinel_port,
            workload,
            conns: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Conn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The primary the first answering sentinel names, starting at node `first`:
    /// (node name, host).
    pub async fn sentinel_primary_from(&self, first: usize) -> Result<(String, String), String> {
        let mut errors = Vec::new();
        for i in 0..self.nodes.len() {
            let (name, host) = &self.nodes[(first + i) % self.nodes.len()];
            let r = async {
                let mut c = connect(host, self.sentinel_port).await?;
                let addr: Option<(String, String)> = redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(crate::server::MASTER)
                    .query_async(&mut c)
                    .await
                    .map_err(|e| format!("sentinel on {name}: {e}"))?;
                let (ip, _port) =
                    addr.ok_or_else(|| format!("sentinel on {name} knows no primary"))?;
                self.nodes
                    .iter()
                    .find(|(_, h)| *h == ip)
                    .cloned()
                    .ok_or_else(|| format!("sentinel on {name} names {ip}, not a node"))
            };
            match tokio::time::timeout(Duration::from_secs(2), r).await {
                Ok(Ok(p)) => return Ok(p),
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push(format!("sentinel on {name}: no answer")),
            }
        }
        Err(format!(
            "no sentinel named a primary: {}",
            errors.join("; ")
        ))
    }

    /// The primary as the sentinels see it.
    pub async fn sentinel_primary(&self) -> Result<(String, String), String> {
        self.sentinel_primary_from(0).await
    }

    /// Every server answers, the primary the sentinels name says it is a primary, and
    /// every other server is its connected replica.
    pub async fn topology_healthy(&self) -> Result<(), String> {
        let (pname, phost) = self.sentinel_primary().await?;
        for (name, host) in &self.nodes {
            let mut c = connect(host, self.port).await?;
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut c)
                .await
                .map_err(|e| format!("{name}: INFO: {e}"))?;
            if *name == pname {
                if !info.contains("role:master") {
                    return Err(format!("{name} is named primary but is not one yet"));
                }
            } else if !(info.contains("role:slave")
                && info.contains(&format!("master_host:{phost}"))
                && info.contains("master_link_status:up"))
            {
                return Err(format!("{name} does not replicate from {pname} yet"));
            }
        }
        Ok(())
    }

    /// The worker's connection, taken for the length of one op (dropped on error or when
    /// the op is dropped by its timeout).
    async fn take(&self, ctx: OpCtx) -> Result<Conn, String> {
        if let Some(c) = self.lock().remove(&ctx.worker) {
            return Ok(c);
        }
        let (node, host) = self.sentinel_primary_from(ctx.node).await?;
        let con = connect(&host, self.port).await?;
        Ok(Conn { node, con })
    }

    async fn run(&self, con: &mut MultiplexedConnection, op: &OpSpec) -> Result<Value, Abort> {
        let write = |e: redis::RedisError| {
            if is_reply(&e) {
                Abort::Fail(e.to_string())
            } else {
                Abort::Info(e.to_string())
            }
        };
        let read = |e: redis::RedisError| Abort::Fail(e.to_string());
        match (self.workload, &*op.f) {
            (Workload::Register, f @ ("read" | "write" | "cas")) => {
                let Some([k, x]) = op.value.as_seq() else {
                    return Err(Abort::Fail(format!(
                        "{f} expects [key value], got {}",
                        op.value
                    )));
                };
                match f {
                    "read" => {
                        let v: Option<String> = redis::cmd("GET")
                            .arg(key(k))
                            .query_async(con)
                            .await
                            .map_err(read)?;
                        Ok(Value::List(vec![
                            k.clone(),
                            v.map(|s| decode(&s)).unwrap_or(Value::Nil),
                        ]))
                    }
                    "write" => {
                        let () = redis::cmd("SET")
                            .arg(key(k))
                            .arg(text(x))
                            .query_async(con)
                            .await
                            .map_err(write)?;
                        Ok(op.value.clone())
                    }
                    _ => {
                        let Some([old, new]) = x.as_seq() else {
                            return Err(Abort::Fail(format!(
                                "cas expects [key [old new]], got {}",
                                op.value
                            )));
                        };
                        let done: i64 = redis::cmd("EVAL")
                            .arg(CAS)
                            .arg(1)
                            .arg(key(k))
                            .arg(text(old))
                            .arg(text(new))
                            .query_async(con)
                            .await
                            .map_err(write)?;
                        if done == 1 {
                            Ok(op.value.clone())
                        } else {
                            Err(Abort::Fail(
                                "cas: the current value is not the old one".into(),
                            ))
                        }
                    }
                }
            }
            (Workload::Set, "add") => {
                let _: i64 = redis::cmd("SADD")
                    .arg(SET_KEY)
                    .arg(text(&op.value))
                    .query_async(con)
                    .await
                    .map_err(write)?;
                Ok(op.value.clone())
            }
            (Workload::Set, "read") => {
                let members: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(SET_KEY)
                    .query_async(con)
                    .await
                    .map_err(read)?;
                Ok(Value::List(members.iter().map(|s| decode(s)).collect()))
            }
            (w, f) => Err(Abort::Fail(format!(
                "the redis {w:?} client has no op {f:?}"
            ))),
        }
    }
}

impl Client for RedisClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            // A read changes nothing, so one that fails on a kept connection (a demoted or
            // restarted primary closes its clients' connections) is tried once more on a
            // fresh one to the primary the sentinels name now.
            let first = self.once(ctx, op).await;
            if &*op.f == "read" && first.kind == labrys_history::OpType::Fail {
                return self.once(ctx, op).await;
            }
            first
        })
    }
}

impl RedisClient {
    async fn once(&self, ctx: OpCtx, op: &OpSpec) -> Completion {
        {
            let mut c = match self.take(ctx).await {
                Ok(c) => c,
                Err(e) => return Completion::fail(e),
            };
            let done = match self.run(&mut c.con, op).await {
                Ok(v) => Completion::ok(v),
                Err(Abort::Fail(e)) => {
                    // A refusal by the server keeps the connection only when it is still
                    // the primary's: READONLY and the like mean asking the sentinels again.
                    let node = c.node.clone();
                    return Completion::fail(e).on_node(node);
                }
                Err(Abort::Info(e)) => return Completion::info(e).on_node(c.node.clone()),
            };
            let node = c.node.clone();
            self.lock().insert(ctx.worker, c);
            done.on_node(node)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::OpType;

    #[test]
    fn keys_and_values_as_text() {
        assert_eq!(key(&Value::Int(3)), "r3");
        assert_eq!(text(&Value::Int(4)), "4");
        assert_eq!(decode("4"), Value::Int(4));
        assert_eq!(decode("x"), Value::str("x"));
    }

    #[tokio::test]
    async fn with_no_sentinel_answering_ops_fail_definitely() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let c = RedisClient::new(
            vec![("n1".into(), "127.0.0.1".into())],
            port,
            port,
            Workload::Register,
        );
        let ctx = OpCtx {
            process: 0,
            worker: 0,
            node: 0,
        };
        let op = OpSpec::new("write", Value::List(vec![Value::Int(1), Value::Int(2)]));
        let done = c.invoke(ctx, &op).await;
        assert_eq!(done.kind, OpType::Fail, "{done:?}");
        assert!(done.error.unwrap().contains("no sentinel named a primary"));
    }
}

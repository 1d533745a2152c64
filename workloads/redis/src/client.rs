//! The register and set clients: every op goes to the primary that Sentinel names.
//!
//! Finding the primary follows Redis's "Sentinel client spec": ask the sentinels one after
//! the other (starting with the worker's own node) `SENTINEL get-master-addr-by-name`, take
//! the first answer, connect to that address and check with `ROLE` that it is a primary. The
//! connection is shared by all workers (Redis pipelines them on one socket) until an op on it
//! errs; then the next op resolves the primary again. Every op that reached a server records
//! that node ([`Completion::on_node`]).
//!
//! Ops and commands:
//! - register `read [k nil]` → `GET labrys:r:<k>` (nil when never written);
//!   `write [k v]` → `SET`; `cas [k [old new]]` → one `EVAL` of a Lua script that compares and
//!   sets atomically (Redis runs a script without interleaving any other command) and answers
//!   1 when it wrote, 0 when the value differed (`fail`: it certainly did not write);
//! - set `add v` → `SADD labrys:set v`; `read nil` → `SMEMBERS labrys:set`, sorted;
//! - with `--db-opt wait=N`, each acknowledged write is followed by `WAIT N 1000`; a write that
//!   fewer than N replicas acknowledged in time is `info` (it may be lost by a failover).
//!   `WAIT` blocks the connection it is sent on, and the workers share one, so with `wait`
//!   the workers' writes are in effect serialized.
//!
//! Outcomes (see [`classify`]):
//! - nothing reached a primary (no sentinel answered, the connection was refused or timed
//!   out, the address Sentinel gave is not a primary by `ROLE`) → `fail`;
//! - an error reply that rejects the command before it runs (`READONLY` from a demoted
//!   primary, `NOREPLICAS`, `LOADING`, `MASTERDOWN`, `MISCONF`, `OOM`) → `fail`;
//! - anything else after the command may have reached the server (a timeout, a reset or
//!   dropped connection, an unknown error reply) → `info`; reads are `fail` on any error,
//!   since a read that did not answer changed nothing (a read that erred on a connection is
//!   tried once more on a freshly resolved primary before it is given up).

use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

/// The Lua compare-and-set: `KEYS[1]` holds `ARGV[1]`? then set it to `ARGV[2]`.
pub const CAS_SCRIPT: &str = "local v = redis.call('GET', KEYS[1])\n\
     if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end\n\
     return 0";

/// Error codes of replies that reject a command before it runs.
pub const REJECTING_CODES: &[&str] = &[
    "READONLY",
    "NOREPLICAS",
    "LOADING",
    "MASTERDOWN",
    "MISCONF",
    "OOM",
    "NOSCRIPT",
];

const SENTINEL_CONNECT: Duration = Duration::from_millis(400);
const SENTINEL_RESPONSE: Duration = Duration::from_millis(800);
const PRIMARY_CONNECT: Duration = Duration::from_millis(1000);
const PRIMARY_RESPONSE: Duration = Duration::from_millis(2000);

/// Where the servers and sentinels listen.
#[derive(Clone, Debug)]
pub struct Members {
    /// (node name, host) per node.
    pub nodes: Vec<(String, String)>,
    pub port: u16,
    pub sentinel_port: u16,
}

impl Members {
    /// The node whose server listens at `host:port`, else `host:port` itself.
    pub fn node_at(&self, host: &str, port: u16) -> String {
        self.nodes
            .iter()
            .find(|(_, h)| h == host && port == self.port)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| format!("{host}:{port}"))
    }
}

/// How an op that erred ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It certainly did not take effect.
    Fail,
    /// It may have.
    Info,
}

/// Where an op erred.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Nothing was sent to a primary.
    #[error("finding the primary: {0}")]
    NoPrimary(String),
    /// The command was sent to `node`, which answered with this error or none.
    #[error("node {node}: {step}: {source}")]
    Command {
        node: String,
        step: &'static str,
        source: RedisError,
    },
}

/// `fail` or `info` for an error of a command that changes data.
pub fn classify(e: &OpError) -> Outcome {
    match e {
        OpError::NoPrimary(_) => Outcome::Fail,
        OpError::Command { source, .. } => {
            classify_reply(source.code(), source.is_connection_refusal())
        }
    }
}

/// `fail` for an error reply whose code rejects the command, or a refused connection;
/// `info` for everything else (timeouts, resets, unknown replies).
pub fn classify_reply(code: Option<&str>, refused: bool) -> Outcome {
    match code {
        Some(c) if REJECTING_CODES.contains(&c) => Outcome::Fail,
        _ if refused => Outcome::Fail,
        _ => Outcome::Info,
    }
}

struct Primary {
    node: String,
    conn: MultiplexedConnection,
    generation: u64,
}

/// The primary Sentinel names, and a connection to it, shared by every worker.
pub struct Router {
    members: Members,
    current: Mutex<Option<Primary>>,
    generation: AtomicU64,
}

async fn timed<T>(
    t: Duration,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(t, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {} ms", t.as_millis())),
    }
}

/// A connection to `host:port` with the given timeouts.
pub async fn connect(
    host: &str,
    port: u16,
    connect: Duration,
    response: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    let client = redis::Client::open(format!("redis://{host}:{port}/"))?;
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect))
        .set_response_timeout(Some(response));
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
}

/// Asks the sentinel at `host` which address the primary has.
pub async fn ask_sentinel(host: &str, port: u16) -> Result<(String, u16), String> {
    let mut c = connect(host, port, SENTINEL_CONNECT, SENTINEL_RESPONSE)
        .await
        .map_err(|e| e.to_string())?;
    let addr: Option<(String, u16)> = timed(
        SENTINEL_RESPONSE,
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(crate::conf::MASTER_NAME)
            .query_async(&mut c),
    )
    .await?;
    addr.ok_or_else(|| "it knows no primary".to_string())
}

impl Router {
    pub fn new(members: Members) -> Router {
        Router {
            members,
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// The current primary's node, connection and generation; resolves it through the
    /// sentinels (starting at node `start`) when there is none.
    async fn primary(&self, start: usize) -> Result<(String, MultiplexedConnection, u64), OpError> {
        let mut cur = self.current.lock().await;
        if let Some(p) = &*cur {
            return Ok((p.node.clone(), p.conn.clone(), p.generation));
        }
        let n = self.members.nodes.len();
        let mut why = Vec::new();
        for i in 0..n {
            let (sname, shost) = &self.members.nodes[(start + i) % n];
            let (host, port) = match ask_sentinel(shost, self.members.sentinel_port).await {
                Ok(a) => a,
                Err(e) => {
                    why.push(format!("sentinel {sname}: {e}"));
                    continue;
                }
            };
            let node = self.members.node_at(&host, port);
            let mut conn = connect(&host, port, PRIMARY_CONNECT, PRIMARY_RESPONSE)
                .await
                .map_err(|e| {
                    OpError::NoPrimary(format!("sentinel {sname} names {node}: connecting: {e}"))
                })?;
            let role: Vec<redis::Value> =
                timed(PRIMARY_RESPONSE, redis::cmd("ROLE").query_async(&mut conn))
                    .await
                    .map_err(|e| {
                        OpError::NoPrimary(format!("sentinel {sname} names {node}: ROLE: {e}"))
                    })?;
            let role = match role.first() {
                Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(redis::Value::SimpleString(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            if role != "master" {
                return Err(OpError::NoPrimary(format!(
                    "sentinel {sname} names {node}, whose ROLE is {role}"
                )));
            }
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            *cur = Some(Primary {
                node: node.clone(),
                conn: conn.clone(),
                generation,
            });
            return Ok((node, conn, generation));
        }
        Err(OpError::NoPrimary(why.join("; ")))
    }

    /// Forgets the primary of `generation` (an op on it erred), unless another op has
    /// replaced it already.
    async fn forget(&self, generation: u64) {
        let mut cur = self.current.lock().await;
        if cur.as_ref().is_some_and(|p| p.generation == generation) {
            *cur = None;
        }
    }

    /// Runs `cmd` on the primary: its reply and the node that gave it.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        start: usize,
        step: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<(T, String), (OpError, Option<String>)> {
        let (node, mut conn, generation) = self.primary(start).await.map_err(|e| (e, None))?;
        let r = match tokio::time::timeout(PRIMARY_RESPONSE, cmd.query_async::<T>(&mut conn)).await
        {
            Ok(r) => r,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer in time",
            ))),
        };
        match r {
            Ok(v) => Ok((v, node)),
            Err(source) => {
                self.forget(generation).await;
                Err((
                    OpError::Command {
                        node: node.clone(),
                        step,
                        source,
                    },
                    Some(node),
                ))
            }
        }
    }
}

fn key(k: &Value) -> String {
    format!("labrys:r:{k}")
}

const SET_KEY: &str = "labrys:set";

/// Which workload a client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Register,
    Set,
}

/// A register or set client over a shared [`Router`].
pub struct RedisClient {
    router: Router,
    workload: Workload,
    /// `WAIT` for this many replicas after each write (0: no `WAIT`).
    wait: usize,
}

/// A completion for an erred op: reads always `fail`, writes by [`classify`].
fn erred(read: bool, (e, node): (OpError, Option<String>)) -> Completion {
    let c = if read || classify(&e) == Outcome::Fail {
        Completion::fail(e.to_string())
    } else {
        Completion::info(e.to_string())
    };
    match node {
        Some(n) => c.on_node(n),
        None => c,
    }
}

/// The integer a register holds, from `GET`'s reply.
pub fn parse_register(v: Option<&str>) -> Result<Value, String> {
    match v {
        None => Ok(Value::Nil),
        Some(s) => s
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("register holds {s:?}, not an integer")),
    }
}

/// The set's elements, sorted, from `SMEMBERS`'s reply.
pub fn parse_members(v: &[String]) -> Result<Value, String> {
    let mut xs = v
        .iter()
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| format!("set holds {s:?}, not an integer"))
        })
        .collect::<Result<Vec<i64>, String>>()?;
    xs.sort_unstable();
    Ok(Value::List(xs.into_iter().map(Value::Int).collect()))
}

impl RedisClient {
    pub fn new(members: Members, workload: Workload, wait: usize) -> RedisClient {
        RedisClient {
            router: Router::new(members),
            workload,
            wait,
        }
    }

    /// Runs a read, once more on a freshly resolved primary when the first try erred (a read
    /// changes nothing, so trying it again is safe: this keeps a final read from failing on a
    /// connection a failover closed).
    async fn read_query<T: redis::FromRedisValue>(
        &self,
        start: usize,
        step: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<(T, String), (OpError, Option<String>)> {
        match self.router.query(start, step, cmd).await {
            Err((OpError::Command { .. }, _)) => self.router.query(start, step, cmd).await,
            r => r,
        }
    }

    /// After an acknowledged write: `ok` unless `WAIT` says too few replicas have it.
    async fn waited(&self, start: usize, node: String, done: Value) -> Completion {
        if self.wait == 0 {
            return Completion::ok(done).on_node(node);
        }
        let mut w = redis::cmd("WAIT");
        w.arg(self.wait).arg(1000);
        match self.router.query::<i64>(start, "WAIT", &w).await {
            Ok((acks, n)) if acks >= self.wait as i64 && n == node => {
                Completion::ok(done).on_node(node)
            }
            Ok((acks, n)) => Completion::info(format!(
                "written on {node}, then WAIT on {n} counted {acks} of {} replicas",
                self.wait
            ))
            .on_node(node),
            Err((e, _)) => Completion::info(format!("written on {node}, then {e}")).on_node(node),
        }
    }

    async fn register(&self, start: usize, op: &OpSpec) -> Completion {
        let Some([k, x]) = op.value.as_seq() else {
            return Completion::fail(format!("{} expects [key value], got {}", op.f, op.value));
        };
        match &*op.f {
            "read" => {
                let mut c = redis::cmd("GET");
                c.arg(key(k));
                match self.read_query::<Option<String>>(start, "GET", &c).await {
                    Ok((v, node)) => match parse_register(v.as_deref()) {
                        Ok(v) => Completion::ok(Value::List(vec![k.clone(), v])).on_node(node),
                        Err(e) => Completion::fail(format!("node {node}: GET: {e}")).on_node(node),
                    },
                    Err(e) => erred(true, e),
                }
            }
            "write" => {
                let Value::Int(v) = x else {
                    return Completion::fail(format!("write expects an integer, got {x}"));
                };
                let mut c = redis::cmd("SET");
                c.arg(key(k)).arg(*v);
                match self.router.query::<()>(start, "SET", &c).await {
                    Ok(((), node)) => self.waited(start, node, op.value.clone()).await,
                    Err(e) => erred(false, e),
                }
            }
            "cas" => {
                let Some([Value::Int(old), Value::Int(new)]) = x.as_seq() else {
                    return Completion::fail(format!(
                        "cas expects [key [old new]], got {}",
                        op.value
                    ));
                };
                let mut c = redis::cmd("EVAL");
                c.arg(CAS_SCRIPT).arg(1).arg(key(k)).arg(*old).arg(*new);
                match self.router.query::<i64>(start, "EVAL (cas)", &c).await {
                    Ok((1, node)) => self.waited(start, node, op.value.clone()).await,
                    Ok((_, node)) => Completion::fail("cas: value differs").on_node(node),
                    Err(e) => erred(false, e),
                }
            }
            f => Completion::fail(format!("the redis register client has no op {f:?}")),
        }
    }

    async fn set(&self, start: usize, op: &OpSpec) -> Completion {
        match &*op.f {
            "add" => {
                let Value::Int(v) = op.value else {
                    return Completion::fail(format!("add expects an integer, got {}", op.value));
                };
                let mut c = redis::cmd("SADD");
                c.arg(SET_KEY).arg(v);
                match self.router.query::<i64>(start, "SADD", &c).await {
                    Ok((_, node)) => self.waited(start, node, op.value.clone()).await,
                    Err(e) => erred(false, e),
                }
            }
            "read" => {
                let mut c = redis::cmd("SMEMBERS");
                c.arg(SET_KEY);
                match self.read_query::<Vec<String>>(start, "SMEMBERS", &c).await {
                    Ok((v, node)) => match parse_members(&v) {
                        Ok(v) => Completion::ok(v).on_node(node),
                        Err(e) => {
                            Completion::fail(format!("node {node}: SMEMBERS: {e}")).on_node(node)
                        }
                    },
                    Err(e) => erred(true, e),
                }
            }
            f => Completion::fail(format!("the redis set client has no op {f:?}")),
        }
    }
}

impl Client for RedisClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            match self.workload {
                Workload::Register => self.register(ctx.node, op).await,
                Workload::Set => self.set(ctx.node, op).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::OpType;

    #[test]
    fn rejecting_replies_fail_and_the_rest_is_unknown() {
        assert_eq!(classify_reply(Some("READONLY"), false), Outcome::Fail);
        assert_eq!(classify_reply(Some("NOREPLICAS"), false), Outcome::Fail);
        assert_eq!(classify_reply(Some("LOADING"), false), Outcome::Fail);
        assert_eq!(classify_reply(None, true), Outcome::Fail);
        assert_eq!(classify_reply(None, false), Outcome::Info);
        assert_eq!(classify_reply(Some("ERR"), false), Outcome::Info);
        assert_eq!(
            classify(&OpError::NoPrimary("no sentinel answered".into())),
            Outcome::Fail
        );
        let timeout = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer in time",
        ));
        let e = OpError::Command {
            node: "n2".into(),
            step: "SET",
            source: timeout,
        };
        assert_eq!(classify(&e), Outcome::Info);
        assert!(e.to_string().starts_with("node n2: SET: "), "{e}");
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let e = OpError::Command {
            node: "n2".into(),
            step: "SADD",
            source: reset,
        };
        assert_eq!(classify(&e), Outcome::Info);
    }

    #[test]
    fn a_refused_connection_counts_as_not_sent() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(refused.is_connection_refusal());
        let e = OpError::Command {
            node: "n1".into(),
            step: "SET",
            source: refused,
        };
        assert_eq!(classify(&e), Outcome::Fail);
    }

    #[test]
    fn replies_parse_into_values() {
        assert_eq!(parse_register(None), Ok(Value::Nil));
        assert_eq!(parse_register(Some("4")), Ok(Value::Int(4)));
        assert!(parse_register(Some("x")).is_err());
        let m: Vec<String> = ["10", "2", "7"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            parse_members(&m),
            Ok(Value::List(vec![
                Value::Int(2),
                Value::Int(7),
                Value::Int(10)
            ]))
        );
        assert!(parse_members(&["a".to_string()]).is_err());
        assert_eq!(key(&Value::Int(3)), "labrys:r:3");
    }

    #[test]
    fn the_cas_script_compares_then_sets() {
        assert!(CAS_SCRIPT.contains("redis.call('GET', KEYS[1])"));
        assert!(CAS_SCRIPT
            .contains("if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end"));
    }

    /// A port nothing listens on: bound, then released.
    fn dead_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn no_sentinel_means_every_op_fails_definitely() {
        let m = Members {
            nodes: vec![("n1".into(), "127.0.0.1".into())],
            port: dead_port(),
            sentinel_port: dead_port(),
        };
        let ctx = OpCtx {
            process: 0,
            worker: 0,
            node: 0,
        };
        let reg = RedisClient::new(m.clone(), Workload::Register, 0);
        let kv = |v: Value| Value::List(vec![Value::Int(1), v]);
        for op in [
            OpSpec::new("read", kv(Value::Nil)),
            OpSpec::new("write", kv(Value::Int(2))),
            OpSpec::new("cas", kv(Value::List(vec![Value::Int(2), Value::Int(3)]))),
        ] {
            let done = reg.invoke(ctx, &op).await;
            assert_eq!(done.kind, OpType::Fail, "{op:?}: {done:?}");
            assert!(done.error.unwrap().contains("sentinel n1"));
            assert_eq!(done.node, None);
        }
        let set = RedisClient::new(m, Workload::Set, 1);
        let done = set.invoke(ctx, &OpSpec::new("add", Value::Int(1))).await;
        assert_eq!(done.kind, OpType::Fail, "{done:?}");
        let done = set.invoke(ctx, &OpSpec::new("write", Value::Int(1))).await;
        assert_eq!(done.kind, OpType::Fail);
        assert!(done.error.unwrap().contains("no op"));
        assert_eq!(
            node_at_test(),
            ("n2".to_string(), "10.0.0.9:6379".to_string())
        );
    }

    fn node_at_test() -> (String, String) {
        let m = Members {
            nodes: vec![
                ("n1".into(), "10.0.0.1".into()),
                ("n2".into(), "10.0.0.2".into()),
            ],
            port: 6379,
            sentinel_port: 26379,
        };
        (m.node_at("10.0.0.2", 6379), m.node_at("10.0.0.9", 6379))
    }
}

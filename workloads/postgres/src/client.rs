//! The PostgreSQL client: one connection per worker, one transaction per op.
//!
//! Every op is `BEGIN ISOLATION LEVEL <level>`, its statements, `COMMIT`:
//! - list-append: a list is a row `lists(k, v)` holding its elements comma-separated; an
//!   append is `INSERT ... ON CONFLICT (k) DO UPDATE SET v = lists.v || ',' || x` (one
//!   atomic statement at every level), a read selects the row;
//! - rw-register: a row `regs(k, v)`; a write is an upsert, a read a select;
//! - bank: `accounts(id, balance)`, created with all the money in account 0. A transfer
//!   debits with `UPDATE ... WHERE id = from AND balance >= amount` (no row updated: not
//!   enough money, rolled back, `fail`) and credits the other account; a read is ONE
//!   `SELECT` of every account, so even read committed reads one snapshot.
//!
//! Outcomes: any error before `COMMIT` was sent rolled the transaction back (PostgreSQL
//! aborts a transaction on its first error, and one that never sent COMMIT cannot commit),
//! so it is `fail`; an error the server answers to `COMMIT` (a serialization failure,
//! SQLSTATE 40001, or deadlock, 40P01) is `fail` too; but a connection lost while `COMMIT`
//! was in flight leaves the outcome unknown: `info`. A connection is used by one op at a
//! time and dropped after any error (or when the runtime's timeout drops the op), so a
//! half-finished transaction never leaks into the next op.

use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// A transaction isolation level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Level {
    /// From an `--isolation` name.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "read-committed" => Some(Level::ReadCommitted),
            "repeatable-read" => Some(Level::RepeatableRead),
            "serializable" => Some(Level::Serializable),
            _ => None,
        }
    }

    pub fn begin(self) -> &'static str {
        match self {
            Level::ReadCommitted => "BEGIN ISOLATION LEVEL READ COMMITTED",
            Level::RepeatableRead => "BEGIN ISOLATION LEVEL REPEATABLE READ",
            Level::Serializable => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        }
    }
}

/// The workloads this client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    ListAppend,
    RwRegister,
    Bank,
}

impl Workload {
    pub fn parse(s: &str) -> Option<Workload> {
        match s {
            "list-append" => Some(Workload::ListAppend),
            "rw-register" => Some(Workload::RwRegister),
            "bank" => Some(Workload::Bank),
            _ => None,
        }
    }
}

/// The tables, created if missing, and the bank's accounts, inserted if missing.
pub const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS lists (k BIGINT PRIMARY KEY, v TEXT NOT NULL);\n\
     CREATE TABLE IF NOT EXISTS regs (k BIGINT PRIMARY KEY, v BIGINT);\n\
     CREATE TABLE IF NOT EXISTS accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);";

/// Connects to `conninfo` and creates the schema (idempotent); the error text otherwise.
pub async fn setup_schema(conninfo: &str) -> Result<(), String> {
    let (c, conn) = tokio_postgres::connect(conninfo, NoTls)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let task = tokio::spawn(conn);
    let r = async {
        c.batch_execute(SCHEMA)
            .await
            .map_err(|e| format!("creating tables: {e}"))?;
        let mut values = Vec::new();
        for (a, b) in labrys_db::bank::initial() {
            values.push(format!("({a}, {b})"));
        }
        c.batch_execute(&format!(
            "INSERT INTO accounts (id, balance) VALUES {} ON CONFLICT (id) DO NOTHING",
            values.join(", ")
        ))
        .await
        .map_err(|e| format!("creating accounts: {e}"))
    }
    .await;
    drop(c);
    let _ = task.await;
    r
}

/// How an op ended early.
#[derive(Debug)]
enum Abort {
    /// Certainly not committed.
    Fail(String),
    /// Maybe committed.
    Info(String),
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// The outcome of an error before `COMMIT` was sent: the transaction is rolled back.
fn before_commit(e: tokio_postgres::Error) -> Abort {
    Abort::Fail(describe(&e))
}

/// The outcome of an error answering `COMMIT`: `fail` when the server said why it did not
/// commit (a serialization failure, a deadlock, any SQL error), `info` when the connection
/// went away with the COMMIT in flight.
fn at_commit(e: tokio_postgres::Error) -> Abort {
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            Abort::Fail(describe(&e))
        }
        Some(_) => Abort::Fail(describe(&e)),
        None => Abort::Info(format!("connection lost during COMMIT: {e}")),
    }
}

/// A list row's elements (`"1,5,7"`), or why the text is not one.
pub fn parse_list(s: &str) -> Result<Vec<Value>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|x| {
            x.parse::<i64>()
                .map(Value::Int)
                .map_err(|_| format!("list element {x:?} is not an integer"))
        })
        .collect()
}

/// A micro-op `[f k v]`.
fn mop(m: &Value) -> Result<(&str, i64, &Value), String> {
    match m.as_seq() {
        Some([f, k, v]) => match (f.as_name(), k.as_i64()) {
            (Some(f), Some(k)) => Ok((f, k, v)),
            _ => Err(format!("micro-op {m} is not [f key value]")),
        },
        _ => Err(format!("micro-op {m} is not [f key value]")),
    }
}

fn field(v: &Value, name: &str) -> Option<i64> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_name() == Some(name))
        .and_then(|(_, v)| v.as_i64())
}

/// A client of the primary; one connection per worker.
pub struct PgClient {
    conninfo: String,
    workload: Workload,
    level: Level,
    /// The node every op goes to (recorded on each completion).
    node: String,
    idle: Mutex<HashMap<usize, tokio_postgres::Client>>,
}

impl PgClient {
    pub fn new(conninfo: String, workload: Workload, level: Level, node: String) -> PgClient {
        PgClient {
            conninfo,
            workload,
            level,
            node,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// The worker's connection, taken out of the pool for the length of one op.
    async fn take(&self, worker: usize) -> Result<tokio_postgres::Client, Abort> {
        if let Some(c) = self.lock().remove(&worker) {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        let (c, conn) = tokio_postgres::connect(&self.conninfo, NoTls)
            .await
            .map_err(|e| Abort::Fail(format!("cannot connect: {e}")))?;
        tokio::spawn(conn);
        Ok(c)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, tokio_postgres::Client>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(&self, c: &tokio_postgres::Client, op: &OpSpec) -> Result<Value, Abort> {
        c.batch_execute(self.level.begin())
            .await
            .map_err(before_commit)?;
        let value = match (self.workload, &*op.f) {
            (Workload::ListAppend | Workload::RwRegister, "txn") => {
                let mops = op
                    .value
                    .as_seq()
                    .ok_or_else(|| Abort::Fail(format!("txn value {} is not a list", op.value)))?;
                let mut out = Vec::with_capacity(mops.len());
                for m in mops {
                    let (f, k, v) = mop(m).map_err(Abort::Fail)?;
                    out.push(self.mop(c, f, k, v).await?);
                }
                Value::List(out)
            }
            (Workload::Bank, "transfer") => {
                let (Some(from), Some(to), Some(amount)) = (
                    field(&op.value, "from"),
                    field(&op.value, "to"),
                    field(&op.value, "amount"),
                ) else {
                    return Err(Abort::Fail(format!(
                        "transfer {} lacks from/to/amount",
                        op.value
                    )));
                };
                let debited = c
                    .execute(
                        "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1",
                        &[&amount, &from],
                    )
                    .await
                    .map_err(before_commit)?;
                if debited == 0 {
                    return Err(Abort::Fail(format!("insufficient funds in account {from}")));
                }
                c.execute(
                    "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                    &[&amount, &to],
                )
                .await
                .map_err(before_commit)?;
                op.value.clone()
            }
            (Workload::Bank, "read") => {
                let rows = c
                    .query("SELECT id, balance FROM accounts ORDER BY id", &[])
                    .await
                    .map_err(before_commit)?;
                Value::Map(
                    rows.iter()
                        .map(|r| {
                            (
                                Value::Int(r.get::<_, i64>(0)),
                                Value::Int(r.get::<_, i64>(1)),
                            )
                        })
                        .collect(),
                )
            }
            (_, f) => {
                return Err(Abort::Fail(format!(
                    "postgres {:?} client has no op {f:?}",
                    self.workload
                )))
            }
        };
        c.batch_execute("COMMIT").await.map_err(at_commit)?;
        Ok(value)
    }

    async fn mop(
        &self,
        c: &tokio_postgres::Client,
        f: &str,
        k: i64,
        v: &Value,
    ) -> Result<Value, Abort> {
        let done = |v: Value| Value::List(vec![Value::str(f), Value::Int(k), v]);
        match (self.workload, f) {
            (Workload::ListAppend, "append") => {
                let x = v
                    .as_i64()
                    .ok_or_else(|| Abort::Fail(format!("append of {v}: not an integer")))?
                    .to_string();
                c.execute(
                    "INSERT INTO lists (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = lists.v || ',' || $2",
                    &[&k, &x],
                )
                .await
                .map_err(before_commit)?;
                Ok(done(v.clone()))
            }
            (Workload::ListAppend, "r") => {
                let row = c
                    .query_opt("SELECT v FROM lists WHERE k = $1", &[&k])
                    .await
                    .map_err(before_commit)?;
                let list = match row {
                    Some(r) => parse_list(&r.get::<_, String>(0)).map_err(Abort::Fail)?,
                    None => Vec::new(),
                };
                Ok(done(Value::List(list)))
            }
            (Workload::RwRegister, "w") => {
                let x = v
                    .as_i64()
                    .ok_or_else(|| Abort::Fail(format!("write of {v}: not an integer")))?;
                c.execute(
                    "INSERT INTO regs (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = $2",
                    &[&k, &x],
                )
                .await
                .map_err(before_commit)?;
                Ok(done(v.clone()))
            }
            (Workload::RwRegister, "r") => {
                let row = c
                    .query_opt("SELECT v FROM regs WHERE k = $1", &[&k])
                    .await
                    .map_err(before_commit)?;
                let v = row
                    .and_then(|r| r.get::<_, Option<i64>>(0))
                    .map(Value::Int)
                    .unwrap_or(Value::Nil);
                Ok(done(v))
            }
            _ => Err(Abort::Fail(format!(
                "micro-op {f:?} is not one of this workload's"
            ))),
        }
    }
}

impl Client for PgClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            let c = match self.take(ctx.worker).await {
                Ok(c) => c,
                Err(Abort::Fail(e) | Abort::Info(e)) => {
                    return Completion::fail(e).on_node(self.node.clone())
                }
            };
            let done = match self.run(&c, op).await {
                Ok(v) => {
                    self.lock().insert(ctx.worker, c);
                    Completion::ok(v)
                }
                // The connection is dropped: a later op gets a fresh one, never this one's
                // aborted transaction.
                Err(Abort::Fail(e)) => Completion::fail(e),
                Err(Abort::Info(e)) => Completion::info(e),
            };
            done.on_node(self.node.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::OpType;

    #[test]
    fn lists_parse_from_their_text() {
        assert_eq!(parse_list("").unwrap(), Vec::<Value>::new());
        assert_eq!(
            parse_list("3,1,20").unwrap(),
            vec![Value::Int(3), Value::Int(1), Value::Int(20)]
        );
        assert!(parse_list("3,x").unwrap_err().contains("\"x\""));
    }

    #[test]
    fn levels_and_workloads_by_name() {
        assert_eq!(
            Level::parse("repeatable-read").unwrap().begin(),
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        );
        assert!(Level::parse("snapshot").is_none());
        assert_eq!(Workload::parse("bank"), Some(Workload::Bank));
        assert!(Workload::parse("register").is_none());
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_ops_definitely() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let c = PgClient::new(
            format!("host=127.0.0.1 port={port} user=postgres connect_timeout=1"),
            Workload::Bank,
            Level::Serializable,
            "n1".into(),
        );
        let ctx = OpCtx {
            process: 0,
            worker: 0,
            node: 0,
        };
        let done = c.invoke(ctx, &OpSpec::new("read", Value::Nil)).await;
        assert_eq!(done.kind, OpType::Fail, "{done:?}");
        assert!(done.error.unwrap().contains("cannot connect"));
        assert_eq!(done.node.as_deref(), Some("n1"));
    }
}

//! The transactional clients: every op is one transaction on the primary.
//!
//! Each worker has its own connection (a transaction needs one to itself), opened on first
//! use and dropped after any error or when the runtime abandons an op at its timeout (the
//! connection leaves with the op's future, and the server rolls back whatever it had open),
//! so a connection is only ever reused idle and clean.
//!
//! An op is `BEGIN ISOLATION LEVEL <level>`, its statements, `COMMIT`:
//! - list-append: `[append k v]` is `INSERT INTO lists VALUES (k, ARRAY[v]) ON CONFLICT (k)
//!   DO UPDATE SET vals = lists.vals || EXCLUDED.vals`; `[r k nil]` is `SELECT vals FROM lists
//!   WHERE k = $1` (nil when there is no row);
//! - rw-register: `[w k v]` is an upsert into `registers`, `[r k nil]` a `SELECT v` (nil when
//!   never written);
//! - bank: `read` is ONE statement, `SELECT id, balance FROM accounts`, so even at read
//!   committed it sees one snapshot; `transfer` is `UPDATE accounts SET balance = balance - a
//!   WHERE id = from AND balance >= a` (no row updated: `ROLLBACK`, `fail`: the money is not
//!   there), then the credit. PostgreSQL re-checks the `WHERE` of an `UPDATE` on the newest
//!   row version at every level, so no balance ever goes negative.
//!
//! Outcomes ([`classify`]): a failed connect, any error before `COMMIT` was sent (the
//! transaction is rolled back: by the server on an error, or when the connection goes), and a
//! serialization failure (SQLSTATE 40001) or deadlock (40P01) reported at `COMMIT` are `fail`.
//! Any other error at `COMMIT`, a connection lost while it was in flight, or the runtime's
//! timeout is `info`: the commit may have happened.

use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::NoTls;

/// How long a connection attempt (TCP and start-up) may take before the op fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The transaction isolation level of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    Serializable,
    RepeatableRead,
    ReadCommitted,
}

impl Isolation {
    /// From an `--isolation` name.
    pub fn from_name(name: &str) -> Option<Isolation> {
        match name {
            "serializable" => Some(Isolation::Serializable),
            "repeatable-read" => Some(Isolation::RepeatableRead),
            "read-committed" => Some(Isolation::ReadCommitted),
            _ => None,
        }
    }

    /// The statement that opens a transaction at this level.
    pub fn begin(self) -> &'static str {
        match self {
            Isolation::Serializable => "BEGIN ISOLATION LEVEL SERIALIZABLE",
            Isolation::RepeatableRead => "BEGIN ISOLATION LEVEL REPEATABLE READ",
            Isolation::ReadCommitted => "BEGIN ISOLATION LEVEL READ COMMITTED",
        }
    }
}

/// The server clients talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
}

/// The workloads this client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    ListAppend,
    RwRegister,
    Bank,
}

impl WorkloadKind {
    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        match name {
            "list-append" => Some(WorkloadKind::ListAppend),
            "rw-register" => Some(WorkloadKind::RwRegister),
            "bank" => Some(WorkloadKind::Bank),
            _ => None,
        }
    }
}

/// Where in a transaction an error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Opening the connection: nothing was sent.
    Connect,
    /// `BEGIN` or a statement: `COMMIT` was not sent, so the transaction cannot commit.
    Body,
    /// `COMMIT` was sent.
    Commit,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Body => "statement",
            Stage::Commit => "commit",
        }
    }
}

/// What an error means for the op: `true` when it certainly did not happen (`fail`), `false`
/// when it may have (`info`). `sqlstate` is the server's error code, when the server sent one.
pub fn certainly_failed(stage: Stage, sqlstate: Option<&str>) -> bool {
    match stage {
        Stage::Connect | Stage::Body => true,
        // The server aborted the transaction and said so.
        Stage::Commit => matches!(sqlstate, Some("40001") | Some("40P01")),
    }
}

/// An error as the history records it: SQLSTATE and the server's message, or the client's.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        // The client's own errors keep the cause (refused, reset...) in their source.
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// One micro-op of a transaction, its key and value checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mop {
    Append(i64, i64),
    Write(i64, i64),
    Read(i64),
}

/// The micro-ops of a `txn` op of `kind` (appends for list-append, writes for rw-register).
pub fn parse_txn(kind: WorkloadKind, value: &Value) -> Result<Vec<Mop>, String> {
    let list = value
        .as_seq()
        .ok_or_else(|| format!("txn expects a list of micro-ops, got {value}"))?;
    let write = match kind {
        WorkloadKind::ListAppend => "append",
        _ => "w",
    };
    list.iter()
        .map(|m| match m.as_seq() {
            Some([f, k, v]) if f.as_name() == Some(write) => match (k.as_i64(), v.as_i64()) {
                (Some(k), Some(v)) if write == "append" => Ok(Mop::Append(k, v)),
                (Some(k), Some(v)) => Ok(Mop::Write(k, v)),
                _ => Err(format!("micro-op {m}: key and value must be integers")),
            },
            Some([f, k, _]) if f.as_name() == Some("r") => k
                .as_i64()
                .map(Mop::Read)
                .ok_or_else(|| format!("micro-op {m}: the key must be an integer")),
            _ => Err(format!("micro-op {m}: expected [{write} k v] or [r k nil]")),
        })
        .collect()
}

/// A transfer's `(from, to, amount)`, from `{from, to, amount}`.
pub fn parse_transfer(value: &Value) -> Result<(i64, i64, i64), String> {
    let field = |name: &str| {
        value
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_name() == Some(name)))
            .and_then(|(_, v)| v.as_i64())
            .ok_or_else(|| format!("transfer {value}: expected an integer {name}"))
    };
    let (from, to, amount) = (field("from")?, field("to")?, field("amount")?);
    if amount <= 0 {
        return Err(format!("transfer {value}: the amount must be positive"));
    }
    Ok((from, to, amount))
}

/// A completed micro-op as the history records it.
fn mop_value(f: &str, k: i64, v: Value) -> Value {
    Value::List(vec![Value::str(f), Value::Int(k), v])
}

/// What a read of a list found (nil: no row).
pub fn list_value(row: Option<Vec<i64>>) -> Value {
    row.map(|l| Value::List(l.into_iter().map(Value::Int).collect()))
        .unwrap_or(Value::Nil)
}

/// A bank read's balances as the checker wants them: `{account: balance}`, by account.
pub fn balances_value(mut rows: Vec<(i64, i64)>) -> Value {
    rows.sort_unstable();
    Value::Map(
        rows.into_iter()
            .map(|(a, b)| (Value::Int(a), Value::Int(b)))
            .collect(),
    )
}

/// Connects to `t` (TCP and start-up within [`CONNECT_TIMEOUT`]) and drives the connection
/// on the current runtime.
pub async fn connect(t: &Target) -> Result<tokio_postgres::Client, String> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&t.host)
        .port(t.port)
        .user(&t.user)
        .dbname(&t.dbname)
        .application_name("labrys")
        .connect_timeout(CONNECT_TIMEOUT);
    let (client, conn) = tokio::time::timeout(CONNECT_TIMEOUT, cfg.connect(NoTls))
        .await
        .map_err(|_| format!("{}: connect timed out", t.node))?
        .map_err(|e| format!("{}: connect: {}", t.node, describe(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("postgres connection ended: {e}");
        }
    });
    Ok(client)
}

/// Connects to `t` until it answers `SELECT 1` or `deadline` passes (the last error then).
pub async fn connect_until(
    t: &Target,
    deadline: std::time::Instant,
) -> Result<tokio_postgres::Client, String> {
    loop {
        let err = match connect(t).await {
            Ok(c) => match c.simple_query("SELECT 1").await {
                Ok(_) => return Ok(c),
                Err(e) => format!("{}: SELECT 1: {}", t.node, describe(&e)),
            },
            Err(e) => e,
        };
        if std::time::Instant::now() >= deadline {
            return Err(err);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An error inside a transaction, and where.
struct TxnError {
    stage: Stage,
    msg: String,
    sqlstate: Option<String>,
}

impl TxnError {
    fn at(stage: Stage) -> impl Fn(tokio_postgres::Error) -> TxnError {
        move |e| TxnError {
            stage,
            msg: describe(&e),
            sqlstate: e.as_db_error().map(|d| d.code().code().to_string()),
        }
    }
}

/// What a transaction's body decided.
enum Body {
    /// Commit, and complete `ok` with this value.
    Commit(Value),
    /// Roll back, and complete `fail` with this reason (nothing was written).
    Abort(String),
}

/// The client for one workload, shared by every worker.
pub struct PgClient {
    target: Target,
    kind: WorkloadKind,
    isolation: Isolation,
    /// Idle connections, by worker.
    idle: Mutex<HashMap<usize, tokio_postgres::Client>>,
}

impl PgClient {
    pub fn new(target: Target, kind: WorkloadKind, isolation: Isolation) -> PgClient {
        PgClient {
            target,
            kind,
            isolation,
            idle: Mutex::new(HashMap::new()),
        }
    }

    fn take(&self, worker: usize) -> Option<tokio_postgres::Client> {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&worker)
            .filter(|c| !c.is_closed())
    }

    fn give_back(&self, worker: usize, c: tokio_postgres::Client) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(worker, c);
    }

    async fn body(&self, c: &tokio_postgres::Client, op: &OpSpec) -> Result<Body, TxnError> {
        let err = TxnError::at(Stage::Body);
        match (self.kind, &*op.f) {
            (WorkloadKind::ListAppend | WorkloadKind::RwRegister, "txn") => {
                let mops = parse_txn(self.kind, &op.value).map_err(|msg| TxnError {
                    stage: Stage::Body,
                    msg,
                    sqlstate: None,
                })?;
                let mut done = Vec::with_capacity(mops.len());
                for m in mops {
                    done.push(match m {
                        Mop::Append(k, v) => {
                            c.execute(
                                "INSERT INTO lists (k, vals) VALUES ($1, ARRAY[$2::bigint]) \
                                 ON CONFLICT (k) DO UPDATE SET vals = lists.vals || EXCLUDED.vals",
                                &[&k, &v],
                            )
                            .await
                            .map_err(&err)?;
                            mop_value("append", k, Value::Int(v))
                        }
                        Mop::Write(k, v) => {
                            c.execute(
                                "INSERT INTO registers (k, v) VALUES ($1, $2) \
                                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                                &[&k, &v],
                            )
                            .await
                            .map_err(&err)?;
                            mop_value("w", k, Value::Int(v))
                        }
                        Mop::Read(k) if self.kind == WorkloadKind::ListAppend => {
                            let row = c
                                .query_opt("SELECT vals FROM lists WHERE k = $1", &[&k])
                                .await
                                .map_err(&err)?;
                            let vals = row.map(|r| r.try_get::<_, Vec<i64>>(0)).transpose();
                            mop_value("r", k, list_value(vals.map_err(&err)?))
                        }
                        Mop::Read(k) => {
                            let row = c
                                .query_opt("SELECT v FROM registers WHERE k = $1", &[&k])
                                .await
                                .map_err(&err)?;
                            let v = row.map(|r| r.try_get::<_, Option<i64>>(0)).transpose();
                            let v = v.map_err(&err)?.flatten();
                            mop_value("r", k, v.map(Value::Int).unwrap_or(Value::Nil))
                        }
                    });
                }
                Ok(Body::Commit(Value::List(done)))
            }
            (WorkloadKind::Bank, "read") => {
                let rows = c
                    .query("SELECT id, balance FROM accounts", &[])
                    .await
                    .map_err(&err)?;
                let mut balances = Vec::with_capacity(rows.len());
                for r in rows {
                    balances.push((
                        r.try_get::<_, i64>(0).map_err(&err)?,
                        r.try_get::<_, i64>(1).map_err(&err)?,
                    ));
                }
                Ok(Body::Commit(balances_value(balances)))
            }
            (WorkloadKind::Bank, "transfer") => {
                let (from, to, amount) = parse_transfer(&op.value).map_err(|msg| TxnError {
                    stage: Stage::Body,
                    msg,
                    sqlstate: None,
                })?;
                let debited = c
                    .execute(
                        "UPDATE accounts SET balance = balance - $2 \
                         WHERE id = $1 AND balance >= $2",
                        &[&from, &amount],
                    )
                    .await
                    .map_err(&err)?;
                if debited == 0 {
                    return Ok(Body::Abort(format!(
                        "{}: insufficient funds: account {from} holds less than {amount}",
                        self.target.node
                    )));
                }
                let credited = c
                    .execute(
                        "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
                        &[&to, &amount],
                    )
                    .await
                    .map_err(&err)?;
                if credited == 0 {
                    return Ok(Body::Abort(format!(
                        "{}: no account {to}",
                        self.target.node
                    )));
                }
                Ok(Body::Commit(op.value.clone()))
            }
            (_, f) => Err(TxnError {
                stage: Stage::Body,
                msg: format!("the {:?} client has no op {f:?}", self.kind),
                sqlstate: None,
            }),
        }
    }

    /// Runs one op as one transaction on `c`: its completion, and whether the connection is
    /// clean afterwards (idle, no transaction open) and may serve the worker's next op.
    async fn txn(&self, c: &tokio_postgres::Client, op: &OpSpec) -> (Completion, bool) {
        let run = async {
            c.batch_execute(self.isolation.begin())
                .await
                .map_err(TxnError::at(Stage::Body))?;
            match self.body(c, op).await? {
                Body::Commit(v) => {
                    c.batch_execute("COMMIT")
                        .await
                        .map_err(TxnError::at(Stage::Commit))?;
                    Ok::<_, TxnError>((Completion::ok(v), true))
                }
                Body::Abort(why) => {
                    let clean = c.batch_execute("ROLLBACK").await.is_ok();
                    Ok((Completion::fail(why), clean))
                }
            }
        };
        match run.await {
            Ok(done) => done,
            Err(e) => {
                let msg = format!("{}: {}: {}", self.target.node, e.stage.name(), e.msg);
                if certainly_failed(e.stage, e.sqlstate.as_deref()) {
                    (Completion::fail(msg), false)
                } else {
                    (Completion::info(msg), false)
                }
            }
        }
    }

    async fn run(&self, ctx: OpCtx, op: &OpSpec) -> Completion {
        let c = match self.take(ctx.worker) {
            Some(c) => c,
            None => match connect(&self.target).await {
                Ok(c) => c,
                Err(e) => return Completion::fail(e),
            },
        };
        let (done, clean) = self.txn(&c, op).await;
        // Otherwise the connection goes: the server rolls back anything still open on it.
        if clean {
            self.give_back(ctx.worker, c);
        }
        done
    }
}

impl Client for PgClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move { self.run(ctx, op).await.on_node(self.target.node.clone()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mop(f: &str, k: i64, v: Value) -> Value {
        Value::List(vec![Value::str(f), Value::Int(k), v])
    }

    #[test]
    fn only_errors_before_commit_or_aborts_at_commit_are_failures() {
        assert!(certainly_failed(Stage::Connect, None));
        assert!(certainly_failed(Stage::Body, None));
        assert!(certainly_failed(Stage::Body, Some("57P01")));
        assert!(certainly_failed(Stage::Body, Some("40001")));
        assert!(certainly_failed(Stage::Commit, Some("40001")));
        assert!(certainly_failed(Stage::Commit, Some("40P01")));
        // Lost connection, shutdown, anything else at COMMIT: it may have committed.
        assert!(!certainly_failed(Stage::Commit, None));
        assert!(!certainly_failed(Stage::Commit, Some("57P01")));
        assert!(!certainly_failed(Stage::Commit, Some("08006")));
    }

    #[test]
    fn levels_open_their_transactions() {
        assert_eq!(
            Isolation::from_name("repeatable-read").unwrap().begin(),
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        );
        assert_eq!(
            Isolation::from_name("serializable").unwrap().begin(),
            "BEGIN ISOLATION LEVEL SERIALIZABLE"
        );
        assert_eq!(
            Isolation::from_name("read-committed").unwrap().begin(),
            "BEGIN ISOLATION LEVEL READ COMMITTED"
        );
        assert_eq!(Isolation::from_name("snapshot"), None);
        for l in crate::INFO.isolations {
            assert!(Isolation::from_name(l.name).is_some(), "{}", l.name);
        }
        for w in crate::INFO.workloads {
            assert!(WorkloadKind::from_name(w).is_some(), "{w}");
        }
    }

    #[test]
    fn micro_ops_are_parsed_per_workload() {
        let t = Value::List(vec![
            mop("append", 1, Value::Int(5)),
            mop("r", 2, Value::Nil),
        ]);
        assert_eq!(
            parse_txn(WorkloadKind::ListAppend, &t).unwrap(),
            vec![Mop::Append(1, 5), Mop::Read(2)]
        );
        let e = parse_txn(WorkloadKind::RwRegister, &t).unwrap_err();
        assert!(e.contains("expected [w k v] or [r k nil]"), "{e}");
        let t = Value::List(vec![mop("w", 3, Value::Int(7)), mop("r", 3, Value::Nil)]);
        assert_eq!(
            parse_txn(WorkloadKind::RwRegister, &t).unwrap(),
            vec![Mop::Write(3, 7), Mop::Read(3)]
        );
        let bad = Value::List(vec![Value::List(vec![
            Value::str("w"),
            Value::str("x"),
            Value::Int(1),
        ])]);
        assert!(parse_txn(WorkloadKind::RwRegister, &bad)
            .unwrap_err()
            .contains("must be integers"));
        assert!(parse_txn(WorkloadKind::ListAppend, &Value::Int(1)).is_err());
    }

    #[test]
    fn transfers_and_reads_have_the_checkers_shapes() {
        let t = Value::Map(vec![
            (Value::kw("from"), Value::Int(0)),
            (Value::kw("to"), Value::Int(3)),
            (Value::kw("amount"), Value::Int(4)),
        ]);
        assert_eq!(parse_transfer(&t).unwrap(), (0, 3, 4));
        let neg = Value::Map(vec![
            (Value::kw("from"), Value::Int(0)),
            (Value::kw("to"), Value::Int(3)),
            (Value::kw("amount"), Value::Int(-4)),
        ]);
        assert!(parse_transfer(&neg).unwrap_err().contains("positive"));
        assert!(parse_transfer(&Value::Nil).unwrap_err().contains("from"));
        assert_eq!(
            balances_value(vec![(1, 5), (0, 95)]),
            Value::Map(vec![
                (Value::Int(0), Value::Int(95)),
                (Value::Int(1), Value::Int(5))
            ])
        );
        assert_eq!(list_value(None), Value::Nil);
        assert_eq!(
            list_value(Some(vec![2, 1])),
            Value::List(vec![Value::Int(2), Value::Int(1)])
        );
    }

    /// Nothing listens on this port: the op certainly did not happen.
    #[tokio::test]
    async fn a_refused_connection_fails_the_op() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = PgClient::new(
            Target {
                node: "n1".into(),
                host: "127.0.0.1".into(),
                port,
                user: "postgres".into(),
                dbname: "postgres".into(),
            },
            WorkloadKind::Bank,
            Isolation::Serializable,
        );
        let ctx = OpCtx {
            process: 0,
            worker: 0,
            node: 0,
        };
        let done = c.invoke(ctx, &OpSpec::new("read", Value::Nil)).await;
        assert_eq!(done.kind, labrys_history::OpType::Fail, "{done:?}");
        let e = done.error.unwrap();
        assert!(e.starts_with("n1: connect: "), "{e}");
        assert!(
            e.to_lowercase().contains("refused"),
            "the cause is kept: {e}"
        );
        assert_eq!(done.node.as_deref(), Some("n1"));
    }
}

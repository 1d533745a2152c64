//! The SQL clients: list-append, rw-register and bank over `mysql_async`.
//!
//! Every op is one transaction on a fresh connection to the worker's node (`ctx.node`):
//! `SET TRANSACTION ISOLATION LEVEL ...`, `START TRANSACTION`, the op's statements, `COMMIT`.
//! A fresh connection per op means no session state (an open transaction, a half-read result)
//! outlives an op the runtime timed out.
//!
//! Tables (created by `start_all`): `lists (k, v)` with a list stored as comma-separated
//! text, `registers (k, v)`, `accounts (id, balance)`.
//! - list-append: `[append k v]` is `INSERT ... ON DUPLICATE KEY UPDATE v = CONCAT(v, ',',
//!   v')`; `[r k nil]` is `SELECT v FROM lists WHERE k = ?` (no row: the empty list);
//! - rw-register: `[w k v]` is `INSERT ... ON DUPLICATE KEY UPDATE v = VALUES(v)`; `[r k nil]`
//!   is `SELECT v FROM registers WHERE k = ?` (no row: nil);
//! - bank: `read` is one `SELECT id, balance FROM accounts`; `transfer` reads both balances
//!   (`SELECT ... WHERE id IN (from, to)`), rolls back with `fail` when the source holds less
//!   than the amount (so a balance never goes negative in the transaction's snapshot), else
//!   writes both new balances as values computed from that read (`UPDATE ... SET balance = ?`),
//!   which is what snapshot isolation's "first committer wins" must protect from lost updates.
//!
//! Outcomes ([`classify`]): any error before `COMMIT` was sent (refused connection, a
//! deadlock or certification conflict 1213, a lock wait timeout 1205, "record has changed
//! since last read" 1020 under `innodb_snapshot_isolation`, a node not ready 1047, a lost
//! connection) is `fail`: the transaction is rolled back (explicitly, or by the server when the
//! connection goes). At `COMMIT`, 1213 (Galera's certification failure: "WSREP detected
//! deadlock/conflict") and 1205 are `fail`, since the server rolled the transaction back;
//! anything else there (lost connection, a node leaving the primary component) is `info`.

use crate::Level;
use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

/// The workloads this client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    ListAppend,
    RwRegister,
    Bank,
}

impl Workload {
    pub fn from_name(name: &str) -> Option<Workload> {
        match name {
            "list-append" => Some(Workload::ListAppend),
            "rw-register" => Some(Workload::RwRegister),
            "bank" => Some(Workload::Bank),
            _ => None,
        }
    }
}

/// Where an error happened: before `COMMIT` was sent, or at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    BeforeCommit,
    Commit,
}

/// A database error, reduced to what classification needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlError {
    /// The server answered with an error code.
    Server { code: u16, message: String },
    /// The connection failed or was lost, or the driver gave up.
    Connection(String),
}

impl From<mysql_async::Error> for SqlError {
    fn from(e: mysql_async::Error) -> SqlError {
        match e {
            mysql_async::Error::Server(s) => SqlError::Server {
                code: s.code,
                message: s.message,
            },
            other => SqlError::Connection(other.to_string()),
        }
    }
}

/// Deadlock, or Galera's certification conflict ("WSREP detected deadlock/conflict").
pub const ER_LOCK_DEADLOCK: u16 = 1213;
pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// `innodb_snapshot_isolation`: the row changed since the transaction's read view.
pub const ER_CHECKREAD: u16 = 1020;

/// `fail` or `info` for an error at `phase`, the message naming the node and the step.
pub fn classify(phase: Phase, node: &str, step: &str, e: &SqlError) -> Completion {
    let msg = match e {
        SqlError::Server { code, message } => format!("{node}: {step}: error {code}: {message}"),
        SqlError::Connection(m) => format!("{node}: {step}: {m}"),
    };
    match (phase, e) {
        (Phase::BeforeCommit, _) => Completion::fail(msg),
        (Phase::Commit, SqlError::Server { code, .. })
            if *code == ER_LOCK_DEADLOCK || *code == ER_LOCK_WAIT_TIMEOUT =>
        {
            Completion::fail(msg)
        }
        (Phase::Commit, _) => Completion::info(msg),
    }
}

/// A list stored as comma-separated integers, back as values.
pub fn parse_list(text: &str) -> Result<Vec<Value>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| format!("stored list {text:?}: {s:?} is not an integer"))
        })
        .collect()
}

/// One micro-op: `(f, key, value)`.
type Mop = (String, i64, Value);

/// `[[f k v] ...]` with integer keys.
pub fn parse_txn(v: &Value) -> Result<Vec<Mop>, String> {
    let list = v
        .as_seq()
        .ok_or_else(|| format!("txn expects a list of micro-ops, got {v}"))?;
    list.iter()
        .map(|m| match m.as_seq() {
            Some([f, k, v]) => match (f.as_name(), k.as_i64()) {
                (Some(f), Some(k)) => Ok((f.to_string(), k, v.clone())),
                _ => Err(format!("micro-op {m}: expected [f integer-key value]")),
            },
            _ => Err(format!("micro-op {m}: expected [f k v]")),
        })
        .collect()
}

/// `{from, to, amount}`.
pub fn parse_transfer(v: &Value) -> Result<(i64, i64, i64), String> {
    let field = |name: &str| {
        v.as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_name() == Some(name)))
            .and_then(|(_, v)| v.as_i64())
            .ok_or_else(|| format!("transfer {v}: no integer {name}"))
    };
    Ok((field("from")?, field("to")?, field("amount")?))
}

/// One client for every node; worker `w` talks to node `ctx.node`.
pub struct GaleraClient {
    workload: Workload,
    level: Level,
    /// (node name, connection options) per node.
    nodes: Vec<(String, Opts)>,
}

/// An error already classified (an op's result).
type Step<T> = Result<T, Completion>;

impl GaleraClient {
    pub fn new(workload: Workload, level: Level, nodes: Vec<(String, Opts)>) -> GaleraClient {
        GaleraClient {
            workload,
            level,
            nodes,
        }
    }

    async fn begin(&self, node: &str, opts: &Opts) -> Step<Conn> {
        let pre = |step: &str, e: mysql_async::Error| {
            classify(Phase::BeforeCommit, node, step, &e.into())
        };
        let mut c = Conn::new(opts.clone())
            .await
            .map_err(|e| pre("connecting", e))?;
        c.query_drop(format!(
            "SET TRANSACTION ISOLATION LEVEL {}",
            self.level.sql()
        ))
        .await
        .map_err(|e| pre("setting the isolation level", e))?;
        c.query_drop("START TRANSACTION")
            .await
            .map_err(|e| pre("START TRANSACTION", e))?;
        Ok(c)
    }

    /// Rolls back (best effort: a lost connection rolls back too) and returns `why`.
    async fn abort(c: Conn, why: Completion) -> Completion {
        let mut c = c;
        if c.query_drop("ROLLBACK").await.is_ok() {
            let _ = c.disconnect().await;
        }
        why
    }

    async fn commit(node: &str, mut c: Conn, value: Value) -> Completion {
        // The transaction must still be open: one the server ended on its own (a Galera
        // brute-force abort noticed by no statement) would let the statements after it run
        // one by one in autocommit, and COMMIT would succeed with nothing to commit. Some of
        // the op may then have taken effect and some not: `info`, never `ok`.
        match c.query_first::<i64, _>("SELECT @@in_transaction").await {
            Ok(Some(1)) => {}
            Ok(other) => {
                return Completion::info(format!(
                    "{node}: the transaction had ended before COMMIT (@@in_transaction = {}), \
                     without an error to any statement",
                    other.map_or("NULL".to_string(), |v| v.to_string())
                ))
            }
            Err(e) => return classify(Phase::Commit, node, "checking @@in_transaction", &e.into()),
        }
        match c.query_drop("COMMIT").await {
            Ok(()) => {
                let _ = c.disconnect().await;
                Completion::ok(value)
            }
            Err(e) => classify(Phase::Commit, node, "COMMIT", &e.into()),
        }
    }

    async fn run(&self, ctx: OpCtx, op: &OpSpec) -> Completion {
        let (node, opts) = &self.nodes[ctx.node % self.nodes.len()];
        let body = match (self.workload, &*op.f) {
            (Workload::ListAppend | Workload::RwRegister, "txn") => {
                parse_txn(&op.value).map(Body::Txn)
            }
            (Workload::Bank, "read") => Ok(Body::BankRead),
            (Workload::Bank, "transfer") => parse_transfer(&op.value).map(Body::Transfer),
            (w, f) => Err(format!("{w:?} has no op {f}")),
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => return Completion::fail(e).on_node(node.clone()),
        };
        let mut c = match self.begin(node, opts).await {
            Ok(c) => c,
            Err(done) => return done.on_node(node.clone()),
        };
        let result = match &body {
            Body::Txn(mops) => self.txn(node, &mut c, mops).await,
            Body::BankRead => bank_read(node, &mut c).await,
            Body::Transfer((from, to, amount)) => transfer(node, &mut c, *from, *to, *amount).await,
        };
        let done = match result {
            Ok(Outcome::Commit(v)) => Self::commit(node, c, v).await,
            Ok(Outcome::Refuse(why)) => Self::abort(c, Completion::fail(why)).await,
            Err(why) => Self::abort(c, why).await,
        };
        done.on_node(node.clone())
    }

    async fn txn(&self, node: &str, c: &mut Conn, mops: &[Mop]) -> Step<Outcome> {
        let pre = |step: &str, e: mysql_async::Error| {
            classify(Phase::BeforeCommit, node, step, &e.into())
        };
        let mut out = Vec::with_capacity(mops.len());
        for (f, k, v) in mops {
            let done = match (self.workload, f.as_str()) {
                (Workload::ListAppend, "append") => {
                    let e = v.as_i64().ok_or_else(|| {
                        Completion::fail(format!("append {k} {v}: not an integer"))
                    })?;
                    c.exec_drop(
                        "INSERT INTO lists (k, v) VALUES (?, ?) \
                         ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', ?)",
                        (k, e.to_string(), e.to_string()),
                    )
                    .await
                    .map_err(|e| pre("append", e))?;
                    v.clone()
                }
                (Workload::ListAppend, "r") => {
                    let got: Option<String> = c
                        .exec_first("SELECT v FROM lists WHERE k = ?", (k,))
                        .await
                        .map_err(|e| pre("read", e))?;
                    let list = parse_list(got.as_deref().unwrap_or(""))
                        .map_err(|e| Completion::fail(format!("{node}: {e}")))?;
                    Value::List(list)
                }
                (Workload::RwRegister, "w") => {
                    let e = v
                        .as_i64()
                        .ok_or_else(|| Completion::fail(format!("w {k} {v}: not an integer")))?;
                    c.exec_drop(
                        "INSERT INTO registers (k, v) VALUES (?, ?) \
                         ON DUPLICATE KEY UPDATE v = VALUES(v)",
                        (k, e),
                    )
                    .await
                    .map_err(|e| pre("write", e))?;
                    v.clone()
                }
                (Workload::RwRegister, "r") => {
                    let got: Option<i64> = c
                        .exec_first("SELECT v FROM registers WHERE k = ?", (k,))
                        .await
                        .map_err(|e| pre("read", e))?;
                    got.map(Value::Int).unwrap_or(Value::Nil)
                }
                (w, f) => return Err(Completion::fail(format!("{w:?}: no micro-op {f}"))),
            };
            out.push(Value::List(vec![Value::str(f), Value::Int(*k), done]));
        }
        Ok(Outcome::Commit(Value::List(out)))
    }
}

enum Body {
    Txn(Vec<Mop>),
    BankRead,
    Transfer((i64, i64, i64)),
}

/// What a transaction body decided.
enum Outcome {
    /// Commit, and complete `ok` with this value.
    Commit(Value),
    /// Roll back: the op certainly did not happen (`fail` with this reason).
    Refuse(String),
}

async fn bank_read(node: &str, c: &mut Conn) -> Step<Outcome> {
    let rows: Vec<(i64, i64)> = c
        .query("SELECT id, balance FROM accounts ORDER BY id")
        .await
        .map_err(|e| classify(Phase::BeforeCommit, node, "bank read", &e.into()))?;
    Ok(Outcome::Commit(Value::Map(
        rows.into_iter()
            .map(|(a, b)| (Value::Int(a), Value::Int(b)))
            .collect(),
    )))
}

async fn transfer(node: &str, c: &mut Conn, from: i64, to: i64, amount: i64) -> Step<Outcome> {
    let pre =
        |step: &str, e: mysql_async::Error| classify(Phase::BeforeCommit, node, step, &e.into());
    let rows: Vec<(i64, i64)> = c
        .exec(
            "SELECT id, balance FROM accounts WHERE id IN (?, ?)",
            (from, to),
        )
        .await
        .map_err(|e| pre("reading the balances", e))?;
    let balance = |id: i64| rows.iter().find(|(a, _)| *a == id).map(|(_, b)| *b);
    let (Some(b_from), Some(b_to)) = (balance(from), balance(to)) else {
        return Ok(Outcome::Refuse(format!("no account {from} or {to}")));
    };
    match plan_transfer(from, b_from, to, b_to, amount) {
        Err(why) => Ok(Outcome::Refuse(why)),
        Ok(writes) => {
            for (id, b) in writes {
                c.exec_drop("UPDATE accounts SET balance = ? WHERE id = ?", (b, id))
                    .await
                    .map_err(|e| pre("writing a balance", e))?;
            }
            Ok(Outcome::Commit(Value::Map(vec![
                (Value::kw("from"), Value::Int(from)),
                (Value::kw("to"), Value::Int(to)),
                (Value::kw("amount"), Value::Int(amount)),
            ])))
        }
    }
}

/// The balances a transfer writes, or why it is refused (never below zero).
pub fn plan_transfer(
    from: i64,
    b_from: i64,
    to: i64,
    b_to: i64,
    amount: i64,
) -> Result<Vec<(i64, i64)>, String> {
    if amount <= 0 {
        return Err(format!("amount {amount} is not positive"));
    }
    if from == to {
        return Err(format!("transfer from account {from} to itself"));
    }
    if b_from < amount {
        return Err(format!(
            "insufficient funds: account {from} holds {b_from}, transfer of {amount}"
        ));
    }
    Ok(vec![(from, b_from - amount), (to, b_to + amount)])
}

impl Client for GaleraClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(self.run(ctx, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::OpType;

    fn server(code: u16) -> SqlError {
        SqlError::Server {
            code,
            message: "WSREP detected deadlock/conflict and aborted the transaction.".into(),
        }
    }

    #[test]
    fn errors_before_commit_fail_and_at_commit_only_rollbacks_fail() {
        let lost = SqlError::Connection("Input/output error: broken pipe".into());
        for e in [
            server(1213),
            server(1205),
            server(1020),
            server(1047),
            lost.clone(),
        ] {
            let c = classify(Phase::BeforeCommit, "n2", "append", &e);
            assert_eq!(c.kind, OpType::Fail, "{e:?}");
            assert!(c.error.unwrap().starts_with("n2: append: "));
        }
        assert_eq!(
            classify(Phase::Commit, "n1", "COMMIT", &server(1213)).kind,
            OpType::Fail
        );
        assert_eq!(
            classify(Phase::Commit, "n1", "COMMIT", &server(1205)).kind,
            OpType::Fail
        );
        assert_eq!(
            classify(Phase::Commit, "n1", "COMMIT", &server(1047)).kind,
            OpType::Info
        );
        let c = classify(Phase::Commit, "n3", "COMMIT", &lost);
        assert_eq!(c.kind, OpType::Info);
        assert_eq!(
            c.error.as_deref(),
            Some("n3: COMMIT: Input/output error: broken pipe")
        );
    }

    #[test]
    fn a_server_error_keeps_its_code() {
        let e: SqlError = mysql_async::Error::Server(mysql_async::ServerError {
            code: 1213,
            message: "Deadlock found".into(),
            state: "40001".into(),
        })
        .into();
        assert_eq!(
            e,
            SqlError::Server {
                code: 1213,
                message: "Deadlock found".into()
            }
        );
    }

    #[test]
    fn stored_lists_parse() {
        assert_eq!(parse_list("").unwrap(), Vec::<Value>::new());
        assert_eq!(
            parse_list("3,1,2").unwrap(),
            vec![Value::Int(3), Value::Int(1), Value::Int(2)]
        );
        assert!(parse_list("3,x").is_err());
    }

    #[test]
    fn ops_parse() {
        let mop = |f: &str, k: i64, v: Value| Value::List(vec![Value::str(f), Value::Int(k), v]);
        let t = Value::List(vec![
            mop("append", 1, Value::Int(5)),
            mop("r", 2, Value::Nil),
        ]);
        assert_eq!(
            parse_txn(&t).unwrap(),
            vec![
                ("append".into(), 1, Value::Int(5)),
                ("r".into(), 2, Value::Nil)
            ]
        );
        assert!(parse_txn(&Value::Int(1)).is_err());
        assert!(parse_txn(&Value::List(vec![mop("r", 1, Value::Nil), Value::Int(2)])).is_err());
        let tr = Value::Map(vec![
            (Value::kw("from"), Value::Int(0)),
            (Value::kw("to"), Value::Int(3)),
            (Value::kw("amount"), Value::Int(4)),
        ]);
        assert_eq!(parse_transfer(&tr).unwrap(), (0, 3, 4));
        assert!(parse_transfer(&Value::Map(vec![])).is_err());
        assert_eq!(Workload::from_name("bank"), Some(Workload::Bank));
        assert_eq!(Workload::from_name("register"), None);
    }

    #[test]
    fn transfers_never_go_negative() {
        assert_eq!(plan_transfer(0, 10, 1, 2, 4).unwrap(), vec![(0, 6), (1, 6)]);
        assert_eq!(plan_transfer(0, 4, 1, 0, 4).unwrap(), vec![(0, 0), (1, 4)]);
        assert!(plan_transfer(0, 3, 1, 0, 4)
            .unwrap_err()
            .contains("insufficient"));
        assert!(plan_transfer(2, 3, 2, 3, 1).is_err());
        assert!(plan_transfer(0, 3, 1, 0, 0).is_err());
    }
}

//! The register client: Jepsen's independent-key register ops over znodes.
//!
//! Key `k` is the persistent znode `/labrys/k<k>` holding the value as decimal text; it does
//! not exist until the first write (a read of a missing znode is nil). Each node has one
//! ZooKeeper session, connected to that node's server only (worker `w` talks to node
//! `ctx.node`), so a partitioned or lagging server shows in the history:
//! - `read [k nil]`: `sync(path)` then `getData(path)` (`reads=sync`, the default), or a
//!   plain `getData` served from the connected server's copy (`reads=plain`);
//! - `write [k v]`: `setData(path, v, any version)`; when the znode is missing,
//!   `create(path, v)`; when that create loses a race (`NodeExists`), `setData` again;
//! - `cas [k [old new]]`: `getData(path)` for the value and its version; the cas `fail`s when
//!   the value is not `old` (or the znode is missing), else `setData(path, new, version)`,
//!   which the leader applies only if nobody wrote in between (`BadVersion` otherwise: `fail`).
//!
//! Outcomes never lie to the checker:
//! - no session, or a session not connected when the op starts: nothing is sent → `fail`
//!   (a request queued on a disconnected session would go out after a reconnect, so none is
//!   queued);
//! - a read that errs has no effect either way → `fail`;
//! - `BadVersion`, `NoNode` and `NodeExists` are the server's definite refusals → `fail`
//!   (for the step that got them; a write carries on to the next step as above);
//! - any other error of a write or of a cas's `setData` (connection lost, timeout, session
//!   expired, closed) once the request may have been written to the socket → `info`: the
//!   library also fails requests already sent with `SessionExpired` when the server expires
//!   the session, so only a session found expired before sending counts as certain.

use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use std::time::Duration;
use tokio::sync::Mutex;
use zookeeper_client as zk;

/// How long establishing a session may take before the op fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an op waits for a disconnected session to come back before it fails unsent.
const RECONNECT_WAIT: Duration = Duration::from_secs(1);
/// The session timeout asked of the server.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// The znode of register `k`.
pub fn path(k: &Value) -> String {
    format!("{}/k{}", crate::db::ROOT, encode(k))
}

/// A value as the text a znode holds.
pub fn encode(v: &Value) -> String {
    match v.as_name() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    }
}

/// A znode's bytes back as a value: an integer when they are one, otherwise a string.
pub fn decode(b: &[u8]) -> Value {
    let s = String::from_utf8_lossy(b);
    s.parse::<i64>()
        .map(Value::Int)
        .unwrap_or_else(|_| Value::str(&s))
}

/// How a failed ZooKeeper call ends the op it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The op certainly did not take effect.
    Fail,
    /// It may have.
    Info,
}

/// The outcome of a write request (`create`, `setData`) that returned `e`. Only the server's
/// own refusals are certain; everything else may have been applied.
pub fn classify_write(e: &zk::Error) -> Outcome {
    use zk::Error as E;
    match e {
        E::BadVersion
        | E::NoNode
        | E::NodeExists
        | E::NoAuth
        | E::InvalidAcl
        | E::BadArguments(_)
        | E::NotReadOnly
        | E::Throttled
        | E::QuotaExceeded => Outcome::Fail,
        _ => Outcome::Info,
    }
}

/// Connects a session to `addrs` (a connect string) within `timeout`.
async fn connect(addrs: &str, timeout: Duration) -> Result<zk::Client, String> {
    let c = zk::Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .with_connection_timeout(Duration::from_secs(2))
        .with_fail_eagerly();
    match tokio::time::timeout(timeout, c.connect(addrs)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("{addrs}: cannot establish a session: {e}")),
        Err(_) => Err(format!(
            "{addrs}: no session within {} ms",
            timeout.as_millis()
        )),
    }
}

/// Creates the registers' parent znode unless it exists, through any of `addrs`.
pub async fn ensure_root(addrs: &str, timeout: Duration) -> Result<(), String> {
    let c = connect(addrs, timeout).await?;
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match tokio::time::timeout(timeout, c.create(crate::db::ROOT, b"", &opts)).await {
        Ok(Ok(_)) | Ok(Err(zk::Error::NodeExists)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// A register client with one session per node.
pub struct ZkRegisterClient {
    names: Vec<String>,
    addrs: Vec<String>,
    sessions: Vec<Mutex<Option<zk::Client>>>,
    sync_reads: bool,
}

impl ZkRegisterClient {
    /// `names[i]` is the node whose server listens at `addrs[i]` (`host:port`).
    pub fn new(names: Vec<String>, addrs: Vec<String>, sync_reads: bool) -> ZkRegisterClient {
        let sessions = addrs.iter().map(|_| Mutex::new(None)).collect();
        ZkRegisterClient {
            names,
            addrs,
            sessions,
            sync_reads,
        }
    }

    /// The live session to node `i`, connecting a new one when there is none or the last one
    /// ended (expired, closed). `Err` when the node has no connected session to send on: the
    /// op certainly was not sent.
    async fn session(&self, i: usize) -> Result<zk::Client, String> {
        let mut slot = self.sessions[i].lock().await;
        if let Some(c) = slot.as_ref() {
            let mut w = c.state_watcher();
            let mut state = w.peek_state();
            if state == zk::SessionState::Disconnected {
                // The library reconnects the session by itself; wait a little for it rather
                // than queue a request that could go out after we gave up on it.
                let wait = async {
                    loop {
                        let s = w.changed().await;
                        if s != zk::SessionState::Disconnected {
                            return s;
                        }
                    }
                };
                state = tokio::time::timeout(RECONNECT_WAIT, wait)
                    .await
                    .unwrap_or(zk::SessionState::Disconnected);
            }
            match state {
                zk::SessionState::SyncConnected => return Ok(c.clone()),
                s if !s.is_terminated() => {
                    return Err(format!("{}: session is {s}, not sent", self.addrs[i]))
                }
                _ => *slot = None,
            }
        }
        let c = connect(&self.addrs[i], CONNECT_TIMEOUT).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn read(&self, c: &zk::Client, k: &Value) -> Completion {
        let p = path(k);
        if self.sync_reads {
            if let Err(e) = c.sync(&p).await {
                return Completion::fail(format!("sync {p}: {e}"));
            }
        }
        match c.get_data(&p).await {
            Ok((data, _)) => Completion::ok(Value::List(vec![k.clone(), decode(&data)])),
            Err(zk::Error::NoNode) => Completion::ok(Value::List(vec![k.clone(), Value::Nil])),
            Err(e) => Completion::fail(format!("getData {p}: {e}")),
        }
    }

    async fn write(&self, c: &zk::Client, k: &Value, v: &Value) -> Completion {
        let p = path(k);
        let data = encode(v);
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let done = Completion::ok(Value::List(vec![k.clone(), v.clone()]));
        // setData, create, setData: a create race is lost at most once, as nothing deletes.
        for step in 0..3 {
            let r = if step == 1 {
                c.create(&p, data.as_bytes(), &opts).await.map(|_| ())
            } else {
                c.set_data(&p, data.as_bytes(), None).await.map(|_| ())
            };
            match r {
                Ok(()) => return done,
                Err(zk::Error::NoNode) if step == 0 => continue,
                Err(zk::Error::NodeExists) if step == 1 => continue,
                Err(e) => {
                    let what = if step == 1 { "create" } else { "setData" };
                    let msg = format!("{what} {p}: {e}");
                    return match classify_write(&e) {
                        Outcome::Fail => Completion::fail(msg),
                        Outcome::Info => Completion::info(msg),
                    };
                }
            }
        }
        Completion::fail(format!("write {p}: created and deleted under us"))
    }

    async fn cas(&self, c: &zk::Client, k: &Value, old: &Value, new: &Value) -> Completion {
        let p = path(k);
        let (data, stat) = match c.get_data(&p).await {
            Ok(r) => r,
            Err(zk::Error::NoNode) => return Completion::fail(format!("cas {p}: no value yet")),
            Err(e) => return Completion::fail(format!("cas: getData {p}: {e}")),
        };
        let current = decode(&data);
        if &current != old {
            return Completion::fail(format!("cas {p}: value is {current}, not {old}"));
        }
        match c
            .set_data(&p, encode(new).as_bytes(), Some(stat.version))
            .await
        {
            Ok(_) => Completion::ok(Value::List(vec![
                k.clone(),
                Value::List(vec![old.clone(), new.clone()]),
            ])),
            Err(e) => {
                let msg = format!("cas: setData {p} at version {}: {e}", stat.version);
                match classify_write(&e) {
                    Outcome::Fail => Completion::fail(msg),
                    Outcome::Info => Completion::info(msg),
                }
            }
        }
    }
}

/// The `[k x]` of an independent op, or why it is not one.
fn tuple(op: &OpSpec) -> Result<(&Value, &Value), String> {
    match op.value.as_seq() {
        Some([k, x]) => Ok((k, x)),
        _ => Err(format!(
            "{} expects a [key value] tuple, got {}",
            op.f, op.value
        )),
    }
}

impl Client for ZkRegisterClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            let (k, x) = match tuple(op) {
                Ok(t) => t,
                Err(e) => return Completion::fail(e),
            };
            let i = ctx.node % self.addrs.len().max(1);
            let Some(name) = self.names.get(i) else {
                return Completion::fail("the zookeeper client has no nodes");
            };
            let c = match self.session(i).await {
                Ok(c) => c,
                Err(e) => return Completion::fail(e).on_node(name.as_str()),
            };
            let done = match &*op.f {
                "read" => self.read(&c, k).await,
                "write" => self.write(&c, k, x).await,
                "cas" => match x.as_seq() {
                    Some([old, new]) => self.cas(&c, k, old, new).await,
                    _ => Completion::fail(format!("cas expects [key [old new]], got {}", op.value)),
                },
                f => Completion::fail(format!("the zookeeper register client has no op {f:?}")),
            };
            done.on_node(name.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::OpType;

    #[test]
    fn keys_and_values_map_to_znodes_and_back() {
        assert_eq!(path(&Value::Int(7)), "/labrys/k7");
        assert_eq!(encode(&Value::Int(-3)), "-3");
        assert_eq!(decode(b"-3"), Value::Int(-3));
        assert_eq!(decode(b"x"), Value::str("x"));
        for v in [Value::Int(0), Value::Int(4), Value::Int(i64::MAX)] {
            assert_eq!(decode(encode(&v).as_bytes()), v);
        }
    }

    #[test]
    fn only_the_servers_refusals_fail_a_write() {
        use zk::Error as E;
        for e in [E::BadVersion, E::NoNode, E::NodeExists, E::NoAuth] {
            assert_eq!(classify_write(&e), Outcome::Fail, "{e}");
        }
        for e in [
            E::ConnectionLoss,
            E::Timeout,
            E::SessionExpired,
            E::SessionMoved,
            E::ClientClosed,
            E::NoHosts,
            E::UnexpectedError("x".into()),
            E::UnexpectedErrorCode(-999),
            E::MarshallingError,
        ] {
            assert_eq!(classify_write(&e), Outcome::Info, "{e}");
        }
    }

    fn ctx() -> OpCtx {
        OpCtx {
            process: 0,
            worker: 0,
            node: 0,
        }
    }

    fn dead_addr() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    }

    /// With nothing listening, no session is established and no op is sent: every op fails,
    /// naming the node.
    #[tokio::test]
    async fn unreachable_server_fails_every_op_definitely() {
        let c = ZkRegisterClient::new(vec!["n1".into()], vec![dead_addr()], true);
        let ops = [
            OpSpec::new("read", Value::List(vec![Value::Int(1), Value::Nil])),
            OpSpec::new("write", Value::List(vec![Value::Int(1), Value::Int(2)])),
            OpSpec::new(
                "cas",
                Value::List(vec![
                    Value::Int(1),
                    Value::List(vec![Value::Int(2), Value::Int(3)]),
                ]),
            ),
        ];
        for op in &ops {
            let done = c.invoke(ctx(), op).await;
            assert_eq!(done.kind, OpType::Fail, "{op:?}: {done:?}");
            assert_eq!(done.node.as_deref(), Some("n1"));
            assert!(
                done.error.as_deref().unwrap().contains("session"),
                "{done:?}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_ops_fail_with_a_reason() {
        let c = ZkRegisterClient::new(vec!["n1".into()], vec![dead_addr()], true);
        let done = c.invoke(ctx(), &OpSpec::new("write", Value::Int(3))).await;
        assert_eq!(done.kind, OpType::Fail);
        assert!(done.error.unwrap().contains("[key value]"));
    }
}

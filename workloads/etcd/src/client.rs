//! The cas-register client: Jepsen's independent-key register ops over etcd's JSON gateway.
//!
//! Ops (values as Jepsen's `independent` tuples): `read [k nil]` → `ok [k v]` (`v` nil when
//! the key was never written), `write [k v]`, `cas [k [old new]]` (`fail` when the current
//! value is not `old`). Reads are linearizable (etcd's default range) unless
//! [`EtcdClient::with_serializable_reads`] asks for etcd's possibly-stale local reads.
//!
//! Outcomes must never lie to the checker:
//! - a request that never reached etcd (connection refused) did not happen → `fail`;
//! - a read that errs has no effect either way → `fail`;
//! - a write or cas that errs or times out after being sent may have been applied → `info`;
//! - a cas whose compare did not hold certainly did not write → `fail`.

use crate::gateway;
use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use serde_json::Value as J;
use std::time::Duration;

/// A client for every member; worker `w` uses member `w mod members`.
pub struct EtcdClient {
    http: reqwest::Client,
    urls: Vec<String>,
    prefix: String,
    serializable_reads: bool,
}

/// Why a gateway call produced no answer.
pub(crate) enum CallError {
    /// The request was certainly not delivered.
    NotSent(String),
    /// Sent (or maybe sent), no usable answer.
    Unknown(String),
}

impl EtcdClient {
    /// `urls` are client URLs (`http://10.0.0.1:2379`), one per member; keys are `prefix<k>`.
    pub fn new(urls: Vec<String>, prefix: &str) -> Result<EtcdClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(10))
            .build()?;
        Ok(EtcdClient {
            http,
            urls,
            prefix: prefix.to_string(),
            serializable_reads: false,
        })
    }

    /// Reads from the member's local state, without a quorum (etcd's `serializable` reads):
    /// fast but possibly stale, so a register history recorded this way is expected to be
    /// caught as non-linearizable under partitions. Off by default.
    pub fn with_serializable_reads(mut self, on: bool) -> EtcdClient {
        self.serializable_reads = on;
        self
    }

    pub(crate) async fn call(&self, node: usize, path: &str, body: &J) -> Result<J, CallError> {
        let url = format!("{}{path}", self.urls[node % self.urls.len()]);
        let resp = self.http.post(&url).json(body).send().await.map_err(|e| {
            if e.is_connect() {
                CallError::NotSent(format!("{url}: cannot connect: {e}"))
            } else {
                CallError::Unknown(format!("{url}: {e}"))
            }
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| CallError::Unknown(format!("{url}: {e}")))?;
        let json: J = serde_json::from_str(&text).map_err(|_| {
            CallError::Unknown(format!("{url}: HTTP {status}, not JSON: {}", text.trim()))
        })?;
        if let Some(e) = gateway::parse_error(&json) {
            return Err(CallError::Unknown(e));
        }
        if !status.is_success() {
            return Err(CallError::Unknown(format!(
                "{url}: HTTP {status}: {}",
                text.trim()
            )));
        }
        Ok(json)
    }

    async fn read(&self, node: usize, k: &Value) -> Completion {
        let key = gateway::key(&self.prefix, k);
        match self
            .call(
                node,
                "/v3/kv/range",
                &if self.serializable_reads {
                    gateway::serializable_range_request(&key)
                } else {
                    gateway::range_request(&key)
                },
            )
            .await
        {
            Ok(j) => match gateway::parse_range(&j) {
                Ok(v) => Completion::ok(Value::List(vec![
                    k.clone(),
                    v.map(|s| gateway::decode_value(&s)).unwrap_or(Value::Nil),
                ])),
                Err(e) => Completion::fail(e),
            },
            Err(CallError::NotSent(e) | CallError::Unknown(e)) => Completion::fail(e),
        }
    }

    async fn write(&self, node: usize, k: &Value, v: &Value) -> Completion {
        let key = gateway::key(&self.prefix, k);
        let body = gateway::put_request(&key, &gateway::encode_value(v));
        match self.call(node, "/v3/kv/put", &body).await {
            Ok(j) => match gateway::parse_put(&j) {
                Ok(()) => Completion::ok(Value::List(vec![k.clone(), v.clone()])),
                Err(e) => Completion::info(e),
            },
            Err(CallError::NotSent(e)) => Completion::fail(e),
            Err(CallError::Unknown(e)) => Completion::info(e),
        }
    }

    async fn cas(&self, node: usize, k: &Value, old: &Value, new: &Value) -> Completion {
        let key = gateway::key(&self.prefix, k);
        let body = gateway::cas_request(
            &key,
            &gateway::encode_value(old),
            &gateway::encode_value(new),
        );
        match self.call(node, "/v3/kv/txn", &body).await {
            Ok(j) => match gateway::parse_txn(&j) {
                Ok(true) => Completion::ok(Value::List(vec![
                    k.clone(),
                    Value::List(vec![old.clone(), new.clone()]),
                ])),
                Ok(false) => Completion::fail("compare failed: current value is not the old one"),
                Err(e) => Completion::info(e),
            },
            Err(CallError::NotSent(e)) => Completion::fail(e),
            Err(CallError::Unknown(e)) => Completion::info(e),
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

impl Client for EtcdClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            let (k, x) = match tuple(op) {
                Ok(t) => t,
                Err(e) => return Completion::fail(e),
            };
            match &*op.f {
                "read" => self.read(ctx.node, k).await,
                "write" => self.write(ctx.node, k, x).await,
                "cas" => match x.as_seq() {
                    Some([old, new]) => self.cas(ctx.node, k, old, new).await,
                    _ => Completion::fail(format!("cas expects [key [old new]], got {}", op.value)),
                },
                f => Completion::fail(format!("the etcd register client has no op {f:?}")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::OpType;

    fn ctx() -> OpCtx {
        OpCtx {
            process: 0,
            worker: 0,
            node: 0,
        }
    }

    /// A port nothing listens on: bound, then released.
    fn dead_url() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn unreachable_member_fails_every_op_definitely() {
        let c = EtcdClient::new(vec![dead_url()], "t/").unwrap();
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
            assert!(done.error.unwrap().contains("cannot connect"));
        }
    }

    #[tokio::test]
    async fn malformed_ops_fail_with_a_reason() {
        let c = EtcdClient::new(vec![dead_url()], "t/").unwrap();
        let done = c.invoke(ctx(), &OpSpec::new("write", Value::Int(3))).await;
        assert_eq!(done.kind, OpType::Fail);
        assert!(done.error.unwrap().contains("[key value]"));
        let done = c
            .invoke(
                ctx(),
                &OpSpec::new("append", Value::List(vec![Value::Int(1), Value::Int(1)])),
            )
            .await;
        assert_eq!(done.kind, OpType::Fail);
    }
}

//! The set client: Jepsen's set workload over etcd's JSON gateway.
//!
//! Each element is its own key, `<prefix><v>`, so an add is one put and no two adds contend
//! (a set kept in one key would turn every add into a read-modify-write cas loop). The final
//! read is one linearizable range over the prefix: a single read at one revision, so it shows
//! every add acknowledged before it.
//!
//! Outcomes: an add that never reached etcd is `fail`; one that errs or times out after being
//! sent may have been applied, so `info`. A read that errs changed nothing: `fail`.

use crate::client::{CallError, EtcdClient};
use crate::gateway;
use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;

/// Adds and reads of one set, under a key prefix.
pub struct EtcdSetClient {
    inner: EtcdClient,
    prefix: String,
}

impl EtcdSetClient {
    /// `urls` are client URLs, one per member (worker `w` uses member `w mod members`); the
    /// set's elements live under `prefix`.
    pub fn new(urls: Vec<String>, prefix: &str) -> Result<EtcdSetClient, reqwest::Error> {
        Ok(EtcdSetClient {
            inner: EtcdClient::new(urls, prefix)?,
            prefix: prefix.to_string(),
        })
    }

    async fn add(&self, node: usize, v: &Value) -> Completion {
        let key = gateway::key(&self.prefix, v);
        let body = gateway::put_request(&key, &gateway::encode_value(v));
        match self.inner.call(node, "/v3/kv/put", &body).await {
            Ok(j) => match gateway::parse_put(&j) {
                Ok(()) => Completion::ok(v.clone()),
                Err(e) => Completion::info(e),
            },
            Err(CallError::NotSent(e)) => Completion::fail(e),
            Err(CallError::Unknown(e)) => Completion::info(e),
        }
    }

    async fn read(&self, node: usize) -> Completion {
        let body = gateway::prefix_range_request(&self.prefix);
        match self.inner.call(node, "/v3/kv/range", &body).await {
            Ok(j) => match gateway::parse_range_values(&j) {
                Ok(vals) => {
                    let vals: Vec<Value> = vals.iter().map(|s| gateway::decode_value(s)).collect();
                    Completion::ok(Value::List(vals))
                }
                Err(e) => Completion::fail(e),
            },
            Err(CallError::NotSent(e) | CallError::Unknown(e)) => Completion::fail(e),
        }
    }
}

impl Client for EtcdSetClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            match &*op.f {
                "add" => self.add(ctx.node, &op.value).await,
                "read" => self.read(ctx.node).await,
                f => Completion::fail(format!("the etcd set client has no op {f:?}")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::OpType;

    #[tokio::test]
    async fn an_unreachable_member_fails_adds_and_reads_definitely() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let c = EtcdSetClient::new(vec![url], "s/").unwrap();
        let ctx = OpCtx {
            process: 0,
            worker: 0,
            node: 0,
        };
        for op in [
            OpSpec::new("add", Value::Int(3)),
            OpSpec::new("read", Value::Nil),
        ] {
            let done = c.invoke(ctx, &op).await;
            assert_eq!(done.kind, OpType::Fail, "{done:?}");
        }
        let done = c.invoke(ctx, &OpSpec::new("cas", Value::Nil)).await;
        assert_eq!(done.kind, OpType::Fail);
        assert!(done.error.unwrap().contains("no op"));
    }
}

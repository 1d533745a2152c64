//! The list-append client: Elle's transactional workload over etcd txns.
//!
//! An op is `txn [[append k v] [r k nil] ...]`; each key holds a list, stored as JSON text.
//! A transaction runs optimistically in two etcd txns: one atomic read of every key it touches
//! (values and `mod_revision`s), then — only if it appends — one commit that puts the new
//! lists if none of those keys changed since the read. Read-only transactions complete after
//! the first step, which is itself an atomic linearizable snapshot. So every committed
//! transaction is strictly serializable, which is what the checker is asked to verify.
//!
//! Outcomes: the read step failing or the commit's compare failing means nothing was written
//! (`fail`); a commit that errs or times out after being sent may have applied (`info`).

use crate::gateway::{self, KeyState};
use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::Value;
use serde_json::Value as J;
use std::time::Duration;

/// A list-append client for every member; worker `w` uses member `w mod members`.
pub struct EtcdAppendClient {
    http: reqwest::Client,
    urls: Vec<String>,
    prefix: String,
}

/// One micro-op of a transaction.
enum Mop<'a> {
    Append(&'a Value, &'a Value),
    Read(&'a Value),
}

fn parse_mops(op: &OpSpec) -> Result<Vec<Mop<'_>>, String> {
    let list = op
        .value
        .as_seq()
        .ok_or_else(|| format!("txn expects a list of micro-ops, got {}", op.value))?;
    list.iter()
        .map(|m| match m.as_seq() {
            Some([f, k, v]) if f.as_name() == Some("append") => Ok(Mop::Append(k, v)),
            Some([f, k, _]) if f.as_name() == Some("r") => Ok(Mop::Read(k)),
            _ => Err(format!("micro-op {m}: expected [append k v] or [r k nil]")),
        })
        .collect()
}

/// A stored list (JSON text of values) back as values.
fn decode_list(text: &str) -> Result<Vec<Value>, String> {
    let j: J = serde_json::from_str(text).map_err(|e| format!("stored list {text:?}: {e}"))?;
    match j {
        J::Array(a) => Ok(a.iter().map(Value::from_json).collect()),
        other => Err(format!("stored value {other} is not a list")),
    }
}

fn encode_list(list: &[Value]) -> String {
    J::Array(list.iter().map(Value::to_json).collect()).to_string()
}

impl EtcdAppendClient {
    pub fn new(urls: Vec<String>, prefix: &str) -> Result<EtcdAppendClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(10))
            .build()?;
        Ok(EtcdAppendClient {
            http,
            urls,
            prefix: prefix.to_string(),
        })
    }

    /// POSTs a txn; `Err((sent, msg))` tells whether the request may have been delivered.
    async fn txn(&self, node: usize, body: &J) -> Result<J, (bool, String)> {
        let url = format!("{}/v3/kv/txn", self.urls[node % self.urls.len()]);
        let resp = self.http.post(&url).json(body).send().await.map_err(|e| {
            if e.is_connect() {
                (false, format!("{url}: cannot connect: {e}"))
            } else {
                (true, format!("{url}: {e}"))
            }
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| (true, format!("{url}: {e}")))?;
        let json: J = serde_json::from_str(&text).map_err(|_| {
            (
                true,
                format!("{url}: HTTP {status}, not JSON: {}", text.trim()),
            )
        })?;
        if let Some(e) = gateway::parse_error(&json) {
            return Err((true, e));
        }
        if !status.is_success() {
            return Err((true, format!("{url}: HTTP {status}: {}", text.trim())));
        }
        Ok(json)
    }

    async fn run(&self, node: usize, op: &OpSpec) -> Completion {
        let mops = match parse_mops(op) {
            Ok(m) => m,
            Err(e) => return Completion::fail(e),
        };
        // Distinct keys, in first-use order.
        let mut keys: Vec<&Value> = Vec::new();
        for m in &mops {
            let (Mop::Append(k, _) | Mop::Read(k)) = m;
            if !keys.contains(k) {
                keys.push(k);
            }
        }
        let names: Vec<String> = keys.iter().map(|k| gateway::key(&self.prefix, k)).collect();
        let read = match self.txn(node, &gateway::txn_read_request(&names)).await {
            Ok(j) => j,
            // Nothing was written by a read, whatever happened to it.
            Err((_, e)) => return Completion::fail(e),
        };
        let states: Vec<KeyState> = match gateway::parse_txn_read(&read, names.len()) {
            Ok(s) => s,
            Err(e) => return Completion::fail(e),
        };
        let mut lists: Vec<Option<Vec<Value>>> = Vec::with_capacity(states.len());
        for s in &states {
            match s.value.as_deref().map(decode_list).transpose() {
                Ok(l) => lists.push(l),
                Err(e) => return Completion::fail(e),
            }
        }
        let mut dirty = vec![false; keys.len()];
        let mut done = Vec::with_capacity(mops.len());
        for m in &mops {
            match m {
                Mop::Append(k, v) => {
                    let i = keys
                        .iter()
                        .position(|x| x == k)
                        .expect("key collected above");
                    lists[i].get_or_insert_with(Vec::new).push((*v).clone());
                    dirty[i] = true;
                    done.push(Value::List(vec![
                        Value::str("append"),
                        (*k).clone(),
                        (*v).clone(),
                    ]));
                }
                Mop::Read(k) => {
                    let i = keys
                        .iter()
                        .position(|x| x == k)
                        .expect("key collected above");
                    let seen = lists[i].clone().map(Value::List).unwrap_or(Value::Nil);
                    done.push(Value::List(vec![Value::str("r"), (*k).clone(), seen]));
                }
            }
        }
        if !dirty.contains(&true) {
            return Completion::ok(Value::List(done));
        }
        let seen: Vec<(String, i64)> = names
            .iter()
            .cloned()
            .zip(states.iter().map(|s| s.mod_revision))
            .collect();
        let puts: Vec<(String, String)> = (0..keys.len())
            .filter(|&i| dirty[i])
            .map(|i| {
                (
                    names[i].clone(),
                    encode_list(lists[i].as_deref().unwrap_or(&[])),
                )
            })
            .collect();
        match self
            .txn(node, &gateway::txn_commit_request(&seen, &puts))
            .await
        {
            Ok(j) => match gateway::parse_txn(&j) {
                Ok(true) => Completion::ok(Value::List(done)),
                Ok(false) => Completion::fail("conflict: a key changed between read and commit"),
                Err(e) => Completion::info(e),
            },
            Err((false, e)) => Completion::fail(e),
            Err((true, e)) => Completion::info(e),
        }
    }
}

impl Client for EtcdAppendClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            if &*op.f != "txn" {
                return Completion::fail(format!("the list-append client has no op {:?}", op.f));
            }
            self.run(ctx.node, op).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_bad_mops_are_named() {
        let l = vec![Value::Int(1), Value::Int(22)];
        assert_eq!(decode_list(&encode_list(&l)).unwrap(), l);
        assert!(decode_list("7").is_err());
        let op = OpSpec::new(
            "txn",
            Value::List(vec![Value::List(vec![
                Value::kw("w"),
                Value::Int(1),
                Value::Int(2),
            ])]),
        );
        let err = parse_mops(&op).err().unwrap();
        assert!(err.contains("expected [append k v]"), "{err}");
    }
}

//! The shapes of etcd's v3 JSON gateway (`/v3/kv/range`, `/v3/kv/put`, `/v3/kv/txn`).
//!
//! The gateway speaks the protobuf messages as JSON: `bytes` fields (keys, values) are base64,
//! `int64` fields are decimal strings, and fields with default values are omitted, so a txn
//! whose compare failed has no `succeeded` field at all and a range that found nothing has no
//! `kvs`. Errors come back as `{"error": ..., "message": ..., "code": <gRPC code>}`. Everything
//! here is pure, so it is tested without an etcd.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use labrys_history::Value;
use serde_json::{json, Value as J};

/// The etcd key of register `k`: `<prefix><k>`.
pub fn key(prefix: &str, k: &Value) -> String {
    match k.as_name() {
        Some(s) => format!("{prefix}{s}"),
        None => format!("{prefix}{k}"),
    }
}

/// The text stored for a register value.
pub fn encode_value(v: &Value) -> String {
    match v.as_name() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    }
}

/// A stored text back as a value: an integer when it is one, otherwise a string.
pub fn decode_value(s: &str) -> Value {
    s.parse::<i64>()
        .map(Value::Int)
        .unwrap_or_else(|_| Value::str(s))
}

pub fn b64(s: &str) -> String {
    STANDARD.encode(s.as_bytes())
}

fn unb64(s: &str) -> Result<String, String> {
    let bytes = STANDARD
        .decode(s)
        .map_err(|e| format!("bad base64 {s:?}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("value is not UTF-8: {e}"))
}

/// A linearizable single-key read (etcd's default; `serializable` stays false).
pub fn range_request(key: &str) -> J {
    json!({ "key": b64(key) })
}

/// A serializable single-key read: answered from the member's local state without a quorum,
/// so it may be stale. Only for demonstrating that the checker catches stale reads.
pub fn serializable_range_request(key: &str) -> J {
    json!({ "key": b64(key), "serializable": true })
}

pub fn put_request(key: &str, value: &str) -> J {
    json!({ "key": b64(key), "value": b64(value) })
}

/// Compare-and-set: put `new` if the current value is `old` (false when the key is absent).
pub fn cas_request(key: &str, old: &str, new: &str) -> J {
    json!({
        "compare": [{ "key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(old) }],
        "success": [{ "request_put": { "key": b64(key), "value": b64(new) } }],
    })
}

/// The value a range response found for its key, `None` when the key does not exist.
pub fn parse_range(resp: &J) -> Result<Option<String>, String> {
    if let Some(e) = parse_error(resp) {
        return Err(e);
    }
    if resp.get("header").is_none() {
        return Err(format!("range response without a header: {resp}"));
    }
    match resp
        .get("kvs")
        .and_then(J::as_array)
        .and_then(|a| a.first())
    {
        None => Ok(None),
        Some(kv) => match kv.get("value").and_then(J::as_str) {
            // An empty value is a default, so the gateway omits it.
            None => Ok(Some(String::new())),
            Some(v) => unb64(v).map(Some),
        },
    }
}

/// Whether a txn took its success branch.
pub fn parse_txn(resp: &J) -> Result<bool, String> {
    if let Some(e) = parse_error(resp) {
        return Err(e);
    }
    if resp.get("header").is_none() {
        return Err(format!("txn response without a header: {resp}"));
    }
    Ok(resp.get("succeeded").and_then(J::as_bool).unwrap_or(false))
}

/// A put's acknowledgement.
pub fn parse_put(resp: &J) -> Result<(), String> {
    if let Some(e) = parse_error(resp) {
        return Err(e);
    }
    if resp.get("header").is_none() {
        return Err(format!("put response without a header: {resp}"));
    }
    Ok(())
}

/// The end of the key range that holds exactly the keys starting with `prefix` (etcd's
/// `range_end`: the prefix with its last byte incremented; a non-empty ASCII prefix here).
pub fn prefix_end(prefix: &str) -> String {
    let mut b = prefix.as_bytes().to_vec();
    while let Some(last) = b.pop() {
        if last < 0xff {
            b.push(last + 1);
            return String::from_utf8_lossy(&b).into_owned();
        }
    }
    "\0".to_string()
}

/// A linearizable read of every key under `prefix`.
pub fn prefix_range_request(prefix: &str) -> J {
    json!({ "key": b64(prefix), "range_end": b64(&prefix_end(prefix)) })
}

/// Every value a range response holds, in key order; an error when the response says more
/// keys exist than it returned (`more`), which would make a read look like a loss.
pub fn parse_range_values(resp: &J) -> Result<Vec<String>, String> {
    if let Some(e) = parse_error(resp) {
        return Err(e);
    }
    if resp.get("header").is_none() {
        return Err(format!("range response without a header: {resp}"));
    }
    if resp.get("more").and_then(J::as_bool) == Some(true) {
        return Err("range response is truncated (more = true)".into());
    }
    let kvs = resp.get("kvs").and_then(J::as_array).map_or(&[][..], |a| a);
    kvs.iter()
        .map(|kv| match kv.get("value").and_then(J::as_str) {
            None => Ok(String::new()),
            Some(v) => unb64(v),
        })
        .collect()
}

/// The gateway's error message, when the body is an error.
pub fn parse_error(resp: &J) -> Option<String> {
    let msg = resp
        .get("error")
        .or_else(|| resp.get("message"))?
        .as_str()?;
    let code = resp.get("code").and_then(J::as_i64);
    Some(match code {
        Some(c) => format!("{msg} (gRPC code {c})"),
        None => msg.to_string(),
    })
}

/// One key as a multi-key txn reads it: its value and the revision that last modified it
/// (0 when the key does not exist).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    pub value: Option<String>,
    pub mod_revision: i64,
}

/// A txn reading every key in one atomic, linearizable step (no compare: it always succeeds).
pub fn txn_read_request(keys: &[String]) -> J {
    let ranges: Vec<J> = keys
        .iter()
        .map(|k| json!({"request_range": {"key": b64(k)}}))
        .collect();
    json!({ "success": ranges })
}

/// Parses the answer to [`txn_read_request`]: one state per key, in request order.
pub fn parse_txn_read(resp: &J, n: usize) -> Result<Vec<KeyState>, String> {
    if let Some(e) = parse_error(resp) {
        return Err(e);
    }
    let responses = resp
        .get("responses")
        .and_then(J::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if responses.len() != n {
        return Err(format!(
            "txn read answered {} ranges for {n} keys: {resp}",
            responses.len()
        ));
    }
    responses
        .iter()
        .map(|r| {
            let range = r
                .get("response_range")
                .ok_or_else(|| format!("txn read answer without response_range: {r}"))?;
            match range
                .get("kvs")
                .and_then(J::as_array)
                .and_then(|a| a.first())
            {
                None => Ok(KeyState {
                    value: None,
                    mod_revision: 0,
                }),
                Some(kv) => {
                    let value = match kv.get("value").and_then(J::as_str) {
                        None => String::new(),
                        Some(v) => unb64(v)?,
                    };
                    let rev = kv.get("mod_revision").and_then(J::as_str).unwrap_or("0");
                    let mod_revision = rev
                        .parse()
                        .map_err(|_| format!("bad mod_revision {rev:?} in {kv}"))?;
                    Ok(KeyState {
                        value: Some(value),
                        mod_revision,
                    })
                }
            }
        })
        .collect()
}

/// A txn that writes `puts` only if no key of `seen` changed since it was read (optimistic
/// concurrency: every compare is on the key's `mod_revision`, 0 meaning "still absent").
pub fn txn_commit_request(seen: &[(String, i64)], puts: &[(String, String)]) -> J {
    let compare: Vec<J> = seen
        .iter()
        .map(|(k, rev)| {
            json!({"key": b64(k), "target": "MOD", "result": "EQUAL", "mod_revision": rev.to_string()})
        })
        .collect();
    let success: Vec<J> = puts
        .iter()
        .map(|(k, v)| json!({"request_put": {"key": b64(k), "value": b64(v)}}))
        .collect();
    json!({ "compare": compare, "success": success })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges_cover_exactly_the_prefix() {
        assert_eq!(prefix_end("set/"), "set0");
        assert_eq!(
            prefix_range_request("a/"),
            json!({"key": "YS8=", "range_end": "YTA="})
        );
        let resp = json!({"header": {}, "kvs": [{"key": "eA==", "value": "Mw=="}, {"key": "eQ==", "value": "MTI="}], "count": "2"});
        assert_eq!(parse_range_values(&resp).unwrap(), vec!["3", "12"]);
        assert_eq!(
            parse_range_values(&json!({"header": {}})).unwrap(),
            Vec::<String>::new()
        );
        let more = json!({"header": {}, "kvs": [], "more": true});
        assert!(parse_range_values(&more).unwrap_err().contains("truncated"));
        assert!(parse_range_values(&json!({"error": "x", "code": 14})).is_err());
    }

    #[test]
    fn requests_are_base64() {
        assert_eq!(range_request("k1"), json!({"key": "azE="}));
        assert_eq!(
            put_request("k1", "3"),
            json!({"key": "azE=", "value": "Mw=="})
        );
        let cas = cas_request("k1", "3", "4");
        assert_eq!(cas["compare"][0]["value"], "Mw==");
        assert_eq!(cas["success"][0]["request_put"]["value"], "NA==");
        assert_eq!(key("labrys/", &Value::Int(7)), "labrys/7");
        assert_eq!(key("labrys/", &Value::kw("x")), "labrys/x");
    }

    #[test]
    fn responses_as_etcd_3_4_sends_them() {
        let found = json!({"header": {"revision": "5"}, "kvs": [{"key": "azE=", "value": "Mw==", "version": "2"}], "count": "1"});
        assert_eq!(parse_range(&found), Ok(Some("3".into())));
        let missing = json!({"header": {"revision": "5"}});
        assert_eq!(parse_range(&missing), Ok(None));
        assert_eq!(
            parse_txn(&json!({"header": {}, "succeeded": true})),
            Ok(true)
        );
        assert_eq!(parse_txn(&json!({"header": {}})), Ok(false));
        let err = json!({"error": "etcdserver: request timed out", "code": 14, "message": "etcdserver: request timed out"});
        assert_eq!(
            parse_put(&err),
            Err("etcdserver: request timed out (gRPC code 14)".into())
        );
        assert!(parse_range(&json!({})).is_err());
        assert_eq!(decode_value("12"), Value::Int(12));
        assert_eq!(decode_value("x"), Value::str("x"));
    }

    #[test]
    fn multi_key_txns() {
        let keys = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            txn_read_request(&keys)["success"][1]["request_range"]["key"],
            "Yg=="
        );
        let resp = json!({"header": {}, "succeeded": true, "responses": [
            {"response_range": {"header": {}, "kvs": [{"key": "YQ==", "value": "WzFd", "mod_revision": "7"}], "count": "1"}},
            {"response_range": {"header": {}}}
        ]});
        assert_eq!(
            parse_txn_read(&resp, 2),
            Ok(vec![
                KeyState {
                    value: Some("[1]".into()),
                    mod_revision: 7
                },
                KeyState {
                    value: None,
                    mod_revision: 0
                },
            ])
        );
        assert!(parse_txn_read(&resp, 3).is_err());
        let c = txn_commit_request(
            &[("a".into(), 7), ("b".into(), 0)],
            &[("b".into(), "[2]".into())],
        );
        assert_eq!(c["compare"][0]["mod_revision"], "7");
        assert_eq!(c["compare"][1]["target"], "MOD");
        assert_eq!(c["success"][0]["request_put"]["value"], "WzJd");
    }

    proptest::proptest! {
        #[test]
        fn values_round_trip(i in proptest::prelude::any::<i64>()) {
            let v = Value::Int(i);
            let resp = json!({"header": {}, "kvs": [{"value": b64(&encode_value(&v))}]});
            let got = parse_range(&resp).unwrap().map(|s| decode_value(&s));
            proptest::prop_assert_eq!(got, Some(v));
        }
    }
}

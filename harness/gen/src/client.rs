//! The contract between the generator runtime and a database client.
//!
//! A client turns one [`OpSpec`] into a [`Completion`]: `ok` when the op happened (with what it
//! read), `fail` only when the op certainly did not happen, `info` when it may or may not
//! have. The runtime adds the timeout (an op that takes too long is recorded as `info`), so a
//! client never needs its own.

use labrys_history::{OpType, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What to do: a function name and its argument, as they will be recorded on the invoke.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSpec {
    pub f: Arc<str>,
    pub value: Value,
}

impl OpSpec {
    pub fn new(f: &str, value: Value) -> OpSpec {
        OpSpec { f: f.into(), value }
    }
}

/// Who performs an op and against which node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpCtx {
    /// The logical process recorded in the history.
    pub process: i64,
    /// The worker (0..concurrency) acting as that process.
    pub worker: usize,
    /// Index of the node this worker talks to (worker mod node count).
    pub node: usize,
}

/// How an op ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// `Ok`, `Fail` or `Info` (never `Invoke`).
    pub kind: OpType,
    /// The completion's value; `None` repeats the invocation's value (usual for fail/info).
    pub value: Option<Value>,
    /// Why it failed or is unknown, recorded as the completion's `error` field.
    pub error: Option<String>,
    /// The node that answered, when the client found it out (a primary it resolved, say):
    /// recorded as the completion's `node` field.
    pub node: Option<String>,
}

impl Completion {
    pub fn ok(value: Value) -> Completion {
        Completion {
            kind: OpType::Ok,
            value: Some(value),
            error: None,
            node: None,
        }
    }

    /// The op certainly did not take effect.
    pub fn fail(error: impl Into<String>) -> Completion {
        Completion {
            kind: OpType::Fail,
            value: None,
            error: Some(error.into()),
            node: None,
        }
    }

    /// The op may or may not have taken effect.
    pub fn info(error: impl Into<String>) -> Completion {
        Completion {
            kind: OpType::Info,
            value: None,
            error: Some(error.into()),
            node: None,
        }
    }
}

impl Completion {
    /// The same completion, recording that `node` answered.
    pub fn on_node(mut self, node: impl Into<String>) -> Completion {
        self.node = Some(node.into());
        self
    }
}

/// The future a client returns.
pub type OpFuture<'a> = Pin<Box<dyn Future<Output = Completion> + Send + 'a>>;

/// A database client shared by every worker.
pub trait Client: Send + Sync + 'static {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a>;
}

//! One operation of a history: an invocation or a completion, as Jepsen records them.
//!
//! An op is a line in the history: `invoke` starts an operation, and a later `ok`, `fail` or
//! `info` of the same process completes it. The fields every checker reads are typed here;
//! whatever else a history carries (`:node`, `:error`, `:key` ...) stays in `extra`, in order, so
//! that nothing is dropped and a reader can hand it back.

use crate::value::Value;
use std::fmt;
use std::sync::Arc;

/// What an op record says about its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpType {
    /// The operation began.
    Invoke,
    /// It happened, at some point between its invocation and this completion.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Unknown: it may take effect at any point after its invocation, or never.
    Info,
}

impl OpType {
    pub fn parse(s: &str) -> Option<OpType> {
        match s {
            "invoke" => Some(OpType::Invoke),
            "ok" => Some(OpType::Ok),
            "fail" => Some(OpType::Fail),
            "info" => Some(OpType::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }

    pub fn is_completion(self) -> bool {
        self != OpType::Invoke
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who performed an op. Client processes are integers; anything else (`:nemesis`) is named.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(i64),
    Named(Arc<str>),
}

impl Process {
    /// Client ops are the ones checkers reason about; named processes (the nemesis) are kept
    /// in the history but never paired into client operations.
    pub fn is_client(&self) -> bool {
        matches!(self, Process::Client(_))
    }

    pub fn client(&self) -> Option<i64> {
        match self {
            Process::Client(p) => Some(*p),
            Process::Named(_) => None,
        }
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Named(n) => write!(f, "{n}"),
        }
    }
}

/// One record of a history.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// Position in the history, 0-based. Taken from the record's `index` when it has one,
    /// otherwise its position in the file.
    pub index: u64,
    /// Nanoseconds since the test began, when recorded.
    pub time: Option<i64>,
    pub kind: OpType,
    pub process: Process,
    /// The function name, without a keyword's colon (`:read` and `"read"` are both `read`);
    /// empty when the record has none (some elle-cli JSON histories omit `f` for txns).
    pub f: Arc<str>,
    pub value: Value,
    /// Every other field of the record, in order.
    pub extra: Vec<(Arc<str>, Value)>,
    /// 1-based line of the file where the record starts (0 when not read from a file).
    pub line: u32,
    /// 1-based column (byte) where the record starts on that line (0 when not read from a
    /// file). Errors about the record name `line:col`.
    pub col: u32,
}

impl Op {
    /// Builds a client op (handy in tests and generators).
    pub fn new(index: u64, kind: OpType, process: i64, f: &str, value: Value) -> Op {
        Op {
            index,
            time: None,
            kind,
            process: Process::Client(process),
            f: f.into(),
            value,
            extra: Vec::new(),
            line: 0,
            col: 0,
        }
    }

    pub fn is_client(&self) -> bool {
        self.process.is_client()
    }

    /// An extra field by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.extra
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| v)
    }

    /// The native JSON form labrys writes: `{"index","time","type","process","f","value",...extra}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("index".into(), self.index.into());
        if let Some(t) = self.time {
            m.insert("time".into(), t.into());
        }
        m.insert("type".into(), self.kind.as_str().into());
        m.insert(
            "process".into(),
            match &self.process {
                Process::Client(p) => (*p).into(),
                Process::Named(n) => n.to_string().into(),
            },
        );
        if !self.f.is_empty() {
            m.insert("f".into(), self.f.to_string().into());
        }
        m.insert("value".into(), self.value.to_json());
        for (k, v) in &self.extra {
            m.insert(k.to_string(), v.to_json());
        }
        serde_json::Value::Object(m)
    }
}

/// Prints the op the way Jepsen logs it: `process  type  f  value`.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} :{} :{} {}",
            self.process, self.kind, self.f, self.value
        )
    }
}

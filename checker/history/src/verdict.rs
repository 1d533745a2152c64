//! The contract every checker returns, and the options every checker may read.
//!
//! `labrys check --json` prints a `CheckResult` as one JSON object per file, and CI scripts
//! depend on its shape: `valid`, `anomaly_types`, `not`, `anomalies`, `stats`, `warnings`.
//! Keep it stable; add fields, never rename them.

use crate::value::Value;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A verdict. `Unknown` is honest: out of time or memory, or the history cannot be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

impl Validity {
    /// Exit code of `labrys check`: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }

    /// Combines verdicts of independent parts (keys, checkers): any invalid part makes the
    /// whole invalid; otherwise any unknown part makes it unknown.
    pub fn and(self, other: Validity) -> Validity {
        use Validity::*;
        match (self, other) {
            (Invalid, _) | (_, Invalid) => Invalid,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => Valid,
        }
    }
}

impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

/// One anomaly found: a plain-words explanation plus whatever structure helps a tool
/// (`ops`, `cycle`, `key` ...). `explanation` is what the text output prints.
#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    pub explanation: String,
    #[serde(flatten)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl Anomaly {
    pub fn new(explanation: impl Into<String>) -> Anomaly {
        Anomaly {
            explanation: explanation.into(),
            detail: serde_json::Map::new(),
        }
    }

    /// Adds a structured field.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Anomaly {
        self.detail.insert(key.to_string(), value.into());
        self
    }
}

/// A lint warning: something that makes a history suspect without making it invalid.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Warning {
    /// A short stable name: `fail-then-read`, `duplicate-writes`, `op-after-info`,
    /// `time-backwards`, `non-client-ops`, ...; `no-progress` on the verdicts of `labrys test`
    /// and `labrys analyze` (most of the main phase without a successful op).
    pub kind: String,
    /// Line of the first record concerned (0 when not from a file).
    pub line: u32,
    pub message: String,
}

/// What a checker concluded about one history.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub valid: Validity,
    /// Anomaly names, sorted (Elle's names where Elle has one: `G1c`, `G2-item`, ...).
    pub anomaly_types: Vec<String>,
    /// Every consistency model the history rules out, closed upwards.
    pub not: Vec<String>,
    /// Anomaly name → explanations.
    pub anomalies: BTreeMap<String, Vec<Anomaly>>,
    /// Counts and figures (`ok`/`fail`/`info` per `f`, ops checked, time taken ...).
    pub stats: serde_json::Map<String, serde_json::Value>,
    /// When the verdict is unknown, why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<String>,
    /// Lint warnings: what makes the history suspect.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

impl CheckResult {
    pub fn valid() -> CheckResult {
        CheckResult {
            valid: Validity::Valid,
            anomaly_types: Vec::new(),
            not: Vec::new(),
            anomalies: BTreeMap::new(),
            stats: serde_json::Map::new(),
            unknown_reason: None,
            warnings: Vec::new(),
        }
    }

    pub fn unknown(reason: impl Into<String>) -> CheckResult {
        let mut r = CheckResult::valid();
        r.valid = Validity::Unknown;
        r.unknown_reason = Some(reason.into());
        r
    }

    /// Records an anomaly and marks the result invalid.
    pub fn add_anomaly(&mut self, kind: &str, a: Anomaly) {
        self.valid = Validity::Invalid;
        self.anomalies.entry(kind.to_string()).or_default().push(a);
        if !self.anomaly_types.iter().any(|t| t == kind) {
            self.anomaly_types.push(kind.to_string());
            self.anomaly_types.sort();
        }
    }

    /// Adds models to `not`, keeping it sorted and free of duplicates.
    pub fn rule_out<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, models: I) {
        for m in models {
            let m = m.into();
            if !self.not.contains(&m) {
                self.not.push(m);
            }
        }
        self.not.sort();
    }

    pub fn stat(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.stats.insert(key.to_string(), value.into());
    }
}

/// A point in time past which a checker must stop and answer `unknown`. Checkers poll
/// `expired()` inside their searches, not only between keys.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn none() -> Deadline {
        Deadline(None)
    }

    pub fn after(d: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(d))
    }

    pub fn expired(&self) -> bool {
        self.0.is_some_and(|t| Instant::now() >= t)
    }

    /// Whether there is a deadline at all (a search that may run long can then be tried,
    /// since it will stop in time).
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The same deadline `d` sooner, leaving time for work that must follow (no deadline stays
    /// none).
    pub fn earlier_by(&self, d: Duration) -> Deadline {
        Deadline(self.0.map(|t| t.checked_sub(d).unwrap_or(t)))
    }
}

/// Options from the command line that checkers read. Each checker documents which it uses.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// `--initial`: the initial state (register value, `{"x":0}` for multi-register ...).
    pub initial: Option<Value>,
    /// `--consistency-models`: what to check against (default per checker).
    pub consistency_models: Vec<String>,
    pub deadline: Deadline,
    /// `--memory-limit`: bytes a search may hold before it gives up with `unknown`.
    pub memory_limit: Option<u64>,
    /// `--group-size` (long-fork).
    pub group_size: Option<usize>,
    /// `--total-amount` (bank).
    pub total_amount: Option<i64>,
    /// `--allow-negative-balances` (bank).
    pub allow_negative_balances: bool,
    /// `--linearizable` (set-full: strict visibility).
    pub linearizable: bool,
    /// `--out DIR`: where checkers may write files (cycle graphs ...).
    pub out_dir: Option<std::path::PathBuf>,
    /// Show progress on stderr for long checks.
    pub progress: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            initial: None,
            consistency_models: Vec::new(),
            deadline: Deadline::none(),
            memory_limit: None,
            group_size: None,
            total_amount: None,
            allow_negative_balances: false,
            linearizable: false,
            out_dir: None,
            progress: false,
        }
    }
}

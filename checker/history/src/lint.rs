//! Lint: what makes a history suspect without making it invalid.
//!
//! Many "checker bugs" reported against Jepsen and Knossos were histories that lied: a timeout
//! recorded as `fail`, a written value reused, a process that kept going after an `info`. A
//! checker must trust the history, so labrys says out loud what looks wrong before anyone reads
//! the verdict. Each warning carries the one sentence of semantics that explains why it matters.

use crate::history::History;
use crate::op::OpType;
use crate::value::Value;
use crate::verdict::Warning;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

const FAIL_MEANS: &str = "`fail` means the operation certainly did not happen; if it may have (a timeout, a lost connection), record `info` instead";
const INFO_MEANS: &str = "`info` means the outcome is unknown and the op may take effect at any later time, so Jepsen gives the client a new process id instead of reusing this one";
const UNIQUE_MEANS: &str = "this workload infers which write a read saw from the value alone, so every written value must be unique (per key)";

/// Lints a paired history for `workload`.
pub fn lint(h: &History, workload: &str) -> Vec<Warning> {
    let mut out = lint_but_duplicate_writes(h, workload);
    if writes_unique(workload) {
        duplicate_writes(h, workload, &mut out);
    }
    out
}

/// Whether `workload` infers which write a read saw from the value alone, so that lint looks
/// for values written twice.
pub fn writes_unique(workload: &str) -> bool {
    matches!(
        workload,
        "list-append"
            | "rw-register"
            | "set"
            | "set-full"
            | "fifo-queue"
            | "unordered-queue"
            | "total-queue"
    )
}

/// Every lint but the duplicate-writes one, for a caller that finds duplicate writes in its
/// own form of the values (`labrys-txn`'s compact reading, whose ops hold no values) and words
/// them with [`duplicate_writes_warning`]; [`lint`] is this plus that.
pub fn lint_but_duplicate_writes(h: &History, _workload: &str) -> Vec<Warning> {
    let mut out = Vec::new();
    no_client_ops(h, &mut out);
    inferred_processes(h, &mut out);
    failed_write_read(h, &mut out);
    op_after_info(h, &mut out);
    time_backwards(h, &mut out);
    non_client(h, &mut out);
    failed_faults(h, &mut out);
    out
}

/// For a write-like op, the (key, value) it would make visible: `[k v]` tuples are independent
/// keys; a cas writes its new value.
fn written<'v>(f: &str, v: &'v Value) -> Option<(Option<&'v Value>, &'v Value)> {
    let single = |v: &'v Value| match f {
        "write" | "add" | "enqueue" | "put" => Some(v),
        "cas" => v.as_seq().filter(|s| s.len() == 2).map(|s| &s[1]),
        _ => None,
    };
    match v.as_seq() {
        Some([k, inner]) if matches!(inner, Value::List(_)) || f != "cas" => {
            if f == "cas" {
                single(inner).map(|w| (Some(k), w))
            } else if matches!(f, "write" | "put") {
                Some((Some(k), inner))
            } else {
                single(v).map(|w| (None, w))
            }
        }
        _ => single(v).map(|w| (None, w)),
    }
}

fn read_result(v: &Value) -> Vec<(Option<&Value>, &Value)> {
    match v.as_seq() {
        Some([k, inner]) if !matches!(k, Value::List(_)) => {
            vec![(Some(k), inner), (None, v)]
        }
        Some(items) => {
            let mut out = vec![(None, v)];
            out.extend(items.iter().map(|x| (None, x)));
            out
        }
        None => vec![(None, v)],
    }
}

/// A read that returns a value only a `fail`ed write ever wrote. Values written more than once
/// are skipped: the read may have seen the other write.
fn failed_write_read(h: &History, out: &mut Vec<Warning>) {
    // The failed writes first (few), then how often each of their values was written: a
    // table of every write would cost more than the rest of a small history's check.
    let mut failed: HashMap<(Option<&Value>, &Value), (u32, u32)> = HashMap::default();
    for c in h.calls().filter(|c| c.outcome() == OpType::Fail) {
        if let Some(w) = written(c.f(), &c.invoke.value).filter(|w| !w.1.is_nil()) {
            failed.entry(w).or_insert((c.invoke.line, 0));
        }
    }
    if failed.is_empty() {
        return;
    }
    // Only values written once matter: once every failed value has a second writer (soon, in
    // a history whose values repeat) nothing is left to find.
    let mut single = failed.len();
    for c in h.calls() {
        if let Some(w) = written(c.f(), &c.invoke.value) {
            if let Some((_, writers)) = failed.get_mut(&w) {
                *writers += 1;
                if *writers == 2 {
                    single -= 1;
                    if single == 0 {
                        return;
                    }
                }
            }
        }
    }
    failed.retain(|_, &mut (_, writers)| writers == 1);
    if failed.is_empty() {
        return;
    }
    let mut n = 0;
    let mut first = None;
    for c in h.calls() {
        if c.outcome() != OpType::Ok || !matches!(c.f(), "read" | "get") {
            continue;
        }
        for kv in read_result(c.value()) {
            if let Some(&(wline, _)) = failed.get(&kv) {
                n += 1;
                first.get_or_insert((
                    c.completion.map(|o| o.line).unwrap_or(0),
                    wline,
                    kv.1.clone(),
                ));
            }
        }
    }
    if let Some((rline, wline, v)) = first {
        out.push(Warning {
            kind: "fail-then-read".into(),
            line: rline,
            message: format!(
                "a read (line {rline}) returned {v}, which only a write that completed as `fail` (line {wline}) wrote; \
                 {n} such read(s) in all. {FAIL_MEANS}. Unless values are reused, the history mislabels that write."
            ),
        });
    }
}

/// The message of the `no-client-ops` warning: what a verdict on such a history means.
pub const NO_CLIENT_OPS: &str =
    "no client operations to check: the verdict is valid only vacuously";

/// A history without a single client operation: nothing was checked.
fn no_client_ops(h: &History, out: &mut Vec<Warning>) {
    if !h.pairs.is_empty() {
        return;
    }
    let what = if h.ops.is_empty() {
        "the history has no records".to_string()
    } else {
        format!(
            "all {} record(s) are of non-client processes (the nemesis ...)",
            h.ops.len()
        )
    };
    out.push(Warning {
        kind: "no-client-ops".into(),
        line: h.ops.first().map(|o| o.line).unwrap_or(0),
        message: format!("{NO_CLIENT_OPS}; {what}. A test that recorded nothing proves nothing."),
    });
}

/// No record named a process, so the reader paired each completion with the oldest pending
/// invoke: pairing and process order are assumptions.
fn inferred_processes(h: &History, out: &mut Vec<Warning>) {
    if !h.processes_inferred {
        return;
    }
    out.push(Warning {
        kind: "inferred-processes".into(),
        line: h.ops.first().map(|o| o.line).unwrap_or(0),
        message: "no record names a process, so each completion was paired with the oldest \
                  invoke still pending and every operation given a process of its own (Elle's \
                  convention for hand-written histories). If operations overlapped, that pairing \
                  is a guess: record `process` on every op."
            .into(),
    });
}

fn op_after_info(h: &History, out: &mut Vec<Warning>) {
    let mut crashed: HashMap<i64, u32> = HashMap::default();
    let mut n = 0;
    let mut first = None;
    for c in h.calls() {
        let p = c.process();
        if let Some(&info_line) = crashed.get(&p) {
            n += 1;
            first.get_or_insert((c.invoke.line, info_line, p));
        }
        if c.outcome() == OpType::Info {
            if let Some(done) = c.completion {
                crashed.insert(p, done.line);
            }
        }
    }
    if let Some((line, info_line, p)) = first {
        out.push(Warning {
            kind: "op-after-info".into(),
            line,
            message: format!(
                "process {p} invokes again (line {line}) after an op that ended in `info` (line {info_line}); \
                 {n} such invocation(s) in all. {INFO_MEANS}."
            ),
        });
    }
}

fn time_backwards(h: &History, out: &mut Vec<Warning>) {
    let mut last: Option<(i64, u32)> = None;
    let mut n = 0;
    let mut first = None;
    for op in &h.ops {
        let Some(t) = op.time else { continue };
        if let Some((lt, ll)) = last {
            if t < lt {
                n += 1;
                first.get_or_insert((op.line, ll, lt - t));
            }
        }
        if last.is_none_or(|(lt, _)| t >= lt) {
            last = Some((t, op.line));
        }
    }
    if let Some((line, prev, by)) = first {
        out.push(Warning {
            kind: "time-backwards".into(),
            line,
            message: format!(
                "`time` goes backwards at line {line} by {by} ns (after line {prev}); {n} such record(s). \
                 Checkers order ops by their position in the history, not by `time`, so real-time order is \
                 what the file order says: make sure the file order is the order events happened."
            ),
        });
    }
}

/// Nemesis completions that carry an `error`: the fault was asked for but not (fully) applied,
/// so the history was recorded under fewer faults than the test claims.
fn failed_faults(h: &History, out: &mut Vec<Warning>) {
    let nemesis = crate::op::Process::Named("nemesis".into());
    let failed: Vec<&crate::op::Op> = h
        .ops
        .iter()
        .filter(|o| o.process == nemesis && o.kind != OpType::Invoke)
        .filter(|o| o.field("error").is_some_and(|e| !e.is_nil()))
        .collect();
    let Some(first) = failed.first() else { return };
    let err = first
        .field("error")
        .map(|e| e.to_string())
        .unwrap_or_default();
    out.push(Warning {
        kind: "fault-failed".into(),
        line: first.line,
        message: format!(
            "{} fault operation(s) of the nemesis failed to apply; the first, {} at line {}, \
             failed with {err}. The system was tested under fewer faults than requested, so a \
             valid verdict says less than it seems.",
            failed.len(),
            first.f,
            first.line
        ),
    });
}

/// Non-client records other than the nemesis's: a Jepsen history always has nemesis ops, but a
/// process named anything else is usually a client whose id was written as a name.
fn non_client(h: &History, out: &mut Vec<Warning>) {
    let nemesis = crate::op::Process::Named("nemesis".into());
    let odd: Vec<&crate::op::Op> = h
        .non_client_ops()
        .filter(|o| o.process != nemesis)
        .collect();
    let Some(first) = odd.first() else { return };
    let mut names: Vec<String> = odd
        .iter()
        .map(|o| o.process.to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    names.sort();
    out.push(Warning {
        kind: "non-client-ops".into(),
        line: first.line,
        message: format!(
            "{} record(s) of processes other than clients and the nemesis ({}) are kept in the \
             history but not checked: only integer processes are clients whose operations a \
             consistency model constrains.",
            odd.len(),
            names.join(", ")
        ),
    });
}

fn duplicate_writes(h: &History, workload: &str, out: &mut Vec<Warning>) {
    let mut seen: HashMap<(Option<Value>, Value), u32> = HashMap::default();
    let mut n = 0;
    let mut first = None;
    let mut note = |key: Option<Value>, v: Value, line: u32| {
        if let Some(&prev) = seen.get(&(key.clone(), v.clone())) {
            n += 1;
            first.get_or_insert((line, prev, key, v));
        } else {
            seen.insert((key, v), line);
        }
    };
    for c in h.calls() {
        match workload {
            "list-append" | "rw-register" => {
                for mop in c.invoke.value.as_seq().unwrap_or(&[]) {
                    if let Some([tag, k, v]) = mop.as_seq() {
                        if matches!(tag.as_name(), Some("append" | "w")) {
                            note(Some(k.clone()), v.clone(), c.invoke.line);
                        }
                    }
                }
            }
            _ => {
                if matches!(c.f(), "add" | "enqueue") {
                    note(None, c.invoke.value.clone(), c.invoke.line);
                }
            }
        }
    }
    if let Some((line, prev, key, v)) = first {
        out.push(duplicate_writes_warning(n, line, prev, key.as_ref(), &v));
    }
}

/// The `duplicate-writes` warning: `n` repeated writes, the first of value `v` (to `key`) at
/// `line`, written already at `prev`.
pub fn duplicate_writes_warning(
    n: usize,
    line: u32,
    prev: u32,
    key: Option<&Value>,
    v: &Value,
) -> Warning {
    let on = key.map(|k| format!(" to key {k}")).unwrap_or_default();
    Warning {
        kind: "duplicate-writes".into(),
        line,
        message: format!(
            "value {v} is written{on} at line {line} and already at line {prev}; {n} repeated write(s) in all. {UNIQUE_MEANS}."
        ),
    }
}

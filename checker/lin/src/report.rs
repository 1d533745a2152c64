//! From a search [`Outcome`] to a `CheckResult` a newcomer can read.
//!
//! A violation is reported under anomaly type `linearizability` with a multi-line plain-words
//! explanation and the same facts as structured detail: the window of ops between two
//! quiescent points that cannot be linearized, the states the ops before it can leave, how far
//! the search got inside it (ops placed, states then), the op no order can place and the ops
//! concurrent with it. The result rules out `linearizable` and `strict-serializable` (which
//! implies linearizability for single-object ops); weaker models are not judged here.

use crate::check::{Counterexample, Outcome, Verdict};
use crate::model::{LinOp, Model};
use labrys_history::{Anomaly, CheckResult, History, Validity};
use serde_json::{json, Value as Json};

/// Models a linearizability violation rules out.
pub const RULED_OUT: [&str; 2] = ["linearizable", "strict-serializable"];

/// Anomaly type of a violation.
pub const ANOMALY: &str = "linearizability";

/// How to show one op: its words and its place in the file.
pub(crate) struct OpView {
    pub text: String,
    pub json: Json,
    pub first_line: u64,
    pub last_line: u64,
}

pub(crate) fn view<M: Model>(model: &M, ops: &[LinOp<M::Op>], h: &History, i: usize) -> OpView {
    let o = &ops[i];
    let call = h.call(h.pairs[o.call]);
    let at = |op: &labrys_history::Op| {
        if op.line > 0 {
            op.line as u64
        } else {
            op.index
        }
    };
    let inv = at(call.invoke);
    let words = model.describe_op(&o.op);
    let (end_text, end) = match call.completion {
        Some(c) if o.complete.is_some() => (format!("ok at {}", at(c)), Some(at(c))),
        Some(c) => (
            format!("{} at {}: may or may not have happened", c.kind, at(c)),
            Some(at(c)),
        ),
        None => ("never completed: may or may not have happened".into(), None),
    };
    let unit = if call.invoke.line > 0 {
        "line"
    } else {
        "index"
    };
    OpView {
        text: format!(
            "process {} `{words}` (invoked at {unit} {inv}, {end_text})",
            call.invoke.process
        ),
        json: json!({
            "process": call.invoke.process.to_string(),
            "f": call.f(),
            "op": words,
            "type": call.outcome().as_str(),
            "invoke_line": call.invoke.line,
            "complete_line": call.completion.map(|c| c.line),
            "invoke_index": call.invoke.index,
        }),
        first_line: inv,
        last_line: end.unwrap_or(inv),
    }
}

/// Replaces each `⟨i⟩` in a fast check's explanation with op `i` in words, with its lines.
fn with_ops<M: Model>(text: &str, model: &M, ops: &[LinOp<M::Op>], h: &History) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('⟨') {
        out.push_str(&rest[..at]);
        let after = &rest[at + '⟨'.len_utf8()..];
        let end = after.find('⟩');
        match end.and_then(|e| after[..e].parse::<usize>().ok().map(|i| (e, i))) {
            Some((e, i)) if i < ops.len() => {
                let v = view(model, ops, h, i);
                let call = h.call(h.pairs[ops[i].call]);
                let lines = if v.last_line != v.first_line {
                    format!("{}–{}", v.first_line, v.last_line)
                } else {
                    v.first_line.to_string()
                };
                let unit = if call.invoke.line > 0 {
                    "lines"
                } else {
                    "indices"
                };
                out.push_str(&format!(
                    "process {} `{}` ({unit} {lines})",
                    call.invoke.process,
                    model.describe_op(&ops[i].op)
                ));
                rest = &after[e + '⟩'.len_utf8()..];
            }
            _ => {
                out.push('⟨');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn either(states: &[String]) -> String {
    match states.len() {
        0 => "(none)".into(),
        1 => states[0].clone(),
        _ => format!("any of {}", states.join(", ")),
    }
}

/// The counterexample as an anomaly. `key` names the key for kv histories.
pub(crate) fn anomaly<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    h: &History,
    c: &Counterexample,
    key: Option<&str>,
) -> Anomaly {
    let views: Vec<OpView> = c.window.iter().map(|&i| view(model, ops, h, i)).collect();
    let ops_count = |n: usize| match n {
        1 => "1 operation".to_string(),
        n => format!("{n} operations"),
    };
    let first = views.iter().map(|v| v.first_line).min().unwrap_or(0);
    let last = views.iter().map(|v| v.last_line).max().unwrap_or(0);
    let mut text = String::new();
    let whose = key.map(|k| format!(" on key {k}")).unwrap_or_default();
    text.push_str(&format!("The operations{whose} cannot be linearized.\n"));
    if c.subset {
        if let Some(why) = &c.why {
            text.push_str(&format!("- Why: {}\n", with_ops(why, model, ops, h)));
        }
        let (these, admit, one) = match c.window.len() {
            1 => ("This operation alone".to_string(), "admits", "it"),
            n => (
                format!("These {n} operations alone"),
                "admit",
                "one of them",
            ),
        };
        let start = match c.from {
            Some(f) => format!(
                "starting from state {}, the state the history before line {} leaves it in \
                 (everything before that line is consistent)",
                either(&c.states_before),
                view(model, ops, h, f).first_line
            ),
            None => format!(
                "starting from the initial state {}",
                either(&c.states_before)
            ),
        };
        text.push_str(&format!(
            "- {these}, {start}, {admit} no order that respects real time and the object's \
             rules. Every operation that could have given {one} what it observed is here too, \
             so no order of the whole history exists either:\n"
        ));
        for (&i, v) in c.window.iter().zip(&views).take(16) {
            match c.read_as.iter().find(|(j, _)| *j == i) {
                Some((_, words)) => text.push_str(&format!(
                    "    {}\n      taken here as `{words}`: only the values these operations \
                     are about count\n",
                    v.text
                )),
                None => text.push_str(&format!("    {}\n", v.text)),
            }
        }
        if views.len() > 16 {
            text.push_str(&format!("    ... and {} more\n", views.len() - 16));
        }
        text.push_str(&format!(
            "- The furthest any order of them gets: {} placed.\n",
            ops_count(c.placed.len()),
        ));
    } else {
        text.push_str(&format!(
            "- Before line {first}, everything is consistent: the object can be in state {}.\n",
            either(&c.states_before)
        ));
        text.push_str(&match c.window.len() {
            1 => format!(
                "- The operation at lines {first}–{last} cannot take effect from any of those \
                 states.\n"
            ),
            n => format!(
                "- The {n} operations between lines {first} and {last} cannot all be given a \
                 single order that respects real time and the object's rules, from any of \
                 those states.\n"
            ),
        });
        text.push_str(&format!(
            "- The furthest any order gets: {} that returned ok placed since the start of the \
             history, {} placed in this window.\n",
            ops_count(c.prefix_ok),
            ops_count(c.placed.len()),
        ));
    }
    if !c.tail.is_empty() {
        text.push_str("  The last of them, in the order placed:\n");
        for &i in &c.tail {
            text.push_str(&format!("    {}\n", view(model, ops, h, i).text));
        }
    }
    text.push_str(&format!(
        "  The object is then in state {}.\n",
        either(&c.states)
    ));
    let stuck = c.stuck.map(|s| view(model, ops, h, s));
    if let Some(s) = &stuck {
        text.push_str(&format!(
            "- Then no order can place {}: it must take effect before it returns, and from no \
             reachable state is that possible.\n",
            s.text
        ));
    }
    // What the stuck op needs, and which ops could have provided it (models with tokens,
    // like registers: the writes of the value a read returned).
    let need = c
        .stuck
        .and_then(|s| model.observes(&ops[s].op).map(|t| (s, t)));
    if let Some((s, t)) = need {
        let end = |i: usize| ops[i].complete.unwrap_or(usize::MAX);
        let mut sources: Vec<usize> = (0..ops.len())
            .filter(|&i| i != s && ops[i].invoke < end(s))
            .filter(|&i| model.produces(&ops[i].op) == Some(t))
            .collect();
        sources.sort_unstable_by_key(|&i| std::cmp::Reverse(ops[i].invoke));
        sources.truncate(3);
        if sources.is_empty() {
            text.push_str(
                "- No operation invoked before it returned could leave the state it needs.\n",
            );
        } else {
            text.push_str(
                "- The operations invoked before it returned that could leave the state it \
                 needs (latest first):\n",
            );
        }
        for &w in &sources {
            text.push_str(&format!("    {}\n", view(model, ops, h, w).text));
            // An ok op leaving another state, certainly between the source and the stuck
            // op (began after the one returned, returned before the other began), is in
            // every order between them: the source's value cannot last until the stuck
            // op. Prefer one of the ops shown above.
            let between = |x: &usize| {
                let x = *x;
                ops[x].complete.is_some()
                    && model.produces(&ops[x].op).is_some_and(|u| u != t)
                    && ops[x].invoke > end(w)
                    && end(x) < ops[s].invoke
            };
            let over = c
                .window
                .iter()
                .copied()
                .find(between)
                .or_else(|| (0..ops.len()).find(between));
            if let Some(x) = over {
                text.push_str(&format!(
                    "      overwritten: {} began after it returned and returned before the \
                     stuck operation began, so it comes between them in every order that \
                     respects real time\n",
                    view(model, ops, h, x).text
                ));
            }
        }
    }
    let concurrent: Vec<OpView> = c
        .concurrent
        .iter()
        .map(|&i| view(model, ops, h, i))
        .collect();
    if !concurrent.is_empty() {
        text.push_str("- Operations concurrent with it, also not placed:\n");
        for v in concurrent.iter().take(12) {
            text.push_str(&format!("    {}\n", v.text));
        }
        if concurrent.len() > 12 {
            text.push_str(&format!("    ... and {} more\n", concurrent.len() - 12));
        }
    }
    let placed: Vec<Json> = c
        .placed
        .iter()
        .map(|&i| view(model, ops, h, i).json)
        .collect();
    let mut a = Anomaly::new(text.trim_end())
        .with("window_lines", json!([first, last]))
        .with(
            "window",
            views.iter().map(|v| v.json.clone()).collect::<Vec<_>>(),
        )
        .with("window_is_subset", c.subset)
        .with("states_before", json!(c.states_before))
        .with("prefix_ok_ops", c.prefix_ok)
        .with("placed", placed)
        .with("states", json!(c.states))
        .with(
            "last_placed",
            c.tail
                .iter()
                .map(|&i| view(model, ops, h, i).json)
                .collect::<Vec<_>>(),
        )
        .with("stuck", stuck.map(|s| s.json).unwrap_or(Json::Null))
        .with(
            "concurrent",
            concurrent.into_iter().map(|v| v.json).collect::<Vec<_>>(),
        );
    if let Some(why) = &c.why {
        a = a.with("why", with_ops(why, model, ops, h));
    }
    if let Some(f) = c.from {
        // The line where `states_before` hold (subsets of a later window only).
        a = a.with("states_before_line", view(model, ops, h, f).first_line);
    }
    if let Some(k) = key {
        a = a.with("key", k);
    }
    a
}

/// One outcome as a result (single-object workloads).
pub fn to_result<M: Model>(
    model: &M,
    ops: &[LinOp<M::Op>],
    h: &History,
    o: &Outcome,
) -> CheckResult {
    let mut r = match &o.verdict {
        Verdict::Linearizable => CheckResult::valid(),
        Verdict::Unknown(reason) => CheckResult::unknown(reason.clone()),
        Verdict::NotLinearizable => CheckResult::valid(),
    };
    if let (Verdict::NotLinearizable, Some(c)) = (&o.verdict, &o.counterexample) {
        r.add_anomaly(ANOMALY, anomaly(model, ops, h, c, None));
        r.rule_out(RULED_OUT);
    }
    if let (Verdict::Unknown(_), Some(c)) = (&o.verdict, &o.counterexample) {
        r.stat("longest_linearizable_prefix_ok_ops", c.prefix_ok);
        r.stat("stopped_in_window_lines", {
            let ls: Vec<u64> = c
                .window
                .iter()
                .map(|&i| view(model, ops, h, i).first_line)
                .collect();
            json!([ls.iter().min(), ls.iter().max()])
        });
    }
    add_stats(&mut r, o);
    r
}

pub(crate) fn add_stats(r: &mut CheckResult, o: &Outcome) {
    r.stat(
        "linearizability",
        json!({
            "ops_searched": o.ops,
            "segments": o.segments,
            "largest_segment": o.largest_segment,
            "info_ops_pruned": o.pruned_info,
            "steps": o.steps,
            "decided_by": o.method,
        }),
    );
    debug_assert!(r.valid != Validity::Invalid || !r.anomalies.is_empty());
}

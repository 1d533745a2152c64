//! Words for cycles: each edge with the reason it exists, so a person can check an anomaly by
//! hand from the text alone ("T1 appended 3 right after T2's 2 to key 7, so T2 <ww T1").

use crate::cycles::{Cycle, Step};
use crate::graph::{Graph, NONE, PROCESS, REALTIME, RW, WR, WW};
use crate::txn::{Kind, Txns};
use labrys_history::{Anomaly, History};

/// Short name of an edge kind, as in `T1 <ww T2`.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        REALTIME => "realtime",
        _ => "?",
    }
}

fn val(t: &Txns, v: u32) -> String {
    if v == NONE {
        "nothing".into()
    } else {
        t.val(v).to_string()
    }
}

/// A data step's values in a few characters, for a drawing's edge label: `ww` the version
/// written then the next (`?` when no read saw the next yet), `wr` the value read, `rw` the
/// version read (`∅`: the initial one) then the version that overwrote it.
fn step_values(t: &Txns, kind: u8, a: u32, b: u32) -> String {
    let v = |x: u32, none: &str| {
        if x == NONE {
            none.to_string()
        } else {
            t.val(x).to_string()
        }
    };
    match kind {
        WR => v(a, "∅"),
        WW => format!("{} → {}", v(a, "∅"), v(b, "?")),
        _ => format!("{} → {}", v(a, "∅"), v(b, "?")),
    }
}

/// Why `from` precedes `to`, in one sentence.
pub fn explain_step(h: &History, t: &Txns, g: &Graph, kind: Kind, s: &Step) -> String {
    let (a, b) = (s.from, s.to);
    let verb = match kind {
        Kind::ListAppend => "appended",
        Kind::RwRegister => "wrote",
    };
    if s.why != NONE {
        let d = g.deps[s.why as usize];
        let k = t.key(d.key);
        return match d.kind {
            WW if d.b == NONE => format!(
                "T{a} {verb} {} to key {k}, the last element any read saw, and T{b} {verb} to key \
                 {k} too, which no read saw yet: it must come later, so T{a} <ww T{b}",
                val(t, d.a)
            ),
            WW => match kind {
                Kind::ListAppend => format!(
                    "T{a} {verb} {} to key {k} and T{b} {verb} {} right after it, so T{a} <ww T{b}",
                    val(t, d.a),
                    val(t, d.b)
                ),
                Kind::RwRegister => format!(
                    "T{b} read key {k} = {} (written by T{a}) and then wrote {}, so T{a} <ww T{b}",
                    val(t, d.a),
                    val(t, d.b)
                ),
            },
            WR => match kind {
                Kind::ListAppend => format!(
                    "T{b} read key {k} ending in {}, which T{a} {verb}, so T{a} <wr T{b}",
                    val(t, d.a)
                ),
                Kind::RwRegister => format!(
                    "T{b} read key {k} = {}, which T{a} {verb}, so T{a} <wr T{b}",
                    val(t, d.a)
                ),
            },
            _ => {
                let seen = if d.a == NONE {
                    match kind {
                        Kind::ListAppend => format!("read key {k} as empty"),
                        Kind::RwRegister => format!("read key {k} in its initial state (nil)"),
                    }
                } else {
                    match kind {
                        Kind::ListAppend => format!("read key {k} ending in {}", val(t, d.a)),
                        Kind::RwRegister => format!("read key {k} = {}", val(t, d.a)),
                    }
                };
                if d.b == NONE {
                    format!(
                        "T{a} {seen}, but T{b} {verb} to key {k}, which must come later, so T{a} \
                         <rw T{b}"
                    )
                } else {
                    format!(
                        "T{a} {seen}, but T{b} {verb} {}, a later version of key {k}, so T{a} <rw T{b}",
                        val(t, d.b)
                    )
                }
            }
        };
    }
    let (ta, tb) = (&t.txns[a as usize], &t.txns[b as usize]);
    let at = |pos: usize| {
        h.ops.get(pos).map(|o| {
            if o.line > 0 {
                format!("line {}", o.line)
            } else {
                format!("op {}", o.index)
            }
        })
    };
    match s.kind {
        PROCESS => format!(
            "T{a} and T{b} ran one after the other on process {}, so T{a} <process T{b}",
            ta.process
        ),
        _ => format!(
            "T{a} completed ({}) before T{b} was invoked ({}), so T{a} <realtime T{b}",
            at(ta.complete_pos).unwrap_or_default(),
            at(tb.invoke_pos).unwrap_or_default()
        ),
    }
}

/// The anomaly record of a cycle: a text that lists the transactions and every edge, plus
/// structured `cycle` and `steps` fields.
pub fn cycle_anomaly(h: &History, t: &Txns, g: &Graph, kind: Kind, c: &Cycle) -> Anomaly {
    let mut text = format!("{} cycle over {} transactions:\n", c.anomaly, c.steps.len());
    for s in &c.steps {
        text.push_str(&format!("  {}\n", t.describe(h, s.from)));
    }
    text.push_str("because:\n");
    let mut steps = Vec::new();
    for s in &c.steps {
        let why = explain_step(h, t, g, kind, s);
        text.push_str(&format!("  - {why}\n"));
        let mut j = serde_json::Map::new();
        j.insert("from".into(), s.from.into());
        j.insert("to".into(), s.to.into());
        j.insert("type".into(), kind_name(s.kind).into());
        j.insert("explanation".into(), why.into());
        if s.why != NONE {
            let d = g.deps[s.why as usize];
            j.insert("key".into(), t.key(d.key).to_string().into());
            j.insert("values".into(), step_values(t, d.kind, d.a, d.b).into());
        }
        steps.push(serde_json::Value::Object(j));
    }
    let order: Vec<String> = c.steps.iter().map(|s| format!("T{}", s.from)).collect();
    text.push_str(&format!(
        "so {} < T{}: a transaction precedes itself, a contradiction.",
        order.join(" < "),
        c.steps[0].from
    ));
    let lines: Vec<u32> = c
        .steps
        .iter()
        .map(|s| t.txns[s.from as usize].line)
        .collect();
    Anomaly::new(text)
        .with("cycle", c.steps.iter().map(|s| s.from).collect::<Vec<_>>())
        .with("lines", lines)
        .with("steps", steps)
}

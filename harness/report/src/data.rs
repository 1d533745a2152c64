//! What the drawings need from a history, read once: every client call as a row (lane,
//! `f`, start, end, outcome, value in words) and the nemesis windows.
//!
//! Time is the history's own `time` field (nanoseconds since the test began) when every
//! record has one. Histories without it (Porcupine's logs, hand-written Elle files) still get
//! a timeline, drawn against line numbers: real-time order is all a checker reads from a
//! history anyway, and the line numbers are what its explanations name. Latency and
//! throughput plots need real time and are left out for those, with a sentence saying why.

use labrys_history::{History, Op, OpType};
use std::collections::BTreeMap;

/// Longest value text a row keeps for hover text; list-append reads can be kilobytes.
pub const VALUE_CHARS: usize = 80;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// The x axis every drawing of one history shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Seconds since the test began.
    Seconds,
    /// Record positions (0-based), for histories without times.
    Position,
}

impl Axis {
    pub fn label(self) -> &'static str {
        match self {
            Axis::Seconds => "time (s)",
            Axis::Position => "line in the history file",
        }
    }
}

/// One client call.
#[derive(Clone, Debug)]
pub struct Row {
    pub process: i64,
    pub lane: u32,
    pub f: u16,
    pub start: f64,
    /// `None` when the history ended before a completion.
    pub end: Option<f64>,
    pub outcome: Outcome,
    pub value: String,
    /// Line of the invocation in the file (0 when not read from a file).
    pub line: u32,
}

impl Row {
    /// Latency in milliseconds, when the axis is time and the call completed.
    pub fn latency_ms(&self, axis: Axis) -> Option<f64> {
        match (axis, self.end) {
            (Axis::Seconds, Some(e)) => Some(((e - self.start) * 1e3).max(0.0)),
            _ => None,
        }
    }
}

/// A fault, from its start to its stop (or the end of the history).
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub fault: String,
    pub start: f64,
    pub end: f64,
    /// What the nemesis said it did when the fault began (the partition's grudge, the nodes
    /// killed), from the start's last record.
    pub detail: String,
}

pub struct Data {
    pub axis: Axis,
    pub rows: Vec<Row>,
    pub fs: Vec<String>,
    /// Per lane, the processes that ran on it, in order.
    pub lanes: Vec<Vec<i64>>,
    pub windows: Vec<Window>,
    /// The last instant (or position) in the history.
    pub end: f64,
}

impl Data {
    pub fn from_history(h: &History) -> Data {
        let axis = if !h.ops.is_empty() && h.ops.iter().all(|o| o.time.is_some()) {
            Axis::Seconds
        } else {
            Axis::Position
        };
        let at = |pos: usize, op: &Op| match axis {
            Axis::Seconds => op.time.unwrap_or(0) as f64 / 1e9,
            Axis::Position => position(pos, op),
        };
        let end = h
            .ops
            .iter()
            .enumerate()
            .map(|(i, o)| at(i, o))
            .fold(0.0, f64::max);
        let mut fs: Vec<String> = Vec::new();
        let mut f_index: BTreeMap<&str, u16> = BTreeMap::new();
        let mut rows = Vec::with_capacity(h.pairs.len());
        for call in h.calls() {
            let f = *f_index.entry(call.f()).or_insert_with(|| {
                fs.push(call.f().to_string());
                (fs.len() - 1).min(u16::MAX as usize) as u16
            });
            let outcome = match call.outcome() {
                OpType::Ok => Outcome::Ok,
                OpType::Fail => Outcome::Fail,
                _ => Outcome::Info,
            };
            let mut value = call.value().to_string();
            if value.chars().count() > VALUE_CHARS {
                value = value.chars().take(VALUE_CHARS - 1).collect::<String>() + "…";
            }
            rows.push(Row {
                process: call.process(),
                lane: 0,
                f,
                start: at(call.invoke_pos, call.invoke),
                end: call.completion.map(|c| at(call.complete_pos, c)),
                outcome,
                value,
                line: call.invoke.line,
            });
        }
        let lanes = assign_lanes(&mut rows, end);
        Data {
            axis,
            windows: windows(h, axis, end),
            rows,
            fs,
            lanes,
            end,
        }
    }

    pub fn has_time(&self) -> bool {
        self.axis == Axis::Seconds && !self.rows.is_empty()
    }
}

/// Where a record sits without time: its line in the file (what explanations name), else its
/// position in the history.
fn position(pos: usize, op: &Op) -> f64 {
    if op.line > 0 {
        op.line as f64
    } else {
        pos as f64
    }
}

/// Lanes for the timeline: a process keeps its lane for its whole life, and a lane is reused
/// by a process that begins after the lane's last process ended (Jepsen replaces a process
/// after an `info`, so a 10-thread test has hundreds of processes but 10 busy lanes).
fn assign_lanes(rows: &mut [Row], end: f64) -> Vec<Vec<i64>> {
    // Each process's first start and last end.
    let mut span: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for r in rows.iter() {
        let e = r.end.unwrap_or(end);
        let s = span.entry(r.process).or_insert((r.start, e));
        s.0 = s.0.min(r.start);
        s.1 = s.1.max(e);
    }
    let mut order: Vec<(i64, f64, f64)> = span.iter().map(|(p, (s, e))| (*p, *s, *e)).collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut lanes: Vec<Vec<i64>> = Vec::new();
    let mut lane_end: Vec<f64> = Vec::new();
    let mut lane_of: BTreeMap<i64, u32> = BTreeMap::new();
    for (p, s, e) in order {
        let free = lane_end.iter().position(|le| *le < s);
        let lane = match free {
            Some(l) => l,
            None => {
                lanes.push(Vec::new());
                lane_end.push(f64::NEG_INFINITY);
                lanes.len() - 1
            }
        };
        lanes[lane].push(p);
        lane_end[lane] = e;
        lane_of.insert(p, lane as u32);
    }
    for r in rows.iter_mut() {
        r.lane = lane_of[&r.process];
    }
    lanes
}

/// Fault windows from the nemesis's records: labrys and Jepsen name them `start-X`/`stop-X`
/// (a window named X), older Jepsen tests `start`/`stop` (one unnamed window); `heal` ends
/// them all. A start while the window is open and a stop's completion after its invocation
/// extend what is already there.
fn windows(h: &History, axis: Axis, end: f64) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    let mut open: BTreeMap<String, (f64, String)> = BTreeMap::new();
    let mut closed: BTreeMap<String, usize> = BTreeMap::new();
    for (pos, op) in h.ops.iter().enumerate() {
        if op.is_client() {
            continue;
        }
        let t = match axis {
            Axis::Seconds => op.time.unwrap_or(0) as f64 / 1e9,
            Axis::Position => position(pos, op),
        };
        let f: &str = &op.f;
        let (start, name) = if let Some(x) = f.strip_prefix("start-") {
            (true, x)
        } else if let Some(x) = f.strip_prefix("stop-") {
            (false, x)
        } else if f == "kill" || f == "pause" {
            (true, f)
        } else if f == "start" && (open.contains_key("kill") || closed.contains_key("kill")) {
            // Jepsen's kill nemesis: `kill` then `start` brings the nodes back.
            (false, "kill")
        } else if f == "resume" {
            (false, "pause")
        } else if f == "start" {
            (true, "fault")
        } else if f == "stop" {
            (false, "fault")
        } else if f == "heal" {
            let names: Vec<String> = open.keys().cloned().collect();
            for n in names {
                let (s, detail) = open.remove(&n).unwrap_or((t, String::new()));
                out.push(Window {
                    fault: n,
                    start: s,
                    end: t,
                    detail,
                });
            }
            continue;
        } else {
            continue;
        };
        if start {
            let detail = if op.value.is_nil() {
                String::new()
            } else {
                let v = op.value.to_string();
                if v.chars().count() > 160 {
                    v.chars().take(159).collect::<String>() + "…"
                } else {
                    v
                }
            };
            match open.get_mut(name) {
                Some(w) => {
                    if !detail.is_empty() {
                        w.1 = detail;
                    }
                }
                None => {
                    open.insert(name.to_string(), (t, detail));
                    closed.remove(name);
                }
            }
        } else if let Some((s, detail)) = open.remove(name) {
            out.push(Window {
                fault: name.to_string(),
                start: s,
                end: t,
                detail,
            });
            closed.insert(name.to_string(), out.len() - 1);
        } else if let Some(&i) = closed.get(name) {
            out[i].end = out[i].end.max(t);
        }
    }
    for (n, (s, detail)) in open {
        out.push(Window {
            fault: n,
            start: s,
            end,
            detail,
        });
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start));
    out
}

/// The `q`-quantile (0..=1) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::{Op, Process, Value};

    fn op(i: u64, kind: OpType, p: i64, f: &str, t: i64) -> Op {
        let mut o = Op::new(i, kind, p, f, Value::Nil);
        o.time = Some(t * 1_000_000_000);
        o
    }
    fn nem(i: u64, kind: OpType, f: &str, t: i64) -> Op {
        let mut o = op(i, kind, 0, f, t);
        o.process = Process::Named("nemesis".into());
        o
    }

    #[test]
    fn windows_pair_start_and_stop_and_heal_closes_what_is_open() {
        let ops = vec![
            nem(0, OpType::Invoke, "start-partition", 1),
            nem(1, OpType::Info, "start-partition", 2),
            nem(2, OpType::Invoke, "start-kill", 3),
            nem(3, OpType::Invoke, "stop-partition", 5),
            nem(4, OpType::Info, "stop-partition", 6),
            nem(5, OpType::Invoke, "heal", 9),
        ];
        let h = History::from_ops(ops, "t").unwrap();
        let w = windows(&h, Axis::Seconds, 10.0);
        assert_eq!(
            w,
            vec![
                Window {
                    fault: "partition".into(),
                    start: 1.0,
                    end: 6.0,
                    detail: String::new(),
                },
                Window {
                    fault: "kill".into(),
                    start: 3.0,
                    end: 9.0,
                    detail: String::new(),
                },
            ]
        );
    }

    #[test]
    fn jepsen_kill_then_start_is_one_kill_window() {
        let ops = vec![
            nem(0, OpType::Info, "kill", 8),
            nem(1, OpType::Info, "kill", 8),
            nem(2, OpType::Info, "start", 11),
            nem(3, OpType::Info, "start", 12),
            nem(4, OpType::Info, "kill", 20),
            nem(5, OpType::Info, "start", 23),
        ];
        let h = History::from_ops(ops, "t").unwrap();
        let w: Vec<(String, f64, f64)> = windows(&h, Axis::Seconds, 30.0)
            .into_iter()
            .map(|w| (w.fault, w.start, w.end))
            .collect();
        assert_eq!(
            w,
            vec![
                ("kill".to_string(), 8.0, 12.0),
                ("kill".to_string(), 20.0, 23.0)
            ]
        );
    }

    #[test]
    fn lanes_reuse_a_lane_only_after_its_process_ended() {
        let ops = vec![
            op(0, OpType::Invoke, 0, "read", 0),
            op(1, OpType::Invoke, 1, "read", 0),
            op(2, OpType::Info, 0, "read", 1),
            op(3, OpType::Invoke, 10, "read", 2),
            op(4, OpType::Ok, 1, "read", 3),
            op(5, OpType::Ok, 10, "read", 4),
        ];
        let h = History::from_ops(ops, "t").unwrap();
        let d = Data::from_history(&h);
        assert_eq!(d.lanes, vec![vec![0, 10], vec![1]]);
        assert_eq!(d.axis, Axis::Seconds);
        let lat: Vec<Option<f64>> = d.rows.iter().map(|r| r.latency_ms(d.axis)).collect();
        assert_eq!(lat, vec![Some(1000.0), Some(3000.0), Some(2000.0)]);
    }
}

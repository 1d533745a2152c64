//! Drawings of one anomaly, from the checker's structured detail in `results.json`.
//!
//! - A linearizability counterexample, drawn as Porcupine draws one: the ops of the window
//!   that cannot be linearized as bars per process, from invocation to completion (in file
//!   lines, the unit the explanation names), the longest partial order the search found in
//!   green with its place in that order, the op no order can place in red.
//! - A transactional cycle as a graph: transactions on a circle, one arrow per dependency,
//!   labelled with its kind (`ww`, `wr`, `rw`, `rt` for real time, `process`) and the key it
//!   is about. A cycle is a ring, so a circle is its layout: no graph-layout engine needed.

use crate::plots::{FAIL, INFO, OK};
use crate::ReportError;
use labrys_history::History;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value as Json;

fn err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError::Draw(format!("{e:?}"))
}

fn at(op: &Json, key: &str) -> Option<f64> {
    op.get(key).and_then(Json::as_f64).filter(|v| *v > 0.0)
}

/// Where an op starts and ends, in lines (or record indexes when not read from a file).
fn extent(op: &Json) -> (f64, Option<f64>) {
    match at(op, "invoke_line") {
        Some(s) => (s, at(op, "complete_line")),
        None => {
            let s = op.get("invoke_index").and_then(Json::as_f64).unwrap_or(0.0);
            (s, None)
        }
    }
}

fn same(a: &Json, b: &Json) -> bool {
    a.get("invoke_index") == b.get("invoke_index") && a.get("process") == b.get("process")
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// Most ops of the history drawn around a counterexample's window, for context.
pub const CONTEXT_OPS: usize = 30;

/// Ops of the history that overlap the window (in the window's units) and are not in it:
/// what ran meanwhile, drawn faintly, as Porcupine shows a partition's other ops.
fn context(window: &[Json], h: &History, lo: f64, hi: f64) -> Vec<Json> {
    let by_line = window.iter().any(|o| at(o, "invoke_line").is_some());
    let inside: Vec<u64> = window
        .iter()
        .filter_map(|o| o.get("invoke_index").and_then(Json::as_u64))
        .collect();
    let mut out: Vec<(f64, Json)> = Vec::new();
    for c in h.calls() {
        if inside.contains(&c.invoke.index) {
            continue;
        }
        let (s, e) = if by_line {
            if c.invoke.line == 0 {
                continue;
            }
            (c.invoke.line as f64, c.completion.map(|x| x.line as f64))
        } else {
            (c.invoke.index as f64, c.completion.map(|x| x.index as f64))
        };
        if s > hi || e.is_some_and(|e| e < lo) {
            continue;
        }
        let words = clip(&format!("{} {}", c.f(), c.value()), 28);
        let mut j = serde_json::json!({
            "process": c.process().to_string(),
            "invoke_index": c.invoke.index,
            "op": words,
            "type": c.outcome().as_str(),
            "context": true,
        });
        if by_line {
            j["invoke_line"] = s.into();
            if let Some(e) = e {
                j["complete_line"] = e.into();
            }
        }
        // Nearest to the window's middle first.
        out.push((((s + e.unwrap_or(hi)) / 2.0 - (lo + hi) / 2.0).abs(), j));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.into_iter().take(CONTEXT_OPS).map(|(_, j)| j).collect()
}

/// Most bars a counterexample draws; a larger window is cut to the ops around the one that
/// cannot be placed.
pub const MAX_BARS: usize = 24;

/// The ops of a large window worth drawing: the stuck op, the ops that overlap it, and the
/// tail of the order the search found, up to [`MAX_BARS`].
fn focus<'j>(core: &'j [Json], placed: &[&Json], stuck: Option<&Json>) -> Vec<&'j Json> {
    if core.len() <= MAX_BARS {
        return core.iter().collect();
    }
    let mut keep: Vec<&Json> = Vec::new();
    let add = |op: &'j Json, keep: &mut Vec<&'j Json>| {
        if keep.len() < MAX_BARS && !keep.iter().any(|k| same(k, op)) {
            keep.push(op);
        }
    };
    if let Some(st) = stuck {
        if let Some(op) = core.iter().find(|o| same(o, st)) {
            add(op, &mut keep);
        }
        let (s0, e0) = extent(st);
        let e0 = e0.unwrap_or(f64::INFINITY);
        for op in core {
            let (s, e) = extent(op);
            if s <= e0 && e.unwrap_or(f64::INFINITY) >= s0 && keep.len() < MAX_BARS / 3 {
                add(op, &mut keep);
            }
        }
    }
    for p in placed.iter().rev() {
        if let Some(op) = core.iter().find(|o| same(o, p)) {
            add(op, &mut keep);
        }
    }
    keep
}

/// The counterexample of one `linearizability` anomaly, with a note when only part of it is
/// drawn; `None` when it carries no window.
pub fn counterexample(
    a: &Json,
    h: &History,
) -> Result<Option<(String, Option<String>)>, ReportError> {
    let Some(core) = a.get("window").and_then(Json::as_array) else {
        return Ok(None);
    };
    if core.is_empty() {
        return Ok(None);
    }
    let placed: Vec<&Json> = a
        .get("placed")
        .and_then(Json::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let stuck = a.get("stuck");
    let shown = focus(core, &placed, stuck);
    let span = |ops: &[Json]| {
        let lo = ops
            .iter()
            .map(|o| extent(o).0)
            .fold(f64::INFINITY, f64::min);
        let hi = ops
            .iter()
            .map(|o| {
                let (s, e) = extent(o);
                e.unwrap_or(s)
            })
            .fold(0.0, f64::max);
        (lo, hi)
    };
    let mut all: Vec<Json> = shown.iter().map(|o| (*o).clone()).collect();
    let note = if shown.len() < core.len() {
        Some(format!(
            "Drawn: {} of the {} operations that cannot be linearized together (the one that cannot be placed, those overlapping it, and the end of the longest order found); the text lists them all.",
            shown.len(),
            core.len()
        ))
    } else {
        let (lo, hi) = span(&all);
        let extra = context(core, h, lo, hi);
        all.extend(extra.into_iter().take(MAX_BARS.saturating_sub(all.len())));
        None
    };
    let window = &all;
    let mut procs: Vec<String> = Vec::new();
    for op in window.iter() {
        let p = op.get("process").map(proc_name).unwrap_or_default();
        if !procs.contains(&p) {
            procs.push(p);
        }
    }
    let (lo, hi) = span(window);
    let pad = ((hi - lo) * 0.04).max(1.0);
    let (x0, x1) = (lo - pad, hi + pad * 3.0);
    let row_h = 44u32;
    let h_px = 70 + row_h * procs.len() as u32;
    let w = 900u32;
    // Data units per pixel of the plotting area (the y labels take 90 px, margins 20).
    let per_px = (x1 - x0) / (w as f64 - 110.0);
    let row_of = |op: &Json| {
        let p = op.get("process").map(proc_name).unwrap_or_default();
        let i = procs.iter().position(|q| *q == p).unwrap_or(0);
        (procs.len() - 1 - i) as f64
    };
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h_px)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(90)
            .build_cartesian_2d(x0..x1, 0f64..procs.len() as f64)
            .map_err(err)?;
        let names = procs.clone();
        chart
            .configure_mesh()
            .x_desc("line in the history file")
            // Whole lines only: a window a few lines wide would repeat a rounded label.
            .x_labels(((x1 - x0).floor() as usize + 1).clamp(2, 10))
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-6 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14))
            .y_labels(procs.len() * 2 + 1)
            .y_label_formatter(&move |v| {
                let k = v - 0.5;
                let i = k.round();
                if (k - i).abs() < 0.01 && i >= 0.0 && (i as usize) < names.len() {
                    format!("process {}", names[names.len() - 1 - i as usize])
                } else {
                    String::new()
                }
            })
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        // Labels claim room on their row in this order: the op that cannot be placed, the
        // order found, the rest; one that would overlap a claimed one is left out.
        let mut by_rank: Vec<&Json> = window.iter().collect();
        by_rank.sort_by_key(|op| {
            if stuck.is_some_and(|st| same(st, op)) {
                0
            } else if placed.iter().any(|p| same(p, op)) {
                1
            } else {
                2
            }
        });
        let mut claimed: Vec<(f64, f64, f64)> = Vec::new();
        let mut labels: Vec<(String, f64, f64)> = Vec::new();
        for op in by_rank {
            let (s0, e0) = extent(op);
            let y = row_of(op);
            let order = placed.iter().position(|p| same(p, op));
            let is_stuck = stuck.is_some_and(|st| same(st, op));
            let unsure = op.get("type").and_then(Json::as_str) != Some("ok");
            let ctx = op.get("context").is_some();
            let color = if ctx {
                RGBColor(200, 200, 200)
            } else if is_stuck {
                FAIL
            } else if order.is_some() {
                OK
            } else if unsure {
                INFO
            } else {
                RGBColor(140, 140, 140)
            };
            // Every bar at least 5 px wide, so a one-line op is still seen.
            let end = e0.unwrap_or(x1).max(s0 + 5.0 * per_px);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(s0, y + 0.22), (end, y + 0.78)],
                    color.mix(if unsure || ctx { 0.4 } else { 0.85 }).filled(),
                )))
                .map_err(err)?;
            let mut label = clip(op.get("op").and_then(Json::as_str).unwrap_or("?"), 40);
            if let Some(k) = order {
                label = format!("{}. {label}", k + 1);
            }
            if is_stuck {
                label = format!("✗ {label}");
            }
            if unsure {
                label = format!(
                    "{label} ({})",
                    op.get("type").and_then(Json::as_str).unwrap_or("info")
                );
            }
            // A label runs right from its bar's start; it is drawn only where it fits before
            // the next bar of its row (the op that cannot be placed always is).
            let next = window
                .iter()
                .filter(|o| row_of(o) == y && extent(o).0 > s0)
                .map(|o| extent(o).0)
                .fold(x1, f64::min);
            let room_px = (next - s0) / per_px;
            let width = label.chars().count() as f64 * 7.5 * per_px;
            if !is_stuck && room_px < label.chars().count() as f64 * 7.5 {
                continue;
            }
            if claimed
                .iter()
                .any(|(row, a, b)| *row == y && s0 < *b && s0 + width > *a)
            {
                continue;
            }
            claimed.push((y, s0, s0 + width));
            labels.push((label, s0, y));
        }
        // Labels after every bar, so no bar covers one.
        for (label, s0, y) in labels {
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (s0, y + 0.5),
                    ("sans-serif", 14)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Some((s, note)))
}

fn proc_name(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The key a dependency step is about, read from its explanation ("... key 255 ...").
pub fn step_key(explanation: &str) -> Option<String> {
    let at = explanation.find("key ")?;
    let rest = &explanation[at + 4..];
    let key: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',' && *c != ':' && *c != ';')
        .collect();
    (!key.is_empty()).then_some(key)
}

/// `rw · key 255 · 5 → 8`: the kind, the key and the values when the checker gave them
/// (older results carry only the explanation, which names the key).
fn edge_label(step: &Json) -> String {
    let kind = match step.get("type").and_then(Json::as_str).unwrap_or("?") {
        "realtime" => "rt",
        k => k,
    };
    let key = step
        .get("key")
        .map(|k| {
            k.as_str()
                .map(String::from)
                .unwrap_or_else(|| k.to_string())
        })
        .or_else(|| step_key(step.get("explanation").and_then(Json::as_str).unwrap_or("")));
    let values = step.get("values").and_then(Json::as_str);
    match (key, values) {
        (Some(k), Some(v)) => format!("{kind} · key {} · {}", clip(&k, 16), clip(v, 24)),
        (Some(k), None) => format!("{kind} · key {}", clip(&k, 16)),
        _ => kind.to_string(),
    }
}

/// The cycle of one transactional anomaly; `None` when it carries no steps.
pub fn cycle(a: &Json) -> Result<Option<String>, ReportError> {
    let Some(steps) = a.get("steps").and_then(Json::as_array) else {
        return Ok(None);
    };
    if steps.is_empty() {
        return Ok(None);
    }
    let mut nodes: Vec<String> = Vec::new();
    for st in steps {
        for k in ["from", "to"] {
            let n = st.get(k).map(proc_name).unwrap_or_default();
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
    }
    let n = nodes.len();
    let w = 760i32;
    let radius = if n <= 2 {
        150.0
    } else {
        110.0 + 22.0 * n.min(12) as f64
    };
    let h = (2.0 * radius + 110.0) as i32;
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let pos = |name: &str| -> (f64, f64) {
        let i = nodes.iter().position(|x| x == name).unwrap_or(0);
        let angle = if n == 2 {
            std::f64::consts::PI * i as f64
        } else {
            -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / n as f64
        };
        if n == 2 {
            (cx + radius * angle.cos() * 1.0, cy)
        } else {
            (cx + radius * angle.cos(), cy + radius * angle.sin())
        }
    };
    // Wide enough for the longest name ("T2649"): about 5 px a character at this size.
    let longest = nodes
        .iter()
        .map(|n| n.chars().count() + 1)
        .max()
        .unwrap_or(2);
    let node_r = (longest as f64 * 5.5).max(24.0);
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w as u32, h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        for st in steps {
            let from = pos(&st.get("from").map(proc_name).unwrap_or_default());
            let to = pos(&st.get("to").map(proc_name).unwrap_or_default());
            let kind = st.get("type").and_then(Json::as_str).unwrap_or("?");
            let color = edge_color(kind);
            // A quadratic curve bulging to the left of the direction of travel: two
            // opposite edges between the same pair stay apart.
            let (dx, dy) = (to.0 - from.0, to.1 - from.1);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let bulge = if n == 2 { 0.35 } else { 0.18 };
            let ctrl = (
                (from.0 + to.0) / 2.0 + dy / len * len * bulge,
                (from.1 + to.1) / 2.0 - dx / len * len * bulge,
            );
            let curve: Vec<(f64, f64)> = (0..=40)
                .map(|k| {
                    let t = k as f64 / 40.0;
                    let u = 1.0 - t;
                    (
                        u * u * from.0 + 2.0 * u * t * ctrl.0 + t * t * to.0,
                        u * u * from.1 + 2.0 * u * t * ctrl.1 + t * t * to.1,
                    )
                })
                .collect();
            // Cut the curve where it enters the circles of its ends.
            let outside = |p: &(f64, f64), c: (f64, f64)| {
                ((p.0 - c.0).powi(2) + (p.1 - c.1).powi(2)).sqrt() > node_r + 2.0
            };
            let pts: Vec<(i32, i32)> = curve
                .iter()
                .filter(|p| outside(p, from) && outside(p, to))
                .map(|p| (p.0.round() as i32, p.1.round() as i32))
                .collect();
            if pts.len() < 2 {
                continue;
            }
            root.draw(&PathElement::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?;
            let tip = pts[pts.len() - 1];
            let prev = pts[pts.len().saturating_sub(4)];
            let (ax, ay) = ((tip.0 - prev.0) as f64, (tip.1 - prev.1) as f64);
            let al = (ax * ax + ay * ay).sqrt().max(1.0);
            let (ux, uy) = (ax / al, ay / al);
            let head = vec![
                tip,
                (
                    (tip.0 as f64 - 11.0 * ux + 5.0 * uy).round() as i32,
                    (tip.1 as f64 - 11.0 * uy - 5.0 * ux).round() as i32,
                ),
                (
                    (tip.0 as f64 - 11.0 * ux - 5.0 * uy).round() as i32,
                    (tip.1 as f64 - 11.0 * uy + 5.0 * ux).round() as i32,
                ),
            ];
            root.draw(&Polygon::new(head, color.filled()))
                .map_err(err)?;
            let mid = curve[20];
            let label = edge_label(st);
            let font: TextStyle = ("sans-serif", 17).into();
            let (tw, th) = root.estimate_text_size(&label, &font).map_err(err)?;
            let (mx, my) = (mid.0.round() as i32, mid.1.round() as i32);
            let (hw, hh) = (tw as i32 / 2 + 4, th as i32 / 2 + 2);
            root.draw(&Rectangle::new(
                [(mx - hw, my - hh), (mx + hw, my + hh)],
                WHITE.mix(0.9).filled(),
            ))
            .map_err(err)?;
            root.draw(&Text::new(
                label,
                (mid.0.round() as i32, mid.1.round() as i32),
                ("sans-serif", 17)
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
        }
        for name in &nodes {
            let p = pos(name);
            let c = (p.0.round() as i32, p.1.round() as i32);
            root.draw(&Circle::new(c, node_r as i32, WHITE.filled()))
                .map_err(err)?;
            root.draw(&Circle::new(
                c,
                node_r as i32,
                BLACK.mix(0.7).stroke_width(2),
            ))
            .map_err(err)?;
            root.draw(&Text::new(
                format!("T{name}"),
                c,
                ("sans-serif", 17)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Some(s))
}

fn edge_color(kind: &str) -> RGBColor {
    match kind {
        "ww" => RGBColor(47, 111, 196),
        "wr" => RGBColor(60, 150, 80),
        "rw" => FAIL,
        "realtime" | "rt" => RGBColor(120, 90, 170),
        "process" => INFO,
        _ => RGBColor(90, 90, 90),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_keys_come_from_the_explanation() {
        assert_eq!(
            step_key("T3 read key 255 ending in 5, but T1 appended 8").as_deref(),
            Some("255")
        );
        assert_eq!(
            step_key("T1 completed (line 4) before T3 was invoked"),
            None
        );
        let e = |j: Json| edge_label(&j);
        assert_eq!(
            e(json!({"type": "realtime", "explanation": "T1 completed"})),
            "rt"
        );
        assert_eq!(
            e(json!({"type": "wr", "explanation": "T2 read key x:1, which"})),
            "wr · key x"
        );
        assert_eq!(
            e(json!({"type": "rw", "key": "255", "values": "5 → 8", "explanation": ""})),
            "rw · key 255 · 5 → 8"
        );
    }

    #[test]
    fn a_cycle_draws_every_transaction_and_every_edge_label() {
        let a = json!({"steps": [
            {"from": 3, "to": 1, "type": "rw", "explanation": "T3 read key 255 ending in 5"},
            {"from": 1, "to": 2, "type": "wr", "explanation": "T2 read key 255 ending in 8"},
            {"from": 2, "to": 3, "type": "ww", "explanation": "T2 appended 4 to key 256"},
        ]});
        let svg = cycle(&a).unwrap().unwrap();
        for t in [
            "T1",
            "T2",
            "T3",
            "rw · key 255",
            "wr · key 255",
            "ww · key 256",
        ] {
            assert!(svg.contains(t), "{t} missing");
        }
        assert_eq!(svg.matches("<polygon").count(), 3, "one arrowhead per edge");
    }

    #[test]
    fn a_counterexample_marks_the_stuck_op_and_the_order_found() {
        let w = |p: &str, i: u64, l: u64, op: &str| json!({"process": p, "invoke_index": i, "invoke_line": l, "complete_line": l + 1, "op": op, "type": "ok"});
        let a = json!({
            "window": [w("0", 73, 74, "write 1"), w("11", 84, 85, "read → 2")],
            "placed": [w("0", 73, 74, "write 1")],
            "stuck": w("11", 84, 85, "read → 2"),
        });
        let h = History::default();
        let (svg, note) = counterexample(&a, &h).unwrap().unwrap();
        assert_eq!(note, None);
        assert!(svg.contains("1. write 1"), "{svg}");
        assert!(svg.contains("✗ read → 2"));
        assert!(svg.contains("process 11"));
        assert_eq!(counterexample(&json!({}), &h).unwrap(), None);
    }
}

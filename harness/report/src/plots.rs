//! Plots as SVG, drawn with plotters: latency per `f` (every call a point, log scale),
//! latency quantiles over time, throughput per outcome, and the invariant workloads' own
//! (bank totals, the fate of each set element). Fault windows are shaded on every time plot
//! and labelled by fault, so "latency jumped when n3 was cut off" is one glance.
//!
//! A point per call is what Jepsen draws, but 100k SVG circles are megabytes: above
//! [`MAX_POINTS`] a plot keeps every `fail`/`info` call it can and an even stride of the `ok`
//! ones, and says so under the plot.

use crate::data::{quantile, Axis, Data, Outcome, Window};
use crate::ReportError;
use labrys_history::{History, OpType, Value};
use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Most points one scatter plot draws.
pub const MAX_POINTS: usize = 4000;

pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 320;

pub const OK: RGBColor = RGBColor(47, 111, 196);
pub const FAIL: RGBColor = RGBColor(205, 45, 60);
pub const INFO: RGBColor = RGBColor(232, 145, 0);

pub fn outcome_color(o: Outcome) -> RGBColor {
    match o {
        Outcome::Ok => OK,
        Outcome::Fail => FAIL,
        Outcome::Info => INFO,
    }
}

/// A fault's shade: the same fault has the same colour on every plot of a report.
pub fn fault_color(fault: &str) -> RGBColor {
    match fault {
        "partition" => RGBColor(150, 110, 210),
        "kill" => RGBColor(220, 80, 80),
        "pause" => RGBColor(230, 190, 40),
        "clock" => RGBColor(40, 170, 160),
        "loss" | "rate" | "delay" => RGBColor(110, 140, 170),
        other => {
            let h = other
                .bytes()
                .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
            RGBColor(
                100 + (h % 120) as u8,
                100 + (h / 7 % 120) as u8,
                100 + (h / 49 % 120) as u8,
            )
        }
    }
}

/// One drawn plot: the SVG and what the reader should know about it.
pub struct Plot {
    pub title: String,
    pub svg: String,
    pub note: Option<String>,
}

fn err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError::Draw(format!("{e:?}"))
}

fn draw_svg(
    w: u32,
    h: u32,
    body: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        body(&root)?;
        root.present().map_err(err)?;
    }
    Ok(s)
}

fn shade<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, Y>>,
    windows: &[Window],
    y: (f64, f64),
) -> Result<(), ReportError> {
    chart
        .draw_series(windows.iter().map(|w| {
            Rectangle::new(
                [(w.start, y.0), (w.end.max(w.start), y.1)],
                fault_color(&w.fault).mix(0.18).filled(),
            )
        }))
        .map_err(err)?;
    chart
        .draw_series(windows.iter().map(|w| {
            Text::new(
                w.fault.clone(),
                (w.start, y.1),
                ("sans-serif", 14)
                    .into_font()
                    .color(&fault_color(&w.fault).mix(0.95)),
            )
        }))
        .map_err(err)?;
    Ok(())
}

type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// A latency plot's frame: time across, milliseconds up on a log scale, faults shaded.
fn latency_frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    d: &Data,
    (lo, hi): (f64, f64),
) -> Result<Chart<'a, 'b, LogCoord<f64>>, ReportError> {
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range(d), (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(d.axis.label())
        .y_desc("latency")
        .y_label_formatter(&|v| format_ms(*v))
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    shade(&mut chart, &d.windows, (lo, hi))?;
    Ok(chart)
}

/// A plot's frame with a linear y axis from `lo` to `hi`, faults shaded.
fn linear_frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    d: &Data,
    (lo, hi): (f64, f64),
    y_desc: &str,
) -> Result<Chart<'a, 'b, RangedCoordf64>, ReportError> {
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range(d), lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(d.axis.label())
        .y_desc(y_desc)
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    shade(&mut chart, &d.windows, (lo, hi))?;
    Ok(chart)
}

/// The legend of the series drawn with labels, top right.
fn legend<'a, 'b: 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'a, 'b, Y>,
) -> Result<(), ReportError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)
}

/// Calls of `f` to draw, at most [`MAX_POINTS`]: all non-`ok` ones first, then an even
/// stride of the `ok` ones. Returns the positions in `d.rows` and how many there were.
fn sample(d: &Data, f: u16) -> (Vec<usize>, usize) {
    let mut ok = Vec::new();
    let mut other = Vec::new();
    for (i, r) in d.rows.iter().enumerate() {
        if r.f == f && r.latency_ms(d.axis).is_some() {
            if r.outcome == Outcome::Ok {
                ok.push(i);
            } else {
                other.push(i);
            }
        }
    }
    let total = ok.len() + other.len();
    if total <= MAX_POINTS {
        other.extend(ok);
        return (other, total);
    }
    let stride = |v: Vec<usize>, n: usize| -> Vec<usize> {
        if v.len() <= n {
            return v;
        }
        (0..n).map(|k| v[k * v.len() / n]).collect()
    };
    let other = stride(other, MAX_POINTS / 2);
    let room = MAX_POINTS - other.len();
    let mut out = other;
    out.extend(stride(ok, room));
    (out, total)
}

/// The x axis of every time plot: from 0 past the last record; never narrower than a
/// microsecond (or one line), which plotters needs to place its ticks.
fn x_range(d: &Data) -> std::ops::Range<f64> {
    let least = match d.axis {
        Axis::Seconds => 1e-6,
        Axis::Position => 1.0,
    };
    0.0..(d.end * 1.01).max(least)
}

/// Every call of `f` as a point: when it was invoked, how long it took; colour by outcome.
pub fn latency_raw(d: &Data, f: u16) -> Result<Option<Plot>, ReportError> {
    let (picked, total) = sample(d, f);
    if picked.is_empty() {
        return Ok(None);
    }
    let lats: Vec<f64> = picked
        .iter()
        .filter_map(|&i| d.rows[i].latency_ms(d.axis))
        .collect();
    let lo = lats.iter().cloned().fold(f64::INFINITY, f64::min).max(0.01) / 1.5;
    let hi = lats.iter().cloned().fold(0.0, f64::max).max(lo * 10.0) * 1.5;
    let name = &d.fs[f as usize];
    let svg = draw_svg(WIDTH, HEIGHT, |root| {
        let mut chart = latency_frame(root, d, (lo, hi))?;
        for outcome in [Outcome::Ok, Outcome::Info, Outcome::Fail] {
            let c = outcome_color(outcome);
            let pts: Vec<(f64, f64)> = picked
                .iter()
                .map(|&i| &d.rows[i])
                .filter(|r| r.outcome == outcome)
                .filter_map(|r| r.latency_ms(d.axis).map(|l| (r.start, l.max(lo))))
                .collect();
            if pts.is_empty() {
                continue;
            }
            chart
                .draw_series(
                    pts.into_iter()
                        .map(|p| Circle::new(p, 2, c.mix(0.75).filled())),
                )
                .map_err(err)?
                .label(outcome.name())
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
        }
        Ok(())
    })?;
    Ok(Some(Plot {
        title: format!("{name}: latency of every call"),
        svg,
        note: (picked.len() < total).then(|| {
            format!(
                "{} of {} calls drawn: every fail/info call (up to {}), then an even sample of the ok ones.",
                picked.len(),
                total,
                MAX_POINTS / 2
            )
        }),
    }))
}

/// A latency tick with its unit: `0.5ms`, `20ms`, `2s`.
fn format_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}s", trim(v / 1000.0))
    } else {
        format!("{}ms", trim(v))
    }
}

fn trim(v: f64) -> String {
    if v >= 10.0 || v == v.round() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Buckets over the time axis: about 100, at least a second wide when there is time.
fn buckets(d: &Data) -> (f64, usize) {
    let width = match d.axis {
        Axis::Seconds => (d.end / 100.0).max(1.0),
        Axis::Position => (d.end / 100.0).max(1.0),
    };
    (width, (d.end / width).floor() as usize + 1)
}

/// Median, 95th, 99th percentile and maximum latency of the `ok` calls of `f`, per bucket.
pub fn latency_quantiles(d: &Data, f: u16) -> Result<Option<Plot>, ReportError> {
    let (width, n) = buckets(d);
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); n];
    for r in &d.rows {
        if r.f == f && r.outcome == Outcome::Ok {
            if let Some(l) = r.latency_ms(d.axis) {
                per[((r.start / width) as usize).min(n - 1)].push(l);
            }
        }
    }
    if per.iter().all(|b| b.is_empty()) {
        return Ok(None);
    }
    for b in per.iter_mut() {
        b.sort_by(f64::total_cmp);
    }
    let qs: [(&str, f64, RGBColor); 4] = [
        ("p50", 0.5, RGBColor(47, 111, 196)),
        ("p95", 0.95, RGBColor(90, 160, 90)),
        ("p99", 0.99, RGBColor(232, 145, 0)),
        ("max", 1.0, RGBColor(205, 45, 60)),
    ];
    let all: Vec<f64> = per.iter().flatten().cloned().collect();
    let lo = all.iter().cloned().fold(f64::INFINITY, f64::min).max(0.01) / 1.5;
    let hi = all.iter().cloned().fold(0.0, f64::max).max(lo * 10.0) * 1.5;
    let name = &d.fs[f as usize];
    let svg = draw_svg(WIDTH, HEIGHT, |root| {
        let mut chart = latency_frame(root, d, (lo, hi))?;
        for (label, q, c) in qs {
            // A bucket without ok calls (everything failed or timed out) breaks the line:
            // joining across it would draw latencies no call had.
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for (i, b) in per.iter().enumerate() {
                if b.is_empty() {
                    runs.push(Vec::new());
                } else if let Some(run) = runs.last_mut() {
                    run.push(((i as f64 + 0.5) * width, quantile(b, q).max(lo)));
                }
            }
            runs.retain(|r| !r.is_empty());
            for (k, run) in runs.into_iter().enumerate() {
                // A bucket alone between gaps is a dot: a line needs two.
                let dots: Vec<(f64, f64)> = if run.len() == 1 { run.clone() } else { vec![] };
                chart
                    .draw_series(dots.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                    .map_err(err)?;
                let series = chart
                    .draw_series(LineSeries::new(run, c.stroke_width(2)))
                    .map_err(err)?;
                if k == 0 {
                    series.label(label).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                    });
                }
            }
        }
        legend(&mut chart)?;
        Ok(())
    })?;
    Ok(Some(Plot {
        title: format!(
            "{name}: latency quantiles of ok calls, per {}",
            span(width, d.axis)
        ),
        svg,
        note: None,
    }))
}

fn span(width: f64, axis: Axis) -> String {
    match axis {
        Axis::Seconds => format!("{} s", trim(width)),
        Axis::Position => format!("{} records", trim(width)),
    }
}

/// Completions per second, by outcome, all `f`s together.
pub fn throughput(d: &Data) -> Result<Option<Plot>, ReportError> {
    if !d.has_time() {
        return Ok(None);
    }
    let (width, n) = buckets(d);
    let mut counts = vec![[0u32; 3]; n];
    for r in &d.rows {
        if let Some(e) = r.end {
            counts[((e / width) as usize).min(n - 1)][r.outcome.code() as usize] += 1;
        }
    }
    let hi = counts
        .iter()
        .flat_map(|c| c.iter())
        .cloned()
        .max()
        .unwrap_or(0) as f64
        / width
        * 1.15
        + 1.0;
    let svg = draw_svg(WIDTH, HEIGHT, |root| {
        let mut chart = linear_frame(root, d, (0.0, hi), "ops/s")?;
        for outcome in [Outcome::Ok, Outcome::Info, Outcome::Fail] {
            let c = outcome_color(outcome);
            let k = outcome.code() as usize;
            let pts: Vec<(f64, f64)> = counts
                .iter()
                .enumerate()
                .map(|(i, b)| ((i as f64 + 0.5) * width, b[k] as f64 / width))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?
                .label(outcome.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                });
        }
        Ok(())
    })?;
    Ok(Some(Plot {
        title: format!(
            "Throughput: completions per second, per {}",
            span(width, d.axis)
        ),
        svg,
        note: None,
    }))
}

/// Bank: the sum of every `ok` read over time, against the total it must keep.
pub fn bank_totals(
    h: &History,
    d: &Data,
    expected: Option<i128>,
) -> Result<Option<Plot>, ReportError> {
    let mut pts: Vec<(f64, i128)> = Vec::new();
    for (row, call) in d.rows.iter().zip(h.calls()) {
        if call.outcome() != OpType::Ok || call.f() != "read" {
            continue;
        }
        let Some(m) = call.value().as_map() else {
            continue;
        };
        let sum: Option<i128> = m.iter().map(|(_, v)| v.as_i64().map(i128::from)).sum();
        if let Some(s) = sum {
            pts.push((row.end.unwrap_or(row.start), s));
        }
    }
    if pts.is_empty() {
        return Ok(None);
    }
    let expected = expected.unwrap_or(pts[0].1);
    let lo = pts.iter().map(|p| p.1).min().unwrap_or(0).min(expected) as f64;
    let hi = pts.iter().map(|p| p.1).max().unwrap_or(0).max(expected) as f64;
    let pad = ((hi - lo) * 0.15).max(1.0);
    let (lo, hi) = (lo - pad, hi + pad);
    let wrong = pts.iter().filter(|p| p.1 != expected).count();
    let svg = draw_svg(WIDTH, HEIGHT, |root| {
        let mut chart = linear_frame(root, d, (lo, hi), "sum of balances")?;
        let e = expected as f64;
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, e), (x_range(d).end, e)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("total {expected}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.mix(0.5)));
        for (right, c, label) in [
            (true, OK, "read sums to the total"),
            (false, FAIL, "read with a wrong total"),
        ] {
            let ps: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| (p.1 == expected) == right)
                .map(|p| (p.0, p.1 as f64))
                .collect();
            if ps.is_empty() {
                continue;
            }
            chart
                .draw_series(ps.into_iter().map(|p| Circle::new(p, 2, c.filled())))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
        }
        legend(&mut chart)?;
        Ok(())
    })?;
    Ok(Some(Plot {
        title: "Bank: the sum of each read's balances".into(),
        svg,
        note: Some(format!(
            "{} ok reads, {} of them with a total other than {expected}.",
            pts.len(),
            wrong
        )),
    }))
}

/// The fate of an added element against the last `ok` read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Present,
    Recovered,
    NeverSeen,
    Lost,
}

/// Set: each add, at the time it was invoked, by what the final read says of it.
pub fn set_fates(h: &History, d: &Data) -> Result<Option<Plot>, ReportError> {
    let final_read = h
        .calls()
        .filter(|c| c.outcome() == OpType::Ok && c.f() == "read")
        .last();
    let Some(final_read) = final_read else {
        return Ok(None);
    };
    let Some(seen) = final_read.value().as_seq() else {
        return Ok(None);
    };
    let seen: std::collections::HashSet<String> = seen.iter().map(Value::to_string).collect();
    let mut pts: Vec<(f64, Fate)> = Vec::new();
    for (row, call) in d.rows.iter().zip(h.calls()) {
        if call.f() != "add" || row.outcome == Outcome::Fail {
            continue;
        }
        let there = seen.contains(&call.invoke.value.to_string());
        let fate = match (row.outcome == Outcome::Ok, there) {
            (true, true) => Fate::Present,
            (true, false) => Fate::Lost,
            (false, true) => Fate::Recovered,
            (false, false) => Fate::NeverSeen,
        };
        pts.push((row.start, fate));
    }
    if pts.is_empty() {
        return Ok(None);
    }
    let rows: [(Fate, &str, RGBColor); 4] = [
        (Fate::Present, "acknowledged, read", OK),
        (
            Fate::Recovered,
            "unsure (info), read",
            RGBColor(90, 160, 90),
        ),
        (Fate::NeverSeen, "unsure (info), not read", INFO),
        (Fate::Lost, "acknowledged, LOST", FAIL),
    ];
    let count = |f: Fate| pts.iter().filter(|p| p.1 == f).count();
    let svg = draw_svg(WIDTH, 240, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(170)
            .build_cartesian_2d(x_range(d), -0.5f64..3.5f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(d.axis.label())
            .y_labels(4)
            .y_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 0.01 && (0.0..4.0).contains(&i) {
                    format!("{} ({})", rows[i as usize].1, count(rows[i as usize].0))
                } else {
                    String::new()
                }
            })
            .light_line_style(WHITE.mix(0.0))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        shade(&mut chart, &d.windows, (-0.5, 3.5))?;
        for (k, (fate, _, c)) in rows.iter().enumerate() {
            let ps: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| p.1 == *fate)
                .map(|p| (p.0, k as f64))
                .collect();
            chart
                .draw_series(ps.into_iter().map(|p| {
                    PathElement::new(vec![(p.0, p.1 - 0.3), (p.0, p.1 + 0.3)], c.stroke_width(1))
                }))
                .map_err(err)?;
        }
        Ok(())
    })?;
    Ok(Some(Plot {
        title: "Set: each add by when it was invoked, against the final read".into(),
        svg,
        note: Some(format!(
            "Final read: line {} (process {}). An acknowledged add missing from it is lost.",
            final_read.invoke.line,
            final_read.process()
        )),
    }))
}

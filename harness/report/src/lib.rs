//! One self-contained HTML report per run, or per history file checked.
//!
//! The report is for a person who has not read the JSON: the verdict first, in words; then
//! what was tested (database, version, level, faults, seed); each anomaly with what its name
//! means, its drawing (a linearizability counterexample as bars per process, a transactional
//! cycle as a graph) and the checker's own explanation; the plots Jepsen draws (latency per
//! `f`, latency quantiles, throughput, fault windows shaded on each); the invariant
//! workloads' own plots; and a timeline of every op that can be zoomed to any of 100k ops.
//!
//! Everything is inline — SVG from plotters, CSS, the timeline's script and its data — so the
//! file can be mailed, attached to a CI run, or opened from a laptop without a network.
//! The HTML comes from an askama template (compile-checked, escaped by default); the only
//! unescaped pieces are the SVG plotters writes (it escapes its own text) and the timeline's
//! JSON, with `</` escaped so it cannot end its script element.
//!
//! The input is what a run folder holds or `labrys check` has in hand: the history, the
//! check's result in its JSON form (`results.json`), and for a run its `test.json`. The report
//! reads only these, so `labrys report RUN_DIR` redraws any stored run.

mod data;
mod drawings;
mod glossary;
mod plots;

use askama::Template;
use data::{Axis, Data};
use labrys_history::History;
use serde_json::{json, Value as Json};

pub use data::VALUE_CHARS;
pub use glossary::meaning;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("drawing a plot failed: {0}")]
    Draw(String),
    #[error("rendering the report's HTML failed: {0}")]
    Template(#[from] askama::Error),
}

/// A file the report links to, relative to where the report is written.
#[derive(Clone, Debug)]
pub struct Link {
    pub label: String,
    pub href: String,
}

/// What one report is made of.
pub struct ReportInput<'a> {
    /// The page's title: the test name, or the history file's name.
    pub title: String,
    pub history: &'a History,
    /// The check's result as `results.json` holds it (`CheckResult` in JSON, plus whatever a
    /// run added: `incomplete`, `stats.longest_without_ok`).
    pub result: &'a Json,
    /// A run's `test.json`, when the report is for a run.
    pub test: Option<&'a Json>,
    /// For `labrys check`: the history file, as the user named it.
    pub source: Option<String>,
    /// Files next to the report (history, results, logs).
    pub links: Vec<Link>,
}

const LIN_LEGEND: &str = "Each bar runs from an operation's invocation to its completion. Blue, numbered: the longest order of these operations the search found. Red ✗: the operation no order can place next. Grey: operations that ran meanwhile, for context; pale bars failed or may not have happened.";
const CYCLE_LEGEND: &str = "Each arrow is a dependency that orders two transactions: ww (wrote a later version), wr (read what the other wrote), rw (read a version the other then overwrote), rt (finished before the other began), process (earlier in the same process); a cycle means no order of them exists. On data arrows, the key, then the versions: a → b is the version read or written, then the one after it (∅: the initial, empty version; ?: a later write no read saw), or for wr the value read.";

/// Examples drawn and explained per anomaly type; the rest are counted.
pub const EXAMPLES: usize = 3;

struct Fact {
    name: String,
    value: String,
}

struct Example {
    svg: Option<String>,
    note: Option<String>,
    text: String,
}

struct AnomalyView {
    name: String,
    legend: Option<&'static str>,
    meaning: Option<String>,
    count: String,
    examples: Vec<Example>,
    /// What is not shown, in words; empty when everything is.
    more: String,
}

/// "and 1,728 more: 998 in the JSON result, 730 only counted".
fn more_words(listed: usize, unlisted: usize) -> String {
    let hidden = listed.saturating_sub(EXAMPLES);
    match (hidden, unlisted) {
        (0, 0) => String::new(),
        (h, 0) => format!(
            "and {} more of this kind in the JSON result (results.json of a run, or labrys check --json).",
            count(h as u64)
        ),
        (0, u) => format!("and {} more of this kind, counted but not listed.", count(u as u64)),
        (h, u) => format!(
            "and {} more of this kind: {} in the JSON result (results.json of a run, or labrys check --json), {} counted but not listed.",
            count((h + u) as u64),
            count(h as u64),
            count(u as u64)
        ),
    }
}

struct FaultRow {
    fault: String,
    color: String,
    from: String,
    to: String,
    detail: String,
}

struct FaultKey {
    name: String,
    color: String,
    count: usize,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    title: String,
    verdict_class: &'static str,
    verdict_word: &'static str,
    headline: String,
    details: Vec<String>,
    incomplete: Option<String>,
    facts: Vec<Fact>,
    anomalies: Vec<AnomalyView>,
    warnings: Vec<String>,
    faults: Vec<FaultKey>,
    schedule: Vec<FaultRow>,
    plots: Vec<plots::Plot>,
    plot_notes: Vec<String>,
    timeline_json: String,
    timeline_words: String,
    has_ops: bool,
    links: Vec<Link>,
    stats_json: String,
    version: &'static str,
}

const TIMELINE_JS: &str = include_str!("../templates/timeline.js");

impl Page {
    fn timeline_js(&self) -> &'static str {
        TIMELINE_JS
    }
}

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The strings of a JSON array (none when it is missing or not one).
fn strings(v: Option<&Json>) -> Vec<String> {
    v.and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn str_of(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Array(a) => Some(
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        other => Some(other.to_string()),
    }
}

fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Renders the report as one HTML document.
///
/// A report is a reading aid drawn at the end of a run: a drawing bug must cost the report,
/// never the run, so a panic while drawing comes back as an error.
pub fn render(input: &ReportInput) -> Result<String, ReportError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| render_page(input))).unwrap_or_else(
        |p| {
            let why = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(ReportError::Draw(why))
        },
    )
}

fn render_page(input: &ReportInput) -> Result<String, ReportError> {
    let r = input.result;
    let d = Data::from_history(input.history);
    let totals = r.pointer("/stats/ops/total");
    let n = |k: &str| {
        totals
            .and_then(|t| t.get(k))
            .and_then(Json::as_u64)
            .unwrap_or(0)
    };
    let (ok, fail, info) = (n("ok"), n("fail"), n("info"));
    let ops_words = format!(
        "{} client operations: {} ok, {} failed (certainly did not happen), {} indeterminate (may or may not have happened)",
        count(ok + fail + info),
        count(ok),
        count(fail),
        count(info)
    );
    let valid = r.get("valid");
    let incomplete = r
        .get("incomplete")
        .and_then(|v| v.as_str().map(String::from).or_else(|| Some(v.to_string())));
    let anomaly_types = strings(r.get("anomaly_types"));
    let not = strings(r.get("not"));
    let test = input.test;
    let models = test.and_then(|t| str_of(t.get("consistency-models")));
    let promise = test.and_then(|t| str_of(t.get("isolation-promise")));
    let workload = r
        .get("workload")
        .and_then(Json::as_str)
        .or_else(|| test.and_then(|t| t.get("workload")).and_then(Json::as_str))
        .unwrap_or("");
    let (verdict_class, verdict_word, headline) = match valid {
        Some(Json::Bool(true)) if vacuous(r).is_some() => (
            "valid",
            "VALID",
            format!(
                "Valid only because there was nothing to check: {}",
                vacuous(r).unwrap_or_default()
            ),
        ),
        Some(Json::Bool(true)) => (
            "valid",
            "VALID",
            match &models {
                Some(m) => format!("No anomaly found: the history is consistent with {m}."),
                None => format!("No anomaly found: {}.", valid_means(workload)),
            },
        ),
        Some(Json::Bool(false)) => (
            "invalid",
            "INVALID",
            format!(
                "{} kind{} of anomaly found: {}.",
                anomaly_types.len(),
                if anomaly_types.len() == 1 { "" } else { "s" },
                anomaly_types.join(", ")
            ),
        ),
        _ => (
            "unknown",
            "UNKNOWN",
            format!(
                "labrys could not decide: {}.",
                r.get("unknown_reason")
                    .or_else(|| r.get("error"))
                    .and_then(Json::as_str)
                    .unwrap_or("the checker gave no verdict")
                    .trim_end_matches('.')
            ),
        ),
    };
    let mut details = vec![ops_words];
    if !not.is_empty() {
        details.push(format!("Ruled out: {}.", not.join(", ")));
    }
    if let Some(p) = &promise {
        details.push(format!("What the database documents at this level: {p}"));
    }
    if verdict_class == "invalid" && models.is_some() {
        details.push(format!(
            "The run is held to {}; anomalies those models allow are shown but do not make it invalid.",
            models.clone().unwrap_or_default()
        ));
    }
    if let Some(l) = r.pointer("/stats/longest_without_ok") {
        if let (Some(s), Some(from), Some(to)) = (
            l.get("seconds").and_then(Json::as_f64),
            l.get("from_s").and_then(Json::as_f64),
            l.get("to_s").and_then(Json::as_f64),
        ) {
            details.push(format!(
                "Longest stretch without an ok operation: {s:.1} s (from {from:.1} s to {to:.1} s)."
            ));
        }
    }

    let facts = facts(input, &d);
    let anomalies = anomaly_views(r, input.history, &anomaly_types)?;
    let warnings: Vec<String> = r
        .get("warnings")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .map(|w| {
                    let kind = w.get("kind").and_then(Json::as_str).unwrap_or("warning");
                    let msg = w
                        .get("message")
                        .and_then(Json::as_str)
                        .map(String::from)
                        .unwrap_or_else(|| w.to_string());
                    format!("{kind}: {msg}")
                })
                .collect()
        })
        .unwrap_or_default();

    let mut plot_list = Vec::new();
    let mut plot_notes = Vec::new();
    if d.has_time() {
        for f in 0..d.fs.len() as u16 {
            if let Some(p) = plots::latency_raw(&d, f)? {
                plot_list.push(p);
            }
            if let Some(p) = plots::latency_quantiles(&d, f)? {
                plot_list.push(p);
            }
        }
        if let Some(p) = plots::throughput(&d)? {
            plot_list.push(p);
        }
    } else if !d.rows.is_empty() {
        plot_notes.push(
            "This history records no times, so there are no latency or throughput plots; the timeline below orders ops by their place in the file.".to_string(),
        );
    }
    if workload == "bank" {
        let expected = test
            .and_then(|t| t.get("total-amount"))
            .and_then(Json::as_i64)
            .map(i128::from)
            .or_else(|| {
                r.pointer("/anomalies/wrong-total/0/expected")
                    .and_then(Json::as_i64)
                    .map(i128::from)
            });
        if let Some(p) = plots::bank_totals(input.history, &d, expected)? {
            plot_list.push(p);
        }
    }
    if workload == "set" || workload == "set-full" {
        if let Some(p) = plots::set_fates(input.history, &d)? {
            plot_list.push(p);
        }
    }

    let mut faults: Vec<FaultKey> = Vec::new();
    for w in &d.windows {
        match faults.iter_mut().find(|f| f.name == w.fault) {
            Some(f) => f.count += 1,
            None => faults.push(FaultKey {
                name: w.fault.clone(),
                color: hex(plots::fault_color(&w.fault)),
                count: 1,
            }),
        }
    }

    let at = |x: f64| match d.axis {
        Axis::Seconds => format!("{x:.1} s"),
        Axis::Position => format!("line {x:.0}"),
    };
    let schedule: Vec<FaultRow> = d
        .windows
        .iter()
        .map(|w| FaultRow {
            fault: w.fault.clone(),
            color: hex(plots::fault_color(&w.fault)),
            from: at(w.start),
            to: at(w.end),
            detail: w.detail.clone(),
        })
        .collect();
    let timeline = timeline_json(&d);
    let mut stats = r.get("stats").cloned().unwrap_or(Json::Null);
    if let Some(o) = stats.as_object_mut() {
        // Stats can hold long strings (every lost element); the file has them all.
        for v in o.values_mut() {
            if let Json::String(s) = v {
                if s.len() > 400 {
                    *v = Json::String(format!(
                        "{}… ({} characters in results.json)",
                        &s[..s.floor_char_boundary(400)],
                        s.len()
                    ));
                }
            }
        }
    }
    let page = Page {
        title: input.title.clone(),
        verdict_class,
        verdict_word,
        headline,
        details,
        incomplete,
        facts,
        anomalies,
        warnings,
        faults,
        schedule,
        plots: plot_list,
        plot_notes,
        timeline_json: timeline,
        timeline_words: format!(
            "{} operation{} on {} row{}",
            count(d.rows.len() as u64),
            if d.rows.len() == 1 { "" } else { "s" },
            d.lanes.len(),
            if d.lanes.len() == 1 { "" } else { "s" }
        ),
        has_ops: !d.rows.is_empty(),
        links: input.links.clone(),
        stats_json: serde_json::to_string_pretty(&stats).unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION"),
    };
    Ok(page.render()?)
}

/// The warning that makes a valid verdict vacuous (no client operations, no reads), if any.
fn vacuous(r: &Json) -> Option<String> {
    r.get("warnings")?.as_array()?.iter().find_map(|w| {
        let kind = w.get("kind")?.as_str()?;
        matches!(kind, "no-client-ops" | "no-reads").then(|| {
            w.get("message")
                .and_then(Json::as_str)
                .unwrap_or(kind)
                .to_string()
        })
    })
}

/// What a valid verdict says about a history of `workload` (the checker's name for it).
fn valid_means(workload: &str) -> &'static str {
    match workload {
        "register" | "cas-register" | "kv" | "multi-register" | "mutex" | "fifo-queue"
        | "unordered-queue" | "queue" | "linearizable-set" => "the history is linearizable: every operation can take effect at one instant between its invocation and its completion",
        "list-append" | "rw-register" => "the history is strict serializable: the transactions can run one at a time, in an order that respects real time",
        "bank" => "every read of the accounts sums to the total, and no balance went negative",
        "set" => "every add acknowledged is in the final read, and the read holds nothing no one added",
        "set-full" => "every add acknowledged stays visible to the reads after it",
        "counter" => "every read of the counter lies between what the increments certainly and possibly done allow",
        "long-fork" => "no two reads saw writes in opposite orders",
        "unique-ids" => "no id was handed out twice",
        "total-queue" => "every message enqueued was dequeued, once",
        _ => "the history is consistent with everything the checker asks of this workload",
    }
}

fn facts(input: &ReportInput, d: &Data) -> Vec<Fact> {
    let mut out = Vec::new();
    let mut add = |name: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.push(Fact {
                name: name.to_string(),
                value: v,
            });
        }
    };
    if let Some(src) = &input.source {
        add("History file", Some(src.clone()));
    }
    let r = input.result;
    if let Some(t) = input.test {
        let g = |k: &str| str_of(t.get(k));
        let db = g("db");
        let version = db
            .as_ref()
            .and_then(|db| t.get("versions").and_then(|v| v.get(db)))
            .and_then(Json::as_str)
            .map(String::from);
        add(
            "Database",
            db.map(|d| match &version {
                Some(v) => format!("{d} ({v})"),
                None => d,
            }),
        );
        add("Workload", g("workload"));
        add("Isolation level", g("isolation"));
        add("Held to models", g("consistency-models"));
        let nemesis = g("nemesis").filter(|n| !n.is_empty());
        add(
            "Faults",
            Some(match nemesis {
                Some(n) => match t.get("nemesis-interval-s").and_then(Json::as_f64) {
                    Some(i) => format!("{n}, a change every {i} s"),
                    None => n,
                },
                None => "none".into(),
            }),
        );
        add(
            "Nodes",
            t.pointer("/nodes/count")
                .map(|c| c.to_string())
                .or_else(|| g("node-hosts")),
        );
        add("Node addresses", g("node-hosts"));
        add(
            "Database options",
            t.get("db-opts")
                .filter(|o| o.as_object().is_some_and(|m| !m.is_empty()))
                .map(|o| o.to_string()),
        );
        add("Clients", g("concurrency"));
        add("Rate", g("rate").map(|r| format!("{r} ops/s")));
        add("Time limit", g("time-limit-s").map(|s| format!("{s} s")));
        add("Op timeout", g("op-timeout-s").map(|s| format!("{s} s")));
        add("Seed", g("seed"));
        add("Started", g("start"));
        add("Ended", g("end"));
        add("labrys", g("labrys-version"));
    }
    add(
        "Checker",
        r.get("workload").and_then(Json::as_str).map(String::from),
    );
    if d.axis == Axis::Position && !d.rows.is_empty() {
        add("Times", Some("not recorded in this history".into()));
    }
    out
}

fn anomaly_views(r: &Json, h: &History, types: &[String]) -> Result<Vec<AnomalyView>, ReportError> {
    let mut out = Vec::new();
    let all = r.get("anomalies").and_then(Json::as_object);
    let mut names: Vec<String> = types.to_vec();
    if let Some(all) = all {
        for k in all.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    for name in names {
        let list: Vec<&Json> = all
            .and_then(|a| a.get(&name))
            .and_then(Json::as_array)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        // Checkers list the first anomalies of a kind and count the rest.
        let unlisted = r
            .pointer(&format!("/stats/{}_unlisted", name.replace('/', "~1")))
            .and_then(Json::as_u64)
            .unwrap_or(0) as usize;
        let total = list.len() + unlisted;
        let mut examples = Vec::new();
        for a in list.iter().take(EXAMPLES) {
            let (svg, note) = if name == "linearizability" {
                match drawings::counterexample(a, h)? {
                    Some((svg, note)) => (Some(svg), note),
                    None => (None, None),
                }
            } else {
                (drawings::cycle(a)?, None)
            };
            let text = a
                .get("explanation")
                .and_then(Json::as_str)
                .map(String::from)
                .unwrap_or_else(|| serde_json::to_string_pretty(a).unwrap_or_default());
            examples.push(Example { svg, note, text });
        }
        let drawn = examples.iter().any(|e| e.svg.is_some());
        out.push(AnomalyView {
            legend: drawn.then_some(if name == "linearizability" {
                LIN_LEGEND
            } else {
                CYCLE_LEGEND
            }),
            meaning: glossary::meaning(&name),
            count: count(total as u64),
            more: more_words(list.len(), unlisted),
            examples,
            name,
        });
    }
    Ok(out)
}

/// Rounds to a microsecond (or leaves positions alone) so the JSON stays short.
fn short(x: f64) -> Json {
    json!((x * 1e6).round() / 1e6)
}

/// The timeline's data: lanes, `f` names, fault windows, and one array per call:
/// `[lane, f, start, end or -1, outcome 0 ok/1 fail/2 info, process, value, line]`.
/// Values are cut so the whole stays a few megabytes at 100k ops.
fn timeline_json(d: &Data) -> String {
    let per_value = (3_000_000 / d.rows.len().max(1)).clamp(12, VALUE_CHARS);
    let ops: Vec<Json> = d
        .rows
        .iter()
        .map(|r| {
            let v = if r.value.chars().count() > per_value {
                r.value.chars().take(per_value - 1).collect::<String>() + "…"
            } else {
                r.value.clone()
            };
            json!([
                r.lane,
                r.f,
                short(r.start),
                r.end.map(short).unwrap_or(json!(-1)),
                r.outcome.code(),
                r.process,
                v,
                r.line
            ])
        })
        .collect();
    let lanes: Vec<String> = d
        .lanes
        .iter()
        .map(|ps| {
            let mut s: Vec<String> = ps.iter().take(3).map(|p| p.to_string()).collect();
            if ps.len() > 3 {
                s.push(format!("+{}", ps.len() - 3));
            }
            s.join(",")
        })
        .collect();
    let windows: Vec<Json> = d
        .windows
        .iter()
        .map(|w| {
            json!([
                w.fault,
                short(w.start),
                short(w.end),
                hex(plots::fault_color(&w.fault))
            ])
        })
        .collect();
    let v = json!({
        "axis": d.axis.label(),
        "seconds": d.axis == Axis::Seconds,
        "end": short(d.end),
        "lanes": lanes,
        "fs": d.fs,
        "windows": windows,
        "ops": ops,
    });
    // Inside <script>, "</" could end the element: JSON allows "\/" for "/".
    v.to_string().replace("</", "<\\/")
}

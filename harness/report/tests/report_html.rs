//! The report as a reader meets it: the verdict and its words, the drawings an anomaly gets,
//! the plots and the timeline's data, escaping, size at 100k operations, and a golden outline
//! of the page's structure (`cargo insta review` after a deliberate change).

mod common;

use common::sim;
use labrys_history::{read_str, CheckOptions, Format, History};
use labrys_report::{render, Link, ReportInput};
use serde_json::{json, Value as Json};

fn check(h: &History, workload: &str) -> Json {
    let r = labrys_check::check_history(h, workload, &CheckOptions::default()).unwrap();
    let mut j = serde_json::to_value(&r).unwrap();
    j["workload"] = workload.into();
    j
}

fn report(h: &History, result: &Json, test: Option<&Json>) -> String {
    render(&ReportInput {
        title: "a test".into(),
        history: h,
        result,
        test,
        source: None,
        links: vec![Link {
            label: "history.jsonl".into(),
            href: "history.jsonl".into(),
        }],
    })
    .unwrap()
}

/// The timeline's embedded data, parsed back.
fn timeline(html: &str) -> Json {
    let start = html.find(r#"id="timeline-data">"#).unwrap() + r#"id="timeline-data">"#.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

const STALE: &str = include_str!("../../../examples/histories/cas-register-stale-read.jsonl");

const G_SINGLE: &str = r#"{"index":0,"time":1000000,"type":"invoke","process":0,"f":"txn","value":[["append","x",1],["append","y",1]]}
{"index":1,"time":2000000,"type":"invoke","process":1,"f":"txn","value":[["r","x",null],["r","y",null]]}
{"index":2,"time":3000000,"type":"ok","process":1,"f":"txn","value":[["r","x",[1]],["r","y",[]]]}
{"index":3,"time":4000000,"type":"ok","process":0,"f":"txn","value":[["append","x",1],["append","y",1]]}
{"index":4,"time":5000000,"type":"invoke","process":2,"f":"txn","value":[["r","x",null],["r","y",null]]}
{"index":5,"time":6000000,"type":"ok","process":2,"f":"txn","value":[["r","x",[1]],["r","y",[1]]]}
"#;

fn etcd_test() -> Json {
    json!({
        "name": "etcd-register", "db": "etcd", "workload": "register",
        "versions": {"etcd": "etcd Version: 3.4.23"}, "nemesis": ["partition"],
        "nemesis-interval-s": 10.0, "seed": 7, "concurrency": 10, "nodes": {"count": 5}
    })
}

#[test]
fn a_valid_run_says_so_first_and_draws_latency_throughput_and_faults() {
    let h = sim::run(3000, 10, 1);
    let r = check(&h, "cas-register");
    assert_eq!(
        r["valid"],
        json!(false),
        "the simulator's values are random"
    );
    let r = json!({"valid": true, "workload": "cas-register", "anomaly_types": [], "not": [],
                   "anomalies": {}, "stats": r["stats"].clone()});
    let html = report(&h, &r, Some(&etcd_test()));
    let verdict = html
        .find(r#"class="verdict valid""#)
        .expect("a valid banner");
    assert!(
        verdict < html.find("What was tested").unwrap(),
        "the verdict comes first"
    );
    assert!(html.contains("No anomaly found: the history is linearizable"));
    assert!(html.contains("etcd (etcd Version: 3.4.23)"));
    assert!(html.contains("partition, a change every 10 s"));
    // Latency and quantiles per f (read, write, cas) and throughput: seven plots.
    assert_eq!(html.matches(r#"<div class="plot">"#).count(), 7);
    for t in [
        "read: latency of every call",
        "cas: latency quantiles",
        "Throughput",
    ] {
        assert!(html.contains(t), "{t}");
    }
    assert!(
        html.contains(">\npartition\n</text>"),
        "fault windows labelled on the plots"
    );
    let tl = timeline(&html);
    assert_eq!(tl["ops"].as_array().unwrap().len(), 3000);
    let mut fs: Vec<&str> = tl["fs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    fs.sort();
    assert_eq!(fs, ["cas", "read", "write"]);
    assert!(tl["windows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w[0] == "partition"));
    assert!(!tl["windows"].as_array().unwrap().is_empty());
}

#[test]
fn a_linearizability_violation_is_drawn_as_bars_with_the_stuck_op() {
    let h = read_str(STALE, "stale.jsonl", Format::Auto).unwrap();
    let r = check(&h, "cas-register");
    assert_eq!(r["valid"], json!(false));
    let html = report(&h, &r, None);
    assert!(html.contains(r#"class="verdict invalid""#));
    assert!(html.contains("1 kind of anomaly found: linearizability."));
    assert!(html.contains("Ruled out: linearizable, strict-serializable."));
    assert!(
        html.contains("Not linearizable: no order"),
        "the glossary's sentence"
    );
    assert!(
        html.contains("✗ read"),
        "the op that cannot be placed, marked"
    );
    assert!(
        html.contains("The operations cannot be linearized."),
        "the checker's text"
    );
}

#[test]
fn a_transactional_cycle_is_drawn_with_its_dependencies() {
    let h = read_str(G_SINGLE, "g-single.jsonl", Format::Auto).unwrap();
    let r = check(&h, "list-append");
    let html = report(&h, &r, None);
    assert!(html.contains("G-single-item"));
    assert!(html.contains("Read skew"));
    for label in [
        "rw · key &quot;y&quot;",
        "wr · key &quot;x&quot;",
        ">\nT0\n<",
        ">\nT1\n<",
    ] {
        assert!(html.contains(label), "{label} missing");
    }
}

#[test]
fn what_the_history_holds_is_escaped() {
    let evil = r#"{"index":0,"time":1,"type":"invoke","process":0,"f":"write","value":"</script><b id=x>"}
{"index":1,"time":2,"type":"ok","process":0,"f":"write","value":"</script><b id=x>"}
"#;
    let h = read_str(evil, "evil.jsonl", Format::Auto).unwrap();
    let r = json!({"valid": "unknown", "unknown_reason": "<i>no</i>", "stats": {}});
    let html = report(&h, &r, None);
    // Inside the timeline's JSON the text is inert; only "</" could end the element.
    let data = timeline(&html);
    let start = html.find(r#"id="timeline-data">"#).unwrap();
    let page = format!(
        "{}{}",
        &html[..start],
        &html[start + html[start..].find("</script>").unwrap()..]
    );
    assert!(!page.contains("<b id=x>"));
    assert!(!page.contains("<i>no</i>"));
    assert!(
        html.contains("could not decide: &#60;i&#62;no&#60;"),
        "shown, escaped"
    );
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "only the page's own two scripts end"
    );
    assert_eq!(data["ops"][0][6], json!("\"</script><b id=x>\""));
}

#[test]
fn a_100k_operation_report_stays_under_10_mb() {
    let h = sim::run(100_000, 10, 3);
    let r = json!({"valid": true, "workload": "cas-register", "stats": {}});
    let html = report(&h, &r, None);
    assert!(html.len() < 10_000_000, "{} bytes", html.len());
    assert_eq!(timeline(&html)["ops"].as_array().unwrap().len(), 100_000);
    assert!(
        html.contains("of 33"),
        "the scatter plots say they were sampled"
    );
}

/// The page without its bulk: CSS, the timeline's data and script, and each SVG reduced to
/// the texts it shows and how many shapes it has.
fn outline(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    loop {
        let next = [
            ("<style>", "</style>"),
            ("<script", "</script>"),
            ("<svg", "</svg>"),
        ]
        .iter()
        .filter_map(|(a, b)| rest.find(a).map(|i| (i, *a, *b)))
        .min();
        let Some((i, open, close)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..i]);
        let end = i + rest[i..].find(close).unwrap() + close.len();
        let body = &rest[i..end];
        match open {
            "<svg" => {
                let texts: Vec<&str> = body
                    .split("<text")
                    .skip(1)
                    .filter_map(|t| t.split('>').nth(1))
                    .map(|t| t.split('<').next().unwrap_or("").trim())
                    .filter(|t| !t.is_empty())
                    .collect();
                let shapes = ["<circle", "<rect", "<polyline", "<polygon", "<line"]
                    .map(|s| format!("{}={}", &s[1..], body.matches(s).count()));
                out.push_str(&format!(
                    "<svg {} texts=[{}]/>",
                    shapes.join(" "),
                    texts.join("|")
                ));
            }
            _ => out.push_str(&format!("{open}…{close}")),
        }
        rest = &rest[end..];
    }
    out
}

#[test]
fn golden_outline_of_an_invalid_report() {
    let h = read_str(STALE, "stale.jsonl", Format::Auto).unwrap();
    let r = check(&h, "cas-register");
    let mut r = r;
    r["stats"]["check_seconds"] = json!(0.0);
    r["stats"]["linearizability"] = json!({});
    insta::assert_snapshot!(outline(&report(&h, &r, Some(&etcd_test()))));
}

#[test]
fn golden_outline_of_a_cycle() {
    let h = read_str(G_SINGLE, "g-single.jsonl", Format::Auto).unwrap();
    let mut r = check(&h, "list-append");
    r["stats"] = json!({});
    insta::assert_snapshot!(outline(&report(&h, &r, None)));
}

const SET_LOST: &str = include_str!("../../../examples/histories/set-lost-add.jsonl");

#[test]
fn a_lost_add_is_marked_on_the_set_plot() {
    let h = read_str(SET_LOST, "set.jsonl", Format::Auto).unwrap();
    let r = check(&h, "set");
    assert_eq!(r["valid"], json!(false));
    let html = report(&h, &r, None);
    let at = html.find("Set: each add").expect("the set plot");
    let plot = &html[at..at + html[at..].find("</svg>").unwrap()];
    assert!(plot.contains("acknowledged, LOST (1)"), "{plot}");
    assert!(plot.contains("acknowledged, read (2)"));
    // One visible mark per add: a vertical stroke (a polyline), not an empty rectangle.
    let marks = plot.matches("<polyline").count();
    assert!(marks >= 3, "{marks} marks");
}

#[test]
fn nothing_to_check_is_said_and_nothing_is_plotted() {
    let h = read_str("[]", "empty.json", Format::Auto).unwrap();
    let r = check(&h, "cas-register");
    let html = report(&h, &r, None);
    assert!(
        html.contains("Valid only because there was nothing to check"),
        "{html}"
    );
    assert!(html.contains("nothing to plot"));
    assert!(!html.contains(r#"id="timeline""#));
}

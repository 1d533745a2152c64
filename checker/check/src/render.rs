//! The human summary of a result, rendered from its JSON form.
//!
//! It works on the JSON contract (what `labrys check --json` prints and what a run folder's
//! `results.json` holds), so `labrys check`, `labrys test` and `labrys analyze` print the same
//! words for the same verdict, whether the result was just computed or read back from disk.

use serde_json::Value;
use std::fmt::Write;

/// How many anomalies of `kind` there are: checkers list a capped number and count the rest
/// in `stats` (`<kind>_unlisted`, or `anomaly_counts.<kind>`).
fn total_of(r: &Value, kind: &str, listed: usize) -> u64 {
    let stats = r.get("stats");
    let counted = stats
        .and_then(|s| s.get("anomaly_counts"))
        .and_then(|c| c.get(kind))
        .and_then(Value::as_u64);
    let unlisted = stats
        .and_then(|s| s.get(format!("{kind}_unlisted")))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    counted.unwrap_or(0).max(listed as u64 + unlisted)
}

/// Verdict line, first explanation of each anomaly, models ruled out, and warnings. `name` is
/// the file or run the result is about. With `lint_only`, only the warnings.
pub fn text(name: &str, r: &Value, lint_only: bool) -> String {
    let mut s = String::new();
    let workload = r.get("workload").and_then(Value::as_str).unwrap_or("?");
    let ops = r
        .pointer("/stats/ops/total")
        .map(|t| {
            let n = |k: &str| t.get(k).and_then(Value::as_u64).unwrap_or(0);
            format!(
                "{} operations: {} ok, {} fail, {} info",
                n("ok") + n("fail") + n("info"),
                n("ok"),
                n("fail"),
                n("info")
            )
        })
        .unwrap_or_default();
    let warnings = r
        .get("warnings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if lint_only {
        let _ = writeln!(
            s,
            "{name}: {} lint warning(s) ({workload}; {ops})",
            warnings.len()
        );
    } else {
        let verdict = match r.get("valid") {
            Some(Value::Bool(true)) => "VALID",
            Some(Value::Bool(false)) => "INVALID",
            _ => "UNKNOWN",
        };
        let took = r
            .pointer("/stats/check_seconds")
            .and_then(Value::as_f64)
            .map(|t| format!("checked in {t:.2}s"))
            .unwrap_or_default();
        let about: Vec<&str> = [workload, &ops, &took]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        let _ = writeln!(s, "{name}: {verdict} ({})", about.join("; "));
        if let Some(q) = r.pointer("/stats/longest_without_ok") {
            let f = |k: &str| q.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            let _ = writeln!(
                s,
                "  longest stretch without an ok op: {:.1} s of the {:.1} s main phase ({:.1} s to {:.1} s)",
                f("seconds"),
                f("main_phase_s"),
                f("from_s"),
                f("to_s")
            );
        }
        for key in ["unknown_reason", "error"] {
            if let Some(why) = r.get(key).and_then(Value::as_str) {
                let _ = writeln!(s, "  could not decide: {why}");
            }
        }
        if let Some(anomalies) = r.get("anomalies").and_then(Value::as_object) {
            for (kind, list) in anomalies {
                let list = list.as_array().map(Vec::as_slice).unwrap_or(&[]);
                let Some(first) = list.first() else { continue };
                let total = total_of(r, kind, list.len());
                let more = if total > 1 {
                    format!(" (1 of {total})")
                } else {
                    String::new()
                };
                let _ = writeln!(s, "\n  {kind}{more}:");
                let explanation = first
                    .get("explanation")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                for line in explanation.lines() {
                    let _ = writeln!(s, "    {line}");
                }
            }
        }
        let not: Vec<&str> = r
            .get("not")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !not.is_empty() {
            let _ = writeln!(s, "\n  ruled out: {}", not.join(", "));
        }
    }
    if !warnings.is_empty() {
        let _ = writeln!(
            s,
            "\n  warnings (the history, or the test that made it, looks suspect):"
        );
        for w in &warnings {
            let field = |k: &str| {
                w.get(k)
                    .map(|v| v.to_string().trim_matches('"').to_string())
            };
            // A warning about the whole history has line 0: no line to name.
            let at = match field("line").filter(|l| l != "0" && !l.is_empty()) {
                Some(l) => format!(" line {l}"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "    [{}]{at}: {}",
                field("kind").unwrap_or_default(),
                w.get("message").and_then(Value::as_str).unwrap_or("")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_include_anomalies_the_checker_did_not_list() {
        let r = serde_json::json!({
            "workload": "bank", "valid": false, "not": [],
            "anomalies": {"wrong-total": [{"explanation": "read 1 sums to 110"}, {"explanation": "x"}]},
            "stats": {"wrong-total_unlisted": 5}
        });
        let t = text("h.edn", &r, false);
        assert!(t.contains("h.edn: INVALID (bank"), "{t}");
        assert!(
            t.contains("wrong-total (1 of 7):\n    read 1 sums to 110"),
            "{t}"
        );
        let r = serde_json::json!({
            "valid": false,
            "anomalies": {"G0": [{"explanation": "cycle"}]},
            "stats": {"anomaly_counts": {"G0": 40}}
        });
        assert!(text("h", &r, false).contains("G0 (1 of 40)"));
        let r = serde_json::json!({"valid": true, "anomalies": {}, "stats": {}});
        assert!(text("h", &r, false).starts_with("h: VALID"));
        // A result with no op counts (reading stopped at the memory limit) has no empty part.
        let r = serde_json::json!({"workload": "register", "valid": "unknown",
            "unknown_reason": "h:2:1: too large", "stats": {"check_seconds": 0.5}});
        let t = text("h", &r, false);
        assert!(
            t.starts_with("h: UNKNOWN (register; checked in 0.50s)\n"),
            "{t}"
        );
    }

    #[test]
    fn a_run_says_how_long_it_went_without_an_ok_op_and_warns_when_most_of_it_did() {
        let r = serde_json::json!({
            "workload": "kv", "valid": true, "anomalies": {}, "not": [],
            "stats": {"longest_without_ok": {"seconds": 52.4, "from_s": 10.6, "to_s": 63.0, "main_phase_s": 62.9}},
            "warnings": [{"kind": "no-progress", "line": 812, "message": "no client operation succeeded for 52.4 s"}]
        });
        let t = text("run", &r, false);
        assert!(
            t.starts_with("run: VALID (kv)\n  longest stretch without an ok op: 52.4 s of the 62.9 s main phase (10.6 s to 63.0 s)\n"),
            "{t}"
        );
        assert!(
            t.contains("[no-progress] line 812: no client operation succeeded for 52.4 s"),
            "{t}"
        );
        // `labrys check` results have no such entry and print no such line.
        let r = serde_json::json!({"valid": true, "anomalies": {}, "stats": {}});
        assert!(!text("h", &r, false).contains("longest stretch"));
    }
}

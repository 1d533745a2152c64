//! JUnit XML for CI: labrys's verdicts as the test report every CI system already displays.
//!
//! CI servers gate on exit codes and show JUnit XML; neither knows labrys's four outcomes, so
//! this module maps them onto JUnit's: valid → passed, invalid → `<failure type="invalid">`,
//! unknown → `<skipped type="unknown">` (or `<failure type="unknown">` under
//! `--fail-on unknown`, so that the report agrees with the exit code), error (nothing could be
//! decided: an unreadable file, a run that failed) → `<error>`, and a matrix combination a
//! database cannot run → `<skipped>`. `labrys check` makes one testcase per history file,
//! `labrys test` one for its run, `labrys test-all` one per cell of its matrix.
//!
//! A failure's `message` is one line for the CI's list view (the anomaly types and the weakest
//! models they rule out); its text is the human summary the command printed, explanations
//! included, so a reader sees why without opening the run folder. Properties carry what a
//! dashboard filters by (workload, database, seed, run folder, verdict).
//!
//! The file is written atomically (a temporary file renamed into place): a CI step reading it
//! never sees half a report, and `test-all`, which rewrites it after every run so that an
//! interrupted matrix still leaves one, replaces it whole each time.

use crate::matrix::Row;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::Value as J;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which verdicts fail a CI gate (`--fail-on`). Errors and invalid verdicts always do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailOn {
    /// Only invalid verdicts fail; unknown ones keep exit 2 and are JUnit `<skipped>`.
    #[default]
    Invalid,
    /// Unknown verdicts fail too: exit 1 instead of 2, and a JUnit `<failure type="unknown">`.
    Unknown,
}

impl FailOn {
    /// The values `--fail-on` takes.
    pub const NAMES: [&'static str; 2] = ["invalid", "unknown"];

    /// The exit code a command ends with: `code` (0 valid, 1 invalid, 2 unknown, 3 error),
    /// with unknown made invalid under `--fail-on unknown`.
    pub fn exit_code(self, code: u8) -> u8 {
        match (self, code) {
            (FailOn::Unknown, 2) => 1,
            (_, c) => c,
        }
    }
}

impl std::str::FromStr for FailOn {
    type Err = JunitError;

    fn from_str(s: &str) -> Result<FailOn, JunitError> {
        match s {
            "invalid" => Ok(FailOn::Invalid),
            "unknown" => Ok(FailOn::Unknown),
            _ => Err(JunitError::FailOn(s.to_string())),
        }
    }
}

/// Why a report could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("--fail-on {0:?}: expected invalid or unknown")]
    FailOn(String),
    #[error("cannot serialise the JUnit report: {0}")]
    Serialize(#[from] quick_junit::SerializeError),
    #[error("JUnit file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JunitError + '_ {
    move |source| JunitError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What one history file or run came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// `message` is one line; `details` the human summary (explanations of the anomalies).
    Invalid {
        message: String,
        details: String,
    },
    Unknown {
        reason: String,
        details: String,
    },
    /// Nothing could be decided (exit 3).
    Error {
        message: String,
        details: String,
    },
    /// Not run at all: a matrix combination the database cannot run.
    Skipped {
        reason: String,
    },
}

impl Verdict {
    /// The word of the `verdict` property.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid { .. } => "invalid",
            Verdict::Unknown { .. } => "unknown",
            Verdict::Error { .. } => "error",
            Verdict::Skipped { .. } => "skipped",
        }
    }
}

/// One testcase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The history file, or the run (`postgres-bank-serializable partition+kill`).
    pub name: String,
    /// `labrys.check.<workload>` or `labrys.<db>.<workload>`.
    pub classname: String,
    pub time: Option<Duration>,
    pub verdict: Verdict,
    /// Name and value pairs; a `verdict` property is added from [`Case::verdict`].
    pub properties: Vec<(String, String)>,
    pub system_out: Option<String>,
}

/// One testsuite: a command's testcases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suite {
    /// `labrys check --workload W`, `labrys test <test>`, `labrys test-all`.
    pub name: String,
    pub properties: Vec<(String, String)>,
    pub time: Option<Duration>,
    pub system_out: Option<String>,
    pub cases: Vec<Case>,
}

/// The first line of `s`, trimmed: a JUnit message is shown as a title.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

fn status(v: &Verdict, fail_on: FailOn) -> TestCaseStatus {
    let with = |mut st: TestCaseStatus, ty: &str, message: &str, details: &str| {
        let message = one_line(message);
        // A one-line error needs no text repeating its message.
        if !details.trim().is_empty() && details.trim() != message {
            st.set_description(details);
        }
        st.set_type(ty).set_message(message);
        st
    };
    match v {
        Verdict::Valid => TestCaseStatus::success(),
        Verdict::Invalid { message, details } => with(
            TestCaseStatus::non_success(NonSuccessKind::Failure),
            "invalid",
            message,
            details,
        ),
        Verdict::Unknown { reason, details } => with(
            match fail_on {
                FailOn::Unknown => TestCaseStatus::non_success(NonSuccessKind::Failure),
                FailOn::Invalid => TestCaseStatus::skipped(),
            },
            "unknown",
            &format!("unknown: {}", one_line(reason)),
            details,
        ),
        Verdict::Error { message, details } => with(
            TestCaseStatus::non_success(NonSuccessKind::Error),
            "error",
            message,
            details,
        ),
        Verdict::Skipped { reason } => with(TestCaseStatus::skipped(), "not-run", reason, reason),
    }
}

fn props(p: &[(String, String)]) -> impl Iterator<Item = Property> + '_ {
    p.iter().map(|(k, v)| Property::new(k.as_str(), v.as_str()))
}

/// The report of one suite, verdicts mapped under `fail_on`.
pub fn report(suite: &Suite, fail_on: FailOn) -> Report {
    let mut ts = TestSuite::new(suite.name.as_str());
    ts.add_properties(props(&suite.properties));
    if let Some(t) = suite.time {
        ts.set_time(t);
    }
    if let Some(o) = &suite.system_out {
        ts.set_system_out(o.as_str());
    }
    for c in &suite.cases {
        let mut tc = TestCase::new(c.name.as_str(), status(&c.verdict, fail_on));
        tc.set_classname(c.classname.as_str());
        if let Some(t) = c.time {
            tc.set_time(t);
        }
        tc.add_properties(props(&c.properties));
        tc.add_property(Property::new("verdict", c.verdict.word()));
        if let Some(o) = &c.system_out {
            tc.set_system_out(o.as_str());
        }
        ts.add_test_case(tc);
    }
    let mut r = Report::new("labrys");
    if let Some(t) = suite.time {
        r.set_time(t);
    }
    r.add_test_suite(ts);
    r
}

/// Writes the report of `suite` to `path` atomically (creating its folder if needed).
pub fn write(path: &Path, suite: &Suite, fail_on: FailOn) -> Result<(), JunitError> {
    let xml = report(suite, fail_on).to_string()?;
    write_atomic(path, xml.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JunitError> {
    let name = path.file_name().ok_or_else(|| {
        io(path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "expected a file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let renamed = written
        .map_err(io(&tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(io(path)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

fn strings(r: &J, key: &str) -> Vec<String> {
    r.get(key)
        .and_then(J::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The models of `not` (closed upwards) that imply no other model in it: the weakest ones a
/// history rules out, which say the most (`read-committed` rather than twenty stronger ones).
pub fn weakest_models(not: &[String]) -> Vec<String> {
    not.iter()
        .filter(|m| {
            labrys_txn::model::implied_models(&[m.as_str()])
                .iter()
                .all(|x| x == *m || !not.contains(x))
        })
        .cloned()
        .collect()
}

/// The one-line message of an invalid result in its JSON form: `invalid: G1c, G-single (not
/// read-committed or stronger)`; for a lint run, `invalid (lint): ` and its warnings' kinds.
pub fn invalid_message(r: &J) -> String {
    let types = strings(r, "anomaly_types");
    let mut s = String::from("invalid");
    if !types.is_empty() {
        s.push_str(&format!(": {}", types.join(", ")));
    } else {
        // Only `--lint` calls a history invalid for its warnings alone.
        let mut kinds: Vec<&str> = Vec::new();
        for w in r
            .get("warnings")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = w.get("kind").and_then(J::as_str) {
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
        }
        if !kinds.is_empty() {
            s.push_str(&format!(" (lint): {}", kinds.join(", ")));
        }
    }
    let weakest = weakest_models(&strings(r, "not"));
    if !weakest.is_empty() {
        s.push_str(&format!(" (not {} or stronger)", weakest.join(", ")));
    }
    if let Some(why) = r.get("incomplete").and_then(J::as_str) {
        s.push_str(&format!("; incomplete: {}", one_line(why)));
    }
    s
}

/// The verdict of a result in its JSON form (`labrys check --json`'s objects, a run's
/// `results.json`), with the human summary `labrys check` prints for it as details. `name` is
/// the file or run the result is about.
pub fn verdict_of_result(name: &str, r: &J, lint_only: bool) -> Verdict {
    let details = labrys_check::render::text(name, r, lint_only);
    match r.get("valid") {
        Some(J::Bool(true)) => Verdict::Valid,
        Some(J::Bool(false)) => Verdict::Invalid {
            message: invalid_message(r),
            details,
        },
        _ => match r.get("error").and_then(J::as_str) {
            Some(e) => Verdict::Error {
                message: e.to_string(),
                details,
            },
            None => Verdict::Unknown {
                reason: r
                    .get("unknown_reason")
                    .and_then(J::as_str)
                    .unwrap_or("no reason given")
                    .to_string(),
                details,
            },
        },
    }
}

/// A run's testcase name: `etcd-register partition+kill`, `postgres-bank-serializable none`.
pub fn run_name(db: &str, workload: &str, isolation: Option<&str>, nemesis: &str) -> String {
    match isolation.filter(|i| !i.is_empty() && *i != "-") {
        Some(i) => format!("{db}-{workload}-{i} {nemesis}"),
        None => format!("{db}-{workload} {nemesis}"),
    }
}

/// A run's testcase class name: `labrys.<db>.<workload>`.
pub fn run_classname(db: &str, workload: &str) -> String {
    format!("labrys.{db}.{workload}")
}

/// Where a run's files are: its folder and its report.
pub fn run_paths(dir: &Path) -> String {
    format!(
        "run folder: {}\nreport: {}\n",
        dir.display(),
        dir.join("report.html").display()
    )
}

/// The testcase of one run (`labrys test`, or a cell of `labrys test-all`'s matrix), from its
/// summary row and, when the run has one, its folder's `results.json`. `seed` is the run's.
pub fn case_of_row(row: &Row, seed: u64) -> Case {
    let results: Option<J> = row
        .run_dir
        .as_ref()
        .and_then(|d| serde_json::from_slice(&std::fs::read(d.join("results.json")).ok()?).ok());
    let checked = results.as_ref().filter(|r| r.get("anomalies").is_some());
    let human = checked.zip(row.run_dir.as_ref()).map(|(r, d)| {
        labrys_check::render::text(&d.join("history.jsonl").display().to_string(), r, false)
    });
    let details = || human.clone().unwrap_or_else(|| row.note.clone());
    let verdict = match row.verdict.as_str() {
        "valid" => Verdict::Valid,
        "invalid" => Verdict::Invalid {
            message: invalid_message(&checked.cloned().unwrap_or_else(
                || serde_json::json!({"anomaly_types": row.anomaly_types, "not": row.not}),
            )),
            details: details(),
        },
        "unknown" => Verdict::Unknown {
            reason: checked
                .and_then(|r| r.get("unknown_reason")?.as_str().map(str::to_string))
                .unwrap_or_else(|| row.note.clone()),
            details: details(),
        },
        "skipped" => Verdict::Skipped {
            reason: row.note.clone(),
        },
        _ => Verdict::Error {
            message: row.note.clone(),
            details: match &human {
                // An interrupted or failed run whose history so far was checked.
                Some(h) => format!("{}\n\n{h}", row.note),
                None => row.note.clone(),
            },
        },
    };
    let mut properties = vec![
        ("db".to_string(), row.db.clone()),
        ("workload".to_string(), row.workload.clone()),
    ];
    let mut add = |k: &str, v: String| {
        if !v.is_empty() && v != "-" {
            properties.push((k.to_string(), v));
        }
    };
    add("version", row.version.clone());
    add("isolation", row.isolation.clone());
    add("nemesis", row.nemesis.clone());
    if row.verdict != "skipped" {
        add("seed", seed.to_string());
        add("ops", row.ops.to_string());
    }
    add(
        "run-dir",
        row.run_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    );
    add(
        "exit-code",
        row.exit_code.map(|c| c.to_string()).unwrap_or_default(),
    );
    let mut out = row.run_dir.as_deref().map(run_paths);
    // A passed case has no failure text: its summary (op counts, warnings) goes here.
    if let (Verdict::Valid, Some(out), Some(h)) = (&verdict, out.as_mut(), &human) {
        out.push('\n');
        out.push_str(h);
    }
    Case {
        name: run_name(&row.db, &row.workload, Some(&row.isolation), &row.nemesis),
        classname: run_classname(&row.db, &row.workload),
        time: (row.verdict != "skipped").then_some(row.elapsed),
        verdict,
        properties,
        system_out: out,
    }
}

/// The suite of a `test-all` matrix: one testcase per row, in matrix order. `seed` is every
/// run's; `summary_dir` the folder of `summary.md`, once it is written.
pub fn matrix_suite(rows: &[Row], seed: u64, summary_dir: Option<&Path>) -> Suite {
    Suite {
        name: "labrys test-all".into(),
        properties: vec![("seed".into(), seed.to_string())],
        time: Some(rows.iter().map(|r| r.elapsed).sum()),
        system_out: summary_dir.map(|d| format!("summary: {}\n", d.join("summary.md").display())),
        cases: rows.iter().map(|r| case_of_row(r, seed)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parses `xml` with a real XML parser and returns the testsuite's counts
    /// (tests, failures, errors, skipped), checking the root's agree.
    fn counts(xml: &str) -> (usize, usize, usize, usize) {
        let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let suite = root
            .children()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        let n = |node: roxmltree::Node, a: &str| node.attribute(a).unwrap().parse().unwrap();
        let c = (
            n(suite, "tests"),
            n(suite, "failures"),
            n(suite, "errors"),
            n(suite, "skipped"),
        );
        assert_eq!(
            c,
            (
                n(root, "tests"),
                n(root, "failures"),
                n(root, "errors"),
                n(root, "skipped")
            )
        );
        // The counts are the testcases' own children, not just attributes.
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), c.0);
        let with = |tag: &str| {
            cases
                .iter()
                .filter(|t| t.children().any(|x| x.has_tag_name(tag)))
                .count()
        };
        assert_eq!(
            (with("failure"), with("error"), with("skipped")),
            (c.1, c.2, c.3)
        );
        c
    }

    fn row(verdict: &str, code: Option<u8>, run_dir: Option<PathBuf>, note: &str) -> Row {
        Row {
            db: "postgres".into(),
            version: "PostgreSQL 15.8".into(),
            workload: "list-append".into(),
            isolation: "serializable".into(),
            nemesis: "partition+kill".into(),
            ops: 1200,
            verdict: verdict.into(),
            anomaly_types: Vec::new(),
            not: Vec::new(),
            run_dir,
            note: note.into(),
            exit_code: code,
            elapsed: Duration::from_millis(61_500),
        }
    }

    /// A run folder whose `results.json` is `r`.
    fn run_with(dir: &Path, name: &str, r: &J) -> PathBuf {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("results.json"), r.to_string()).unwrap();
        d
    }

    #[test]
    fn a_matrix_of_every_outcome_maps_onto_junit_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let g1c = json!({
            "workload": "list-append", "valid": false,
            "anomaly_types": ["G1c", "G-single"],
            "not": ["read-committed", "repeatable-read", "serializable", "strict-serializable",
                    "consistent-view", "snapshot-isolation"],
            "anomalies": {
                "G1c": [{"explanation": "T1 < T0 < T1: a transaction precedes itself"}],
                "G-single": [{"explanation": "T2 missed T3's append"}, {"explanation": "second"}],
            },
            "stats": {"ops": {"total": {"ok": 10, "fail": 0, "info": 1}}},
        });
        let unknown = json!({
            "workload": "list-append", "valid": "unknown", "anomalies": {},
            "unknown_reason": "out of time after 600 s (--check-timeout)", "stats": {},
        });
        let valid = json!({"workload": "list-append", "valid": true, "anomalies": {},
            "anomaly_types": [], "not": [], "stats": {}, "warnings": [
                {"kind": "no-progress", "line": 9, "message": "no client operation succeeded"}]});
        let mut invalid_row = row(
            "invalid",
            Some(1),
            Some(run_with(tmp.path(), "invalid", &g1c)),
            "INVALID (G1c, G-single)",
        );
        invalid_row.anomaly_types = vec!["G1c".into(), "G-single".into()];
        let rows = vec![
            row(
                "valid",
                Some(0),
                Some(run_with(tmp.path(), "valid", &valid)),
                "valid",
            ),
            invalid_row,
            row(
                "unknown",
                Some(2),
                Some(run_with(tmp.path(), "unknown", &unknown)),
                "unknown (out of time)",
            ),
            row(
                "error",
                Some(3),
                Some(tmp.path().join("failed")),
                "cannot reach n1 (nosuchhost.invalid): no such host\nmore",
            ),
            row("skipped", None, None, "kv does not run bank"),
        ];
        let suite = matrix_suite(&rows, 42, Some(Path::new("store/test-all/x")));
        let path = tmp.path().join("reports/junit.xml");
        write(&path, &suite, FailOn::Invalid).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert_eq!(counts(&xml), (5, 1, 1, 2), "{xml}");
        // Nothing but the report is left beside it.
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("reports"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["junit.xml"]);

        let doc = roxmltree::Document::parse(&xml).unwrap();
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let prop = |c: &roxmltree::Node, k: &str| {
            c.descendants()
                .find(|p| p.has_tag_name("property") && p.attribute("name") == Some(k))
                .and_then(|p| p.attribute("value"))
                .map(str::to_string)
        };
        assert_eq!(
            cases[1].attribute("name"),
            Some("postgres-list-append-serializable partition+kill")
        );
        assert_eq!(
            cases[1].attribute("classname"),
            Some("labrys.postgres.list-append")
        );
        assert_eq!(cases[1].attribute("time"), Some("61.500"));
        assert_eq!(prop(&cases[1], "seed").as_deref(), Some("42"));
        assert_eq!(prop(&cases[1], "verdict").as_deref(), Some("invalid"));
        assert_eq!(
            prop(&cases[1], "isolation").as_deref(),
            Some("serializable")
        );
        assert_eq!(prop(&cases[4], "verdict").as_deref(), Some("skipped"));
        assert_eq!(prop(&cases[4], "seed"), None);
        let failure = cases[1]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        // The weakest model ruled out, not all six.
        assert_eq!(
            failure.attribute("message"),
            Some("invalid: G1c, G-single (not read-committed or stronger)")
        );
        assert_eq!(failure.attribute("type"), Some("invalid"));
        let text = failure.text().unwrap();
        assert!(
            text.contains("T1 < T0 < T1: a transaction precedes itself"),
            "{text}"
        );
        assert!(text.contains("G-single (1 of 2)"), "{text}");
        let out = |c: &roxmltree::Node| {
            c.children()
                .find(|n| n.has_tag_name("system-out"))
                .and_then(|n| n.text())
                .unwrap_or("")
                .to_string()
        };
        let run = tmp.path().join("invalid");
        assert!(
            out(&cases[1]).contains(&format!("report: {}", run.join("report.html").display())),
            "{}",
            out(&cases[1])
        );
        // A passed run's summary (its warning) is in its system-out.
        assert!(
            out(&cases[0]).contains("[no-progress] line 9"),
            "{}",
            out(&cases[0])
        );
        let skipped = cases[2]
            .children()
            .find(|n| n.has_tag_name("skipped"))
            .unwrap();
        assert_eq!(
            skipped.attribute("message"),
            Some("unknown: out of time after 600 s (--check-timeout)")
        );
        let error = cases[3]
            .children()
            .find(|n| n.has_tag_name("error"))
            .unwrap();
        assert_eq!(
            error.attribute("message"),
            Some("cannot reach n1 (nosuchhost.invalid): no such host")
        );
        assert!(error.text().unwrap().contains("more"));
        let suite_out = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .and_then(|s| s.children().find(|n| n.has_tag_name("system-out")))
            .and_then(|n| n.text())
            .unwrap();
        assert_eq!(suite_out.trim(), "summary: store/test-all/x/summary.md");

        // Under --fail-on unknown the unknown run is a failure of type unknown.
        write(&path, &suite, FailOn::Unknown).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert_eq!(counts(&xml), (5, 2, 1, 1), "{xml}");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure = doc
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .find(|n| n.attribute("type") == Some("unknown"))
            .unwrap();
        assert!(failure
            .attribute("message")
            .unwrap()
            .starts_with("unknown: out of time"));
    }

    #[test]
    fn fail_on_turns_only_unknown_into_invalid() {
        for (code, invalid, unknown) in [(0, 0, 0), (1, 1, 1), (2, 2, 1), (3, 3, 3)] {
            assert_eq!(FailOn::Invalid.exit_code(code), invalid);
            assert_eq!(FailOn::Unknown.exit_code(code), unknown);
        }
        assert_eq!("unknown".parse::<FailOn>().unwrap(), FailOn::Unknown);
        assert_eq!(
            "maybe".parse::<FailOn>().unwrap_err().to_string(),
            "--fail-on \"maybe\": expected invalid or unknown"
        );
    }

    #[test]
    fn messages_name_the_weakest_models_ruled_out() {
        let not = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            weakest_models(&not(&["linearizable", "strict-serializable"])),
            ["linearizable"]
        );
        assert_eq!(
            invalid_message(&json!({"anomaly_types": ["wrong-total"], "not": []})),
            "invalid: wrong-total"
        );
        assert_eq!(
            invalid_message(&json!({"anomaly_types": [], "warnings": [
                {"kind": "fail-then-read"}, {"kind": "reused-value"}, {"kind": "fail-then-read"}]})),
            "invalid (lint): fail-then-read, reused-value"
        );
        assert_eq!(
            invalid_message(&json!({"anomaly_types": ["linearizability"],
                "not": ["linearizable", "strict-serializable"], "incomplete": "interrupted by SIGINT"})),
            "invalid: linearizability (not linearizable or stronger); incomplete: interrupted by SIGINT"
        );
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let e = write(&file.join("junit.xml"), &Suite::default(), FailOn::Invalid).unwrap_err();
        assert!(e.to_string().starts_with("JUnit file "), "{e}");
        assert!(e.to_string().contains("a-file"), "{e}");
    }
}

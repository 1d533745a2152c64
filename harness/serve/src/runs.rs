//! What the store holds: test runs and matrix summaries, read from the files they left.
//!
//! A run is a folder `store/<test>/<timestamp>/` with a `test.json`; a matrix summary is a
//! folder (`store/test-all/<timestamp>/`) with a `summary.json` or `summary.md`. Nothing else
//! is indexed, and links (`latest`) are skipped so a run appears once. The store is scanned
//! afresh for every page: runs come and go while tests run, and a scan reads two small JSON
//! files per run. `results.json` is read through a typed view that skips what the index does
//! not show (anomaly explanations can be large) without building it in memory.
//!
//! The verdict follows `labrys analyze`: an invalid history is invalid even when the test was
//! cut short; otherwise a run whose `results.json` says `incomplete`, or whose `test.json` has
//! no `end` (its harness died), is incomplete; a run without `results.json` has no result yet.

use labrys_store::run_dir::{HISTORY, LOG, RESULTS, TEST};
use serde::Deserialize;
use serde_json::Value as J;
use std::path::Path;

/// The report another tool writes into a run folder, linked when present.
pub const REPORT: &str = "report.html";
pub const SUMMARY_JSON: &str = "summary.json";
pub const SUMMARY_MD: &str = "summary.md";

/// A run's verdict as the index shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Valid,
    Invalid,
    Unknown,
    Incomplete,
    NoResult,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Valid,
        Verdict::Invalid,
        Verdict::Unknown,
        Verdict::Incomplete,
        Verdict::NoResult,
    ];

    /// The name in URLs and CSS classes.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
            Verdict::Incomplete => "incomplete",
            Verdict::NoResult => "no-result",
        }
    }

    /// The words on the badge.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::NoResult => "no result",
            v => v.key(),
        }
    }
}

/// A link to a file or folder, by name.
#[derive(Clone, Debug)]
pub struct Link {
    pub name: String,
    pub href: String,
}

/// One run, as a row of the index.
#[derive(Clone, Debug)]
pub struct Run {
    pub test: String,
    pub folder: String,
    /// The run folder's listing page.
    pub href: String,
    pub time: String,
    pub db: String,
    pub workload: String,
    pub isolation: String,
    pub nemesis: String,
    pub duration: String,
    pub verdict: Verdict,
    /// Why the run is incomplete, the checker's error, or what could not be read.
    pub note: String,
    pub anomaly_types: Vec<String>,
    pub ops: Option<u64>,
    pub report: Option<String>,
    /// The run's own files that exist (history, results, test, log).
    pub files: Vec<Link>,
    /// Sub-folders (one per node: `n1/`, ...).
    pub nodes: Vec<Link>,
}

impl Run {
    pub fn ops_text(&self) -> String {
        self.ops
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into())
    }
}

/// One `test-all` summary folder.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub folder: String,
    pub href: String,
    pub time: String,
    pub runs: usize,
    /// "3 valid, 1 invalid, 2 skipped".
    pub counts: String,
    pub exit_code: String,
    pub files: Vec<Link>,
    pub note: String,
}

/// One row of a `summary.json`, for the summary folder's page.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct MatrixRow {
    pub db: String,
    pub version: String,
    pub workload: String,
    pub isolation: String,
    pub nemesis: String,
    pub ops: u64,
    pub verdict: String,
    pub anomaly_types: Vec<String>,
    pub not: Vec<String>,
    pub run_dir: String,
    pub note: String,
}

impl MatrixRow {
    /// The run folder's listing page, when `run-dir` is a plain path inside the store.
    pub fn run_href(&self) -> Option<String> {
        let p = Path::new(&self.run_dir);
        let names: Option<Vec<&std::ffi::OsStr>> = p
            .components()
            .map(|c| match c {
                std::path::Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        match names {
            Some(n) if !n.is_empty() => Some(crate::paths::href(&n, true)),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct SummaryJson {
    #[serde(rename = "exit-code")]
    exit_code: Option<J>,
    #[serde(default)]
    runs: Vec<MatrixRow>,
}

/// Everything the index lists.
#[derive(Debug, Default)]
pub struct Scan {
    /// Newest first within a test; tests in name order.
    pub runs: Vec<Run>,
    /// Newest first.
    pub matrices: Vec<Matrix>,
}

/// Reads the store: every `<test>/<folder>/` that is a run or a matrix summary.
pub fn scan(root: &Path) -> Scan {
    let mut out = Scan::default();
    for (test, test_dir) in subdirs(root) {
        for (folder, dir) in subdirs(&test_dir) {
            if store_file(root, &dir.join(TEST)) {
                out.runs.push(read_run(root, &dir, &test, &folder));
            } else if store_file(root, &dir.join(SUMMARY_JSON))
                || store_file(root, &dir.join(SUMMARY_MD))
            {
                out.matrices.push(read_matrix(root, &dir, &test, &folder));
            }
        }
    }
    out.runs
        .sort_by(|a, b| a.test.cmp(&b.test).then(b.folder.cmp(&a.folder)));
    out.matrices.sort_by(|a, b| b.folder.cmp(&a.folder));
    out
}

/// `path` is a file, and inside the store (`root`, canonical) once its links are followed.
pub fn store_file(root: &Path, path: &Path) -> bool {
    path.is_file() && crate::paths::inside(root, path)
}

/// Opens a file of the store: one that a link takes out of the store is not read.
fn open_in(root: &Path, path: &Path) -> std::io::Result<std::fs::File> {
    let real = path.canonicalize()?;
    if !real.starts_with(root) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "a link out of the store: not read",
        ));
    }
    std::fs::File::open(real)
}

/// Real sub-folders of `dir` (not links, not hidden), by name.
fn subdirs(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (!name.starts_with('.')).then(|| (name, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// The parts of `results.json` the index shows; the rest is skipped while parsing.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ResultsHead {
    valid: Option<J>,
    incomplete: Option<String>,
    error: Option<String>,
    anomaly_types: Option<J>,
    ops: Option<u64>,
    stats: Option<StatsHead>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatsHead {
    ops: Option<J>,
}

fn read_results(root: &Path, path: &Path) -> Result<Option<ResultsHead>, String> {
    let f = match open_in(root, path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{RESULTS}: {e}")),
    };
    serde_json::from_reader(std::io::BufReader::new(f))
        .map(Some)
        .map_err(|e| format!("{RESULTS} unreadable: {e}"))
}

fn read_small_json(root: &Path, path: &Path) -> Result<J, String> {
    use std::io::Read;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut text = Vec::new();
    open_in(root, path)
        .and_then(|mut f| f.read_to_end(&mut text))
        .map_err(|e| format!("{name}: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("{name} unreadable: {e}"))
}

fn string_list(v: Option<&J>) -> Vec<String> {
    match v {
        Some(J::Array(a)) => a
            .iter()
            .map(|x| match x {
                J::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(J::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Reads one run folder. Never fails: what cannot be read is said in `note`.
/// `root` is the store's canonical root: no file outside it is read.
pub fn read_run(root: &Path, dir: &Path, test: &str, folder: &str) -> Run {
    let mut notes = Vec::new();
    let test_json = read_small_json(root, &dir.join(TEST))
        .map_err(|e| notes.push(e))
        .ok();
    let results = read_results(root, &dir.join(RESULTS)).unwrap_or_else(|e| {
        notes.push(e);
        None
    });
    let t = |k: &str| test_json.as_ref().and_then(|t| t.get(k));
    let text = |k: &str, none: &str| match t(k) {
        Some(J::String(s)) if !s.is_empty() => s.clone(),
        _ => none.to_string(),
    };
    let nemesis = match string_list(t("nemesis")) {
        v if v.is_empty() || v.iter().all(|f| f == "none") => "none".to_string(),
        v => v.join(", "),
    };
    let start = t("start").and_then(J::as_str).and_then(parse_rfc3339);
    let end = t("end").and_then(J::as_str).and_then(parse_rfc3339);
    let duration = match (start, end) {
        (Some(s), Some(e)) if e >= s => format_duration(e - s),
        _ => "-".into(),
    };
    let verdict = match &results {
        None => {
            if notes.is_empty() {
                notes.push(format!(
                    "no {RESULTS}: still running, or stopped before its check"
                ));
            }
            Verdict::NoResult
        }
        Some(r) => {
            let incomplete = r.incomplete.clone().or_else(|| match &test_json {
                Some(t) if t.get("end").is_none() => Some(
                    "the run never finished (no end in test.json): its harness was killed or \
                     the test failed early"
                        .into(),
                ),
                _ => None,
            });
            if let Some(e) = &r.error {
                notes.push(e.clone());
            }
            match (&r.valid, incomplete) {
                (Some(J::Bool(false)), why) => {
                    notes.extend(why.map(|w| format!("incomplete: {w}")));
                    Verdict::Invalid
                }
                (_, Some(why)) => {
                    notes.insert(0, why);
                    Verdict::Incomplete
                }
                (Some(J::Bool(true)), None) => Verdict::Valid,
                _ => Verdict::Unknown,
            }
        }
    };
    let ops = results.as_ref().and_then(|r| {
        let total = r.stats.as_ref()?.ops.as_ref().and_then(|o| o.get("total"));
        match total {
            Some(t) => Some(
                ["ok", "fail", "info"]
                    .iter()
                    .filter_map(|k| t.get(k).and_then(J::as_u64))
                    .sum(),
            ),
            None => r.ops,
        }
    });
    let files = [HISTORY, RESULTS, TEST, LOG]
        .iter()
        .filter(|f| store_file(root, &dir.join(f)))
        .map(|f| Link {
            name: f.to_string(),
            href: crate::paths::href(&[test, folder, f], false),
        })
        .collect();
    let nodes = subdirs(dir)
        .into_iter()
        .map(|(name, _)| Link {
            href: crate::paths::href(&[test, folder, &name], true),
            name,
        })
        .collect();
    Run {
        test: test.to_string(),
        folder: folder.to_string(),
        href: crate::paths::href(&[test, folder], true),
        time: folder_time(folder),
        db: text("db", "-"),
        workload: text("workload", "-"),
        isolation: text("isolation", "-"),
        nemesis,
        duration,
        verdict,
        note: notes.join("; "),
        anomaly_types: string_list(results.as_ref().and_then(|r| r.anomaly_types.as_ref())),
        ops,
        report: store_file(root, &dir.join(REPORT))
            .then(|| crate::paths::href(&[test, folder, REPORT], false)),
        files,
        nodes,
    }
}

/// Reads a matrix summary folder's `summary.json` rows (empty when it has none).
pub fn matrix_rows(root: &Path, dir: &Path) -> Result<(Option<J>, Vec<MatrixRow>), String> {
    let path = dir.join(SUMMARY_JSON);
    if !path.is_file() {
        return Ok((None, Vec::new()));
    }
    let f = open_in(root, &path).map_err(|e| format!("{SUMMARY_JSON}: {e}"))?;
    let s: SummaryJson = serde_json::from_reader(std::io::BufReader::new(f))
        .map_err(|e| format!("{SUMMARY_JSON} unreadable: {e}"))?;
    Ok((s.exit_code, s.runs))
}

fn read_matrix(root: &Path, dir: &Path, test: &str, folder: &str) -> Matrix {
    let (exit_code, rows, note) = match matrix_rows(root, dir) {
        Ok((code, rows)) => (code, rows, String::new()),
        Err(e) => (None, Vec::new(), e),
    };
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in &rows {
        match counts.iter_mut().find(|(v, _)| *v == r.verdict) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.verdict.clone(), 1)),
        }
    }
    let order = ["valid", "invalid", "unknown", "error", "skipped"];
    counts.sort_by_key(|(v, _)| order.iter().position(|o| o == v).unwrap_or(order.len()));
    Matrix {
        folder: folder.to_string(),
        href: crate::paths::href(&[test, folder], true),
        time: folder_time(folder),
        runs: rows.iter().filter(|r| r.verdict != "skipped").count(),
        counts: counts
            .iter()
            .map(|(v, n)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        exit_code: match exit_code {
            Some(J::Number(n)) => n.to_string(),
            _ => "-".into(),
        },
        files: [SUMMARY_MD, SUMMARY_JSON]
            .iter()
            .filter(|f| store_file(root, &dir.join(f)))
            .map(|f| Link {
                name: f.to_string(),
                href: crate::paths::href(&[test, folder, f], false),
            })
            .collect(),
        note,
    }
}

/// `20261204T083151.496Z` (a run folder's name) as `2026-12-04 08:31:51Z`; other names as
/// they are.
pub fn folder_time(folder: &str) -> String {
    let b = folder.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if digits(0..8) && b.get(8) == Some(&b'T') && digits(9..15) {
        format!(
            "{}-{}-{} {}:{}:{}Z",
            &folder[0..4],
            &folder[4..6],
            &folder[6..8],
            &folder[9..11],
            &folder[11..13],
            &folder[13..15]
        )
    } else {
        folder.to_string()
    }
}

/// Milliseconds since the epoch of `2026-12-04T08:31:51.497Z` (the form labrys writes:
/// UTC, `Z`, optional fraction).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let frac3: String = frac.chars().chain("000".chars()).take(3).collect();
    let ms: i64 = frac3.parse().ok()?;
    Some(((days_from_civil(y, m, day) * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `1m 17s`, `45.2s`, `2h 03m`.
pub fn format_duration(ms: i64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s / 60) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(folder_time("20261204T083151.496Z"), "2026-12-04 08:31:51Z");
        assert_eq!(
            folder_time("20261204T083151.496Z-1"),
            "2026-12-04 08:31:51Z"
        );
        assert_eq!(folder_time("odd"), "odd");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01.5Z"), Some(86_401_500));
        let a = parse_rfc3339("2026-12-04T08:31:51.497Z").unwrap();
        let b = parse_rfc3339("2026-12-04T08:33:09.481Z").unwrap();
        assert_eq!(format_duration(b - a), "1m 17s");
        // Across a leap day and a year end.
        let c = parse_rfc3339("2024-02-28T23:00:00Z").unwrap();
        let d = parse_rfc3339("2024-03-01T00:00:00Z").unwrap();
        assert_eq!(d - c, 25 * 3600 * 1000);
        assert_eq!(format_duration(45_200), "45.2s");
        assert_eq!(format_duration(7_380_000), "2h 03m");
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    fn run_with(test: Option<&str>, results: Option<&str>) -> Run {
        let d = tempfile::tempdir().unwrap();
        if let Some(t) = test {
            std::fs::write(d.path().join(TEST), t).unwrap();
        }
        if let Some(r) = results {
            std::fs::write(d.path().join(RESULTS), r).unwrap();
        }
        let root = d.path().canonicalize().unwrap();
        read_run(&root, &root, "t", "20261204T083151.496Z")
    }

    #[test]
    fn verdicts_follow_analyze() {
        let ended = r#"{"db":"etcd","end":"2026-12-04T08:33:09.481Z"}"#;
        let open = r#"{"db":"etcd"}"#;
        let v = |t, r| run_with(Some(t), r).verdict;
        assert_eq!(v(ended, Some(r#"{"valid":true}"#)), Verdict::Valid);
        assert_eq!(v(ended, Some(r#"{"valid":false}"#)), Verdict::Invalid);
        assert_eq!(v(ended, Some(r#"{"valid":"unknown"}"#)), Verdict::Unknown);
        assert_eq!(
            v(
                ended,
                Some(r#"{"valid":true,"incomplete":"interrupted by SIGINT"}"#)
            ),
            Verdict::Incomplete
        );
        // The history so far is already invalid: that stays the verdict.
        assert_eq!(
            v(ended, Some(r#"{"valid":false,"incomplete":"interrupted"}"#)),
            Verdict::Invalid
        );
        // A test that failed before its workload: an error, and no end.
        let failed = run_with(Some(open), Some(r#"{"valid":"unknown","error":"no sshd"}"#));
        assert_eq!(failed.verdict, Verdict::Incomplete);
        assert!(failed.note.contains("no sshd"), "{}", failed.note);
        assert_eq!(v(open, None), Verdict::NoResult);
        let bad = run_with(Some(ended), Some("{not json"));
        assert_eq!(bad.verdict, Verdict::NoResult);
        assert!(bad.note.contains("results.json unreadable"), "{}", bad.note);
    }

    #[test]
    fn files_linked_from_outside_the_store_are_not_read() {
        let outside = tempfile::tempdir().unwrap();
        let leak = outside.path().join("results.json");
        std::fs::write(&leak, r#"{"valid":false,"anomaly_types":["SECRET"]}"#).unwrap();
        let store = tempfile::tempdir().unwrap();
        let root = store.path().canonicalize().unwrap();
        let dir = root.join("t/20261204T083151.496Z");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(TEST), r#"{"db":"etcd","end":"x"}"#).unwrap();
        std::os::unix::fs::symlink(&leak, dir.join(RESULTS)).unwrap();
        let r = read_run(&root, &dir, "t", "20261204T083151.496Z");
        assert_eq!(r.verdict, Verdict::NoResult);
        assert!(r.anomaly_types.is_empty());
        assert!(r.note.contains("out of the store"), "{}", r.note);
        assert!(r.files.iter().all(|f| f.name != RESULTS));
        assert_eq!(scan(&root).runs.len(), 1);
    }

    #[test]
    fn fields_come_from_test_and_results() {
        let r = run_with(
            Some(
                r#"{"db":"postgres","workload":"list-append","isolation":"serializable",
                    "nemesis":["partition","kill"],"start":"2026-12-04T08:31:51.497Z",
                    "end":"2026-12-04T08:33:09.481Z"}"#,
            ),
            Some(
                r#"{"valid":false,"anomaly_types":["G2-item","G-single"],
                    "anomalies":{"G2-item":[{"explanation":"long"}]},
                    "stats":{"ops":{"total":{"ok":10,"fail":2,"info":1}}}}"#,
            ),
        );
        assert_eq!(r.db, "postgres");
        assert_eq!(r.isolation, "serializable");
        assert_eq!(r.nemesis, "partition, kill");
        assert_eq!(r.duration, "1m 17s");
        assert_eq!(r.anomaly_types, ["G2-item", "G-single"]);
        assert_eq!(r.ops, Some(13));
        assert_eq!(r.time, "2026-12-04 08:31:51Z");
        let none = run_with(Some(r#"{"db":"etcd","nemesis":[]}"#), None);
        assert_eq!(none.nemesis, "none");
        assert_eq!(none.isolation, "-");
        assert_eq!(none.ops_text(), "-");
    }
}

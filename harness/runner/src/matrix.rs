//! `labrys test-all`: a matrix of tests, one run folder each, and one summary of them all.
//!
//! A matrix comes from comma lists (`--db postgres,galera --workload list-append,bank
//! --isolation repeatable-read,serializable --nemesis none,partition,kill+pause`) or from a
//! TOML plan (`--plan FILE`) whose `[[run]]` tables each give such lists, plus per-entry
//! settings. Every combination is one [`TestOptions`]; a combination a database cannot run
//! (a workload it lacks, an isolation level it does not have) is listed as skipped with the
//! reason, not run and not an error. A database without isolation levels runs once, whatever
//! levels were asked for.
//!
//! The runs happen one after another (they share the machine's cluster); one that fails does
//! not stop the rest. At the end `summary.json` and `summary.md` go to
//! `store/test-all/<time>/` (and `store/test-all/latest` points there): per run the database,
//! its version, workload, level, faults, ops, verdict, anomaly types, the models the history
//! rules out, and the run folder.
//!
//! The exit code is the worst of the runs' codes, worst first: 3 (a run could not be done),
//! 1 (invalid), 2 (unknown), 0 (valid). Skipped combinations do not count.

use crate::options::TestOptions;
use crate::verdict::Outcome;
use labrys_db::{DbKind, DbOptions};
use serde::Deserialize;
use serde_json::{json, Value as J};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One `[[run]]` of a plan, or the command line's lists: every list is crossed with the
/// others. An empty list means the base options' value.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Axis {
    #[serde(default)]
    pub db: Vec<String>,
    #[serde(default)]
    pub workload: Vec<String>,
    #[serde(default)]
    pub isolation: Vec<String>,
    /// Each entry is one run's faults: `none`, `partition`, or several joined by `+`.
    #[serde(default)]
    pub nemesis: Vec<String>,
    /// `--db-opt` settings for these runs.
    #[serde(default)]
    pub db_opt: BTreeMap<String, String>,
    /// Per-entry overrides of the base options.
    pub time_limit: Option<f64>,
    pub node_count: Option<usize>,
    pub rate: Option<f64>,
    pub concurrency: Option<usize>,
}

/// A TOML plan: defaults for every run, then the runs.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Plan {
    pub time_limit: Option<f64>,
    pub node_count: Option<usize>,
    pub rate: Option<f64>,
    pub concurrency: Option<usize>,
    pub nemesis_interval: Option<f64>,
    #[serde(default)]
    pub run: Vec<Axis>,
}

/// Why a plan could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("{file}: {msg}")]
    Parse { file: String, msg: String },
    #[error("{file}: no [[run]] table: nothing to run")]
    Empty { file: String },
    #[error("{what} {value}: {msg}")]
    Value {
        what: &'static str,
        value: String,
        msg: String,
    },
}

impl Plan {
    /// Parses a plan's text; errors name the file, line and column (TOML's own message).
    pub fn parse(text: &str, file: &str) -> Result<Plan, PlanError> {
        let plan: Plan = toml::from_str(text).map_err(|e| {
            let (line, col) = e
                .span()
                .map(|s| labrys_history::read::line_col(text, s.start))
                .unwrap_or((0, 0));
            PlanError::Parse {
                file: if line > 0 {
                    format!("{file}:{line}:{col}")
                } else {
                    file.to_string()
                },
                msg: e.message().to_string(),
            }
        })?;
        if plan.run.is_empty() {
            return Err(PlanError::Empty {
                file: file.to_string(),
            });
        }
        Ok(plan)
    }

    /// The base options with the plan's defaults applied.
    pub fn apply_defaults(&self, base: &TestOptions) -> Result<TestOptions, PlanError> {
        let mut o = base.clone();
        if let Some(t) = self.time_limit {
            o.time_limit = secs("time-limit", t)?;
        }
        if let Some(t) = self.nemesis_interval {
            o.nemesis_interval = secs("nemesis-interval", t)?;
        }
        if let Some(r) = self.rate {
            o.rate = r;
        }
        if let Some(c) = self.concurrency {
            o.concurrency = Some(c);
        }
        set_node_count(&mut o, self.node_count);
        Ok(o)
    }
}

fn secs(what: &'static str, s: f64) -> Result<Duration, PlanError> {
    Duration::try_from_secs_f64(s).map_err(|_| PlanError::Value {
        what,
        value: s.to_string(),
        msg: "expected a number of seconds".into(),
    })
}

fn set_node_count(o: &mut TestOptions, n: Option<usize>) {
    if let (Some(n), crate::NodeSpec::Local { count, .. }) = (n, &mut o.nodes) {
        *count = n;
    }
}

/// One cell of the matrix: run it, or why not.
#[derive(Clone, Debug)]
pub enum Cell {
    Run(Box<TestOptions>),
    Skip {
        db: String,
        workload: String,
        isolation: Option<String>,
        nemesis: String,
        why: String,
    },
}

/// Splits comma lists (`a,b`), trimming, dropping empties.
pub fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every combination of `axis` over `base`, in order db, workload, isolation, nemesis.
pub fn expand(
    base: &TestOptions,
    axis: &Axis,
    dbs: &[Arc<dyn DbKind>],
) -> Result<Vec<Cell>, PlanError> {
    let or_base = |v: &Vec<String>, b: &str| {
        if v.is_empty() {
            vec![b.to_string()]
        } else {
            v.clone()
        }
    };
    let mut base = base.clone();
    if let Some(t) = axis.time_limit {
        base.time_limit = secs("time-limit", t)?;
    }
    if let Some(r) = axis.rate {
        base.rate = r;
    }
    if let Some(c) = axis.concurrency {
        base.concurrency = Some(c);
    }
    set_node_count(&mut base, axis.node_count);
    let mut opts = base.db_opts.clone();
    opts.extend(axis.db_opt.clone());
    let nemeses = if axis.nemesis.is_empty() {
        vec![if base.nemesis.is_empty() {
            "none".to_string()
        } else {
            base.nemesis.join("+")
        }]
    } else {
        axis.nemesis.clone()
    };
    let mut cells = Vec::new();
    for db in or_base(&axis.db, &base.db) {
        let Some(kind) = dbs.iter().find(|d| d.info().name == db) else {
            let names: Vec<&str> = dbs.iter().map(|d| d.info().name).collect();
            return Err(PlanError::Value {
                what: "--db",
                value: db,
                msg: format!("expected one of {}", names.join(", ")),
            });
        };
        let info = kind.info();
        for workload in or_base(&axis.workload, &base.workload) {
            if crate::workload::workload(&workload).is_none() {
                let names: Vec<&str> = crate::workload::WORKLOADS.iter().map(|w| w.name).collect();
                return Err(PlanError::Value {
                    what: "--workload",
                    value: workload,
                    msg: format!("expected one of {}", names.join(", ")),
                });
            }
            // A database without levels runs once; one with levels runs each asked-for level
            // it has (or its default when none was asked for).
            let levels: Vec<Option<String>> = if info.isolations.is_empty() {
                vec![None]
            } else if axis.isolation.is_empty() {
                vec![base.isolation.clone()]
            } else {
                axis.isolation.iter().cloned().map(Some).collect()
            };
            for isolation in levels {
                for nemesis in &nemeses {
                    let faults: Vec<String> = nemesis
                        .split('+')
                        .map(str::trim)
                        .filter(|f| !f.is_empty() && *f != "none")
                        .map(str::to_string)
                        .collect();
                    let o = TestOptions {
                        db: db.clone(),
                        workload: workload.clone(),
                        isolation: isolation.clone(),
                        nemesis: faults,
                        db_opts: opts
                            .iter()
                            .filter(|(k, _)| info.options.iter().any(|d| d.key == k.as_str()))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        ..base.clone()
                    };
                    let skip = |why: String| Cell::Skip {
                        db: db.clone(),
                        workload: workload.clone(),
                        isolation: isolation.clone(),
                        nemesis: nemesis.clone(),
                        why,
                    };
                    let d = DbOptions {
                        workload: workload.clone(),
                        isolation: isolation.clone(),
                        ..DbOptions::default()
                    };
                    if !info.workloads.contains(&workload.as_str()) {
                        cells.push(skip(format!(
                            "{db} does not run {workload} (it runs {})",
                            info.workloads.join(", ")
                        )));
                    } else if let Err(e) = info.validate(&d) {
                        cells.push(skip(e.to_string()));
                    } else {
                        cells.push(Cell::Run(Box::new(o)));
                    }
                }
            }
        }
    }
    Ok(cells)
}

/// One line of the summary.
#[derive(Clone, Debug)]
pub struct Row {
    pub db: String,
    pub version: String,
    pub workload: String,
    pub isolation: String,
    pub nemesis: String,
    pub ops: u64,
    /// `valid`, `invalid`, `unknown`, `error` or `skipped`.
    pub verdict: String,
    pub anomaly_types: Vec<String>,
    pub not: Vec<String>,
    pub run_dir: Option<PathBuf>,
    /// The outcome's one line, or why the cell was skipped.
    pub note: String,
    pub exit_code: Option<u8>,
    /// How long the run took (zero for a skipped cell).
    pub elapsed: Duration,
}

/// The summary row of a finished run, from its outcome and run folder (its `elapsed` is left
/// zero for the caller, who timed the run, to set).
pub fn row_of(o: &TestOptions, out: &Outcome) -> Row {
    let read = |name: &str| -> Option<J> {
        let p = out.run_dir.as_ref()?.join(name);
        serde_json::from_slice(&std::fs::read(p).ok()?).ok()
    };
    let test = read("test.json");
    let results = read("results.json");
    let strs = |v: Option<&J>| -> Vec<String> {
        v.and_then(J::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let version = test
        .as_ref()
        .and_then(|t| t.get("versions")?.get(&o.db)?.as_str().map(str::to_string))
        .unwrap_or_default();
    let isolation = test
        .as_ref()
        .and_then(|t| t.get("isolation")?.as_str().map(str::to_string))
        .or_else(|| o.isolation.clone())
        .unwrap_or_else(|| "-".into());
    let ops = out
        .run_dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("history.jsonl")).ok())
        .map(|h| {
            h.lines()
                .filter(|l| !l.contains("\"invoke\"") && !l.contains("\"nemesis\""))
                .count() as u64
        })
        .unwrap_or(0);
    Row {
        db: o.db.clone(),
        version,
        workload: o.workload.clone(),
        isolation,
        nemesis: if o.faults().is_empty() {
            "none".into()
        } else {
            o.faults().join("+")
        },
        ops,
        verdict: match out.exit_code {
            0 => "valid",
            1 => "invalid",
            2 => "unknown",
            _ => "error",
        }
        .into(),
        anomaly_types: strs(results.as_ref().and_then(|r| r.get("anomaly_types"))),
        not: strs(results.as_ref().and_then(|r| r.get("not"))),
        run_dir: out.run_dir.clone(),
        note: out.summary.clone(),
        exit_code: Some(out.exit_code),
        elapsed: Duration::ZERO,
    }
}

/// The summary row of a skipped cell.
pub fn skipped_row(cell: &Cell) -> Option<Row> {
    let Cell::Skip {
        db,
        workload,
        isolation,
        nemesis,
        why,
    } = cell
    else {
        return None;
    };
    Some(Row {
        db: db.clone(),
        version: String::new(),
        workload: workload.clone(),
        isolation: isolation.clone().unwrap_or_else(|| "-".into()),
        nemesis: nemesis.clone(),
        ops: 0,
        verdict: "skipped".into(),
        anomaly_types: Vec::new(),
        not: Vec::new(),
        run_dir: None,
        note: why.clone(),
        exit_code: None,
        elapsed: Duration::ZERO,
    })
}

/// Rank of an exit code, worst highest: 3 error, 1 invalid, 2 unknown, 0 valid.
fn severity(code: u8) -> u8 {
    match code {
        0 => 0,
        2 => 1,
        1 => 2,
        _ => 3,
    }
}

/// The matrix's exit code: the worst of its runs' (0 when nothing ran).
pub fn worst(rows: &[Row]) -> u8 {
    rows.iter()
        .filter_map(|r| r.exit_code)
        .max_by_key(|c| severity(*c))
        .unwrap_or(0)
}

fn rel(p: &Option<PathBuf>, base: &Path) -> String {
    match p {
        Some(p) => p
            .strip_prefix(base)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.display().to_string()),
        None => String::new(),
    }
}

/// `summary.json`: the rows, and the exit code.
pub fn summary_json(rows: &[Row], store_root: &Path) -> J {
    json!({
        "exit-code": worst(rows),
        "runs": rows.iter().map(|r| json!({
            "db": r.db,
            "version": r.version,
            "workload": r.workload,
            "isolation": r.isolation,
            "nemesis": r.nemesis,
            "ops": r.ops,
            "verdict": r.verdict,
            "anomaly-types": r.anomaly_types,
            "not": r.not,
            "run-dir": rel(&r.run_dir, store_root),
            "report": report_link(&r.run_dir, store_root),
            "note": r.note,
        })).collect::<Vec<_>>(),
    })
}

/// The run's `report.html`, relative to the store, when the run drew one.
fn report_link(run_dir: &Option<PathBuf>, store_root: &Path) -> Option<String> {
    let dir = run_dir.as_ref()?;
    let inside = dir.strip_prefix(store_root).ok()?;
    dir.join(crate::report::REPORT)
        .is_file()
        .then(|| format!("{}/{}", inside.display(), crate::report::REPORT))
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `summary.md`: a table a person reads, then the notes of runs that were not valid.
pub fn summary_md(rows: &[Row], store_root: &Path) -> String {
    let count = |v: &str| rows.iter().filter(|r| r.verdict == v).count();
    let mut s = format!(
        "# labrys test-all\n\n{} runs: {} valid, {} invalid, {} unknown, {} errors; {} skipped.\n\n",
        rows.len() - count("skipped"),
        count("valid"),
        count("invalid"),
        count("unknown"),
        count("error"),
        count("skipped"),
    );
    s.push_str("| database | version | workload | level | nemesis | ops | verdict | anomalies | models ruled out | run folder (links its report) |\n");
    s.push_str("|---|---|---|---|---|---:|---|---|---|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | **{}** | {} | {} | {} |\n",
            md_cell(&r.db),
            md_cell(&r.version),
            md_cell(&r.workload),
            md_cell(&r.isolation),
            md_cell(&r.nemesis),
            r.ops,
            r.verdict,
            md_cell(&r.anomaly_types.join(", ")),
            md_cell(&r.not.join(", ")),
            match report_link(&r.run_dir, store_root) {
                // summary.md sits in store/test-all/<time>/: two folders below the store.
                Some(link) => format!(
                    "[{}](../../{})",
                    md_cell(&rel(&r.run_dir, store_root)),
                    link
                ),
                None => md_cell(&rel(&r.run_dir, store_root)),
            },
        ));
    }
    let notes: Vec<&Row> = rows.iter().filter(|r| r.verdict != "valid").collect();
    if !notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for r in notes {
            s.push_str(&format!(
                "- {} {} {} {}: {}\n",
                r.db,
                r.workload,
                r.isolation,
                r.nemesis,
                md_cell(&r.note)
            ));
        }
    }
    s
}

/// Writes `summary.json` and `summary.md` into `store/test-all/<now>/` and points
/// `store/test-all/latest` there. Returns the folder.
pub fn write_summary(rows: &[Row], store_root: &Path) -> Result<PathBuf, String> {
    let dir =
        labrys_store::RunDir::create_unlinked(store_root, "test-all", std::time::SystemTime::now())
            .map_err(|e| e.to_string())?;
    let json = summary_json(rows, store_root);
    dir.write_json("summary.json", &json)
        .map_err(|e| e.to_string())?;
    let md = dir.file("summary.md");
    std::fs::write(&md, summary_md(rows, store_root))
        .map_err(|e| format!("{}: {e}", md.display()))?;
    dir.link_test_latest().map_err(|e| e.to_string())?;
    Ok(dir.path().to_path_buf())
}

/// Runs every cell in turn (`run` is `run_test` in the binary), reporting each outcome to
/// `each` as it ends, and returns the rows in matrix order.
pub fn run_all(
    cells: &[Cell],
    mut run: impl FnMut(&TestOptions) -> Outcome,
    mut each: impl FnMut(usize, &Row),
) -> Vec<Row> {
    let mut rows = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let row = match cell {
            Cell::Run(o) => {
                let started = std::time::Instant::now();
                let out = run(o);
                Row {
                    elapsed: started.elapsed(),
                    ..row_of(o, &out)
                }
            }
            skip => skipped_row(skip).expect("a skip"),
        };
        each(i, &row);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_db::fake::FakeKind;

    fn dbs() -> Vec<Arc<dyn DbKind>> {
        vec![
            Arc::new(FakeKind::default()),
            Arc::new(Levels),
            Arc::new(NoLevels),
        ]
    }

    struct Levels;
    static LEVELS: labrys_db::DbInfo = labrys_db::DbInfo {
        name: "sql",
        packages: &[],
        honours_faketime: true,
        faketime_note: "",
        workloads: &["list-append", "bank"],
        options: &[labrys_db::DbOpt {
            key: "replicas",
            values: &[],
            help: "",
        }],
        isolations: &[
            labrys_db::Isolation {
                name: "serializable",
                models: &["serializable"],
                promise: "",
            },
            labrys_db::Isolation {
                name: "read-committed",
                models: &["read-committed"],
                promise: "",
            },
        ],
    };
    impl DbKind for Levels {
        fn info(&self) -> &'static labrys_db::DbInfo {
            &LEVELS
        }
        fn open(
            &self,
            _: &[Arc<dyn labrys_control::Remote>],
            _: &DbOptions,
        ) -> Result<Arc<dyn labrys_db::Db>, labrys_db::DbError> {
            Err(labrys_db::DbError::Other("not here".into()))
        }
    }
    struct NoLevels;
    static NO_LEVELS: labrys_db::DbInfo = labrys_db::DbInfo {
        name: "kv",
        packages: &[],
        honours_faketime: false,
        faketime_note: "",
        workloads: &["register", "set"],
        options: &[],
        isolations: &[],
    };
    impl DbKind for NoLevels {
        fn info(&self) -> &'static labrys_db::DbInfo {
            &NO_LEVELS
        }
        fn open(
            &self,
            _: &[Arc<dyn labrys_control::Remote>],
            _: &DbOptions,
        ) -> Result<Arc<dyn labrys_db::Db>, labrys_db::DbError> {
            Err(labrys_db::DbError::Other("not here".into()))
        }
    }

    fn axis(db: &str, w: &str, i: &str, n: &str) -> Axis {
        Axis {
            db: list(db),
            workload: list(w),
            isolation: list(i),
            nemesis: list(n),
            db_opt: [("replicas".to_string(), "2".to_string())].into(),
            ..Axis::default()
        }
    }

    fn runs(cells: &[Cell]) -> Vec<String> {
        cells
            .iter()
            .map(|c| match c {
                Cell::Run(o) => format!(
                    "{} {} {} {} {:?}",
                    o.db,
                    o.workload,
                    o.isolation.as_deref().unwrap_or("-"),
                    o.faults().join("+"),
                    o.db_opts
                ),
                Cell::Skip { db, workload, .. } => format!("skip {db} {workload}"),
            })
            .collect()
    }

    #[test]
    fn the_matrix_crosses_every_list_and_skips_what_a_database_cannot_run() {
        let cells = expand(
            &TestOptions::default(),
            &axis(
                "sql,kv",
                "bank,set",
                "serializable,read-committed",
                "none,partition+kill",
            ),
            &dbs(),
        )
        .unwrap();
        assert_eq!(
            runs(&cells),
            vec![
                "sql bank serializable  {\"replicas\": \"2\"}",
                "sql bank serializable partition+kill {\"replicas\": \"2\"}",
                "sql bank read-committed  {\"replicas\": \"2\"}",
                "sql bank read-committed partition+kill {\"replicas\": \"2\"}",
                "skip sql set",
                "skip sql set",
                "skip sql set",
                "skip sql set",
                // No levels: once per fault set, and no db-opt it does not know.
                "skip kv bank",
                "skip kv bank",
                "kv set -  {}",
                "kv set - partition+kill {}",
            ]
        );
        let Cell::Skip { why, .. } = &cells[4] else {
            panic!()
        };
        assert_eq!(why, "sql does not run set (it runs list-append, bank)");
        // A level the database lacks is a skip with its reason.
        let cells = expand(
            &TestOptions::default(),
            &axis("sql", "bank", "repeatable-read", "none"),
            &dbs(),
        )
        .unwrap();
        let Cell::Skip { why, .. } = &cells[0] else {
            panic!()
        };
        assert!(
            why.contains("sql runs at serializable, read-committed"),
            "{why}"
        );
        // Unknown names are errors, not skips.
        let e = expand(&TestOptions::default(), &axis("mongo", "", "", ""), &dbs()).unwrap_err();
        assert!(e
            .to_string()
            .contains("--db mongo: expected one of fake, sql, kv"));
        let e = expand(
            &TestOptions::default(),
            &axis("kv", "queues", "", ""),
            &dbs(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("--workload queues"));
    }

    #[test]
    fn plans_are_toml_with_errors_at_a_line() {
        let text = "time-limit = 20\nnode-count = 3\n\n[[run]]\ndb = [\"sql\"]\nworkload = [\"bank\"]\nnemesis = [\"none\", \"kill\"]\n\n[[run]]\ndb = [\"kv\"]\nworkload = [\"set\"]\ntime-limit = 5\n";
        let plan = Plan::parse(text, "plan.toml").unwrap();
        let base = plan.apply_defaults(&TestOptions::default()).unwrap();
        assert_eq!(base.time_limit, Duration::from_secs(20));
        assert_eq!(base.node_count(), 3);
        let mut cells = Vec::new();
        for a in &plan.run {
            cells.extend(expand(&base, a, &dbs()).unwrap());
        }
        assert_eq!(cells.len(), 3);
        let Cell::Run(last) = &cells[2] else { panic!() };
        assert_eq!(last.time_limit, Duration::from_secs(5));
        let e = Plan::parse("[[run]]\ndb = [\"sql\"]\nspeed = 3\n", "p.toml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("p.toml:3:1: unknown field `speed`"),
            "{e}"
        );
        let e = Plan::parse("time-limit = 3\n", "p.toml").unwrap_err();
        assert_eq!(e.to_string(), "p.toml: no [[run]] table: nothing to run");
        let e = Plan::parse("[[run]\n", "p.toml").unwrap_err();
        assert!(e.to_string().starts_with("p.toml:1:"), "{e}");
    }

    #[test]
    fn the_summary_lists_every_run_and_the_worst_code_wins() {
        let store = tempfile::tempdir().unwrap();
        let kind: Arc<dyn DbKind> = Arc::new(FakeKind::default());
        let base = TestOptions {
            db: "fake".into(),
            nodes: crate::NodeSpec::ThisMachine,
            time_limit: Duration::from_secs(1),
            rate: 50.0,
            seed: 1,
            store_root: store.path().to_path_buf(),
            ..TestOptions::default()
        };
        let mut a = axis("fake,kv", "register,bank", "", "none");
        a.db_opt.clear();
        let cells = expand(&base, &a, &[kind.clone(), Arc::new(NoLevels)]).unwrap();
        let mut seen = 0;
        let rows = run_all(
            &cells,
            |o| crate::run_test(o, &[kind.clone(), Arc::new(NoLevels)]),
            |_, _| seen += 1,
        );
        assert_eq!(seen, 4);
        let verdicts: Vec<&str> = rows.iter().map(|r| r.verdict.as_str()).collect();
        // The fake runs both; kv cannot open (error), and has no bank (skipped).
        assert_eq!(verdicts, ["valid", "valid", "error", "skipped"]);
        assert_eq!(worst(&rows), 3);
        assert!(rows[0].ops > 10, "{:?}", rows[0]);
        assert_eq!(rows[0].version, "fake 1.0");
        assert_eq!(rows[1].isolation, "serializable");
        let dir = write_summary(&rows, store.path()).unwrap();
        let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        assert!(
            md.contains("3 runs: 2 valid, 0 invalid, 0 unknown, 1 errors; 1 skipped."),
            "{md}"
        );
        assert!(
            md.contains("| fake | fake 1.0 | bank | serializable | none |"),
            "{md}"
        );
        assert!(md.contains("kv bank - none: kv does not run bank"), "{md}");
        let json: J =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(json["exit-code"], 3);
        assert_eq!(json["runs"].as_array().unwrap().len(), 4);
        assert!(json["runs"][0]["run-dir"]
            .as_str()
            .unwrap()
            .starts_with("fake-register/"));
        // Each run's report is linked, relative to the summary, and the link resolves.
        let report = json["runs"][0]["report"].as_str().unwrap();
        assert!(report.ends_with("/report.html"), "{report}");
        assert!(md.contains(&format!("](../../{report})")), "{md}");
        assert!(dir.join("../..").join(report).is_file());
        assert_eq!(json["runs"][2]["report"], J::Null, "an error run has none");
        let latest = store.path().join("test-all/latest").canonicalize().unwrap();
        assert_eq!(latest, dir.canonicalize().unwrap());
        // The store's own `latest` is the last test run, not the summary.
        let store_latest = store.path().join("latest").canonicalize().unwrap();
        assert!(store_latest.starts_with(store.path().join("fake-bank").canonicalize().unwrap()));
        // Each run was timed (a 1 s test takes at least 1 s), and its JUnit testcase says how
        // it ended.
        assert!(rows[0].elapsed >= Duration::from_secs(1), "{:?}", rows[0]);
        assert_eq!(rows[3].elapsed, Duration::ZERO);
        let junit = store.path().join("junit.xml");
        let suite = crate::junit::matrix_suite(&rows, 1, Some(&dir));
        crate::junit::write(&junit, &suite, crate::junit::FailOn::Unknown).unwrap();
        let xml = std::fs::read_to_string(&junit).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let ts = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        let attrs: Vec<_> = ["tests", "failures", "errors", "skipped"]
            .iter()
            .map(|a| ts.attribute(*a).unwrap())
            .collect();
        assert_eq!(attrs, ["4", "0", "1", "1"], "{xml}");
        let names: Vec<_> = ts
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|n| n.attribute("name").unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "fake-register-serializable none",
                "fake-bank-serializable none",
                "kv-register none",
                "kv-bank none"
            ]
        );
    }

    #[test]
    fn severity_order() {
        let r = |c: u8| Row {
            exit_code: Some(c),
            ..skipped_row(&Cell::Skip {
                db: String::new(),
                workload: String::new(),
                isolation: None,
                nemesis: String::new(),
                why: String::new(),
            })
            .unwrap()
        };
        assert_eq!(worst(&[r(0), r(2)]), 2);
        assert_eq!(worst(&[r(2), r(1), r(0)]), 1);
        assert_eq!(worst(&[r(1), r(3)]), 3);
        assert_eq!(worst(&[]), 0);
    }
}

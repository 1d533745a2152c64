//! `labrys test-all`: a matrix of tests (comma lists or a TOML plan), one run folder each,
//! then `summary.md` and `summary.json` in `store/test-all/<time>/`. With `--junit FILE`, one
//! JUnit testcase per combination, rewritten after every run so that a matrix cut short
//! still leaves a report of the runs it did.

use crate::test_cmd::{options, TestArgs};
use clap::Args;
use labrys_harness::junit::{self, Case, Suite, Verdict};
use labrys_harness::matrix::{self, Axis, Cell, Plan};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
#[command(after_help = after_help())]
pub struct TestAllArgs {
    #[command(flatten)]
    pub test: TestArgs,
    /// A TOML plan of runs (instead of the comma lists).
    #[arg(long)]
    pub plan: Option<PathBuf>,
}

fn after_help() -> String {
    format!("{PLAN_HELP}\n\n{}", crate::ci::test_all_exit_codes())
}

const PLAN_HELP: &str = "\
In test-all, --db, --workload, --isolation and --nemesis take comma lists and every \
combination runs, one test after another: `--nemesis none,partition,kill+pause` is three \
runs (join faults of one run with +). Combinations a database cannot run are listed as \
skipped.

A plan file instead of the lists:
  time-limit = 30          # defaults for every run: time-limit, node-count, rate,
  node-count = 3           # concurrency, nemesis-interval
  [[run]]
  db = [\"postgres\", \"galera\"]
  workload = [\"list-append\", \"bank\"]
  isolation = [\"serializable\"]
  nemesis = [\"none\", \"partition\"]
  db-opt = { replicas = \"none\" }   # per run table: also time-limit, node-count, rate";

/// The base options, the matrix's axes, and the databases they may name.
type Axes = (
    labrys_harness::TestOptions,
    Vec<Axis>,
    Vec<std::sync::Arc<dyn labrys_db::DbKind>>,
);

fn axes(a: &TestAllArgs) -> Result<Axes, String> {
    let (mut base, dbs) = crate::test_cmd::with_config(&a.test, options(&a.test)?)?;
    base.nemesis = Vec::new();
    base.isolation = None;
    match &a.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--plan {}: {e}", path.display()))?;
            let plan =
                Plan::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
            let base = plan.apply_defaults(&base).map_err(|e| e.to_string())?;
            Ok((base, plan.run, dbs))
        }
        None => Ok((
            base.clone(),
            vec![Axis {
                db: if a.test.config.is_some() {
                    vec![base.db.clone()]
                } else {
                    matrix::list(&a.test.db)
                },
                workload: if a.test.config.is_some() && a.test.workload == "register" {
                    vec![base.workload.clone()]
                } else {
                    matrix::list(&a.test.workload)
                },
                isolation: a
                    .test
                    .isolation
                    .as_deref()
                    .map(matrix::list)
                    .unwrap_or_default(),
                nemesis: matrix::list(&a.test.nemesis),
                ..Axis::default()
            }],
            dbs,
        )),
    }
}

pub fn run(a: &TestAllArgs) -> u8 {
    let started = Instant::now();
    let ci = &a.test.ci;
    let cells = axes(a).and_then(|(base, axes, dbs)| {
        let mut cells = Vec::new();
        for axis in &axes {
            cells.extend(matrix::expand(&base, axis, &dbs).map_err(|e| e.to_string())?);
        }
        // Every run's options are checked before the first one starts.
        for c in &cells {
            if let Cell::Run(o) = c {
                o.validate(&dbs).map_err(|e| {
                    format!("{} {} {}: {e}", o.db, o.workload, o.faults().join("+"))
                })?;
            }
        }
        Ok((base, cells, dbs))
    });
    let (base, cells, dbs) = match cells {
        Ok(c) => c,
        Err(e) => {
            eout!("labrys test-all: {e}");
            return ci.finish("test-all", &refused(&e, started), 3);
        }
    };
    let total = cells.iter().filter(|c| matches!(c, Cell::Run(_))).count();
    eout!(
        "labrys test-all: {total} runs, {} skipped; seed {}",
        cells.len() - total,
        base.seed
    );
    let mut n = 0;
    let mut done = Vec::new();
    let rows = matrix::run_all(
        &cells,
        |o| {
            n += 1;
            eout!(
                "labrys test-all: [{n}/{total}] {} {} {} {}",
                o.db,
                o.workload,
                o.isolation.as_deref().unwrap_or(""),
                if o.faults().is_empty() {
                    "none".to_string()
                } else {
                    o.faults().join("+")
                }
            );
            labrys_harness::run_test(o, &dbs)
        },
        |_, r| {
            let dir = r
                .run_dir
                .as_ref()
                .map(|d| format!(" ({})", d.display()))
                .unwrap_or_default();
            sout!(
                "{} {} {} {}: {}{dir}",
                r.db,
                r.workload,
                r.isolation,
                r.nemesis,
                if r.verdict == "skipped" || r.verdict == "error" {
                    format!("{}: {}", r.verdict, r.note)
                } else {
                    r.verdict.clone()
                }
            );
            // The report so far, in case the matrix is cut short; a failure is said at the end.
            done.push(r.clone());
            if let Some(path) = &ci.junit {
                let suite = junit::matrix_suite(&done, base.seed, None);
                let _ = junit::write(path, &suite, ci.fail_on);
            }
        },
    );
    let code = matrix::worst(&rows);
    let (summary, code) = match matrix::write_summary(&rows, &base.store_root) {
        Ok(dir) => {
            sout!("\nsummary: {}", dir.join("summary.md").display());
            (Some(dir), code)
        }
        Err(e) => {
            eout!("labrys test-all: cannot write the summary: {e}");
            (None, 3)
        }
    };
    let suite = junit::matrix_suite(&rows, base.seed, summary.as_deref());
    ci.finish("test-all", &suite, code)
}

/// The report of a matrix refused before any run: one error testcase saying why.
fn refused(e: &str, started: Instant) -> Suite {
    Suite {
        name: "labrys test-all".into(),
        time: Some(started.elapsed()),
        cases: vec![Case {
            name: "labrys test-all".into(),
            classname: "labrys.test-all".into(),
            time: None,
            verdict: Verdict::Error {
                message: e.to_string(),
                details: e.to_string(),
            },
            properties: vec![("exit-code".into(), "3".into())],
            system_out: None,
        }],
        ..Suite::default()
    }
}

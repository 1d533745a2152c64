//! `labrys test-all`: a matrix of tests (comma lists or a TOML plan), one run folder each,
//! then `summary.md` and `summary.json` in `store/test-all/<time>/`.

use crate::test_cmd::{options, TestArgs};
use clap::Args;
use labrys_harness::matrix::{self, Axis, Cell, Plan};
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "\
In test-all, --db, --workload, --isolation and --nemesis take comma lists and every \
combination runs, one test after another: `--nemesis none,partition,kill+pause` is three \
runs (join faults of one run with +). Combinations a database cannot run are listed as \
skipped. Exit code: the worst run's, worst first: 3 error, 1 invalid, 2 unknown, 0 valid.

A plan file instead of the lists:
  time-limit = 30          # defaults for every run: time-limit, node-count, rate,
  node-count = 3           # concurrency, nemesis-interval
  [[run]]
  db = [\"postgres\", \"galera\"]
  workload = [\"list-append\", \"bank\"]
  isolation = [\"serializable\"]
  nemesis = [\"none\", \"partition\"]
  db-opt = { replicas = \"none\" }   # per run table: also time-limit, node-count, rate")]
pub struct TestAllArgs {
    #[command(flatten)]
    pub test: TestArgs,
    /// A TOML plan of runs (instead of the comma lists).
    #[arg(long)]
    pub plan: Option<PathBuf>,
}

fn axes(a: &TestAllArgs) -> Result<(labrys_harness::TestOptions, Vec<Axis>), String> {
    let mut base = options(&a.test)?;
    base.nemesis = Vec::new();
    base.isolation = None;
    match &a.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--plan {}: {e}", path.display()))?;
            let plan =
                Plan::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
            let base = plan.apply_defaults(&base).map_err(|e| e.to_string())?;
            Ok((base, plan.run))
        }
        None => Ok((
            base,
            vec![Axis {
                db: matrix::list(&a.test.db),
                workload: matrix::list(&a.test.workload),
                isolation: a
                    .test
                    .isolation
                    .as_deref()
                    .map(matrix::list)
                    .unwrap_or_default(),
                nemesis: matrix::list(&a.test.nemesis),
                ..Axis::default()
            }],
        )),
    }
}

pub fn run(a: &TestAllArgs) -> u8 {
    let dbs = crate::dbs::all();
    let cells = axes(a).and_then(|(base, axes)| {
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
        Ok((base, cells))
    });
    let (base, cells) = match cells {
        Ok(c) => c,
        Err(e) => {
            eout!("labrys test-all: {e}");
            return 3;
        }
    };
    let total = cells.iter().filter(|c| matches!(c, Cell::Run(_))).count();
    eout!(
        "labrys test-all: {total} runs, {} skipped; seed {}",
        cells.len() - total,
        base.seed
    );
    let mut n = 0;
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
        },
    );
    match matrix::write_summary(&rows, &base.store_root) {
        Ok(dir) => sout!("\nsummary: {}", dir.join("summary.md").display()),
        Err(e) => {
            eout!("labrys test-all: cannot write the summary: {e}");
            return 3;
        }
    }
    matrix::worst(&rows)
}

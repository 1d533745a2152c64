//! `labrys test` and `labrys analyze`: flags in, `labrys_harness` does the work, exit code out.
//!
//! Progress goes to stderr (and the run's `labrys.log`); stdout gets the verdict and the run
//! folder, so scripts can read them. With `--junit FILE`, the run is also one JUnit testcase,
//! written however the test ended (refused options, a failed or interrupted run included).

use clap::Args;
use labrys_harness::junit::{self, Case, Suite, Verdict};
use labrys_harness::options::parse_nodes;
use labrys_harness::{matrix, NodeSpec, Outcome, TestOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct TestArgs {
    #[arg(long, default_value = "etcd", help = crate::dbs::help())]
    pub db: String,
    #[arg(long, default_value = "register", help = labrys_harness::workload::help())]
    pub workload: String,
    /// Faults, comma-separated: partition (any shape), partition-random-halves,
    /// partition-majorities-ring, partition-random-node, partition-primaries, bridge, kill,
    /// pause, loss, rate, delay, clock; or none.
    #[arg(long, default_value = "none")]
    pub nemesis: String,
    /// Seconds between two nemesis ops.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub nemesis_interval: f64,
    /// Seconds of client operations (before heal and final reads).
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    pub time_limit: f64,
    /// Existing nodes instead of a local cluster: `localhost`, or `host,...` / `name=host,...`
    /// reached over SSH as root.
    #[arg(long, conflicts_with = "node_count")]
    pub nodes: Option<String>,
    /// Nodes of the local namespace cluster.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub node_count: usize,
    /// Name of the local cluster (lowercase letters, digits, '-'; at most 16).
    #[arg(long, default_value = "labrys")]
    pub cluster: String,
    /// Leave a cluster this test brought up running afterwards.
    #[arg(long)]
    pub keep_cluster: bool,
    /// Seed of every random choice (ops, values, nemesis targets); random when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Client workers in total (default: 2 per node).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Client ops per second across all workers.
    #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
    pub rate: f64,
    /// Seconds before an unanswered op is recorded as info.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    pub op_timeout: f64,
    /// About how many ops each register key gets before the test moves to fresh keys.
    #[arg(long, default_value_t = 120, allow_negative_numbers = true)]
    pub ops_per_key: u64,
    /// Store folder for run folders.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// SSH private key for --nodes hosts (default: the ssh agent).
    #[arg(long)]
    pub ssh_key: Option<PathBuf>,
    /// Seconds the checker may take before answering unknown.
    #[arg(long, default_value_t = 600.0, allow_negative_numbers = true)]
    pub check_timeout: f64,
    /// A database option, `key=value`, repeatable (etcd: `reads=serializable` for possibly
    /// stale reads without a quorum; expect an invalid verdict under partitions).
    #[arg(long = "db-opt", value_name = "KEY=VALUE")]
    pub db_opt: Vec<String>,
    /// A database described in a file (TOML: its lifecycle commands and its client, any
    /// language, over docs/client-protocol.md); it is the database tested. See
    /// examples/any-db/.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Alias of `--db-opt reads=serializable`.
    #[arg(long)]
    pub serializable_reads: bool,
    /// Transaction isolation level, for databases that have levels: read-committed,
    /// repeatable-read or serializable (default: the database's strongest it promises; the
    /// run is checked against what the database documents for the level).
    #[arg(long)]
    pub isolation: Option<String>,
    #[command(flatten)]
    pub ci: crate::ci::CiArgs,
}

#[derive(Args)]
pub struct AnalyzeArgs {
    /// A run folder (default: the store's latest run).
    pub run_dir: Option<PathBuf>,
    /// Store folder, for the default.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Seconds the checker may take before answering unknown.
    #[arg(long, default_value_t = 600.0, allow_negative_numbers = true)]
    pub check_timeout: f64,
}

/// The longest span any duration flag accepts: ten years. Longer ones would overflow the
/// clock arithmetic of timers, and no test or check is meant to run that long.
const MAX_SECS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;

pub(crate) fn secs(flag: &str, s: f64) -> Result<Duration, String> {
    if s.is_nan() {
        return Err(format!("--{flag}: expected a number of seconds"));
    }
    if s < 0.0 {
        return Err(format!("--{flag} {s}: must not be negative"));
    }
    if s > MAX_SECS {
        return Err(format!(
            "--{flag} {s}: too long; at most {MAX_SECS} seconds (ten years)"
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

/// `--db-opt key=value` pairs (a later key wins), with `--serializable-reads` as
/// `reads=serializable`.
fn db_opts(a: &TestArgs) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut m = std::collections::BTreeMap::new();
    if a.serializable_reads {
        m.insert("reads".to_string(), "serializable".to_string());
    }
    for kv in &a.db_opt {
        match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                m.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => return Err(format!("--db-opt {kv:?}: expected key=value")),
        }
    }
    Ok(m)
}

pub(crate) fn options(a: &TestArgs) -> Result<TestOptions, String> {
    let nodes = match &a.nodes {
        Some(s) => parse_nodes(s).map_err(|e| e.to_string())?,
        None => NodeSpec::Local {
            cluster: a.cluster.clone(),
            count: a.node_count,
        },
    };
    let seed = a.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        t.map(|d| d.as_nanos() as u64).unwrap_or(0) ^ u64::from(std::process::id())
    });
    Ok(TestOptions {
        db: a.db.clone(),
        workload: a.workload.clone(),
        nemesis: vec![a.nemesis.clone()],
        nemesis_interval: secs("nemesis-interval", a.nemesis_interval)?,
        time_limit: secs("time-limit", a.time_limit)?,
        nodes,
        keep_cluster: a.keep_cluster,
        seed,
        concurrency: a.concurrency,
        rate: a.rate,
        op_timeout: secs("op-timeout", a.op_timeout)?,
        store_root: a.store.clone(),
        ssh_key: a.ssh_key.clone(),
        ops_per_key: a.ops_per_key,
        check_timeout: Some(secs("check-timeout", a.check_timeout)?),
        db_dir: None,
        db_opts: db_opts(a)?,
        isolation: a.isolation.clone(),
    })
}

/// Writes to stdout, ignoring a closed one (`labrys test | head`): the exit code still says
/// the verdict.
fn out(s: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(s.as_bytes());
}

/// Prints the verdict the way `labrys check` does (from the run's `results.json`), then the
/// run folder.
fn report(o: &Outcome) -> u8 {
    let results = o
        .run_dir
        .as_ref()
        .and_then(|d| std::fs::read(d.join("results.json")).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|r| r.get("anomalies").is_some());
    match (&results, &o.run_dir) {
        (Some(r), Some(d)) if o.exit_code != 3 => {
            let name = d.join("history.jsonl").display().to_string();
            out(&labrys_check::render::text(&name, r, false));
        }
        _ => out(&format!("{}\n", o.summary)),
    }
    if let Some(d) = &o.run_dir {
        out(&format!("\nrun folder: {}\n", d.display()));
        let report = d.join(labrys_harness::report::REPORT);
        if report.exists() {
            out(&format!("report: {}\n", report.display()));
        }
    }
    o.exit_code
}

/// The databases a test can name: the built-in ones, plus the one `--config` describes.
/// With `--config`, the options' database becomes the file's (and the workload the file's
/// first, when it does not run the default `register`).
pub(crate) fn with_config(
    a: &TestArgs,
    mut o: TestOptions,
) -> Result<(TestOptions, Vec<Arc<dyn labrys_db::DbKind>>), String> {
    let mut dbs = crate::dbs::all();
    let Some(path) = &a.config else {
        return Ok((o, dbs));
    };
    let names: Vec<&str> = labrys_harness::workload::WORKLOADS
        .iter()
        .map(|w| w.name)
        .collect();
    let file = labrys_external::TestFile::read(path, &names).map_err(|e| e.to_string())?;
    if dbs.iter().any(|d| d.info().name == file.name) {
        return Err(format!(
            "{}: name {:?} is a database labrys has built in; give yours another name",
            path.display(),
            file.name
        ));
    }
    if a.db != "etcd" && a.db != file.name {
        return Err(format!(
            "--db {} and --config {} (database {:?}) disagree: --config names the database",
            a.db,
            path.display(),
            file.name
        ));
    }
    o.db = file.name.clone();
    if a.workload == "register" && !file.workloads.iter().any(|w| w == "register") {
        o.workload = file.workloads[0].clone();
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = base.canonicalize().unwrap_or(base);
    dbs.push(Arc::new(labrys_external::CommandKind::new(file, base)));
    Ok((o, dbs))
}

pub fn run_test(a: &TestArgs) -> u8 {
    let started = Instant::now();
    // Every option is checked before anything is printed or touched.
    let checked = options(a)
        .and_then(|o| with_config(a, o))
        .and_then(|(o, dbs)| {
            o.validate(&dbs)
                .map(|()| (o, dbs))
                .map_err(|e| e.to_string())
        });
    match checked {
        Ok((opts, dbs)) => {
            eout!("labrys test: seed {}", opts.seed);
            let outcome = labrys_harness::run_test(&opts, &dbs);
            let code = report(&outcome);
            let row = matrix::Row {
                elapsed: started.elapsed(),
                ..matrix::row_of(&opts, &outcome)
            };
            let case = junit::case_of_row(&row, opts.seed);
            let suite = Suite {
                name: format!("labrys test {}", case.name),
                properties: vec![("seed".into(), opts.seed.to_string())],
                time: Some(row.elapsed),
                system_out: None,
                cases: vec![case],
            };
            a.ci.finish("test", &suite, code)
        }
        Err(e) => {
            eout!("labrys test: {e}");
            let nemesis = matrix::list(&a.nemesis).join("+");
            let name = junit::run_name(
                &a.db,
                &a.workload,
                a.isolation.as_deref(),
                if nemesis.is_empty() { "none" } else { &nemesis },
            );
            let suite = Suite {
                name: format!("labrys test {name}"),
                time: Some(started.elapsed()),
                cases: vec![Case {
                    classname: junit::run_classname(&a.db, &a.workload),
                    name,
                    time: None,
                    verdict: Verdict::Error {
                        message: e.clone(),
                        details: e,
                    },
                    properties: vec![
                        ("db".into(), a.db.clone()),
                        ("workload".into(), a.workload.clone()),
                        ("exit-code".into(), "3".into()),
                    ],
                    system_out: None,
                }],
                ..Suite::default()
            };
            a.ci.finish("test", &suite, 3)
        }
    }
}

pub fn run_analyze(a: &AnalyzeArgs) -> u8 {
    let timeout = match secs("check-timeout", a.check_timeout) {
        Ok(t) => t,
        Err(e) => {
            eout!("labrys analyze: {e}");
            return 3;
        }
    };
    report(&labrys_harness::analyze(
        a.run_dir.as_deref(),
        &a.store,
        Some(timeout),
    ))
}

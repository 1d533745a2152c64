//! `labrys check`: read each history file, check it as a workload, print a verdict per file.
//!
//! Text output is for people: the verdict, the first explanation of each anomaly in plain
//! words, the models ruled out, and the lint warnings. `--json` is for tools: one object per file
//! on stdout (`file`, `workload`, `valid`, `anomaly_types`, `not`, `anomalies`, `stats`, ...).
//! `--junit FILE` is for CI: one JUnit testcase per file, built from that same JSON object so
//! that the report says what the terminal said.

use clap::Args;
use labrys_check::{check_history, CheckError, WORKLOADS};
use labrys_harness::junit::{Case, Suite, Verdict};
use labrys_history::{
    lint, read_file_within, CheckOptions, CheckResult, Deadline, Error as HistoryError, Format,
    ReadLimits, Validity, Value,
};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Args)]
#[command(after_help = crate::ci::check_help())]
pub struct CheckArgs {
    /// History files: JSON, JSON Lines, EDN, or Jepsen log lines (detected by content).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// What the history exercised, which picks the checker.
    #[arg(long, short, value_parser = clap::builder::PossibleValuesParser::new(WORKLOADS))]
    pub workload: String,
    /// Print one JSON object per file on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// Force an input format instead of detecting it.
    #[arg(long, default_value = "auto", value_parser = ["auto", "json", "edn", "jepsen-log"])]
    pub format: String,
    /// Initial state, as JSON or EDN: `0`, `null`, `{"x":0,"y":0}`.
    #[arg(long)]
    pub initial: Option<String>,
    /// Consistency models to check against, comma-separated (transactional workloads;
    /// default strict-serializable).
    #[arg(long, value_delimiter = ',')]
    pub consistency_models: Vec<String>,
    /// Give up after this many seconds per file with verdict `unknown` (exit 2).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub time_limit: Option<f64>,
    /// Memory reading and searching may use before giving up with `unknown`: bytes, or with
    /// K/M/G suffix (default for reading: half of physical memory).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub memory_limit: Option<u64>,
    /// long-fork: keys per read group.
    #[arg(long)]
    pub group_size: Option<usize>,
    /// bank: the total every read must sum to (default: the first read's sum).
    #[arg(long)]
    pub total_amount: Option<i64>,
    /// bank: negative balances are allowed.
    #[arg(long)]
    pub allow_negative_balances: bool,
    /// set-full: elements must be visible to every read that begins after their add completes.
    #[arg(long)]
    pub linearizable: bool,
    /// Directory for files checkers write (cycle graphs as DOT).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only lint the histories (no checker): exit 0 when nothing is suspect, 1 otherwise.
    #[arg(long)]
    pub lint: bool,
    /// Write an HTML report (verdict, anomalies drawn, plots, timeline): to this file for one
    /// history; with several, into this folder, one `<name>.html` per history.
    #[arg(long, value_name = "PATH", conflicts_with = "lint")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub ci: crate::ci::CiArgs,
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (
            &s[..i],
            match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix {c:?}; expected K, M, G or T")),
            },
        ),
        _ => (s, 1),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| *n > 0.0)
        .map(|n| (n * mult as f64) as u64)
        .ok_or_else(|| format!("found {s:?}; expected a size such as 4G or 512M"))
}

/// Parses `--initial` as JSON, else as EDN, with numbers read exactly as in histories.
fn parse_initial(text: &str) -> Result<Value, String> {
    let json = labrys_history::read::json::parse_value(text.trim().as_bytes(), "--initial", 1, 1);
    if let Ok(v) = json {
        return Ok(v);
    }
    labrys_history::read::edn::parse_one(text, "--initial")
        .map_err(|e| format!("--initial {text:?} is neither JSON nor EDN: {e}"))
}

/// The memory reading may use when `--memory-limit` is not given: half of the physical memory
/// (or of the cgroup's limit, when lower), so that a history too large for the machine stops
/// with `unknown` instead of being killed; 4 GiB when neither can be read.
fn default_memory_limit() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    match (meminfo, cgroup) {
        (Some(m), Some(c)) => m.min(c) / 2,
        (Some(m), None) => m / 2,
        (None, Some(c)) => c / 2,
        (None, None) => 4 << 30,
    }
}

/// The outcome for one file: a result, or an error (exit 3).
enum Outcome {
    Checked(Box<CheckResult>),
    Error(String),
}

impl Outcome {
    fn exit_code(&self) -> u8 {
        match self {
            Outcome::Checked(r) => r.valid.exit_code() as u8,
            Outcome::Error(_) => 3,
        }
    }
}

/// Severity order of exit codes: 3 > 1 > 2 > 0.
fn severity(code: u8) -> u8 {
    match code {
        0 => 0,
        2 => 1,
        1 => 2,
        _ => 3,
    }
}

/// The options every file is checked with, from the flags.
pub(crate) struct Setup {
    initial: Option<Value>,
    format: Format,
    deadline_after: Option<Duration>,
    read_limits: ReadLimits,
}

/// Checks the flags and derives the per-file options; an error names the flag at fault.
pub(crate) fn setup(args: &CheckArgs) -> Result<Setup, String> {
    if let Some(r) = &args.report {
        if args.files.len() > 1 && r.extension().is_some_and(|e| e == "html") {
            return Err(format!(
                "--report {}: with {} histories --report names a folder (one report per history), not an .html file",
                r.display(),
                args.files.len()
            ));
        }
    }
    let initial = args.initial.as_deref().map(parse_initial).transpose()?;
    let format = Format::parse(&args.format).unwrap_or(Format::Auto);
    let probe = CheckOptions {
        consistency_models: args.consistency_models.clone(),
        ..CheckOptions::default()
    };
    labrys_check::validate_options(&args.workload, &probe).map_err(|e| e.to_string())?;
    let deadline_after = match args
        .time_limit
        .map(|t| crate::test_cmd::secs("time-limit", t))
        .transpose()?
    {
        Some(d) if d.is_zero() => {
            return Err("--time-limit 0: must be more than 0 seconds".into());
        }
        d => d,
    };
    let read_limits = ReadLimits::within(args.memory_limit.unwrap_or_else(default_memory_limit));
    Ok(Setup {
        initial,
        format,
        deadline_after,
        read_limits,
    })
}

pub fn run(args: &CheckArgs) -> u8 {
    let started = Instant::now();
    let mut suite = Suite {
        name: format!("labrys check --workload {}", args.workload),
        properties: vec![("workload".into(), args.workload.clone())],
        ..Suite::default()
    };
    let code = match setup(args) {
        Ok(setup) => check_all(args, &setup, &mut suite.cases),
        Err(e) => {
            eout!("labrys check: {e}");
            // No file was checked: each is an error in the report, with the reason.
            for file in &args.files {
                let error = Outcome::Error(e.clone());
                let case = case(
                    file,
                    &args.workload,
                    None,
                    &error,
                    &serde_json::Value::Null,
                    false,
                );
                suite.cases.push(case);
            }
            3
        }
    };
    suite.time = Some(started.elapsed());
    args.ci.finish("check", &suite, code)
}

/// Checks every file in turn, printing each verdict and adding its testcase to `cases`;
/// returns the worst exit code.
fn check_all(args: &CheckArgs, setup: &Setup, cases: &mut Vec<Case>) -> u8 {
    let mut worst = 0u8;
    let report_names = report_names(&args.files);
    for (i, file) in args.files.iter().enumerate() {
        let opts = CheckOptions {
            initial: setup.initial.clone(),
            consistency_models: args.consistency_models.clone(),
            deadline: setup
                .deadline_after
                .map(Deadline::after)
                .unwrap_or_else(Deadline::none),
            memory_limit: args.memory_limit,
            group_size: args.group_size,
            total_amount: args.total_amount,
            allow_negative_balances: args.allow_negative_balances,
            linearizable: args.linearizable,
            out_dir: args.out.clone(),
            progress: !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        let started = Instant::now();
        // Transactions are read in the compact form (labrys_txn::compact), which a 10M-txn
        // history needs; lint-only and a report want the ops' values, so they read it whole.
        let compact = !args.lint && args.report.is_none() && compact_kind(&args.workload).is_some();
        let (outcome, history, read) = check_one(
            file,
            setup.format,
            setup.read_limits,
            &args.workload,
            opts,
            args.lint,
            compact,
        );
        let elapsed = started.elapsed();
        let obj = print_outcome(file, &args.workload, &outcome, (elapsed, read), args);
        let mut code = outcome.exit_code();
        let mut report_at = None;
        if let (Some(target), Outcome::Checked(_)) = (&args.report, &outcome) {
            let path = if args.files.len() == 1 {
                target.clone()
            } else {
                target.join(&report_names[i])
            };
            let empty = labrys_history::History::default();
            match write_report(&path, file, history.as_ref().unwrap_or(&empty), &obj) {
                Ok(()) => {
                    eout!("labrys check: report: {}", path.display());
                    report_at = Some(path);
                }
                Err(e) => {
                    eout!("labrys check: {e}");
                    code = 3;
                }
            }
        }
        let mut c = case(
            file,
            &args.workload,
            Some(elapsed),
            &outcome,
            &obj,
            args.lint,
        );
        if let Some(p) = report_at {
            // Where a person reads the verdict drawn: the CI's test view shows this.
            let line = format!("report: {}\n", p.display());
            c.system_out = Some(match c.system_out.take() {
                Some(out) => format!("{line}\n{out}"),
                None => line,
            });
            c.properties
                .push(("report".into(), p.display().to_string()));
        }
        cases.push(c);
        if severity(code) > severity(worst) {
            worst = code;
        }
    }
    worst
}

/// The micro-op kind of a workload whose histories are read in the compact form.
fn compact_kind(workload: &str) -> Option<labrys_txn::txn::Kind> {
    match workload {
        "list-append" => Some(labrys_txn::txn::Kind::ListAppend),
        "rw-register" => Some(labrys_txn::txn::Kind::RwRegister),
        _ => None,
    }
}

fn check_one(
    file: &Path,
    format: Format,
    read_limits: ReadLimits,
    workload: &str,
    opts: CheckOptions,
    lint_only: bool,
    compact: bool,
) -> (Outcome, Option<labrys_history::History>, Duration) {
    let started = Instant::now();
    if let Some(kind) = compact_kind(workload).filter(|_| compact && !lint_only) {
        let read = labrys_txn::compact::read_file(file, format, read_limits, kind);
        let took = started.elapsed();
        let (history, reader) = match read {
            Ok(r) => r,
            Err(e) => return (unread(e), None, took),
        };
        let opts = after_history(opts, &history);
        let r = labrys_check::check_history_compact(&history, reader, workload, &opts);
        return (outcome_of(file, r), None, took);
    }
    let read = read_file_within(file, format, read_limits);
    let took = started.elapsed();
    let history = match read {
        Ok(h) => h,
        Err(e) => return (unread(e), None, took),
    };
    let outcome = check_read(file, &history, workload, opts, lint_only);
    (outcome, Some(history), took)
}

/// What a failed read means: no verdict either way when the memory limit stopped it (not the
/// file's fault), an error otherwise.
fn unread(e: HistoryError) -> Outcome {
    match e {
        e @ HistoryError::OverMemoryLimit { .. } => {
            Outcome::Checked(Box::new(CheckResult::unknown(e.to_string())))
        }
        e => Outcome::Error(e.to_string()),
    }
}

/// What the history holds counts against `--memory-limit`; the check gets the rest.
fn after_history(mut opts: CheckOptions, history: &labrys_history::History) -> CheckOptions {
    opts.memory_limit = opts
        .memory_limit
        .map(|limit| limit.saturating_sub(history.held_bytes).max(1));
    opts
}

/// A check's result as an outcome; an error names the file when its message does not.
fn outcome_of(file: &Path, r: Result<CheckResult, CheckError>) -> Outcome {
    match r {
        Ok(r) => Outcome::Checked(Box::new(r)),
        Err(CheckError::History(e)) => Outcome::Error(e.to_string()),
        Err(e) => Outcome::Error(format!("{}: {e}", file.display())),
    }
}

fn check_read(
    file: &Path,
    history: &labrys_history::History,
    workload: &str,
    opts: CheckOptions,
    lint_only: bool,
) -> Outcome {
    let opts = &after_history(opts, history);
    if lint_only {
        // A history of another workload is an error here too, not a list of warnings.
        if let Err(e) = labrys_check::check_shape(history, workload) {
            return Outcome::Error(e.to_string());
        }
        let mut r = CheckResult::valid();
        r.warnings = lint::lint(history, workload);
        if !r.warnings.is_empty() {
            r.valid = Validity::Invalid;
        }
        r.stat("ops", labrys_check::op_stats(history));
        return Outcome::Checked(Box::new(r));
    }
    outcome_of(file, check_history(history, workload, opts))
}

/// Prints one file's outcome (text or JSON) and returns its JSON object, which the JUnit
/// testcase of a checked file is built from.
fn print_outcome(
    file: &Path,
    workload: &str,
    outcome: &Outcome,
    (elapsed, read): (Duration, Duration),
    args: &CheckArgs,
) -> serde_json::Value {
    let name = file.display().to_string();
    let mut obj = serde_json::Map::new();
    obj.insert("file".into(), name.clone().into());
    obj.insert("workload".into(), workload.into());
    match outcome {
        Outcome::Checked(r) => {
            if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(r.as_ref()) {
                obj.extend(m);
            }
            if let Some(serde_json::Value::Object(stats)) = obj.get_mut("stats") {
                stats.insert("check_seconds".into(), elapsed.as_secs_f64().into());
                // Of which reading the file (the rest is the check proper).
                stats.insert("read_seconds".into(), read.as_secs_f64().into());
            }
        }
        Outcome::Error(e) => {
            eout!("labrys check: {e}");
            obj.insert("error".into(), e.clone().into());
        }
    }
    let obj = serde_json::Value::Object(obj);
    if args.json {
        let _ = writeln!(std::io::stdout(), "{obj}");
    } else if let Outcome::Checked(_) = outcome {
        let _ = write!(
            std::io::stdout(),
            "{}",
            labrys_check::render::text(&name, &obj, args.lint)
        );
    }
    obj
}

/// One file's JUnit testcase: from the JSON object printed for it when it was checked (`obj`,
/// and whether only lint ran), else from its error.
fn case(
    file: &Path,
    workload: &str,
    time: Option<Duration>,
    outcome: &Outcome,
    obj: &serde_json::Value,
    lint_only: bool,
) -> Case {
    let name = file.display().to_string();
    let (verdict, system_out) = match outcome {
        Outcome::Checked(_) => {
            let verdict = labrys_harness::junit::verdict_of_result(&name, obj, lint_only);
            // A passed file has no failure text: its summary (op counts, warnings) goes here.
            let out = (verdict == Verdict::Valid)
                .then(|| labrys_check::render::text(&name, obj, lint_only));
            (verdict, out)
        }
        Outcome::Error(e) => (
            Verdict::Error {
                message: e.clone(),
                details: e.clone(),
            },
            None,
        ),
    };
    Case {
        classname: format!("labrys.check.{workload}"),
        properties: vec![
            ("file".into(), name.clone()),
            ("workload".into(), workload.into()),
            ("exit-code".into(), outcome.exit_code().to_string()),
        ],
        name,
        time,
        verdict,
        system_out,
    }
}

/// Each history's report name in `--report`'s folder: its file name with `.html`; when two
/// histories share a name, with their parent folders' names in front, and a number when even
/// that is shared, so no report overwrites another.
fn report_names(files: &[PathBuf]) -> Vec<String> {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "history".into())
    };
    let mut used = std::collections::HashSet::new();
    files
        .iter()
        .map(|f| {
            let mine = name(f);
            let shared = files.iter().filter(|p| name(p) == mine).count() > 1;
            let base = match f.parent().and_then(|p| p.file_name()) {
                Some(parent) if shared => format!("{}-{mine}", parent.to_string_lossy()),
                _ => mine,
            };
            let mut candidate = format!("{base}.html");
            let mut n = 2;
            while !used.insert(candidate.clone()) {
                candidate = format!("{base}-{n}.html");
                n += 1;
            }
            candidate
        })
        .collect()
}

/// `to` relative to the folder `from_dir`, for a link that survives moving both together.
fn relative(from_dir: &Path, to: &Path) -> String {
    let (Ok(a), Ok(b)) = (from_dir.canonicalize(), to.canonicalize()) else {
        return to.display().to_string();
    };
    let ac: Vec<_> = a.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = ac.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); ac.len() - common];
    parts.extend(
        bc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn write_report(
    path: &Path,
    file: &Path,
    history: &labrys_history::History,
    result: &serde_json::Value,
) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let html = labrys_report::render(&labrys_report::ReportInput {
        title: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.display().to_string()),
        history,
        result,
        test: None,
        source: Some(file.display().to_string()),
        links: vec![labrys_report::Link {
            label: format!("{}: the history checked", file.display()),
            href: relative(&dir, file),
        }],
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(path, html).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

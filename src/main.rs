//! The `labrys` command: parse arguments, call the libraries, map outcomes to exit codes.
//!
//! Exit codes: 0 valid, 1 invalid, 2 unknown, 3 error (bad usage, unreadable or malformed
//! input, internal failure). With several files the worst verdict wins (3 > 1 > 2 > 0).
//! `--fail-on unknown` (check, test, test-all) turns 2 into 1; `--junit FILE` writes the same
//! verdicts as JUnit XML (`ci`).

/// `eprintln!` that ignores a closed stderr (`labrys ... 2>&1 | head`): a message is never
/// worth a panic, least of all in the middle of a test.
macro_rules! eout {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `println!` that ignores a closed stdout; the exit code still carries the verdict.
macro_rules! sout {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod check;
mod ci;
mod cluster_cmd;
mod dbs;
mod doctor_cmd;
mod nemesis_cmd;
mod report_cmd;
mod serve_cmd;
mod test_all_cmd;
mod test_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "labrys",
    version,
    about = "Jepsen-style consistency testing and checking"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check recorded histories against a workload's consistency model.
    Check(check::CheckArgs),
    /// Bring a local cluster of namespace nodes up or down, or show its status (root).
    Cluster(cluster_cmd::ClusterArgs),
    /// Check this machine can run tests (root, namespaces, iptables, sshd, packages).
    Doctor(doctor_cmd::DoctorArgs),
    /// Internal: the packet delayer the `delay` nemesis starts on each node.
    #[command(hide = true)]
    NemesisDelay,
    /// Run a test: cluster up, database, workload + nemesis, heal, teardown, check (root).
    #[command(after_help = ci::test_help())]
    Test(test_cmd::TestArgs),
    /// Run a matrix of tests (databases x workloads x levels x faults) and summarise them.
    TestAll(test_all_cmd::TestAllArgs),
    /// Re-check a stored run (default: the latest) without touching a cluster.
    Analyze(test_cmd::AnalyzeArgs),
    /// Redraw a stored run's report.html (default: the latest run) without checking again.
    Report(report_cmd::ReportArgs),
    /// Browse the run store in a web browser (read-only; this machine only by default).
    Serve(serve_cmd::ServeArgs),
}

fn main() -> ExitCode {
    // Clap exits 2 on bad usage; labrys promises 3 for every error.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 3 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // The ZooKeeper client library warns on every reconnect attempt, dozens of lines per
    // partition; its sessions' fate is in the history already.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LABRYS_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,zookeeper_client=error")
            }),
        )
        .init();
    let code = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Cluster(args) => cluster_cmd::run(&args),
        Command::Doctor(args) => doctor_cmd::run(&args),
        Command::NemesisDelay => nemesis_cmd::delay(),
        Command::Test(args) => test_cmd::run_test(&args),
        Command::TestAll(args) => test_all_cmd::run(&args),
        Command::Analyze(args) => test_cmd::run_analyze(&args),
        Command::Report(args) => report_cmd::run(&args),
        Command::Serve(args) => serve_cmd::run(&args),
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    //! The CI examples in `examples/ci/` run commands this CLI accepts, so that they cannot
    //! rot: every `labrys` command line in them is parsed by clap and its options checked the
    //! way the command checks them before it runs.

    use super::*;
    use std::path::Path;

    /// A shell line's words: split at blanks, with '...' and "..." quoting (enough for the
    /// examples; a word the splitter gets wrong makes the check below fail, not pass).
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word: Option<String> = None;
        let mut quote = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_with(String::new).push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.get_or_insert_with(String::new);
                }
                (None, c) if c.is_whitespace() => out.extend(word.take()),
                (None, c) => word.get_or_insert_with(String::new).push(c),
            }
        }
        out.extend(word);
        out
    }

    /// Every labrys command line of a workflow: the words after a `.../labrys` binary up to a
    /// shell operator or comment, with `\` continuations joined.
    fn labrys_commands(text: &str) -> Vec<Vec<String>> {
        const OPERATORS: [&str; 9] = ["|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1"];
        text.replace("\\\n", " ")
            .lines()
            .filter_map(|line| {
                let w = words(line);
                let at = w.iter().position(|t| t.ends_with("/labrys"))?;
                Some(
                    w[at + 1..]
                        .iter()
                        .take_while(|t| !OPERATORS.contains(&t.as_str()) && !t.starts_with('#'))
                        .cloned()
                        .collect(),
                )
            })
            .collect()
    }

    /// Parses one command line and checks its options as the command would before running;
    /// returns the subcommand's name. Only the gated commands, each with `--junit`, pass.
    fn validate(args: &[String]) -> Result<&'static str, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("labrys").chain(args.iter().map(String::as_str)))
                .map_err(|e| e.to_string())?;
        let test = |a: &test_cmd::TestArgs| {
            test_cmd::options(a)
                .and_then(|o| o.validate(&dbs::all()).map_err(|e| e.to_string()))
                .map(|_| a.ci.junit.is_some())
        };
        let (name, junit) = match &cli.command {
            Command::Check(a) => ("check", check::setup(a).map(|_| a.ci.junit.is_some())?),
            Command::Test(a) => ("test", test(a)?),
            Command::TestAll(a) => ("test-all", test(&a.test)?),
            _ => return Err("not a command that gives verdicts".into()),
        };
        if junit {
            Ok(name)
        } else {
            Err("no --junit".into())
        }
    }

    #[test]
    fn the_ci_examples_run_commands_the_cli_accepts() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci");
        let mut seen = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yml"))
            .collect();
        files.sort();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let commands = labrys_commands(&text);
            assert!(
                !commands.is_empty(),
                "{}: no labrys command",
                file.display()
            );
            for args in commands {
                match validate(&args) {
                    Ok(name) => seen.push(name),
                    Err(e) => panic!("{}: labrys {}: {e}", file.display(), args.join(" ")),
                }
            }
        }
        assert_eq!(seen, ["check", "test"], "{files:?}");
    }

    #[test]
    fn a_bad_command_in_a_workflow_is_caught() {
        let yaml = "      - run: |\n          sudo ./target/release/labrys test --db etcd \\\n            --nemesis partition,kill --junit 'j.xml' || true # comment\n";
        let commands = labrys_commands(yaml);
        assert_eq!(
            commands,
            [[
                "test",
                "--db",
                "etcd",
                "--nemesis",
                "partition,kill",
                "--junit",
                "j.xml"
            ]]
        );
        assert_eq!(validate(&commands[0]), Ok("test"));
        let bad = |line: &str| validate(&labrys_commands(line)[0]).unwrap_err();
        assert!(
            bad("./target/release/labrys test --nemesis explode --junit j").contains("explode")
        );
        assert!(
            bad("./target/release/labrys test --fail-on sometimes --junit j").contains("sometimes")
        );
        assert!(bad("./target/release/labrys check -w bank h.json").contains("--junit"));
        assert!(bad(
            "./target/release/labrys check -w list-append --consistency-models nope h --junit j"
        )
        .contains("nope"));
        assert!(bad("./target/release/labrys check h.json --junit j").contains("--workload"));
    }
}

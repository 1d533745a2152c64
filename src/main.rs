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
    };
    ExitCode::from(code)
}

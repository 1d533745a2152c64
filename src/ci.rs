//! CI gating flags shared by `check`, `test` and `test-all`: `--junit FILE` and `--fail-on`.
//!
//! A CI job gates on the exit code and shows a JUnit report; both must say the same thing and
//! must exist whatever happened, so every command that gives verdicts takes these flags from
//! here, writes its report on every path that returns an exit code (errors included), and
//! maps its exit code through `--fail-on` in one place. The report itself is built by
//! `labrys_harness::junit`.

use clap::builder::TypedValueParser as _;
use clap::Args;
use labrys_harness::junit::{self, FailOn, Suite};
use std::path::PathBuf;

#[derive(Args, Clone, Debug, Default)]
pub struct CiArgs {
    /// Also write the verdicts as JUnit XML to FILE (valid: passed, invalid: <failure>,
    /// unknown: <skipped>, error: <error>); replaced atomically, written whatever the outcome.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// What fails besides errors: `invalid`, or `unknown` to fail unknown verdicts too (exit 1
    /// instead of 2, and a JUnit <failure type="unknown"> instead of <skipped>).
    #[arg(
        long,
        value_name = "VERDICT",
        default_value = "invalid",
        value_parser = clap::builder::PossibleValuesParser::new(FailOn::NAMES)
            .map(|s| s.parse::<FailOn>().expect("one of FailOn::NAMES")),
    )]
    pub fail_on: FailOn,
}

impl CiArgs {
    /// Writes `suite` to the `--junit` file, if one was asked for. False (after saying why on
    /// stderr) when it could not be written.
    pub fn write_junit(&self, command: &str, suite: &Suite) -> bool {
        let Some(path) = &self.junit else {
            return true;
        };
        match junit::write(path, suite, self.fail_on) {
            Ok(()) => true,
            Err(e) => {
                eout!("labrys {command}: {e}");
                false
            }
        }
    }

    /// The command's exit code from its verdicts' `code`, after writing the report: `code`
    /// under `--fail-on`, or 3 when the report could not be written.
    pub fn finish(&self, command: &str, suite: &Suite, code: u8) -> u8 {
        let code = self.fail_on.exit_code(code);
        if self.write_junit(command, suite) {
            code
        } else {
            3
        }
    }
}

/// The `--fail-on` and `--junit` part of each command's exit code table.
const GATING: &str = "\
--fail-on unknown makes an unknown verdict fail like an invalid one: exit 1 instead of 2, and
a JUnit <failure type=\"unknown\"> instead of <skipped>. --junit FILE is written on every path
that ends with an exit code (replaced atomically); a file that cannot be written is an error.
examples/ci/ in the source tree has GitHub Actions workflows that use both.";

/// `labrys check --help`'s exit codes.
pub fn check_help() -> String {
    format!(
        "\
Exit codes (with several files the worst wins: 3 > 1 > 2 > 0):
  0  valid (a history with nothing to check is valid, with a warning)
  1  invalid (with --lint: a warning was found); with --fail-on unknown, also unknown
  2  unknown: out of time (--time-limit) or memory (--memory-limit), or undecidable
  3  error: bad usage, an unreadable or malformed file, ops that are not the workload's,
     or a --junit file that could not be written

--junit FILE: one testcase per history file.
{GATING}"
    )
}

/// `labrys test --help`'s exit codes.
pub fn test_help() -> String {
    format!(
        "\
Exit codes:
  0  valid
  1  invalid (also a test cut short whose history so far is invalid); with
     --fail-on unknown, also unknown
  2  unknown: the checker ran out of time (--check-timeout) or could not decide
  3  error: bad options, a test that could not run, or one cut short (Ctrl-C, SIGTERM, a
     failure) whose history so far is not invalid; or a --junit file that could not be written

--junit FILE: one testcase for the run, with its run folder and report in system-out.
{GATING}"
    )
}

/// The exit codes of `labrys test-all --help`.
pub fn test_all_exit_codes() -> String {
    format!(
        "\
Exit codes (the worst run's wins: 3 > 1 > 2 > 0; skipped combinations do not count):
  0  every run valid
  1  a run invalid; with --fail-on unknown, also a run unknown
  2  a run unknown
  3  error: bad options or plan, a run that could not be done or was cut short, a summary
     or --junit file that could not be written

--junit FILE: one testcase per combination (skipped ones as <skipped>), rewritten after
each run.
{GATING}"
    )
}

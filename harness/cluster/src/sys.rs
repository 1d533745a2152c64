//! Running host commands (`ip`, `iptables`, `ssh-keygen` ...) with errors that say exactly
//! which command failed and what it printed. Arguments are passed as an argv, never via a shell.

use crate::error::ClusterError;
use std::process::{Command, Stdio};

/// Runs `argv`; a non-zero exit is an error carrying the command line and its stderr.
pub fn run(argv: &[&str]) -> Result<String, ClusterError> {
    let (status, stdout, stderr) = run_status(argv)?;
    if status != 0 {
        return Err(ClusterError::Command {
            cmd: labrys_control::shell_join(argv),
            status,
            stderr: stderr.trim().to_string(),
        });
    }
    Ok(stdout)
}

/// Runs `argv` and returns (status, stdout, stderr) whatever the status.
pub fn run_status(argv: &[&str]) -> Result<(i32, String, String), ClusterError> {
    let (prog, args) = argv.split_first().expect("argv is never empty");
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Spawn {
            cmd: labrys_control::shell_join(argv),
            source,
        })?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Runs `argv`, ignoring failure (teardown of things that may already be gone).
pub fn run_quiet(argv: &[&str]) -> bool {
    matches!(run_status(argv), Ok((0, _, _)))
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

//! The [`Remote`] trait: what databases and nemeses may do to a node, and nothing more.
//!
//! It is blocking because ssh2 is; async callers wrap calls in `tokio::task::spawn_blocking`.
//! Every call carries a timeout, so a wedged node can slow a test down but never hang it.

use crate::error::ControlError;
use crate::quote::shell_join;
use std::path::Path;
use std::time::Duration;

/// What a finished command produced.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Output {
    /// Exit status; `-1` when the command was ended by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// A failed run in one line: `exit N: ` and what it wrote (stderr, then stdout).
    pub fn failure(&self) -> String {
        let said = format!("{} {}", self.stderr.trim(), self.stdout.trim());
        format!("exit {}: {}", self.status, said.trim())
    }
}

/// One node the harness controls.
pub trait Remote: Send + Sync {
    /// The node's logical name, e.g. `n1`.
    fn node(&self) -> &str;
    /// Its IP address or hostname, as clients should reach it.
    fn host(&self) -> &str;
    /// Runs an argv; each word is shell-quoted before it reaches the remote shell.
    fn exec(&self, argv: &[&str], timeout: Duration) -> Result<Output, ControlError>;
    /// Runs `sh -c script`.
    fn sh(&self, script: &str, timeout: Duration) -> Result<Output, ControlError>;
    /// Copies a local file to `remote` (a path on the node), creating or replacing it.
    fn upload(&self, local: &Path, remote: &str) -> Result<(), ControlError>;
    /// Copies the node's file `remote` to `local`.
    fn download(&self, remote: &str, local: &Path) -> Result<(), ControlError>;

    /// Like [`Remote::exec`], but a non-zero exit status is a [`ControlError::Failed`].
    fn exec_ok(&self, argv: &[&str], timeout: Duration) -> Result<Output, ControlError> {
        let out = self.exec(argv, timeout)?;
        require_success(self.node(), &shell_join(argv), out)
    }

    /// Like [`Remote::sh`], but a non-zero exit status is a [`ControlError::Failed`].
    fn sh_ok(&self, script: &str, timeout: Duration) -> Result<Output, ControlError> {
        let out = self.sh(script, timeout)?;
        require_success(self.node(), script, out)
    }
}

/// Turns a non-zero exit into [`ControlError::Failed`] naming the node and command.
pub fn require_success(node: &str, cmd: &str, out: Output) -> Result<Output, ControlError> {
    if out.success() {
        Ok(out)
    } else {
        Err(ControlError::Failed {
            node: node.to_string(),
            cmd: cmd.to_string(),
            status: out.status,
            stderr: out.stderr.trim().to_string(),
        })
    }
}

/// Checks a node name before it is used in paths, interface names or commands: non-empty,
/// at most 32 characters of `[A-Za-z0-9._-]`, not starting with `-` or `.`.
pub fn validate_node_name(name: &str) -> Result<(), ControlError> {
    let why = if name.is_empty() {
        Some("empty name")
    } else if name.len() > 32 {
        Some("longer than 32 characters")
    } else if name.starts_with('-') || name.starts_with('.') {
        Some("starts with '-' or '.'")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("only letters, digits, '-', '_' and '.' are allowed")
    } else {
        None
    };
    match why {
        Some(why) => Err(ControlError::BadNode {
            node: name.to_string(),
            why: why.to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        assert!(validate_node_name("n1").is_ok());
        assert!(validate_node_name("db-3.example").is_ok());
        for bad in ["", "-n", "n 1", "n;rm", "a/b", &"x".repeat(33)] {
            let e = validate_node_name(bad).unwrap_err();
            assert!(matches!(e, ControlError::BadNode { .. }), "{bad:?}");
            assert!(e.to_string().contains("invalid node"));
        }
    }

    #[test]
    fn require_success_names_node_and_command() {
        let out = Output {
            status: 2,
            stdout: String::new(),
            stderr: "boom\n".into(),
        };
        let e = require_success("n3", "false", out).unwrap_err();
        assert_eq!(e.node(), "n3");
        assert_eq!(e.to_string(), "node n3: `false` exited with status 2: boom");
    }
}

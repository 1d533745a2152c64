//! Errors of the control layer. Every variant names the node, so a failure in a five-node run
//! says which machine misbehaved without the caller adding context.

use std::time::Duration;

/// Why a command, a transfer or a connection to a node failed.
#[derive(thiserror::Error, Debug)]
pub enum ControlError {
    /// The node name or address cannot be used (empty, odd characters, unresolvable).
    #[error("node {node:?}: invalid node: {why}")]
    BadNode { node: String, why: String },
    /// TCP connection or SSH handshake failed, after every retry.
    #[error("node {node}: cannot connect to {addr} after {attempts} attempt(s): {msg}")]
    Connect {
        node: String,
        addr: String,
        attempts: u32,
        msg: String,
    },
    /// The server refused our key.
    #[error("node {node}: SSH authentication as {user} failed ({key}): {msg}")]
    Auth {
        node: String,
        user: String,
        key: String,
        msg: String,
    },
    /// A command or transfer did not finish in time.
    #[error("node {node}: `{cmd}` timed out after {timeout:?}")]
    Timeout {
        node: String,
        cmd: String,
        timeout: Duration,
    },
    /// A command ran but exited non-zero where success was required.
    #[error("node {node}: `{cmd}` exited with status {status}: {stderr}")]
    Failed {
        node: String,
        cmd: String,
        status: i32,
        stderr: String,
    },
    /// The SSH protocol layer failed mid-session (channel, SCP, session drop).
    #[error("node {node}: ssh: {context}: {msg}")]
    Ssh {
        node: String,
        context: String,
        msg: String,
    },
    /// Local I/O (spawning, reading files for upload, writing downloads).
    #[error("node {node}: {context}: {source}")]
    Io {
        node: String,
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ControlError {
    /// The node the error concerns.
    pub fn node(&self) -> &str {
        match self {
            ControlError::BadNode { node, .. }
            | ControlError::Connect { node, .. }
            | ControlError::Auth { node, .. }
            | ControlError::Timeout { node, .. }
            | ControlError::Failed { node, .. }
            | ControlError::Ssh { node, .. }
            | ControlError::Io { node, .. } => node,
        }
    }

    pub(crate) fn io(node: &str, context: impl Into<String>, source: std::io::Error) -> Self {
        ControlError::Io {
            node: node.to_string(),
            context: context.into(),
            source,
        }
    }
}

//! Errors of cluster management, each naming the cluster and the step or node that failed.

/// Why a cluster operation failed.
#[derive(thiserror::Error, Debug)]
pub enum ClusterError {
    #[error("invalid cluster name {name:?}: {why}")]
    BadName { name: String, why: String },
    #[error("invalid node count {count}: {why}")]
    BadNodeCount { count: usize, why: String },
    #[error("this needs root (network namespaces, iptables, sshd); run `labrys doctor`")]
    NotRoot,
    #[error("`{cmd}` failed (status {status}): {stderr}")]
    Command {
        cmd: String,
        status: i32,
        stderr: String,
    },
    #[error("cannot run `{cmd}`: {source} (is it installed? run `labrys doctor`)")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: corrupt cluster state: {msg}")]
    State { path: String, msg: String },
    #[error("cluster {cluster}: node {node}: {msg}")]
    Node {
        cluster: String,
        node: String,
        msg: String,
    },
    #[error("cluster {name} is up with {have} nodes, not {want}; bring it down first (`labrys cluster down --name {name}`) or ask for {have} nodes")]
    OtherSize {
        name: String,
        have: usize,
        want: usize,
    },
    #[error("{what} not found; install it as root: {fix}")]
    Missing { what: String, fix: String },
    #[error("cluster {name} is in use by another labrys run (pid {pid}); wait for it to end, or use another --cluster name")]
    InUse { name: String, pid: String },
    #[error("no free subnet for cluster {0}")]
    NoSubnet(String),
    #[error(transparent)]
    Control(#[from] labrys_control::ControlError),
}

impl ClusterError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        ClusterError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

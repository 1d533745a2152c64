//! [`DbProcess`]: the process-level handle a database gives the nemesis. Each database
//! implements it (the etcd workload does), so process faults never know which DB they hit.

use labrys_control::Remote;
use std::sync::Arc;

/// Starting and signalling a database's server process on a node.
pub trait DbProcess: Send + Sync {
    /// Starts the server (again) on `node`; used after a kill.
    fn start(&self, node: &dyn Remote) -> anyhow::Result<()>;
    /// SIGKILLs the server on `node`.
    fn kill(&self, node: &dyn Remote) -> anyhow::Result<()>;
    /// SIGSTOPs the server on `node`.
    fn pause(&self, node: &dyn Remote) -> anyhow::Result<()>;
    /// SIGCONTs the server on `node`.
    fn resume(&self, node: &dyn Remote) -> anyhow::Result<()>;
    /// Names of the nodes that currently lead (empty when unknown): targets of
    /// `partition-primaries` and of process faults on the primary.
    fn primaries(&self, _nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        Vec::new()
    }
    /// Whether the server's clock can be shifted with libfaketime (C programs yes, Go no).
    fn honours_faketime(&self) -> bool {
        false
    }
}

//! Local clusters: N nodes on this machine, each a network namespace with its own IP, hostname,
//! private /tmp /root /opt and its own sshd, driven over real SSH exactly like remote machines.
//!
//! - [`naming`]: cluster names, and the interface names and subnet derived from them;
//! - [`state`]: what a cluster is made of, recorded on disk before it is created, so that
//!   [`down`] can remove everything even after the harness crashed;
//! - [`sys`]: running the host's `ip`, `iptables`, ... and reporting failures clearly;
//! - [`net`]: creating and removing the bridge, veths, namespaces and host firewall rules,
//!   and checking what is there ([`status`]);
//! - [`node`]: the per-node holder process, private mounts, hostname and sshd;
//! - [`lock`]: one run per cluster at a time, and adopting a cluster a killed test left;
//! - [`packages`]: installing missing Debian packages on demand (one rule for every command);
//! - [`doctor`]: whether this machine can host clusters, and how to fix it when not.

pub mod doctor;
pub mod error;
pub mod lock;
pub mod naming;
pub mod net;
pub mod node;
pub mod packages;
pub mod state;
pub mod sys;

pub use error::ClusterError;
pub use state::{Cluster, Node};

/// Brings up cluster `name` with `nodes` nodes, or returns it when it is already up and healthy.
/// A cluster that is recorded but broken (e.g. after a crash) is torn down and made again.
pub fn up(name: &str, nodes: usize) -> Result<Cluster, ClusterError> {
    net::up(name, nodes)
}

/// Removes every namespace, interface, firewall rule, process and file of cluster `name`.
/// Idempotent: a cluster that does not exist is not an error.
pub fn down(name: &str) -> Result<(), ClusterError> {
    net::down(name)
}

/// One line per node of cluster `name` (namespace present, sshd answering), for humans.
pub fn status(name: &str) -> Result<Vec<String>, ClusterError> {
    net::status(name)
}

/// The recorded cluster `name`, if any.
pub fn load(name: &str) -> Result<Option<Cluster>, ClusterError> {
    naming::validate_cluster_name(name)?;
    state::load(&state::cluster_dir(name))
}

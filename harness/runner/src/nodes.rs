//! Getting the nodes a test runs on, as [`Remote`]s.
//!
//! A local namespace cluster is brought up through `labrys_cluster`, after installing (as
//! root, with one line saying so) any missing Debian package the cluster and the database
//! need; not as root, the test stops at once with the command that would install them. The
//! run holds the cluster's lock until its teardown ends, so no other run resets the nodes
//! under it. An existing cluster is reused: left up afterwards when someone brought it up by
//! hand or with `--keep-cluster`; adopted, and brought down at the end, when a test made it
//! for itself and was killed before its teardown. Given hosts are reached over SSH as root;
//! `localhost` runs everything on this machine without SSH, for developing against a single
//! member.

use crate::options::NodeSpec;
use labrys_cluster::lock::ClusterLock;
use labrys_cluster::packages::{self, InstallError};
use labrys_control::{LocalRemote, Remote, SshConfig, SshRemote};
use labrys_store::RunLog;
use std::path::Path;
use std::sync::Arc;

/// The nodes of a run and whether the run created the cluster they live in.
pub struct Nodes {
    pub remotes: Vec<Arc<dyn Remote>>,
    /// The local cluster this run brought up or adopted (and so should bring down), if any.
    pub created_cluster: Option<String>,
    /// The run's hold on its local cluster.
    pub lock: Option<ClusterLock>,
}

#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    #[error("cluster {name}: {source}")]
    Cluster {
        name: String,
        #[source]
        source: labrys_cluster::ClusterError,
    },
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Control(#[from] labrys_control::ControlError),
}

/// Installs whichever of `pkgs` this machine lacks (see the module doc).
pub fn ensure_packages(pkgs: &[&str], log: &RunLog) -> Result<(), NodesError> {
    packages::ensure_here(pkgs, &|l| log.line(l))?;
    Ok(())
}

/// Brings up or connects to the nodes `spec` names. `packages` are the Debian packages this
/// machine needs for a local cluster or member (cluster tools, database, fault tools).
pub fn acquire(
    spec: &NodeSpec,
    ssh_key: Option<&Path>,
    packages: &[&str],
    log: &RunLog,
) -> Result<Nodes, NodesError> {
    match spec {
        NodeSpec::Local { cluster, count } => {
            let err = |source| NodesError::Cluster {
                name: cluster.clone(),
                source,
            };
            // Packages first: not as root, the missing ones are named with the command.
            ensure_packages(packages, log)?;
            if !labrys_cluster::sys::is_root() {
                return Err(err(labrys_cluster::ClusterError::NotRoot));
            }
            let lock = labrys_cluster::lock::lock(cluster).map_err(err)?;
            let mut existed = labrys_cluster::load(cluster).map_err(err)?;
            if let Some(c) = &existed {
                if c.nodes.len() != *count && labrys_cluster::lock::is_ephemeral(cluster) {
                    // Left by a killed test, and of another size: nobody's cluster; remake it.
                    labrys_cluster::down(cluster).map_err(err)?;
                    existed = None;
                }
            }
            let recorded = existed.as_ref().map(|c| c.nodes.len());
            let existed = existed.is_some();
            let adopt = existed && labrys_cluster::lock::is_ephemeral(cluster);
            log.line(&if adopt {
                format!("reusing local cluster {cluster}, left by a test that did not finish; it comes down at the end")
            } else if let Some(n) = recorded {
                format!("reusing local cluster {cluster} ({n} nodes)")
            } else {
                format!("bringing up local cluster {cluster} ({count} nodes)")
            });
            let c = labrys_cluster::up(cluster, *count).map_err(err)?;
            // From here on the cluster exists; a failure to connect must still bring it down.
            let created_cluster = (!existed || adopt).then(|| cluster.clone());
            let marked = match &created_cluster {
                Some(name) => labrys_cluster::lock::set_ephemeral(name, true),
                None => Ok(()),
            };
            match marked.and_then(|()| c.connect()) {
                Ok(remotes) => Ok(Nodes {
                    remotes,
                    created_cluster,
                    lock: Some(lock),
                }),
                Err(e) => {
                    if created_cluster.is_some() {
                        let _ = labrys_cluster::down(cluster);
                    }
                    Err(err(e))
                }
            }
        }
        NodeSpec::Hosts(hosts) => {
            let cfg = SshConfig {
                key: ssh_key.map(Path::to_path_buf),
                ..SshConfig::default()
            };
            let mut remotes: Vec<Arc<dyn Remote>> = Vec::new();
            for (name, host) in hosts {
                log.line(&format!("connecting to {name} ({host}) over SSH"));
                let r = SshRemote::new(name, host, cfg.clone())?;
                r.connect()?;
                remotes.push(Arc::new(r));
            }
            Ok(Nodes {
                remotes,
                created_cluster: None,
                lock: None,
            })
        }
        NodeSpec::ThisMachine => {
            // `packages` holds only the database's here (`TestOptions::packages`).
            ensure_packages(packages, log)?;
            Ok(Nodes {
                remotes: vec![Arc::new(LocalRemote::new("n1", "127.0.0.1")?)],
                created_cluster: None,
                lock: None,
            })
        }
    }
}

//! Getting the nodes a test runs on, as [`Remote`]s.
//!
//! A local namespace cluster is brought up through `labrys_cluster`, after installing any
//! missing Debian package the cluster and etcd need. Bringing it up is idempotent: an existing
//! cluster is reused, and then left up, since this run did not make it. Given hosts are
//! reached over SSH as root; `localhost` runs everything on this machine without SSH, for
//! developing against a single member.

use crate::options::NodeSpec;
use labrys_control::{LocalRemote, Remote, SshConfig, SshRemote};
use labrys_store::RunLog;
use std::path::Path;
use std::sync::Arc;

/// The nodes of a run and whether the run created the cluster they live in.
pub struct Nodes {
    pub remotes: Vec<Arc<dyn Remote>>,
    /// The local cluster this run brought up (and so should bring down), if any.
    pub created_cluster: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    #[error("cluster {name}: {source}")]
    Cluster {
        name: String,
        #[source]
        source: labrys_cluster::ClusterError,
    },
    #[error("installing {packages}: {msg}")]
    Install { packages: String, msg: String },
    #[error(transparent)]
    Control(#[from] labrys_control::ControlError),
}

/// Brings up or connects to the nodes `spec` names.
pub fn acquire(spec: &NodeSpec, ssh_key: Option<&Path>, log: &RunLog) -> Result<Nodes, NodesError> {
    match spec {
        NodeSpec::Local { cluster, count } => {
            let err = |source| NodesError::Cluster {
                name: cluster.clone(),
                source,
            };
            let existed = labrys_cluster::load(cluster).map_err(err)?.is_some();
            log.line(&format!(
                "{} local cluster {cluster} ({count} nodes)",
                if existed { "reusing" } else { "bringing up" }
            ));
            let c = labrys_cluster::up(cluster, *count).map_err(err)?;
            // From here on the cluster exists; a failure to connect must still bring it down.
            let created_cluster = if existed { None } else { Some(cluster.clone()) };
            match c.connect() {
                Ok(remotes) => Ok(Nodes {
                    remotes,
                    created_cluster,
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
            })
        }
        NodeSpec::ThisMachine => Ok(Nodes {
            remotes: vec![Arc::new(LocalRemote::new("n1", "127.0.0.1")?)],
            created_cluster: None,
        }),
    }
}

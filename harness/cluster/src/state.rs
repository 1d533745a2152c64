//! The on-disk record of a cluster, written *before* anything is created and updated as it is,
//! so that `down` — possibly run by another process after the harness crashed — knows every
//! namespace, interface and firewall rule to remove.
//!
//! Layout of `<root>/<name>/` (root is `/var/lib/labrys/clusters`, or `$LABRYS_CLUSTER_DIR`):
//! `state.json`, `id_ed25519` (+ `.pub`, `authorized_keys`: root's key for every node), and
//! `nodes/<node>/` holding the node's sshd config, host key, logs and its private
//! `tmp/`, `root/`, `opt/` (bind-mounted over the node's `/tmp`, `/root`, `/opt`).

use crate::error::ClusterError;
use labrys_control::{Remote, SshConfig, SshRemote};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One node of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// A cluster that is up (or recorded as such).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    pub nodes: Vec<Node>,
    /// Private key that logs in as root on every node.
    pub ssh_key: PathBuf,
    /// The cluster's directory (see the module docs).
    pub state_dir: PathBuf,
}

impl Cluster {
    /// One SSH session per node, opened in parallel; fails naming the first unreachable node.
    pub fn connect(&self) -> Result<Vec<Arc<dyn Remote>>, ClusterError> {
        let cfg = SshConfig {
            key: Some(self.ssh_key.clone()),
            ..SshConfig::default()
        };
        let results: Vec<Result<Arc<dyn Remote>, ClusterError>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .nodes
                .iter()
                .map(|n| {
                    let cfg = cfg.clone();
                    s.spawn(move || {
                        let r = SshRemote::new(&n.name, &n.ip.to_string(), cfg)?;
                        r.connect()?;
                        Ok(Arc::new(r) as Arc<dyn Remote>)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("connect thread panicked"))
                .collect()
        });
        results.into_iter().collect()
    }

    /// The directory of node `node` (its sshd files, logs and private mounts).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.state_dir.join("nodes").join(node)
    }
}

/// Everything needed to tear a cluster down; serialized as `state.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    pub name: String,
    pub subnet: [u8; 3],
    pub gateway: Ipv4Addr,
    pub bridge: String,
    pub nodes: Vec<NodeRecord>,
    /// Host `iptables` rules added (as argv after `-A`/`-D`), removed on `down`.
    pub host_rules: Vec<Vec<String>>,
    /// Set once every node answered over SSH.
    pub complete: bool,
}

/// One node's part of the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub name: String,
    pub ip: Ipv4Addr,
    pub netns: String,
    pub veth: String,
}

/// Root of all cluster directories.
pub fn root_dir() -> PathBuf {
    std::env::var_os("LABRYS_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/labrys/clusters"))
}

/// Directory of cluster `name`.
pub fn cluster_dir(name: &str) -> PathBuf {
    root_dir().join(name)
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Reads the record in `dir`, if there is one.
pub fn read_record(dir: &Path) -> Result<Option<Record>, ClusterError> {
    let path = state_file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClusterError::io(&path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ClusterError::State {
            path: path.display().to_string(),
            msg: e.to_string(),
        })
}

/// Writes the record atomically (temp file + rename), so a crash never leaves half a file.
pub fn write_record(dir: &Path, rec: &Record) -> Result<(), ClusterError> {
    std::fs::create_dir_all(dir).map_err(|e| ClusterError::io(dir, e))?;
    let path = state_file(dir);
    let tmp = dir.join("state.json.tmp");
    let text = serde_json::to_string_pretty(rec).expect("record serializes");
    std::fs::write(&tmp, text).map_err(|e| ClusterError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| ClusterError::io(&path, e))
}

/// The cluster a record describes.
pub fn cluster_of(dir: &Path, rec: &Record) -> Cluster {
    Cluster {
        name: rec.name.clone(),
        nodes: rec
            .nodes
            .iter()
            .map(|n| Node {
                name: n.name.clone(),
                ip: n.ip,
            })
            .collect(),
        ssh_key: dir.join("id_ed25519"),
        state_dir: dir.to_path_buf(),
    }
}

/// The complete cluster recorded in `dir`, if any.
pub fn load(dir: &Path) -> Result<Option<Cluster>, ClusterError> {
    Ok(read_record(dir)?
        .filter(|r| r.complete)
        .map(|r| cluster_of(dir, &r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_corruption_is_reported() {
        let dir = std::env::temp_dir().join(format!("labrys-state-{}", std::process::id()));
        let rec = Record {
            version: 1,
            name: "t".into(),
            subnet: [10, 150, 3],
            gateway: Ipv4Addr::new(10, 150, 3, 1),
            bridge: "lbabcdefbr".into(),
            nodes: vec![NodeRecord {
                name: "n1".into(),
                ip: Ipv4Addr::new(10, 150, 3, 11),
                netns: "lb-t-n1".into(),
                veth: "lbabcdefh1".into(),
            }],
            host_rules: vec![vec!["FORWARD".into(), "-i".into(), "lbabcdefbr".into()]],
            complete: false,
        };
        assert_eq!(read_record(&dir).unwrap(), None);
        write_record(&dir, &rec).unwrap();
        assert_eq!(read_record(&dir).unwrap(), Some(rec.clone()));
        assert_eq!(
            load(&dir).unwrap(),
            None,
            "incomplete clusters are not loaded"
        );
        write_record(
            &dir,
            &Record {
                complete: true,
                ..rec
            },
        )
        .unwrap();
        let c = load(&dir).unwrap().unwrap();
        assert_eq!(c.nodes[0].name, "n1");
        assert_eq!(c.ssh_key, dir.join("id_ed25519"));
        std::fs::write(dir.join("state.json"), "{not json").unwrap();
        let e = read_record(&dir).unwrap_err();
        assert!(e.to_string().contains("state.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

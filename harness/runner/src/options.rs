//! What a test run is asked to do, checked in full before any node is touched.
//!
//! `labrys test` maps its flags onto [`TestOptions`]; a bad value (unknown database, fault or
//! workload, bad node name, zero rate) is an [`OptionsError`] naming the option, so the user
//! learns it in milliseconds instead of after a cluster came up.

use std::path::PathBuf;
use std::time::Duration;

use labrys_db::{DbKind, DbOptions};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the nodes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeSpec {
    /// A local namespace cluster named `cluster` with `count` nodes. Brought up when missing;
    /// brought down at the end only if this run created it (and `--keep-cluster` is off).
    Local { cluster: String, count: usize },
    /// Existing machines reached over SSH as root: (node name, host).
    Hosts(Vec<(String, String)>),
    /// This machine alone, without SSH (`--nodes localhost`): one member on 127.0.0.1.
    ThisMachine,
}

/// Every option of a test run.
#[derive(Clone, Debug)]
pub struct TestOptions {
    pub db: String,
    pub workload: String,
    /// Fault names for the nemesis (empty: no faults).
    pub nemesis: Vec<String>,
    pub nemesis_interval: Duration,
    pub time_limit: Duration,
    pub nodes: NodeSpec,
    pub keep_cluster: bool,
    pub seed: u64,
    /// Client workers in total; `None` is two per node.
    pub concurrency: Option<usize>,
    /// Client ops per second, across all workers.
    pub rate: f64,
    /// An op without an answer after this is recorded as `info`.
    pub op_timeout: Duration,
    /// The store's root folder (`store`).
    pub store_root: PathBuf,
    /// SSH private key for `NodeSpec::Hosts`.
    pub ssh_key: Option<PathBuf>,
    /// About how many ops each register key receives before the test moves to fresh keys
    /// (keeps each key's linearizability search small).
    pub ops_per_key: u64,
    /// Time the checker may take before answering `unknown`.
    pub check_timeout: Option<Duration>,
    /// Where etcd members keep data, log and pid file on each node.
    pub db_dir: Option<String>,
    /// `--db-opt key=value`: options of the database under test (e.g. etcd's
    /// `reads=serializable`, possibly stale reads, for demonstrating the checker).
    pub db_opts: BTreeMap<String, String>,
    /// `--isolation`: the transaction isolation level (default: the database's first).
    pub isolation: Option<String>,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            db: "etcd".into(),
            workload: "register".into(),
            nemesis: Vec::new(),
            nemesis_interval: Duration::from_secs(10),
            time_limit: Duration::from_secs(60),
            nodes: NodeSpec::Local {
                cluster: "labrys".into(),
                count: 5,
            },
            keep_cluster: false,
            seed: 0,
            concurrency: None,
            rate: 20.0,
            op_timeout: Duration::from_secs(5),
            store_root: PathBuf::from("store"),
            ssh_key: None,
            ops_per_key: 120,
            check_timeout: Some(Duration::from_secs(600)),
            db_dir: None,
            db_opts: BTreeMap::new(),
            isolation: None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    #[error("--db {0:?}: expected one of {1}")]
    Db(String, String),
    #[error("{0}")]
    DbOption(String),
    #[error("--nemesis: {0}")]
    Nemesis(String),
    #[error("--{option}: {msg}")]
    Value { option: &'static str, msg: String },
    #[error("--nodes: {0}")]
    Nodes(String),
}

impl TestOptions {
    /// The test's name in the store: `<db>-<workload>`, then `-<isolation>` when one was
    /// asked for.
    pub fn test_name(&self) -> String {
        match &self.isolation {
            Some(i) => format!("{}-{}-{i}", self.db, self.workload),
            None => format!("{}-{}", self.db, self.workload),
        }
    }

    /// Node count (for concurrency defaults and node-per-worker assignment).
    pub fn node_count(&self) -> usize {
        match &self.nodes {
            NodeSpec::Local { count, .. } => *count,
            NodeSpec::Hosts(h) => h.len(),
            NodeSpec::ThisMachine => 1,
        }
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(2 * self.node_count().max(1))
    }

    /// The Debian packages this machine needs for the run: the cluster's tools for a local
    /// cluster, the database's packages for a local cluster or member, libfaketime for clock
    /// faults. Nothing for given hosts (the database installs itself on each over SSH).
    pub fn packages(&self, db: &dyn DbKind) -> Vec<&'static str> {
        let mut p: Vec<&'static str> = match self.nodes {
            NodeSpec::Local { .. } => labrys_cluster::doctor::CLUSTER_PACKAGES.to_vec(),
            NodeSpec::ThisMachine => Vec::new(),
            NodeSpec::Hosts(_) => return Vec::new(),
        };
        p.extend_from_slice(db.info().packages);
        if self.faults().iter().any(|f| f == "clock") {
            p.push("faketime");
        }
        p
    }

    /// What the database is told of this test.
    pub fn db_options(&self) -> DbOptions {
        DbOptions {
            workload: self.workload.clone(),
            opts: self.db_opts.clone(),
            dir: self.db_dir.clone(),
            isolation: self.isolation.clone(),
            run_dir: None,
        }
    }

    /// The database `--db` names, among `dbs`.
    pub fn db_kind(&self, dbs: &[Arc<dyn DbKind>]) -> Result<Arc<dyn DbKind>, OptionsError> {
        dbs.iter()
            .find(|d| d.info().name == self.db)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = dbs.iter().map(|d| d.info().name).collect();
                OptionsError::Db(self.db.clone(), names.join(", "))
            })
    }

    /// The fault names, split on commas, `none` meaning no fault.
    pub fn faults(&self) -> Vec<String> {
        self.nemesis
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "none")
            .map(str::to_string)
            .collect()
    }

    /// Checks every option against `dbs` (the databases the binary knows) before anything
    /// runs.
    pub fn validate(&self, dbs: &[Arc<dyn DbKind>]) -> Result<(), OptionsError> {
        let db = self.db_kind(dbs)?;
        if crate::workload::workload(&self.workload).is_none() {
            let names: Vec<&str> = crate::workload::WORKLOADS.iter().map(|w| w.name).collect();
            return Err(OptionsError::Value {
                option: "workload",
                msg: format!("{:?}: expected one of {}", self.workload, names.join(", ")),
            });
        }
        db.validate(&self.db_options())
            .map_err(|e| OptionsError::DbOption(e.to_string()))?;
        for f in self.faults() {
            let fault = labrys_nemesis::Fault::parse(&f)
                .map_err(|e| OptionsError::Nemesis(e.to_string()))?;
            if fault == labrys_nemesis::Fault::Clock && !db.info().honours_faketime {
                return Err(OptionsError::Nemesis(format!(
                    "clock: {}; choose other faults",
                    db.info().faketime_note
                )));
            }
        }
        let positive = |option: &'static str, d: Duration| {
            if d.is_zero() {
                Err(OptionsError::Value {
                    option,
                    msg: "must be more than 0".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("time-limit", self.time_limit)?;
        positive("nemesis-interval", self.nemesis_interval)?;
        positive("op-timeout", self.op_timeout)?;
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(OptionsError::Value {
                option: "rate",
                msg: format!("{} is not a positive number of ops per second", self.rate),
            });
        }
        if self.concurrency == Some(0) {
            return Err(OptionsError::Value {
                option: "concurrency",
                msg: "must be at least 1".into(),
            });
        }
        if self.ops_per_key == 0 {
            return Err(OptionsError::Value {
                option: "ops-per-key",
                msg: "must be at least 1".into(),
            });
        }
        match &self.nodes {
            NodeSpec::Local { cluster, count } => {
                labrys_cluster::naming::validate_cluster_name(cluster).map_err(|e| {
                    OptionsError::Value {
                        option: "cluster",
                        msg: e.to_string(),
                    }
                })?;
                labrys_cluster::naming::validate_node_count(*count).map_err(|e| {
                    OptionsError::Value {
                        option: "node-count",
                        msg: e.to_string(),
                    }
                })?;
            }
            NodeSpec::Hosts(hosts) => {
                if hosts.is_empty() {
                    return Err(OptionsError::Nodes("no nodes given".into()));
                }
                for (name, _) in hosts {
                    labrys_control::remote::validate_node_name(name)
                        .map_err(|e| OptionsError::Nodes(e.to_string()))?;
                }
            }
            NodeSpec::ThisMachine => {
                if !self.faults().is_empty() {
                    return Err(OptionsError::Nemesis(
                        "faults need real nodes: with --nodes localhost, use --nemesis none".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The options as recorded in `test.json`.
    pub fn to_json(&self) -> serde_json::Value {
        let nodes = match &self.nodes {
            NodeSpec::Local { cluster, count } => {
                serde_json::json!({"local-cluster": cluster, "count": count})
            }
            NodeSpec::Hosts(h) => serde_json::json!({
                "hosts": h.iter().map(|(n, host)| serde_json::json!({"name": n, "host": host})).collect::<Vec<_>>()
            }),
            NodeSpec::ThisMachine => serde_json::json!("localhost"),
        };
        serde_json::json!({
            "name": self.test_name(),
            "db": self.db,
            "workload": self.workload,
            "nemesis": self.faults(),
            "nemesis-interval-s": self.nemesis_interval.as_secs_f64(),
            "time-limit-s": self.time_limit.as_secs_f64(),
            "nodes": nodes,
            "keep-cluster": self.keep_cluster,
            "seed": self.seed,
            "concurrency": self.concurrency(),
            "rate": self.rate,
            "op-timeout-s": self.op_timeout.as_secs_f64(),
            "ops-per-key": self.ops_per_key,
            "db-opts": self.db_opts,
            "checker-workload": crate::verdict::checker_workload(&self.workload),
        })
    }
}

/// Parses `--nodes`: `localhost` alone, or a comma list of `host` or `name=host`. A bare host
/// is named after itself when that is a valid node name, else `n<i>`.
pub fn parse_nodes(s: &str) -> Result<NodeSpec, OptionsError> {
    let items: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect();
    if items.is_empty() {
        return Err(OptionsError::Nodes(
            "expected a comma-separated list of hosts".into(),
        ));
    }
    if items == ["localhost"] {
        return Ok(NodeSpec::ThisMachine);
    }
    // `--nodes 5` is almost always meant as a node count; a host named by a bare number is
    // not a real host name, and trying it costs a long SSH timeout.
    if let [n] = items.as_slice() {
        if n.parse::<u64>().is_ok() {
            return Err(OptionsError::Nodes(format!(
                "{n:?} is not a host; for a local cluster of {n} nodes use --node-count {n}"
            )));
        }
    }
    let mut hosts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (name, host) = match item.split_once('=') {
            Some((n, h)) => (n.to_string(), h.to_string()),
            None if labrys_control::remote::validate_node_name(item).is_ok() => {
                (item.to_string(), item.to_string())
            }
            None => (format!("n{}", i + 1), item.to_string()),
        };
        if host.is_empty() {
            return Err(OptionsError::Nodes(format!("{item:?} has no host")));
        }
        labrys_control::remote::validate_node_name(&name)
            .map_err(|e| OptionsError::Nodes(e.to_string()))?;
        if hosts.iter().any(|(n, _)| *n == name) {
            return Err(OptionsError::Nodes(format!(
                "node name {name:?} given twice"
            )));
        }
        hosts.push((name, host));
    }
    Ok(NodeSpec::Hosts(hosts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dbs() -> Vec<Arc<dyn DbKind>> {
        /// A database like etcd as far as options go: register and list-append, no
        /// libfaketime, one `reads` option.
        struct Like;
        static INFO: labrys_db::DbInfo = labrys_db::DbInfo {
            name: "etcd",
            packages: &["etcd-server"],
            honours_faketime: false,
            faketime_note: "a Go program, so libfaketime cannot shift it",
            workloads: &["register", "list-append"],
            options: &[labrys_db::DbOpt {
                key: "reads",
                values: &["linearizable", "serializable"],
                help: "",
            }],
            isolations: &[],
        };
        impl DbKind for Like {
            fn info(&self) -> &'static labrys_db::DbInfo {
                &INFO
            }
            fn open(
                &self,
                _: &[Arc<dyn labrys_control::Remote>],
                _: &DbOptions,
            ) -> Result<Arc<dyn labrys_db::Db>, labrys_db::DbError> {
                Err(labrys_db::DbError::Other("not in these tests".into()))
            }
        }
        vec![Arc::new(Like)]
    }

    #[test]
    fn defaults_are_valid() {
        let o = TestOptions::default();
        o.validate(&dbs()).unwrap();
        assert_eq!(o.concurrency(), 10);
        assert_eq!(o.test_name(), "etcd-register");
    }

    #[test]
    fn bad_values_name_the_option() {
        let bad = |f: fn(&mut TestOptions)| {
            let mut o = TestOptions::default();
            f(&mut o);
            o.validate(&dbs()).unwrap_err().to_string()
        };
        assert!(bad(|o| o.db = "mongo".into()).contains("--db"));
        assert!(bad(|o| o.workload = "bank".into()).contains("--workload"));
        assert!(
            bad(|o| o.db_opts = [("reads".into(), "fast".into())].into())
                .contains("reads=fast: expected one of linearizable, serializable")
        );
        assert!(bad(|o| o.nemesis = vec!["partition,explode".into()]).contains("explode"));
        assert!(bad(|o| o.rate = 0.0).contains("--rate"));
        assert!(bad(|o| o.time_limit = Duration::ZERO).contains("--time-limit"));
        assert!(bad(|o| o.concurrency = Some(0)).contains("--concurrency"));
        assert!(bad(|o| o.nodes = NodeSpec::Local {
            cluster: "Bad Name".into(),
            count: 5
        })
        .starts_with("--cluster: "));
        assert!(bad(|o| o.nodes = NodeSpec::Local {
            cluster: "labrys".into(),
            count: 0
        })
        .starts_with("--node-count: "));
        assert!(bad(|o| o.nemesis = vec!["partition,clock".into()]).contains("libfaketime"));
        let mut o = TestOptions {
            nodes: NodeSpec::ThisMachine,
            ..TestOptions::default()
        };
        o.nemesis = vec!["none".into()];
        o.validate(&dbs()).unwrap();
        o.nemesis = vec!["kill".into()];
        assert!(o.validate(&dbs()).is_err());
    }

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes("localhost").unwrap(), NodeSpec::ThisMachine);
        assert_eq!(
            parse_nodes("n1=10.0.0.1, n2=10.0.0.2").unwrap(),
            NodeSpec::Hosts(vec![
                ("n1".into(), "10.0.0.1".into()),
                ("n2".into(), "10.0.0.2".into())
            ])
        );
        match parse_nodes("db-a,10.1.1.1").unwrap() {
            NodeSpec::Hosts(h) => {
                assert_eq!(h[0], ("db-a".into(), "db-a".into()));
                assert_eq!(h[1].1, "10.1.1.1");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_nodes("").is_err());
        assert!(parse_nodes("n1=a,n1=b").is_err());
        assert!(parse_nodes("x=").is_err());
        let e = parse_nodes("3").unwrap_err().to_string();
        assert!(e.contains("use --node-count 3"), "{e}");
    }
}

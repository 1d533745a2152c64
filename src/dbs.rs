//! The databases `labrys test --db` can name: the one place that names database crates.
//!
//! Adding a database is one crate (implementing `labrys_db::DbKind` and `Db`) and one line
//! here.

use labrys_db::DbKind;
use std::sync::Arc;

/// `--db`'s help: each database with the workloads and levels it runs.
pub fn help() -> String {
    let mut s = String::from("Database to test:");
    for d in all() {
        let i = d.info();
        s.push_str(&format!("\n  {}: {}", i.name, i.workloads.join(", ")));
        if !i.isolations.is_empty() {
            let levels: Vec<&str> = i.isolations.iter().map(|l| l.name).collect();
            s.push_str(&format!(" (--isolation {})", levels.join(", ")));
        }
    }
    s.push_str("\n  or any other: --config FILE (a test file; see examples/any-db/)");
    s
}

/// Every database this binary can test.
pub fn all() -> Vec<Arc<dyn DbKind>> {
    vec![
        Arc::new(labrys_etcd::EtcdKind),
        Arc::new(labrys_postgres::PostgresKind),
        Arc::new(labrys_redis::RedisKind),
        Arc::new(labrys_zookeeper::ZookeeperKind),
        Arc::new(labrys_galera::GaleraKind),
    ]
}

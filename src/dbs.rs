//! The databases `labrys test --db` can name: the one place that names database crates.
//!
//! Adding a database is one crate (implementing `labrys_db::DbKind` and `Db`) and one line
//! here.

use labrys_db::DbKind;
use std::sync::Arc;

/// Every database this binary can test.
pub fn all() -> Vec<Arc<dyn DbKind>> {
    vec![
        Arc::new(labrys_etcd::EtcdKind),
        Arc::new(labrys_galera::GaleraKind),
    ]
}

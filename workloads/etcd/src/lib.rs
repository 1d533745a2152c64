//! etcd as a labrys database: the first real system labrys tests.
//!
//! - [`db`]: installing etcd (Debian's `etcd-server`), configuring an N-member cluster on the
//!   node addresses, starting it detached, killing, pausing and resuming it by pid file, log
//!   download and wiping at teardown; implements [`labrys_nemesis::DbProcess`];
//! - [`gateway`]: the v3 JSON gateway's request and response shapes (base64 keys and values,
//!   int64 as strings), as pure functions;
//! - [`client`]: the per-key cas-register client over that gateway, classifying every error
//!   as `fail` (certainly did not happen) or `info` (may have happened);
//! - [`append`]: the list-append client (Elle's transactional workload) over etcd txns;
//! - [`health`]: waiting for every member to report healthy, and finding the leader.

pub mod append;
pub mod client;
pub mod db;
pub mod gateway;
pub mod health;

pub use append::EtcdAppendClient;
pub use client::EtcdClient;
pub use db::{Etcd, EtcdConfig, EtcdError};

/// Whether libfaketime can shift an etcd member's clock: no, etcd is a Go program and reads
/// the clock without libc. Clock faults on etcd are refused before anything starts.
pub const HONOURS_FAKETIME: bool = false;

/// The Debian packages a machine needs to run etcd members.
pub const PACKAGES: &[&str] = &["etcd-server"];

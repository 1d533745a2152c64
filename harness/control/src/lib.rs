//! How the harness reaches its nodes: one small blocking [`Remote`] trait and its transports.
//!
//! Databases and nemeses only ever see `&dyn Remote`, so a cluster of network namespaces on this
//! machine, real hosts over SSH and (later) container exec all plug in without touching them.
//!
//! - [`remote`]: the trait, [`Output`] and the convenience methods every transport shares;
//! - [`error`]: [`ControlError`], each variant naming the node it concerns;
//! - [`quote`]: [`shell_quote`], so that node names and paths never reach a shell unquoted;
//! - [`local`]: [`LocalRemote`], commands run on this machine (tests, `--nodes localhost`);
//! - [`ssh`]: [`SshRemote`], one ssh2 session per node with a channel per command;
//! - [`daemon`]: [`Daemon`], a server on a node by pid file (start detached, kill, pause,
//!   resume, wipe with its orphans): the one copy every database uses;
//! - `poll`: the deadline-bounded waiting both transports share.

pub mod daemon;
pub mod error;
pub mod local;
mod poll;
pub mod quote;
pub mod remote;
pub mod ssh;

pub use daemon::Daemon;
pub use error::ControlError;
pub use local::LocalRemote;
pub use quote::{shell_join, shell_quote};
pub use remote::{Output, Remote};
pub use ssh::{SshConfig, SshRemote};

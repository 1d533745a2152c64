//! Databases labrys knows only from the outside.
//!
//! A team testing its own database should not have to write Rust: a test file
//! ([`config::TestFile`], `labrys test --config mydb.toml`) gives the commands that install,
//! start, check and wipe its servers on each node ([`db::CommandKind`], behind the same
//! `labrys-db` traits as the built-in databases), and [`client`] runs each worker's client as
//! a subprocess in any language, speaking one JSON object per line on its stdin and stdout
//! (the protocol is `docs/client-protocol.md`).
//!
//! ## Invariants
//! - An op is `ok` or `fail` only when the subprocess said so for exactly that op (its `id`);
//!   anything else — a late or foreign reply, garbage, a crash, a hang — is `info`, and the
//!   subprocess is replaced before the next op, so no reply can ever be read as another op's.
//! - A subprocess serves one logical process: when the runtime retires a process (after an
//!   `info`), its subprocess is killed and the new process gets a fresh one.

pub mod client;
pub mod config;
pub mod db;

pub use client::{ClientCommand, NodeEnv, SubprocessClient};
pub use config::{ConfigError, TestFile};
pub use db::CommandKind;

//! One labrys run per cluster at a time, and clusters a test leaves behind.
//!
//! A test resets every node before it starts (faults healed, stale servers stopped, data
//! wiped). Done to a cluster another test is using, that would break the other test, so a test
//! holds [`ClusterLock`] for its whole run: an exclusive `flock` on `<root>/<name>.lock`, which
//! the kernel drops when the holder exits in any way, SIGKILL included. A lock that is free
//! therefore means nobody is using the cluster, whatever the lock file still says.
//!
//! A test that brings a cluster up for itself marks it *ephemeral*. If that test is killed
//! before its teardown, the next test that finds the cluster (free, ephemeral) adopts it: it
//! resets and uses it, then brings it down as the killed run would have.

use crate::error::ClusterError;
use crate::naming;
use crate::state;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Held while a run uses a cluster; released on drop or exit.
#[derive(Debug)]
pub struct ClusterLock {
    _file: std::fs::File,
}

/// Takes cluster `name` for this process, or says which process has it.
pub fn lock(name: &str) -> Result<ClusterLock, ClusterError> {
    lock_in(&state::root_dir(), name)
}

fn lock_in(root: &Path, name: &str) -> Result<ClusterLock, ClusterError> {
    naming::validate_cluster_name(name)?;
    std::fs::create_dir_all(root).map_err(|e| ClusterError::io(root, e))?;
    let path = root.join(format!("{name}.lock"));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| ClusterError::io(&path, e))?;
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let pid = std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        return Err(ClusterError::InUse {
            name: name.to_string(),
            pid: if pid.is_empty() {
                "unknown".into()
            } else {
                pid
            },
        });
    }
    file.set_len(0).map_err(|e| ClusterError::io(&path, e))?;
    let _ = write!(file, "{}", std::process::id());
    Ok(ClusterLock { _file: file })
}

fn marker(cluster_dir: &Path) -> PathBuf {
    cluster_dir.join("ephemeral")
}

/// Marks cluster `name` as made by a test for itself (`true`), or as kept (`false`).
pub fn set_ephemeral(name: &str, on: bool) -> Result<(), ClusterError> {
    set_ephemeral_in(&state::cluster_dir(name), on)
}

fn set_ephemeral_in(cluster_dir: &Path, on: bool) -> Result<(), ClusterError> {
    let path = marker(cluster_dir);
    if on {
        std::fs::write(&path, b"brought up by a test; down at its end\n")
            .map_err(|e| ClusterError::io(&path, e))
    } else {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::io(&path, e)),
            _ => Ok(()),
        }
    }
}

/// Whether cluster `name` was brought up by a test that meant to bring it down.
pub fn is_ephemeral(name: &str) -> bool {
    marker(&state::cluster_dir(name)).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let root = std::env::temp_dir().join(format!("labrys-lock-{}", std::process::id()));
        let first = lock_in(&root, "locktest").unwrap();
        let msg = lock_in(&root, "locktest").unwrap_err().to_string();
        assert!(msg.contains("in use by another labrys run"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        drop(lock_in(&root, "locktest").unwrap());
        assert!(lock_in(&root, "Bad Name").is_err());

        let dir = root.join("locktest");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!marker(&dir).is_file());
        set_ephemeral_in(&dir, true).unwrap();
        assert!(marker(&dir).is_file());
        set_ephemeral_in(&dir, false).unwrap();
        set_ephemeral_in(&dir, false).unwrap();
        assert!(!marker(&dir).is_file());
        let _ = std::fs::remove_dir_all(&root);
    }
}

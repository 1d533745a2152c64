//! [`LocalRemote`]: a "node" that is this machine. Used by unit tests and `--nodes localhost`,
//! and as the reference behaviour the SSH transport must match.
//!
//! `exec` runs the argv directly (no shell is involved, so nothing needs quoting); `sh` runs
//! `sh -c`. Each command runs in its own process group so a timeout kills everything it started.

use crate::error::ControlError;
use crate::poll::Poller;
use crate::remote::{validate_node_name, Output, Remote};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs commands on the local machine under a node name.
#[derive(Clone, Debug)]
pub struct LocalRemote {
    node: String,
    host: String,
}

impl LocalRemote {
    /// A local node named `node` that clients reach at `host` (e.g. `127.0.0.1`).
    pub fn new(node: &str, host: &str) -> Result<LocalRemote, ControlError> {
        validate_node_name(node)?;
        Ok(LocalRemote {
            node: node.to_string(),
            host: host.to_string(),
        })
    }

    fn run(
        &self,
        mut cmd: Command,
        shown: &str,
        timeout: Duration,
    ) -> Result<Output, ControlError> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| ControlError::io(&self.node, format!("spawning `{shown}`"), e))?;
        let mut out_pipe = child.stdout.take().expect("stdout is piped");
        let mut err_pipe = child.stderr.take().expect("stderr is piped");
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out_pipe.read_to_end(&mut buf);
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err_pipe.read_to_end(&mut buf);
            buf
        });
        let mut poll = Poller::new(Instant::now() + timeout, Duration::from_millis(20));
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if poll.wait() => {}
                Ok(None) => {
                    kill_group(child.id());
                    let _ = child.wait();
                    return Err(ControlError::Timeout {
                        node: self.node.clone(),
                        cmd: shown.to_string(),
                        timeout,
                    });
                }
                Err(e) => {
                    return Err(ControlError::io(
                        &self.node,
                        format!("waiting for `{shown}`"),
                        e,
                    ))
                }
            }
        };
        // Background children that keep the pipes open must not hang us: they were told to
        // detach, and if they did not, the readers are abandoned after a short grace period.
        let stdout = join_reader(out_reader);
        let stderr = join_reader(err_reader);
        Ok(Output {
            status: status
                .code()
                .unwrap_or_else(|| -status.signal().unwrap_or(1)),
            stdout,
            stderr,
        })
    }
}

fn join_reader(h: std::thread::JoinHandle<Vec<u8>>) -> String {
    let mut poll = Poller::new(
        Instant::now() + Duration::from_secs(2),
        Duration::from_millis(2),
    );
    while !h.is_finished() && poll.wait() {}
    if h.is_finished() {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    } else {
        String::new()
    }
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

impl Remote for LocalRemote {
    fn node(&self) -> &str {
        &self.node
    }

    fn host(&self) -> &str {
        &self.host
    }

    fn exec(&self, argv: &[&str], timeout: Duration) -> Result<Output, ControlError> {
        let Some((prog, args)) = argv.split_first() else {
            return Err(ControlError::io(
                &self.node,
                "exec",
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv"),
            ));
        };
        let mut cmd = Command::new(prog);
        cmd.args(args);
        self.run(cmd, &crate::shell_join(argv), timeout)
    }

    fn sh(&self, script: &str, timeout: Duration) -> Result<Output, ControlError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        self.run(cmd, script, timeout)
    }

    fn upload(&self, local: &Path, remote: &str) -> Result<(), ControlError> {
        std::fs::copy(local, remote).map(|_| ()).map_err(|e| {
            ControlError::io(
                &self.node,
                format!("copying {} to {remote}", local.display()),
                e,
            )
        })
    }

    fn download(&self, remote: &str, local: &Path) -> Result<(), ControlError> {
        std::fs::copy(remote, local).map(|_| ()).map_err(|e| {
            ControlError::io(
                &self.node,
                format!("copying {remote} to {}", local.display()),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> LocalRemote {
        LocalRemote::new("n1", "127.0.0.1").unwrap()
    }

    #[test]
    fn exec_passes_words_verbatim() {
        let out = node()
            .exec(
                &["printf", "%s|", "a b", "$HOME", "it's"],
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(out.status, 0);
        assert_eq!(out.stdout, "a b|$HOME|it's|");
    }

    #[test]
    fn sh_reports_status_and_streams() {
        let out = node()
            .sh("echo out; echo err >&2; exit 7", Duration::from_secs(5))
            .unwrap();
        assert_eq!(out.status, 7);
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        let e = node().sh_ok("exit 3", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, ControlError::Failed { status: 3, .. }), "{e}");
    }

    #[test]
    fn timeout_kills_the_command() {
        let start = Instant::now();
        let e = node()
            .sh("sleep 30", Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(e, ControlError::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("n1"));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn missing_program_is_an_error_naming_the_node() {
        let e = node()
            .exec(&["/nonexistent/labrys-prog"], Duration::from_secs(1))
            .unwrap_err();
        assert!(e.to_string().starts_with("node n1:"), "{e}");
    }

    #[test]
    fn upload_and_download_copy_files() {
        let dir = std::env::temp_dir().join(format!("labrys-control-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a");
        let b = dir.join("b");
        let c = dir.join("c");
        std::fs::write(&a, b"payload").unwrap();
        let n = node();
        n.upload(&a, b.to_str().unwrap()).unwrap();
        n.download(b.to_str().unwrap(), &c).unwrap();
        assert_eq!(std::fs::read(&c).unwrap(), b"payload");
        let e = n.download("/nonexistent/labrys-x", &c).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/labrys-x"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

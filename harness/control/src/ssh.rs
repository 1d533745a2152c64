//! [`SshRemote`]: a node reached over SSH with ssh2 (libssh2), key authentication as root.
//!
//! One TCP connection and SSH session per node, opened lazily and re-opened after a drop; every
//! command gets its own channel, so several threads can drive one node at once. The session is
//! kept in non-blocking mode and every libssh2 call is retried until it stops saying "again" or
//! the call's deadline passes: that is what puts a timeout on every call, and what keeps one
//! long-running command from holding the session lock while others wait. Each of those calls,
//! and each channel's release, takes one per-node lock, and channels start one at a time:
//! libssh2 is not safe otherwise (see the fields of [`SshRemote`]).
//! Connecting retries with exponential backoff, because a freshly started sshd (or a node
//! coming back from a partition) refuses connections for a moment.
//! Host keys are not verified: the nodes are this machine's own namespaces or hosts the
//! operator named on the command line, and test clusters regenerate their keys on every `up`.

use crate::error::ControlError;
use crate::poll::Poller;
use crate::quote::{shell_join, shell_quote};
use crate::remote::{validate_node_name, Output, Remote};
use ssh2::{Channel, ErrorCode, Session};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// libssh2's "would block" code.
const EAGAIN: i32 = -37;

/// Longest sleep between two polls of a non-blocking call: short enough that a command's
/// round trips add little latency, long enough that waiting on a slow command costs no CPU.
const MAX_POLL: Duration = Duration::from_millis(1);

/// How to reach the nodes.
#[derive(Clone, Debug)]
pub struct SshConfig {
    pub user: String,
    pub port: u16,
    /// Private key file; when `None`, the ssh agent is asked.
    pub key: Option<PathBuf>,
    /// Timeout of one TCP connect + handshake + authentication attempt.
    pub connect_timeout: Duration,
    /// Connection attempts before giving up (at least 1).
    pub connect_attempts: u32,
    /// Deadline of one upload or download.
    pub transfer_timeout: Duration,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            user: "root".into(),
            port: 22,
            key: None,
            connect_timeout: Duration::from_secs(5),
            connect_attempts: 5,
            transfer_timeout: Duration::from_secs(120),
        }
    }
}

/// A node driven over SSH.
pub struct SshRemote {
    node: String,
    host: String,
    cfg: SshConfig,
    session: Mutex<Option<Session>>,
    /// Held while a channel is opened and its command started. libssh2 waits for the reply to
    /// a channel open or exec request by reading packets until one of the reply's *type*
    /// arrives, and gives up if that reply is for another channel: two channels starting at
    /// once on one session make one of them fail spuriously ("Failed waiting for channel
    /// success") although its command may already run. Starting channels one at a time
    /// removes the race; running commands still share the session freely.
    startup: Mutex<()>,
    /// Held around every libssh2 call on this node's session and its channels (each call is
    /// non-blocking, so it is held briefly). ssh2 locks the session for most calls but not
    /// when it frees a channel, and freeing one edits the session's packet and channel lists:
    /// a channel dropped while another thread reads the session corrupts them (a crash seen
    /// with many concurrent commands). So channels live in [`Chan`], which drops them under
    /// this lock, and no call bypasses it.
    io: Mutex<()>,
}

/// A channel of a node's session that is only dropped under the node's `io` lock.
struct Chan<'a> {
    ch: Option<Channel>,
    io: &'a Mutex<()>,
}

impl std::ops::Deref for Chan<'_> {
    type Target = Channel;
    fn deref(&self) -> &Channel {
        self.ch.as_ref().expect("a live channel")
    }
}

impl std::ops::DerefMut for Chan<'_> {
    fn deref_mut(&mut self) -> &mut Channel {
        self.ch.as_mut().expect("a live channel")
    }
}

impl Drop for Chan<'_> {
    fn drop(&mut self) {
        let _io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        drop(self.ch.take());
    }
}

impl std::fmt::Debug for SshRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshRemote")
            .field("node", &self.node)
            .field("host", &self.host)
            .finish()
    }
}

/// Whether an ssh2 error means "try again".
fn is_again(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(EAGAIN)
}

impl SshRemote {
    /// A node named `node` at `host`. Nothing is opened until the first call (see
    /// [`SshRemote::connect`] to fail early).
    pub fn new(node: &str, host: &str, cfg: SshConfig) -> Result<SshRemote, ControlError> {
        validate_node_name(node)?;
        if host.is_empty() {
            return Err(ControlError::BadNode {
                node: node.into(),
                why: "empty host".into(),
            });
        }
        Ok(SshRemote {
            node: node.to_string(),
            host: host.to_string(),
            cfg,
            session: Mutex::new(None),
            startup: Mutex::new(()),
            io: Mutex::new(()),
        })
    }

    /// Opens the session now (with retries), so that unreachable nodes are reported up front.
    pub fn connect(&self) -> Result<(), ControlError> {
        self.session().map(|_| ())
    }

    fn session(&self) -> Result<Session, ControlError> {
        let mut guard = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = self.open_with_retries()?;
        *guard = Some(s.clone());
        Ok(s)
    }

    /// Forgets the session after a transport failure; the next call reconnects.
    fn drop_session(&self) {
        let mut guard = self.session.lock().unwrap_or_else(|p| p.into_inner());
        *guard = None;
    }

    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.cfg.port)
        } else {
            format!("{}:{}", self.host, self.cfg.port)
        }
    }

    fn open_with_retries(&self) -> Result<Session, ControlError> {
        let attempts = self.cfg.connect_attempts.max(1);
        let mut backoff = Duration::from_millis(100);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.open_once() {
                Ok(s) => return Ok(s),
                Err(e @ (ControlError::Auth { .. } | ControlError::BadNode { .. })) => {
                    return Err(e)
                }
                Err(e) => {
                    tracing::debug!(node = %self.node, attempt, "ssh connect failed: {e}");
                    last = match e {
                        ControlError::Connect { msg, .. } => msg,
                        other => other.to_string(),
                    };
                }
            }
            if attempt < attempts {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        Err(ControlError::Connect {
            node: self.node.clone(),
            addr: self.addr(),
            attempts,
            msg: last,
        })
    }

    fn open_once(&self) -> Result<Session, ControlError> {
        let connect_err = |msg: String| ControlError::Connect {
            node: self.node.clone(),
            addr: self.addr(),
            attempts: 1,
            msg,
        };
        let addr = (self.host.as_str(), self.cfg.port)
            .to_socket_addrs()
            .map_err(|e| ControlError::BadNode {
                node: self.node.clone(),
                why: format!("cannot resolve host {:?}: {e}", self.host),
            })?
            .next()
            .ok_or_else(|| ControlError::BadNode {
                node: self.node.clone(),
                why: format!("host {:?} has no address", self.host),
            })?;
        let tcp = TcpStream::connect_timeout(&addr, self.cfg.connect_timeout)
            .map_err(|e| connect_err(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let mut sess = Session::new().map_err(|e| connect_err(e.to_string()))?;
        sess.set_tcp_stream(tcp);
        sess.set_blocking(true);
        sess.set_timeout(self.cfg.connect_timeout.as_millis().min(u32::MAX as u128) as u32);
        sess.handshake()
            .map_err(|e| connect_err(format!("handshake: {e}")))?;
        let auth = match &self.cfg.key {
            Some(key) => sess.userauth_pubkey_file(&self.cfg.user, None, key, None),
            None => sess.userauth_agent(&self.cfg.user),
        };
        let key_desc = match &self.cfg.key {
            Some(k) => format!("key {}", k.display()),
            None => "ssh agent".to_string(),
        };
        if let Err(e) = auth {
            return Err(ControlError::Auth {
                node: self.node.clone(),
                user: self.cfg.user.clone(),
                key: key_desc,
                msg: e.to_string(),
            });
        }
        if !sess.authenticated() {
            return Err(ControlError::Auth {
                node: self.node.clone(),
                user: self.cfg.user.clone(),
                key: key_desc,
                msg: "not authenticated".into(),
            });
        }
        sess.set_timeout(0);
        sess.set_blocking(false);
        Ok(sess)
    }

    fn ssh_err(&self, context: &str, e: impl std::fmt::Display) -> ControlError {
        ControlError::Ssh {
            node: self.node.clone(),
            context: context.to_string(),
            msg: e.to_string(),
        }
    }

    fn timeout_err(&self, call: &Call) -> ControlError {
        ControlError::Timeout {
            node: self.node.clone(),
            cmd: call.what.to_string(),
            timeout: call.timeout,
        }
    }

    /// Repeats a non-blocking libssh2 call until it completes or the call's deadline passes.
    fn again<T>(
        &self,
        step: &str,
        call: &Call,
        mut f: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, ControlError> {
        let mut poll = call.poller();
        loop {
            match self.io(&mut f) {
                Ok(v) => return Ok(v),
                Err(e) if is_again(&e) => {
                    if !poll.wait() {
                        return Err(self.timeout_err(call));
                    }
                }
                Err(e) => return Err(self.ssh_err(step, e)),
            }
        }
    }

    /// Like [`SshRemote::again`] for `std::io` reads and writes, which say "again" as
    /// `WouldBlock`: `Ok(None)` means not ready yet.
    fn io_ready<T>(&self, step: &str, r: std::io::Result<T>) -> Result<Option<T>, ControlError> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(self.ssh_err(step, e)),
        }
    }

    /// Opens a channel, reconnecting once if the session turned out to be dead.
    fn channel(&self, call: &Call) -> Result<Chan<'_>, ControlError> {
        let sess = self.session()?;
        let ch = match self.again("opening a channel", call, || sess.channel_session()) {
            Err(ControlError::Ssh { .. }) => {
                self.drop_session();
                let sess = self.session()?;
                self.again("opening a channel", call, || sess.channel_session())
            }
            other => other,
        }?;
        Ok(self.chan(ch))
    }

    /// Runs one libssh2 call under the node's `io` lock (see [`SshRemote::io`]).
    fn io<T>(&self, f: impl FnOnce() -> T) -> T {
        let _io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        f()
    }

    fn chan(&self, ch: Channel) -> Chan<'_> {
        Chan {
            ch: Some(ch),
            io: &self.io,
        }
    }

    /// Serialises channel start-ups on this node (see [`SshRemote::startup`]).
    fn starting(&self) -> std::sync::MutexGuard<'_, ()> {
        self.startup.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, cmd: &str, timeout: Duration) -> Result<Output, ControlError> {
        let call = Call::new(cmd, timeout);
        let mut ch = {
            let _one_at_a_time = self.starting();
            let mut ch = self.channel(&call)?;
            if let Err(e) = self.again("exec", &call, || ch.exec(call.what)) {
                let _ = self.io(|| ch.close());
                return Err(e);
            }
            ch
        };
        let result = self.run_on(&mut ch, &call);
        if result.is_err() {
            let _ = self.io(|| ch.close());
        }
        result
    }

    /// Collects the output and exit status of the command started on `ch`.
    fn run_on(&self, ch: &mut Chan<'_>, call: &Call) -> Result<Output, ControlError> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let (mut out_done, mut err_done) = (false, false);
        let mut poll = call.poller();
        while !(out_done && err_done) {
            let mut progressed = false;
            for (done, sink, stream, step) in [
                (&mut out_done, &mut stdout, 0, "reading stdout"),
                (&mut err_done, &mut stderr, 1, "reading stderr"),
            ] {
                if *done {
                    continue;
                }
                let read = self.io(|| ch.stream(stream).read(&mut buf));
                match self.io_ready(step, read) {
                    Ok(Some(0)) => *done = true,
                    Ok(Some(n)) => {
                        sink.extend_from_slice(&buf[..n]);
                        progressed = true;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.drop_session();
                        return Err(e);
                    }
                }
            }
            if progressed {
                poll.progressed();
            } else if !poll.wait() {
                return Err(self.timeout_err(call));
            }
        }
        self.again("closing the channel", call, || ch.close())?;
        self.again("closing the channel", call, || ch.wait_close())?;
        let mut status = self
            .io(|| ch.exit_status())
            .map_err(|e| self.ssh_err("exit status", e))?;
        if let Ok(sig) = self.io(|| ch.exit_signal()) {
            if sig.exit_signal.is_some() {
                status = -1;
            }
        }
        Ok(Output {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

/// One call's description and deadline, for error messages and polling.
struct Call<'a> {
    what: &'a str,
    timeout: Duration,
    deadline: Instant,
}

impl<'a> Call<'a> {
    fn new(what: &'a str, timeout: Duration) -> Call<'a> {
        Call {
            what,
            timeout,
            deadline: Instant::now() + timeout,
        }
    }

    fn poller(&self) -> Poller {
        Poller::new(self.deadline, MAX_POLL)
    }
}

impl Remote for SshRemote {
    fn node(&self) -> &str {
        &self.node
    }

    fn host(&self) -> &str {
        &self.host
    }

    fn exec(&self, argv: &[&str], timeout: Duration) -> Result<Output, ControlError> {
        self.run(&shell_join(argv), timeout)
    }

    fn sh(&self, script: &str, timeout: Duration) -> Result<Output, ControlError> {
        self.run(&format!("sh -c {}", shell_quote(script)), timeout)
    }

    fn upload(&self, local: &Path, remote: &str) -> Result<(), ControlError> {
        let what = format!("upload {} -> {remote}", local.display());
        let data = std::fs::read(local)
            .map_err(|e| ControlError::io(&self.node, format!("reading {}", local.display()), e))?;
        let call = Call::new(&what, self.cfg.transfer_timeout);
        let sess = self.session()?;
        let mut ch = {
            let _one_at_a_time = self.starting();
            self.chan(self.again(&what, &call, || {
                sess.scp_send(Path::new(remote), 0o644, data.len() as u64, None)
            })?)
        };
        let mut rest = &data[..];
        let mut poll = call.poller();
        while !rest.is_empty() {
            match self.io_ready(&what, self.io(|| ch.write(rest)))? {
                Some(n) => {
                    rest = &rest[n..];
                    poll.progressed();
                }
                None if !poll.wait() => return Err(self.timeout_err(&call)),
                None => {}
            }
        }
        self.again(&what, &call, || ch.send_eof())?;
        self.again(&what, &call, || ch.wait_eof())?;
        self.again(&what, &call, || ch.close())?;
        self.again(&what, &call, || ch.wait_close())?;
        Ok(())
    }

    fn download(&self, remote: &str, local: &Path) -> Result<(), ControlError> {
        let what = format!("download {remote} -> {}", local.display());
        let call = Call::new(&what, self.cfg.transfer_timeout);
        let sess = self.session()?;
        let (mut ch, stat) = {
            let _one_at_a_time = self.starting();
            let (ch, stat) = self.again(&what, &call, || sess.scp_recv(Path::new(remote)))?;
            (self.chan(ch), stat)
        };
        let size = stat.size() as usize;
        let mut data = Vec::with_capacity(size);
        let mut buf = [0u8; 32 * 1024];
        let mut poll = call.poller();
        while data.len() < size {
            let want = (size - data.len()).min(buf.len());
            match self.io_ready(&what, self.io(|| ch.read(&mut buf[..want])))? {
                Some(0) => break,
                Some(n) => {
                    data.extend_from_slice(&buf[..n]);
                    poll.progressed();
                }
                None if !poll.wait() => return Err(self.timeout_err(&call)),
                None => {}
            }
        }
        if data.len() < size {
            return Err(self.ssh_err(&what, format!("short read: {} of {size} bytes", data.len())));
        }
        let _ = self.again(&what, &call, || ch.close());
        std::fs::write(local, &data)
            .map_err(|e| ControlError::io(&self.node, format!("writing {}", local.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_and_hosts_are_rejected_up_front() {
        assert!(matches!(
            SshRemote::new("n 1", "10.0.0.1", SshConfig::default()),
            Err(ControlError::BadNode { .. })
        ));
        assert!(matches!(
            SshRemote::new("n1", "", SshConfig::default()),
            Err(ControlError::BadNode { .. })
        ));
    }

    #[test]
    fn refused_connection_is_a_connect_error_after_retries() {
        // Port 1 on localhost is closed on any sane machine: connect is refused at once.
        let cfg = SshConfig {
            port: 1,
            connect_attempts: 2,
            connect_timeout: Duration::from_millis(500),
            ..SshConfig::default()
        };
        let r = SshRemote::new("n9", "127.0.0.1", cfg).unwrap();
        let e = r.exec(&["true"], Duration::from_secs(5)).unwrap_err();
        match &e {
            ControlError::Connect { node, attempts, .. } => {
                assert_eq!(node, "n9");
                assert_eq!(*attempts, 2);
            }
            other => panic!("expected Connect, got {other}"),
        }
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
    }

    #[test]
    fn unresolvable_host_is_a_bad_node() {
        let r = SshRemote::new("n2", "no-such-host.invalid", SshConfig::default()).unwrap();
        let e = r.connect().unwrap_err();
        assert!(matches!(e, ControlError::BadNode { .. }), "{e}");
    }
}

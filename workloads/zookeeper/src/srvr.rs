//! ZooKeeper's `srvr` four-letter command: how labrys tells a serving member from one that is
//! not, and the leader from its followers.
//!
//! A member answers `srvr` on its client port with lines such as `Mode: leader` and
//! `Zxid: 0x100000002`. A member that is not part of a quorum answers `This ZooKeeper instance
//! is not currently serving requests` instead, and a paused or dead one does not answer: both
//! count as "not serving". The command must be whitelisted (`4lw.commands.whitelist`), which
//! the rendered `zoo.cfg` does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a member's `srvr` answer says about its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Leader,
    Follower,
    Observer,
    /// A single server without an ensemble (its own leader).
    Standalone,
}

impl Mode {
    /// Whether this member decides writes.
    pub fn leads(self) -> bool {
        matches!(self, Mode::Leader | Mode::Standalone)
    }
}

/// The `Mode:` line of a `srvr` answer; `None` when the member is not serving (or the text is
/// not a `srvr` answer at all).
pub fn parse_mode(answer: &str) -> Option<Mode> {
    answer.lines().find_map(|l| {
        let m = l.strip_prefix("Mode:")?.trim();
        match m {
            "leader" => Some(Mode::Leader),
            "follower" => Some(Mode::Follower),
            "observer" => Some(Mode::Observer),
            "standalone" => Some(Mode::Standalone),
            _ => None,
        }
    })
}

fn resolve(addr: &str) -> std::io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("{addr}: no address"))
    })
}

/// Sends `srvr` to `addr` (`host:port`) and returns the whole answer (blocking).
pub fn srvr(addr: &str, timeout: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&resolve(addr)?, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"srvr")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// [`srvr`] on the async runtime.
pub async fn srvr_async(addr: &str, timeout: Duration) -> std::io::Result<String> {
    let run = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"srvr").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEADER: &str =
        "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\n\
        Zxid: 0x100000002\nMode: leader\nNode count: 6\nProposal sizes last/min/max: -1/-1/-1\n";

    #[test]
    fn modes_are_read_from_the_answer() {
        assert_eq!(parse_mode(LEADER), Some(Mode::Leader));
        assert!(Mode::Leader.leads() && Mode::Standalone.leads());
        assert!(!Mode::Follower.leads());
        assert_eq!(
            parse_mode(&LEADER.replace("leader", "follower")),
            Some(Mode::Follower)
        );
        assert_eq!(parse_mode("Mode: standalone\n"), Some(Mode::Standalone));
        assert_eq!(
            parse_mode("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
        assert_eq!(
            parse_mode("srvr is not executed because it is not in the whitelist.\n"),
            None
        );
        assert_eq!(parse_mode(""), None);
        assert_eq!(parse_mode("Mode: confused\n"), None);
    }

    /// A fake member on loopback answers once; a closed port is an error, not a mode.
    #[tokio::test]
    async fn srvr_reads_the_whole_answer() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = l.accept().unwrap();
                let mut cmd = [0u8; 4];
                s.read_exact(&mut cmd).unwrap();
                assert_eq!(&cmd, b"srvr");
                s.write_all(LEADER.as_bytes()).unwrap();
            }
        });
        let t1 = Duration::from_secs(5);
        assert_eq!(srvr(&addr, t1).unwrap(), LEADER);
        assert_eq!(srvr_async(&addr, t1).await.unwrap(), LEADER);
        t.join().unwrap();
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        assert!(srvr(&dead, t1).is_err());
        assert!(srvr_async(&dead, t1).await.is_err());
    }
}

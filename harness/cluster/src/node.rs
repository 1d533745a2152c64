//! One node's life inside its namespace: keys, sshd config, the holder process and readiness.
//!
//! The holder is `ip netns exec <ns> unshare --mount --uts` running a short script that
//! bind-mounts the node's private `tmp/`, `root/` and `opt/` over `/tmp`, `/root` and `/opt`, sets
//! the hostname, starts sshd (bound to the node's IP, with its own host key, `UsePAM no`, a high
//! `MaxStartups`) and then sleeps forever, keeping the mount and UTS namespaces alive. It is
//! started with `setsid -f` and its output goes to a file, so neither a Ctrl-C of the harness nor
//! a closed terminal reaches it; `down` ends it (and everything the database started) by
//! SIGKILLing every process in the namespace. `ip netns exec` also bind-mounts
//! `/etc/netns/<ns>/hosts` over `/etc/hosts` (how nodes resolve each other's names) and
//! `/etc/netns/<ns>/resolv.conf` over `/etc/resolv.conf` (a local resolver that fails fast).

use crate::error::ClusterError;
use crate::state::NodeRecord;
use crate::sys;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// The sshd binary.
pub const SSHD: &str = "/usr/sbin/sshd";

/// Generates an ed25519 key at `path` unless it exists.
pub fn ensure_key(path: &Path, comment: &str) -> Result<(), ClusterError> {
    if path.exists() {
        return Ok(());
    }
    let p = path.to_str().ok_or_else(|| {
        ClusterError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
        )
    })?;
    sys::run(&[
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        comment,
        "-f",
        p,
    ])?;
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), ClusterError> {
    std::fs::write(path, text).map_err(|e| ClusterError::io(path, e))
}

/// The sshd configuration of one node.
pub fn sshd_config(ip: Ipv4Addr, node_dir: &Path, authorized_keys: &Path) -> String {
    format!(
        "ListenAddress {ip}:22\n\
         HostKey {hk}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {ak}\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         MaxStartups 200:30:400\n\
         MaxSessions 200\n\
         LoginGraceTime 30\n\
         AcceptEnv LANG LC_*\n\
         Subsystem sftp internal-sftp\n",
        hk = node_dir.join("ssh_host_ed25519_key").display(),
        pid = node_dir.join("sshd.pid").display(),
        ak = authorized_keys.display(),
    )
}

/// Prepares the node's directory (private mounts, keys, sshd config, /etc/netns hosts file)
/// and starts its holder. Returns once the holder was launched; see [`wait_ssh`].
pub fn start(
    cluster_dir: &Path,
    node: &NodeRecord,
    all: &[NodeRecord],
) -> Result<(), ClusterError> {
    let dir = cluster_dir.join("nodes").join(&node.name);
    for sub in ["tmp", "root", "opt"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| ClusterError::io(&d, e))?;
    }
    use std::os::unix::fs::PermissionsExt;
    let tmp = dir.join("tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))
        .map_err(|e| ClusterError::io(&tmp, e))?;
    ensure_key(&dir.join("ssh_host_ed25519_key"), &node.name)?;
    let cfg = dir.join("sshd_config");
    write(
        &cfg,
        &sshd_config(node.ip, &dir, &cluster_dir.join("authorized_keys")),
    )?;
    let etc = Path::new("/etc/netns").join(&node.netns);
    std::fs::create_dir_all(&etc).map_err(|e| ClusterError::io(&etc, e))?;
    let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for n in all {
        hosts.push_str(&format!("{} {}\n", n.ip, n.name));
    }
    write(&etc.join("hosts"), &hosts)?;
    write(&etc.join("hostname"), &format!("{}\n", node.name))?;
    // Nodes have no route to the host's DNS servers (no NAT): without this, every lookup that
    // misses /etc/hosts (an IPv6 lookup of a node name, say) waits for resolver timeouts.
    write(
        &etc.join("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )?;
    std::fs::create_dir_all("/run/sshd").map_err(|e| ClusterError::io("/run/sshd", e))?;

    let d = dir.display();
    let script = format!(
        "set -e; mount --bind {d}/tmp /tmp; mount --bind {d}/root /root; \
         mount --bind {d}/opt /opt; hostname {name}; \
         {SSHD} -f {d}/sshd_config -E {d}/sshd.log </dev/null >/dev/null 2>&1; \
         exec sleep infinity",
        name = node.name,
    );
    let log = dir.join("holder.log");
    let log_file = std::fs::File::create(&log).map_err(|e| ClusterError::io(&log, e))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| ClusterError::io(&log, e))?;
    let status = std::process::Command::new("setsid")
        .args(["-f", "ip", "netns", "exec", &node.netns])
        .args(["unshare", "--mount", "--uts", "--propagation", "private"])
        .args(["sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        .status()
        .map_err(|source| ClusterError::Spawn {
            cmd: format!("setsid -f ip netns exec {} unshare ...", node.netns),
            source,
        })?;
    if !status.success() {
        return Err(ClusterError::Node {
            cluster: String::new(),
            node: node.name.clone(),
            msg: format!("holder did not start ({status}); see {}", log.display()),
        });
    }
    Ok(())
}

/// Waits until the node's sshd accepts TCP connections.
pub fn wait_ssh(
    cluster: &str,
    node: &NodeRecord,
    log: &Path,
    timeout: Duration,
) -> Result<(), ClusterError> {
    let addr = SocketAddr::from((node.ip, 22));
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            return Err(ClusterError::Node {
                cluster: cluster.to_string(),
                node: node.name.clone(),
                msg: format!(
                    "sshd not listening on {addr} after {timeout:?}; holder log: {}",
                    tail.trim()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs every process in namespace `netns` and waits (briefly) until they are gone.
pub fn kill_all(netns: &str) {
    for _ in 0..50 {
        let pids = match sys::run_status(&["ip", "netns", "pids", netns]) {
            Ok((0, out, _)) => out
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .collect::<Vec<_>>(),
            _ => return,
        };
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            // SAFETY: kill(2) on a pid read from the kernel; no memory is involved.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

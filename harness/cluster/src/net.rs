//! Bringing a cluster up and down: the bridge, one veth + namespace per node, the host's
//! FORWARD rules, then the nodes themselves ([`crate::node`]).
//!
//! `up` records its plan on disk before touching the system, and tears down whatever it made
//! when a step fails. `down` works from the record *and* from names derived from the cluster name
//! (namespaces `lb-<name>-n*`, links `lb<tag>*`, FORWARD rules naming the bridge), so it cleans up
//! after a crash at any point, and running it twice is harmless.

use crate::error::ClusterError;
use crate::naming;
use crate::node;
use crate::state::{self, Cluster, NodeRecord, Record};
use crate::sys;
use labrys_control::Remote;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a node's sshd may take to listen.
const SSH_READY: Duration = Duration::from_secs(15);

/// See [`crate::up`].
pub fn up(name: &str, count: usize) -> Result<Cluster, ClusterError> {
    naming::validate_cluster_name(name)?;
    naming::validate_node_count(count)?;
    if !sys::is_root() {
        return Err(ClusterError::NotRoot);
    }
    // Without sshd no node can ever answer: say so now, not after waiting for it.
    if !Path::new(node::SSHD).exists() {
        return Err(ClusterError::Missing {
            what: node::SSHD.to_string(),
            fix: crate::packages::install_command(&["openssh-server"]),
        });
    }
    let dir = state::cluster_dir(name);
    if let Ok(Some(rec)) = state::read_record(&dir) {
        if rec.complete && healthy(&rec) {
            if rec.nodes.len() == count {
                return Ok(state::cluster_of(&dir, &rec));
            }
            // A running cluster is never resized behind its user's back: nodes may hold a
            // test's state, and a smaller count would silently drop some.
            return Err(ClusterError::OtherSize {
                name: name.to_string(),
                have: rec.nodes.len(),
                want: count,
            });
        }
        tracing::info!(
            cluster = name,
            "recorded cluster is stale or different; recreating"
        );
    }
    down(name)?;
    let started = Instant::now();
    let result = create(name, count, &dir);
    match result {
        Ok(c) => {
            tracing::info!(cluster = name, nodes = count, elapsed = ?started.elapsed(), "cluster up");
            Ok(c)
        }
        Err(e) => {
            if let Err(e2) = down(name) {
                tracing::warn!(cluster = name, "cleanup after failed up also failed: {e2}");
            }
            Err(e)
        }
    }
}

fn healthy(rec: &Record) -> bool {
    let names = netns_list();
    rec.nodes.iter().all(|n| {
        names.contains(&n.netns)
            && std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::from((n.ip, 22)),
                Duration::from_millis(300),
            )
            .is_ok()
    })
}

/// Subnets recorded by other clusters or present on host interfaces.
fn used_subnets(name: &str) -> HashSet<[u8; 3]> {
    let mut used = HashSet::new();
    if let Ok(entries) = std::fs::read_dir(state::root_dir()) {
        for e in entries.flatten() {
            if e.file_name().to_str() == Some(name) {
                continue;
            }
            if let Ok(Some(r)) = state::read_record(&e.path()) {
                used.insert(r.subnet);
            }
        }
    }
    if let Ok(out) = sys::run(&["ip", "-4", "-o", "addr", "show"]) {
        for word in out.split_whitespace() {
            if let Some((addr, _)) = word.split_once('/') {
                if let Ok(ip) = addr.parse::<std::net::Ipv4Addr>() {
                    let o = ip.octets();
                    used.insert([o[0], o[1], o[2]]);
                }
            }
        }
    }
    used
}

fn create(name: &str, count: usize, dir: &Path) -> Result<Cluster, ClusterError> {
    let used = used_subnets(name);
    let subnet = (0..256)
        .map(|p| naming::subnet(name, p))
        .find(|s| !used.contains(s))
        .ok_or_else(|| ClusterError::NoSubnet(name.to_string()))?;
    let bridge = naming::bridge(name);
    let nodes: Vec<NodeRecord> = (1..=count)
        .map(|i| NodeRecord {
            name: naming::node_name(i),
            ip: naming::node_ip(subnet, i),
            netns: naming::netns(name, i),
            veth: naming::veth_host(name, i),
        })
        .collect();
    let have_iptables = sys::run_quiet(&["iptables", "-w", "-S", "FORWARD"]);
    let host_rules: Vec<Vec<String>> = if have_iptables {
        vec![
            vec![
                "FORWARD".into(),
                "-i".into(),
                bridge.clone(),
                "-j".into(),
                "ACCEPT".into(),
            ],
            vec![
                "FORWARD".into(),
                "-o".into(),
                bridge.clone(),
                "-j".into(),
                "ACCEPT".into(),
            ],
        ]
    } else {
        Vec::new()
    };
    let mut rec = Record {
        version: 1,
        name: name.to_string(),
        subnet,
        gateway: naming::gateway(subnet),
        bridge: bridge.clone(),
        nodes,
        host_rules,
        complete: false,
    };
    state::write_record(dir, &rec)?;

    let key = dir.join("id_ed25519");
    node::ensure_key(&key, &format!("labrys-{name}"))?;
    let pubkey = dir.join("id_ed25519.pub");
    let ak = dir.join("authorized_keys");
    std::fs::copy(&pubkey, &ak).map_err(|e| ClusterError::io(&ak, e))?;

    let gw = format!("{}/24", rec.gateway);
    sys::run(&["ip", "link", "add", &bridge, "type", "bridge"])?;
    sys::run(&["ip", "addr", "add", &gw, "dev", &bridge])?;
    sys::run(&["ip", "link", "set", &bridge, "up"])?;
    for rule in &rec.host_rules {
        let mut argv = vec!["iptables", "-w", "-I"];
        argv.extend(rule.iter().map(String::as_str));
        sys::run(&argv)?;
    }
    for (i, n) in rec.nodes.iter().enumerate() {
        let peer = naming::veth_peer(name, i + 1);
        let ns = n.netns.as_str();
        let addr = format!("{}/24", n.ip);
        let gw_ip = rec.gateway.to_string();
        sys::run(&["ip", "netns", "add", ns])?;
        sys::run(&[
            "ip", "link", "add", &n.veth, "type", "veth", "peer", "name", &peer,
        ])?;
        sys::run(&["ip", "link", "set", &peer, "netns", ns])?;
        sys::run(&["ip", "link", "set", &n.veth, "master", &bridge, "up"])?;
        sys::run(&["ip", "-n", ns, "link", "set", &peer, "name", "eth0"])?;
        sys::run(&["ip", "-n", ns, "addr", "add", &addr, "dev", "eth0"])?;
        sys::run(&["ip", "-n", ns, "link", "set", "eth0", "up"])?;
        sys::run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        sys::run(&["ip", "-n", ns, "route", "add", "default", "via", &gw_ip])?;
    }
    for n in &rec.nodes {
        node::start(dir, n, &rec.nodes).map_err(|e| match e {
            ClusterError::Node { node, msg, .. } => ClusterError::Node {
                cluster: name.to_string(),
                node,
                msg,
            },
            other => other,
        })?;
    }
    for n in &rec.nodes {
        let log = dir.join("nodes").join(&n.name).join("holder.log");
        node::wait_ssh(name, n, &log, SSH_READY)?;
    }
    let cluster = state::cluster_of(dir, &rec);
    let remotes = cluster.connect()?;
    for r in &remotes {
        let out = r.exec_ok(&["hostname"], Duration::from_secs(10))?;
        if out.stdout.trim() != r.node() {
            return Err(ClusterError::Node {
                cluster: name.to_string(),
                node: r.node().to_string(),
                msg: format!(
                    "hostname is {:?}, expected {:?}",
                    out.stdout.trim(),
                    r.node()
                ),
            });
        }
    }
    rec.complete = true;
    state::write_record(dir, &rec)?;
    Ok(cluster)
}

/// Names of all network namespaces.
fn netns_list() -> HashSet<String> {
    sys::run(&["ip", "netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Whether `ns` is node namespace of cluster `name` (`lb-<name>-n<digits>`).
fn is_cluster_netns(name: &str, ns: &str) -> bool {
    ns.strip_prefix(&format!("lb-{name}-n"))
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Names of host links starting with `prefix`.
fn links_with_prefix(prefix: &str) -> Vec<String> {
    sys::run(&["ip", "-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// See [`crate::down`].
pub fn down(name: &str) -> Result<(), ClusterError> {
    naming::validate_cluster_name(name)?;
    if !sys::is_root() {
        return Err(ClusterError::NotRoot);
    }
    // Without sshd no node can ever answer: say so now, not after waiting for it.
    if !Path::new(node::SSHD).exists() {
        return Err(ClusterError::Missing {
            what: node::SSHD.to_string(),
            fix: crate::packages::install_command(&["openssh-server"]),
        });
    }
    let dir = state::cluster_dir(name);
    let rec = match state::read_record(&dir) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(cluster = name, "{e}; cleaning up by derived names only");
            None
        }
    };
    let mut namespaces: Vec<String> = netns_list()
        .into_iter()
        .filter(|ns| is_cluster_netns(name, ns))
        .collect();
    if let Some(r) = &rec {
        for n in &r.nodes {
            if !namespaces.contains(&n.netns) {
                namespaces.push(n.netns.clone());
            }
        }
    }
    for ns in &namespaces {
        node::kill_all(ns);
        sys::run_quiet(&["ip", "netns", "del", ns]);
        let etc = Path::new("/etc/netns").join(ns);
        if etc.exists() {
            std::fs::remove_dir_all(&etc).map_err(|e| ClusterError::io(&etc, e))?;
        }
    }
    for link in links_with_prefix(&naming::link_prefix(name)) {
        sys::run_quiet(&["ip", "link", "del", &link]);
    }
    let bridge = naming::bridge(name);
    let mut rules = rec
        .as_ref()
        .map(|r| r.host_rules.clone())
        .unwrap_or_default();
    if let Ok(out) = sys::run(&["iptables", "-w", "-S", "FORWARD"]) {
        for line in out.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"-A") && words.contains(&bridge.as_str()) {
                rules.push(words[1..].iter().map(|w| w.to_string()).collect());
            }
        }
    }
    for rule in &rules {
        let mut argv = vec!["iptables", "-w", "-D"];
        argv.extend(rule.iter().map(String::as_str));
        // A rule may have been inserted twice (an interrupted up); remove every copy.
        for _ in 0..8 {
            if !sys::run_quiet(&argv) {
                break;
            }
        }
    }
    let leftovers: Vec<String> = netns_list()
        .into_iter()
        .filter(|ns| is_cluster_netns(name, ns))
        .chain(links_with_prefix(&naming::link_prefix(name)))
        .collect();
    if !leftovers.is_empty() {
        return Err(ClusterError::Node {
            cluster: name.to_string(),
            node: "-".into(),
            msg: format!("could not remove {}", leftovers.join(", ")),
        });
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| ClusterError::io(&dir, e))?;
    }
    Ok(())
}

/// One line per node for `labrys cluster status`: name, IP, namespace present, sshd answering.
pub fn status(name: &str) -> Result<Vec<String>, ClusterError> {
    naming::validate_cluster_name(name)?;
    let dir = state::cluster_dir(name);
    let Some(rec) = state::read_record(&dir)? else {
        return Ok(vec![format!("cluster {name}: not up")]);
    };
    let names = netns_list();
    let mut lines = vec![format!(
        "cluster {name}: {} node(s), subnet {}.{}.{}.0/24, bridge {}, {}",
        rec.nodes.len(),
        rec.subnet[0],
        rec.subnet[1],
        rec.subnet[2],
        rec.bridge,
        if rec.complete {
            "complete"
        } else {
            "INCOMPLETE (run `labrys cluster down`)"
        }
    )];
    let cluster = state::cluster_of(&dir, &rec);
    for n in &rec.nodes {
        let ns = names.contains(&n.netns);
        let ssh = if ns {
            let cfg = labrys_control::SshConfig {
                key: Some(cluster.ssh_key.clone()),
                connect_attempts: 1,
                connect_timeout: Duration::from_secs(2),
                ..Default::default()
            };
            match labrys_control::SshRemote::new(&n.name, &n.ip.to_string(), cfg)
                .and_then(|r| r.exec_ok(&["hostname"], Duration::from_secs(3)))
            {
                Ok(_) => "ssh ok".to_string(),
                Err(e) => format!("ssh FAILED: {e}"),
            }
        } else {
            "namespace MISSING".to_string()
        };
        lines.push(format!(
            "  {:<4} {:<15} {:<16} {ssh}",
            n.name, n.ip, n.netns
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_namespaces_are_recognised_exactly() {
        assert!(is_cluster_netns("ci", "lb-ci-n1"));
        assert!(is_cluster_netns("ci", "lb-ci-n12"));
        assert!(!is_cluster_netns("ci", "lb-ci-n"));
        assert!(!is_cluster_netns("ci", "lb-ci-x-n1"));
        assert!(!is_cluster_netns("c", "lb-ci-n1"));
        assert!(!is_cluster_netns("ci", "lb-ci-n1x"));
    }
}

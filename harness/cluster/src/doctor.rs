//! `labrys doctor`: whether this machine can host labrys clusters and run the databases, and
//! for each prerequisite that is missing, the exact command that fixes it.
//!
//! Checks, in order: root; Debian packages (openssh-server, iptables, iproute2, util-linux,
//! faketime, and the packages of every database the caller names in [`Databases`]), installed
//! on request; `ip netns`; iptables and its backend (nft vs
//! legacy must not be mixed); host listeners on database ports; sshd and ssh-keygen; `tc tbf`
//! and iptables NFQUEUE (rate and delay faults) in a scratch namespace; libfaketime; and last a
//! smoke test that brings a one-node cluster up, runs a command on it over SSH and tears it
//! down. It also prints, from the caller's [`Databases`], which databases honour libfaketime:
//! those facts belong to each database, and this crate names none.

use crate::packages::{self, install_command, Apt, InstallError, Packages};
use crate::sys;
use std::fmt;
use std::io::Write as _;
use std::path::Path;

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, with a caveat worth knowing.
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// How to fix it (a command, when there is one).
    pub fix: Option<String>,
}

/// Everything doctor found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Per database: whether clock faults work on it (libfaketime), in words.
    pub clocks: Vec<(String, String)>,
}

impl Report {
    /// True when nothing failed (warnings allowed).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    fn push(&mut self, name: &str, status: Status, detail: impl Into<String>, fix: Option<String>) {
        self.checks.push(Check {
            name: name.to_string(),
            status,
            detail: detail.into(),
            fix,
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let tag = match c.status {
                Status::Ok => " ok ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            writeln!(f, "[{tag}] {}: {}", c.name, c.detail)?;
            if let Some(fix) = &c.fix {
                writeln!(f, "       fix: {fix}")?;
            }
        }
        if !self.clocks.is_empty() {
            writeln!(f)?;
            writeln!(f, "Clock faults (libfaketime) by database:")?;
            for (db, how) in &self.clocks {
                writeln!(f, "  {db:<12} {how}")?;
            }
        }
        Ok(())
    }
}

/// What the doctor is told of the databases the binary can test (it names none itself).
#[derive(Clone, Debug, Default)]
pub struct Databases {
    /// Every Debian package their servers need.
    pub packages: Vec<&'static str>,
    /// Per database: whether clock faults work on it, in words.
    pub clocks: Vec<(String, String)>,
}

/// The Debian packages a local cluster itself needs (no database, no faketime).
pub const CLUSTER_PACKAGES: &[&str] = &[
    "openssh-server",
    "openssh-client",
    "iptables",
    "iproute2",
    "util-linux",
];

/// Everything a test machine needs: the cluster's tools, libfaketime, the databases' packages.
fn all_packages(dbs: &Databases) -> Vec<&'static str> {
    let mut p = CLUSTER_PACKAGES.to_vec();
    p.push("faketime");
    for d in &dbs.packages {
        if !p.contains(d) {
            p.push(d);
        }
    }
    p
}

/// Installs whichever of `pkgs` are missing (root; apt-get), saying so on stderr first.
/// Returns the ones it installed.
pub fn ensure_installed(pkgs: &[&str]) -> Result<Vec<String>, InstallError> {
    packages::ensure_here(pkgs, &|l| {
        let _ = writeln!(std::io::stderr(), "labrys: {l}");
    })
}

fn have(prog: &str) -> bool {
    sys::run_status(&["sh", "-c", &format!("command -v {prog}")]).is_ok_and(|(s, _, _)| s == 0)
}

/// Runs every check; with `install`, missing packages are installed first (needs root).
pub fn run(install_missing: bool, dbs: &Databases) -> Report {
    let mut r = Report {
        clocks: dbs.clocks.clone(),
        ..Report::default()
    };
    let packages = all_packages(dbs);
    let missing_packages = || Apt::default().missing(&packages);
    let root = sys::is_root();
    if root {
        r.push("root", Status::Ok, "running as root", None);
    } else {
        r.push(
            "root",
            Status::Fail,
            "not root: namespaces, iptables and sshd need it",
            Some("run as root, e.g. `sudo labrys doctor`".into()),
        );
    }

    let mut missing = missing_packages();
    if !missing.is_empty() && install_missing && root {
        match Apt::default().install(&missing) {
            Ok(()) => {
                r.push(
                    "install",
                    Status::Ok,
                    format!("installed {}", missing.join(" ")),
                    None,
                );
            }
            Err(e) => r.push(
                "install",
                Status::Fail,
                format!("apt-get failed: {e}"),
                Some(install_command(&missing)),
            ),
        }
        missing = missing_packages();
    }
    if missing.is_empty() {
        r.push("packages", Status::Ok, packages.join(" "), None);
    } else {
        r.push(
            "packages",
            Status::Fail,
            format!("missing: {}", missing.join(" ")),
            Some(format!(
                "`labrys doctor --install`, or: {}",
                install_command(&missing)
            )),
        );
    }

    for (prog, pkg) in [
        ("ip", "iproute2"),
        ("unshare", "util-linux"),
        ("setsid", "util-linux"),
        ("ssh-keygen", "openssh-client"),
        ("tc", "iproute2"),
    ] {
        if !have(prog) {
            r.push(
                prog,
                Status::Fail,
                format!("`{prog}` not found"),
                Some(install_command(&[pkg])),
            );
        }
    }
    if Path::new(crate::node::SSHD).exists() {
        r.push("sshd", Status::Ok, crate::node::SSHD, None);
    } else {
        r.push(
            "sshd",
            Status::Fail,
            format!("{} not found", crate::node::SSHD),
            Some(install_command(&["openssh-server"])),
        );
    }

    check_iptables(&mut r);
    check_ports(&mut r);
    if root {
        check_netns_and_tc(&mut r);
    }
    check_faketime(&mut r);
    if root && r.ok() {
        smoke(&mut r);
    }
    r
}

fn check_iptables(r: &mut Report) {
    match sys::run_status(&["iptables", "-V"]) {
        Ok((0, v, _)) => {
            let backend = if v.contains("nf_tables") {
                "nf_tables"
            } else if v.contains("legacy") {
                "legacy"
            } else {
                "unknown"
            };
            // Legacy tables beside the nf_tables backend mean someone mixes them, and rules
            // in one are invisible to the other. The kernel lists legacy tables in
            // /proc/net/ip_tables_names; reading it, unlike running `iptables-legacy -S`,
            // does not create them.
            let legacy_tables = std::fs::read_to_string("/proc/net/ip_tables_names")
                .map(|t| t.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .unwrap_or_default();
            if backend == "nf_tables" && !legacy_tables.is_empty() {
                r.push(
                    "iptables",
                    Status::Warn,
                    format!(
                        "{}; legacy tables also exist ({}): don't mix backends",
                        v.trim(),
                        legacy_tables.join(" ")
                    ),
                    Some(
                        "check `iptables-legacy -S` for rules; an empty legacy table is harmless"
                            .into(),
                    ),
                );
            } else if !sys::run_quiet(&["iptables", "-w", "-S"]) {
                r.push(
                    "iptables",
                    Status::Fail,
                    format!("{} ({backend}) cannot list rules", v.trim()),
                    Some("run as root; check the kernel has netfilter (modprobe nf_tables)".into()),
                );
            } else {
                r.push("iptables", Status::Ok, v.trim().to_string(), None);
            }
        }
        _ => r.push(
            "iptables",
            Status::Fail,
            "`iptables` not found",
            Some(install_command(&["iptables"])),
        ),
    }
}

/// Ports databases listen on that a process on the host could already hold.
const DB_PORTS: &[u16] = &[2379, 2380, 5432, 3306, 6379, 2181];

/// Host listeners on database ports: harmless for namespace clusters (each node has its own
/// network stack), but they clash with `--nodes localhost` and often mean a distribution's
/// service started the DB behind labrys's back.
fn check_ports(r: &mut Report) {
    let Ok((0, out, _)) = sys::run_status(&["ss", "-ltnH"]) else {
        r.push(
            "ports",
            Status::Warn,
            "`ss` unavailable: host listeners not checked",
            Some(install_command(&["iproute2"])),
        );
        return;
    };
    let busy = busy_ports(&out, DB_PORTS);
    if busy.is_empty() {
        r.push("ports", Status::Ok, "no host listener on database ports; each node's sshd and DB listen on the node's own address", None);
    } else {
        r.push(
            "ports",
            Status::Warn,
            format!("host processes listen on {}: fine for namespace clusters, a clash for --nodes localhost", busy.join(", ")),
            Some("stop the distribution's service (e.g. `pkill -x etcd`) if you run against localhost".into()),
        );
    }
}

/// Local addresses from `ss -ltnH` output whose port is in `ports`.
fn busy_ports(ss: &str, ports: &[u16]) -> Vec<String> {
    ss.lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter(|addr| {
            addr.rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_some_and(|p| ports.contains(&p))
        })
        .map(str::to_string)
        .collect()
}

fn check_netns_and_tc(r: &mut Report) {
    let ns = format!("lb-doctor-{}", std::process::id());
    if let Err(e) = sys::run(&["ip", "netns", "add", &ns]) {
        r.push(
            "netns",
            Status::Fail,
            format!("cannot create a network namespace: {e}"),
            Some("needs root and a kernel with network namespaces (CONFIG_NET_NS)".into()),
        );
        return;
    }
    r.push("netns", Status::Ok, "`ip netns add` works", None);
    let _ = sys::run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    let q = |kind: &[&str]| {
        let mut argv = vec![
            "ip", "netns", "exec", &ns, "tc", "qdisc", "replace", "dev", "lo", "root",
        ];
        argv.extend_from_slice(kind);
        sys::run_quiet(&argv)
    };
    let tbf = q(&[
        "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms",
    ]);
    if tbf {
        r.push("tc", Status::Ok, "tc tbf works: rate-limit faults", None);
    } else {
        r.push(
            "tc",
            Status::Warn,
            "tc tbf unavailable: no rate-limit faults",
            Some("load sch_tbf (modprobe sch_tbf)".into()),
        );
    }
    // Delay faults queue packets to a userspace delayer (no `tc netem` needed).
    let nfqueue = sys::run_quiet(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "iptables",
        "-w",
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        "9",
        "-j",
        "NFQUEUE",
        "--queue-num",
        "1",
        "--queue-bypass",
    ]);
    if nfqueue {
        r.push(
            "nfqueue",
            Status::Ok,
            "iptables NFQUEUE works: delay faults",
            None,
        );
    } else {
        r.push(
            "nfqueue",
            Status::Warn,
            "iptables NFQUEUE unavailable: no delay faults",
            Some("load the modules (modprobe nfnetlink_queue xt_NFQUEUE)".into()),
        );
    }
    let _ = sys::run(&["ip", "netns", "del", &ns]);
}

fn check_faketime(r: &mut Report) {
    let lib = LIBFAKETIME;
    if !Path::new(lib).exists() {
        r.push(
            "faketime",
            Status::Fail,
            format!("{lib} not found: no clock faults"),
            Some(install_command(&["faketime"])),
        );
        return;
    }
    let shifted = std::process::Command::new("date")
        .arg("+%Y")
        .env("LD_PRELOAD", lib)
        .env("FAKETIME", "@2001-01-01 00:00:00")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "2001")
        .unwrap_or(false);
    if shifted {
        r.push(
            "faketime",
            Status::Ok,
            format!("{lib} shifts C programs' clocks"),
            None,
        );
    } else {
        r.push(
            "faketime",
            Status::Warn,
            format!("{lib} present but did not shift `date`"),
            None,
        );
    }
}

/// Debian's libfaketime (the nemesis preloads the same file).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

fn smoke(r: &mut Report) {
    let name = "doctor";
    let start = std::time::Instant::now();
    let result = crate::up(name, 1).and_then(|c| {
        let nodes = c.connect()?;
        let out = nodes[0].exec_ok(&["hostname"], std::time::Duration::from_secs(10))?;
        Ok(out.stdout.trim().to_string())
    });
    let down = crate::down(name);
    match (result, down) {
        (Ok(h), Ok(())) if h == "n1" => r.push(
            "cluster",
            Status::Ok,
            format!("1-node cluster up, SSH, down in {:.1?}", start.elapsed()),
            None,
        ),
        (Ok(h), Ok(())) => r.push(
            "cluster",
            Status::Fail,
            format!("node answered with hostname {h:?}, expected n1"),
            None,
        ),
        (Err(e), _) | (_, Err(e)) => r.push(
            "cluster",
            Status::Fail,
            format!("smoke test failed: {e}"),
            Some("run `labrys cluster down doctor`, fix the failures above, retry".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_ports_are_found_in_ss_output() {
        let ss = "LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\nLISTEN 0 4096 127.0.0.1:2379 0.0.0.0:*\nLISTEN 0 4096 [::]:5432 [::]:*\n";
        assert_eq!(
            busy_ports(ss, DB_PORTS),
            vec!["127.0.0.1:2379", "[::]:5432"]
        );
        assert!(busy_ports("", DB_PORTS).is_empty());
    }

    #[test]
    fn report_prints_fixes_and_faketime_table() {
        let mut r = Report {
            clocks: vec![(
                "etcd".into(),
                "no: a Go program, reads the clock without libc".into(),
            )],
            ..Report::default()
        };
        r.push("root", Status::Ok, "running as root", None);
        assert!(r.ok());
        r.push(
            "packages",
            Status::Fail,
            "missing: faketime",
            Some(install_command(&["faketime"])),
        );
        assert!(!r.ok());
        let text = r.to_string();
        assert!(text.contains("[FAIL] packages: missing: faketime"));
        assert!(text.contains("fix: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends faketime"));
        assert!(text.contains("etcd") && text.contains("Go program"));
    }
}

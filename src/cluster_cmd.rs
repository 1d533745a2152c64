//! `labrys cluster up|down|status`: a local cluster of namespace nodes, by hand.
//!
//! Tests bring their own cluster up and down; these subcommands are for developers who want a
//! cluster to poke at (or to clean up after a crashed run).

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    cmd: ClusterCmd,
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Bring a cluster up (or return the one already up with as many nodes), print its nodes.
    /// As root, installs missing Debian packages (sshd, iptables, iproute2) first.
    Up {
        /// Cluster name: lowercase letters, digits, '-'.
        #[arg(long, visible_alias = "cluster", default_value = "labrys")]
        name: String,
        /// Number of nodes.
        #[arg(long, short = 'n', default_value_t = 5)]
        nodes: usize,
    },
    /// Remove every namespace, interface, rule, process and file of a cluster.
    Down {
        #[arg(long, visible_alias = "cluster", default_value = "labrys")]
        name: String,
    },
    /// Show a cluster's nodes and whether each answers over SSH.
    Status {
        #[arg(long, visible_alias = "cluster", default_value = "labrys")]
        name: String,
    },
}

/// Runs the subcommand; returns the exit code (0 ok, 3 error).
pub fn run(args: &ClusterArgs) -> u8 {
    let result = match &args.cmd {
        ClusterCmd::Up { name, nodes } => labrys_cluster::doctor::ensure_installed(
            labrys_cluster::doctor::CLUSTER_PACKAGES,
        )
        .map_err(|e| e.to_string())
        .and_then(|_| labrys_cluster::up(name, *nodes).map_err(|e| e.to_string()))
        .map(|c| {
            sout!("cluster {} is up: {} node(s)", c.name, c.nodes.len());
            for n in &c.nodes {
                sout!("  {:<4} {}", n.name, n.ip);
            }
            if let Some(n) = c.nodes.first() {
                sout!(
                    "ssh: ssh -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@{}",
                    c.ssh_key.display(),
                    n.ip
                );
            }
        }),
        // A test holds its cluster's lock: bringing the cluster down under it would leave it
        // waiting on nodes that are gone. Stopping the test brings its cluster down anyway.
        ClusterCmd::Down { name } => labrys_cluster::lock::lock(name)
            .and_then(|held| {
                let r = labrys_cluster::down(name);
                drop(held);
                r
            })
            .map(|()| {
                sout!("cluster {name} is down");
            })
            .map_err(|e| e.to_string()),
        ClusterCmd::Status { name } => labrys_cluster::status(name)
            .map(|lines| {
                for l in lines {
                    sout!("{l}");
                }
            })
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eout!("labrys cluster: {e}");
            3
        }
    }
}

//! Harness infrastructure figures, measured in one run on this machine (root only):
//! - time to bring a 5-node cluster up and down;
//! - latency of one command over labrys's SSH session (one session, a channel per command)
//!   versus spawning the OpenSSH client per command, and throughput with 8 threads on one node.
//!
//! Prints a line per figure and the ratios bench/harness/README.md records.
//! `cargo bench -p labrys-cluster` (it brings up and removes clusters named `lbbench*`).

use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the cluster benchmark needs root (namespaces, sshd)");
        return;
    }
    let t = Instant::now();
    let c = labrys_cluster::up("lbbench", 5).expect("cluster up");
    let up = t.elapsed();
    let nodes = c.connect().expect("connect");
    let n = nodes[0].clone();
    let tm = Duration::from_secs(10);

    const N: u32 = 200;
    let t = Instant::now();
    for _ in 0..N {
        n.exec_ok(&["true"], tm).expect("exec");
    }
    let per_exec = t.elapsed() / N;

    const M: u32 = 30;
    let key = c.ssh_key.to_str().unwrap().to_string();
    let target = format!("root@{}", c.nodes[0].ip);
    let t = Instant::now();
    for _ in 0..M {
        let ok = Command::new("ssh")
            .args([
                "-i",
                &key,
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args([
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=yes",
                &target,
                "true",
            ])
            .status()
            .expect("ssh client")
            .success();
        assert!(ok, "ssh client failed");
    }
    let per_ssh = t.elapsed() / M;

    const THREADS: u32 = 8;
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let n = n.clone();
            s.spawn(move || {
                for _ in 0..N / THREADS {
                    n.exec_ok(&["true"], tm).expect("exec");
                }
            });
        }
    });
    let per_exec_par = t.elapsed() / N;

    drop(nodes);
    let t = Instant::now();
    labrys_cluster::down("lbbench").expect("down");
    let down = t.elapsed();

    println!("5-node cluster up:            {up:>10.1?}");
    println!("5-node cluster down:          {down:>10.1?}");
    println!("exec over labrys session:     {per_exec:>10.1?} per command");
    println!("exec, {THREADS} threads, one node:  {per_exec_par:>10.1?} per command");
    println!("OpenSSH client per command:   {per_ssh:>10.1?} per command");
    println!(
        "ratio OpenSSH / labrys exec:  {:.1}x",
        per_ssh.as_secs_f64() / per_exec.as_secs_f64()
    );
    println!(
        "ratio sequential / 8 threads: {:.1}x",
        per_exec.as_secs_f64() / per_exec_par.as_secs_f64()
    );
}

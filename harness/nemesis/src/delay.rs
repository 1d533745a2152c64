//! Delay faults without `tc netem` (absent from some kernels): incoming packets go to an
//! NFQUEUE, and a small delayer process on the node holds each one for a fixed time before
//! accepting it. Order is preserved (a constant delay on a FIFO); loopback and SSH are spared
//! so the harness keeps control; `--queue-bypass` lets packets through if the delayer dies.
//!
//! The delayer is the harness's own binary: `labrys nemesis-delay` reads its queue number and
//! delay from [`ENV_QUEUE`] and [`ENV_MS`] and runs [`run_from_env`] until killed. On namespace
//! nodes the host's binary path is visible as is.

use labrys_control::shell_quote;
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

/// Chain holding the NFQUEUE rule.
pub const DELAY_CHAIN: &str = "LABRYS-DELAY";
/// NFQUEUE number used on every node (queues are per network namespace).
pub const QUEUE: u16 = 4242;
/// Environment variable carrying the queue number to the delayer.
pub const ENV_QUEUE: &str = "LABRYS_DELAY_QUEUE";
/// Environment variable carrying the delay in milliseconds to the delayer.
pub const ENV_MS: &str = "LABRYS_DELAY_MS";
const PID: &str = "/opt/labrys/delayer.pid";
const LOG: &str = "/opt/labrys/delayer.log";

/// Holds every packet of NFQUEUE `queue` for `delay`, then accepts it. Runs until an error.
pub fn run(queue: u16, delay: Duration) -> io::Result<()> {
    let mut q = nfq::Queue::open()?;
    q.bind(queue)?;
    // Metadata only: the verdict never needs the payload, which stays in the kernel.
    q.set_copy_range(queue, 0)?;
    q.set_fail_open(queue, true)?;
    q.set_nonblocking(true);
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    loop {
        loop {
            match q.recv() {
                Ok(mut m) => {
                    m.set_verdict(nfq::Verdict::Accept);
                    held.push_back((Instant::now() + delay, m));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            let (_, m) = held.pop_front().expect("front exists");
            q.verdict(m)?;
        }
        let next = held
            .front()
            .map(|(due, _)| due.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(1));
        std::thread::sleep(next.min(Duration::from_millis(1)));
    }
}

/// [`run`] with the queue and delay taken from [`ENV_QUEUE`] and [`ENV_MS`].
pub fn run_from_env() -> io::Result<()> {
    let get = |k: &str| -> io::Result<u64> {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{k} must be set to a number"),
                )
            })
    };
    let queue = u16::try_from(get(ENV_QUEUE)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "queue out of range"))?;
    run(queue, Duration::from_millis(get(ENV_MS)?))
}

fn stop_delayer() -> String {
    format!("[ -f {PID} ] && kill $(cat {PID}) 2>/dev/null; rm -f {PID}")
}

/// Script starting the delayer (`delayer` is its argv) and queueing incoming packets to it.
/// Fails, with the delayer's log, when the delayer does not stay up.
pub fn start_script(delayer: &[String], ms: i64) -> String {
    let argv: Vec<String> = delayer.iter().map(|a| shell_quote(a)).collect();
    format!(
        "mkdir -p /opt/labrys; {stop}; \
         {ENV_QUEUE}={QUEUE} {ENV_MS}={ms} nohup {argv} </dev/null >{LOG} 2>&1 & echo $! > {PID}; \
         sleep 0.3; kill -0 $(cat {PID}) 2>/dev/null || {{ echo 'delayer exited:' >&2; cat {LOG} >&2; exit 1; }}; \
         {chain}iptables -w -A {DELAY_CHAIN} -i lo -j RETURN; \
         iptables -w -A {DELAY_CHAIN} -p tcp --dport 22 -j RETURN; \
         iptables -w -A {DELAY_CHAIN} -j NFQUEUE --queue-num {QUEUE} --queue-bypass",
        stop = stop_delayer(),
        argv = argv.join(" "),
        ms = ms.max(0),
        chain = crate::net::fresh_chain(DELAY_CHAIN),
    )
}

/// Script ending the delay: rules first (packets flow again), then the delayer.
pub fn stop_script() -> String {
    format!(
        "{}; {}",
        crate::net::flush_script(DELAY_CHAIN),
        stop_delayer()
    )
}

/// Script removing every trace of the delay fault.
pub fn remove_script() -> String {
    format!(
        "{}; {}",
        crate::net::remove_chain_script(DELAY_CHAIN),
        stop_delayer()
    )
}

/// The default delayer command: this very binary's `nemesis-delay` subcommand.
pub fn default_command() -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "labrys".into());
    vec![exe, "nemesis-delay".into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_valid_sh_and_quote_the_command() {
        let cmd = vec![
            "/path with space/labrys".to_string(),
            "nemesis-delay".into(),
        ];
        let start = start_script(&cmd, 50);
        assert!(
            start.contains("'/path with space/labrys' nemesis-delay"),
            "{start}"
        );
        assert!(start.contains(&format!("{ENV_MS}=50")));
        assert!(start.contains("--queue-bypass"));
        for s in [start, stop_script(), remove_script()] {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{s}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn env_errors_are_clear() {
        // Neither variable is set in the test environment.
        if std::env::var_os(ENV_QUEUE).is_none() {
            let e = run_from_env().unwrap_err();
            assert!(e.to_string().contains(ENV_QUEUE), "{e}");
        }
    }
}

//! Clock faults through libfaketime, for databases whose server honours it (C programs such as
//! PostgreSQL and MariaDB; not Go programs such as etcd, which read the clock without libc).
//!
//! A DB that honours faketime starts its server with [`faketime_env`]: libfaketime preloaded,
//! reading its offset from [`OFFSET_FILE`] on every clock call. A bump writes a new offset; a
//! strobe runs a small loop on the node flipping between the offset and zero; a stop writes
//! zero (and ends the loop).

use labrys_control::{shell_quote, ControlError, Remote};

/// Per-node file holding the current offset (`+0`, `+5`, `-30` seconds).
pub const OFFSET_FILE: &str = "/opt/labrys/faketime";
/// Pid file of a running strobe loop.
pub const STROBE_PID: &str = "/opt/labrys/faketime-strobe.pid";
/// Where Debian's `faketime` package puts the library.
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Environment for a server process whose clock the nemesis may shift.
pub fn faketime_env() -> Vec<(&'static str, String)> {
    vec![
        ("LD_PRELOAD", LIBFAKETIME.to_string()),
        ("FAKETIME_TIMESTAMP_FILE", OFFSET_FILE.to_string()),
        ("FAKETIME_NO_CACHE", "1".to_string()),
        ("FAKETIME_DONT_RESET", "1".to_string()),
    ]
}

fn offset(secs: i64) -> String {
    format!("{secs:+}")
}

/// Script creating the offset file with a zero offset (run before the DB starts).
pub fn prepare_script() -> String {
    format!(
        "mkdir -p /opt/labrys && [ -f {f} ] || echo +0 > {f}",
        f = shell_quote(OFFSET_FILE)
    )
}

/// Script shifting the clock by `secs` seconds.
pub fn bump_script(secs: i64) -> String {
    format!(
        "{}; echo {} > {}",
        prepare_script(),
        offset(secs),
        shell_quote(OFFSET_FILE)
    )
}

/// Script starting a detached loop that flips between `secs` and zero every `period_ms`.
pub fn strobe_script(secs: i64, period_ms: i64) -> String {
    let period = format!("{}.{:03}", period_ms / 1000, period_ms % 1000);
    let f = shell_quote(OFFSET_FILE);
    let lp = format!(
        "while :; do echo {o} > {f}; sleep {period}; echo +0 > {f}; sleep {period}; done",
        o = offset(secs)
    );
    format!(
        "{}; {stop}; nohup sh -c {} </dev/null >/dev/null 2>&1 & echo $! > {}",
        prepare_script(),
        shell_quote(&lp),
        shell_quote(STROBE_PID),
        stop = stop_strobe(),
    )
}

fn stop_strobe() -> String {
    format!(
        "[ -f {p} ] && kill $(cat {p}) 2>/dev/null; rm -f {p}",
        p = shell_quote(STROBE_PID)
    )
}

/// Script ending any strobe and resetting the offset to zero.
pub fn reset_script() -> String {
    format!(
        "{}; [ -d /opt/labrys ] && echo +0 > {} ; true",
        stop_strobe(),
        shell_quote(OFFSET_FILE)
    )
}

/// Runs `script` on `node`, requiring success.
pub fn run(node: &dyn Remote, script: &str) -> Result<(), ControlError> {
    node.sh_ok(script, crate::net::TIMEOUT).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_control::LocalRemote;
    use std::time::Duration;

    #[test]
    fn offsets_are_signed() {
        assert!(bump_script(5).contains("echo +5 >"));
        assert!(bump_script(-30).contains("echo -30 >"));
    }

    #[test]
    fn scripts_are_valid_sh() {
        let local = LocalRemote::new("n1", "127.0.0.1").unwrap();
        for s in [
            prepare_script(),
            bump_script(3),
            strobe_script(-2, 50),
            reset_script(),
        ] {
            let out = local
                .exec(&["sh", "-n", "-c", &s], Duration::from_secs(5))
                .unwrap();
            assert!(out.success(), "{s}: {}", out.stderr);
        }
    }
}

//! Shell scripts that apply and heal network faults on one node, run over its [`Remote`].
//!
//! Rules live in labrys's own chains (`LABRYS-PART` for partitions, `LABRYS-LOSS` for packet
//! loss) jumped to from `INPUT`, so healing flushes exactly what labrys added and nothing else a
//! node's administrator set up. Rate limits are a `tbf` root qdisc on the node's outgoing
//! interface (the one its default route uses). Every address and interface name is
//! shell-quoted.

use labrys_control::{shell_quote, ControlError, Remote};
use std::time::Duration;

/// Timeout of one fault command on one node.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Chain holding partition DROP rules.
pub const PART_CHAIN: &str = "LABRYS-PART";
/// Chain holding packet-loss rules.
pub const LOSS_CHAIN: &str = "LABRYS-LOSS";

/// Creates `chain` (if needed), hooks it first in INPUT (if needed) and empties it.
pub(crate) fn fresh_chain(chain: &str) -> String {
    format!(
        "iptables -w -N {chain} 2>/dev/null || true; \
         iptables -w -C INPUT -j {chain} 2>/dev/null || iptables -w -I INPUT -j {chain}; \
         iptables -w -F {chain}; "
    )
}

/// Script dropping every packet from `from` (addresses or hostnames).
pub fn partition_script(from: &[&str]) -> String {
    let mut s = fresh_chain(PART_CHAIN);
    for a in from {
        s.push_str(&format!(
            "iptables -w -A {PART_CHAIN} -s {} -j DROP; ",
            shell_quote(a)
        ));
    }
    s.push_str("true");
    s
}

/// Script dropping `percent`% of incoming packets. Loopback and SSH (port 22) are spared, so
/// the harness keeps control of the node and can always heal it; clients and peers are not.
pub fn loss_script(percent: i64) -> String {
    let p = (percent.clamp(0, 100) as f64) / 100.0;
    format!(
        "{}iptables -w -A {LOSS_CHAIN} -i lo -j RETURN; \
         iptables -w -A {LOSS_CHAIN} -p tcp --dport 22 -j RETURN; \
         iptables -w -A {LOSS_CHAIN} -m statistic --mode random --probability {p:.4} -j DROP",
        fresh_chain(LOSS_CHAIN)
    )
}

/// Script emptying `chain` (healing its fault), tolerating a chain that does not exist.
pub fn flush_script(chain: &str) -> String {
    format!("iptables -w -F {chain} 2>/dev/null || true")
}

/// Script removing `chain` entirely (unhook, flush, delete): what `heal_all` leaves behind is
/// exactly the firewall the node had before.
pub fn remove_chain_script(chain: &str) -> String {
    format!(
        "while iptables -w -D INPUT -j {chain} 2>/dev/null; do :; done; \
         iptables -w -F {chain} 2>/dev/null; iptables -w -X {chain} 2>/dev/null; true"
    )
}

/// Shell snippet setting `$dev` to the interface of the default route (else the first non-lo).
const DEV: &str = "dev=$(ip -o -4 route show default | awk '{for(i=1;i<NF;i++) if($i==\"dev\"){print $(i+1); exit}}'); \
     [ -n \"$dev\" ] || dev=$(ip -o link show | awk -F': ' '$2 != \"lo\" {print $2; exit}' | cut -d@ -f1); ";

/// Script limiting outgoing bandwidth to `kbit` kbit/s.
pub fn rate_script(kbit: i64) -> String {
    format!(
        "{DEV}tc qdisc replace dev \"$dev\" root tbf rate {}kbit burst 32kbit latency 400ms",
        kbit.max(8)
    )
}

/// Script removing the rate limit (no error if there is none).
pub fn unrate_script() -> String {
    format!("{DEV}tc qdisc del dev \"$dev\" root 2>/dev/null || true")
}

/// Runs `script` on `node`, requiring success.
pub fn run(node: &dyn Remote, script: &str) -> Result<(), ControlError> {
    node.sh_ok(script, TIMEOUT).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_rules_quote_addresses() {
        let s = partition_script(&["10.1.2.3", "evil; rm -rf /"]);
        assert!(s.contains("-s 10.1.2.3 -j DROP"));
        assert!(s.contains("-s 'evil; rm -rf /' -j DROP"));
        assert!(s.contains("-I INPUT -j LABRYS-PART"));
    }

    #[test]
    fn loss_probability_is_a_fraction() {
        assert!(loss_script(20).contains("--probability 0.2000"));
        assert!(loss_script(250).contains("--probability 1.0000"));
    }

    #[test]
    fn scripts_are_valid_sh() {
        // `sh -n` parses without running: catches quoting mistakes in the generated scripts.
        for s in [
            partition_script(&["10.0.0.1"]),
            loss_script(5),
            flush_script(PART_CHAIN),
            remove_chain_script(LOSS_CHAIN),
            rate_script(64),
            unrate_script(),
        ] {
            let out = std::process::Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&s)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{s}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

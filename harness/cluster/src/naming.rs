//! Names of everything a cluster creates, derived from the cluster name alone.
//!
//! Linux interface names have at most 15 characters, so interfaces carry a short hash of the
//! cluster name (`lb3fa2c1br`, `lb3fa2c1h2`) while namespaces carry the name itself
//! (`lb-ci-n2`). Because every name follows from the cluster name, `down` finds leftovers even
//! when the state file is gone. The subnet is derived from the name too, with a probe sequence
//! for the rare collision with a subnet already in use.

use crate::error::ClusterError;
use std::net::Ipv4Addr;

/// Most nodes a cluster may have (node addresses are `.11` .. `.210` of a /24).
pub const MAX_NODES: usize = 200;

/// Cluster names: 1..=16 characters of `[a-z0-9-]`, starting with a letter or digit.
pub fn validate_cluster_name(name: &str) -> Result<(), ClusterError> {
    let bad = |why: &str| {
        Err(ClusterError::BadName {
            name: name.to_string(),
            why: why.to_string(),
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    // Characters first: a name with a shell metacharacter is refused for what it is, not
    // for its length.
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad("only lowercase letters, digits and '-' are allowed");
    }
    if name.starts_with('-') {
        return bad("starts with '-'");
    }
    if name.len() > 16 {
        return bad("longer than 16 characters");
    }
    Ok(())
}

/// FNV-1a, 32 bits: stable across builds and platforms, unlike `std`'s hasher.
fn fnv1a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The six hex digits that identify a cluster in interface names.
pub fn tag(name: &str) -> String {
    format!("{:06x}", fnv1a(name.as_bytes()) & 0xff_ffff)
}

/// The cluster's bridge on the host.
pub fn bridge(name: &str) -> String {
    format!("lb{}br", tag(name))
}

/// The host end of node `i`'s veth pair (1-based).
pub fn veth_host(name: &str, i: usize) -> String {
    format!("lb{}h{i}", tag(name))
}

/// The node end of node `i`'s veth pair before it is moved and renamed `eth0`.
pub fn veth_peer(name: &str, i: usize) -> String {
    format!("lb{}p{i}", tag(name))
}

/// Prefix shared by all interface names of the cluster.
pub fn link_prefix(name: &str) -> String {
    format!("lb{}", tag(name))
}

/// Node `i`'s network namespace.
pub fn netns(name: &str, i: usize) -> String {
    format!("lb-{name}-n{i}")
}

/// Node `i`'s name, as the harness and the database know it.
pub fn node_name(i: usize) -> String {
    format!("n{i}")
}

/// The `probe`-th candidate /24 for the cluster: `10.X.Y.0` with X in 100..=199.
pub fn subnet(name: &str, probe: u32) -> [u8; 3] {
    let h = fnv1a(format!("{name}#{probe}").as_bytes());
    [10, 100 + (h % 100) as u8, ((h >> 8) & 0xff) as u8]
}

/// The host's address on the bridge (the nodes' gateway and the harness's source address).
pub fn gateway(net: [u8; 3]) -> Ipv4Addr {
    Ipv4Addr::new(net[0], net[1], net[2], 1)
}

/// Node `i`'s address.
pub fn node_ip(net: [u8; 3], i: usize) -> Ipv4Addr {
    Ipv4Addr::new(net[0], net[1], net[2], (10 + i) as u8)
}

/// Checks a node count.
pub fn validate_node_count(count: usize) -> Result<(), ClusterError> {
    if count == 0 || count > MAX_NODES {
        return Err(ClusterError::BadNodeCount {
            count,
            why: format!("must be between 1 and {MAX_NODES}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_fit_linux_limits() {
        let n = "abcdefghijklmnop";
        validate_cluster_name(n).unwrap();
        assert!(bridge(n).len() <= 15);
        assert!(veth_host(n, MAX_NODES).len() <= 15);
        assert!(veth_peer(n, MAX_NODES).len() <= 15);
        assert_eq!(netns("ci", 3), "lb-ci-n3");
    }

    #[test]
    fn bad_names() {
        for bad in ["", "-x", "Upper", "a b", "a/b", "x;rm", "abcdefghijklmnopq"] {
            assert!(matches!(
                validate_cluster_name(bad),
                Err(ClusterError::BadName { .. })
            ));
        }
        // A long name with a shell metacharacter is refused for the character.
        let e = validate_cluster_name("a;touch /tmp/labrys-x").unwrap_err();
        assert!(e.to_string().contains("only lowercase letters"), "{e}");
        assert!(validate_node_count(0).is_err());
        assert!(validate_node_count(MAX_NODES + 1).is_err());
        assert!(validate_node_count(5).is_ok());
    }

    #[test]
    fn addresses_are_in_the_subnet() {
        let net = subnet("ci", 0);
        assert_eq!(net[0], 10);
        assert!((100..200).contains(&net[1]));
        assert_eq!(gateway(net).octets()[3], 1);
        assert_eq!(node_ip(net, 1).octets()[3], 11);
        assert_eq!(node_ip(net, MAX_NODES).octets()[3], 210);
    }

    proptest! {
        #[test]
        fn derivation_is_stable_and_distinguishes_names(a in "[a-z][a-z0-9-]{0,15}", b in "[a-z][a-z0-9-]{0,15}") {
            prop_assert_eq!(bridge(&a), bridge(&a));
            prop_assert_eq!(subnet(&a, 0), subnet(&a, 0));
            if a != b {
                prop_assert_ne!(netns(&a, 1), netns(&b, 1));
            }
            prop_assert_ne!(subnet(&a, 0), subnet(&a, 1));
        }
    }
}

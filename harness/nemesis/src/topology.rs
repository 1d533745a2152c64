//! Partition shapes as grudges: for each node, the set of nodes whose packets it drops.
//!
//! Pure functions of the node list and the seeded RNG, so they are tested exhaustively without
//! a cluster. A grudge is what [`crate::net`] turns into iptables DROP rules on each node, and
//! what the history records (as components when the partition is a clean split).

use crate::rng::Rng;
use labrys_history::Value;
use std::collections::{BTreeMap, BTreeSet};

/// node -> nodes it refuses to hear from.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// Each node drops every node outside its own component (every node is a key, so a lone
/// component still names its nodes).
pub fn complete_grudge(components: &[Vec<String>]) -> Grudge {
    let mut g = Grudge::new();
    for (i, comp) in components.iter().enumerate() {
        let others: BTreeSet<String> = components
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, c)| c.iter().cloned())
            .collect();
        for n in comp {
            g.entry(n.clone())
                .or_default()
                .extend(others.iter().cloned());
        }
    }
    g
}

fn shuffled(nodes: &[String], rng: &mut Rng) -> Vec<String> {
    let mut v = nodes.to_vec();
    rng.shuffle(&mut v);
    v
}

/// Two random halves; the first has `floor(n/2)` nodes.
pub fn random_halves(nodes: &[String], rng: &mut Rng) -> Vec<Vec<String>> {
    let v = shuffled(nodes, rng);
    let (a, b) = v.split_at(v.len() / 2);
    vec![a.to_vec(), b.to_vec()]
}

/// One random node alone, the rest together.
pub fn random_node(nodes: &[String], rng: &mut Rng) -> Vec<Vec<String>> {
    let v = shuffled(nodes, rng);
    let (a, b) = v.split_at(1.min(v.len()));
    vec![a.to_vec(), b.to_vec()]
}

/// `primaries` alone, the rest together.
pub fn primaries(nodes: &[String], primaries: &[String]) -> Vec<Vec<String>> {
    let p: Vec<String> = nodes
        .iter()
        .filter(|n| primaries.contains(n))
        .cloned()
        .collect();
    let rest: Vec<String> = nodes
        .iter()
        .filter(|n| !primaries.contains(n))
        .cloned()
        .collect();
    vec![p, rest]
}

/// Two halves that only talk through one bridge node, which hears both.
pub fn bridge(nodes: &[String], rng: &mut Rng) -> Grudge {
    let v = shuffled(nodes, rng);
    let mid = v.len() / 2;
    let (a, rest) = v.split_at(mid);
    let b = rest.get(1..).unwrap_or(&[]);
    let mut g = Grudge::new();
    for n in a {
        g.insert(n.clone(), b.iter().cloned().collect());
    }
    for n in b {
        g.insert(n.clone(), a.iter().cloned().collect());
    }
    g.retain(|_, s| !s.is_empty());
    g
}

/// Nodes on a shuffled ring each hear a majority made of themselves and their nearest
/// neighbours, and drop everyone else; no two neighbouring nodes hear the same majority.
pub fn majorities_ring(nodes: &[String], rng: &mut Rng) -> Grudge {
    let v = shuffled(nodes, rng);
    let n = v.len();
    let majority = n / 2 + 1;
    let back = (majority - 1) / 2;
    let fwd = majority - 1 - back;
    let mut g = Grudge::new();
    for i in 0..n {
        let mut hears = BTreeSet::new();
        for d in 0..=fwd {
            hears.insert((i + d) % n);
        }
        for d in 1..=back {
            hears.insert((i + n - d) % n);
        }
        let drops: BTreeSet<String> = (0..n)
            .filter(|j| !hears.contains(j))
            .map(|j| v[j].clone())
            .collect();
        if !drops.is_empty() {
            g.insert(v[i].clone(), drops);
        }
    }
    g
}

/// Components as a history value: `[["n1" "n2"] ["n3" "n4" "n5"]]`.
pub fn components_value(components: &[Vec<String>]) -> Value {
    Value::List(
        components
            .iter()
            .map(|c| Value::List(c.iter().map(|n| Value::str(n)).collect()))
            .collect(),
    )
}

/// A grudge as a history value: `{"n1" ["n3" "n4"], ...}`.
pub fn grudge_value(g: &Grudge) -> Value {
    Value::Map(
        g.iter()
            .map(|(k, v)| {
                (
                    Value::str(k),
                    Value::List(v.iter().map(|n| Value::str(n)).collect()),
                )
            })
            .collect(),
    )
}

/// Reads back a partition value: a list of components or a grudge map.
pub fn grudge_of_value(v: &Value) -> Result<Grudge, String> {
    let names = |v: &Value| -> Result<Vec<String>, String> {
        v.as_seq()
            .ok_or_else(|| format!("expected a list of node names, got {v}"))?
            .iter()
            .map(|n| {
                n.as_name()
                    .map(str::to_string)
                    .ok_or_else(|| format!("expected a node name, got {n}"))
            })
            .collect()
    };
    if let Some(map) = v.as_map() {
        let mut g = Grudge::new();
        for (k, drops) in map {
            let k = k
                .as_name()
                .ok_or_else(|| format!("expected a node name, got {k}"))?;
            g.insert(k.to_string(), names(drops)?.into_iter().collect());
        }
        return Ok(g);
    }
    if let Some(comps) = v.as_seq() {
        let comps = comps.iter().map(names).collect::<Result<Vec<_>, _>>()?;
        return Ok(complete_grudge(&comps));
    }
    Err(format!("expected components or a grudge map, got {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::rng::Rng;
    use proptest::prelude::*;

    use crate::test_names as nodes;

    /// Nodes each node hears (itself included).
    fn hears(g: &Grudge, all: &[String], n: &str) -> usize {
        all.iter()
            .filter(|m| !g.get(n).is_some_and(|d| d.contains(*m)))
            .count()
    }

    #[test]
    fn complete_grudge_of_halves() {
        let g = complete_grudge(&[nodes(2), vec!["n3".into()]]);
        assert_eq!(g["n1"], BTreeSet::from(["n3".to_string()]));
        assert_eq!(g["n3"].len(), 2);
    }

    #[test]
    fn ring_of_five_hears_three_each() {
        let all = nodes(5);
        let g = majorities_ring(&all, &mut Rng::new(1));
        for n in &all {
            assert_eq!(hears(&g, &all, n), 3, "{n}: {g:?}");
        }
        // No two nodes drop exactly the same set: the majorities differ.
        let sets: BTreeSet<_> = g.values().collect();
        assert_eq!(sets.len(), 5);
    }

    #[test]
    fn bridge_node_hears_everyone() {
        let all = nodes(5);
        let g = bridge(&all, &mut Rng::new(3));
        let bridges: Vec<_> = all.iter().filter(|n| !g.contains_key(*n)).collect();
        assert_eq!(bridges.len(), 1);
        for (n, drops) in &g {
            assert_eq!(drops.len(), 2, "{n}");
            assert!(!drops.contains(bridges[0]));
        }
    }

    #[test]
    fn values_round_trip() {
        let comps = random_halves(&nodes(5), &mut Rng::new(9));
        let v = components_value(&comps);
        assert_eq!(grudge_of_value(&v).unwrap(), complete_grudge(&comps));
        let g = majorities_ring(&nodes(5), &mut Rng::new(9));
        assert_eq!(grudge_of_value(&grudge_value(&g)).unwrap(), g);
        assert!(grudge_of_value(&Value::Int(3)).is_err());
        assert!(grudge_of_value(&Value::List(vec![Value::Int(3)])).is_err());
    }

    proptest! {
        #[test]
        fn halves_split_every_node_once(n in 1usize..12, seed: u64) {
            let all = nodes(n);
            let comps = random_halves(&all, &mut Rng::new(seed));
            prop_assert_eq!(comps[0].len(), n / 2);
            let mut flat: Vec<_> = comps.concat();
            flat.sort();
            let mut sorted = all.clone();
            sorted.sort();
            prop_assert_eq!(flat, sorted);
            let g = complete_grudge(&comps);
            for (k, v) in &g {
                prop_assert!(!v.contains(k));
            }
        }

        #[test]
        fn ring_gives_every_node_a_majority(n in 3usize..12, seed: u64) {
            let all = nodes(n);
            let g = majorities_ring(&all, &mut Rng::new(seed));
            for m in &all {
                prop_assert_eq!(hears(&g, &all, m), n / 2 + 1);
            }
        }

        #[test]
        fn random_node_isolates_exactly_one(n in 2usize..12, seed: u64) {
            let comps = random_node(&nodes(n), &mut Rng::new(seed));
            prop_assert_eq!(comps[0].len(), 1);
            prop_assert_eq!(comps[1].len(), n - 1);
        }

        #[test]
        fn same_seed_same_partition(n in 2usize..12, seed: u64) {
            let all = nodes(n);
            prop_assert_eq!(random_halves(&all, &mut Rng::new(seed)), random_halves(&all, &mut Rng::new(seed)));
            prop_assert_eq!(bridge(&all, &mut Rng::new(seed)), bridge(&all, &mut Rng::new(seed)));
        }
    }
}

//! Which nodes a process or network-quality fault hits: one, a minority, a majority, all, or
//! the primaries, as in Jepsen's `db-nodes` targets. Pure and seeded.

use crate::rng::Rng;

/// A target specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    One,
    Minority,
    Majority,
    All,
    Primaries,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::One,
        Target::Minority,
        Target::Majority,
        Target::All,
        Target::Primaries,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::One => "one",
            Target::Minority => "minority",
            Target::Majority => "majority",
            Target::All => "all",
            Target::Primaries => "primaries",
        }
    }
}

/// The nodes `target` picks from `nodes`, in `nodes`' order. `Primaries` with no known
/// primary falls back to one random node, so a schedule never stalls on a DB that cannot say.
pub fn choose(
    target: Target,
    nodes: &[String],
    primaries: &[String],
    rng: &mut Rng,
) -> Vec<String> {
    let n = nodes.len();
    if n == 0 {
        return Vec::new();
    }
    let count = match target {
        Target::One => 1,
        // A strict minority: 1 ..= ceil(n/2) - 1, at least one node.
        Target::Minority => 1 + rng.below(((n - 1) / 2).max(1)),
        Target::Majority => n / 2 + 1,
        Target::All => n,
        Target::Primaries => {
            let p: Vec<String> = nodes
                .iter()
                .filter(|x| primaries.contains(x))
                .cloned()
                .collect();
            if !p.is_empty() {
                return p;
            }
            1
        }
    };
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    let mut chosen = idx[..count.min(n)].to_vec();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| nodes[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::rng::Rng;
    use proptest::prelude::*;

    use crate::test_names as nodes;

    #[test]
    fn primaries_are_chosen_when_known() {
        let p = vec!["n3".to_string()];
        assert_eq!(
            choose(Target::Primaries, &nodes(5), &p, &mut Rng::new(0)),
            p
        );
        assert_eq!(
            choose(Target::Primaries, &nodes(5), &[], &mut Rng::new(0)).len(),
            1
        );
    }

    proptest! {
        #[test]
        fn sizes_match_the_target(n in 1usize..15, seed: u64) {
            let all = nodes(n);
            let mut rng = Rng::new(seed);
            prop_assert_eq!(choose(Target::One, &all, &[], &mut rng).len(), 1);
            prop_assert_eq!(choose(Target::All, &all, &[], &mut rng), all.clone());
            prop_assert_eq!(choose(Target::Majority, &all, &[], &mut rng).len(), n / 2 + 1);
            let m = choose(Target::Minority, &all, &[], &mut rng).len();
            prop_assert!(m >= 1);
            if n >= 3 {
                prop_assert!(2 * m < n, "minority {} of {}", m, n);
            }
        }

        #[test]
        fn choices_are_distinct_members(n in 1usize..15, seed: u64, t in 0usize..5) {
            let all = nodes(n);
            let c = choose(Target::ALL[t], &all, &[], &mut Rng::new(seed));
            let mut d = c.clone();
            d.dedup();
            prop_assert_eq!(&d, &c);
            prop_assert!(c.iter().all(|x| all.contains(x)));
        }
    }
}

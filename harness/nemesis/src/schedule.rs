//! The schedule: which fault op comes next. Each step either stops one active fault or starts
//! one whose group is idle, so faults of different kinds overlap (a partition during a kill)
//! while two faults of one group never do: kill and pause share the "process" group (a paused
//! server must not be killed under it), every other family is its own group. A start picks the
//! family and its parameters (partition shape, targets, loss rate, delay, clock offset) from the
//! seeded RNG, so the whole sequence is a function of the seed, the node names and what the DB
//! reports as primaries. With one family configured, starts and stops simply alternate.

use crate::fault::{Fault, PartitionKind};
use crate::rng::Rng;
use crate::target::{self, Target};
use crate::topology;
use labrys_history::Value;

/// Seeded, pure op chooser.
#[derive(Clone, Debug)]
pub struct Schedule {
    faults: Vec<Fault>,
    rng: Rng,
    /// Started and not yet stopped, in start order.
    active: Vec<Fault>,
}

/// Faults of one group never run at once.
fn group(f: Fault) -> &'static str {
    match f {
        Fault::Kill | Fault::Pause => "process",
        other => other.family(),
    }
}

fn node_list(nodes: &[String]) -> Value {
    Value::List(nodes.iter().map(|n| Value::str(n)).collect())
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::str(k), v))
            .collect(),
    )
}

impl Schedule {
    pub fn new(faults: Vec<Fault>, seed: u64) -> Schedule {
        Schedule {
            faults,
            rng: Rng::new(seed),
            active: Vec::new(),
        }
    }

    /// Faults started and not stopped yet, in start order.
    pub fn active(&self) -> &[Fault] {
        &self.active
    }

    /// The next op: `stop-<family>` of an active fault, or `start-<family>` with its value.
    /// `primaries` is asked only when a start is chosen (it may cost the DB a round trip).
    /// With no faults configured, returns `("noop", nil)`.
    pub fn next(
        &mut self,
        nodes: &[String],
        primaries: impl FnOnce() -> Vec<String>,
    ) -> (String, Value) {
        if self.faults.is_empty() || nodes.is_empty() {
            return ("noop".into(), Value::Nil);
        }
        let startable: Vec<Fault> = self
            .faults
            .iter()
            .copied()
            .filter(|f| self.active.iter().all(|a| group(*a) != group(*f)))
            .collect();
        let stop = !self.active.is_empty() && (startable.is_empty() || self.rng.below(2) == 0);
        if stop {
            let f = self.active.remove(self.rng.below(self.active.len()));
            return (format!("stop-{}", f.family()), Value::Nil);
        }
        let fault = *self.rng.pick(&startable);
        self.active.push(fault);
        let value = self.start_value(fault, nodes, &primaries());
        (format!("start-{}", fault.family()), value)
    }

    fn targets(&mut self, nodes: &[String], primaries: &[String]) -> Vec<String> {
        let t = *self.rng.pick(&Target::ALL);
        target::choose(t, nodes, primaries, &mut self.rng)
    }

    fn start_value(&mut self, fault: Fault, nodes: &[String], primaries: &[String]) -> Value {
        match fault {
            Fault::Partition(kind) => {
                let kind = kind.unwrap_or_else(|| {
                    let kinds: Vec<PartitionKind> = PartitionKind::ALL
                        .into_iter()
                        .filter(|k| *k != PartitionKind::Primaries || !primaries.is_empty())
                        .collect();
                    *self.rng.pick(&kinds)
                });
                match kind {
                    PartitionKind::RandomHalves => {
                        topology::components_value(&topology::random_halves(nodes, &mut self.rng))
                    }
                    PartitionKind::RandomNode => {
                        topology::components_value(&topology::random_node(nodes, &mut self.rng))
                    }
                    PartitionKind::Primaries if !primaries.is_empty() => {
                        topology::components_value(&topology::primaries(nodes, primaries))
                    }
                    // No known primary: isolate a random node instead, as the closest shape.
                    PartitionKind::Primaries => {
                        topology::components_value(&topology::random_node(nodes, &mut self.rng))
                    }
                    PartitionKind::MajoritiesRing => {
                        topology::grudge_value(&topology::majorities_ring(nodes, &mut self.rng))
                    }
                    PartitionKind::Bridge => {
                        topology::grudge_value(&topology::bridge(nodes, &mut self.rng))
                    }
                }
            }
            Fault::Kill | Fault::Pause => node_list(&self.targets(nodes, primaries)),
            Fault::Loss => {
                let nodes = self.targets(nodes, primaries);
                let percent = *self.rng.pick(&[5i64, 10, 20, 50]);
                map(vec![
                    ("nodes", node_list(&nodes)),
                    ("percent", Value::Int(percent)),
                ])
            }
            Fault::Rate => {
                let nodes = self.targets(nodes, primaries);
                let kbit = *self.rng.pick(&[64i64, 256, 1024]);
                map(vec![
                    ("nodes", node_list(&nodes)),
                    ("kbit", Value::Int(kbit)),
                ])
            }
            Fault::Delay => {
                let nodes = self.targets(nodes, primaries);
                let ms = *self.rng.pick(&[10i64, 50, 200]);
                map(vec![("nodes", node_list(&nodes)), ("ms", Value::Int(ms))])
            }
            Fault::Clock => {
                let nodes = self.targets(nodes, primaries);
                let secs = 1 + self.rng.below(60) as i64;
                let secs = if self.rng.below(2) == 0 { secs } else { -secs };
                if self.rng.below(2) == 0 {
                    map(vec![
                        ("nodes", node_list(&nodes)),
                        ("bump-s", Value::Int(secs)),
                    ])
                } else {
                    let period_ms = 10 * (1 + self.rng.below(100) as i64);
                    map(vec![
                        ("nodes", node_list(&nodes)),
                        ("strobe-s", Value::Int(secs)),
                        ("period-ms", Value::Int(period_ms)),
                    ])
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::rng::Rng;
    use proptest::prelude::*;

    use crate::test_names as nodes;

    #[test]
    fn one_family_alternates() {
        let mut s = Schedule::new(vec![Fault::Kill], 42);
        for _ in 0..20 {
            let (f, v) = s.next(&nodes(5), Vec::new);
            assert_eq!(f, "start-kill");
            assert!(!v.is_nil());
            let (g, w) = s.next(&nodes(5), Vec::new);
            assert_eq!(g, "stop-kill");
            assert!(w.is_nil());
        }
    }

    #[test]
    fn families_overlap_but_groups_never_do() {
        let faults = vec![
            Fault::Partition(None),
            Fault::Kill,
            Fault::Pause,
            Fault::Loss,
        ];
        let mut s = Schedule::new(faults, 9);
        let mut active: Vec<String> = Vec::new();
        let mut most = 0;
        for _ in 0..300 {
            let (f, _) = s.next(&nodes(5), Vec::new);
            if let Some(fam) = f.strip_prefix("start-") {
                assert!(!active.iter().any(|a| a == fam), "{fam} started twice");
                active.push(fam.to_string());
            } else {
                let fam = f.strip_prefix("stop-").unwrap();
                let at = active.iter().position(|a| a == fam);
                assert!(at.is_some(), "stop-{fam} while not active");
                active.remove(at.unwrap());
            }
            let procs = active
                .iter()
                .filter(|a| *a == "kill" || *a == "pause")
                .count();
            assert!(procs <= 1, "kill and pause at once: {active:?}");
            most = most.max(active.len());
        }
        assert!(most >= 2, "faults never overlapped");
    }

    #[test]
    fn primaries_are_asked_only_for_starts() {
        let mut s = Schedule::new(vec![Fault::Kill], 1);
        let mut asked = 0;
        for _ in 0..10 {
            s.next(&nodes(3), || {
                asked += 1;
                Vec::new()
            });
        }
        assert_eq!(asked, 5);
    }

    #[test]
    fn no_faults_means_noop() {
        let mut s = Schedule::new(vec![], 1);
        assert_eq!(s.next(&nodes(3), Vec::new).0, "noop");
    }

    #[test]
    fn kill_values_name_cluster_nodes() {
        let mut s = Schedule::new(vec![Fault::Kill], 5);
        let all = nodes(5);
        for _ in 0..30 {
            let (f, v) = s.next(&all, Vec::new);
            if f == "start-kill" {
                let names = v.as_seq().unwrap();
                assert!(!names.is_empty());
                assert!(names
                    .iter()
                    .all(|n| all.iter().any(|a| Some(a.as_str()) == n.as_name())));
            }
        }
    }

    #[test]
    fn partition_values_parse_as_grudges() {
        let mut s = Schedule::new(vec![Fault::Partition(None)], 11);
        let all = nodes(5);
        let mut shapes = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let (f, v) = s.next(&all, || vec!["n2".to_string()]);
            if f == "start-partition" {
                let g = topology::grudge_of_value(&v).unwrap();
                assert!(!g.is_empty());
                shapes.insert(format!(
                    "{:?}",
                    g.values().map(|d| d.len()).collect::<Vec<_>>()
                ));
            }
        }
        assert!(shapes.len() >= 3, "shapes vary: {shapes:?}");
    }

    proptest! {
        #[test]
        fn schedule_is_a_function_of_the_seed(seed: u64, n in 1usize..8) {
            let faults = vec![Fault::Partition(None), Fault::Kill, Fault::Pause, Fault::Loss, Fault::Rate, Fault::Delay, Fault::Clock];
            let all = nodes(n);
            let mut a = Schedule::new(faults.clone(), seed);
            let mut b = Schedule::new(faults, seed);
            for _ in 0..20 {
                prop_assert_eq!(a.next(&all, Vec::new), b.next(&all, Vec::new));
            }
        }
    }
}

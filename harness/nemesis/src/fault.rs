//! The fault families a test can ask for (`--nemesis partition,kill`), with Jepsen's names.

use std::fmt;

/// Partition shapes, as in Jepsen's `jepsen.nemesis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartitionKind {
    /// Two random halves (the smaller one `floor(n/2)` nodes).
    RandomHalves,
    /// Every node sees a majority, but no two nodes see the same one.
    MajoritiesRing,
    /// One random node isolated from the rest.
    RandomNode,
    /// The primaries (as the DB reports them) isolated from the rest.
    Primaries,
    /// Two halves joined by one node that sees both.
    Bridge,
}

impl PartitionKind {
    pub const ALL: [PartitionKind; 5] = [
        PartitionKind::RandomHalves,
        PartitionKind::MajoritiesRing,
        PartitionKind::RandomNode,
        PartitionKind::Primaries,
        PartitionKind::Bridge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::RandomHalves => "partition-random-halves",
            PartitionKind::MajoritiesRing => "partition-majorities-ring",
            PartitionKind::RandomNode => "partition-random-node",
            PartitionKind::Primaries => "partition-primaries",
            PartitionKind::Bridge => "bridge",
        }
    }
}

/// One fault family of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// A partition; `None` picks a shape at random each time.
    Partition(Option<PartitionKind>),
    /// SIGKILL the DB on some nodes, restart it at the stop.
    Kill,
    /// SIGSTOP the DB on some nodes, SIGCONT at the stop.
    Pause,
    /// Drop a share of incoming packets on some nodes (iptables `statistic`).
    Loss,
    /// Limit outgoing bandwidth on some nodes (`tc tbf`).
    Rate,
    /// Delay incoming packets on some nodes (NFQUEUE and a delayer process).
    Delay,
    /// Bump or strobe the DB's clock with libfaketime.
    Clock,
}

/// Every name `parse` accepts.
pub const NAMES: &[&str] = &[
    "partition",
    "partition-random-halves",
    "partition-majorities-ring",
    "partition-random-node",
    "partition-primaries",
    "bridge",
    "kill",
    "pause",
    "loss",
    "rate",
    "delay",
    "clock",
];

impl Fault {
    /// Parses one name of `--nemesis`.
    pub fn parse(s: &str) -> Result<Fault, crate::nemesis::NemesisError> {
        let s = s.trim();
        if let Some(k) = PartitionKind::ALL.iter().find(|k| k.name() == s) {
            return Ok(Fault::Partition(Some(*k)));
        }
        Ok(match s {
            "partition" => Fault::Partition(None),
            "kill" => Fault::Kill,
            "pause" => Fault::Pause,
            "loss" => Fault::Loss,
            "rate" => Fault::Rate,
            "delay" => Fault::Delay,
            "clock" => Fault::Clock,
            _ => {
                return Err(crate::nemesis::NemesisError::UnknownFault {
                    name: s.to_string(),
                    known: NAMES.join(", "),
                })
            }
        })
    }

    /// The op family: ops are `start-<family>` and `stop-<family>`.
    pub fn family(self) -> &'static str {
        match self {
            Fault::Partition(_) => "partition",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Loss => "loss",
            Fault::Rate => "rate",
            Fault::Delay => "delay",
            Fault::Clock => "clock",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition(Some(k)) => f.write_str(k.name()),
            other => f.write_str(other.family()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_parses_and_prints_back() {
        for n in NAMES {
            let f = Fault::parse(n).unwrap();
            assert_eq!(&f.to_string(), n);
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = Fault::parse("partitoin").unwrap_err().to_string();
        assert!(
            e.contains("partitoin") && e.contains("partition-random-halves"),
            "{e}"
        );
    }
}

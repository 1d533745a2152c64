//! The consistency-model lattice: which models imply which, which anomalies each model
//! prohibits, and which anomalies imply which.
//!
//! A checker finds anomalies; people ask about models. This module turns one into the other
//! the way Elle does, so that labrys and Elle rule out the same models for the same anomalies:
//! - `prohibited_anomalies(models)`: every anomaly that would make a history violate one of
//!   `models` (the models, everything they imply, and every anomaly implying a proscribed one);
//! - `impossible_models(anomalies)`: every model ruled out by those anomalies, closed upwards
//!   (if serializable is ruled out, so is strict-serializable).
//!
//! The facts (model implications, proscriptions, anomaly implications) follow Adya, Bailis et
//! al., Cerone et al. and Elle's choices; the names are Elle's friendly names. Canonical Adya
//! names (`PL-2`, `PL-SI` ...) are accepted as aliases.
//!
//! Session order, and where labrys departs from Elle's lattice. Adya's models
//! (`snapshot-isolation`, `serializable`, `read-committed` ...) say nothing about sessions;
//! Cerone et al.'s (`read-atomic`, `causal-cerone`, `prefix`, `parallel-snapshot-isolation`)
//! and Biswas and Enea's read committed (`read-committed-be`) include session order: a session
//! sees its own earlier transactions. So a history can be `snapshot-isolation` and still break
//! `read-atomic` (a session that does not see its own write). Elle has `snapshot-isolation`
//! imply `parallel-snapshot-isolation` and `prefix`, hence `causal-cerone` and `read-atomic`;
//! labrys has `strong-session-snapshot-isolation` (SI plus session order) imply them instead,
//! so that a violation that needs session order never rules out plain `snapshot-isolation` or
//! `serializable`. What Elle's chain gave `snapshot-isolation` is kept by proscribing it
//! directly: `lost-update` (a `G-single` under any version order). Session-aware levels
//! need `so ∪ wr` (and the known version order) acyclic, so `read-committed-be` proscribes
//! `G1c-process`.
//!
//! `parallel-snapshot-isolation` proscribes every dependency cycle with at most one
//! anti-dependency (`G1c-process`, `G-single-process`): Cerone and Gotsman characterise PSI
//! as `(so ∪ wr ∪ ww)+ ; rw?` irreflexive. (It has no exact check of its own yet: on a register
//! history where nothing refutes it, `lib.rs` answers `valid` only when strong-session SI holds,
//! else `unknown`; likewise `prefix` and Elle's Adya-style levels, see
//! `NOT_EXACT_ON_REGISTERS`.)
//!
//! The saturation checks ([`crate::awdit`]) name each violation twice over: `fractured-read`
//! (read atomic), `causality-violation` (causal) and `non-monotonic-read` (Biswas–Enea read
//! committed: a transaction's reads go back to an older state) when the violation needs no
//! session order, and the same with `-process` when it does. The sessionless kind rules out
//! the level and everything above it, including Adya's `snapshot-isolation` and
//! `repeatable-read` (hence `serializable`): SI admits a commit order in which each transaction
//! reads the last version committed before it started, which satisfies the causal axiom
//! without sessions, and `repeatable-read` over keys (no predicates) forbids every dependency
//! cycle, which is serializability. The `-process` kind rules out only the session-aware
//! levels and what implies them. For the same reason `repeatable-read` proscribes
//! `serializability-violation` (the polygraph's finding that no version order leaves the
//! dependency graph acyclic): every read here is an item read, so a cycle with an
//! anti-dependency is a `G2-item` cycle, and Adya's PL-2.99 is PL-3 on these histories; the
//! exact serializability check decides `repeatable-read` too. `read-committed-be` is stronger than Adya's PL-2
//! `read-committed` (which it implies: version orders taken from its commit order have no
//! `G1`) and never reported as it.

use std::collections::{BTreeSet, VecDeque};

/// `a` implies each of `b`: a history satisfying `a` satisfies every `b`.
const MODEL_IMPLIES: &[(&str, &[&str])] = &[
    ("causal-cerone", &["read-atomic"]),
    ("read-committed-be", &["read-committed"]),
    ("consistent-view", &["cursor-stability", "monotonic-view"]),
    ("cursor-stability", &["read-committed"]),
    ("forward-consistent-view", &["consistent-view"]),
    ("read-committed", &["read-uncommitted"]),
    (
        "serializable",
        &[
            "repeatable-read",
            "update-serializable",
            "snapshot-isolation",
            "view-serializable",
        ],
    ),
    ("update-serializable", &["forward-consistent-view"]),
    ("monotonic-atomic-view", &["read-committed"]),
    ("monotonic-view", &["read-committed"]),
    ("monotonic-snapshot-read", &["read-committed"]),
    ("parallel-snapshot-isolation", &["causal-cerone", "ROLA"]),
    ("prefix", &["causal-cerone"]),
    (
        "read-atomic",
        &["monotonic-atomic-view", "read-committed-be"],
    ),
    (
        "repeatable-read",
        &["cursor-stability", "monotonic-atomic-view"],
    ),
    ("ROLA", &["read-atomic"]),
    ("session-serializable", &["1SR"]),
    (
        "snapshot-isolation",
        &[
            "forward-consistent-view",
            "monotonic-atomic-view",
            "monotonic-snapshot-read",
        ],
    ),
    (
        "strict-serializable",
        &[
            "serializable",
            "linearizable",
            "snapshot-isolation",
            "strong-snapshot-isolation",
            "strong-session-serializable",
            "session-serializable",
        ],
    ),
    ("strong-session-read-uncommitted", &["read-uncommitted"]),
    (
        "strong-session-read-committed",
        &["read-committed", "strong-session-read-uncommitted"],
    ),
    (
        "strong-read-uncommitted",
        &["strong-session-read-uncommitted"],
    ),
    (
        "strong-read-committed",
        &["strong-session-read-committed", "strong-read-uncommitted"],
    ),
    (
        "strong-session-serializable",
        &["serializable", "strong-session-snapshot-isolation"],
    ),
    (
        "strong-session-snapshot-isolation",
        &[
            "snapshot-isolation",
            "strong-session-read-committed",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    (
        "strong-snapshot-isolation",
        &["strong-session-snapshot-isolation", "strong-read-committed"],
    ),
    ("linearizable", &["sequential"]),
    ("sequential", &["causal"]),
    ("causal", &["writes-follow-reads", "PRAM"]),
    (
        "PRAM",
        &["monotonic-reads", "monotonic-writes", "read-your-writes"],
    ),
];

/// Other names for the same models (Adya's canonical names and synonyms).
const ALIASES: &[(&str, &str)] = &[
    ("PL-2+", "consistent-view"),
    ("PL-3", "serializable"),
    ("conflict-serializable", "serializable"),
    ("PL-CS", "cursor-stability"),
    ("PL-FCV", "forward-consistent-view"),
    ("PL-MSR", "monotonic-snapshot-read"),
    ("PL-2L", "monotonic-view"),
    ("PL-2", "read-committed"),
    ("PL-1", "read-uncommitted"),
    ("PL-2.99", "repeatable-read"),
    ("PL-SI", "snapshot-isolation"),
    ("PL-SS", "strict-serializable"),
    ("strong-serializable", "strict-serializable"),
    ("PL-3U", "update-serializable"),
    ("strong-session-PL-1", "strong-session-read-uncommitted"),
    ("strong-session-PL-2", "strong-session-read-committed"),
    ("strong-PL-1", "strong-read-uncommitted"),
    ("strong-PL-2", "strong-read-committed"),
];

/// The anomalies each model prohibits directly (weaker models it implies add theirs).
const PROSCRIBES: &[(&str, &[&str])] = &[
    (
        "causal-cerone",
        &["internal", "G1a", "causality-violation-process"],
    ),
    ("cursor-stability", &["G1", "G-cursor", "lost-update"]),
    ("monotonic-view", &["G1", "G-monotonic"]),
    ("monotonic-snapshot-read", &["G1", "G-MSR"]),
    ("consistent-view", &["G1", "G-single"]),
    ("forward-consistent-view", &["G1", "G-SIb"]),
    (
        "parallel-snapshot-isolation",
        &["internal", "G1a", "G1c-process", "G-single-process"],
    ),
    (
        "serializable",
        &[
            "G1",
            "G2",
            "predicate-read-miss",
            "internal",
            "serializability-violation",
        ],
    ),
    ("read-committed", &["G1"]),
    (
        "read-uncommitted",
        &["G0", "duplicate-elements", "cyclic-versions"],
    ),
    ("prefix", &["internal", "G1a"]),
    (
        "snapshot-isolation",
        &[
            "internal",
            "G1",
            "G-SI",
            "G-nonadjacent",
            "lost-update",
            "causality-violation",
            "snapshot-isolation-violation",
        ],
    ),
    (
        "read-atomic",
        &["internal", "G1a", "future-read", "fractured-read-process"],
    ),
    (
        "read-committed-be",
        &["G1a", "G1b", "G1c-process", "non-monotonic-read-process"],
    ),
    (
        "repeatable-read",
        &[
            "G1",
            "G2-item",
            "lost-update",
            "causality-violation",
            "serializability-violation",
        ],
    ),
    ("ROLA", &["lost-update"]),
    (
        "strict-serializable",
        &[
            "G1",
            "G1c-realtime",
            "G2-realtime",
            "serializability-violation-realtime",
        ],
    ),
    ("strong-session-read-uncommitted", &["G0-process"]),
    ("strong-session-read-committed", &["G1c-process"]),
    ("strong-read-uncommitted", &["G0-realtime"]),
    ("strong-read-committed", &["G1c-realtime"]),
    (
        "strong-session-snapshot-isolation",
        &[
            "internal",
            "G1-process",
            "G-nonadjacent-process",
            "snapshot-isolation-violation-process",
        ],
    ),
    (
        "strong-snapshot-isolation",
        &[
            "internal",
            "G1-realtime",
            "G-nonadjacent-realtime",
            "snapshot-isolation-violation-realtime",
        ],
    ),
    (
        "strong-session-serializable",
        &[
            "G1-process",
            "G2-process",
            "serializability-violation-process",
        ],
    ),
    ("update-serializable", &["G1", "G-update"]),
];

/// Anomaly `a` implies each of `b`: a history exhibiting `a` also exhibits every `b`.
const ANOMALY_IMPLIES: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    (
        "G-single-item",
        &["G-single", "G-single-item-process", "G-nonadjacent-item"],
    ),
    (
        "G-single-item-process",
        &[
            "G-single-process",
            "G-single-item-realtime",
            "G-nonadjacent-item-process",
        ],
    ),
    (
        "G-single-item-realtime",
        &["G-single-realtime", "G-nonadjacent-item-realtime"],
    ),
    ("G-single", &["G-nonadjacent", "GSIb", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    (
        "G-nonadjacent-item",
        &["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"],
    ),
    (
        "G-nonadjacent-item-process",
        &[
            "G-nonadjacent-process",
            "G2-item-process",
            "G-nonadjacent-item-realtime",
        ],
    ),
    (
        "G-nonadjacent-item-realtime",
        &["G2-item-realtime", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2-process", &["G2-realtime"]),
    ("GSIa", &["GSI"]),
    ("GSIb", &["GSI"]),
    ("incompatible-order", &["G1a"]),
    ("future-read", &["G1c"]),
    ("dirty-update", &["G1a"]),
    ("lost-update", &["write-skew", "G2-item"]),
    ("write-skew", &["G2"]),
    // The saturation checks' (`crate::awdit`): a violation of a level's sessionless form is one
    // of its session-aware form, and a level's forced pairs contain the weaker levels'.
    (
        "non-monotonic-read",
        &["non-monotonic-read-process", "fractured-read"],
    ),
    (
        "fractured-read",
        &["fractured-read-process", "causality-violation"],
    ),
    ("causality-violation", &["causality-violation-process"]),
    ("non-monotonic-read-process", &["fractured-read-process"]),
    ("fractured-read-process", &["causality-violation-process"]),
    // The polygraph check's (`crate::sat`): no version order makes the graph acyclic; without
    // order edges, with session order, with real time.
    (
        "serializability-violation",
        &["serializability-violation-process"],
    ),
    (
        "serializability-violation-process",
        &["serializability-violation-realtime"],
    ),
    // The polygraph's snapshot-isolation check (`crate::sat`): without order edges, with
    // session order.
    (
        "snapshot-isolation-violation",
        &["snapshot-isolation-violation-process"],
    ),
    (
        "snapshot-isolation-violation-process",
        &["snapshot-isolation-violation-realtime"],
    ),
    // labrys's own: a read of a value no transaction ever wrote is at least as bad as reading
    // an aborted write (Elle has no name for it).
    ("garbage-read", &["G1a"]),
];

/// The default `--consistency-models`.
pub const DEFAULT_MODEL: &str = "strict-serializable";

/// An unknown model name, with the list of known ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown consistency model {name:?}; known models: {known}")]
pub struct UnknownModel {
    pub name: String,
    pub known: String,
}

fn closure(
    start: impl IntoIterator<Item = String>,
    next: impl Fn(&str) -> Vec<&'static str>,
) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = start.into_iter().collect();
    while let Some(x) = queue.pop_front() {
        if seen.insert(x.clone()) {
            for y in next(&x) {
                if !seen.contains(y) {
                    queue.push_back(y.to_string());
                }
            }
        }
    }
    seen
}

fn forward(
    table: &'static [(&'static str, &'static [&'static str])],
    x: &str,
) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(a, _)| *a == x)
        .flat_map(|(_, bs)| bs.iter().copied())
        .collect()
}

fn backward(
    table: &'static [(&'static str, &'static [&'static str])],
    x: &str,
) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(_, bs)| bs.contains(&x))
        .map(|(a, _)| *a)
        .collect()
}

/// Every model name labrys knows (friendly names), sorted.
pub fn all_models() -> BTreeSet<&'static str> {
    let mut s = BTreeSet::new();
    for (a, bs) in MODEL_IMPLIES {
        s.insert(*a);
        s.extend(bs.iter().copied());
    }
    s.extend(PROSCRIBES.iter().map(|(m, _)| *m));
    s
}

/// The friendly name of a model (`PL-SI` → `snapshot-isolation`), or an error naming the
/// known ones.
pub fn canonical(name: &str) -> Result<&'static str, UnknownModel> {
    let name = name.trim_start_matches(':');
    if let Some((_, to)) = ALIASES.iter().find(|(a, _)| *a == name) {
        return Ok(to);
    }
    all_models()
        .into_iter()
        .find(|m| *m == name)
        .ok_or_else(|| UnknownModel {
            name: name.to_string(),
            known: all_models().into_iter().collect::<Vec<_>>().join(", "),
        })
}

/// Every model implied by `models` (including themselves).
pub fn implied_models(models: &[&str]) -> BTreeSet<String> {
    closure(models.iter().map(|m| m.to_string()), |x| {
        forward(MODEL_IMPLIES, x)
    })
}

/// Every anomaly implied by `anomalies` (including themselves).
pub fn implied_anomalies<S: AsRef<str>>(anomalies: &[S]) -> BTreeSet<String> {
    closure(anomalies.iter().map(|a| a.as_ref().to_string()), |x| {
        forward(ANOMALY_IMPLIES, x)
    })
}

/// Every anomaly which, present in a history, violates one of `models`.
pub fn prohibited_anomalies(models: &[&str]) -> BTreeSet<String> {
    let direct: Vec<String> = implied_models(models)
        .iter()
        .flat_map(|m| forward(PROSCRIBES, m))
        .map(str::to_string)
        .collect();
    closure(direct, |x| backward(ANOMALY_IMPLIES, x))
}

/// Every model ruled out by `anomalies`, closed upwards.
pub fn impossible_models<S: AsRef<str>>(anomalies: &[S]) -> BTreeSet<String> {
    let direct: Vec<String> = implied_anomalies(anomalies)
        .iter()
        .flat_map(|a| backward(PROSCRIBES, a))
        .map(str::to_string)
        .collect();
    closure(direct, |x| backward(MODEL_IMPLIES, x))
}

/// Resolves `--consistency-models` (empty means the default) to friendly names.
pub fn resolve(models: &[String]) -> Result<Vec<&'static str>, UnknownModel> {
    if models.is_empty() {
        return Ok(vec![DEFAULT_MODEL]);
    }
    models
        .iter()
        .flat_map(|m| m.split(',').map(str::trim).filter(|s| !s.is_empty()))
        .map(canonical)
        .collect()
}

/// Which order edges a cycle search needs to find every prohibited cycle anomaly: realtime
/// (which subsumes process order), process order, or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrderEdges {
    None,
    Process,
    Realtime,
}

/// Like Elle: realtime edges when any realtime anomaly is prohibited, else process edges when
/// any process anomaly is, else only data dependencies.
/// The saturation checks' anomalies (`crate::awdit`) are not cycle classes of the dependency
/// graph: they use session order themselves and need no order edges there.
pub fn order_edges_for(prohibited: &BTreeSet<String>) -> OrderEdges {
    let cycle_classes = || {
        prohibited.iter().filter(|a| {
            !crate::awdit::ANOMALIES.contains(&a.as_str())
                && !crate::sat::ANOMALIES.contains(&a.as_str())
        })
    };
    if cycle_classes().any(|a| a.ends_with("-realtime")) {
        OrderEdges::Realtime
    } else if cycle_classes().any(|a| a.ends_with("-process")) {
        OrderEdges::Process
    } else {
        OrderEdges::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g2_item_rules_out_repeatable_read_but_not_si() {
        let not = impossible_models(&["G2-item"]);
        assert!(not.contains("repeatable-read"));
        assert!(not.contains("serializable"));
        assert!(not.contains("strict-serializable"));
        assert!(!not.contains("snapshot-isolation"));
        assert!(!not.contains("read-committed"));
    }

    #[test]
    fn the_polygraph_finding_rules_out_repeatable_read_but_not_si_or_read_committed() {
        // No version order leaves the graph acyclic: on item histories that is a G2-item
        // cycle (or worse) in every version order, so PL-2.99 goes with PL-3.
        let not = impossible_models(&["serializability-violation"]);
        assert!(not.contains("repeatable-read"));
        assert!(not.contains("serializable"));
        assert!(!not.contains("snapshot-isolation"));
        assert!(!not.contains("read-committed"));
        assert!(prohibited_anomalies(&["repeatable-read"]).contains("serializability-violation"));
    }

    #[test]
    fn g_single_rules_out_si_and_everything_above() {
        let not = impossible_models(&["G-single-item"]);
        assert!(not.contains("snapshot-isolation"));
        assert!(not.contains("consistent-view"));
        assert!(not.contains("serializable"));
        assert!(!not.contains("read-committed"));
    }

    #[test]
    fn g0_rules_out_read_uncommitted_and_up() {
        let not = impossible_models(&["G0"]);
        for m in [
            "read-uncommitted",
            "read-committed",
            "serializable",
            "strict-serializable",
        ] {
            assert!(not.contains(m), "{m} missing from {not:?}");
        }
    }

    #[test]
    fn realtime_only_rules_out_strong_models() {
        let not = impossible_models(&["G-single-item-realtime"]);
        assert!(not.contains("strong-snapshot-isolation"));
        assert!(not.contains("strict-serializable"));
        assert!(!not.contains("serializable"));
        assert!(!not.contains("snapshot-isolation"));
    }

    #[test]
    fn not_is_upward_closed() {
        for a in [
            "G0",
            "G1a",
            "G1b",
            "G1c",
            "G2-item",
            "G-single-item-process",
            "internal",
        ] {
            let not = impossible_models(&[a]);
            for m in &not {
                for stronger in closure([m.clone()], |x| backward(MODEL_IMPLIES, x)) {
                    assert!(not.contains(&stronger), "{a}: {m} out but {stronger} not");
                }
            }
        }
    }

    #[test]
    fn prohibited_matches_impossible() {
        // An anomaly is prohibited by a model exactly when it rules that model out.
        let anomalies = [
            "G0",
            "G1a",
            "G1c",
            "G-single-item",
            "G2-item",
            "G1c-realtime",
        ];
        for m in all_models() {
            let p = prohibited_anomalies(&[m]);
            for a in anomalies {
                assert_eq!(
                    p.contains(a),
                    impossible_models(&[a]).contains(m),
                    "{m} / {a}"
                );
            }
        }
    }

    #[test]
    fn session_aware_levels_hang_from_strong_session_si_not_plain_si() {
        let si = implied_models(&["snapshot-isolation"]);
        for m in [
            "read-atomic",
            "causal-cerone",
            "parallel-snapshot-isolation",
            "prefix",
        ] {
            assert!(!si.contains(m), "snapshot-isolation implies {m}");
        }
        let ss = implied_models(&["strong-session-snapshot-isolation"]);
        for m in [
            "read-atomic",
            "causal-cerone",
            "read-committed-be",
            "read-committed",
        ] {
            assert!(
                ss.contains(m),
                "strong-session-snapshot-isolation misses {m}"
            );
        }
        // What the old chain gave snapshot-isolation still rules it out.
        for a in ["lost-update", "G1a", "internal", "future-read"] {
            assert!(
                impossible_models(&[a]).contains("snapshot-isolation"),
                "{a}"
            );
        }
    }

    #[test]
    fn session_order_violations_spare_the_sessionless_models() {
        for (plain, with_so, level) in [
            (
                "non-monotonic-read",
                "non-monotonic-read-process",
                "read-committed-be",
            ),
            ("fractured-read", "fractured-read-process", "read-atomic"),
            (
                "causality-violation",
                "causality-violation-process",
                "causal-cerone",
            ),
        ] {
            let not = impossible_models(&[with_so]);
            assert!(
                not.contains(level) && not.contains("causal-cerone"),
                "{with_so}"
            );
            assert!(
                not.contains("strong-session-snapshot-isolation"),
                "{with_so}"
            );
            for m in ["snapshot-isolation", "serializable", "read-committed"] {
                assert!(!not.contains(m), "{with_so} rules out {m}");
            }
            let not = impossible_models(&[plain]);
            for m in [
                level,
                "snapshot-isolation",
                "serializable",
                "repeatable-read",
            ] {
                assert!(not.contains(m), "{plain} spares {m}");
            }
            assert!(!not.contains("read-committed"), "{plain}");
        }
        // A fractured read does not rule out read committed (Biswas–Enea).
        assert!(!impossible_models(&["fractured-read"]).contains("read-committed-be"));
        assert_eq!(
            order_edges_for(&prohibited_anomalies(&["read-atomic"])),
            OrderEdges::Process
        );
    }

    #[test]
    fn snapshot_isolation_violations_rule_out_what_they_should() {
        let not = impossible_models(&["snapshot-isolation-violation"]);
        for m in [
            "snapshot-isolation",
            "strong-session-snapshot-isolation",
            "serializable",
            "strict-serializable",
        ] {
            assert!(not.contains(m), "spares {m}");
        }
        // SI's cycles allow what PSI and causal allow to differ; neither is implied by SI.
        for m in [
            "parallel-snapshot-isolation",
            "causal-cerone",
            "read-committed",
        ] {
            assert!(!not.contains(m), "rules out {m}");
        }
        // With session order: never plain SI or serializability.
        let not = impossible_models(&["snapshot-isolation-violation-process"]);
        assert!(not.contains("strong-session-snapshot-isolation"));
        assert!(not.contains("strong-session-serializable"));
        for m in ["snapshot-isolation", "serializable", "read-committed"] {
            assert!(!not.contains(m), "-process rules out {m}");
        }
        let p = prohibited_anomalies(&["snapshot-isolation"]);
        assert!(p.contains("snapshot-isolation-violation"));
        assert!(!p.contains("snapshot-isolation-violation-process"));
        assert!(prohibited_anomalies(&["strict-serializable"])
            .contains("snapshot-isolation-violation-realtime"));
        // With real time: only strong SI and what implies it.
        let not = impossible_models(&["snapshot-isolation-violation-realtime"]);
        assert!(not.contains("strong-snapshot-isolation"));
        assert!(not.contains("strict-serializable"));
        for m in [
            "snapshot-isolation",
            "strong-session-snapshot-isolation",
            "serializable",
            "strong-session-serializable",
        ] {
            assert!(!not.contains(m), "-realtime rules out {m}");
        }
    }

    #[test]
    fn aliases_and_unknown_names() {
        assert_eq!(canonical("PL-SI").unwrap(), "snapshot-isolation");
        assert_eq!(canonical(":serializable").unwrap(), "serializable");
        let e = canonical("serialisable").unwrap_err();
        assert!(e.to_string().contains("strict-serializable"));
        assert_eq!(resolve(&[]).unwrap(), vec!["strict-serializable"]);
        assert_eq!(
            resolve(&["serializable,read-committed".into()]).unwrap(),
            vec!["serializable", "read-committed"]
        );
    }

    #[test]
    fn order_edges_follow_models() {
        assert_eq!(
            order_edges_for(&prohibited_anomalies(&["strict-serializable"])),
            OrderEdges::Realtime
        );
        assert_eq!(
            order_edges_for(&prohibited_anomalies(&[
                "strong-session-snapshot-isolation"
            ])),
            OrderEdges::Process
        );
        assert_eq!(
            order_edges_for(&prohibited_anomalies(&["serializable"])),
            OrderEdges::None
        );
    }
}

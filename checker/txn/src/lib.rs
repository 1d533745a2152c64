//! Elle-style checking of transactional histories (`list-append`, `rw-register`).
//!
//! The pipeline: [`txn`] reads the history's transactions; [`append`] or [`register`] infers
//! version orders, non-cycle anomalies and ww/wr/rw dependencies; [`graph`] adds process or
//! real-time order (only what the requested models need, as Elle does); [`cycles`] finds and
//! names dependency cycles per SCC ([`scc`]) in parallel; [`model`] turns anomalies into the
//! models they rule out; [`explain`] and [`dot`] put it into words and pictures. [`gen`] makes
//! strict-serializable and causal histories for tests and benchmarks; [`reach`] answers the
//! reachability questions that prune the cycle search. [`awdit`] decides read committed
//! (Biswas–Enea), read atomic and causal consistency exactly by saturation, where the unknown
//! version order leaves Elle's cycles blind. [`sat`] decides serializability and snapshot
//! isolation of rw-register histories exactly (a polygraph and a SAT solver), when nothing
//! else already refuted them.
//!
//! Entry point: [`check`]. Validity: invalid when an anomaly found is prohibited by the
//! requested models; unknown when the deadline passed, a bounded search was inconclusive, or
//! no transaction completed ok (Elle's empty-transaction-graph); valid otherwise. Every anomaly
//! found is reported and `not` lists every model it rules out, prohibited or not; cycle classes
//! are searched only when prohibited (as Elle does). `opts.memory_limit` is not used.

pub mod append;
pub mod awdit;
pub mod compact;
pub mod cycles;
pub mod dot;
pub mod explain;
pub mod gen;
pub mod graph;
pub mod model;
pub mod reach;
pub mod register;
pub mod sat;
pub mod scc;
pub mod txn;

use labrys_history::{CheckOptions, CheckResult, Error, History, Validity};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use txn::{Kind, Outcome, Txns};

/// At most this many explanations per anomaly type (the stats count them all).
pub const MAX_PER_TYPE: usize = 32;

/// The exact checks' version order goes into `stats` only up to this many writes in all.
pub const MAX_VERSIONS_SHOWN: usize = 1000;

/// Models with no exact check of their own on register histories (see [`check_with`]): Elle's
/// Adya-style levels between read committed and serializable, parallel SI and prefix.
pub const NOT_EXACT_ON_REGISTERS: &[&str] = &[
    "parallel-snapshot-isolation",
    "prefix",
    "ROLA",
    "monotonic-atomic-view",
    "monotonic-view",
    "monotonic-snapshot-read",
    "cursor-stability",
    "consistent-view",
    "forward-consistent-view",
    "update-serializable",
    "view-serializable",
    "1SR",
    "session-serializable",
];

/// The model decided exactly whose holding shows that a model of [`NOT_EXACT_ON_REGISTERS`]
/// holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stronger {
    /// Serializability with these order edges.
    Serializable(model::OrderEdges),
    /// Strong-session snapshot isolation.
    SessionSi,
}

fn stronger_for(m: &str) -> Stronger {
    match m {
        "update-serializable" | "view-serializable" | "1SR" => {
            Stronger::Serializable(model::OrderEdges::None)
        }
        "session-serializable" => Stronger::Serializable(model::OrderEdges::Process),
        _ => Stronger::SessionSi,
    }
}

/// Checks a `list-append` or `rw-register` history against `opts.consistency_models`
/// (default strict-serializable). Writes DOT files of cycles into `opts.out_dir` when set.
pub fn check(workload: &str, h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    check_with(workload, h, opts, |kind| Txns::from_history(h, kind))
}

/// [`check`] with the transactions from `txns` (given the workload's micro-op kind) rather
/// than read from `h`: [`compact::Reader::into_txns`] for a history read in the compact form,
/// whose ops hold no values.
pub fn check_with(
    workload: &str,
    h: &History,
    opts: &CheckOptions,
    txns: impl FnOnce(Kind) -> Result<Txns, Error>,
) -> Result<CheckResult, Error> {
    let started = Instant::now();
    let kind = match workload {
        "list-append" => Kind::ListAppend,
        "rw-register" => Kind::RwRegister,
        other => {
            return Err(Error::malformed(
                &h.source,
                0,
                format!("labrys-txn checks list-append and rw-register, not {other:?}"),
            ))
        }
    };
    let models =
        model::resolve(&opts.consistency_models).map_err(|e| Error::malformed(&h.source, 0, e))?;
    let prohibited = model::prohibited_anomalies(&models);
    let order = model::order_edges_for(&prohibited);
    let txns = txns(kind)?;
    let t_parse = started.elapsed();
    let inference = match kind {
        Kind::ListAppend => append::infer(h, &txns)?,
        Kind::RwRegister => register::infer(h, &txns)?,
    };
    let n_deps = inference.deps.len();
    let t_infer = started.elapsed();
    let g = graph::build(
        &txns,
        inference.deps,
        inference.extra_edges,
        inference.extra_nodes,
        order,
    );
    let t_graph = started.elapsed();
    let found = cycles::search(&g, order, &prohibited, &opts.deadline);
    let t_search = started.elapsed();
    let saturation =
        awdit::needed(&prohibited).map(|top| awdit::check(h, &txns, top, &opts.deadline));
    let t_saturation = started.elapsed();

    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut result = CheckResult::valid();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (name, a) in inference.anomalies {
        let c = counts.entry(name.to_string()).or_default();
        *c += 1;
        if *c <= MAX_PER_TYPE {
            result.add_anomaly(name, a);
        }
    }
    let mut cycles = found.cycles;
    cycles.sort_by(|a, b| (&a.anomaly, a.steps.len()).cmp(&(&b.anomaly, b.steps.len())));
    for c in &cycles {
        let n = counts.entry(c.anomaly.clone()).or_default();
        *n += 1;
        if *n <= MAX_PER_TYPE {
            result.add_anomaly(&c.anomaly, explain::cycle_anomaly(h, &txns, &g, kind, c));
        }
    }
    if let Some(s) = &saturation {
        for (name, n, explained) in &s.anomalies {
            *counts.entry(name.to_string()).or_default() += n;
            for a in explained {
                result.add_anomaly(name, a.clone());
            }
        }
    }
    // The exact serializability check, only when nothing found so far refutes what it would
    // decide (it costs a search) and the history is a register's.
    // Snapshot isolation likewise (a polygraph whose cycles may not hold two rw edges in a
    // row), when it is the strongest polygraph level asked for; when serializability is
    // asked for, only once that check found a violation (which may then be one of SI too, a
    // stronger finding).
    let mut polygraph = None;
    let mut si_polygraph = None;
    // One deadline for every polygraph check of this history: the caller's, or
    // `sat::DEFAULT_SECONDS` from now when there is none.
    let poly_default = !opts.deadline.is_set();
    let poly_deadline = if poly_default {
        labrys_history::Deadline::after(std::time::Duration::from_secs(sat::DEFAULT_SECONDS))
    } else {
        opts.deadline
    };
    let run = |result: &mut CheckResult,
               counts: &mut BTreeMap<String, usize>,
               level: sat::Level,
               order: model::OrderEdges| {
        let refuted =
            model::impossible_models(&result.anomaly_types).contains(match (level, order) {
                (sat::Level::Serializable, model::OrderEdges::None) => "serializable",
                (sat::Level::Serializable, model::OrderEdges::Process) => {
                    "strong-session-serializable"
                }
                (sat::Level::Serializable, model::OrderEdges::Realtime) => "strict-serializable",
                (sat::Level::SnapshotIsolation, model::OrderEdges::None) => "snapshot-isolation",
                (sat::Level::SnapshotIsolation, model::OrderEdges::Process) => {
                    "strong-session-snapshot-isolation"
                }
                (sat::Level::SnapshotIsolation, model::OrderEdges::Realtime) => {
                    "strong-snapshot-isolation"
                }
            });
        if kind != Kind::RwRegister || refuted || found.timed_out {
            return None;
        }
        let f = sat::check_level(h, &txns, kind, level, order, &poly_deadline);
        if let Some((name, a)) = &f.anomaly {
            *counts.entry(name.to_string()).or_default() += 1;
            result.add_anomaly(name, a.clone());
        }
        Some(f)
    };
    let si_order = sat::needed_si(&prohibited);
    // What a polygraph that ran found to hold: serializability with which order edges (at
    // least), and snapshot isolation with which.
    let mut ser_holds: Option<model::OrderEdges> = None;
    let mut si_holds: Option<model::OrderEdges> = None;
    let holds = |f: &Option<sat::Found>| f.as_ref().is_some_and(sat::Found::holds);
    if let Some(sat_order) = sat::needed(&prohibited) {
        polygraph = run(
            &mut result,
            &mut counts,
            sat::Level::Serializable,
            sat_order,
        );
        if holds(&polygraph) {
            ser_holds = Some(sat_order);
        }
        // Snapshot isolation too when serializability failed (its violation may be one of SI,
        // a stronger finding), or when SI was asked for with more order than serializability
        // was checked with (serializable and strong-session SI, say): a serial order without
        // sessions says nothing of sessions.
        if let Some(o) = si_order {
            if polygraph.as_ref().is_some_and(|f| f.anomaly.is_some()) || o > sat_order {
                si_polygraph = run(&mut result, &mut counts, sat::Level::SnapshotIsolation, o);
                if holds(&si_polygraph) {
                    si_holds = Some(o);
                }
            }
        }
    } else if let Some(o) = si_order {
        si_polygraph = run(&mut result, &mut counts, sat::Level::SnapshotIsolation, o);
        if holds(&si_polygraph) {
            si_holds = Some(o);
        }
    }
    // Models with no exact check of their own on register histories (Elle's Adya-style names
    // between read committed and serializable, parallel SI and prefix, and the serializable
    // variants no anomaly names): with nothing refuting them, they surely hold only where a
    // stronger model decided exactly does, which is then checked if no polygraph showed it;
    // otherwise the answer is `unknown`, not a guess.
    let between: Vec<&str> = models
        .iter()
        .copied()
        .filter(|m| NOT_EXACT_ON_REGISTERS.contains(m))
        .collect();
    // Why the stronger model could not be shown to hold, when it could not.
    let mut between_open: Option<String> = None;
    if kind == Kind::RwRegister && !between.is_empty() && !found.timed_out {
        let ses = model::OrderEdges::Process;
        for need in between
            .iter()
            .map(|m| stronger_for(m))
            .collect::<BTreeSet<_>>()
        {
            let (shown, f, what) = match need {
                Stronger::Serializable(o) => {
                    if ser_holds.is_some_and(|h| h >= o) {
                        continue;
                    }
                    let f = sat::check(h, &txns, kind, o, &poly_deadline);
                    (f.holds(), f, "serializability")
                }
                Stronger::SessionSi => {
                    if si_holds.is_some_and(|h| h >= ses) || ser_holds.is_some_and(|h| h >= ses) {
                        continue;
                    }
                    let f = sat::check_si(h, &txns, kind, ses, &poly_deadline);
                    (f.holds(), f, "strong-session snapshot isolation")
                }
            };
            if !shown && between_open.is_none() {
                between_open = Some(if f.timed_out {
                    format!("the deadline passed during the exact {what} check")
                } else if let Some(why) = &f.skipped {
                    format!("the exact {what} check did not run: {why}")
                } else {
                    format!("{what} does not hold")
                });
            }
        }
    }
    let t_polygraph = started.elapsed();
    result.rule_out(model::impossible_models(&result.anomaly_types));
    let violated = result.anomaly_types.iter().any(|a| prohibited.contains(a));
    let n_ok = txns
        .txns
        .iter()
        .filter(|t| t.outcome == Outcome::Ok)
        .count();
    result.valid = if violated {
        Validity::Invalid
    } else {
        Validity::Valid
    };
    if !violated {
        if !found.inconclusive.is_empty() {
            result.valid = Validity::Unknown;
            result.unknown_reason = Some(format!(
                "the bounded search for {} ran out of steps or depth without settling whether such a \
                 cycle exists",
                found.inconclusive.join(", ")
            ));
        } else if found.timed_out || saturation.as_ref().is_some_and(|s| s.timed_out) {
            result.valid = Validity::Unknown;
            result.unknown_reason = Some(
                "the deadline passed during the cycle search or the saturation checks; no anomaly found before it".into(),
            );
        } else if let Some((what, f)) = [
            ("serializability", &polygraph),
            ("snapshot isolation", &si_polygraph),
        ]
        .into_iter()
        .find_map(|(w, f)| f.as_ref().filter(|f| f.timed_out).map(|f| (w, f)))
        {
            result.valid = Validity::Unknown;
            result.unknown_reason = Some(format!(
                "the deadline{} passed during the exact {what} check (polygraph and SAT \
                 solver) with {} writer orders still open{}; no anomaly found before it",
                if poly_default {
                    format!(
                        " ({} s, as no --time-limit was given)",
                        sat::DEFAULT_SECONDS
                    )
                } else {
                    String::new()
                },
                f.stats
                    .get("open_constraints")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0),
                f.stats
                    .get("open_keys")
                    .and_then(|v| v.as_str())
                    .map(|k| format!(" (most on keys {k})"))
                    .unwrap_or_default()
            ));
        } else if let Some((what, why)) = [
            ("serializability", &polygraph),
            ("snapshot isolation", &si_polygraph),
        ]
        .into_iter()
        .find_map(|(w, f)| {
            f.as_ref()
                .filter(|f| f.too_large)
                .and_then(|f| f.skipped.as_ref())
                .map(|why| (w, why))
        }) {
            // Elle's cycles found nothing, but they are not exact here: no verdict.
            result.valid = Validity::Unknown;
            result.unknown_reason = Some(format!(
                "the exact {what} check (polygraph and SAT solver) did not run: {why}; the \
                 cycle search alone found no anomaly, which is not exact on a register history"
            ));
        } else if let Some(why) = &between_open {
            result.valid = Validity::Unknown;
            result.unknown_reason = Some(format!(
                "{} has no exact check of its own on register histories: it is decided where an \
                 anomaly refutes it or a stronger model decided exactly holds \
                 (strong-session snapshot isolation, or serializability for the serializable \
                 variants), and here no anomaly was found and {why}",
                between.join(", ")
            ));
        } else if n_ok == 0 {
            result.valid = Validity::Unknown;
            result.unknown_reason = Some(
                "empty-transaction-graph: no transaction completed ok, so nothing can be checked"
                    .into(),
            );
        }
    }
    if let Some(dir) = &opts.out_dir {
        if !cycles.is_empty() {
            let paths = dot::write_cycles(dir, h, &txns, &g, kind, &cycles)?;
            result.stat("cycle_files", paths);
        }
    }
    result.stat("consistency_models", models.clone());
    result.stat("txns", txns.txns.len());
    result.stat("ok_txns", n_ok);
    result.stat("dependencies", n_deps);
    result.stat("sccs", found.sccs);
    result.stat("largest_scc", found.largest_scc);
    result.stat("inconclusive_classes", found.inconclusive.clone());
    result.stat(
        "anomaly_counts",
        serde_json::to_value(&counts).unwrap_or_default(),
    );
    result.stat(
        "saturation_checks",
        saturation
            .as_ref()
            .map(|s| {
                s.ran
                    .iter()
                    .map(|(what, ms)| serde_json::json!({"check": what, "ms": ms}))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    );
    if let Some((sessions, chains, width)) = saturation.as_ref().and_then(|s| s.causal_chains) {
        // The causal check's clocks are over chains of sessions (`awdit`): how many.
        result.stat(
            "causal_chains",
            serde_json::json!({"sessions": sessions, "chains": chains, "clock_width": width}),
        );
    }
    for (stat, f, no, yes) in [
        (
            "serializability",
            &polygraph,
            "not serializable",
            "serial order found",
        ),
        (
            "snapshot_isolation",
            &si_polygraph,
            "not snapshot isolation",
            "version order found",
        ),
    ] {
        let Some(f) = f else { continue };
        let mut j = f.stats.clone();
        j.insert(
            "verdict".into(),
            if f.anomaly.is_some() {
                no
            } else if f.versions.is_some() {
                yes
            } else if f.timed_out {
                "deadline"
            } else {
                "skipped"
            }
            .into(),
        );
        if let Some(why) = &f.skipped {
            j.insert("skipped".into(), why.clone().into());
        }
        // The version order the verdict rests on, per key (transactions as `T<index>`, as in
        // explanations), when it is small enough to read.
        if let Some(vs) = f
            .versions
            .as_ref()
            .filter(|vs| vs.iter().map(|(_, ws)| ws.len()).sum::<usize>() <= MAX_VERSIONS_SHOWN)
        {
            let per_key: serde_json::Map<String, serde_json::Value> = vs
                .iter()
                .map(|(k, ws)| {
                    let key = match txns.key(*k) {
                        labrys_history::Value::Str(s) => s.to_string(),
                        other => other.to_string(),
                    };
                    (key, ws.iter().map(|w| format!("T{w}")).collect())
                })
                .collect();
            j.insert("version_order".into(), per_key.into());
        }
        result.stat(stat, serde_json::Value::Object(j));
    }
    result.stat("order_edges", format!("{order:?}").to_lowercase());
    result.stat(
        "phase_ms",
        serde_json::json!({
            "read_txns": ms(t_parse),
            "infer": ms(t_infer - t_parse),
            "graph": ms(t_graph - t_infer),
            "cycle_search": ms(t_search - t_graph),
            "saturation": ms(t_saturation - t_search),
            "polygraph": ms(t_polygraph - t_saturation),
            "report": ms(started.elapsed() - t_polygraph),
        }),
    );
    result.stat("check_ms", started.elapsed().as_millis() as u64);
    Ok(result)
}

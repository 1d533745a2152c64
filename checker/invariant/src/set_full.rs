//! The set-full checker: a set read throughout the test, element by element.
//!
//! Unlike [`crate::set`], reads happen all along, so each element has a timeline: added,
//! first seen, perhaps missing again, finally present or gone. Jepsen's semantics, per element
//! (positions are positions in the history):
//! - *known*: the completion of its `ok` add or of the first read that saw it, whichever came
//!   first;
//! - *last present*: the latest-invoked `ok` read that contained it; *last absent*: the
//!   latest-invoked `ok` read that lacked it, among reads completing after its add was invoked;
//! - *stable* when it was present in a read invoked after the last read that lacked it;
//! - *lost* when it was known and a read invoked after it became known and after the last read
//!   that saw it lacked it: it disappeared for good;
//! - *never-read* otherwise (no read began after it was known, or only concurrent ones missed
//!   it);
//! - *stale* when stable but some read invoked after it was known still lacked it. Jepsen
//!   measures this with a 1 ms latency threshold; here it is exact (by history position), which
//!   only matters under `--linearizable`.
//!
//! Verdict: invalid if any element is lost (or, with `--linearizable`, stale), if a read holds
//! an element twice, or if a read holds an element whose add had not been invoked when the read
//! completed (Jepsen does not check these two); otherwise unknown when no element was ever
//! stable, else valid. Latencies (ms from known to stable / lost) use op times when present.
//!
//! Cost: one pass over the reads' contents, keeping a few positions per element; a read that
//! contains an element finds the latest read before it that could have seen the element (and,
//! as it did not, lacked it) with a `max_tree` query: O(total size of the reads ×
//! log reads), where Jepsen's is reads × elements.

use crate::max_tree::MaxTree;
use crate::report::{self, detail, element_set, op_json, op_ref, sorted};
use crate::set::read_elements;
use labrys_history::{Anomaly, CheckOptions, CheckResult, Error, History, Op, OpType, Value};
use rustc_hash::FxHashMap as HashMap;
use serde_json::{json, Value as J};

/// How many elements of one anomaly kind are listed individually; the rest are counted.
pub const MAX_LISTED: usize = 1000;

/// What became of one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Stable,
    Lost,
    NeverRead,
}

struct Element {
    value: Value,
    /// Position of its first add invocation.
    add_inv: usize,
    /// Position of its earliest `ok` add completion.
    add_ok: Option<usize>,
    /// Rank (in `reads`) of the latest-invoked read that contained it, among reads completing
    /// after `add_inv`.
    last_present: Option<usize>,
    /// Rank of the latest-invoked read, among those completing after `add_inv`, that lacked it.
    /// Kept up to date only up to `last_present`; [`analyse`] completes it.
    last_absent: Option<usize>,
    /// Earliest completion position among those reads.
    first_seen: Option<usize>,
}

struct Read<'a> {
    inv: &'a Op,
    comp: &'a Op,
    inv_pos: usize,
    comp_pos: usize,
}

/// What the analysis concluded about one element.
#[derive(Clone, Debug)]
struct ElementResult {
    element: Value,
    outcome: Outcome,
    stale: bool,
    /// Milliseconds from known to stable (stable elements with op times).
    stable_latency: Option<i64>,
    /// Milliseconds from known to lost (lost elements with op times).
    lost_latency: Option<i64>,
    known: Option<usize>,
    last_present: Option<usize>,
    last_absent: Option<usize>,
}

/// Checks a set-full history. Reads `opts.linearizable`, polls `opts.deadline`.
pub fn check(h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    let mut elements: Vec<Element> = Vec::new();
    let mut index: HashMap<&Value, usize> = HashMap::default();
    let mut reads: Vec<Read<'_>> = Vec::new();
    for call in h.calls() {
        match call.f() {
            "add" => {
                let i = *index.entry(&call.invoke.value).or_insert_with(|| {
                    elements.push(Element {
                        value: call.invoke.value.clone(),
                        add_inv: call.invoke_pos,
                        add_ok: None,
                        last_present: None,
                        last_absent: None,
                        first_seen: None,
                    });
                    elements.len() - 1
                });
                if call.outcome() == OpType::Ok {
                    let e = &mut elements[i];
                    e.add_ok = Some(
                        e.add_ok
                            .map_or(call.complete_pos, |p| p.min(call.complete_pos)),
                    );
                }
            }
            "read" if call.outcome() == OpType::Ok => reads.push(Read {
                inv: call.invoke,
                comp: call.completion.expect("ok calls have a completion"),
                inv_pos: call.invoke_pos,
                comp_pos: call.complete_pos,
            }),
            _ => {}
        }
    }

    // Completion positions by read rank (reads are in invocation order).
    let completions = MaxTree::new(reads.iter().map(|r| r.comp_pos));

    // Integer elements (the usual case) are looked up by value, not through the add ops'
    // values; when they are dense (the usual 0..n), through a table indexed by value, which
    // reads listing elements in order walk almost sequentially.
    let int_index = IntIndex::new(
        index
            .iter()
            .filter_map(|(v, i)| v.as_i64().map(|n| (n, *i))),
    );
    let lookup = |v: &Value| match v {
        Value::Int(n) => int_index.get(*n),
        other => index.get(other).copied(),
    };

    // Contents of every read: presence per element, duplicates, unexpected elements.
    let mut duplicated: HashMap<Value, (usize, usize)> = HashMap::default(); // element -> (max count, read rank)
    let mut unexpected: HashMap<Value, usize> = HashMap::default(); // element -> first read rank
    let mut unknown_counts: HashMap<&Value, usize> = HashMap::default();
    // Per element: the last read rank it was counted in, and how often in that read.
    let mut seen_in: Vec<(usize, usize)> = vec![(usize::MAX, 0); elements.len()];
    for (rank, r) in reads.iter().enumerate() {
        if rank % 256 == 0 && opts.deadline.expired() {
            return Ok(CheckResult::unknown(
                "deadline reached while reading the set's reads",
            ));
        }
        unknown_counts.clear();
        for v in read_elements(h, r.comp)? {
            let count = match lookup(v) {
                Some(i) => {
                    let s = &mut seen_in[i];
                    if s.0 == rank {
                        s.1 += 1;
                        s.1
                    } else {
                        *s = (rank, 1);
                        let e = &mut elements[i];
                        if e.add_inv < r.comp_pos {
                            // Every read between the previous one that saw it and this one
                            // lacked it: the latest of them is the last absent so far.
                            let q = latest_eligible_below(&reads, &completions, rank, e.add_inv);
                            if q > e.last_present {
                                e.last_absent = q;
                            }
                            e.last_present = Some(rank);
                            e.first_seen =
                                Some(e.first_seen.map_or(r.comp_pos, |p| p.min(r.comp_pos)));
                        } else {
                            unexpected.entry(v.clone()).or_insert(rank);
                        }
                        1
                    }
                }
                None => {
                    let c = unknown_counts.entry(v).or_insert(0);
                    *c += 1;
                    if *c == 1 {
                        unexpected.entry(v.clone()).or_insert(rank);
                    }
                    *c
                }
            };
            if count > 1 {
                let d = duplicated.entry(v.clone()).or_insert((count, rank));
                if count > d.0 {
                    *d = (count, rank);
                }
            }
        }
    }

    let mut results = Vec::with_capacity(elements.len());
    for (n, e) in elements.iter().enumerate() {
        if n % 1024 == 0 && opts.deadline.expired() {
            return Ok(CheckResult::unknown(
                "deadline reached while analysing set elements",
            ));
        }
        results.push(analyse(h, e, &reads, &completions));
    }

    Ok(verdict(h, opts, &reads, &results, duplicated, unexpected))
}

fn analyse(h: &History, e: &Element, reads: &[Read<'_>], completions: &MaxTree) -> ElementResult {
    let last_present = e.last_present;
    let known = match (e.add_ok, e.first_seen) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // Reads after the last one that saw it all lacked it.
    let mut last_absent = e.last_absent;
    let q = latest_eligible_below(reads, completions, reads.len(), e.add_inv);
    if q > last_present {
        last_absent = q;
    }
    let inv_pos = |r: Option<usize>| r.map(|r| reads[r].inv_pos);
    let stable = last_present.is_some() && inv_pos(last_absent) < inv_pos(last_present);
    let lost = match (known, last_absent) {
        (Some(k), Some(a)) => {
            inv_pos(last_present) < Some(reads[a].inv_pos) && k < reads[a].inv_pos
        }
        _ => false,
    };
    let outcome = if stable {
        Outcome::Stable
    } else if lost {
        Outcome::Lost
    } else {
        Outcome::NeverRead
    };
    let stale =
        stable && matches!((known, last_absent), (Some(k), Some(a)) if reads[a].inv_pos > k);
    let known_time = known.and_then(|k| h.ops[k].time);
    let ms = |t: i64, known: i64| (t.saturating_sub(known).max(0)) / 1_000_000;
    let stable_latency = if stable {
        match last_absent {
            None => known_time.map(|k| ms(0, k)),
            Some(a) => reads[a].inv.time.zip(known_time).map(|(t, k)| ms(t + 1, k)),
        }
    } else {
        None
    };
    let lost_latency = if lost {
        match last_present {
            None => known_time.map(|k| ms(0, k)),
            Some(p) => reads[p].inv.time.zip(known_time).map(|(t, k)| ms(t + 1, k)),
        }
    } else {
        None
    };
    ElementResult {
        element: e.value.clone(),
        outcome,
        stale,
        stable_latency,
        lost_latency,
        known,
        last_present,
        last_absent,
    }
}

/// Element positions of integer elements: a dense table when the integers span a range at
/// most four times their number, a hash map otherwise.
enum IntIndex {
    Dense { min: i64, slots: Vec<u32> },
    Sparse(HashMap<i64, usize>),
}

impl IntIndex {
    const EMPTY: u32 = u32::MAX;

    fn new(entries: impl Iterator<Item = (i64, usize)>) -> IntIndex {
        let entries: Vec<(i64, usize)> = entries.collect();
        let (Some(min), Some(max)) = (
            entries.iter().map(|e| e.0).min(),
            entries.iter().map(|e| e.0).max(),
        ) else {
            return IntIndex::Sparse(HashMap::default());
        };
        let span = (max as i128 - min as i128 + 1) as u128;
        if span <= 4 * entries.len() as u128 + 64 && entries.len() < Self::EMPTY as usize {
            let mut slots = vec![Self::EMPTY; span as usize];
            for (n, i) in entries {
                slots[(n - min) as usize] = i as u32;
            }
            IntIndex::Dense { min, slots }
        } else {
            IntIndex::Sparse(entries.into_iter().collect())
        }
    }

    fn get(&self, n: i64) -> Option<usize> {
        match self {
            IntIndex::Dense { min, slots } => {
                let off = (n as i128 - *min as i128) as u128;
                let s = *slots.get(usize::try_from(off).ok()?)?;
                (s != Self::EMPTY).then_some(s as usize)
            }
            IntIndex::Sparse(m) => m.get(&n).copied(),
        }
    }
}

/// The latest read ranked below `r` that completed after `add_inv`, so could have seen the
/// element. Usually the read just before; otherwise the tree answers in O(log n).
fn latest_eligible_below(
    reads: &[Read<'_>],
    completions: &MaxTree,
    r: usize,
    add_inv: usize,
) -> Option<usize> {
    match r.checked_sub(1) {
        None => None,
        Some(q) if reads[q].comp_pos > add_inv => Some(q),
        Some(_) => completions.last_above_before(r, add_inv),
    }
}

/// Quantiles (0, 0.5, 0.95, 0.99, 1) of latencies, Jepsen's way: the element at
/// `min(n-1, floor(n*p))` of the sorted values.
pub fn distribution(mut v: Vec<i64>) -> Option<J> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    let at = |p: f64| v[((n as f64 * p).floor() as usize).min(n - 1)];
    Some(json!({"0": at(0.0), "0.5": at(0.5), "0.95": at(0.95), "0.99": at(0.99), "1": at(1.0)}))
}

fn verdict(
    h: &History,
    opts: &CheckOptions,
    reads: &[Read<'_>],
    results: &[ElementResult],
    duplicated: HashMap<Value, (usize, usize)>,
    unexpected: HashMap<Value, usize>,
) -> CheckResult {
    let mut result = CheckResult::valid();
    let of =
        |o: Outcome| -> Vec<&ElementResult> { results.iter().filter(|r| r.outcome == o).collect() };
    let (stable, lost, never_read) = (
        of(Outcome::Stable),
        of(Outcome::Lost),
        of(Outcome::NeverRead),
    );
    let mut stale: Vec<&ElementResult> = results.iter().filter(|r| r.stale).collect();
    stale.sort_by_key(|r| std::cmp::Reverse(r.stable_latency));

    let read_ref = |r: Option<usize>| r.map(|r| op_ref(reads[r].inv));
    // How the element became known: its acknowledged add, or the first read that saw it.
    let known_ref = |k: Option<usize>| {
        k.map(|k| {
            let op = &h.ops[k];
            if &*op.f == "add" {
                format!("its add was acknowledged at {}", op_ref(op))
            } else {
                format!("a read completed at {} saw it", op_ref(op))
            }
        })
        .unwrap_or_default()
    };

    for r in lost.iter().take(MAX_LISTED) {
        let seen = match read_ref(r.last_present) {
            Some(p) => format!("it was last seen by the read invoked at {p}"),
            None => "no read ever saw it".to_string(),
        };
        result.add_anomaly(
            "lost",
            Anomaly {
                explanation: format!(
                    "element {} was lost: {}, and {seen}; the read invoked at {}, and every \
                     read invoked after it, lacked it",
                    r.element,
                    known_ref(r.known),
                    read_ref(r.last_absent).unwrap_or_default(),
                ),
                detail: element_detail(h, reads, r),
            },
        );
    }
    if opts.linearizable {
        for r in stale.iter().take(MAX_LISTED) {
            result.add_anomaly(
                "stale",
                Anomaly {
                    explanation: format!(
                        "element {} was read stale: {}, but the read invoked at {}, after that, \
                         lacked it; under --linearizable every read that begins after an element \
                         is known must see it",
                        r.element,
                        known_ref(r.known),
                        read_ref(r.last_absent).unwrap_or_default(),
                    ),
                    detail: element_detail(h, reads, r),
                },
            );
        }
    }
    let mut dups: Vec<(Value, (usize, usize))> = duplicated.into_iter().collect();
    dups.sort_by(|a, b| report::cmp_values(&a.0, &b.0));
    for (v, (count, rank)) in dups.iter().take(MAX_LISTED) {
        result.add_anomaly(
            "duplicated",
            Anomaly {
                explanation: format!(
                    "read {} contains element {v} {count} times; a set holds an element once",
                    op_ref(reads[*rank].comp)
                ),
                detail: detail([
                    ("element", v.to_json()),
                    ("count", json!(count)),
                    ("op", op_json(reads[*rank].comp)),
                ]),
            },
        );
    }
    let mut unex: Vec<(Value, usize)> = unexpected.into_iter().collect();
    unex.sort_by(|a, b| report::cmp_values(&a.0, &b.0));
    for (v, rank) in unex.iter().take(MAX_LISTED) {
        result.add_anomaly(
            "unexpected",
            Anomaly {
                explanation: format!(
                    "read {} contains element {v}, but no add of {v} had been invoked when that \
                     read completed",
                    op_ref(reads[*rank].comp)
                ),
                detail: detail([("element", v.to_json()), ("op", op_json(reads[*rank].comp))]),
            },
        );
    }
    if result.valid != labrys_history::Validity::Invalid && stable.is_empty() {
        result = CheckResult {
            valid: labrys_history::Validity::Unknown,
            unknown_reason: Some(format!(
                "no element was ever stable: of {} attempted, {} were never read after they were \
                 known to be added (no ok read began after the add completed)",
                results.len(),
                never_read.len()
            )),
            ..result
        };
    }

    let values = |v: &[&ElementResult]| sorted(v.iter().map(|r| r.element.clone()));
    result.stat("attempt_count", results.len());
    result.stat("read_count", reads.len());
    result.stat("stable_count", stable.len());
    result.stat("lost_count", lost.len());
    result.stat("lost", element_set(&values(&lost)));
    result.stat("never_read_count", never_read.len());
    result.stat("never_read", element_set(&values(&never_read)));
    result.stat("stale_count", stale.len());
    result.stat("stale", element_set(&values(&stale)));
    result.stat(
        "worst_stale",
        J::Array(
            stale
                .iter()
                .take(8)
                .map(|r| J::Object(element_detail(h, reads, r)))
                .collect(),
        ),
    );
    result.stat("duplicated_count", dups.len());
    result.stat("unexpected_count", unex.len());
    result.stat("linearizable", opts.linearizable);
    if let Some(d) = distribution(results.iter().filter_map(|r| r.stable_latency).collect()) {
        result.stat("stable_latencies", d);
    }
    if let Some(d) = distribution(results.iter().filter_map(|r| r.lost_latency).collect()) {
        result.stat("lost_latencies", d);
    }
    result
}

fn element_detail(
    h: &History,
    reads: &[Read<'_>],
    r: &ElementResult,
) -> serde_json::Map<String, J> {
    let opt = |o: Option<J>| o.unwrap_or(J::Null);
    detail([
        ("element", r.element.to_json()),
        (
            "outcome",
            json!(match r.outcome {
                Outcome::Stable => "stable",
                Outcome::Lost => "lost",
                Outcome::NeverRead => "never-read",
            }),
        ),
        ("known", opt(r.known.map(|k| op_json(&h.ops[k])))),
        (
            "last_present",
            opt(r.last_present.map(|p| op_json(reads[p].inv))),
        ),
        (
            "last_absent",
            opt(r.last_absent.map(|a| op_json(reads[a].inv))),
        ),
        ("stable_latency_ms", json!(r.stable_latency)),
        ("lost_latency_ms", json!(r.lost_latency)),
    ])
}

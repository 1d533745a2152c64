//! Small random register histories for the brute-force oracle tests (`awdit.rs`, `sat.rs`,
//! `si.rs`: up to 7 transactions, 2–3 keys, 1–3 sessions, values unique per key), and the
//! helpers those tests share.

use super::common::{rn, rv, w};
use labrys_history::{History, Op, OpType, Value};
use labrys_txn::gen::Rng;

/// One generated transaction: process, outcome, micro-ops as (is_write, key, value or 0 for nil).
#[derive(Clone, Debug)]
pub struct G {
    pub process: i64,
    pub outcome: OpType,
    pub mops: Vec<(bool, i64, i64)>,
}

/// An `ok` transaction of `process`.
#[allow(dead_code)] // not every test that includes this file writes histories by hand
pub fn t(process: i64, mops: &[(bool, i64, i64)]) -> G {
    G {
        process,
        outcome: OpType::Ok,
        mops: mops.to_vec(),
    }
}

/// The whole rw-register check of `h` at `model`.
#[allow(dead_code)] // not every test that includes this file checks at one model
pub fn check_at(h: &History, model: &str) -> labrys_history::CheckResult {
    let opts = labrys_history::CheckOptions {
        consistency_models: vec![model.into()],
        ..Default::default()
    };
    labrys_txn::check("rw-register", h, &opts).unwrap()
}

/// 1–4 random micro-ops over `keys` keys: reads, or writes of the next unique value.
pub fn random_mops(rng: &mut Rng, keys: i64, next_val: &mut i64) -> Vec<(bool, i64, i64)> {
    let m = 1 + rng.below(4) as usize;
    (0..m)
        .map(|_| {
            let k = rng.below(keys as u64) as i64;
            if rng.below(2) == 0 {
                *next_val += 1;
                (true, k, *next_val)
            } else {
                (false, k, 0)
            }
        })
        .collect()
}

/// What the whole check must answer for `ts` when the oracle says `holds`: unknown when no
/// transaction completed ok (nothing to check).
#[allow(dead_code)] // not every test that includes this file runs the whole check
pub fn expected(ts: &[G], holds: bool) -> labrys_history::Validity {
    use labrys_history::Validity;
    if ts.iter().all(|t| t.outcome != OpType::Ok) {
        Validity::Unknown
    } else if holds {
        Validity::Valid
    } else {
        Validity::Invalid
    }
}

pub fn random_history(seed: u64) -> Vec<G> {
    let mut rng = Rng::new(seed);
    let n = 3 + rng.below(5) as usize; // 3..=7
    let keys = 2 + rng.below(2) as i64;
    let sessions = 1 + rng.below(3) as i64;
    let mut next_val = 1;
    let mut ts: Vec<G> = (0..n)
        .map(|_| {
            let outcome = if rng.below(10) == 0 {
                OpType::Fail
            } else {
                OpType::Ok
            };
            let mops = random_mops(&mut rng, keys, &mut next_val);
            G {
                process: rng.below(sessions as u64) as i64,
                outcome,
                mops,
            }
        })
        .collect();
    // Final writes of ok transactions, per key: the values a read may return.
    let finals = |ts: &[G], k: i64| -> Vec<(usize, i64)> {
        ts.iter()
            .enumerate()
            .filter(|(_, t)| t.outcome == OpType::Ok)
            .filter_map(|(i, t)| {
                t.mops
                    .iter()
                    .rev()
                    .find(|m| m.0 && m.1 == k)
                    .map(|m| (i, m.2))
            })
            .collect()
    };
    for i in 0..n {
        for j in 0..ts[i].mops.len() {
            let (is_w, k, _) = ts[i].mops[j];
            if is_w {
                continue;
            }
            let own = ts[i].mops[..j].iter().rev().find(|m| m.0 && m.1 == k);
            let v = match own {
                Some(m) => m.2,
                None => {
                    let others: Vec<(usize, i64)> =
                        finals(&ts, k).into_iter().filter(|e| e.0 != i).collect();
                    let earlier: Vec<&(usize, i64)> = others.iter().filter(|e| e.0 < i).collect();
                    match rng.below(4) {
                        // The latest earlier write: histories that often hold.
                        0 | 1 if !earlier.is_empty() => earlier[earlier.len() - 1].1,
                        _ => {
                            let c = rng.below(others.len() as u64 + 1) as usize;
                            if c == others.len() {
                                0
                            } else {
                                others[c].1
                            }
                        }
                    }
                }
            };
            ts[i].mops[j].2 = v;
        }
    }
    ts
}

pub fn to_history(ts: &[G]) -> History {
    let mut ops = Vec::new();
    for t in ts {
        let mops: Vec<Value> = t
            .mops
            .iter()
            .map(|&(is_w, k, v)| {
                if is_w {
                    w(k, v)
                } else if v == 0 {
                    rn(k)
                } else {
                    rv(k, v)
                }
            })
            .collect();
        let invoke: Vec<Value> = t
            .mops
            .iter()
            .map(|&(is_w, k, v)| if is_w { w(k, v) } else { rn(k) })
            .collect();
        let i = ops.len() as u64;
        ops.push(Op::new(
            i,
            OpType::Invoke,
            t.process,
            "txn",
            Value::List(invoke.clone()),
        ));
        let done = if t.outcome == OpType::Ok {
            mops
        } else {
            invoke
        };
        ops.push(Op::new(
            i + 1,
            t.outcome,
            t.process,
            "txn",
            Value::List(done),
        ));
    }
    History::from_ops(ops, "random").unwrap()
}

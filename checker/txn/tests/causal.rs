//! Histories of the causal-store generator (`gen::generate_causal`):
//! - an independent, brute-force causal-consistency check (Biswas and Enea's saturation for
//!   causal convergence) accepts every one, so the generator really is causal;
//! - labrys never rules out causal (nor anything it implies) on them, rules out serializable
//!   on the bigger ones, and answers every model;
//! - with some reads made stale, labrys's causal saturation (`awdit`) and the brute-force check
//!   agree on every history, a few hundred transactions each.

use labrys_history::{CheckOptions, Deadline, History, Op, OpType, Validity, Value};
use labrys_txn::awdit::{Level, Prepared};
use labrys_txn::gen::{generate_causal, CausalConfig, Rng};
use labrys_txn::txn::{Kind, Txns};
use std::collections::HashMap;
use std::time::Duration;

/// One committed transaction: its reads (key, value or None for the initial state) as seen
/// from outside, and its final writes.
struct T {
    session: i64,
    reads: Vec<(i64, Option<i64>)>,
    writes: Vec<(i64, i64)>,
}

fn committed(h: &History) -> Vec<T> {
    let mut out = Vec::new();
    for op in h.ops.iter().filter(|o| o.kind == OpType::Ok) {
        let mut t = T {
            session: match op.process {
                labrys_history::Process::Client(p) => p,
                _ => panic!("client ops only"),
            },
            reads: Vec::new(),
            writes: Vec::new(),
        };
        let mut own: HashMap<i64, i64> = HashMap::new();
        for m in op.value.as_seq().unwrap() {
            let m = m.as_seq().unwrap();
            let k = m[1].as_i64().unwrap();
            let v = m[2].as_i64();
            match m[0].as_name().unwrap() {
                "r" => match own.get(&k) {
                    // Internal read: must see the transaction's own write.
                    Some(&w) => assert_eq!(v, Some(w), "internal read"),
                    None => t.reads.push((k, v)),
                },
                "w" => {
                    own.insert(k, v.unwrap());
                }
                f => panic!("unexpected {f}"),
            }
        }
        let mut ws: Vec<(i64, i64)> = own.into_iter().collect();
        ws.sort_unstable();
        t.writes = ws;
        out.push(t);
    }
    out
}

/// Causal convergence (every read explained by one arbitration order extending causality,
/// causality being session order and write-read, transitively): `Err` names the problem.
fn check_causal(ts: &[T]) -> Result<(), String> {
    let n = ts.len();
    let mut writer: HashMap<(i64, i64), usize> = HashMap::new();
    let mut writers_of: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, t) in ts.iter().enumerate() {
        for &(k, v) in &t.writes {
            assert!(writer.insert((k, v), i).is_none(), "values are unique");
            writers_of.entry(k).or_default().push(i);
        }
    }
    // co = (so ∪ wr): edges i -> j.
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut last: HashMap<i64, usize> = HashMap::new();
    let mut read_from: Vec<Vec<(i64, Option<usize>)>> = vec![Vec::new(); n];
    for (j, t) in ts.iter().enumerate() {
        if let Some(&i) = last.get(&t.session) {
            succ[i].push(j);
        }
        last.insert(t.session, j);
        for &(k, v) in &t.reads {
            match v {
                None => read_from[j].push((k, None)),
                Some(v) => {
                    let Some(&i) = writer.get(&(k, v)) else {
                        return Err(format!("T{j} read {k}={v}, which no committed txn wrote"));
                    };
                    succ[i].push(j);
                    read_from[j].push((k, Some(i)));
                }
            }
        }
    }
    // Reachability in co (bitsets), in reverse topological order; a co cycle is a violation.
    let order = topo(&succ).ok_or("session order and write-read form a cycle")?;
    let words = n.div_ceil(64);
    let mut reach = vec![0u64; n * words];
    for &i in order.iter().rev() {
        for &j in &succ[i] {
            reach[i * words + j / 64] |= 1 << (j % 64);
            for w in 0..words {
                let x = reach[j * words + w];
                reach[i * words + w] |= x;
            }
        }
    }
    let before = |a: usize, b: usize| reach[a * words + b / 64] >> (b % 64) & 1 == 1;
    // Saturate: if t3 reads k from t1 and t2 also writes k with t2 co-before t3, then t2 is
    // arbitrated before t1; a read of the initial state must not follow any writer of k.
    let mut arb = succ.clone();
    for (t3, reads) in read_from.iter().enumerate() {
        for &(k, from) in reads {
            for &t2 in writers_of.get(&k).map(Vec::as_slice).unwrap_or(&[]) {
                if Some(t2) == from || t2 == t3 || !before(t2, t3) {
                    continue;
                }
                match from {
                    None => return Err(format!("T{t3} read {k} = nil after T{t2} wrote it")),
                    Some(t1) => arb[t2].push(t1),
                }
            }
        }
    }
    topo(&arb)
        .map(|_| ())
        .ok_or_else(|| "no arbitration order explains the reads".into())
}

fn topo(succ: &[Vec<usize>]) -> Option<Vec<usize>> {
    let n = succ.len();
    let mut indeg = vec![0usize; n];
    for s in succ {
        for &j in s {
            indeg[j] += 1;
        }
    }
    let mut q: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(i) = q.pop() {
        out.push(i);
        for &j in &succ[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                q.push(j);
            }
        }
    }
    (out.len() == n).then_some(out)
}

const CAUSAL_AND_BELOW: [&str; 4] = [
    "causal-cerone",
    "read-atomic",
    "read-committed",
    "read-uncommitted",
];

fn check(h: &History, model: &str, deadline: Option<Duration>) -> labrys_history::CheckResult {
    let opts = CheckOptions {
        consistency_models: vec![model.into()],
        deadline: deadline.map_or_else(Deadline::none, Deadline::after),
        ..CheckOptions::default()
    };
    labrys_txn::check("rw-register", h, &opts).unwrap()
}

#[test]
fn the_generator_is_causal_by_an_independent_check() {
    for seed in 0..40 {
        let h = generate_causal(&CausalConfig::small(seed));
        check_causal(&committed(&h)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    for seed in 0..3 {
        let h = generate_causal(&CausalConfig::awdit_like(3_000, seed));
        check_causal(&committed(&h)).unwrap_or_else(|e| panic!("awdit-like seed {seed}: {e}"));
    }
}

#[test]
fn the_brute_force_check_rejects_a_non_causal_history() {
    // T0 writes x=1; T1 (session 1) reads x=1 then writes y=2; T2 reads y=2 but x = nil.
    let ts = vec![
        T {
            session: 0,
            reads: vec![],
            writes: vec![(0, 1)],
        },
        T {
            session: 1,
            reads: vec![(0, Some(1))],
            writes: vec![(1, 2)],
        },
        T {
            session: 2,
            reads: vec![(1, Some(2)), (0, None)],
            writes: vec![],
        },
    ];
    assert!(check_causal(&ts).is_err());
}

#[test]
fn labrys_never_rules_out_causal_on_causal_histories() {
    for seed in 0..40 {
        let h = generate_causal(&CausalConfig::small(seed));
        for m in ["causal-cerone", "serializable", "strict-serializable"] {
            let r = check(&h, m, None);
            for weak in CAUSAL_AND_BELOW {
                assert!(
                    !r.not.iter().any(|x| x == weak),
                    "seed {seed} {m}: {weak} ruled out"
                );
            }
            if m == "causal-cerone" {
                assert_eq!(r.valid, Validity::Valid, "seed {seed}");
            }
        }
    }
}

#[test]
fn a_causal_history_is_not_serializable_and_every_model_answers() {
    let h = generate_causal(&CausalConfig::awdit_like(20_000, 7));
    for m in [
        "read-committed",
        "read-atomic",
        "causal-cerone",
        "snapshot-isolation",
        "strong-session-snapshot-isolation",
        "serializable",
        "strict-serializable",
    ] {
        let r = check(&h, m, Some(Duration::from_secs(60)));
        for weak in CAUSAL_AND_BELOW {
            assert!(!r.not.iter().any(|x| x == weak), "{m}: {weak} ruled out");
        }
        if CAUSAL_AND_BELOW.contains(&m) {
            assert_eq!(r.valid, Validity::Valid, "{m}");
        }
        if m.ends_with("serializable") {
            assert_eq!(r.valid, Validity::Invalid, "{m}");
            assert!(r.not.iter().any(|x| x == "serializable"), "{m}");
        }
    }
}

#[test]
fn a_passed_deadline_is_unknown_never_valid() {
    let h = generate_causal(&CausalConfig::awdit_like(5_000, 3));
    let r = check(&h, "causal-cerone", Some(Duration::ZERO));
    assert_eq!(r.valid, Validity::Unknown, "{:?}", r.unknown_reason);
    let r = check(
        &h,
        "strong-session-snapshot-isolation",
        Some(Duration::ZERO),
    );
    assert_ne!(r.valid, Validity::Valid);
    for weak in CAUSAL_AND_BELOW {
        assert!(!r.not.iter().any(|x| x == weak), "{weak} ruled out");
    }
}

/// Makes about `per_mille` of the external reads of ok transactions stale: nil, or another
/// committed transaction's final write of the key (values stay unique, nothing is invented).
fn stale(h: &History, seed: u64, per_mille: u64) -> History {
    let mut rng = Rng::new(seed);
    let mut finals: HashMap<i64, Vec<(usize, i64)>> = HashMap::new();
    for (i, op) in h
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OpType::Ok)
    {
        let mut own: HashMap<i64, i64> = HashMap::new();
        for m in op.value.as_seq().unwrap() {
            let m = m.as_seq().unwrap();
            if m[0].as_name() == Some("w") {
                own.insert(m[1].as_i64().unwrap(), m[2].as_i64().unwrap());
            }
        }
        for (k, v) in own {
            finals.entry(k).or_default().push((i, v));
        }
    }
    let mut ops: Vec<Op> = h.ops.clone();
    for (i, op) in ops.iter_mut().enumerate() {
        if op.kind != OpType::Ok {
            continue;
        }
        let Value::List(mops) = &mut op.value else {
            continue;
        };
        let mut written: Vec<i64> = Vec::new();
        for m in mops.iter_mut() {
            let Value::List(parts) = m else { continue };
            let k = parts[1].as_i64().unwrap();
            if parts[0].as_name() == Some("w") {
                written.push(k);
                continue;
            }
            if written.contains(&k) || rng.below(1000) >= per_mille {
                continue;
            }
            let others: Vec<i64> = finals
                .get(&k)
                .map(|f| f.iter().filter(|e| e.0 != i).map(|e| e.1).collect())
                .unwrap_or_default();
            let c = rng.below(others.len() as u64 + 1) as usize;
            parts[2] = others.get(c).map_or(Value::Nil, |&v| Value::Int(v));
        }
    }
    History::from_ops(ops, "stale").unwrap()
}

#[test]
fn the_causal_saturation_agrees_with_the_brute_force_check_on_stale_histories() {
    let (mut agree_invalid, mut agree_valid) = (0, 0);
    for seed in 0..200 {
        let cfg = CausalConfig {
            txns: 40 + (seed as usize % 5) * 40,
            ..CausalConfig::small(seed)
        };
        let h = stale(
            &generate_causal(&cfg),
            seed,
            [0, 5, 20, 60][seed as usize % 4],
        );
        let brute = check_causal(&committed(&h));
        let txns = Txns::from_history(&h, Kind::RwRegister).unwrap();
        let ours = Prepared::new(&txns).check_level(Level::Causal, true);
        assert_eq!(
            ours.violated(),
            brute.is_err(),
            "seed {seed}: saturation says violated={}, brute force {brute:?}",
            ours.violated()
        );
        if brute.is_err() {
            agree_invalid += 1;
        } else {
            agree_valid += 1;
        }
    }
    eprintln!("stale causal histories: {agree_invalid} invalid, {agree_valid} valid, all agreed");
    assert!(agree_invalid > 20 && agree_valid > 20);
}

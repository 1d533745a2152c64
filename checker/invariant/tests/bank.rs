//! Bank: histories from a correct in-memory bank are valid; planted wrong totals, negative
//! balances, unexpected and missing accounts are found, in code and through EDN and JSON text.

mod common;

use common::*;
use labrys_history::{read_str, CheckOptions, Format, OpType, Validity, Value};
use proptest::prelude::*;

struct Bank {
    balances: Vec<i64>,
    allow_negative: bool,
}

fn account_map(b: &[i64]) -> Value {
    Value::Map(
        b.iter()
            .enumerate()
            .map(|(i, v)| (int(i as i64), int(*v)))
            .collect(),
    )
}

impl Model for Bank {
    fn next_op(&mut self, rng: &mut SimRng) -> (String, Value) {
        if rng.chance(40) {
            return ("read".into(), Value::Nil);
        }
        let n = self.balances.len() as u64;
        let from = rng.below(n) as i64;
        let to = ((from as u64 + 1 + rng.below(n - 1)) % n) as i64;
        let amount = 1 + rng.below(5) as i64;
        let v = Value::Map(vec![
            (Value::kw("from"), int(from)),
            (Value::kw("to"), int(to)),
            (Value::kw("amount"), int(amount)),
        ]);
        ("transfer".into(), v)
    }

    fn apply(&mut self, f: &str, value: &Value, _rng: &mut SimRng) -> Applied {
        if f == "read" {
            return Applied::Ok(account_map(&self.balances));
        }
        let get = |k: &str| value.get(k).and_then(Value::as_i64).unwrap() as usize;
        let (from, to, amount) = (get("from"), get("to"), get("amount") as i64);
        if !self.allow_negative && self.balances[from] < amount {
            return Applied::Fail;
        }
        self.balances[from] -= amount;
        self.balances[to] += amount;
        Applied::Ok(value.clone())
    }
}

fn generate(seed: u64, accounts: usize, allow_negative: bool) -> labrys_history::History {
    let mut balances = vec![0; accounts];
    balances[0] = 50;
    balances[accounts - 1] = 50;
    let mut bank = Bank {
        balances,
        allow_negative,
    };
    let mut sim = Sim::new(seed);
    let next = sim.run(&mut bank, 5, 400, 5);
    sim.solo(&mut bank, next, "read", Value::Nil);
    sim.history()
}

/// Positions of ok reads.
fn ok_reads(h: &labrys_history::History) -> Vec<usize> {
    h.ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OpType::Ok && &*o.f == "read")
        .map(|(i, _)| i)
        .collect()
}

fn check(h: &labrys_history::History, opts: &CheckOptions) -> labrys_history::CheckResult {
    labrys_invariant::check("bank", h, opts).expect("bank histories check")
}

fn edit_balance(
    h: &labrys_history::History,
    pos: usize,
    f: impl Fn(&mut Vec<(Value, Value)>),
) -> labrys_history::History {
    let mut ops = h.ops.clone();
    if let Value::Map(m) = &mut ops[pos].value {
        f(m);
    }
    rebuild(ops)
}

#[test]
fn generated_bank_is_valid() {
    for seed in 0..20 {
        let h = generate(seed, 5, false);
        let r = check(&h, &CheckOptions::default());
        assert_eq!(r.valid, Validity::Valid, "seed {seed}: {:?}", r.anomalies);
        assert_eq!(r.stats["total"], 100);
    }
}

#[test]
fn wrong_total_is_reported_with_how_far_off() {
    let h = generate(7, 5, false);
    let reads = ok_reads(&h);
    let pos = reads[reads.len() / 2];
    let h2 = edit_balance(&h, pos, |m| {
        if let Value::Int(b) = &mut m[2].1 {
            *b += 3;
        }
    });
    let r = check(&h2, &CheckOptions::default());
    assert_eq!(r.valid, Validity::Invalid);
    let a = &r.anomalies["wrong-total"];
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].detail["total"], 103);
    assert_eq!(a[0].detail["off_by"], 3);
    assert!(
        a[0].explanation
            .contains("sums to 103 but the total is 100"),
        "{}",
        a[0].explanation
    );
}

#[test]
fn explicit_total_amount_overrides_the_first_read() {
    let h = generate(3, 4, false);
    let opts = CheckOptions {
        total_amount: Some(99),
        ..Default::default()
    };
    let r = check(&h, &opts);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(
        r.anomalies["wrong-total"].len(),
        ok_reads(&h).len().min(labrys_invariant::bank::MAX_LISTED)
    );
    assert_eq!(r.stats["error_count"], ok_reads(&h).len());
}

#[test]
fn negative_balances_are_invalid_unless_allowed() {
    let h = generate(11, 5, true);
    let has_negative = h.ops.iter().any(|o| {
        o.kind == OpType::Ok
            && &*o.f == "read"
            && o.value
                .as_map()
                .unwrap()
                .iter()
                .any(|(_, b)| b.as_i64().unwrap() < 0)
    });
    let strict = check(&h, &CheckOptions::default());
    let lenient = check(
        &h,
        &CheckOptions {
            allow_negative_balances: true,
            ..Default::default()
        },
    );
    assert_eq!(lenient.valid, Validity::Valid, "{:?}", lenient.anomalies);
    assert!(has_negative, "this seed overdraws an account");
    assert_eq!(strict.valid, Validity::Invalid);
    assert_eq!(strict.anomaly_types, vec!["negative-value"]);
}

#[test]
fn unexpected_missing_and_nil_accounts_are_reported() {
    let h = generate(5, 5, false);
    let reads = ok_reads(&h);
    let h2 = edit_balance(&h, reads[1], |m| m.push((int(99), int(0))));
    let r = check(&h2, &CheckOptions::default());
    assert_eq!(r.anomaly_types, vec!["unexpected-key"]);
    assert_eq!(
        r.anomalies["unexpected-key"][0].detail["unexpected"],
        serde_json::json!([99])
    );

    let h3 = edit_balance(&h, reads[2], |m| {
        let (_, b) = m.remove(3);
        let b = b.as_i64().unwrap();
        if let Value::Int(x) = &mut m[0].1 {
            *x += b; // keep the total right: only the account is missing
        }
    });
    let r = check(&h3, &CheckOptions::default());
    assert_eq!(r.anomaly_types, vec!["missing-key"]);

    let h4 = edit_balance(&h, reads[3], |m| m[1].1 = Value::Nil);
    let r = check(&h4, &CheckOptions::default());
    assert!(
        r.anomaly_types.contains(&"nil-balance".to_string()),
        "{:?}",
        r.anomaly_types
    );
}

#[test]
fn no_reads_is_vacuously_valid_with_a_warning() {
    let h = hist(&[
        (OpType::Invoke, 0, "transfer", Value::Nil),
        (OpType::Fail, 0, "transfer", Value::Nil),
    ]);
    let r = check(&h, &CheckOptions::default());
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!(r.warnings[0].kind, "no-reads");
}

#[test]
fn a_read_that_is_not_a_map_is_an_error_naming_the_line() {
    let text =
        "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value [1 2]}\n";
    let h = read_str(text, "bad.edn", Format::Edn).unwrap();
    let err = labrys_invariant::check("bank", &h, &CheckOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("bad.edn:2:"), "{msg}");
    assert!(msg.contains("map of account to balance"), "{msg}");
}

#[test]
fn edn_and_json_forms_give_the_same_verdicts() {
    let h = generate(21, 6, false);
    let reads = ok_reads(&h);
    let bad = edit_balance(&h, reads[reads.len() - 2], |m| {
        if let Value::Int(b) = &mut m[0].1 {
            *b -= 7;
        }
    });
    for (hist, want) in [(&h, Validity::Valid), (&bad, Validity::Invalid)] {
        let edn = read_str(&to_edn(hist), "g.edn", Format::Auto).unwrap();
        let json = read_str(&to_json(hist), "g.json", Format::Auto).unwrap();
        for parsed in [edn, json] {
            let r = check(&parsed, &CheckOptions::default());
            assert_eq!(r.valid, want, "{}", parsed.source);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_correct_bank_is_valid_and_any_skew_is_caught(seed in any::<u64>(), accounts in 2usize..8, delta in prop_oneof![-20i64..-1, 1i64..20], which in any::<prop::sample::Index>()) {
        let h = generate(seed, accounts, false);
        prop_assert_eq!(check(&h, &CheckOptions::default()).valid, Validity::Valid);
        let reads = ok_reads(&h);
        let pos = reads[which.index(reads.len())];
        let acct = (seed as usize) % accounts;
        let skewed = edit_balance(&h, pos, |m| if let Value::Int(b) = &mut m[acct].1 { *b += delta });
        let r = check(&skewed, &CheckOptions { allow_negative_balances: true, ..Default::default() });
        prop_assert_eq!(r.valid, Validity::Invalid);
        prop_assert!(r.anomalies.contains_key("wrong-total"));
    }
}

//! The cases of Jepsen's own checker tests (`jepsen/test/jepsen/checker_test.clj`), as facts:
//! the same small histories must get the same verdicts, counts, element sets and latencies.
//! Op `i` happens at `i` ms, as in Jepsen's test helper.

mod common;

use common::{hist, int};
use labrys_history::{CheckOptions, CheckResult, History, OpType, Validity, Value};
use serde_json::json;

type Row = (OpType, i64, &'static str, Value);

fn inv(p: i64, f: &'static str, v: Value) -> Row {
    (OpType::Invoke, p, f, v)
}
fn ok(p: i64, f: &'static str, v: Value) -> Row {
    (OpType::Ok, p, f, v)
}
fn fail(p: i64, f: &'static str, v: Value) -> Row {
    (OpType::Fail, p, f, v)
}
fn info(p: i64, f: &'static str, v: Value) -> Row {
    (OpType::Info, p, f, v)
}
fn set(v: &[i64]) -> Value {
    Value::Set(v.iter().map(|i| int(*i)).collect())
}
fn kw(s: &str) -> Value {
    Value::kw(s)
}

fn run(workload: &str, rows: &[Row]) -> CheckResult {
    let h: History = hist(rows);
    labrys_invariant::check(workload, &h, &CheckOptions::default()).expect("checks")
}

#[test]
fn set_checker_case() {
    let r = run(
        "set",
        &[
            inv(0, "add", int(0)),
            ok(0, "add", int(0)),
            inv(0, "add", int(1)),
            ok(0, "add", int(1)),
            inv(1, "add", int(10)),
            info(1, "add", int(10)),
            inv(11, "add", int(11)),
            info(11, "add", int(11)),
            inv(2, "add", int(20)),
            fail(2, "add", int(20)),
            inv(2, "add", int(21)),
            fail(2, "add", int(21)),
            inv(4, "read", Value::Nil),
            ok(4, "read", set(&[0, 10, 20, 30])),
        ],
    );
    assert_eq!(r.valid, Validity::Invalid);
    let s = &r.stats;
    assert_eq!(
        (
            &s["ok_count"],
            &s["lost_count"],
            &s["acknowledged_count"],
            &s["recovered_count"]
        ),
        (&json!(3), &json!(1), &json!(2), &json!(2))
    );
    assert_eq!(
        (&s["attempt_count"], &s["unexpected_count"]),
        (&json!(6), &json!(1))
    );
    assert_eq!(
        (&s["ok"], &s["lost"], &s["recovered"], &s["unexpected"]),
        (
            &json!("0 10 20"),
            &json!("1"),
            &json!("10 20"),
            &json!("30")
        )
    );
}

#[test]
fn total_queue_cases() {
    let empty = run("total-queue", &[]);
    assert_eq!(empty.valid, Validity::Valid);

    let sane = run(
        "total-queue",
        &[
            inv(1, "enqueue", int(1)),
            inv(2, "enqueue", int(2)),
            ok(2, "enqueue", int(2)),
            inv(3, "dequeue", int(1)),
            ok(3, "dequeue", int(1)),
            inv(3, "dequeue", int(2)),
            ok(3, "dequeue", int(2)),
        ],
    );
    assert_eq!(sane.valid, Validity::Valid);
    let s = &sane.stats;
    assert_eq!(
        (
            &s["recovered_count"],
            &s["attempt_count"],
            &s["acknowledged_count"],
            &s["ok_count"]
        ),
        (&json!(1), &json!(2), &json!(1), &json!(2))
    );

    let bad = run(
        "total-queue",
        &[
            inv(1, "enqueue", kw("hung")),
            inv(2, "enqueue", kw("enqueued")),
            ok(2, "enqueue", kw("enqueued")),
            inv(3, "enqueue", kw("dup")),
            ok(3, "enqueue", kw("dup")),
            inv(4, "dequeue", Value::Nil),
            inv(5, "dequeue", Value::Nil),
            ok(5, "dequeue", kw("wtf")),
            inv(6, "dequeue", Value::Nil),
            ok(6, "dequeue", kw("dup")),
            inv(7, "dequeue", Value::Nil),
            ok(7, "dequeue", kw("dup")),
        ],
    );
    assert_eq!(bad.valid, Validity::Invalid);
    let s = &bad.stats;
    assert_eq!(
        (
            &s["lost"],
            &s["acknowledged_count"],
            &s["attempt_count"],
            &s["ok_count"]
        ),
        (&json!(":enqueued"), &json!(2), &json!(3), &json!(1))
    );
    assert_eq!(
        (
            &s["lost_count"],
            &s["unexpected_count"],
            &s["duplicated_count"],
            &s["recovered_count"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(0))
    );
    assert_eq!(
        bad.anomalies["unexpected"][0].detail["elements"]["examples"],
        json!(["wtf"])
    );
    assert_eq!(
        bad.anomalies["duplicated"][0].detail["elements"]["examples"],
        json!(["dup"])
    );
}

#[test]
fn unique_ids_cases() {
    let empty = run("unique-ids", &[]);
    assert_eq!(empty.valid, Validity::Valid);
    let r = run(
        "unique-ids",
        &[
            inv(0, "generate", Value::Nil),
            ok(0, "generate", int(0)),
            inv(1, "generate", Value::Nil),
            ok(1, "generate", int(1)),
            inv(2, "generate", Value::Nil),
            ok(2, "generate", int(0)),
            inv(3, "generate", Value::Nil),
            ok(3, "generate", int(0)),
            inv(4, "generate", Value::Nil),
            info(4, "generate", Value::Nil),
        ],
    );
    assert_eq!(r.valid, Validity::Invalid);
    let s = &r.stats;
    assert_eq!(
        (
            &s["attempted_count"],
            &s["acknowledged_count"],
            &s["duplicated_count"]
        ),
        (&json!(5), &json!(4), &json!(1))
    );
    assert_eq!(
        (&s["duplicated"], &s["range"]),
        (&json!({"0": 3}), &json!([0, 1]))
    );
}

/// Jepsen's counter errors as `[lower value upper]`.
fn counter_errors(rows: &[Row]) -> (Validity, Vec<[i64; 3]>) {
    let r = run("counter", rows);
    let errs = r
        .anomalies
        .get("out-of-bounds")
        .map(|v| {
            v.iter()
                .map(|a| ["lower", "value", "upper"].map(|k| a.detail[k].as_i64().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    (r.valid, errs)
}

#[test]
fn counter_cases() {
    let n = Value::Nil;
    assert_eq!(counter_errors(&[]).0, Validity::Valid);
    assert_eq!(
        counter_errors(&[inv(0, "read", n.clone()), ok(0, "read", int(0))]),
        (Validity::Valid, vec![])
    );
    assert_eq!(
        counter_errors(&[
            inv(0, "add", int(1)),
            fail(0, "add", int(1)),
            inv(0, "read", n.clone()),
            ok(0, "read", int(0))
        ]),
        (Validity::Valid, vec![])
    );
    assert_eq!(
        counter_errors(&[
            inv(0, "add", int(1)),
            inv(1, "read", n.clone()),
            ok(1, "read", int(0)),
            inv(1, "read", n.clone()),
            ok(1, "read", int(1)),
        ]),
        (Validity::Valid, vec![])
    );
    assert_eq!(
        counter_errors(&[inv(0, "read", n.clone()), ok(0, "read", int(1))]),
        (Validity::Invalid, vec![[0, 1, 0]])
    );
    assert_eq!(
        counter_errors(&[
            inv(0, "read", n.clone()),
            inv(1, "add", int(1)),
            inv(2, "read", n.clone()),
            inv(3, "add", int(2)),
            inv(4, "read", n.clone()),
            inv(5, "add", int(4)),
            inv(6, "read", n.clone()),
            inv(7, "add", int(8)),
            inv(8, "read", n.clone()),
            ok(0, "read", int(6)),
            ok(1, "add", int(1)),
            ok(2, "read", int(0)),
            ok(3, "add", int(2)),
            ok(4, "read", int(3)),
            ok(5, "add", int(4)),
            ok(6, "read", int(100)),
            ok(7, "add", int(8)),
            ok(8, "read", int(15)),
        ]),
        (Validity::Invalid, vec![[0, 100, 15]])
    );
    assert_eq!(
        counter_errors(&[
            inv(0, "read", n.clone()),
            inv(1, "add", int(1)),
            ok(0, "read", int(0)),
            inv(0, "read", n.clone()),
            ok(1, "add", int(1)),
            inv(1, "add", int(2)),
            ok(0, "read", int(3)),
            inv(0, "read", n.clone()),
            ok(1, "add", int(2)),
            ok(0, "read", int(5)),
        ]),
        (Validity::Invalid, vec![[1, 5, 3]])
    );
}

fn set_full(rows: &[Row]) -> CheckResult {
    run("set-full", rows)
}

/// (valid, stable, lost, never-read, stale) of a set-full result.
fn outcome(r: &CheckResult) -> (Validity, i64, i64, i64, i64) {
    let n = |k: &str| r.stats[k].as_i64().unwrap();
    (
        r.valid,
        n("stable_count"),
        n("lost_count"),
        n("never_read_count"),
        n("stale_count"),
    )
}

#[test]
fn set_full_single_element_cases() {
    use Validity::*;
    let a = inv(0, "add", int(0));
    let a_ = ok(0, "add", int(0));
    let r = inv(1, "read", Value::Nil);
    let rp = ok(1, "read", set(&[0]));
    let rm = ok(1, "read", set(&[]));

    assert_eq!(
        outcome(&set_full(&[a.clone(), a_.clone()])),
        (Unknown, 0, 0, 1, 0),
        "never read"
    );
    assert_eq!(
        outcome(&set_full(&[a.clone(), r.clone(), rm.clone()])),
        (Unknown, 0, 0, 1, 0),
        "never confirmed, never read"
    );
    for rows in [
        [r.clone(), a.clone(), rp.clone(), a_.clone()],
        [r.clone(), a.clone(), a_.clone(), rp.clone()],
        [a.clone(), r.clone(), rp.clone(), a_.clone()],
        [a.clone(), r.clone(), a_.clone(), rp.clone()],
        [a.clone(), a_.clone(), r.clone(), rp.clone()],
    ] {
        let res = set_full(&rows);
        assert_eq!(outcome(&res), (Valid, 1, 0, 0, 0), "present read");
        assert_eq!(
            res.stats["stable_latencies"],
            json!({"0": 0, "0.5": 0, "0.95": 0, "0.99": 0, "1": 0})
        );
    }
    let lost = set_full(&[a.clone(), a_.clone(), r.clone(), rm.clone()]);
    assert_eq!(outcome(&lost), (Invalid, 0, 1, 0, 0), "absent read after");
    assert_eq!(
        lost.stats["lost_latencies"],
        json!({"0": 0, "0.5": 0, "0.95": 0, "0.99": 0, "1": 0})
    );
    for rows in [
        [r.clone(), a.clone(), rm.clone(), a_.clone()],
        [r.clone(), a.clone(), a_.clone(), rm.clone()],
        [a.clone(), r.clone(), rm.clone(), a_.clone()],
        [a.clone(), r.clone(), a_.clone(), rm.clone()],
    ] {
        assert_eq!(
            outcome(&set_full(&rows)),
            (Unknown, 0, 0, 1, 0),
            "absent read concurrently"
        );
    }
}

#[test]
fn set_full_two_element_cases() {
    let a0 = inv(0, "add", int(0));
    let a0_ = ok(0, "add", int(0));
    let a1 = inv(1, "add", int(1));
    let a1_ = ok(1, "add", int(1));
    let r2 = inv(2, "read", Value::Nil);
    let r3 = inv(3, "read", Value::Nil);
    let r2e = ok(2, "read", set(&[]));
    let r2_0 = ok(2, "read", set(&[0]));
    let r2_1 = ok(2, "read", set(&[1]));
    let r3_1 = ok(3, "read", set(&[1]));
    let r2_01 = ok(2, "read", set(&[0, 1]));

    // Write, present, missing: both lost.
    let r = set_full(&[
        a0.clone(),
        a1.clone(),
        r2.clone(),
        r2_1.clone(),
        a0_.clone(),
        a1_,
        r2.clone(),
        r2_01,
        r2.clone(),
        r2_0.clone(),
        r2.clone(),
        r2e,
    ]);
    assert_eq!(outcome(&r), (Validity::Invalid, 0, 2, 0, 0));
    assert_eq!(r.stats["lost"]["examples"], json!([0, 1]));
    assert_eq!(
        r.stats["lost_latencies"],
        json!({"0": 3, "0.5": 4, "0.95": 4, "0.99": 4, "1": 4})
    );

    // Write, flutter: 0 lost, 1 stable but stale (known at 4 ms, missing at 6 ms).
    let r = set_full(&[
        a0,
        a0_,
        a1,
        r2.clone(),
        r2_1,
        ok(1, "add", int(1)),
        r2,
        r3,
        r3_1,
        r2_0,
    ]);
    assert_eq!(outcome(&r), (Validity::Invalid, 1, 1, 0, 1));
    assert_eq!(r.stats["lost"]["examples"], json!([0]));
    assert_eq!(r.stats["stale"]["examples"], json!([1]));
    assert_eq!(
        r.stats["lost_latencies"],
        json!({"0": 5, "0.5": 5, "0.95": 5, "0.99": 5, "1": 5})
    );
    assert_eq!(
        r.stats["stable_latencies"],
        json!({"0": 2, "0.5": 2, "0.95": 2, "0.99": 2, "1": 2})
    );
    let worst = &r.stats["worst_stale"][0];
    assert_eq!(
        (&worst["element"], &worst["stable_latency_ms"]),
        (&json!(1), &json!(2))
    );
    assert_eq!(
        (&worst["known"]["index"], &worst["last_absent"]["index"]),
        (&json!(4), &json!(6))
    );
}

#[test]
fn long_fork_case() {
    let mops = |vals: [(i64, Option<i64>); 3]| {
        Value::List(
            vals.iter()
                .map(|(k, v)| Value::List(vec![kw("r"), int(*k), v.map(int).unwrap_or(Value::Nil)]))
                .collect(),
        )
    };
    let h = hist(&[
        inv(0, "read", mops([(0, None), (1, None), (2, None)])),
        inv(1, "read", mops([(2, None), (0, None), (1, None)])),
        ok(0, "read", mops([(0, Some(1)), (1, Some(1)), (2, None)])),
        ok(1, "read", mops([(2, Some(1)), (0, Some(1)), (1, None)])),
    ]);
    let opts = CheckOptions {
        group_size: Some(3),
        ..Default::default()
    };
    let r = labrys_invariant::check("long-fork", &h, &opts).unwrap();
    assert_eq!(r.valid, Validity::Invalid);
    let s = &r.stats;
    assert_eq!(
        (
            &s["early_read_count"],
            &s["late_read_count"],
            &s["reads_count"],
            &s["fork_count"]
        ),
        (&json!(0), &json!(0), &json!(2), &json!(1))
    );
    let ops = &r.anomalies["long-fork"][0].detail["ops"];
    let mut idx: Vec<i64> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["index"].as_i64().unwrap())
        .collect();
    idx.sort();
    assert_eq!(idx, vec![2, 3], "the fork is the two ok reads");
}

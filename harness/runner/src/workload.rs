//! Client op schedules of the workloads `labrys test` runs.
//!
//! The register workload is Jepsen's independent cas-register: ops on many keys, each key a
//! separate linearizable register, so the checker decides many small histories instead of one
//! huge one. Ops are `read [k nil]`, `write [k v]` and `cas [k [old new]]` with `v`, `old`,
//! `new` drawn from 0..5 (small values make cas succeed often). A few keys are active at a
//! time; after about `ops_per_key` ops each, the test moves on to fresh keys. After the main
//! phase and the heal, one final read of every key shows where each register settled.
//!
//! The list-append workload is Elle's: transactions `txn [[append k v] [r k nil] ...]` of one
//! to four micro-ops over the active keys, every appended value unique, so that each read
//! list reveals the order of the appends it contains. Final reads are one `[r k nil]` txn per
//! key.
//!
//! The rw-register workload is Elle's other one: transactions of `[w k v]` and `[r k nil]`
//! micro-ops, every written value unique per key, checked for the isolation level the
//! database promises.
//!
//! The bank workload is Jepsen's: `transfer {from, to, amount}` between the accounts of
//! [`labrys_db::bank`] (all the money starts in the first), and `read` of every balance in one
//! snapshot; the checker wants every read to show the same total.
//!
//! The set workload adds distinct integers (`add v`) to one set; one final `read` shows
//! which adds survived.
//!
//! The counter workload is Jepsen's: `add n` (n from 1 to 5) to one counter and `read`s of
//! it throughout, each read checked against what must and what may have been added by then.
//!
//! The unique-ids workload is Jepsen's: `generate` asks for an id; no two acknowledged
//! generates may return the same one.
//!
//! The queue workload is Jepsen's total queue: `enqueue v` of values unique across the test
//! and `dequeue`s (an empty queue answers nil), then one `drain` takes everything left;
//! nothing acknowledged may be lost, nothing may come out twice or out of nowhere.

use labrys_gen::{from_fn, sequence, Generator, OpSpec};
use labrys_history::Value;
use rand::Rng as _;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// One workload, defined once for every database: its op schedule, its final reads, and
/// the checker its history goes to. A database says which workload names it runs
/// (`DbInfo::workloads`) and gives a client for each.
pub struct Workload {
    pub name: &'static str,
    /// What it checks, in a few words (for `--workload`'s help).
    pub about: &'static str,
    /// The checker registry's name for its histories.
    pub checker: &'static str,
    /// The endless main-phase schedule (`ops_per_key`, the keys used so far).
    pub main: fn(u64, UsedKeys) -> Box<dyn Generator>,
    /// The reads after the heal.
    pub finals: fn(&UsedKeys) -> Box<dyn Generator>,
    /// The money in the bank, for checkers that hold every read to it.
    pub total_amount: Option<i64>,
}

/// Every workload `labrys test` runs.
pub const WORKLOADS: &[Workload] = &[
    // Independent `[key value]` registers, checked per key as linearizable registers.
    Workload {
        name: "register",
        about: "linearizable per key",
        checker: "kv",
        main: register,
        finals: final_reads,
        total_amount: None,
    },
    // Elle's list-append transactions, checked for strict serializability by default.
    Workload {
        name: "list-append",
        about: "transactions, checked at the --isolation level's promise",
        checker: "list-append",
        main: list_append,
        finals: final_txn_reads,
        total_amount: None,
    },
    // Elle's read-write register transactions, checked at the database's isolation level.
    Workload {
        name: "rw-register",
        about: "transactions over registers, likewise",
        checker: "rw-register",
        main: rw_register,
        finals: final_txn_reads,
        total_amount: None,
    },
    // Jepsen's bank: transfers conserve the total every snapshot read shows.
    Workload {
        name: "bank",
        about: "totals conserved",
        checker: "bank",
        main: bank,
        finals: bank_reads,
        total_amount: Some(labrys_db::bank::TOTAL),
    },
    // Distinct adds to one set, and a final read: nothing acknowledged may be lost.
    Workload {
        name: "set",
        about: "no acknowledged add lost",
        checker: "set",
        main: set,
        finals: set_read,
        total_amount: None,
    },
    // Increments and reads of one counter: each read between the must- and may-have-added.
    Workload {
        name: "counter",
        about: "reads within what was added",
        checker: "counter",
        main: counter,
        finals: counter_reads,
        total_amount: None,
    },
    // Ids from a generator: no id handed out twice.
    Workload {
        name: "unique-ids",
        about: "no id handed out twice",
        checker: "unique-ids",
        main: unique_ids,
        finals: no_finals,
        total_amount: None,
    },
    // A queue: what is enqueued comes out, once (a final drain takes the rest).
    Workload {
        name: "queue",
        about: "what is enqueued comes out once",
        checker: "total-queue",
        main: queue,
        finals: drain,
        total_amount: None,
    },
];

/// `--workload`'s help: every workload and what it checks.
pub fn help() -> String {
    let each: Vec<String> = WORKLOADS
        .iter()
        .map(|w| format!("{} ({})", w.name, w.about))
        .collect();
    format!(
        "Workload: {}. Each database runs some of them: see --db",
        each.join(", ")
    )
}

/// The workload named `name`.
pub fn workload(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// Keys active at the same time.
pub const ACTIVE_KEYS: u64 = 4;

/// The keys a schedule has used so far (for the final reads).
#[derive(Clone, Default)]
pub struct UsedKeys(Arc<Mutex<BTreeSet<i64>>>);

impl UsedKeys {
    pub fn snapshot(&self) -> Vec<i64> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

fn tuple(k: i64, v: Value) -> Value {
    Value::List(vec![Value::Int(k), v])
}

/// The endless register schedule; wrap it in `time_limit`/`stagger`.
pub fn register(ops_per_key: u64, used: UsedKeys) -> Box<dyn Generator> {
    let window = ops_per_key.max(1) * ACTIVE_KEYS;
    let mut n: u64 = 0;
    from_fn(move |rng| {
        let k = ((n / window) * ACTIVE_KEYS + rng.random_range(0..ACTIVE_KEYS)) as i64;
        n += 1;
        used.0.lock().unwrap_or_else(|p| p.into_inner()).insert(k);
        let op = match rng.random_range(0..3) {
            0 => OpSpec::new("read", tuple(k, Value::Nil)),
            1 => OpSpec::new("write", tuple(k, Value::Int(rng.random_range(0..5)))),
            _ => {
                let ov = Value::List(vec![
                    Value::Int(rng.random_range(0..5)),
                    Value::Int(rng.random_range(0..5)),
                ]);
                OpSpec::new("cas", tuple(k, ov))
            }
        };
        Some(op)
    })
}

/// One read of every key used.
pub fn final_reads(used: &UsedKeys) -> Box<dyn Generator> {
    sequence(
        used.snapshot()
            .into_iter()
            .map(|k| OpSpec::new("read", tuple(k, Value::Nil))),
    )
}

fn mop(f: &str, k: i64, v: Value) -> Value {
    Value::List(vec![Value::str(f), Value::Int(k), v])
}

/// The endless list-append schedule: transactions of 1 to 4 micro-ops, half appends (of
/// values unique across the test), half reads.
pub fn list_append(ops_per_key: u64, used: UsedKeys) -> Box<dyn Generator> {
    transactions("append", ops_per_key, used)
}

/// The endless rw-register schedule: transactions of 1 to 4 micro-ops over the active keys,
/// half writes (of values unique across the test, so unique per key), half reads.
pub fn rw_register(ops_per_key: u64, used: UsedKeys) -> Box<dyn Generator> {
    transactions("w", ops_per_key, used)
}

/// Transactions of 1 to 4 micro-ops over the active keys: half `[write_f k v]` with `v`
/// unique across the test, half `[r k nil]`.
fn transactions(write_f: &'static str, ops_per_key: u64, used: UsedKeys) -> Box<dyn Generator> {
    let window = ops_per_key.max(1) * ACTIVE_KEYS;
    let mut n: u64 = 0;
    let mut next_value: i64 = 0;
    from_fn(move |rng| {
        let base = (n / window) * ACTIVE_KEYS;
        n += 1;
        let len = rng.random_range(1..=4);
        let mut mops = Vec::with_capacity(len);
        for _ in 0..len {
            let k = (base + rng.random_range(0..ACTIVE_KEYS)) as i64;
            used.0.lock().unwrap_or_else(|p| p.into_inner()).insert(k);
            if rng.random_bool(0.5) {
                next_value += 1;
                mops.push(mop(write_f, k, Value::Int(next_value)));
            } else {
                mops.push(mop("r", k, Value::Nil));
            }
        }
        Some(OpSpec::new("txn", Value::List(mops)))
    })
}

/// One read-only transaction per key used.
pub fn final_txn_reads(used: &UsedKeys) -> Box<dyn Generator> {
    sequence(
        used.snapshot()
            .into_iter()
            .map(|k| OpSpec::new("txn", Value::List(vec![mop("r", k, Value::Nil)]))),
    )
}

fn transfer(from: i64, to: i64, amount: i64) -> Value {
    Value::Map(vec![
        (Value::kw("from"), Value::Int(from)),
        (Value::kw("to"), Value::Int(to)),
        (Value::kw("amount"), Value::Int(amount)),
    ])
}

/// The endless bank schedule: half transfers of 1 to [`labrys_db::bank::MAX_TRANSFER`]
/// between two different accounts, half reads of every balance. Keys are not used.
pub fn bank(_ops_per_key: u64, _used: UsedKeys) -> Box<dyn Generator> {
    use labrys_db::bank::{ACCOUNTS, MAX_TRANSFER};
    from_fn(move |rng| {
        if rng.random_bool(0.5) {
            return Some(OpSpec::new("read", Value::Nil));
        }
        let from = rng.random_range(0..ACCOUNTS);
        let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
        let amount = rng.random_range(1..=MAX_TRANSFER);
        Some(OpSpec::new("transfer", transfer(from, to, amount)))
    })
}

/// After the heal, a few reads of every balance.
pub fn bank_reads(_used: &UsedKeys) -> Box<dyn Generator> {
    sequence((0..3).map(|_| OpSpec::new("read", Value::Nil)))
}

/// The endless set schedule: adds of 0, 1, 2, ... (each element once).
pub fn set(_ops_per_key: u64, _used: UsedKeys) -> Box<dyn Generator> {
    let mut next: i64 = 0;
    from_fn(move |_rng| {
        next += 1;
        Some(OpSpec::new("add", Value::Int(next - 1)))
    })
}

/// One read of the whole set.
pub fn set_read(_used: &UsedKeys) -> Box<dyn Generator> {
    sequence([OpSpec::new("read", Value::Nil)])
}

/// The endless counter schedule: three adds of 1 to 5 for every read.
pub fn counter(_ops_per_key: u64, _used: UsedKeys) -> Box<dyn Generator> {
    from_fn(move |rng| {
        Some(if rng.random_range(0..4) == 0 {
            OpSpec::new("read", Value::Nil)
        } else {
            OpSpec::new("add", Value::Int(rng.random_range(1..=5)))
        })
    })
}

/// After the heal, a few reads of the counter.
pub fn counter_reads(_used: &UsedKeys) -> Box<dyn Generator> {
    sequence((0..3).map(|_| OpSpec::new("read", Value::Nil)))
}

/// The endless unique-ids schedule: `generate`, over and over.
pub fn unique_ids(_ops_per_key: u64, _used: UsedKeys) -> Box<dyn Generator> {
    from_fn(move |_rng| Some(OpSpec::new("generate", Value::Nil)))
}

/// Nothing to read after the heal.
pub fn no_finals(_used: &UsedKeys) -> Box<dyn Generator> {
    sequence(std::iter::empty())
}

/// The endless queue schedule: half enqueues of 0, 1, 2, ... (each value once), half
/// dequeues.
pub fn queue(_ops_per_key: u64, _used: UsedKeys) -> Box<dyn Generator> {
    let mut next: i64 = 0;
    from_fn(move |rng| {
        Some(if rng.random_bool(0.5) {
            next += 1;
            OpSpec::new("enqueue", Value::Int(next - 1))
        } else {
            OpSpec::new("dequeue", Value::Nil)
        })
    })
}

/// After the heal, one drain of everything left in the queue.
pub fn drain(_used: &UsedKeys) -> Box<dyn Generator> {
    sequence([OpSpec::new("drain", Value::Nil)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_gen::{rng_for, Ctx, Pull};
    use std::collections::HashMap;

    #[test]
    fn keys_rotate_and_are_remembered() {
        let used = UsedKeys::default();
        let mut g = register(10, used.clone());
        let mut rng = rng_for(5, "client");
        let ctx = Ctx {
            now: tokio::time::Instant::now(),
            in_flight: 0,
        };
        let mut per_key: HashMap<i64, u64> = HashMap::new();
        for _ in 0..400 {
            let Pull::Op(op) = g.pull(&ctx, &mut rng) else {
                panic!("endless")
            };
            let k = op.value.as_seq().unwrap()[0].as_i64().unwrap();
            *per_key.entry(k).or_default() += 1;
            assert!(["read", "write", "cas"].contains(&&*op.f));
        }
        assert_eq!(
            per_key.len(),
            40,
            "400 ops at 10 per key over 4 active keys"
        );
        assert_eq!(per_key.values().sum::<u64>(), 400);
        assert_eq!(used.snapshot().len(), 40);
        let mut reads = final_reads(&used);
        let mut n = 0;
        while let Pull::Op(op) = reads.pull(&ctx, &mut rng) {
            assert_eq!(&*op.f, "read");
            n += 1;
        }
        assert_eq!(n, 40);
    }

    #[test]
    fn appends_are_unique_and_txns_small() {
        let used = UsedKeys::default();
        let mut g = list_append(5, used.clone());
        let mut rng = rng_for(9, "client");
        let ctx = Ctx {
            now: tokio::time::Instant::now(),
            in_flight: 0,
        };
        let mut appended = std::collections::HashSet::new();
        let mut reads = 0;
        for _ in 0..300 {
            let Pull::Op(op) = g.pull(&ctx, &mut rng) else {
                panic!("endless")
            };
            assert_eq!(&*op.f, "txn");
            let mops = op.value.as_seq().unwrap();
            assert!((1..=4).contains(&mops.len()));
            for m in mops {
                let m = m.as_seq().unwrap();
                match m[0].as_name().unwrap() {
                    "append" => assert!(appended.insert(m[2].clone()), "{m:?} appended twice"),
                    "r" => reads += 1,
                    other => panic!("{other}"),
                }
            }
        }
        assert!(reads > 100 && appended.len() > 100);
        let mut fin = final_txn_reads(&used);
        let mut n = 0;
        while let Pull::Op(op) = fin.pull(&ctx, &mut rng) {
            assert_eq!(op.value.as_seq().unwrap().len(), 1);
            n += 1;
        }
        assert_eq!(n, used.snapshot().len());
    }

    fn pull_n(g: &mut Box<dyn Generator>, n: usize) -> Vec<OpSpec> {
        let mut rng = rng_for(3, "client");
        let ctx = Ctx {
            now: tokio::time::Instant::now(),
            in_flight: 0,
        };
        (0..n)
            .map(|_| match g.pull(&ctx, &mut rng) {
                Pull::Op(op) => op,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn rw_register_writes_are_unique_per_key() {
        let used = UsedKeys::default();
        let ops = pull_n(&mut rw_register(5, used.clone()), 300);
        let mut written = std::collections::HashSet::new();
        let (mut w, mut r) = (0, 0);
        for op in &ops {
            for m in op.value.as_seq().unwrap() {
                let m = m.as_seq().unwrap();
                match m[0].as_name().unwrap() {
                    "w" => {
                        w += 1;
                        assert!(written.insert((m[1].clone(), m[2].clone())), "{m:?}");
                    }
                    "r" => {
                        r += 1;
                        assert!(m[2].is_nil());
                    }
                    other => panic!("{other}"),
                }
            }
        }
        assert!(w > 100 && r > 100, "{w} writes, {r} reads");
    }

    #[test]
    fn bank_transfers_move_money_between_two_accounts() {
        use labrys_db::bank::{ACCOUNTS, MAX_TRANSFER};
        let ops = pull_n(&mut bank(1, UsedKeys::default()), 400);
        let transfers: Vec<&OpSpec> = ops.iter().filter(|o| &*o.f == "transfer").collect();
        assert!(transfers.len() > 100 && transfers.len() < 300);
        for t in transfers {
            let m = t.value.as_map().unwrap();
            let get = |k: &str| {
                m.iter()
                    .find(|(key, _)| key.as_name() == Some(k))
                    .and_then(|(_, v)| v.as_i64())
                    .unwrap()
            };
            assert_ne!(get("from"), get("to"));
            assert!((0..ACCOUNTS).contains(&get("from")) && (0..ACCOUNTS).contains(&get("to")));
            assert!((1..=MAX_TRANSFER).contains(&get("amount")));
        }
    }

    #[test]
    fn set_adds_each_element_once() {
        let ops = pull_n(&mut set(1, UsedKeys::default()), 50);
        let vals: Vec<i64> = ops.iter().map(|o| o.value.as_i64().unwrap()).collect();
        assert_eq!(vals, (0..50).collect::<Vec<_>>());
        assert!(ops.iter().all(|o| &*o.f == "add"));
    }

    #[test]
    fn counter_adds_small_increments_and_reads() {
        let ops = pull_n(&mut counter(1, UsedKeys::default()), 400);
        let reads = ops.iter().filter(|o| &*o.f == "read").count();
        assert!((50..150).contains(&reads), "{reads} reads");
        for o in ops.iter().filter(|o| &*o.f == "add") {
            assert!((1..=5).contains(&o.value.as_i64().unwrap()), "{o:?}");
        }
    }

    #[test]
    fn queue_enqueues_each_value_once_and_ends_with_a_drain() {
        let ops = pull_n(&mut queue(1, UsedKeys::default()), 400);
        let enq: Vec<i64> = ops
            .iter()
            .filter(|o| &*o.f == "enqueue")
            .map(|o| o.value.as_i64().unwrap())
            .collect();
        assert_eq!(enq, (0..enq.len() as i64).collect::<Vec<_>>());
        assert!(enq.len() > 100 && enq.len() < 300);
        assert!(ops
            .iter()
            .all(|o| &*o.f == "enqueue" || (&*o.f == "dequeue" && o.value.is_nil())));
        let fin = pull_n(&mut drain(&UsedKeys::default()), 1);
        assert_eq!(&*fin[0].f, "drain");
    }

    #[test]
    fn unique_ids_only_generates() {
        let ops = pull_n(&mut unique_ids(1, UsedKeys::default()), 20);
        assert!(ops.iter().all(|o| &*o.f == "generate" && o.value.is_nil()));
        let mut rng = rng_for(3, "client");
        let ctx = Ctx {
            now: tokio::time::Instant::now(),
            in_flight: 0,
        };
        assert!(matches!(
            no_finals(&UsedKeys::default()).pull(&ctx, &mut rng),
            Pull::Done
        ));
    }

    #[test]
    fn every_workload_has_a_checker() {
        for w in WORKLOADS {
            assert!(
                labrys_check::WORKLOADS.contains(&w.checker),
                "{} has no checker {}",
                w.name,
                w.checker
            );
        }
    }
}

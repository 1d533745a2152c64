//! Benchmark driver for `bench/lin/run.sh`: one case per process, so peak memory is per case.
//!
//! Cases: `etcd DIR` (every `etcd_*.log`, summed), `cas OPS CLIENTS valid|invalid [search]`
//! (generated cas-register histories, unique values, initial 0, crashed clients; `search`
//! turns off the fast check for values written once), `kv KEYS
//! OPS_PER_KEY` (Jepsen independent tuples). Prints one line: case, verdict, seconds, peak MiB.

use labrys_history::{read_file, CheckOptions, Format, History, Op, OpType, Validity, Value};
use labrys_lin::models::register::Register;
use labrys_lin::sim::{history, plant_stale_read, Object, Sim};
use labrys_lin::{check_ops_with, report, Strategy};
use std::time::Instant;

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn opts_initial0() -> CheckOptions {
    CheckOptions {
        initial: Some(Value::Int(0)),
        progress: true,
        ..CheckOptions::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "etcd" => {
            let mut files: Vec<_> = std::fs::read_dir(arg(1))
                .expect("etcd dir")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("etcd_"))
                })
                .collect();
            files.sort();
            let (mut parse, mut check, mut bad, mut checked) = (0.0, 0.0, 0, 0);
            let mut verdict_only = 0.0;
            for f in &files {
                let t = Instant::now();
                // etcd_095 is empty (its cluster never started): no verdict to time.
                let Ok(h) = read_file(f, Format::Auto) else {
                    continue;
                };
                checked += 1;
                parse += t.elapsed().as_secs_f64();
                let t = Instant::now();
                let r = labrys_lin::check("cas-register", &h, &CheckOptions::default())
                    .expect("checks");
                check += t.elapsed().as_secs_f64();
                bad += usize::from(r.valid == Validity::Invalid);
                // The verdict alone, as Porcupine's check gives it: no counterexample shrinking.
                let t = Instant::now();
                let (m, ops) = Register::from_history(&h, &Value::Nil).expect("reads");
                let plain = Strategy {
                    shrink: false,
                    ..Strategy::default()
                };
                let o = check_ops_with(&m, &ops, &CheckOptions::default(), plain);
                verdict_only += t.elapsed().as_secs_f64();
                assert_eq!(
                    o.verdict == labrys_lin::Verdict::NotLinearizable,
                    r.valid == Validity::Invalid
                );
            }
            println!(
                "etcd: {checked} histories, {bad} invalid; check with counterexamples {check:.3} s, verdicts only {verdict_only:.3} s, parse {parse:.3} s, peak {:.0} MiB",
                peak_mib()
            );
        }
        "cas" => {
            let n: usize = arg(1).parse().expect("ops");
            let clients: usize = arg(2).parse().expect("clients");
            let invalid = arg(3) == "invalid";
            // LIN_BENCH_DOMAIN=D: values drawn from 0..D (they repeat, as in etcd's tests).
            let domain: i64 = std::env::var("LIN_BENCH_DOMAIN")
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            let sim = Sim {
                processes: clients,
                ops: n,
                crash: 1,
                fail: 2,
                domain,
                ..Sim::new(Object::CasRegister)
            };
            let mut ops = sim.run(42);
            if invalid {
                let mid = ops.len() / 2;
                plant_stale_read(&mut ops, mid).expect("a read to make stale");
            }
            let h = history(ops);
            let infos = h.calls().filter(|c| c.outcome() == OpType::Info).count();
            let t = Instant::now();
            // `search`: the search alone, without the fast check for values written once.
            let (r, how) = if arg(4) == "search" {
                let (m, ops) = Register::from_history(&h, &Value::Int(0)).expect("reads");
                let o = check_ops_with(
                    &m,
                    &ops,
                    &opts_initial0(),
                    Strategy {
                        fast: false,
                        ..Strategy::default()
                    },
                );
                (report::to_result(&m, &ops, &h, &o), "search only")
            } else {
                let r = labrys_lin::check("cas-register", &h, &opts_initial0()).expect("checks");
                (r, "default")
            };
            let values = if domain > 0 {
                format!(" values 0..{domain}")
            } else {
                String::new()
            };
            println!(
                "cas {n} ops {clients} clients ({infos} crashed){values} {} [{how}]: {:?} in {:.3} s, peak {:.0} MiB",
                arg(3),
                r.valid,
                t.elapsed().as_secs_f64(),
                peak_mib()
            );
            if std::env::var_os("LIN_BENCH_STATS").is_some() {
                eprintln!("{} {:?}", r.stats["linearizability"], r.unknown_reason);
            }
        }
        "cas1" => {
            // One key as in Jepsen's cas-register tests: `cas1 OPS CLIENTS SEED [PREFIX]`, values
            // 0..5 (LIN_BENCH_DOMAIN), ~2% of steps crash (LIN_BENCH_CRASH), some cas fail on
            // compare; PREFIX keeps only the first records. Prints steps, seconds, peak memory;
            // LIN_BENCH_DUMP=FILE writes the history; LIN_BENCH_STEPS bounds the search.
            let n: usize = arg(1).parse().expect("ops");
            let clients: usize = arg(2).parse().expect("clients");
            let seed: u64 = arg(3).parse().expect("seed");
            let env = |k: &str, d: u64| {
                std::env::var(k)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(d)
            };
            let sim = Sim {
                processes: clients,
                ops: n,
                crash: env("LIN_BENCH_CRASH", 1),
                fail: env("LIN_BENCH_FAIL", 2),
                domain: env("LIN_BENCH_DOMAIN", 5) as i64,
                ..Sim::new(Object::CasRegister)
            };
            // LIN_BENCH_FILE=FILE: check that history instead.
            let mut ops = match std::env::var_os("LIN_BENCH_FILE") {
                Some(f) => read_file(std::path::Path::new(&f), Format::Auto)
                    .expect("a history")
                    .ops
                    .clone(),
                None => sim.run(seed),
            };
            // One key checked as a register from 0, within `budget` search steps; the time
            // is the check's alone, without reading the ops.
            let check = |h: &labrys_history::History, budget: u64| {
                let (m, lops) = Register::from_history(h, &Value::Int(0)).expect("reads");
                let t = Instant::now();
                // LIN_BENCH_EDF=0 / LIN_BENCH_TWINS=0 turn those search orders off.
                let on = |k: &str| std::env::var(k).map_or(true, |v| v != "0");
                let strategy = Strategy {
                    deadline_first: on("LIN_BENCH_EDF"),
                    twins: on("LIN_BENCH_TWINS"),
                    ..Strategy::default()
                };
                let o = labrys_lin::check::check_ops_cancellable(
                    &m,
                    &lops,
                    &opts_initial0(),
                    strategy,
                    None,
                    budget,
                );
                (o, t.elapsed())
            };
            if arg(4) == "scan" {
                // Every prefix, within LIN_BENCH_STEPS steps each: the slowest ones.
                let budget = env("LIN_BENCH_STEPS", 1_000_000);
                let mut worst: Vec<(u64, usize, String)> = Vec::new();
                for k in 1..=ops.len() {
                    let (o, _) = check(&history(ops[..k].to_vec()), budget);
                    worst.push((o.steps, k, format!("{:?}", o.verdict)));
                }
                worst.sort();
                for (steps, k, v) in worst.iter().rev().take(5) {
                    println!("seed {seed} prefix {k}: {steps} steps, {v}");
                }
                return;
            }
            if let Ok(k) = arg(4).parse::<usize>() {
                ops.truncate(k);
            }
            if let Some(path) = std::env::var_os("LIN_BENCH_DUMP") {
                let text: String = ops.iter().map(|o| o.to_json().to_string() + "\n").collect();
                std::fs::write(path, text).expect("dump");
            }
            let records = ops.len();
            let h = history(ops);
            let infos = h.calls().filter(|c| c.outcome() == OpType::Info).count();
            let (o, took) = check(&h, env("LIN_BENCH_STEPS", u64::MAX));
            println!(
                "cas1 {n} ops {clients} clients seed {seed} ({records} records, {infos} crashed): {:?} in {:.3} s, {} steps, {} segments (largest {}), {} pruned, peak {:.0} MiB",
                o.verdict,
                took.as_secs_f64(),
                o.steps,
                o.segments,
                o.largest_segment,
                o.pruned_info,
                peak_mib()
            );
        }
        which @ ("fifo" | "unordered" | "set" | "mutex") => {
            let object = match which {
                "fifo" => Object::Fifo,
                "unordered" => Object::Unordered,
                "set" => Object::Set,
                _ => Object::Mutex,
            };
            let n: usize = arg(1).parse().expect("ops");
            let clients: usize = arg(2).parse().expect("clients");
            let sim = Sim {
                processes: clients,
                ops: n,
                crash: std::env::var("LIN_BENCH_CRASH")
                    .ok()
                    .and_then(|f| f.parse().ok())
                    .unwrap_or(1),
                fail: std::env::var("LIN_BENCH_FAIL")
                    .ok()
                    .and_then(|f| f.parse().ok())
                    .unwrap_or(2),
                ..Sim::new(object)
            };
            let seed = arg(3).parse().unwrap_or(42);
            let mut ops = sim.run(seed);
            if arg(4) == "invalid" && object == Object::Fifo {
                let mid = ops.len() / 2;
                assert!(
                    labrys_lin::sim::plant_reordered_dequeues(&mut ops, mid),
                    "two dequeues to swap"
                );
            }
            if arg(4) == "invalid" && object == Object::Unordered {
                let mid = ops.len() / 2;
                assert!(
                    labrys_lin::sim::plant_dequeued_twice(&mut ops, mid),
                    "two dequeues"
                );
            }
            if arg(4) == "invalid" && object == Object::Mutex {
                // Drop one ok release (both its records) in the second half: its holder never
                // lets go, so the next ok acquire has no release to come after.
                let h = history(ops.clone());
                let mid = ops.len() / 2;
                let c = h
                    .calls()
                    .find(|c| {
                        c.outcome() == OpType::Ok && c.f() == "release" && c.invoke_pos >= mid
                    })
                    .expect("a release to drop");
                let (a, b) = (c.invoke_pos, c.complete_pos);
                ops = ops
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| *i != a && *i != b)
                    .map(|(_, o)| o)
                    .collect();
            }
            if let Some(path) = std::env::var_os("LIN_BENCH_DUMP") {
                let text: String = ops.iter().map(|o| o.to_json().to_string() + "\n").collect();
                std::fs::write(path, text).expect("dump");
            }
            let h = history(ops);
            let infos = h.calls().filter(|c| c.outcome() == OpType::Info).count();
            let t = Instant::now();
            let r = labrys_lin::check(object.workload(), &h, &opts_initial0()).expect("checks");
            println!(
                "{which} {n} ops {clients} clients ({infos} crashed) seed {seed} {}: {:?} in {:.3} s, peak {:.0} MiB",
                arg(4),
                r.valid,
                t.elapsed().as_secs_f64(),
                peak_mib()
            );
        }
        "kv" => {
            let keys: usize = arg(1).parse().expect("keys");
            let per: usize = arg(2).parse().expect("ops per key");
            // Each key's ops come from its own simulation, interleaved round-robin.
            // LIN_BENCH_DOMAIN=D: values 0..D that repeat, ~2% crashed and some refused
            // cas, as in Jepsen's cas-register tests (default: unique values).
            let domain: i64 = std::env::var("LIN_BENCH_DOMAIN")
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            let sims: Vec<Vec<Op>> = (0..keys)
                .map(|k| {
                    let sim = Sim {
                        processes: 5,
                        ops: per,
                        ..Sim::new(Object::CasRegister)
                    };
                    let sim = if domain > 0 {
                        Sim {
                            domain,
                            crash: 1,
                            fail: 2,
                            ..sim
                        }
                    } else {
                        sim
                    };
                    sim.run(k as u64)
                })
                .collect();
            let mut ops = Vec::new();
            let mut at = vec![0usize; keys];
            let mut live = keys;
            while live > 0 {
                live = 0;
                for k in 0..keys {
                    if let Some(o) = sims[k].get(at[k]) {
                        let mut o = o.clone();
                        o.index = ops.len() as u64;
                        o.process = labrys_history::Process::Client(
                            o.process.client().unwrap_or(0) * keys as i64 + k as i64,
                        );
                        o.value = Value::List(vec![Value::Int(k as i64), o.value]);
                        ops.push(o);
                        at[k] += 1;
                        live += 1;
                    }
                }
            }
            let h = History::from_ops(ops, "kv-bench").expect("well-formed");
            let t = Instant::now();
            let r = labrys_lin::check("kv", &h, &opts_initial0()).expect("checks");
            let values = if domain > 0 {
                format!(" values 0..{domain}")
            } else {
                String::new()
            };
            println!(
                "kv {keys} keys x {per} ops{values}: {:?} in {:.3} s on {} threads, peak {:.0} MiB",
                r.valid,
                t.elapsed().as_secs_f64(),
                rayon::current_num_threads(),
                peak_mib()
            );
        }
        other => {
            eprintln!("unknown case {other:?}; expected etcd DIR | cas OPS CLIENTS valid|invalid [search] | fifo|unordered|set|mutex OPS CLIENTS [SEED [invalid (fifo)]] | kv KEYS OPS");
            std::process::exit(2);
        }
    }
}

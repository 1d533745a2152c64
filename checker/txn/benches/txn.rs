//! Throughput and memory of the transactional checker (run: `bench/txn/run`).
//!
//! 1. A generated strict-serializable list-append history (default 1,000,000 transactions,
//!    ~4 micro-ops each, 50 clients): full strict-serializable check.
//! 2. The same generator at `FAULTY_TXNS` (default 100,000) transactions with 2% of reads made
//!    stale: a history full of cycles, every class searched.
//! 3. A causal (not serializable) rw-register history from `gen::generate_causal`, 201,000
//!    transactions over 1,001 sessions (`CAUSAL_TXNS`), checked at five models.
//! 4. Elle's `huge-scc.edn` from `../shared/data`: complete classification.
//!
//! `AWDIT=1` runs only the AWDIT-shaped case instead: a causal history of `AWDIT_TXNS`
//! (default 220,000 transactions, ≈1 M micro-ops, 1,001 sessions) checked at read committed
//! (Biswas–Enea), read atomic and causal, first by the saturation alone (`labrys_txn::awdit`,
//! what AWDIT measures) and then by the whole check at that model. Peak memory per check is
//! the rise of VmHWM over the resident size before it (VmHWM reset through `clear_refs`);
//! `AWDIT_LEVEL=rc|ra|cc` runs one level, so that each gets a fresh process.
//!
//! Prints one line per case with wall time, transactions per second and the process's peak
//! resident memory (VmHWM) before and after the check.

use labrys_history::{read_file, CheckOptions, Format, History, OpType, Value};
use labrys_txn::gen::{generate, generate_causal, CausalConfig, GenConfig, Rng};
use labrys_txn::txn::Kind;
use std::path::Path;
use std::time::Instant;

fn vm_hwm_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User + system CPU seconds of this process so far (all threads).
fn cpu_s() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Resident memory now (VmRSS), in MB.
fn vm_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets VmHWM to the current resident size (Linux: `5` into `clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn awdit_case() {
    use labrys_txn::awdit::{Level, Prepared};
    let txns: usize = std::env::var("AWDIT_TXNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(220_000);
    let t0 = Instant::now();
    let h = generate_causal(&CausalConfig::awdit_like(txns, 1));
    let mops: usize = h
        .ops
        .iter()
        .filter(|o| o.kind == OpType::Ok)
        .map(|o| o.value.as_seq().map_or(0, |m| m.len()))
        .sum();
    println!(
        "AWDIT-shaped causal history: {txns} txns, {mops} ok micro-ops, 1001 sessions \
         (generated in {:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    // AWDIT_LEVEL=rc|ra|cc: one level only (a fresh process per level gives its own peak).
    let only = std::env::var("AWDIT_LEVEL").ok();
    for level in Level::ALL {
        let short = match level {
            Level::ReadCommitted => "rc",
            Level::ReadAtomic => "ra",
            Level::Causal => "cc",
        };
        if only.as_deref().is_some_and(|o| o != short) {
            continue;
        }
        reset_peak();
        let base = vm_rss_mb();
        let (t1, c1) = (Instant::now(), cpu_s());
        let t = labrys_txn::txn::Txns::from_history(&h, Kind::RwRegister).expect("txns");
        let p = Prepared::new(&t);
        let violated = if level == Level::Causal {
            p.check_level(level, true).violated()
        } else {
            p.check_level(level, false).violated() || p.check_level(level, true).violated()
        };
        let (s, cpu) = (t1.elapsed().as_secs_f64(), cpu_s() - c1);
        let peak = vm_hwm_mb() - base;
        drop((p, t));
        println!(
            "  saturation {}: {s:.2} s wall, {cpu:.2} s CPU, peak +{peak:.0} MB over {base:.0} MB \
             resident, process peak {:.0} MB, violated={violated}",
            level.model(),
            vm_hwm_mb()
        );
        reset_peak();
        let base = vm_rss_mb();
        let opts = CheckOptions {
            consistency_models: vec![level.model().into()],
            ..CheckOptions::default()
        };
        let (t1, c1) = (Instant::now(), cpu_s());
        let r = labrys_txn::check("rw-register", &h, &opts).expect("check");
        let (s, cpu) = (t1.elapsed().as_secs_f64(), cpu_s() - c1);
        println!(
            "  full check {}: {s:.2} s wall, {cpu:.2} s CPU, peak +{:.0} MB, valid={:?}, \
             phases (ms) {}",
            level.model(),
            vm_hwm_mb() - base,
            r.valid,
            r.stats["phase_ms"]
        );
        if let Some(c) = r.stats.get("causal_chains") {
            println!("  causal clocks over chains of sessions: {c}");
        }
    }
}

/// `SAT=1`: exact serializability and snapshot isolation (`labrys_txn::sat`) on a valid
/// rw-register history from the strict-serializable generator and on a causal,
/// non-serializable one, `SAT_TXNS` (default 10,000) transactions each, at `serializable` and
/// `snapshot-isolation` (and the valid one at `strict-serializable` and
/// `strong-session-snapshot-isolation`). `SAT_TIME_LIMIT` (seconds) gives each check a
/// deadline, as `--time-limit` does.
fn sat_case() {
    let txns: usize = std::env::var("SAT_TXNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let valid = generate(&GenConfig::benchmark(Kind::RwRegister, txns, 42));
    let causal = generate_causal(&CausalConfig::awdit_like(txns, 1));
    let causal_no_rmw = without_rmw(&causal);
    for (name, h, model) in [
        (
            "valid (strict-serializable generator)",
            &valid,
            "serializable",
        ),
        (
            "valid (strict-serializable generator)",
            &valid,
            "strict-serializable",
        ),
        (
            "valid (strict-serializable generator)",
            &valid,
            "snapshot-isolation",
        ),
        (
            "valid (strict-serializable generator)",
            &valid,
            "strong-session-snapshot-isolation",
        ),
        ("causal (generate_causal)", &causal, "serializable"),
        (
            "causal without read-modify-writes",
            &causal_no_rmw,
            "serializable",
        ),
        (
            "causal without read-modify-writes",
            &causal_no_rmw,
            "snapshot-isolation",
        ),
    ] {
        let limit: Option<f64> = std::env::var("SAT_TIME_LIMIT")
            .ok()
            .and_then(|s| s.parse().ok());
        let opts = CheckOptions {
            consistency_models: vec![model.into()],
            deadline: limit.map_or(labrys_history::Deadline::none(), |l| {
                labrys_history::Deadline::after(std::time::Duration::from_secs_f64(l))
            }),
            ..CheckOptions::default()
        };
        reset_peak();
        let base = vm_hwm_mb();
        let (t1, c1) = (Instant::now(), cpu_s());
        let r = labrys_txn::check("rw-register", h, &opts).expect("check");
        let (s, cpu) = (t1.elapsed().as_secs_f64(), cpu_s() - c1);
        let peak = vm_hwm_mb() - base;
        println!(
            "sat: {name}, {txns} txns, {model}: {s:.3} s wall, {cpu:.3} s CPU, peak +{peak:.0} MB, valid={:?}, \
             anomalies {:?}, unknown: {:?}\n  serializability: {}\n  snapshot_isolation: {}",
            r.valid,
            r.anomaly_types,
            r.unknown_reason,
            r.stats.get("serializability").cloned().unwrap_or_default(),
            r.stats
                .get("snapshot_isolation")
                .cloned()
                .unwrap_or_default()
        );
    }
    // Elle's cycles refute the causal histories before the polygraph runs (and the first has
    // lost updates, which the polygraph leaves to Elle): time the polygraph alone on the second,
    // serializability and snapshot isolation, with a deadline (30 s, or SAT_TIME_LIMIT) so that
    // its 700,000 pairs are not over the cap.
    let t = labrys_txn::txn::Txns::from_history(&causal_no_rmw, Kind::RwRegister).expect("txns");
    let limit: f64 = std::env::var("SAT_TIME_LIMIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30.0);
    for level in [
        labrys_txn::sat::Level::Serializable,
        labrys_txn::sat::Level::SnapshotIsolation,
    ] {
        let deadline = labrys_history::Deadline::after(std::time::Duration::from_secs_f64(limit));
        let (t1, c1) = (Instant::now(), cpu_s());
        let f = labrys_txn::sat::check_level(
            &causal_no_rmw,
            &t,
            Kind::RwRegister,
            level,
            labrys_txn::model::OrderEdges::None,
            &deadline,
        );
        println!(
            "sat: causal without read-modify-writes, polygraph alone, {level:?}: {:.3} s wall, {:.3} s CPU, violation={}, timed out={}, skipped={:?}\n  {:?}",
            t1.elapsed().as_secs_f64(),
            cpu_s() - c1,
            f.anomaly.is_some(),
            f.timed_out,
            f.skipped,
            f.stats
        );
    }
}

fn main() {
    if std::env::var("AWDIT").is_ok_and(|v| v == "1") {
        awdit_case();
        return;
    }
    if std::env::var("SAT").is_ok_and(|v| v == "1") {
        sat_case();
        return;
    }
    let txns: usize = std::env::var("TXNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let cfg = GenConfig::benchmark(Kind::ListAppend, txns, 42);
    let t0 = Instant::now();
    let h = generate(&cfg);
    let gen_s = t0.elapsed().as_secs_f64();
    let before = vm_hwm_mb();
    let (t1, c1) = (Instant::now(), cpu_s());
    let r = labrys_txn::check("list-append", &h, &CheckOptions::default()).expect("check");
    let (s, cpu) = (t1.elapsed().as_secs_f64(), cpu_s() - c1);
    println!(
        "generated list-append: {txns} txns, {} ops (generated in {gen_s:.2} s): check {s:.2} s \
         wall, {cpu:.2} s CPU, {:.0} txns/s (wall), valid={:?}, peak RSS {before:.0} MB before \
         check, {:.0} MB after",
        h.ops.len(),
        txns as f64 / s,
        r.valid,
        vm_hwm_mb()
    );
    println!("  phases (ms): {}", r.stats["phase_ms"]);
    println!("  saturation checks (ms): {}", r.stats["saturation_checks"]);
    drop(h);

    let faulty: usize = std::env::var("FAULTY_TXNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    // FAULTY_KIND=rw-register runs the faulty case on registers instead.
    let (fkind, fname) = match std::env::var("FAULTY_KIND").as_deref() {
        Ok("rw-register") => (Kind::RwRegister, "rw-register"),
        _ => (Kind::ListAppend, "list-append"),
    };
    let fcfg = GenConfig::benchmark(fkind, faulty, 7);
    let h = stale_reads(&generate(&fcfg), 20);
    let (t1, c1) = (Instant::now(), cpu_s());
    let r = labrys_txn::check(fname, &h, &CheckOptions::default()).expect("check");
    let (s, cpu) = (t1.elapsed().as_secs_f64(), cpu_s() - c1);
    println!(
        "faulty {fname}: {faulty} txns, 2% stale reads: check {s:.2} s wall, {cpu:.2} s CPU; \
         {} SCCs, largest {} txns; anomalies {:?}; inconclusive {}",
        r.stats["sccs"], r.stats["largest_scc"], r.anomaly_types, r.stats["inconclusive_classes"]
    );
    println!("  phases (ms): {}", r.stats["phase_ms"]);
    drop(h);

    // A causal, non-serializable rw-register history shaped like AWDIT's (1,001 sessions):
    // every model answers without a deadline; G-single is absent, which used to cost a BFS per
    // rw edge.
    let causal: usize = std::env::var("CAUSAL_TXNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(201_000);
    let h = generate_causal(&CausalConfig::awdit_like(causal, 1));
    for model in [
        "causal-cerone",
        "snapshot-isolation",
        "strong-session-snapshot-isolation",
        "serializable",
        "strict-serializable",
    ] {
        let opts = CheckOptions {
            consistency_models: vec![model.into()],
            ..CheckOptions::default()
        };
        let (t1, c1) = (Instant::now(), cpu_s());
        let r = labrys_txn::check("rw-register", &h, &opts).expect("check");
        let (s, cpu) = (t1.elapsed().as_secs_f64(), cpu_s() - c1);
        println!(
            "causal rw-register {causal} txns, {model}: check {s:.2} s wall, {cpu:.2} s CPU, \
             valid={:?}; largest SCC {}; anomalies {:?}",
            r.valid, r.stats["largest_scc"], r.anomaly_types
        );
    }
    drop(h);

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/elle/huge-scc.edn");
    if !path.exists() {
        eprintln!("SKIPPED: ../shared/data not found (huge-scc.edn)");
        return;
    }
    let t2 = Instant::now();
    let h = read_file(&path, Format::Auto).expect("read huge-scc.edn");
    let read_s = t2.elapsed().as_secs_f64();
    let (t3, c3) = (Instant::now(), cpu_s());
    let r = labrys_txn::check("list-append", &h, &CheckOptions::default()).expect("check");
    let (s, cpu) = (t3.elapsed().as_secs_f64(), cpu_s() - c3);
    println!(
        "huge-scc.edn: {} ops read in {read_s:.2} s; check {s:.3} s wall, {cpu:.3} s CPU \
         ({:.0} txns/s); anomalies {:?}; not {:?}; largest SCC {} txns",
        h.ops.len(),
        r.stats["txns"].as_f64().unwrap_or(0.0) / s,
        r.anomaly_types,
        r.not,
        r.stats["largest_scc"]
    );
}

/// Makes `per_mille` of the ok reads stale: a list loses a suffix, a register reads nil.
/// `h` with every read of a key the transaction also writes dropped (from invocation and
/// completion alike): no read-modify-write is left, so no lost update, and Elle's inference
/// sees little more than wr edges. Still a history of the same causal execution (fewer
/// observations of it).
fn without_rmw(h: &History) -> History {
    let mut ops = h.ops.clone();
    for op in ops.iter_mut() {
        let Value::List(mops) = &mut op.value else {
            continue;
        };
        let written: Vec<Value> = mops
            .iter()
            .filter_map(|m| match m {
                Value::List(p) if p[0].as_name() == Some("w") => Some(p[1].clone()),
                _ => None,
            })
            .collect();
        mops.retain(|m| match m {
            Value::List(p) => p[0].as_name() != Some("r") || !written.contains(&p[1]),
            _ => true,
        });
    }
    History::from_ops(ops, "no-rmw").expect("still well-formed")
}

fn stale_reads(h: &History, per_mille: u64) -> History {
    let mut rng = Rng::new(11);
    let mut ops = h.ops.clone();
    for op in ops.iter_mut().filter(|o| o.kind == OpType::Ok) {
        let Value::List(mops) = &mut op.value else {
            continue;
        };
        for m in mops.iter_mut() {
            let Value::List(parts) = m else { continue };
            if parts[0].as_name() != Some("r") || rng.below(1000) >= per_mille {
                continue;
            }
            match &parts[2] {
                Value::List(l) if !l.is_empty() => {
                    let n = rng.below(l.len() as u64) as usize;
                    parts[2] = Value::List(l[..n].to_vec());
                }
                Value::Int(_) => parts[2] = Value::Nil,
                _ => {}
            }
        }
    }
    History::from_ops(ops, "stale").expect("still well-formed")
}

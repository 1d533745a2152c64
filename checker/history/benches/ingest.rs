//! Ingest benchmark: how fast each reader turns a generated 1M-op history into a paired
//! `History`, and how much memory that takes. Run with `cargo bench -p labrys-history`.
//!
//! Prints ops/s per format and the process's peak RSS after each read (Linux `VmHWM`), so that
//! memory per op kept can be compared with the file size. Figures go in `bench/README.md`.

use labrys_history::{read_file, Format};
use std::io::Write;
use std::time::Instant;

/// CPU time of this thread in seconds: other processes on a busy machine don't inflate it.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map(|ns| ns / 1e9)
        .unwrap_or(f64::NAN)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A cas-register history over independent keys, 50 clients, invoke/complete pairs.
fn generate(n_ops: usize, edn: bool, out: &mut impl Write) {
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    if edn {
        writeln!(out, "[").unwrap();
    }
    let mut t = 0u64;
    for i in 0..n_ops / 2 {
        let p = i % 50;
        let key = next() % 1000;
        let (f, v) = match next() % 3 {
            0 => ("read", None),
            1 => ("write", Some(format!("{}", next() % 5))),
            _ => ("cas", Some(format!("[{} {}]", next() % 5, next() % 5))),
        };
        for (k, ty) in ["invoke", "ok"].iter().enumerate() {
            t += 1000 + next() % 1000;
            let idx = 2 * i + k;
            let val = match (&v, f) {
                (Some(v), _) => v.clone(),
                (None, _) if k == 1 => format!("{}", next() % 5),
                _ => "nil".into(),
            };
            if edn {
                writeln!(out, "{{:index {idx}, :time {t}, :type :{ty}, :process {p}, :f :{f}, :value [{key} {val}]}}").unwrap();
            } else {
                let jv = val.replace("nil", "null").replace(' ', ",");
                writeln!(out, "{{\"index\":{idx},\"time\":{t},\"type\":\"{ty}\",\"process\":{p},\"f\":\"{f}\",\"value\":[{key},{jv}]}}").unwrap();
            }
        }
    }
    if edn {
        writeln!(out, "]").unwrap();
    }
}

fn main() {
    let n: usize = std::env::var("INGEST_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("labrys-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("ingest benchmark: {n} ops, 50 clients, 1000 keys");
    for (name, edn, format) in [("jsonl", false, Format::Json), ("edn", true, Format::Edn)] {
        let path = dir.join(format!("history.{name}"));
        {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            generate(n, edn, &mut w);
        }
        let size = std::fs::metadata(&path).unwrap().len() as f64 / (1 << 20) as f64;
        let t0 = Instant::now();
        let c0 = cpu_secs();
        let h = read_file(&path, format).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu_secs() - c0;
        assert_eq!(h.ops.len(), n);
        println!(
            "{name:>6}: {:>4.0} MiB file, {:.2}s wall, {:.2}s CPU, {:.2}M ops per CPU-second, {:.0} MiB/s; peak RSS so far {:.0} MiB",
            size,
            secs,
            cpu,
            n as f64 / cpu / 1e6,
            size / cpu,
            peak_rss_mib()
        );
        drop(h);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

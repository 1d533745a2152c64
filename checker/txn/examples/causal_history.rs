//! Writes an rw-register history from a simulated causally consistent (not serializable) store
//! as JSON lines, for benchmarks: `cargo run --release -p labrys-txn --example causal_history
//! -- OUT.jsonl [TXNS [SEED [SYNC_EVERY [REPLICAS]]]]` (default 201,000 transactions, 1,001 sessions, as AWDIT's causal
//! benchmark histories). See `labrys_txn::gen::generate_causal`.

use labrys_txn::gen::{generate_causal, CausalConfig};
use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: causal_history OUT.jsonl [TXNS [SEED [SYNC_EVERY [REPLICAS]]]]");
        std::process::exit(2);
    };
    let txns = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(201_000);
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut c = CausalConfig::awdit_like(txns, seed);
    if let Some(sync) = args.get(3).and_then(|s| s.parse().ok()) {
        c.sync_every = sync;
    }
    if let Some(replicas) = args.get(4).and_then(|s| s.parse().ok()) {
        c.replicas = replicas;
    }
    let h = generate_causal(&c);
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    for op in &h.ops {
        serde_json::to_writer(&mut w, &op.to_json())?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

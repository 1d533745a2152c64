//! Writes a list-append (or rw-register) history from the strict-serializable generator as
//! JSON lines, streaming (nothing is held, so ten million transactions take no more memory
//! than ten): `cargo run --release -p labrys-txn --example append_history -- OUT.jsonl [TXNS
//! [SEED [rw-register]]]`. The shape is the benchmark's (`bench/txn/run`): 50 clients, 1–7
//! micro-ops, 200 active keys retiring after 32 appends, 1% failed and 0.5% crashed
//! transactions; default 1,000,000 transactions. `bench/txn/run 10m` checks such a file with
//! `labrys check`, end to end.

use labrys_txn::gen::{generate_each, GenConfig};
use labrys_txn::txn::Kind;
use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: append_history OUT.jsonl [TXNS [SEED [rw-register]]]");
        std::process::exit(2);
    };
    let txns = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(42);
    let kind = match args.get(3).map(String::as_str) {
        Some("rw-register") => Kind::RwRegister,
        _ => Kind::ListAppend,
    };
    let cfg = GenConfig::benchmark(kind, txns, seed);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let mut err = None;
    generate_each(&cfg, &mut |op| {
        if err.is_none() {
            if let Err(e) = serde_json::to_writer(&mut w, &op.to_json())
                .map_err(std::io::Error::from)
                .and_then(|_| w.write_all(b"\n"))
            {
                err = Some(e);
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    w.flush()
}

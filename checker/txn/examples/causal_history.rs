//! Writes an rw-register history from a simulated causally consistent (not serializable) store
//! as JSON lines, for benchmarks: `cargo run --release -p labrys-txn --example causal_history
//! -- OUT.jsonl [TXNS [SEED [SYNC_EVERY [REPLICAS]]]]` (default 201,000 transactions, 1,001 sessions, as AWDIT's causal
//! benchmark histories). See `labrys_txn::gen::generate_causal`. An OUT ending in `.txt` gets
//! the same history in the Plume text format AWDIT and PolySI read instead (`r(key,value,
//! session,txn)` / `w(...)`, value 0 the initial one, a failed transaction's writes under txn
//! -1), for `bench/txn/vs-awdit.sh`.

use labrys_txn::gen::{generate_causal, CausalConfig};
use labrys_txn::txn::{Kind, Mop, Outcome, Txns, NIL};
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
    if out.ends_with(".txt") {
        let t = Txns::from_history(&h, Kind::RwRegister).expect("a generated history reads");
        for (i, x) in t.txns.iter().enumerate() {
            let (session, txn) = match x.outcome {
                Outcome::Ok => (x.process, i as i64),
                Outcome::Fail => (0, -1),
                Outcome::Info => panic!("the generator crashes no transaction"),
            };
            for m in &x.mops {
                match *m {
                    Mop::ReadReg { key, val: Some(v) } if x.outcome == Outcome::Ok => {
                        let v = if v == NIL { 0 } else { v as u64 + 1 };
                        writeln!(w, "r({key},{v},{session},{txn})")?;
                    }
                    Mop::Write { key, val } => {
                        writeln!(w, "w({key},{},{session},{txn})", val as u64 + 1)?;
                    }
                    _ => {}
                }
            }
        }
        return w.flush();
    }
    for op in &h.ops {
        serde_json::to_writer(&mut w, &op.to_json())?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

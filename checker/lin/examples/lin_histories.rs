//! Writes history files for `bench/lin/vs-porcupine.sh`, which checks each with labrys and
//! with Porcupine. Nothing is checked here.
//!
//! - `families DIR`: generated cas-register and kv histories (JSON Lines, initial value 0)
//!   over families of clients, value domains, crash and refusal rates and lengths, valid and
//!   with one planted stale read, plus `DIR/manifest.tsv` describing each file;
//! - `convert IN OUT`: any history labrys reads (JSON, EDN, Jepsen log lines), as JSON Lines;
//! - `corpus DATA OUT`: the cas-register histories of `DATA/corpus.json` (histories with the
//!   verdicts their sources assert) as JSON Lines, plus a few kv histories made of them with
//!   `kvwrap`'s construction, and `OUT/manifest.tsv` with each file's expected verdict;
//! - `kvwrap OUT IN...`: several cas-register histories as one `kv` history of Jepsen
//!   independent tuples, one key per input (`[k v]` values, records interleaved round-robin):
//!   it is linearizable iff every input is, which checks a kv checker against known verdicts.

use labrys_history::{read_file, Format, History, Op, OpType, Process, Value};
use labrys_lin::sim::{plant_impossible_read, plant_stale_read, Object, Sim};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One generated history.
#[derive(Clone, Copy)]
struct Family {
    name: &'static str,
    /// Keys (0: a single cas-register; else a kv history of that many keys).
    keys: usize,
    /// Ops per key.
    ops: usize,
    clients: usize,
    /// Values drawn from `0..domain` (they repeat); 0: every written value unique.
    domain: i64,
    /// The simulator's percent chance per step that a pending op crashes (→ info).
    crash: u64,
    /// Its percent chance per step that an op not yet applied is refused (→ fail).
    fail: u64,
    stale: bool,
}

impl Family {
    fn file_name(&self) -> String {
        let d = if self.domain == 0 {
            "u".to_string()
        } else {
            self.domain.to_string()
        };
        let shape = if self.keys == 0 {
            format!("cas-n{}", self.ops)
        } else {
            format!("kv{}x{}", self.keys, self.ops)
        };
        format!(
            "{}-{shape}-c{}-d{d}-x{}-f{}-{}.jsonl",
            self.name,
            self.clients,
            self.crash,
            self.fail,
            if self.stale { "stale" } else { "valid" }
        )
    }

    fn sim(&self) -> Sim {
        Sim {
            processes: self.clients,
            ops: self.ops,
            crash: self.crash,
            fail: self.fail,
            domain: self.domain,
            ..Sim::new(Object::CasRegister)
        }
    }
}

/// The families: each varies one or two parameters around a base (cas-register, 1,000 ops,
/// crash 1, refusals 2).
fn families() -> Vec<Family> {
    let base = Family {
        name: "",
        keys: 0,
        ops: 1000,
        clients: 10,
        domain: 0,
        crash: 1,
        fail: 2,
        stale: false,
    };
    let mut out = Vec::new();
    // Clients x value domain, valid.
    for clients in [2, 5, 10, 16, 30] {
        for domain in [2, 5, 10, 0] {
            out.push(Family {
                name: "clients",
                clients,
                domain,
                ..base
            });
        }
    }
    // One planted stale read.
    for clients in [5, 16, 30] {
        for domain in [5, 0] {
            out.push(Family {
                name: "stale",
                clients,
                domain,
                stale: true,
                ..base
            });
        }
    }
    // Length.
    for ops in [200, 5000] {
        for clients in [5, 16] {
            for domain in [5, 0] {
                out.push(Family {
                    name: "length",
                    ops,
                    clients,
                    domain,
                    ..base
                });
            }
        }
    }
    for domain in [5, 0] {
        out.push(Family {
            name: "length",
            ops: 5000,
            clients: 16,
            domain,
            stale: true,
            ..base
        });
    }
    // Crash rate (base 1): none, and many.
    for crash in [0, 4] {
        for domain in [5, 0] {
            out.push(Family {
                name: "crash",
                crash,
                domain,
                ..base
            });
        }
    }
    for domain in [5, 0] {
        out.push(Family {
            name: "crash",
            crash: 4,
            domain,
            stale: true,
            ..base
        });
    }
    // Refusals (base 2): none, and many.
    for fail in [0, 10] {
        for domain in [5, 0] {
            out.push(Family {
                name: "fail",
                fail,
                domain,
                ..base
            });
        }
    }
    // Values that repeat at 30 clients, long: the hardest shape. Valid; and with a
    // read no order explains, planted without crashed clients (a crashed write may take
    // effect at any later time, so with crashes any value once written stays readable).
    for ops in [5000, 20000] {
        for domain in [5, 10] {
            for stale in [false, true] {
                out.push(Family {
                    name: "hard30",
                    ops,
                    clients: 30,
                    domain,
                    stale,
                    crash: if stale { 0 } else { base.crash },
                    ..base
                });
            }
        }
    }
    // kv: independent keys, checked per key.
    for (keys, ops, clients) in [(10, 500, 5), (40, 250, 10)] {
        for domain in [5, 0] {
            for stale in [false, true] {
                out.push(Family {
                    name: "kv",
                    keys,
                    ops,
                    clients,
                    domain,
                    stale,
                    ..base
                });
            }
        }
    }
    out
}

fn write_jsonl(path: &Path, ops: &[Op]) {
    let mut text = String::new();
    for o in ops {
        let _ = writeln!(text, "{}", o.to_json());
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Interleaves per-key histories round-robin into one of Jepsen independent tuples.
fn interleave(per_key: &[Vec<Op>]) -> Vec<Op> {
    let keys = per_key.len() as i64;
    let mut ops = Vec::new();
    let mut at = vec![0usize; per_key.len()];
    loop {
        let mut live = false;
        for (k, key_ops) in per_key.iter().enumerate() {
            let Some(o) = key_ops.get(at[k]) else {
                continue;
            };
            at[k] += 1;
            live = true;
            let mut o = o.clone();
            o.index = ops.len() as u64;
            o.time = None;
            o.process = match &o.process {
                Process::Client(p) => Process::Client(p * keys + k as i64),
                named => named.clone(),
            };
            o.value = Value::List(vec![Value::Int(k as i64), o.value]);
            ops.push(o);
        }
        if !live {
            return ops;
        }
    }
}

fn generate(dir: &Path) {
    std::fs::create_dir_all(dir).expect("output directory");
    let mut manifest = String::from(
        "file\tworkload\tfamily\tkeys\tcalls\tclients\tdomain\tcrash\tfail\tcrashed\tfailed\tplanted\texpected\n",
    );
    for (i, fam) in families().iter().enumerate() {
        let seed = 1 + i as u64;
        let keys = fam.keys.max(1);
        let mut per_key: Vec<Vec<Op>> = (0..keys)
            .map(|k| fam.sim().run(seed * 1000 + k as u64))
            .collect();
        if fam.stale {
            // In the second half of the first key; among values that repeat, one no
            // linearization explains (hard30) or one another write may explain (the others).
            let mid = per_key[0].len() / 2;
            if fam.name == "hard30" {
                plant_impossible_read(&mut per_key[0], mid).expect("a read to make impossible");
            } else {
                plant_stale_read(&mut per_key[0], mid).expect("a read to make stale");
            }
        }
        let ops = if fam.keys == 0 {
            per_key.pop().expect("one key")
        } else {
            interleave(&per_key)
        };
        let h = History::from_ops(ops.clone(), "generated").expect("well-formed");
        let count = |t: OpType| h.calls().filter(|c| c.outcome() == t).count();
        let name = fam.file_name();
        write_jsonl(&dir.join(&name), &ops);
        // Valid: a correct register wrote it. A stale read planted among values written once
        // cannot be explained; among values that repeat another write may explain it.
        let expected = match (fam.stale, fam.domain) {
            (false, _) => "valid",
            (true, 0) => "invalid",
            (true, _) if fam.name == "hard30" => "invalid",
            (true, _) => "?",
        };
        let _ = writeln!(
            manifest,
            "{name}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{expected}",
            if fam.keys == 0 { "cas-register" } else { "kv" },
            fam.name,
            fam.keys,
            h.calls().count(),
            fam.clients,
            if fam.domain == 0 {
                "unique".to_string()
            } else {
                fam.domain.to_string()
            },
            fam.crash,
            fam.fail,
            count(OpType::Info),
            count(OpType::Fail),
            if fam.stale { "stale read" } else { "-" },
        );
    }
    std::fs::write(dir.join("manifest.tsv"), manifest).expect("manifest");
}

/// Converts the corpus's cas-register histories; returns nothing, writes `OUT/manifest.tsv`:
/// file, workload, initial value (JSON), source folder, expected verdict.
fn corpus(data: &Path, out: &Path) {
    std::fs::create_dir_all(out).expect("output directory");
    let text = std::fs::read_to_string(data.join("corpus.json")).expect("corpus.json");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a JSON array");
    let mut manifest = String::from("file\tworkload\tinitial\tsource\texpected\n");
    // Valid and invalid etcd histories (initial null), to wrap as kv keys afterwards.
    let (mut good, mut bad): (Vec<PathBuf>, Vec<PathBuf>) = (Vec::new(), Vec::new());
    for e in &entries {
        let (Some(file), Some(valid)) = (e["file"].as_str(), e["valid"].as_bool()) else {
            continue;
        };
        if e["workload"] != "cas-register" {
            continue;
        }
        // `--initial X` is the only option cas-register entries carry.
        let args: Vec<&str> = e["args"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let initial = match args.as_slice() {
            [] => "null",
            ["--initial", x] => x,
            _ => continue,
        };
        let Ok(h) = read_file(&data.join(file), Format::Auto) else {
            continue;
        };
        let name = file.replace('/', "_") + ".jsonl";
        write_jsonl(&out.join(&name), &h.ops);
        let folder = file.split('/').next().unwrap_or("");
        let expected = if valid { "valid" } else { "invalid" };
        let _ = writeln!(
            manifest,
            "{name}\tcas-register\t{initial}\t{folder}\t{expected}"
        );
        if folder == "porcupine" && initial == "null" {
            let list = if valid { &mut good } else { &mut bad };
            list.push(out.join(&name));
        }
    }
    // kv: eight valid etcd histories as eight keys (valid), and the same with one invalid
    // key (invalid).
    if good.len() >= 8 && !bad.is_empty() {
        let read_all = |files: &[PathBuf]| -> Vec<Vec<Op>> {
            files.iter().map(|f| read(f).ops.clone()).collect()
        };
        let mut keys = read_all(&good[..8]);
        write_jsonl(&out.join("kv-etcd-8-valid.jsonl"), &interleave(&keys));
        keys[3] = read(&bad[0]).ops.clone();
        write_jsonl(&out.join("kv-etcd-8-one-invalid.jsonl"), &interleave(&keys));
        manifest.push_str("kv-etcd-8-valid.jsonl\tkv\tnull\tporcupine\tvalid\n");
        manifest.push_str("kv-etcd-8-one-invalid.jsonl\tkv\tnull\tporcupine\tinvalid\n");
    }
    std::fs::write(out.join("manifest.tsv"), manifest).expect("manifest");
}

fn read(path: &Path) -> History {
    read_file(path, Format::Auto).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("families") if args.len() == 2 => generate(Path::new(&args[1])),
        Some("corpus") if args.len() == 3 => corpus(Path::new(&args[1]), Path::new(&args[2])),
        Some("convert") if args.len() == 3 => {
            write_jsonl(Path::new(&args[2]), &read(Path::new(&args[1])).ops)
        }
        Some("kvwrap") if args.len() >= 3 => {
            let per_key: Vec<Vec<Op>> = args[2..]
                .iter()
                .map(|f| read(&PathBuf::from(f)).ops.clone())
                .collect();
            write_jsonl(Path::new(&args[1]), &interleave(&per_key));
        }
        _ => {
            eprintln!("usage: lin_histories families DIR | corpus DATA OUT | convert IN OUT | kvwrap OUT IN...");
            std::process::exit(2);
        }
    }
}

//! Random bytes and random mutations of real histories, fed to every reader: each must return
//! a history or an error — never panic, never hang.

use labrys_history::{read::read, Format};
use proptest::prelude::*;

const SAMPLES: &[&str] = &[
    "[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n {:process 0, :type :ok, :f :cas, :value [1 2]}\n #jepsen.history.Op{:index 2 :type :invoke :process :nemesis :f :start :value #{\"n1\" \\a 1.5 12N}}]\n",
    "{\"index\":0,\"time\":1,\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,2],[\"r\",1,null]]}\n{\"index\":1,\"time\":2,\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,2],[\"r\",1,[2]]]}\n",
    "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\nINFO  jepsen.util - 2\t:info\t:cas\t:timed-out\nINFO  jepsen.util - 1   :invoke :read   nil\n",
    "; comment\n{:type :invoke, :f :read, :process 1 :value nil}\n{:type :ok :f :read :process 1 :value {:x 1 \"y\" [2 (3 4)]}}\n",
];

fn all_formats(bytes: &[u8]) {
    for f in [Format::Auto, Format::Json, Format::Edn, Format::JepsenLog] {
        let _ = read(bytes, "fuzz", f);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all_formats(&bytes);
    }

    #[test]
    fn mutated_histories_never_panic(
        sample in 0..SAMPLES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..12),
    ) {
        let mut bytes = SAMPLES[sample].as_bytes().to_vec();
        for (at, kind, b) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = b,                         // flip a byte
                1 => { bytes.remove(i); }                  // delete one
                2 => bytes.insert(i, b"[{}]\":#\\;,"[b as usize % 10]), // insert a syntax byte
                _ => bytes.truncate(i),                    // truncate
            }
        }
        all_formats(&bytes);
    }
}

#[test]
fn mutated_corpus_files_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let files = [
        "knossos/cas-register/bad/cas-failure.edn",
        "porcupine/jepsen/etcd_002.log",
        "elle-cli/elle/rw-register.json",
        "elle/paper-example.edn",
    ];
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for f in files {
        let Ok(orig) = std::fs::read(dir.join(f)) else {
            eprintln!("SKIPPED: ../shared/data not found; corpus mutations not run");
            return;
        };
        for _ in 0..100 {
            let mut b = orig.clone();
            for _ in 0..(1 + next() % 8) {
                let i = (next() as usize) % b.len().max(1);
                if b.is_empty() {
                    break;
                }
                match next() % 3 {
                    0 => b[i] = next() as u8,
                    1 => {
                        b.remove(i);
                    }
                    _ => b.truncate(i),
                }
            }
            all_formats(&b);
        }
    }
}

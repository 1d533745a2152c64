//! The registry's rules for every workload name it accepts, driven by `WORKLOADS` itself: a
//! history with nothing to check gets one answer whatever the workload, and a history of the
//! wrong shape is an error at the record at fault, never a verdict.

use labrys_check::{check_history, CheckError, WORKLOADS};
use labrys_history::{read_str, CheckOptions, Error, Format, Validity};

fn check(text: &str, workload: &str) -> Result<labrys_history::CheckResult, CheckError> {
    let h = read_str(text, "h.edn", Format::Auto).unwrap_or_else(|e| panic!("{e}"));
    check_history(&h, workload, &CheckOptions::default())
}

#[test]
fn nothing_to_check_is_valid_with_a_warning_for_every_workload() {
    let nemesis_only = "{:type :invoke :process :nemesis :f :start :value nil}\n\
                        {:type :info :process :nemesis :f :start :value [:n1]}\n";
    for text in ["[]", "[]\n", nemesis_only] {
        for w in WORKLOADS {
            let r = check(text, w).unwrap_or_else(|e| panic!("{w}: {e}"));
            assert_eq!(r.valid, Validity::Valid, "{w} on {text:?}");
            assert!(r.anomaly_types.is_empty() && r.not.is_empty(), "{w}");
            let kinds: Vec<&str> = r.warnings.iter().map(|w| w.kind.as_str()).collect();
            assert!(kinds.contains(&"no-client-ops"), "{w}: {kinds:?}");
            assert!(
                r.warnings[0]
                    .message
                    .contains("no client operations to check"),
                "{w}"
            );
        }
    }
}

/// Small histories of each shape, and the workloads each fits. Against every other workload
/// each must be an error naming line and column.
const SAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "register",
        "{:type :invoke :process 0 :f :write :value 1}\n{:type :ok :process 0 :f :write :value 1}\n\
         {:type :invoke :process 1 :f :cas :value [1 2]}\n{:type :ok :process 1 :f :cas :value [1 2]}\n\
         {:type :invoke :process 0 :f :read :value nil}\n{:type :ok :process 0 :f :read :value 2}\n",
        &["register", "cas-register"],
    ),
    (
        "list-append",
        "{:type :invoke :process 0 :f :txn :value [[:append 1 2] [:r 1 nil]]}\n\
         {:type :ok :process 0 :f :txn :value [[:append 1 2] [:r 1 [2]]]}\n",
        &["list-append"],
    ),
    (
        "rw-register",
        "{:type :invoke :process 0 :f :txn :value [[:w 1 2] [:r 2 nil]]}\n\
         {:type :ok :process 0 :f :txn :value [[:w 1 2] [:r 2 nil]]}\n",
        &["rw-register", "multi-register"],
    ),
    (
        "set",
        "{:type :invoke :process 0 :f :add :value 1}\n{:type :ok :process 0 :f :add :value 1}\n\
         {:type :invoke :process 1 :f :read :value nil}\n{:type :ok :process 1 :f :read :value #{1}}\n",
        &["set", "set-full", "linearizable-set"],
    ),
    (
        "counter",
        "{:type :invoke :process 0 :f :add :value 1}\n{:type :ok :process 0 :f :add :value 1}\n\
         {:type :invoke :process 1 :f :read :value nil}\n{:type :ok :process 1 :f :read :value 1}\n",
        &["counter"],
    ),
    (
        "mutex",
        "{:type :invoke :process 0 :f :acquire :value nil}\n{:type :ok :process 0 :f :acquire :value nil}\n\
         {:type :invoke :process 0 :f :release :value nil}\n{:type :ok :process 0 :f :release :value nil}\n",
        &["mutex"],
    ),
    (
        "queue",
        "{:type :invoke :process 0 :f :enqueue :value 1}\n{:type :ok :process 0 :f :enqueue :value 1}\n\
         {:type :invoke :process 1 :f :dequeue :value nil}\n{:type :ok :process 1 :f :dequeue :value 1}\n",
        &["fifo-queue", "unordered-queue", "total-queue", "queue"],
    ),
    (
        "kv",
        "{:type :invoke :process 0 :f :put :key \"x\" :value \"a\"}\n\
         {:type :ok :process 0 :f :put :key \"x\" :value \"a\"}\n",
        &["kv"],
    ),
    (
        "kv-tuples",
        "{:type :invoke :process 0 :f :write :value [:x 1]}\n{:type :ok :process 0 :f :write :value [:x 1]}\n\
         {:type :invoke :process 1 :f :cas :value [:x [1 2]]}\n{:type :ok :process 1 :f :cas :value [:x [1 2]]}\n\
         {:type :invoke :process 0 :f :read :value [:x nil]}\n{:type :ok :process 0 :f :read :value [:x 2]}\n",
        // A register may hold any value, tuples too: as a register this is a legal history.
        &["kv", "register", "cas-register"],
    ),
    (
        "bank",
        "{:type :invoke :process 0 :f :transfer :value {:from 0 :to 1 :amount 5}}\n\
         {:type :ok :process 0 :f :transfer :value {:from 0 :to 1 :amount 5}}\n\
         {:type :invoke :process 1 :f :read :value nil}\n{:type :ok :process 1 :f :read :value {0 5 1 15}}\n",
        &["bank"],
    ),
    (
        "long-fork",
        "{:type :invoke :process 0 :f :txn :value [[:w 1 1]]}\n{:type :ok :process 0 :f :txn :value [[:w 1 1]]}\n\
         {:type :invoke :process 1 :f :txn :value [[:r 1 nil] [:r 2 nil]]}\n\
         {:type :ok :process 1 :f :txn :value [[:r 1 1] [:r 2 nil]]}\n",
        // A long-fork history is also a well-formed history of single-key registers.
        &["long-fork", "rw-register", "multi-register"],
    ),
    (
        "unique-ids",
        "{:type :invoke :process 0 :f :generate :value nil}\n{:type :ok :process 0 :f :generate :value 7}\n",
        &["unique-ids"],
    ),
];

#[test]
fn a_history_of_the_wrong_shape_is_an_error_for_every_workload() {
    let mut errors = 0;
    for w in WORKLOADS {
        let mut fitted = 0;
        for (name, text, fits) in SAMPLES {
            match check(text, w) {
                Ok(r) if fits.contains(w) => {
                    fitted += 1;
                    assert_ne!(r.valid, Validity::Unknown, "{name} as {w}: {r:?}");
                }
                Err(e) if fits.contains(w) => panic!("{name} as {w}: {e}"),
                Ok(r) => panic!("{name} as {w}: expected an error, got {:?}", r.valid),
                Err(CheckError::History(e @ Error::Malformed { line, col, .. })) => {
                    assert!(line > 0 && col > 0, "{name} as {w}: {e}");
                    assert!(e.to_string().starts_with(&format!("h.edn:{line}:{col}: ")));
                    errors += 1;
                }
                Err(e) => panic!("{name} as {w}: not a history error: {e}"),
            }
        }
        assert!(fitted > 0, "no sample fits {w}: add one");
    }
    assert!(errors > WORKLOADS.len() * 5, "{errors}");
}

/// The message names what the workload expects and blames the record at fault: the invoke
/// for a wrong f, the completion for a wrong returned value.
#[test]
fn wrong_shape_errors_say_what_was_expected_at_the_right_record() {
    let reg = SAMPLES[0].1;
    let e = check(reg, "list-append").unwrap_err().to_string();
    assert!(
        e.starts_with(
            "h.edn:1:1: found f \"write\" (process 0); workload list-append expects f txn"
        ),
        "{e}"
    );
    let append = SAMPLES[1].1;
    let e = check(append, "cas-register").unwrap_err().to_string();
    assert!(
        e.starts_with("h.edn:1:1: found f \"txn\" (process 0); workload cas-register expects f read, write or cas"),
        "{e}"
    );
    let bad_read = "{:type :invoke :process 0 :f :txn :value [[:r 1 nil]]}\n  {:type :ok :process 0 :f :txn :value [[:r 1 [2]] 7]}\n";
    let e = check(bad_read, "list-append").unwrap_err().to_string();
    assert!(
        e.starts_with("h.edn:2:3: found the micro-op 7 (an integer) in the ok of process 0"),
        "{e}"
    );
    // A checker's own message about a line gets that record's column.
    let cas = "{:type :invoke :process 0 :f :write :value 1}\n   {:type :ok :process 0 :f :write :value 1}\n{:type :invoke :process 0 :f :read :value nil}\n   {:type :ok :process 0 :f :read :value [1]}\n";
    let e = check(cas, "counter").unwrap_err().to_string();
    assert!(e.starts_with("h.edn:1:1: found f \"write\""), "{e}");
    let set_as_counter = SAMPLES[3].1;
    let e = check(set_as_counter, "counter").unwrap_err().to_string();
    assert!(e.starts_with("h.edn:4:1: "), "{e}");
}

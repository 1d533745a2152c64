//! Each lint rule on a small history that trips it, and a clean history that trips none.

use labrys_history::{lint::lint, read_str, Format};

fn kinds(text: &str, workload: &str) -> Vec<String> {
    let h = read_str(text, "t.edn", Format::Edn).unwrap();
    lint(&h, workload).into_iter().map(|w| w.kind).collect()
}

#[test]
fn clean_history_has_no_warnings() {
    let h = "{:type :invoke :process 0 :f :write :value 1 :time 1}
{:type :ok :process 0 :f :write :value 1 :time 2}
{:type :invoke :process :nemesis :f :start :value nil :time 3}
{:type :info :process :nemesis :f :start :value [:n1] :time 4}
{:type :invoke :process 1 :f :read :value nil :time 5}
{:type :ok :process 1 :f :read :value 1 :time 6}";
    assert!(kinds(h, "register").is_empty());
}

#[test]
fn each_rule_fires_on_its_case() {
    let fail_read = "{:type :invoke :process 0 :f :write :value 7}
{:type :fail :process 0 :f :write :value 7}
{:type :invoke :process 1 :f :read :value nil}
{:type :ok :process 1 :f :read :value 7}";
    assert_eq!(kinds(fail_read, "register"), ["fail-then-read"]);
    // The same value written twice: the read may have seen the other write.
    let reused = format!("{fail_read}\n{{:type :invoke :process 2 :f :write :value 7}}\n{{:type :ok :process 2 :f :write :value 7}}");
    assert!(kinds(&reused, "register").is_empty());

    let after_info = "{:type :invoke :process 0 :f :write :value 1}
{:type :info :process 0 :f :write :value 1}
{:type :invoke :process 0 :f :read :value nil}
{:type :ok :process 0 :f :read :value 1}";
    assert_eq!(kinds(after_info, "register"), ["op-after-info"]);

    let backwards = "{:type :invoke :process 0 :f :read :time 10}
{:type :ok :process 0 :f :read :value nil :time 5}";
    assert_eq!(kinds(backwards, "register"), ["time-backwards"]);

    let odd_process = "{:type :invoke :process :client-1 :f :read}
{:type :invoke :process 0 :f :read}
{:type :ok :process 0 :f :read :value nil}";
    assert_eq!(kinds(odd_process, "register"), ["non-client-ops"]);

    let dup = "{:type :invoke :process 0 :f :txn :value [[:append 1 5]]}
{:type :ok :process 0 :f :txn :value [[:append 1 5]]}
{:type :invoke :process 1 :f :txn :value [[:append 1 5]]}
{:type :ok :process 1 :f :txn :value [[:append 1 5]]}";
    assert_eq!(kinds(dup, "list-append"), ["duplicate-writes"]);
    assert!(
        kinds(dup, "register").is_empty(),
        "registers may reuse values"
    );

    let fault = "{:type :invoke :process :nemesis :f :start-delay :value nil}
{:type :info :process :nemesis :f :start-delay :value nil :error \"n1: no such file\"}
{:type :invoke :process 0 :f :read}
{:type :ok :process 0 :f :read :value nil}";
    assert_eq!(kinds(fault, "register"), ["fault-failed"]);

    let nothing = "{:type :invoke :process :nemesis :f :start :value nil}
{:type :info :process :nemesis :f :start :value nil}";
    assert_eq!(kinds(nothing, "register"), ["no-client-ops"]);
    assert_eq!(kinds("[]", "list-append"), ["no-client-ops"]);

    let no_process = "{:type :invoke :f :read}
{:type :ok :f :read :value nil}";
    assert_eq!(kinds(no_process, "register"), ["inferred-processes"]);
}

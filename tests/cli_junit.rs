//! CI gating end to end through the binary: `--junit FILE` reports that a real XML parser
//! reads, with the counts and messages of what was checked, written whatever the outcome; and
//! `--fail-on unknown`, which turns an unknown verdict into exit 1 and a JUnit failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn labrys(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labrys"))
        .args(args)
        .output()
        .expect("run labrys")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("labrys-cli-junit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/histories")
        .join(name)
        .display()
        .to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One testcase as read back from the XML.
#[derive(Debug)]
struct Case {
    name: String,
    classname: String,
    time: Option<f64>,
    /// `failure`, `error` or `skipped` with its `type` and `message` attributes and its text;
    /// `None` for a passed case.
    outcome: Option<(String, String, String, String)>,
    properties: Vec<(String, String)>,
    system_out: String,
}

impl Case {
    fn prop(&self, k: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn kind(&self) -> &str {
        self.outcome.as_ref().map_or("passed", |o| o.0.as_str())
    }
    fn message(&self) -> &str {
        self.outcome.as_ref().map_or("", |o| o.2.as_str())
    }
}

/// The JUnit file parsed by roxmltree: the suite's (tests, failures, errors, skipped) as its
/// attributes say (checked against the root's and against the testcases' children), the
/// suite's name, and its testcases.
fn read_junit(path: &Path) -> ((usize, usize, usize, usize), String, Vec<Case>) {
    let xml = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites", "{xml}");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1, "{xml}");
    let suite = suites[0];
    let num = |n: roxmltree::Node, a: &str| -> usize {
        n.attribute(a)
            .unwrap_or_else(|| panic!("no {a}: {xml}"))
            .parse()
            .unwrap()
    };
    let counts = (
        num(suite, "tests"),
        num(suite, "failures"),
        num(suite, "errors"),
        num(suite, "skipped"),
    );
    let root_counts = (
        num(root, "tests"),
        num(root, "failures"),
        num(root, "errors"),
        num(root, "skipped"),
    );
    assert_eq!(counts, root_counts, "{xml}");
    let cases: Vec<Case> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|tc| {
            let outcome = tc
                .children()
                .find(|n| ["failure", "error", "skipped"].contains(&n.tag_name().name()))
                .map(|n| {
                    (
                        n.tag_name().name().to_string(),
                        n.attribute("type").unwrap_or("").to_string(),
                        n.attribute("message").unwrap_or("").to_string(),
                        n.text().unwrap_or("").to_string(),
                    )
                });
            Case {
                name: tc.attribute("name").unwrap().to_string(),
                classname: tc.attribute("classname").unwrap_or("").to_string(),
                time: tc.attribute("time").map(|t| t.parse().unwrap()),
                outcome,
                properties: tc
                    .descendants()
                    .filter(|n| n.has_tag_name("property"))
                    .map(|p| {
                        (
                            p.attribute("name").unwrap().to_string(),
                            p.attribute("value").unwrap().to_string(),
                        )
                    })
                    .collect(),
                system_out: tc
                    .children()
                    .find(|n| n.has_tag_name("system-out"))
                    .and_then(|n| n.text())
                    .unwrap_or("")
                    .to_string(),
            }
        })
        .collect();
    let kinds = |k: &str| cases.iter().filter(|c| c.kind() == k).count();
    assert_eq!(
        (
            cases.len(),
            kinds("failure"),
            kinds("error"),
            kinds("skipped")
        ),
        counts,
        "{xml}"
    );
    (
        counts,
        suite.attribute("name").unwrap_or("").to_string(),
        cases,
    )
}

#[test]
fn check_junit_has_a_testcase_per_file_with_the_verdicts_counts_and_explanations() {
    let dir = scratch("check");
    let bad = dir.join("truncated.jsonl");
    std::fs::write(
        &bad,
        b"{\"type\":\"invoke\",\"process\":0,\n\"value\":[1,2,}\n",
    )
    .unwrap();
    let junit = dir.join("reports/labrys.xml");
    let (valid, stale) = (
        example("cas-register-valid.jsonl"),
        example("cas-register-stale-read.jsonl"),
    );
    let o = labrys(&[
        "check",
        "--workload",
        "cas-register",
        &valid,
        &stale,
        bad.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    // The exit code is what it was without --junit: the worst file's, an error here.
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let (counts, suite, cases) = read_junit(&junit);
    assert_eq!(counts, (3, 1, 1, 0));
    assert_eq!(suite, "labrys check --workload cas-register");
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [valid.as_str(), stale.as_str(), bad.to_str().unwrap()]
    );
    for c in &cases {
        assert_eq!(c.classname, "labrys.check.cas-register");
        assert_eq!(c.prop("workload"), Some("cas-register"));
    }
    assert_eq!(cases[0].kind(), "passed");
    assert_eq!(cases[0].prop("verdict"), Some("valid"));
    assert!(cases[0].time.is_some_and(|t| t >= 0.0));
    assert!(
        cases[0]
            .system_out
            .contains("VALID (cas-register; 200 operations"),
        "{}",
        cases[0].system_out
    );
    // The invalid file: a one-line message naming the anomaly, and its explanation as text.
    let (kind, ty, message, text) = cases[1].outcome.clone().unwrap();
    assert_eq!((kind.as_str(), ty.as_str()), ("failure", "invalid"));
    assert_eq!(
        message,
        "invalid: linearizability (not linearizable or stronger)"
    );
    assert!(
        text.contains("no order can place process 25 `read → 1001`"),
        "{text}"
    );
    assert_eq!(cases[1].prop("verdict"), Some("invalid"));
    assert_eq!(cases[1].prop("exit-code"), Some("1"));
    // The malformed file: an error naming file:line.
    assert_eq!(cases[2].kind(), "error");
    assert!(
        cases[2].message().contains("truncated.jsonl:2:"),
        "{}",
        cases[2].message()
    );
    assert_eq!(cases[2].prop("verdict"), Some("error"));
    // Written whole: nothing but the report in its folder.
    let left: Vec<_> = std::fs::read_dir(junit.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["labrys.xml"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_junit_names_transactional_anomalies_and_the_weakest_model_ruled_out() {
    let dir = scratch("g1c");
    let h = dir.join("g1c.edn");
    std::fs::write(
        &h,
        "{:type :invoke :process 0 :f :txn :value [[:append :x 1] [:r :y nil]]}\n\
         {:type :invoke :process 1 :f :txn :value [[:append :y 1] [:r :x nil]]}\n\
         {:type :ok :process 0 :f :txn :value [[:append :x 1] [:r :y [1]]]}\n\
         {:type :ok :process 1 :f :txn :value [[:append :y 1] [:r :x [1]]]}\n",
    )
    .unwrap();
    let junit = dir.join("j.xml");
    let o = labrys(&[
        "check",
        h.to_str().unwrap(),
        "-w",
        "list-append",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (counts, _, cases) = read_junit(&junit);
    assert_eq!(counts, (1, 1, 0, 0));
    assert_eq!(
        cases[0].message(),
        "invalid: G1c (not read-committed or stronger)"
    );
    let text = &cases[0].outcome.as_ref().unwrap().3;
    assert!(
        text.contains("so T1 < T0 < T1: a transaction precedes itself"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A history too large for `--memory-limit 1M` is unknown: exit 2 and <skipped> by default;
/// exit 1 and <failure type="unknown"> under `--fail-on unknown`.
#[test]
fn fail_on_unknown_makes_an_unknown_verdict_a_failure() {
    let dir = scratch("unknown");
    let list = vec!["7"; 1_500_000].join(",");
    let huge = dir.join("huge-record.jsonl");
    std::fs::write(
        &huge,
        format!(
            "{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}}\n{{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":[{list}]}}\n"
        ),
    )
    .unwrap();
    let junit = dir.join("j.xml");
    let j = junit.to_str().unwrap();
    let h = huge.to_str().unwrap();
    let valid = example("cas-register-valid.jsonl");
    let base = ["check", "-w", "register", "--memory-limit", "1M", h];
    let o = labrys(&[&base[..], &["--junit", j]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let (counts, _, cases) = read_junit(&junit);
    assert_eq!(counts, (1, 0, 0, 1));
    let (_, ty, message, _) = cases[0].outcome.clone().unwrap();
    assert_eq!(ty, "unknown");
    assert!(
        message.starts_with("unknown: ") && message.contains("huge-record.jsonl:2:1:"),
        "{message}"
    );
    assert_eq!(cases[0].prop("verdict"), Some("unknown"));

    let o = labrys(&[&base[..], &["--junit", j, "--fail-on", "unknown"]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (counts, _, cases) = read_junit(&junit);
    assert_eq!(counts, (1, 1, 0, 0));
    let (kind, ty, message, _) = cases[0].outcome.clone().unwrap();
    assert_eq!((kind.as_str(), ty.as_str()), ("failure", "unknown"));
    assert!(message.contains("huge-record.jsonl:2:1:"), "{message}");
    assert_eq!(cases[0].prop("verdict"), Some("unknown"));

    // With a valid file beside it the unknown one still decides; without --junit too.
    let o = labrys(&[&base[..], &[valid.as_str(), "--fail-on", "unknown"]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // --fail-on unknown changes nothing else: valid stays 0, invalid 1, errors 3.
    for (file, code) in [
        (example("cas-register-valid.jsonl"), 0),
        (example("cas-register-stale-read.jsonl"), 1),
        ("/no/such/history.jsonl".to_string(), 3),
    ] {
        let o = labrys(&["check", &file, "-w", "cas-register", "--fail-on", "unknown"]);
        assert_eq!(o.status.code(), Some(code), "{file}: {}", stderr(&o));
    }
    let o = labrys(&["check", &valid, "-w", "cas-register", "--fail-on", "maybe"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("possible values: invalid, unknown"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_report_is_written_when_nothing_could_be_checked_and_its_own_failure_is_an_error() {
    let dir = scratch("refused");
    let junit = dir.join("j.xml");
    let valid = example("cas-register-valid.jsonl");
    // Bad options: every file is an error in the report, saying why.
    let o = labrys(&[
        "check",
        &valid,
        &valid,
        "-w",
        "register",
        "--initial",
        "{not json or edn",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    let (counts, _, cases) = read_junit(&junit);
    assert_eq!(counts, (2, 0, 2, 0));
    assert!(cases[0].message().contains("--initial"), "{:?}", cases[0]);
    // A report that cannot be written (its folder would be under a file) is exit 3, after
    // the verdict was printed.
    let o = labrys(&[
        "check",
        &valid,
        "-w",
        "cas-register",
        "--junit",
        junit.join("x.xml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stdout).contains("VALID"));
    assert!(
        stderr(&o).contains(&format!("JUnit file {}", junit.display())),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `labrys test` writes its report when the test could not run, and when its options were
/// refused; neither needs a cluster.
#[test]
fn test_junit_is_written_for_a_failed_run_and_for_refused_options() {
    let dir = scratch("test");
    let store = dir.join("store");
    let junit = dir.join("j.xml");
    let (s, j) = (store.to_str().unwrap(), junit.to_str().unwrap());
    let o = labrys(&[
        "test",
        "--store",
        s,
        "--nodes",
        "nosuchhost.invalid",
        "--seed",
        "7",
        "--junit",
        j,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let (counts, suite, cases) = read_junit(&junit);
    assert_eq!(counts, (1, 0, 1, 0));
    assert_eq!(suite, "labrys test etcd-register none");
    let c = &cases[0];
    assert_eq!(c.name, "etcd-register none");
    assert_eq!(c.classname, "labrys.etcd.register");
    assert!(c.message().contains("nosuchhost.invalid"), "{c:?}");
    assert_eq!(c.prop("seed"), Some("7"));
    assert_eq!(c.prop("db"), Some("etcd"));
    assert_eq!(c.prop("verdict"), Some("error"));
    let run = PathBuf::from(c.prop("run-dir").expect("the run folder"));
    assert!(run.join("labrys.log").is_file(), "{}", run.display());
    assert!(
        c.system_out
            .contains(&format!("report: {}", run.join("report.html").display())),
        "{}",
        c.system_out
    );

    let o = labrys(&["test", "--store", s, "--node-count", "0", "--junit", j]);
    assert_eq!(o.status.code(), Some(3));
    let (counts, _, cases) = read_junit(&junit);
    assert_eq!(counts, (1, 0, 1, 0));
    assert!(
        cases[0].message().contains("--node-count"),
        "{:?}",
        cases[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_all_junit_has_a_testcase_per_combination() {
    let dir = scratch("test-all");
    let store = dir.join("store");
    let junit = dir.join("j.xml");
    let (s, j) = (store.to_str().unwrap(), junit.to_str().unwrap());
    // etcd runs register (which fails here: no such node) but not bank (skipped).
    let o = labrys(&[
        "test-all",
        "--store",
        s,
        "--nodes",
        "nosuchhost.invalid",
        "--db",
        "etcd",
        "--workload",
        "register,bank",
        "--nemesis",
        "none,partition+kill",
        "--fail-on",
        "unknown",
        "--junit",
        j,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let (counts, suite, cases) = read_junit(&junit);
    assert_eq!(counts, (4, 0, 2, 2));
    assert_eq!(suite, "labrys test-all");
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "etcd-register none",
            "etcd-register partition+kill",
            "etcd-bank none",
            "etcd-bank partition+kill"
        ]
    );
    assert_eq!(cases[1].prop("nemesis"), Some("partition+kill"));
    assert!(cases[2].message().contains("etcd does not run bank"));
    // A plan refused before any run is one error.
    let plan = dir.join("plan.toml");
    std::fs::write(&plan, "[[run]]\ndb = [\"etcd\"]\nworkloads = [\"set\"]\n").unwrap();
    let o = labrys(&[
        "test-all",
        "--store",
        s,
        "--plan",
        plan.to_str().unwrap(),
        "--junit",
        j,
    ]);
    assert_eq!(o.status.code(), Some(3));
    let (counts, _, cases) = read_junit(&junit);
    assert_eq!(counts, (1, 0, 1, 0));
    assert!(
        cases[0].message().contains("unknown field `workloads`"),
        "{:?}",
        cases[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_lint_run_fails_on_the_kinds_of_its_warnings() {
    let dir = scratch("lint");
    let h = dir.join("failread.jsonl");
    std::fs::write(
        &h,
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":7}\n\
         {\"type\":\"fail\",\"process\":0,\"f\":\"write\",\"value\":7}\n\
         {\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"value\":null}\n\
         {\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":7}\n",
    )
    .unwrap();
    let junit = dir.join("j.xml");
    let o = labrys(&[
        "check",
        h.to_str().unwrap(),
        "-w",
        "register",
        "--lint",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let (counts, _, cases) = read_junit(&junit);
    assert_eq!(counts, (1, 1, 0, 0));
    assert_eq!(cases[0].message(), "invalid (lint): fail-then-read");
    assert!(cases[0]
        .outcome
        .as_ref()
        .unwrap()
        .3
        .contains("[fail-then-read] line 4"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_junit_names_each_histories_report() {
    let dir = scratch("junit-report");
    let junit = dir.join("junit.xml");
    let reports = dir.join("reports");
    let o = labrys(&[
        "check",
        "--workload",
        "cas-register",
        &example("cas-register-valid.jsonl"),
        &example("cas-register-stale-read.jsonl"),
        "--report",
        reports.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (counts, _, cases) = read_junit(&junit);
    assert_eq!(counts, (2, 1, 0, 0));
    for (case, name) in cases.iter().zip([
        "cas-register-valid.jsonl.html",
        "cas-register-stale-read.jsonl.html",
    ]) {
        let path = reports.join(name);
        assert!(path.is_file(), "{}", path.display());
        assert_eq!(case.prop("report"), Some(path.to_str().unwrap()));
        assert!(
            case.system_out
                .starts_with(&format!("report: {}", path.display())),
            "{case:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

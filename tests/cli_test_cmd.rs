//! `labrys test` and `labrys analyze` before any cluster runs, end to end through the binary:
//! bad options are refused naming the option that is wrong, before anything is printed or
//! touched; missing packages are installed or asked for (checked with a fake `dpkg-query` and
//! `apt-get`); a run that fails before its workload keeps `store/latest` where it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn labrys(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labrys"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run labrys")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("labrys-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn bad_options_name_the_option_and_nothing_runs() {
    let store = scratch("opts");
    let s = store.to_str().unwrap();
    // (arguments, what the message must say)
    let cases: &[(&[&str], &str)] = &[
        (
            &["--cluster", "a b"],
            "--cluster: invalid cluster name \"a b\"",
        ),
        (&["--node-count", "0"], "--node-count: invalid node count 0"),
        (
            &["--time-limit", "1e30"],
            "--time-limit 1000000000000000000000000000000: too long",
        ),
        (
            &["--time-limit", "-5"],
            "--time-limit -5: must not be negative",
        ),
        (
            &["--nemesis-interval", "-1"],
            "--nemesis-interval -1: must not be negative",
        ),
        (
            &["--cluster", "a;touch /tmp/labrys-x"],
            "only lowercase letters, digits and '-' are allowed",
        ),
        (
            &["--nemesis", "partition,clock"],
            "libfaketime cannot shift it",
        ),
        (&["--db", "mongo"], "--db \"mongo\""),
        (
            &["--isolation", "serializable"],
            "--isolation: etcd: has no transaction isolation levels to choose",
        ),
        (
            &["--isolation", "snapshot"],
            "--isolation: \"snapshot\": expected one of read-committed, repeatable-read, serializable",
        ),
        (
            &["--workload", "bank"],
            "--workload: \"bank\": etcd runs register, list-append, set",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["test", "--store", s];
        all.extend_from_slice(args);
        let o = labrys(&all, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: wanted {want:?} in {err:?}");
        assert!(
            !err.contains("seed"),
            "{args:?}: a refused run prints no seed: {err}"
        );
        assert!(
            std::fs::read_dir(&store).unwrap().next().is_none(),
            "{args:?}: a refused run writes nothing to the store"
        );
    }
    let _ = std::fs::remove_dir_all(&store);
}

/// A fake `dpkg-query` that finds nothing installed and a fake `apt-get` that logs its
/// arguments and fails the way apt does without a network.
fn fake_apt(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let (dpkg, apt, calls) = (
        dir.join("dpkg-query"),
        dir.join("apt-get"),
        dir.join("calls"),
    );
    std::fs::write(
        &dpkg,
        "#!/bin/sh\necho 'unknown ok not-installed'\nexit 1\n",
    )
    .unwrap();
    std::fs::write(
        &apt,
        format!(
            "#!/bin/sh\necho \"$*\" >>'{}'\necho 'E: Failed to fetch (simulated: no network)' >&2\nexit 100\n",
            calls.display()
        ),
    )
    .unwrap();
    for f in [&dpkg, &apt] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (dpkg, apt, calls)
}

#[test]
fn missing_packages_are_installed_or_asked_for_before_any_node_exists() {
    let dir = scratch("apt");
    let (dpkg, apt, calls) = fake_apt(&dir);
    let store = dir.join("store");
    let o = labrys(
        &[
            "test",
            "--store",
            store.to_str().unwrap(),
            "--cluster",
            "cli-apt",
            "--time-limit",
            "1",
        ],
        &[("LABRYS_DPKG_QUERY", &dpkg), ("LABRYS_APT_GET", &apt)],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    // The command that installs them is named either way.
    assert!(
        err.contains("apt-get install -y --no-install-recommends openssh-server"),
        "{err}"
    );
    assert!(err.contains("etcd-server"), "{err}");
    let called = std::fs::read_to_string(&calls).unwrap_or_default();
    if is_root() {
        // As root it says so, then runs one update (which fails here) and stops.
        assert!(
            err.contains("installing missing Debian packages: openssh-server"),
            "{err}"
        );
        assert!(err.contains("simulated: no network"), "{err}");
        assert_eq!(called.lines().count(), 1, "{called}");
        assert!(called.contains("update"), "{called}");
    } else {
        assert!(err.contains("needs root"), "{err}");
        assert!(called.is_empty(), "not root: apt-get is not run: {called}");
    }
    assert!(!err.contains("sshd not listening"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_that_fails_before_its_workload_leaves_latest_alone_and_analyze_says_why() {
    let dir = scratch("latest");
    let store = dir.join("store");
    let s = store.to_str().unwrap();
    let o = labrys(
        &["test", "--store", s, "--nodes", "nosuchhost.invalid"],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        !store.join("latest").exists(),
        "store/latest must not point at a run that recorded nothing"
    );
    // The failed run's folder keeps its log and error.
    let run = std::fs::read_dir(store.join("etcd-register"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("the failed run's folder");
    assert!(run.join("labrys.log").is_file());
    let o = labrys(&["analyze", run.to_str().unwrap()], &[]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("recorded no operations"), "{out}");
    assert!(out.contains("nosuchhost.invalid"), "{out}");
    let o = labrys(&["analyze", "--store", s], &[]);
    assert_eq!(o.status.code(), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_time_limits_are_validated_like_the_tests_ones() {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/histories/cas-register-valid.jsonl")
        .display()
        .to_string();
    for (t, want) in [
        (
            "1e30",
            "--time-limit 1000000000000000000000000000000: too long",
        ),
        ("inf", "too long"),
        ("-1", "must not be negative"),
        ("nan", "expected a number of seconds"),
        ("0", "must be more than 0"),
    ] {
        let o = labrys(
            &[
                "check",
                &ex,
                "--workload",
                "cas-register",
                "--time-limit",
                t,
            ],
            &[],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{t}: {err}");
        assert!(err.contains(want), "{t}: wanted {want:?} in {err:?}");
        assert!(!err.contains("panicked"), "{t}: {err}");
    }
    let o = labrys(
        &[
            "check",
            &ex,
            "--workload",
            "cas-register",
            "--time-limit",
            "30",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Runs labrys with stdout and stderr pipes whose reading ends are closed at once, as in
/// `labrys ... 2>&1 | head -0`: every write fails with EPIPE.
fn with_closed_output(args: &[&str]) -> std::process::ExitStatus {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_labrys"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().unwrap()
}

#[test]
fn a_closed_output_never_panics_a_command() {
    let dir = scratch("epipe");
    let store = dir.join("store");
    // A test that fails at once still ends with its own exit code, not a panic's 101.
    let st = with_closed_output(&[
        "test",
        "--store",
        store.to_str().unwrap(),
        "--nodes",
        "nosuchhost.invalid",
    ]);
    assert_eq!(st.code(), Some(3), "{st:?}");
    let ex = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/histories/cas-register-stale-read.jsonl")
        .display()
        .to_string();
    let st = with_closed_output(&["check", &ex, "--workload", "cas-register"]);
    assert_eq!(st.code(), Some(1), "{st:?}");
    let st = with_closed_output(&["check", &ex, "--workload", "cas-register", "--json"]);
    assert_eq!(st.code(), Some(1), "{st:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_cluster_down_refuses_a_cluster_a_run_holds() {
    let name = "lbit-inuse";
    labrys_cluster::up(name, 1).unwrap();
    let held = labrys_cluster::lock::lock(name).unwrap();
    let o = labrys(&["cluster", "down", "--name", name], &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("in use by another labrys run"), "{err}");
    assert!(labrys_cluster::load(name).unwrap().is_some(), "still up");
    drop(held);
    let o = labrys(&["cluster", "down", "--name", name], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(labrys_cluster::load(name).unwrap().is_none());
}

#[test]
fn test_all_refuses_bad_plans_and_names_before_any_run() {
    let store = scratch("test-all");
    let s = store.to_str().unwrap();
    let plan = store.join("plan.toml");
    std::fs::write(
        &plan,
        "time-limit = 5\n[[run]]\ndb = [\"etcd\"]\nworkloads = [\"set\"]\n",
    )
    .unwrap();
    let p = plan.to_str().unwrap();
    let cases: &[(&[&str], String)] = &[
        (
            &["--plan", p],
            format!("{p}:4:1: unknown field `workloads`"),
        ),
        (
            &["--db", "etcd,mongo"],
            "--db mongo: expected one of".into(),
        ),
        (
            &["--workload", "register,queues"],
            "--workload queues: expected one of".into(),
        ),
        (
            &["--db", "etcd", "--nemesis", "none,explode"],
            "explode".into(),
        ),
        (
            &["--plan", "/nonexistent/plan.toml"],
            "--plan /nonexistent/plan.toml:".into(),
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["test-all", "--store", s];
        all.extend_from_slice(args);
        let o = labrys(&all, &[]);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want.as_str()),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(
        std::fs::read_dir(&store).unwrap().count(),
        1,
        "only the plan"
    );
}

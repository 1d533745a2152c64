//! Integration tests of the nemesis on a real namespace cluster: partitions really block TCP
//! between nodes exactly as their grudge says, healing restores it, process faults reach the
//! process, and `heal_all` leaves every node's firewall and qdiscs as they were. Root only:
//! marked `#[ignore]`, so a plain `cargo test` lists them as ignored; scripts/test runs them as
//! root with `--ignored`.

use labrys_control::Remote;
use labrys_db::{DbError, Process};
use labrys_history::Value;
use labrys_nemesis::rng::Rng;
use labrys_nemesis::topology::{self, Grudge};
use labrys_nemesis::{Nemesis, NemesisConfig, NemesisDb};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A stand-in database: a `sleep` process whose pid is kept in /tmp (private per node).
struct SleepDb;

const PID: &str = "/tmp/sleepdb.pid";

impl Process for SleepDb {
    fn start(&self, n: &dyn Remote) -> Result<(), DbError> {
        n.sh_ok(
            &format!("nohup sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > {PID}"),
            T,
        )
        .map_err(|e| DbError::node(n.node(), "start", e))?;
        Ok(())
    }
    fn kill(&self, n: &dyn Remote) -> Result<(), DbError> {
        n.sh_ok(&format!("kill -9 $(cat {PID})"), T)
            .map_err(|e| DbError::node(n.node(), "kill -9", e))?;
        Ok(())
    }
    fn pause(&self, n: &dyn Remote) -> Result<(), DbError> {
        n.sh_ok(&format!("kill -STOP $(cat {PID})"), T)
            .map_err(|e| DbError::node(n.node(), "kill -STOP", e))?;
        Ok(())
    }
    fn resume(&self, n: &dyn Remote) -> Result<(), DbError> {
        n.sh_ok(&format!("kill -CONT $(cat {PID})"), T)
            .map_err(|e| DbError::node(n.node(), "kill -CONT", e))?;
        Ok(())
    }
}

/// The process state letter of the sleep db on `n` (`S` running/sleeping, `T` stopped), or
/// `None` when it is not running (a zombie waiting to be reaped counts as not running).
fn db_state(n: &dyn Remote) -> Option<char> {
    // Field 3 of /proc/<pid>/stat is the state letter (no `ps` needed on a minimal system).
    let out = n
        .sh(&format!("cut -d' ' -f3 /proc/$(cat {PID})/stat"), T)
        .unwrap();
    out.stdout.trim().chars().next().filter(|c| *c != 'Z')
}

/// The sleep db's state on `n` once `want` holds of it, or the last one seen after 5 s:
/// a signal is delivered when the target is next scheduled, so the state the moment `kill`
/// returns may still be the old one.
fn db_state_when(n: &dyn Remote, want: impl Fn(Option<char>) -> bool) -> Option<char> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let s = db_state(n);
        if want(s) || std::time::Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Which nodes each node can open a TCP connection to (port 22).
fn reachability(nodes: &[Arc<dyn Remote>]) -> BTreeMap<(String, String), bool> {
    let targets: Vec<(String, String)> = nodes
        .iter()
        .map(|n| (n.node().to_string(), n.host().to_string()))
        .collect();
    let mut m = BTreeMap::new();
    std::thread::scope(|s| {
        let hs: Vec<_> = nodes
            .iter()
            .map(|from| {
                let targets = &targets;
                s.spawn(move || {
                    let mut script = String::new();
                    for (name, ip) in targets {
                        if name != from.node() {
                            script.push_str(&format!(
                                "if timeout 1 bash -c '</dev/tcp/{ip}/22' 2>/dev/null; then echo {name} ok; else echo {name} no; fi; "
                            ));
                        }
                    }
                    let out = from.sh_ok(&script, T).unwrap().stdout;
                    out.lines()
                        .map(|l| {
                            let (to, r) = l.split_once(' ').unwrap();
                            ((from.node().to_string(), to.to_string()), r == "ok")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in hs {
            m.extend(h.join().unwrap());
        }
    });
    m
}

/// What a grudge predicts: a TCP connection from a to b needs b to accept a's packets and a
/// to accept b's.
fn expected(g: &Grudge, names: &[String]) -> BTreeMap<(String, String), bool> {
    let drops = |x: &str, y: &str| g.get(x).is_some_and(|d| d.contains(y));
    let mut m = BTreeMap::new();
    for a in names {
        for b in names {
            if a != b {
                m.insert((a.clone(), b.clone()), !drops(b, a) && !drops(a, b));
            }
        }
    }
    m
}

fn firewall(n: &dyn Remote) -> String {
    let fw = n.exec_ok(&["iptables", "-w", "-S"], T).unwrap().stdout;
    let tc = n
        .exec_ok(&["tc", "qdisc", "show", "dev", "eth0"], T)
        .unwrap()
        .stdout;
    format!("{fw}\n{tc}")
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_nemesis_partitions_and_process_faults() {
    let name = "lbit-nem";
    let cluster = labrys_cluster::up(name, 3).unwrap();
    let result = std::panic::catch_unwind(|| run(&cluster));
    labrys_cluster::down(name).unwrap();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn run(cluster: &labrys_cluster::Cluster) {
    let nodes = cluster.connect().unwrap();
    let names: Vec<String> = nodes.iter().map(|n| n.node().to_string()).collect();
    let before: Vec<String> = nodes.iter().map(|n| firewall(n.as_ref())).collect();
    let all_ok = expected(&Grudge::new(), &names);
    assert_eq!(reachability(&nodes), all_ok);

    let sleep = Arc::new(SleepDb);
    for n in &nodes {
        sleep.start(n.as_ref()).unwrap();
    }
    let db = NemesisDb::process_only("sleep", sleep);
    let cfg = NemesisConfig {
        faults: vec!["partition".into(), "kill".into(), "pause".into()],
        seed: 1,
    };
    let mut nem = Nemesis::new(cfg, nodes.clone(), db).unwrap();
    // Nothing to heal yet: reset must leave the nodes as they are.
    nem.reset().unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| firewall(n.as_ref()))
            .collect::<Vec<_>>(),
        before
    );

    // Each partition shape blocks exactly what its grudge says; stop-partition heals it.
    let mut rng = Rng::new(3);
    for value in [
        topology::components_value(&topology::random_node(&names, &mut rng)),
        topology::grudge_value(&topology::majorities_ring(&names, &mut rng)),
        topology::grudge_value(&topology::bridge(&names, &mut rng)),
    ] {
        let g = topology::grudge_of_value(&value).unwrap();
        let recorded = nem.invoke("start-partition", &value).unwrap();
        assert_eq!(recorded, value);
        let got = reachability(&nodes);
        assert_eq!(got, expected(&g, &names), "partition {value}");
        assert!(got.values().any(|ok| !ok), "{value} blocked nothing");
        nem.invoke("stop-partition", &Value::Nil).unwrap();
        assert_eq!(reachability(&nodes), all_ok, "after healing {value}");
    }

    // A partition replaces the previous one rather than adding to it.
    let first = topology::components_value(&[vec!["n1".into()], vec!["n2".into(), "n3".into()]]);
    let second = topology::components_value(&[vec!["n3".into()], vec!["n1".into(), "n2".into()]]);
    nem.invoke("start-partition", &first).unwrap();
    nem.invoke("start-partition", &second).unwrap();
    let g = topology::grudge_of_value(&second).unwrap();
    assert_eq!(reachability(&nodes), expected(&g, &names));
    nem.invoke("stop-partition", &Value::Nil).unwrap();
    assert_eq!(reachability(&nodes), all_ok);

    // Process faults reach the process; stops undo them.
    let n1 = Value::List(vec![Value::str("n1")]);
    nem.invoke("start-pause", &n1).unwrap();
    assert_eq!(
        db_state_when(nodes[0].as_ref(), |s| s == Some('T')),
        Some('T')
    );
    nem.invoke("stop-pause", &Value::Nil).unwrap();
    assert_ne!(
        db_state_when(nodes[0].as_ref(), |s| s != Some('T')),
        Some('T')
    );
    nem.invoke("start-kill", &n1).unwrap();
    assert_eq!(db_state_when(nodes[0].as_ref(), |s| s.is_none()), None);
    nem.invoke("stop-kill", &Value::Nil).unwrap();
    assert!(db_state_when(nodes[0].as_ref(), |s| s.is_some()).is_some());

    // Loss and rate install their rules, and SSH keeps working through them.
    let loss = Value::Map(vec![
        (Value::str("nodes"), Value::List(vec![Value::str("n2")])),
        (Value::str("percent"), Value::Int(20)),
    ]);
    nem.invoke("start-loss", &loss).unwrap();
    let fw = nodes[1]
        .exec_ok(&["iptables", "-w", "-S", "LABRYS-LOSS"], T)
        .unwrap()
        .stdout;
    assert!(fw.contains("--probability 0.2"), "{fw}");
    let rate = Value::Map(vec![
        (Value::str("nodes"), Value::List(vec![Value::str("n3")])),
        (Value::str("kbit"), Value::Int(256)),
    ]);
    nem.invoke("start-rate", &rate).unwrap();
    let q = nodes[2]
        .exec_ok(&["tc", "qdisc", "show", "dev", "eth0"], T)
        .unwrap()
        .stdout;
    assert!(q.contains("tbf") && q.contains("256Kbit"), "{q}");

    // A partition, a pause and a kill left active: heal_all undoes everything, twice over.
    nem.invoke(
        "start-partition",
        &topology::components_value(&[vec!["n1".into()], vec!["n2".into(), "n3".into()]]),
    )
    .unwrap();
    nem.invoke("start-pause", &Value::List(vec![Value::str("n2")]))
        .unwrap();
    nem.invoke("start-kill", &Value::List(vec![Value::str("n3")]))
        .unwrap();
    nem.heal_all().unwrap();
    nem.heal_all().unwrap();
    assert_eq!(reachability(&nodes), all_ok);
    assert_ne!(
        db_state_when(nodes[1].as_ref(), |s| s != Some('T')),
        Some('T')
    );
    assert!(db_state_when(nodes[2].as_ref(), |s| s.is_some()).is_some());
    let after: Vec<String> = nodes.iter().map(|n| firewall(n.as_ref())).collect();
    assert_eq!(after, before);
}

/// [`SleepDb`] as a database whose server honours libfaketime (as C servers do).
fn faketime_db() -> NemesisDb {
    NemesisDb {
        faketime: Ok(()),
        ..NemesisDb::process_only("sleep", Arc::new(SleepDb))
    }
}

/// Seconds between the clock a faketime-preloaded C program sees on `n` and the real one.
fn faked_offset(n: &dyn Remote) -> i64 {
    let env: Vec<String> = labrys_nemesis::clock::faketime_env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let script = format!(
        "a=$(date +%s); b=$(env {} date +%s); echo $((b - a))",
        env.join(" ")
    );
    n.sh_ok(&script, T).unwrap().stdout.trim().parse().unwrap()
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_nemesis_clock_faults() {
    let name = "lbit-clk";
    let cluster = labrys_cluster::up(name, 2).unwrap();
    let result = std::panic::catch_unwind(|| {
        let nodes = cluster.connect().unwrap();
        let cfg = NemesisConfig {
            faults: vec!["clock".into()],
            seed: 2,
        };
        let mut nem = Nemesis::new(cfg, nodes.clone(), faketime_db()).unwrap();
        let near = |got: i64, want: i64| (got - want).abs() <= 2;
        let bump = Value::Map(vec![
            (Value::str("nodes"), Value::List(vec![Value::str("n1")])),
            (Value::str("bump-s"), Value::Int(-3600)),
        ]);
        nem.invoke("start-clock", &bump).unwrap();
        let got = faked_offset(nodes[0].as_ref());
        assert!(near(got, -3600), "n1 offset {got}");
        assert!(nodes[1]
            .exec(&["test", "-e", labrys_nemesis::clock::OFFSET_FILE], T)
            .map(|o| !o.success())
            .unwrap());
        nem.invoke("stop-clock", &Value::Nil).unwrap();
        assert!(near(faked_offset(nodes[0].as_ref()), 0));

        // A strobe flips between the offset and zero until stopped.
        let strobe = Value::Map(vec![
            (Value::str("nodes"), Value::List(vec![Value::str("n2")])),
            (Value::str("strobe-s"), Value::Int(600)),
            (Value::str("period-ms"), Value::Int(100)),
        ]);
        nem.invoke("start-clock", &strobe).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let o = faked_offset(nodes[1].as_ref());
            seen.insert(if near(o, 600) {
                600
            } else if near(o, 0) {
                0
            } else {
                o
            });
            if seen.len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(37));
        }
        assert_eq!(seen, [0, 600].into_iter().collect(), "strobe samples");
        nem.heal_all().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..5 {
            assert!(
                near(faked_offset(nodes[1].as_ref()), 0),
                "strobe still running"
            );
            std::thread::sleep(Duration::from_millis(60));
        }
    });
    labrys_cluster::down(name).unwrap();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

/// Helper run as the delayer on a node (the nemesis's delayer command points here).
#[test]
#[ignore = "a helper other tests run as a child process"]
fn helper_delayer() {
    if std::env::var_os(labrys_nemesis::delay::ENV_QUEUE).is_none() {
        return;
    }
    labrys_nemesis::delay::run_from_env().unwrap();
}

/// Milliseconds `from` needs to be refused by `to` on a closed port (9: SSH's port is spared
/// by the delay), median of 5: one round trip, whose SYN the delay holds.
fn connect_ms(from: &dyn Remote, to: &dyn Remote) -> i64 {
    let script = format!(
        "for i in 1 2 3 4 5; do a=$(date +%s%N); timeout 5 bash -c '</dev/tcp/{}/9' 2>/dev/null; b=$(date +%s%N); echo $(( (b - a) / 1000000 )); done",
        to.host()
    );
    let out = from.sh_ok(&script, T).unwrap().stdout;
    let mut v: Vec<i64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
#[ignore = "needs root, namespaces, sshd and the databases: scripts/test runs it as root with --ignored"]
fn integration_nemesis_delay() {
    let name = "lbit-delay";
    let cluster = labrys_cluster::up(name, 2).unwrap();
    let result = std::panic::catch_unwind(|| {
        let nodes = cluster.connect().unwrap();
        let before: Vec<String> = nodes.iter().map(|n| firewall(n.as_ref())).collect();
        let cfg = NemesisConfig {
            faults: vec!["delay".into()],
            seed: 4,
        };
        let mut nem = Nemesis::new(
            cfg,
            nodes.clone(),
            NemesisDb::process_only("sleep", Arc::new(SleepDb)),
        )
        .unwrap();
        let exe = std::env::current_exe().unwrap().display().to_string();
        nem.set_delayer_command(vec![
            exe,
            "--exact".into(),
            "--include-ignored".into(),
            "helper_delayer".into(),
            "--test-threads=1".into(),
        ]);
        let base = connect_ms(nodes[1].as_ref(), nodes[0].as_ref());
        assert!(base < 100, "undelayed connect takes {base} ms");
        let v = Value::Map(vec![
            (Value::str("nodes"), Value::List(vec![Value::str("n1")])),
            (Value::str("ms"), Value::Int(300)),
        ]);
        nem.invoke("start-delay", &v).unwrap();
        // The SYN reaching n1 waits 300 ms; the RST reaching n2 is not delayed.
        let delayed = connect_ms(nodes[1].as_ref(), nodes[0].as_ref());
        assert!(
            (300..1500).contains(&delayed),
            "delayed connect takes {delayed} ms"
        );
        // SSH to the delayed node is spared.
        let t = std::time::Instant::now();
        nodes[0].exec_ok(&["true"], T).unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(300),
            "ssh delayed: {:?}",
            t.elapsed()
        );
        nem.invoke("stop-delay", &Value::Nil).unwrap();
        let after = connect_ms(nodes[1].as_ref(), nodes[0].as_ref());
        assert!(after < 100, "connect after healing takes {after} ms");
        nem.invoke("start-delay", &v).unwrap();
        nem.heal_all().unwrap();
        assert!(connect_ms(nodes[1].as_ref(), nodes[0].as_ref()) < 100);
        let pid = nodes[0].sh("test -e /opt/labrys/delayer.pid", T).unwrap();
        assert!(!pid.success(), "delayer pid file left behind");
        let now: Vec<String> = nodes.iter().map(|n| firewall(n.as_ref())).collect();
        assert_eq!(now, before);
    });
    labrys_cluster::down(name).unwrap();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

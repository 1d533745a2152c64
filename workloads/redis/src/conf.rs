//! Pure parts of running Redis: the two configuration files, and parsing what the servers
//! report (`INFO replication`, `SENTINEL master`). No I/O here, so all of it is unit-tested.
//!
//! Settings and why:
//! - `appendonly yes` + `appendfsync always`: a killed server restarts with every write it
//!   acknowledged (Redis's replication docs warn that a primary restarting empty makes its
//!   replicas empty too); `save ""` turns off the RDB snapshots, which add nothing here;
//! - `bind 0.0.0.0`, `protected-mode no`: each node is its own network namespace or host,
//!   and clients, replicas and sentinels come from the other nodes;
//! - `proc-title-template "{title} {config-file} {listen-addr} {server-mode}"`: Redis rewrites
//!   its command line; this keeps the config file's path on it, which is how `wipe` tells
//!   this node's orphaned servers from any other `redis-server` (see `labrys_control::daemon`);
//! - sentinels: `down-after-milliseconds` 1500 and `failover-timeout` 6000, so that a primary
//!   that stops answering is replaced within a few seconds (about 3.5 s here), and a failover
//!   that did not complete is retried after 12 s (twice the timeout), well within a short test;
//!   quorum is a majority of the nodes.

/// The master name the sentinels monitor.
pub const MASTER_NAME: &str = "labrys";

/// Sentinel timings (milliseconds).
pub const DOWN_AFTER_MS: u64 = 1500;
pub const FAILOVER_TIMEOUT_MS: u64 = 6000;

/// `redis.conf` for one server. `primary` is `Some((host, port))` for a node that starts as a
/// replica of it. `conf_path` is where the file itself lives (it goes on the command line).
pub fn server_conf(data_dir: &str, port: u16, primary: Option<(&str, u16)>) -> String {
    let mut s = format!(
        "# written by labrys; Sentinel rewrites it when it reconfigures this server\n\
         bind 0.0.0.0\n\
         protected-mode no\n\
         port {port}\n\
         daemonize no\n\
         logfile \"\"\n\
         dir {data}\n\
         save \"\"\n\
         appendonly yes\n\
         appendfsync always\n\
         replica-serve-stale-data yes\n\
         repl-diskless-sync yes\n\
         repl-diskless-sync-delay 0\n\
         set-proc-title yes\n\
         proc-title-template \"{{title}} {{config-file}} {{listen-addr}} {{server-mode}}\"\n",
        data = conf_quote(data_dir),
    );
    if let Some((host, p)) = primary {
        s.push_str(&format!("replicaof {host} {p}\n"));
    }
    s
}

/// `sentinel.conf` for one sentinel, monitoring the first primary with `quorum`.
pub fn sentinel_conf(dir: &str, port: u16, primary: (&str, u16), quorum: usize) -> String {
    let (host, p) = primary;
    format!(
        "# written by labrys; the sentinel rewrites it with what it learns\n\
         bind 0.0.0.0\n\
         protected-mode no\n\
         port {port}\n\
         daemonize no\n\
         logfile \"\"\n\
         dir {dir}\n\
         set-proc-title yes\n\
         proc-title-template \"{{title}} {{config-file}} {{listen-addr}} {{server-mode}}\"\n\
         sentinel resolve-hostnames yes\n\
         sentinel monitor {m} {host} {p} {quorum}\n\
         sentinel down-after-milliseconds {m} {DOWN_AFTER_MS}\n\
         sentinel failover-timeout {m} {FAILOVER_TIMEOUT_MS}\n\
         sentinel parallel-syncs {m} 4\n",
        dir = conf_quote(dir),
        m = MASTER_NAME,
    )
}

/// A quorum of `n` sentinels: a majority.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// A value in double quotes, as Redis's config parser reads it.
fn conf_quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c)
            }
            _ => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The `key:value` lines of an `INFO` section.
pub fn info_fields(info: &str) -> Vec<(&str, &str)> {
    info.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .collect()
}

/// What `INFO replication` says of one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replication {
    /// A primary and the replicas it sees online (`ip:port`).
    Primary { online: Vec<String> },
    /// A replica of `primary` (`host:port`), whose link to it is up or not.
    Replica { primary: String, link_up: bool },
}

/// Parses `INFO replication`.
pub fn parse_replication(info: &str) -> Result<Replication, String> {
    let f = info_fields(info);
    let get = |k: &str| f.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    match get("role") {
        Some("master") => {
            let mut online = Vec::new();
            for (k, v) in &f {
                if !(k.starts_with("slave") && k[5..].bytes().all(|b| b.is_ascii_digit())) {
                    continue;
                }
                let kv: Vec<(&str, &str)> =
                    v.split(',').filter_map(|p| p.split_once('=')).collect();
                let field = |name: &str| kv.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
                if field("state") == Some("online") {
                    if let (Some(ip), Some(port)) = (field("ip"), field("port")) {
                        online.push(format!("{ip}:{port}"));
                    }
                }
            }
            Ok(Replication::Primary { online })
        }
        Some("slave") => Ok(Replication::Replica {
            primary: format!(
                "{}:{}",
                get("master_host").unwrap_or("?"),
                get("master_port").unwrap_or("?")
            ),
            link_up: get("master_link_status") == Some("up"),
        }),
        other => Err(format!("INFO replication has no known role: {other:?}")),
    }
}

/// What one sentinel says of the monitored primary (`SENTINEL master <name>`, a flat list of
/// field names and values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelView {
    /// `ip:port` of the primary it follows.
    pub primary: String,
    /// Its flags, e.g. `master` or `s_down,master,failover_in_progress`.
    pub flags: String,
    pub other_sentinels: usize,
}

impl SentinelView {
    /// The primary is up and not being failed over, in this sentinel's view.
    pub fn settled(&self) -> bool {
        self.flags == "master"
    }
}

/// Parses `SENTINEL master <name>`'s field/value list.
pub fn parse_sentinel_master(fields: &[String]) -> Result<SentinelView, String> {
    let get = |k: &str| {
        fields
            .chunks(2)
            .find(|c| c.len() == 2 && c[0] == k)
            .map(|c| c[1].as_str())
            .ok_or_else(|| format!("SENTINEL master reply has no {k:?}"))
    };
    Ok(SentinelView {
        primary: format!("{}:{}", get("ip")?, get("port")?),
        flags: get("flags")?.to_string(),
        other_sentinels: get("num-other-sentinels")?
            .parse()
            .map_err(|e| format!("num-other-sentinels: {e}"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_conf_makes_replicas_of_the_first_primary_and_keeps_writes() {
        let p = server_conf("/opt/labrys-redis/server/data", 6379, None);
        assert!(!p.contains("replicaof"), "{p}");
        assert!(p.contains("appendonly yes\nappendfsync always\n"), "{p}");
        assert!(p.contains("dir \"/opt/labrys-redis/server/data\"\n"), "{p}");
        assert!(p.contains("{config-file}"), "{p}");
        let r = server_conf("/d", 6379, Some(("10.1.0.2", 6379)));
        assert!(r.ends_with("replicaof 10.1.0.2 6379\n"), "{r}");
    }

    #[test]
    fn sentinel_conf_monitors_with_a_majority_quorum() {
        assert_eq!((quorum(1), quorum(3), quorum(4), quorum(5)), (1, 2, 3, 3));
        let s = sentinel_conf("/s", 26379, ("10.1.0.2", 6379), quorum(5));
        assert!(
            s.contains("sentinel monitor labrys 10.1.0.2 6379 3\n"),
            "{s}"
        );
        assert!(
            s.contains("sentinel down-after-milliseconds labrys 1500\n"),
            "{s}"
        );
        assert!(s.contains("sentinel failover-timeout labrys 6000\n"), "{s}");
        assert!(s.contains("port 26379\n"), "{s}");
    }

    #[test]
    fn paths_with_quotes_are_escaped() {
        assert_eq!(conf_quote(r#"/tmp/a "b"\c"#), r#""/tmp/a \"b\"\\c""#);
    }

    #[test]
    fn replication_info_of_a_primary_and_a_replica() {
        let p = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
                 slave0:ip=10.1.0.3,port=6379,state=online,offset=42,lag=0\r\n\
                 slave1:ip=10.1.0.4,port=6379,state=wait_bgsave,offset=0,lag=0\r\n\
                 master_failover_state:no-failover\r\nslave_read_repl_offset:1\r\n";
        assert_eq!(
            parse_replication(p).unwrap(),
            Replication::Primary {
                online: vec!["10.1.0.3:6379".into()]
            }
        );
        let r = "role:slave\r\nmaster_host:10.1.0.2\r\nmaster_port:6379\r\n\
                 master_link_status:down\r\n";
        assert_eq!(
            parse_replication(r).unwrap(),
            Replication::Replica {
                primary: "10.1.0.2:6379".into(),
                link_up: false
            }
        );
        assert!(parse_replication("# Replication\r\n").is_err());
    }

    #[test]
    fn sentinel_master_reply() {
        let f: Vec<String> = [
            "name",
            "labrys",
            "ip",
            "10.1.0.2",
            "port",
            "6379",
            "flags",
            "master",
            "num-other-sentinels",
            "4",
            "quorum",
            "3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let v = parse_sentinel_master(&f).unwrap();
        assert_eq!(v.primary, "10.1.0.2:6379");
        assert_eq!(v.other_sentinels, 4);
        assert!(v.settled());
        let mut down = f.clone();
        down[7] = "s_down,master".into();
        assert!(!parse_sentinel_master(&down).unwrap().settled());
        assert!(parse_sentinel_master(&f[..4]).is_err());
    }
}

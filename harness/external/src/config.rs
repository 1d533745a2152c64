//! A database described in a file: `labrys test --config mydb.toml`.
//!
//! The file names the database, the workloads its client answers, the lifecycle commands run
//! on each node over SSH, and the client command (see `docs/client-protocol.md`):
//!
//! ```toml
//! name = "mykv"
//! workloads = ["register"]
//!
//! [db]
//! install = "test -x /usr/local/bin/mykv"
//! start = "/usr/local/bin/mykv --data {data_dir} --listen {address}:7000 --join {peers}"
//! ready = "curl -sf http://{address}:7000/health"
//! version = "/usr/local/bin/mykv --version"
//! log_files = ["{dir}/mykv.log"]
//!
//! [client]
//! command = "python3 client.py"
//! env = { MYKV_PORT = "7000" }
//! ```
//!
//! Commands are templates: `{node}` (`n1`), `{address}` (its IP), `{index}` (from 0),
//! `{nodes}` and `{addresses}` (every node, comma-separated), `{members}` (`n1=10.0.0.1,...`),
//! `{peers}` (the other nodes' addresses), `{dir}` (the node's labrys directory for this
//! database) and `{data_dir}`. A placeholder is `{lowercase_name}` not preceded by `$`, so
//! the shell's own braces (`{ a; b; }`, `${VAR}`) pass through. A placeholder the file misspells is an error when the file is read, naming the key, not a
//! command that fails on every node mid-test. Unknown keys are errors too, at their line.

use serde::Deserialize;
use std::collections::BTreeMap;

/// What is wrong with a test file: where, and what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{at}: {message}")]
pub struct ConfigError {
    /// `file:line:col`, or `file` when the place is the whole file, or `file: key`.
    pub at: String,
    pub message: String,
}

/// The placeholders a command may use.
pub const PLACEHOLDERS: [&str; 9] = [
    "node",
    "address",
    "index",
    "nodes",
    "addresses",
    "members",
    "peers",
    "dir",
    "data_dir",
];

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The database's name, as `--db` and the run folder give it: lowercase letters, digits
    /// and `-`.
    pub name: String,
    /// Workloads the client answers (names from the runner's table of workloads); the first
    /// is the default.
    pub workloads: Vec<String>,
    pub db: Lifecycle,
    pub client: ClientSpec,
}

/// Commands run on each node (through `sh -c`, over SSH as root).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Debian packages the server needs, installed by labrys's one rule for packages
    /// (announced, once, without starting any service they bring) before `install` runs.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Files next to the test file (paths relative to its folder) copied into `{dir}` on
    /// each node, under their own names and with their permission bits, before `install`
    /// runs: the server's program or script, its configuration. Nodes of a local cluster do
    /// not see this machine's `/tmp` or `/root`.
    #[serde(default)]
    pub upload: Vec<String>,
    /// Makes the server runnable (builds, copies, configures); idempotent. Optional.
    pub install: Option<String>,
    /// Starts the server in the foreground: a shell command line, run in `{dir}` as a daemon
    /// labrys owns (its own process group, pid file, output to `{dir}/server.log`), so kill,
    /// pause and restart work without more commands. `{data_dir}` exists when it runs.
    pub start: String,
    /// Exits 0 once the node serves clients; polled after every start. Optional (then the
    /// server is taken as ready once it runs).
    pub ready: Option<String>,
    /// Prints the server's version. Optional.
    pub version: Option<String>,
    /// Stops the server gracefully (it must also succeed when nothing runs). Run before every
    /// wipe; labrys then kills whatever of the server is left. Optional.
    pub stop: Option<String>,
    /// Removes the node's data, after labrys has stopped the server. Default: remove
    /// `{data_dir}`.
    pub wipe: Option<String>,
    /// Kills the server for the `kill` fault. Default: SIGKILL to the process group labrys
    /// started. Restarts are always `start` again.
    pub kill: Option<String>,
    /// Pauses the server for the `pause` fault (given with `resume`). Default: SIGSTOP to
    /// the process group labrys started.
    pub pause: Option<String>,
    /// Resumes a paused server (given with `pause`). Default: SIGCONT.
    pub resume: Option<String>,
    /// Prints the names of the nodes that are primaries now (one per line), for faults aimed
    /// at primaries. Optional: without it those faults are refused.
    pub primaries: Option<String>,
    /// Log files to keep in the run folder: paths using `{dir}` or `{data_dir}`, which may be
    /// shell globs (`{data_dir}/logs/*.log`: every file matching, under its own name).
    /// `{dir}/server.log` (the start command's output) is always kept.
    #[serde(default)]
    pub log_files: Vec<String>,
    /// The server's process name, as `/proc/<pid>/comm` shows it: the server is up while a
    /// process of that name runs in the start command's process group. Default: while any
    /// process of the group runs.
    pub process: Option<String>,
}

/// The client every worker runs (docs/client-protocol.md).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Run through `sh -c` in the test file's folder.
    pub command: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Splits a template into literal text and placeholders. A placeholder is `{name}` with a
/// lowercase name (`a`-`z`, `_`), not preceded by `$`: so shell braces (`{ a; b; }`,
/// `${VAR}`, `$(..)`) stay as they are. `{{name}}` is the literal text `{name}` (a Python
/// f-string in an install script, say).
fn pieces(template: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let bytes = template.as_bytes();
    let mut lit = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' && bytes.get(i + 1) == Some(&b'{') {
            let name_len = bytes[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_lowercase() || **c == b'_')
                .count();
            let close = i + 2 + name_len;
            if name_len > 0 && bytes.get(close..close + 2) == Some(b"}}") {
                out.push((false, &template[lit..i]));
                out.push((false, &template[i + 1..close + 1]));
                i = close + 2;
                lit = i;
                continue;
            }
        }
        if bytes[i] == b'{' && (i == 0 || bytes[i - 1] != b'$') {
            let name_len = bytes[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_lowercase() || **c == b'_')
                .count();
            let close = i + 1 + name_len;
            if name_len > 0 && bytes.get(close) == Some(&b'}') {
                out.push((false, &template[lit..i]));
                out.push((true, &template[i + 1..close]));
                i = close + 1;
                lit = i;
                continue;
            }
        }
        i += 1;
    }
    out.push((false, &template[lit..]));
    out
}

/// The placeholder names in a template.
fn placeholders(template: &str) -> Vec<&str> {
    pieces(template)
        .into_iter()
        .filter(|(p, _)| *p)
        .map(|(_, n)| n)
        .collect()
}

/// Fills a command template; every placeholder must be one of [`PLACEHOLDERS`] (checked when
/// the file is read, so this only fails on a template that was never validated).
pub fn render(template: &str, vars: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    for (placeholder, text) in pieces(template) {
        if placeholder {
            let v = vars
                .get(text)
                .ok_or_else(|| format!("unknown placeholder {{{text}}} in {template:?}"))?;
            out.push_str(v);
        } else {
            out.push_str(text);
        }
    }
    Ok(out)
}

impl ConfigError {
    /// An error about `key` of the test file `file` (text `text`): at the key's line when
    /// [`locate`] finds it, else at the file.
    fn at_key(text: &str, file: &str, key: &str, message: String) -> ConfigError {
        ConfigError {
            at: match locate(text, key) {
                Some((l, c)) => format!("{file}:{l}:{c}: {key}"),
                None => format!("{file}: {key}"),
            },
            message,
        }
    }
}

/// Where `key` (`name`, `db.start`, `db.log_files[2]`) is set in `text`, as line and column
/// of its name: the line `start = ...` inside `[db]` (or `db.start = ...` at the top). A
/// best effort for error messages; `None` when the file sets it some other way (an inline
/// table).
fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let key = key.split('[').next()?;
    let (table, name) = match key.split_once('.') {
        Some((t, n)) => (t, n),
        None => ("", key),
    };
    let mut current = "";
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(h) = t.strip_prefix('[') {
            current = h.split(']').next().unwrap_or("").trim();
            continue;
        }
        let Some((lhs, _)) = t.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_matches('"');
        let dotted = !table.is_empty() && current.is_empty() && lhs == key;
        if (current == table && lhs == name) || dotted {
            return Some((i + 1, line.len() - t.len() + 1));
        }
    }
    None
}

impl TestFile {
    /// Reads and checks a test file's text; `file` names it in errors, `workloads` are the
    /// workload names labrys runs (the runner's table).
    pub fn parse(text: &str, file: &str, workloads: &[&str]) -> Result<TestFile, ConfigError> {
        let t: TestFile = toml::from_str(text).map_err(|e| {
            let at = match e.span() {
                Some(s) => {
                    let (l, c) = labrys_history::read::line_col(text, s.start);
                    format!("{file}:{l}:{c}")
                }
                None => file.to_string(),
            };
            ConfigError {
                at,
                message: e.message().trim().to_string(),
            }
        })?;
        let err = |key: &str, message: String| ConfigError::at_key(text, file, key, message);
        if t.name.is_empty()
            || !t
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(err(
                "name",
                format!(
                    "{:?}: expected lowercase letters, digits and '-' (it names run folders)",
                    t.name
                ),
            ));
        }
        if t.workloads.is_empty() {
            return Err(err(
                "workloads",
                format!("empty; expected some of {}", workloads.join(", ")),
            ));
        }
        for w in &t.workloads {
            if !workloads.contains(&w.as_str()) {
                return Err(err(
                    "workloads",
                    format!(
                        "{w:?} is not a workload; expected one of {}",
                        workloads.join(", ")
                    ),
                ));
            }
        }
        for (i, p) in t.db.packages.iter().enumerate() {
            let ok = p.len() > 1
                && p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
            if !ok {
                return Err(err(
                    &format!("db.packages[{i}]"),
                    format!("{p:?} is not a Debian package name"),
                ));
            }
        }
        for (i, u) in t.db.upload.iter().enumerate() {
            let p = std::path::Path::new(u);
            if u.is_empty() || p.file_name().is_none() {
                return Err(err(
                    &format!("db.upload[{i}]"),
                    format!("{u:?}: expected a file's path, relative to the test file's folder"),
                ));
            }
        }
        if t.db.pause.is_some() != t.db.resume.is_some() {
            return Err(err(
                if t.db.pause.is_some() {
                    "db.pause"
                } else {
                    "db.resume"
                },
                "pause and resume come together: give both, or neither for SIGSTOP/SIGCONT".into(),
            ));
        }
        let mut commands: Vec<(String, &str)> = vec![("db.start".into(), &t.db.start)];
        for (k, v) in [
            ("db.install", &t.db.install),
            ("db.ready", &t.db.ready),
            ("db.version", &t.db.version),
            ("db.stop", &t.db.stop),
            ("db.wipe", &t.db.wipe),
            ("db.kill", &t.db.kill),
            ("db.pause", &t.db.pause),
            ("db.resume", &t.db.resume),
            ("db.primaries", &t.db.primaries),
        ] {
            if let Some(v) = v {
                commands.push((k.into(), v));
            }
        }
        for (i, g) in t.db.log_files.iter().enumerate() {
            commands.push((format!("db.log_files[{i}]"), g));
        }
        for (key, template) in commands {
            if template.trim().is_empty() {
                return Err(err(&key, "empty; expected a shell command".into()));
            }
            for p in placeholders(template) {
                if key.starts_with("db.log_files") && p != "dir" && p != "data_dir" {
                    return Err(err(
                        &key,
                        format!("{{{p}}}: a log file's path may use only {{dir}} and {{data_dir}}"),
                    ));
                }
                if !PLACEHOLDERS.contains(&p) {
                    return Err(err(
                        &key,
                        format!(
                            "unknown placeholder {{{p}}}; expected one of {} (or {{{{{p}}}}} for \
                             the literal text {{{p}}})",
                            PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
                        ),
                    ));
                }
            }
        }
        if t.client.command.trim().is_empty() {
            return Err(err(
                "client.command",
                "empty; expected a shell command".into(),
            ));
        }
        Ok(t)
    }

    /// Reads a test file from disk (see [`TestFile::parse`]).
    pub fn read(path: &std::path::Path, workloads: &[&str]) -> Result<TestFile, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            at: file.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        let t = TestFile::parse(&text, &file, workloads)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        for (i, u) in t.db.upload.iter().enumerate() {
            if !base.join(u).is_file() {
                return Err(ConfigError::at_key(
                    &text,
                    &file,
                    &format!("db.upload[{i}]"),
                    format!(
                        "{u:?}: no such file in {} (paths are relative to the test file's folder)",
                        base.display()
                    ),
                ));
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["register", "set", "queue"];

    const GOOD: &str = r#"
name = "mykv"
workloads = ["register", "set"]

[db]
start = "mykv --data {data_dir} --listen {address}:7000 --join {peers}"
ready = "curl -sf http://{address}:7000/health"
log_files = ["{dir}/mykv.log"]

[client]
command = "python3 client.py"
env = { MYKV_PORT = "7000" }
"#;

    #[test]
    fn a_good_file_reads_and_its_templates_fill() {
        let t = TestFile::parse(GOOD, "mykv.toml", KNOWN).unwrap();
        assert_eq!(t.name, "mykv");
        assert_eq!(t.workloads, ["register", "set"]);
        assert_eq!(t.client.env["MYKV_PORT"], "7000");
        let vars: BTreeMap<&str, String> = [
            ("data_dir", "/opt/labrys-mykv/data"),
            ("address", "10.0.0.1"),
            ("peers", "10.0.0.2,10.0.0.3"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        assert_eq!(
            render(&t.db.start, &vars).unwrap(),
            "mykv --data /opt/labrys-mykv/data --listen 10.0.0.1:7000 --join 10.0.0.2,10.0.0.3"
        );
    }

    #[test]
    fn shell_braces_are_not_placeholders() {
        let vars: BTreeMap<&str, String> = BTreeMap::from([("node", "n1".to_string())]);
        assert_eq!(
            render("x || { echo ${HOME} {node}; } && echo {Node} {}", &vars).unwrap(),
            "x || { echo ${HOME} n1; } && echo {Node} {}"
        );
        assert_eq!(
            render("echo ${node}", &vars).unwrap(),
            "echo ${node}",
            "a shell variable"
        );
        assert_eq!(
            render("print(f\"{{node}} is {{x}}\") {node} {{ a; }}", &vars).unwrap(),
            "print(f\"{node} is {x}\") n1 {{ a; }}",
            "doubled braces around a name are literal"
        );
        assert!(placeholders("f\"{{cur}}\" {node}") == ["node"]);
    }

    #[test]
    fn mistakes_are_named_with_their_place() {
        let cases: [(&str, &str); 9] = [
            (
                "name = \"x\"\nworkloads = [\"register\"]\nspeed = 3\n[db]\nstart = \"s\"\n[client]\ncommand = \"c\"\n",
                "k.toml:3:1: unknown field `speed`",
            ),
            (
                "name = \"x\"\nworkloads = [\"register\"]\n[db]\nstart = \"s {adress}\"\n[client]\ncommand = \"c\"\n",
                "k.toml:4:1: db.start: unknown placeholder {adress}",
            ),
            (
                "name = \"x\"\nworkloads = [\"queues\"]\n[db]\nstart = \"s\"\n[client]\ncommand = \"c\"\n",
                "k.toml:2:1: workloads: \"queues\" is not a workload; expected one of register, set, queue",
            ),
            (
                "name = \"x\"\nworkloads = [\"set\"]\n[db]\nstart = \"s\"\npause = \"kill -STOP 1\"\n[client]\ncommand = \"c\"\n",
                "k.toml:5:1: db.pause: pause and resume come together",
            ),
            (
                "name = \"x\"\nworkloads = [\"set\"]\n[db]\npackages = [\"redis-server\", \"rm -rf\"]\nstart = \"s\"\n[client]\ncommand = \"c\"\n",
                "k.toml:4:1: db.packages[1]: \"rm -rf\" is not a Debian package name",
            ),
            (
                "name = \"x\"\nworkloads = [\"set\"]\n[db]\nstart = \"s\"\nkill = \"pkill -9 {nod}\"\n[client]\ncommand = \"c\"\n",
                "k.toml:5:1: db.kill: unknown placeholder {nod}",
            ),
            (
                "name = \"My DB\"\nworkloads = [\"register\"]\n[db]\nstart = \"s\"\n[client]\ncommand = \"c\"\n",
                "k.toml:1:1: name: \"My DB\": expected lowercase",
            ),
            (
                "name = \"x\"\nworkloads = [\"register\"]\n[db]\nstart = \"s\"\n",
                "k.toml",
            ),
            (
                "name = \"x\"\nworkloads = [\"register\"]\n[db]\nstart = \"  \"\n[client]\ncommand = \"c\"\n",
                "k.toml:4:1: db.start: empty",
            ),
        ];
        for (text, want) in cases {
            let e = TestFile::parse(text, "k.toml", KNOWN)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{e}\nwanted it to start with {want}");
        }
        let missing = TestFile::parse(cases[7].0, "k.toml", KNOWN).unwrap_err();
        assert!(missing.message.contains("client"), "{missing}");
        // Dotted keys at the top are found too; an inline table only by its key.
        let dotted =
            "name = \"x\"\nworkloads = [\"set\"]\n  db.start = \"s {x}\"\nclient.command = \"c\"\n";
        let e = TestFile::parse(dotted, "k.toml", KNOWN)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("k.toml:3:3: db.start: unknown placeholder {x}"),
            "{e}"
        );
        let inline = "name = \"x\"\nworkloads = [\"set\"]\ndb = { start = \"s {x}\" }\nclient = { command = \"c\" }\n";
        let e = TestFile::parse(inline, "k.toml", KNOWN)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("k.toml: db.start: unknown placeholder {x}"),
            "{e}"
        );
    }
}

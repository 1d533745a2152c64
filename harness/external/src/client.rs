//! A `labrys_gen::Client` whose ops are answered by a subprocess per worker, over JSON lines.
//!
//! labrys writes `{"id":17,"process":3,"f":"cas","value":[5,[1,2]]}` and a newline on the
//! subprocess's stdin and reads lines from its stdout until one is the reply to `id` 17:
//! `{"id":17,"type":"ok","value":...}` (or `fail`/`info`, with an optional `error` and `node`).
//! One op is in flight per subprocess, so a reply's `id` can only be the one asked; any other
//! line on stdout is a protocol error.
//!
//! What can go wrong, and what it becomes (never `ok`/`fail`, which only the client may say):
//! - the reply is not JSON, has no `id`/`type`, or answers another `id` → `info`, subprocess
//!   killed;
//! - the subprocess exits or closes stdout → `info`;
//! - it takes longer than the op timeout → the runtime records `info` and retires the process;
//!   the next op of that worker comes with a new process id, which kills the old subprocess
//!   (and its late reply with it) and starts a fresh one;
//! - the command cannot be started at all → `fail` (nothing reached the database), with the
//!   reason, which names the command.
//!
//! Its stderr is passed line by line to a log callback, prefixed with the process.
//!
//! Reply values are read with the history reader's own JSON parser, so numbers stay exact
//! (a big integer a client returns is not rounded through `f64`).

use labrys_gen::{Client, Completion, OpCtx, OpFuture, OpSpec};
use labrys_history::{OpType, Value};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Where a worker's node is, as its client sees it in the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEnv {
    /// `n1`, ...
    pub name: String,
    /// The address the harness reaches it at.
    pub host: String,
}

/// The command every client subprocess runs, through `sh -c`, and the extra environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCommand {
    pub command: String,
    /// Working directory (the test file's folder, so relative paths work).
    pub dir: Option<std::path::PathBuf>,
    pub env: Vec<(String, String)>,
}

/// Receives each line a client writes on stderr, and what the client did wrong.
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    process: i64,
    next_id: u64,
}

impl Drop for Proc {
    /// SIGKILL to the subprocess's whole process group: `sh -c` does not `exec` the client
    /// (Debian's dash forks it), so killing the shell alone would leave the client running,
    /// stuck or writing into a closed pipe.
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a negative pid signals that process group; the group is
            // the one `spawn` made for this child (`process_group(0)`), so nothing else.
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Proc>>>;

/// Runs each worker's ops through its own client subprocess.
pub struct SubprocessClient {
    cmd: ClientCommand,
    nodes: Vec<NodeEnv>,
    log: LogFn,
    slots: Mutex<HashMap<usize, Slot>>,
    spawned: std::sync::atomic::AtomicU64,
    /// Whether the first misbehaviour has been shown on the console.
    warned: std::sync::atomic::AtomicBool,
}

impl SubprocessClient {
    pub fn new(cmd: ClientCommand, nodes: Vec<NodeEnv>, log: LogFn) -> SubprocessClient {
        SubprocessClient {
            cmd,
            nodes,
            log,
            slots: Mutex::new(HashMap::new()),
            spawned: std::sync::atomic::AtomicU64::new(0),
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The first time a client misbehaves, says so on the console (`tracing` at warn): a
    /// client that prints a debug line on stdout, or crashes at once, would otherwise only
    /// show as a run of `info` ops.
    fn first_problem(&self, process: i64, what: &str) {
        if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                "client (process {process}): {what}; its op is info and the client replaced \
                 (the first such problem; the run folder's clients.log has every one, with \
                 what the clients wrote on stderr)"
            );
        }
    }

    /// How many subprocesses have been started so far.
    pub fn spawned(&self) -> u64 {
        self.spawned.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn slot(&self, worker: usize) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(worker).or_default().clone()
    }

    fn spawn(&self, ctx: OpCtx) -> Result<Proc, String> {
        let node = self.nodes.get(ctx.node);
        let all: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}={}", n.name, n.host))
            .collect();
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(&self.cmd.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .env("LABRYS_PROCESS", ctx.process.to_string())
            .env("LABRYS_WORKER", ctx.worker.to_string())
            .env("LABRYS_NODE_INDEX", ctx.node.to_string())
            .env("LABRYS_NODES", all.join(","));
        if let Some(n) = node {
            c.env("LABRYS_NODE", &n.name)
                .env("LABRYS_NODE_HOST", &n.host);
        }
        for (k, v) in &self.cmd.env {
            c.env(k, v);
        }
        if let Some(d) = &self.cmd.dir {
            c.current_dir(d);
        }
        let mut child = c
            .spawn()
            .map_err(|e| format!("cannot start the client `{}`: {e}", self.cmd.command))?;
        self.spawned
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the client's pipes were not set up".into());
        };
        let log = self.log.clone();
        let who = format!("client (process {})", ctx.process);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log(&format!("{who}: {line}"));
            }
        });
        Ok(Proc {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            process: ctx.process,
            next_id: 0,
        })
    }

    async fn call(&self, ctx: OpCtx, op: &OpSpec) -> Completion {
        let slot = self.slot(ctx.worker);
        let mut guard = slot.lock().await;
        if guard.as_ref().map(|p| p.process) != Some(ctx.process) {
            // A new process (the first, or one after an `info`): whatever the old subprocess
            // still had in flight dies with it.
            *guard = None;
            match self.spawn(ctx) {
                Ok(p) => *guard = Some(p),
                Err(e) => {
                    (self.log)(&e);
                    self.first_problem(ctx.process, &e);
                    return Completion::fail(e);
                }
            }
        }
        let Some(p) = guard.as_mut() else {
            return Completion::fail("no client subprocess");
        };
        let id = p.next_id;
        p.next_id += 1;
        let request = serde_json::json!({
            "id": id,
            "process": ctx.process,
            "f": &*op.f,
            "value": op.value.to_json(),
        });
        let mut line = request.to_string();
        line.push('\n');
        if let Err(e) = async {
            p.stdin.write_all(line.as_bytes()).await?;
            p.stdin.flush().await
        }
        .await
        {
            *guard = None;
            return Completion::info(format!(
                "the client no longer reads its stdin ({e}); the op may have been sent"
            ));
        }
        let reply = match p.stdout.next_line().await {
            Ok(Some(l)) => l,
            Ok(None) => {
                // Its stdout closed: it has exited or is about to; give it a moment to say how.
                let status =
                    tokio::time::timeout(std::time::Duration::from_millis(200), p.child.wait())
                        .await
                        .ok()
                        .and_then(Result::ok);
                *guard = None;
                let why = match status {
                    Some(s) => format!("the client exited ({s}) before replying"),
                    None => "the client closed its stdout before replying".to_string(),
                };
                (self.log)(&format!("client (process {}): {why}", ctx.process));
                self.first_problem(ctx.process, &why);
                return Completion::info(why);
            }
            Err(e) => {
                *guard = None;
                return Completion::info(format!("cannot read the client's reply: {e}"));
            }
        };
        match parse_reply(&reply, id) {
            Ok(c) => c,
            Err(why) => {
                (self.log)(&format!(
                    "client (process {}): {why}; replacing it",
                    ctx.process
                ));
                self.first_problem(ctx.process, &why);
                *guard = None;
                Completion::info(why)
            }
        }
    }
}

impl Client for SubprocessClient {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(self.call(ctx, op))
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 120 {
        s.chars().take(119).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

/// Reads one reply line: the completion it gives, or why it is not a reply to `id`.
pub fn parse_reply(line: &str, id: u64) -> Result<Completion, String> {
    let v = labrys_history::read::json::parse_value(line.trim().as_bytes(), "client reply", 1, 1)
        .map_err(|e| format!("the client's reply is not JSON ({e}): {}", clip(line)))?;
    if v.as_map().is_none() {
        return Err(format!(
            "the client's reply is not a JSON object: {}",
            clip(line)
        ));
    }
    match v.get("id") {
        Some(Value::Int(got)) if *got >= 0 && *got as u64 == id => {}
        Some(other) => {
            return Err(format!(
                "the client answered id {other} but was asked id {id}: {}",
                clip(line)
            ))
        }
        None => return Err(format!("the client's reply has no \"id\": {}", clip(line))),
    }
    let kind = match v.get("type").and_then(Value::as_str) {
        Some("ok") => OpType::Ok,
        Some("fail") => OpType::Fail,
        Some("info") => OpType::Info,
        Some(other) => {
            return Err(format!(
                "the client's reply has \"type\" {other:?}; expected \"ok\", \"fail\" or \"info\""
            ))
        }
        None => {
            return Err(format!(
                "the client's reply has no \"type\" string: {}",
                clip(line)
            ))
        }
    };
    let error = v.get("error").and_then(|e| match e {
        Value::Nil => None,
        Value::Str(s) => Some(s.to_string()),
        other => Some(other.to_string()),
    });
    let mut c = Completion {
        kind,
        value: v.get("value").cloned(),
        error: match (kind, error) {
            (OpType::Ok, e) => e,
            (OpType::Fail, e) => Some(e.unwrap_or_else(|| "the client said fail".into())),
            (_, e) => Some(e.unwrap_or_else(|| "the client said info".into())),
        },
        node: None,
    };
    if kind != OpType::Ok {
        // fail/info record the invocation's value, as Jepsen does.
        c.value = None;
    }
    if let Some(n) = v.get("node").and_then(Value::as_str) {
        c = c.on_node(n);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_map_to_completions_and_anything_else_is_an_error() {
        let ok = parse_reply(
            r#"{"id":3,"type":"ok","value":[1,123456789012345678901234]}"#,
            3,
        )
        .unwrap();
        assert_eq!(ok.kind, OpType::Ok);
        assert_eq!(
            ok.value,
            Some(Value::List(vec![
                Value::Int(1),
                Value::BigInt("123456789012345678901234".into())
            ])),
            "numbers stay exact"
        );
        let fail = parse_reply(r#"{"id":0,"type":"fail","error":"cas mismatch"}"#, 0).unwrap();
        assert_eq!(
            (fail.kind, fail.error.as_deref()),
            (OpType::Fail, Some("cas mismatch"))
        );
        let info = parse_reply(r#"{"id":0,"type":"info","node":"n2"}"#, 0).unwrap();
        assert_eq!(
            (info.kind, info.node.as_deref()),
            (OpType::Info, Some("n2"))
        );
        assert_eq!(info.value, None);
        for (bad, why) in [
            ("garbage", "not JSON"),
            ("[1,2]", "not a JSON object"),
            (r#"{"type":"ok"}"#, "no \"id\""),
            (
                r#"{"id":4,"type":"ok"}"#,
                "answered id 4 but was asked id 3",
            ),
            (r#"{"id":3,"type":"maybe"}"#, "expected \"ok\""),
            (r#"{"id":3}"#, "no \"type\""),
        ] {
            let e = parse_reply(bad, 3).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}

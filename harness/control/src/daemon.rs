//! Server processes on a node, by pid file: the one copy every database uses (Jepsen's
//! `start-daemon!` / `stop-daemon!`).
//!
//! A [`Daemon`] is a directory on the node holding the server's pid file and log, the process
//! name (`/proc/<pid>/comm`) that proves a recorded pid is still that server, and the data
//! directory the server is started with. Each method returns a POSIX `sh` script (no `ps`,
//! `pgrep` or `pkill`: a minimal node has none of them) to run with [`crate::Remote::sh`]:
//! - [`Daemon::start_script`] starts the server detached (`setsid`, stdin from `/dev/null`,
//!   stdout and stderr to the log), or an SSH exec would never return; it does nothing when
//!   the recorded pid is alive, so starting is idempotent;
//! - [`Daemon::kill_script`] and [`Daemon::signal_script`] act on the recorded pid only, after
//!   checking it still names the server: nodes of a local cluster share one pid namespace, so a
//!   `pkill` would hit every node's server;
//! - [`Daemon::wipe_script`] kills the recorded server, then any other process of that name in
//!   this node's network namespace whose command line names the data directory (one an earlier,
//!   killed harness started and whose pid file is gone), and removes the directory. It prints
//!   `stale <pid>` for each such orphan.
//!
//! A [`Daemon::grouped`] one is a shell command line rather than one executable: it is alive
//! while a process of the group its start made lives (by name, when it has one), and its
//! processes carry [`GROUP_TAG`] in their environment, by which `wipe` finds its orphans.
//!
//! A group is signalled as `kill -SIG "-$pid"`: Debian's `sh` (dash) takes no `--` there,
//! and `kill -SIG -- -$pid` fails, leaving the group's other processes running.
//!
//! Signals land when the process is next scheduled, so `kill_script` and `signal_script` wait
//! (up to 10 s and 2 s) for the state they asked for: a pause is in effect when the nemesis op
//! that asked for it completes.

use crate::quote::shell_quote;

/// The environment variable a [`Daemon::grouped`] start puts on the server's processes (its
/// directory), by which `wipe` finds them when their pid file is gone.
pub const GROUP_TAG: &str = "LABRYS_DAEMON";

/// A server run from a directory on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Daemon {
    /// Directory for the pid file, the log, and (by convention) the data directory.
    pub dir: String,
    /// The process name `/proc/<pid>/comm` shows (the executable's name, at most 15 bytes).
    pub comm: String,
    /// Base name of the pid file and the log: `<dir>/<name>.pid`, `<dir>/<name>.log`.
    pub name: String,
    /// The data directory on the server's command line (`<dir>/data` by default), which tells
    /// this server's orphans apart from other processes of the same name.
    pub data_dir: String,
    /// Whether the server is the whole process group the start made (a shell running a
    /// command line, with the server as its child) rather than the one process the pid file
    /// names: see [`Daemon::grouped`].
    pub group: bool,
}

impl Daemon {
    /// A daemon called `name` whose executable shows as `comm`, living in `dir`, with its
    /// data in `<dir>/data`.
    pub fn new(dir: &str, name: &str, comm: &str) -> Daemon {
        Daemon {
            dir: dir.to_string(),
            comm: comm.chars().take(15).collect(),
            name: name.to_string(),
            data_dir: format!("{dir}/data"),
            group: false,
        }
    }

    /// The same daemon, alive while any process of the group its start made lives (named
    /// `comm`, or any name when `comm` is empty), for servers started by a shell command line
    /// (`cd x && VAR=1 server ...`) that is not one `exec`. The pid file then names the
    /// group's leader; kill and pause already act on the whole group. A group is alive only
    /// while its leader's pid is the group id, so a reused pid is not mistaken for it.
    pub fn grouped(mut self) -> Daemon {
        self.group = true;
        self
    }

    pub fn log_path(&self) -> String {
        format!("{}/{}.log", self.dir, self.name)
    }

    pub fn pid_path(&self) -> String {
        format!("{}/{}.pid", self.dir, self.name)
    }

    /// Shell lines defining `D` (the directory), `P` (the pid file) and `alive` (true while
    /// the pid file names a live, non-zombie process called `comm`, whose pid it sets; for a
    /// [`Daemon::grouped`] one, while a live process of that name is in the group the pid
    /// file names, read from `/proc/*/stat` with builtins only).
    fn prelude(&self) -> String {
        let alive = if self.group {
            "alive() { [ -f \"$P\" ] || return 1; read -r pid 2>/dev/null <\"$P\" || return 1; \
             [ -n \"$pid\" ] || return 1; \
             for d in /proc/[0-9]*; do read -r s 2>/dev/null <\"$d/stat\" || continue; \
             set -- ${s##*) }; [ \"$3\" = \"$pid\" ] && [ \"$1\" != Z ] || continue; \
             [ -z \"$C\" ] && return 0; \
             read -r c 2>/dev/null <\"$d/comm\" && [ \"$c\" = \"$C\" ] && return 0; \
             done; return 1; }\n"
        } else {
            "alive() { [ -f \"$P\" ] || return 1; pid=$(cat \"$P\"); \
             [ \"$(cat /proc/$pid/comm 2>/dev/null)\" = \"$C\" ] || return 1; \
             ! grep -q '^State:[[:space:]]*Z' /proc/$pid/status 2>/dev/null; }\n"
        };
        format!(
            "D={dir}\nP={pid}\nC={comm}\n{alive}",
            dir = shell_quote(&self.dir),
            pid = shell_quote(&self.pid_path()),
            comm = shell_quote(&self.comm),
        )
    }

    /// Starts `argv` (the executable and its arguments, unquoted) detached in `dir`, unless
    /// the recorded server runs already. Prints `running` or `started`.
    pub fn start_script(&self, argv: &[&str]) -> String {
        let argv: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        format!(
            "set -e\n{prelude}mkdir -p \"$D\"\n\
             if alive; then echo running; exit 0; fi\n\
             cd \"$D\"\n\
             setsid {tag}{argv} >>{log} 2>&1 </dev/null &\n\
             echo $! >\"$P\"\necho started\n",
            prelude = self.prelude(),
            tag = if self.group {
                format!("env {}=\"$D\" ", GROUP_TAG)
            } else {
                String::new()
            },
            argv = argv.join(" "),
            log = shell_quote(&self.log_path()),
        )
    }

    /// Sends `signal` (`STOP` or `CONT`) to the recorded server and its process group (a
    /// server with worker processes, such as PostgreSQL's postmaster and its backends, is
    /// paused as a whole) if it is alive, and waits up to 2 s for it to be stopped (or
    /// running again).
    pub fn signal_script(&self, signal: &str) -> String {
        let until = if signal == "STOP" { "= T" } else { "!= T" };
        format!(
            "{}if alive; then kill -{signal} \"-$pid\" 2>/dev/null || kill -{signal} \"$pid\"; \
             i=0; while alive && ! [ \"$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)\" {until} ] \
             && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; fi\n",
            self.prelude()
        )
    }

    /// SIGKILLs the recorded server and its process group (`start_script` makes it a group
    /// leader, so its worker processes die with it and a restart finds no leftover holding
    /// its files or shared memory) if it is alive, waits up to 10 s for it to die (failing if
    /// it does not), and removes the pid file.
    pub fn kill_script(&self) -> String {
        format!(
            "{}if alive; then kill -KILL \"-$pid\" 2>/dev/null || kill -KILL \"$pid\"; \
             i=0; while alive && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; fi\n\
             if alive; then echo \"$C pid $pid survived SIGKILL\" >&2; exit 1; fi\n\
             rm -f \"$P\"\n",
            self.prelude()
        )
    }

    /// Kills the recorded server and every orphan of it (see the module doc), printing
    /// `stale <pid>` per orphan, then removes the directory.
    pub fn wipe_script(&self) -> String {
        format!(
            "{kill}me=$(readlink /proc/self/ns/net)\n\
             stale() {{ for d in /proc/[0-9]*; do \
             [ -z \"$C\" ] || [ \"$(cat \"$d/comm\" 2>/dev/null)\" = \"$C\" ] || continue; \
             [ \"$(readlink \"$d/ns/net\" 2>/dev/null)\" = \"$me\" ] || continue; \
             grep -q '^State:[[:space:]]*Z' \"$d/status\" 2>/dev/null && continue; \
             {mine} || continue; \
             echo \"${{d#/proc/}}\"; done; }}\n\
             for p in $(stale); do {{ kill -KILL \"-$p\" 2>/dev/null || kill -KILL \"$p\" 2>/dev/null; }} && echo \"stale $p\"; done\n\
             i=0; while [ -n \"$(stale)\" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n\
             if [ -n \"$(stale)\" ]; then echo \"$C survived SIGKILL: $(stale)\" >&2; exit 1; fi\n\
             rm -rf \"$D\"\n",
            kill = self.kill_script(),
            // A server's command line names its data directory; a grouped server's processes
            // carry the tag in their environment instead (a shell command line could name the
            // data directory anywhere, this script's included).
            mine = if self.group {
                format!("tr '\\000' '\\n' <\"$d/environ\" 2>/dev/null | grep -qxF -- \"{GROUP_TAG}=$D\"")
            } else {
                format!(
                    "tr '\\000' ' ' <\"$d/cmdline\" 2>/dev/null | grep -qF -- {}",
                    shell_quote(&format!("{} ", self.data_dir))
                )
            },
        )
    }

    /// Exits 0 when the recorded server is alive.
    pub fn alive_script(&self) -> String {
        format!("{}alive\n", self.prelude())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalRemote, Remote};
    use std::time::{Duration, Instant};

    const T: Duration = Duration::from_secs(30);

    fn state(pid: &str) -> Option<char> {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.split(' ').nth(2).and_then(|c| c.chars().next()))
            .filter(|c| *c != 'Z')
    }

    #[test]
    fn scripts_are_valid_sh_and_quote_the_directory() {
        let d = Daemon::new("/tmp/it's here", "srv", "srv");
        for s in [
            d.start_script(&["srv", "--data-dir", "/tmp/it's here/data"]),
            d.kill_script(),
            d.signal_script("STOP"),
            d.signal_script("CONT"),
            d.wipe_script(),
            d.alive_script(),
        ] {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{s}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(s.contains("'/tmp/it'\\''s here'"), "{s}");
        }
        assert!(
            d.start_script(&["srv"]).contains("</dev/null &"),
            "the daemon must be detached"
        );
        assert_eq!(
            Daemon::new("/x", "n", "a-very-long-process-name").comm,
            "a-very-long-pro"
        );
    }

    /// The whole life of a real process on this machine (a copy of `sh` named `lbdaemon`,
    /// looping, with its data dir on its command line): start (twice), pause, resume, kill,
    /// then an orphan without its pid file found by `wipe`, while the same program run from
    /// another directory is left alone.
    #[test]
    fn a_daemon_lives_and_dies_by_its_pid_file_and_wipe_finds_its_orphans() {
        let base = std::env::temp_dir().join(format!("labrys-daemon-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let exe = base.join("lbdaemon");
        std::fs::copy("/bin/sh", &exe).unwrap();
        let dir = base.join("mine").display().to_string();
        let other_dir = base.join("other").display().to_string();
        let node = LocalRemote::new("n1", "127.0.0.1").unwrap();
        let d = Daemon::new(&dir, "lbd", "lbdaemon");
        let other = Daemon::new(&other_dir, "lbd", "lbdaemon");
        let exe = exe.display().to_string();
        let start = |d: &Daemon| {
            let marker = format!("{} ", d.data_dir);
            d.start_script(&[&exe, "-c", "while :; do sleep 0.2; done", &marker])
        };
        let out = node.sh_ok(&start(&d), T).unwrap();
        assert_eq!(out.stdout.trim(), "started");
        let out = node.sh_ok(&start(&d), T).unwrap();
        assert_eq!(out.stdout.trim(), "running", "starting twice is harmless");
        let pid = std::fs::read_to_string(d.pid_path())
            .unwrap()
            .trim()
            .to_string();
        assert!(node.sh(&d.alive_script(), T).unwrap().status == 0);

        node.sh_ok(&d.signal_script("STOP"), T).unwrap();
        assert_eq!(state(&pid), Some('T'), "paused when the script returns");
        node.sh_ok(&d.signal_script("CONT"), T).unwrap();
        assert_ne!(state(&pid), Some('T'));
        node.sh_ok(&d.kill_script(), T).unwrap();
        let t = Instant::now();
        while state(&pid).is_some() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(state(&pid), None, "killed");
        assert!(node.sh(&d.alive_script(), T).unwrap().status != 0);

        // An orphan: started, paused, pid file lost. And a neighbour from another directory.
        node.sh_ok(&start(&d), T).unwrap();
        node.sh_ok(&start(&other), T).unwrap();
        let orphan = std::fs::read_to_string(d.pid_path())
            .unwrap()
            .trim()
            .to_string();
        node.sh_ok(&d.signal_script("STOP"), T).unwrap();
        std::fs::remove_file(d.pid_path()).unwrap();
        let out = node.sh_ok(&d.wipe_script(), T).unwrap();
        assert_eq!(out.stdout.trim(), format!("stale {orphan}"), "{out:?}");
        assert_eq!(state(&orphan), None, "the orphan is gone");
        assert!(!std::path::Path::new(&dir).exists());
        assert!(
            node.sh(&other.alive_script(), T).unwrap().status == 0,
            "the neighbour lives"
        );
        let out = node.sh_ok(&other.wipe_script(), T).unwrap();
        assert_eq!(
            out.stdout.trim(),
            "",
            "its own recorded server is not an orphan"
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    /// A grouped daemon: a shell command line (`cd`, an assignment, no `exec`) whose child
    /// is the server. Alive by the child's name, or by any process of the group when no name
    /// is given; paused and killed as a group; its orphans found by the environment tag even
    /// though nothing on their command lines names the data directory.
    #[test]
    fn a_grouped_daemon_is_its_process_group() {
        let base = std::env::temp_dir().join(format!("labrys-group-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let exe = base.join("lbgroup");
        std::fs::copy("/bin/sh", &exe).unwrap();
        let node = LocalRemote::new("n1", "127.0.0.1").unwrap();
        let line = format!(
            "cd / && X=1 {} -c 'while :; do sleep 0.2; done'\necho exited $?",
            exe.display()
        );
        for comm in ["lbgroup", ""] {
            let dir = base.join(format!("d{}", comm.len())).display().to_string();
            let d = Daemon::new(&dir, "srv", comm).grouped();
            let start = d.start_script(&["sh", "-c", &line]);
            assert_eq!(node.sh_ok(&start, T).unwrap().stdout.trim(), "started");
            let leader = std::fs::read_to_string(d.pid_path())
                .unwrap()
                .trim()
                .to_string();
            let t = Instant::now();
            while node.sh(&d.alive_script(), T).unwrap().status != 0 {
                assert!(
                    t.elapsed() < Duration::from_secs(5),
                    "{comm:?}: never alive"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(node.sh_ok(&start, T).unwrap().stdout.trim(), "running");
            node.sh_ok(&d.signal_script("STOP"), T).unwrap();
            assert_eq!(state(&leader), Some('T'), "{comm:?}: paused");
            node.sh_ok(&d.signal_script("CONT"), T).unwrap();
            node.sh_ok(&d.kill_script(), T).unwrap();
            assert!(node.sh(&d.alive_script(), T).unwrap().status != 0);

            // An orphan group: its pid file lost.
            node.sh_ok(&start, T).unwrap();
            let leader = std::fs::read_to_string(d.pid_path())
                .unwrap()
                .trim()
                .to_string();
            std::thread::sleep(Duration::from_millis(200));
            std::fs::remove_file(d.pid_path()).unwrap();
            let out = node.sh_ok(&d.wipe_script(), T).unwrap();
            assert!(out.stdout.contains("stale "), "{comm:?}: {out:?}");
            let t = Instant::now();
            while state(&leader).is_some() && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(state(&leader), None, "{comm:?}: the orphan group is gone");
            assert!(!std::path::Path::new(&dir).exists());
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}

//! The run's progress log: one line per step, on stderr for the user and in `labrys.log` for
//! whoever reads the run folder later.
//!
//! Kept separate from `tracing` on purpose: the binary owns the global subscriber, while this
//! log belongs to one run folder and must be complete even when stderr is not captured.

use crate::timestamp;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

/// Appends timestamped lines to `labrys.log` and echoes them to stderr (unless quiet).
pub struct RunLog {
    file: Mutex<Option<File>>,
    echo: bool,
}

impl RunLog {
    /// Opens (appending) `path`. A log that cannot be opened still echoes to stderr: losing the
    /// log must never stop a test.
    pub fn open(path: &Path, echo: bool) -> RunLog {
        let file = OpenOptions::new().create(true).append(true).open(path);
        if let Err(e) = &file {
            let _ = writeln!(
                std::io::stderr(),
                "labrys: cannot write {}: {e}",
                path.display()
            );
        }
        RunLog {
            file: Mutex::new(file.ok()),
            echo,
        }
    }

    /// A log that only echoes to stderr (before a run folder exists).
    pub fn stderr_only() -> RunLog {
        RunLog {
            file: Mutex::new(None),
            echo: true,
        }
    }

    pub fn line(&self, msg: &str) {
        let stamp = timestamp::rfc3339(SystemTime::now());
        if self.echo {
            // Never `eprintln!`: a closed stderr (`labrys test | head`) must not panic a test
            // in the middle of its faults; the line is still in the log file.
            let _ = writeln!(std::io::stderr(), "[labrys {}] {msg}", &stamp[11..19]);
        }
        if let Some(f) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{stamp} {msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_timestamped_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labrys.log");
        let log = RunLog::open(&p, false);
        log.line("cluster up");
        log.line("etcd healthy");
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with(" cluster up") && lines[0].starts_with("20"),
            "{text}"
        );
    }
}

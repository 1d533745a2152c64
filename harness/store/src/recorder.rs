//! The history recorder: every op becomes one JSON line in `history.jsonl` the moment it happens.
//!
//! A harness can die at any point (SIGKILL, OOM, a lost SSH session), and the history is the
//! one thing that must survive: an op whose completion was acknowledged to the generator must
//! already be in the file. So each op is serialised to one line and handed to the kernel with a
//! single unbuffered `write` before `append` returns; nothing sits in a user-space buffer. (An
//! fsync per op would also survive a power cut; [`Recorder::sync`] does that on demand.)
//!
//! The recorder also assigns each op its `index` (file order, from 0) and keeps times
//! non-decreasing, so the file is a well-formed labrys history as written.

use crate::error::StoreError;
use labrys_history::{read_str, Format, History, Op};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

enum Output {
    File(File),
    Memory(Vec<Op>),
}

struct Inner {
    out: Output,
    next_index: u64,
    last_time: i64,
    broken: Option<String>,
}

/// An append-only history writer shared by every worker of a test (`&self` methods).
pub struct Recorder {
    path: PathBuf,
    inner: Mutex<Inner>,
}

impl Recorder {
    /// Creates `path` (which must not exist yet) and records into it.
    pub fn create(path: &Path) -> Result<Recorder, StoreError> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        Ok(Recorder::with_output(
            path.to_path_buf(),
            Output::File(file),
        ))
    }

    /// A recorder that keeps ops in memory (unit tests of generators, dry runs).
    pub fn in_memory() -> Recorder {
        Recorder::with_output(PathBuf::from("<memory>"), Output::Memory(Vec::new()))
    }

    fn with_output(path: PathBuf, out: Output) -> Recorder {
        Recorder {
            path,
            inner: Mutex::new(Inner {
                out,
                next_index: 0,
                last_time: 0,
                broken: None,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `op`: sets its index to the next position, raises its time to the last recorded
    /// time if it is earlier, writes it, and returns it as written. When this returns `Ok`, the
    /// line is in the kernel's hands and survives the death of this process.
    pub fn append(&self, mut op: Op) -> Result<Op, StoreError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(msg) = &inner.broken {
            return Err(StoreError::Broken {
                path: self.path.clone(),
                msg: msg.clone(),
            });
        }
        op.index = inner.next_index;
        if let Some(t) = op.time {
            let t = t.max(inner.last_time);
            inner.last_time = t;
            op.time = Some(t);
        }
        match &mut inner.out {
            Output::File(f) => {
                let mut line = serde_json::to_vec(&op.to_json()).expect("JSON values serialise");
                line.push(b'\n');
                if let Err(e) = f.write_all(&line) {
                    // A partial line may now be in the file; appending after it would corrupt
                    // the next record too, so the recorder refuses from here on.
                    inner.broken = Some(e.to_string());
                    return Err(StoreError::io(&self.path, e));
                }
            }
            Output::Memory(ops) => ops.push(op.clone()),
        }
        inner.next_index += 1;
        Ok(op)
    }

    /// How many ops were recorded.
    pub fn len(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_index
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ops of an in-memory recorder (`None` for a file recorder: read the file instead).
    pub fn ops(&self) -> Option<Vec<Op>> {
        match &self.inner.lock().unwrap_or_else(|p| p.into_inner()).out {
            Output::Memory(ops) => Some(ops.clone()),
            Output::File(_) => None,
        }
    }

    /// Forces the file to stable storage (fsync); a no-op in memory.
    pub fn sync(&self) -> Result<(), StoreError> {
        match &self.inner.lock().unwrap_or_else(|p| p.into_inner()).out {
            Output::File(f) => f.sync_data().map_err(|e| StoreError::io(&self.path, e)),
            Output::Memory(_) => Ok(()),
        }
    }
}

/// Reads a recorded `history.jsonl` back as a paired history. A last line without its newline
/// is a record the harness was writing when it died (never acknowledged), so it is dropped;
/// every complete line must parse. Returns the history and whether a partial line was dropped.
pub fn read_history(path: &Path) -> Result<(History, bool), StoreError> {
    let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    let (complete, dropped) = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => (&bytes[..=i], i + 1 < bytes.len()),
        None => (&bytes[..0], !bytes.is_empty()),
    };
    let text = std::str::from_utf8(complete).map_err(|e| StoreError::Invalid {
        path: path.to_path_buf(),
        msg: format!("not UTF-8 at byte {}", e.valid_up_to()),
    })?;
    let history = read_str(text, &path.display().to_string(), Format::Json)?;
    Ok((history, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::{OpType, Value};

    fn op(kind: OpType, p: i64, time: i64) -> Op {
        let mut op = Op::new(
            99,
            kind,
            p,
            "write",
            Value::List(vec![Value::Int(1), Value::Int(2)]),
        );
        op.time = Some(time);
        op
    }

    #[test]
    fn assigns_indices_and_monotonic_times() {
        let r = Recorder::in_memory();
        let a = r.append(op(OpType::Invoke, 0, 50)).unwrap();
        let b = r.append(op(OpType::Ok, 0, 40)).unwrap();
        assert_eq!((a.index, b.index), (0, 1));
        assert_eq!((a.time, b.time), (Some(50), Some(50)));
        assert_eq!(r.len(), 2);
        assert_eq!(r.ops().unwrap().len(), 2);
    }

    #[test]
    fn refuses_to_overwrite_a_history() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("history.jsonl");
        Recorder::create(&p).unwrap();
        let err = Recorder::create(&p).err().unwrap().to_string();
        assert!(err.contains("history.jsonl"), "{err}");
    }

    #[test]
    fn partial_last_line_is_dropped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("history.jsonl");
        let r = Recorder::create(&p).unwrap();
        r.append(op(OpType::Invoke, 0, 1)).unwrap();
        r.append(op(OpType::Ok, 0, 2)).unwrap();
        drop(r);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"index":2,"type":"inv"#).unwrap();
        let (h, dropped) = read_history(&p).unwrap();
        assert!(dropped);
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.pairs.len(), 1);
    }

    #[test]
    fn a_bad_complete_line_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("history.jsonl");
        std::fs::write(&p, "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":null}\nnot json\n").unwrap();
        let err = read_history(&p).err().unwrap().to_string();
        assert!(err.contains("history.jsonl"), "{err}");
        assert!(err.contains('2'), "{err}");
    }
}

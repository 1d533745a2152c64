//! Run folders: `store/<test-name>/<timestamp>/`, the files in them, and the `latest` links.
//!
//! Each test run gets a fresh folder named by its start time, so runs never overwrite each
//! other and sort in time order. Two symlinks, `store/latest` and `store/<test-name>/latest`,
//! are replaced atomically (a new link renamed over the old) when a run starts, so they never
//! dangle half-written and `labrys analyze` without arguments finds the newest run.

use crate::error::StoreError;
use crate::recorder::Recorder;
use crate::timestamp;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// File names inside a run folder.
pub const HISTORY: &str = "history.jsonl";
pub const TEST: &str = "test.json";
pub const RESULTS: &str = "results.json";
pub const LOG: &str = "labrys.log";
/// What the subprocess clients of a `--config` database wrote on stderr, and why labrys
/// replaced them.
pub const CLIENTS_LOG: &str = "clients.log";
pub const LATEST: &str = "latest";

/// One run's folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `store_root/<test_name>/<now>/` and points both `latest` links at it.
    pub fn create(store_root: &Path, test_name: &str) -> Result<RunDir, StoreError> {
        RunDir::create_at(store_root, test_name, SystemTime::now())
    }

    /// Like [`RunDir::create`] with a given start time. When a folder of that name exists
    /// already (two runs in the same millisecond), a `-1`, `-2`, ... suffix is added.
    pub fn create_at(
        store_root: &Path,
        test_name: &str,
        time: SystemTime,
    ) -> Result<RunDir, StoreError> {
        let run = RunDir::create_unlinked(store_root, test_name, time)?;
        run.link_latest()?;
        Ok(run)
    }

    /// Creates the folder without touching the `latest` links: a test links them with
    /// [`RunDir::link_latest`] once it is about to record ops, so a run that fails before
    /// recording anything never hides the last run that did.
    pub fn create_unlinked(
        store_root: &Path,
        test_name: &str,
        time: SystemTime,
    ) -> Result<RunDir, StoreError> {
        check_component(store_root, test_name, "test name")?;
        let test_dir = store_root.join(test_name);
        std::fs::create_dir_all(&test_dir).map_err(|e| StoreError::io(&test_dir, e))?;
        let base = timestamp::folder_name(time);
        let mut name = base.clone();
        let mut n = 0;
        let path = loop {
            let candidate = test_dir.join(&name);
            match std::fs::create_dir(&candidate) {
                Ok(()) => break candidate,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                    n += 1;
                    name = format!("{base}-{n}");
                }
                Err(e) => return Err(StoreError::io(&candidate, e)),
            }
        };
        Ok(RunDir { path })
    }

    /// Points `store/latest` and `store/<test-name>/latest` at this run.
    pub fn link_latest(&self) -> Result<(), StoreError> {
        let parts = (|| {
            let name = self.path.file_name()?;
            let test_dir = self.path.parent()?;
            Some((name, test_dir, test_dir.file_name()?, test_dir.parent()?))
        })();
        let Some((name, test_dir, test_name, store_root)) = parts else {
            return Err(StoreError::Invalid {
                path: self.path.clone(),
                msg: "not inside <store>/<test-name>/".into(),
            });
        };
        replace_symlink(&test_dir.join(LATEST), Path::new(name))?;
        replace_symlink(&store_root.join(LATEST), &Path::new(test_name).join(name))
    }

    /// Points only `store/<test-name>/latest` at this folder (for folders that are not test
    /// runs, such as a matrix's summary, which must not become the store's `latest` run).
    pub fn link_test_latest(&self) -> Result<(), StoreError> {
        match (self.path.parent(), self.path.file_name()) {
            (Some(dir), Some(name)) => replace_symlink(&dir.join(LATEST), Path::new(name)),
            _ => Err(StoreError::Invalid {
                path: self.path.clone(),
                msg: "not inside <store>/<test-name>/".into(),
            }),
        }
    }

    /// Opens an existing run folder (one holding `history.jsonl`).
    pub fn open(path: &Path) -> Result<RunDir, StoreError> {
        let history = path.join(HISTORY);
        if !history.is_file() {
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                msg: format!("not a labrys run folder: expected a {HISTORY} in it"),
            });
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn history_path(&self) -> PathBuf {
        self.file(HISTORY)
    }

    /// Starts the run's history (fails if one was recorded here already).
    pub fn recorder(&self) -> Result<Recorder, StoreError> {
        Recorder::create(&self.history_path())
    }

    /// The folder for one node's downloaded files (`n1/`), created on demand. The node name
    /// must be a single path component.
    pub fn node_dir(&self, node: &str) -> Result<PathBuf, StoreError> {
        check_component(&self.path, node, "node name")?;
        let dir = self.path.join(node);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(dir)
    }

    /// Writes `name` as pretty JSON, atomically (a temporary file renamed into place), so a
    /// reader never sees half a `results.json`.
    pub fn write_json(&self, name: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        let target = self.file(name);
        let tmp = self.file(&format!(".{name}.tmp"));
        let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
        text.push('\n');
        std::fs::write(&tmp, text).map_err(|e| StoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, &target).map_err(|e| StoreError::io(&target, e))
    }

    pub fn read_json(&self, name: &str) -> Result<serde_json::Value, StoreError> {
        let p = self.file(name);
        let text = std::fs::read_to_string(&p).map_err(|e| StoreError::io(&p, e))?;
        serde_json::from_str(&text).map_err(|e| StoreError::Invalid {
            path: p,
            msg: format!("bad JSON: {e}"),
        })
    }
}

/// Finds the run folder `labrys analyze` means: `arg` itself when it holds a history, a test's
/// folder's `latest` run when given a test folder, the store's `latest` when given the store,
/// and `store_root/latest` without an argument. Symlinks are resolved, so the path returned
/// stays valid when a newer run moves `latest`.
pub fn resolve_run(arg: Option<&Path>, store_root: &Path) -> Result<PathBuf, StoreError> {
    let start = arg
        .map(Path::to_path_buf)
        .unwrap_or_else(|| store_root.join(LATEST));
    let mut p = start.clone();
    for _ in 0..3 {
        if p.join(HISTORY).is_file() {
            return p.canonicalize().map_err(|e| StoreError::io(&p, e));
        }
        let latest = p.join(LATEST);
        if latest.exists() {
            p = latest;
        } else {
            break;
        }
    }
    Err(StoreError::Invalid {
        path: start,
        msg: format!(
            "no labrys run found there: expected a run folder holding {HISTORY}, or a folder with a \
             `{LATEST}` link to one (run `labrys test` first)"
        ),
    })
}

fn check_component(parent: &Path, name: &str, what: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name != LATEST
        && !name.contains('/')
        && !name.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            path: parent.to_path_buf(),
            msg: format!(
                "{what} {name:?} cannot be a folder name: expected a non-empty name without '/', \
                 other than '.', '..' and '{LATEST}'"
            ),
        })
    }
}

/// Points `link` at `target`, replacing any old link atomically.
fn replace_symlink(link: &Path, target: &Path) -> Result<(), StoreError> {
    let tmp = link.with_file_name(format!(".{LATEST}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, link).map_err(|e| StoreError::io(link, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn an_unlinked_run_leaves_latest_on_the_last_linked_one() {
        let store = tempfile::tempdir().unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_795_522_937);
        let a = RunDir::create_at(store.path(), "etcd-register", t).unwrap();
        let b = RunDir::create_unlinked(store.path(), "etcd-register", t).unwrap();
        let latest = || store.path().join("latest").canonicalize().unwrap();
        assert_eq!(latest(), a.path().canonicalize().unwrap());
        b.link_latest().unwrap();
        assert_eq!(latest(), b.path().canonicalize().unwrap());
        let test_latest = store.path().join("etcd-register/latest").canonicalize();
        assert_eq!(test_latest.unwrap(), b.path().canonicalize().unwrap());
    }

    #[test]
    fn creates_folder_and_latest_links() {
        let store = tempfile::tempdir().unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_795_522_937);
        let a = RunDir::create_at(store.path(), "etcd-register", t).unwrap();
        assert!(a.path().ends_with("etcd-register/20261124T122217.000Z"));
        let b = RunDir::create_at(store.path(), "etcd-register", t).unwrap();
        assert!(b.path().ends_with("etcd-register/20261124T122217.000Z-1"));
        std::fs::write(b.history_path(), "").unwrap();
        let latest = store.path().join("latest").canonicalize().unwrap();
        assert_eq!(latest, b.path().canonicalize().unwrap());
        let test_latest = store
            .path()
            .join("etcd-register/latest")
            .canonicalize()
            .unwrap();
        assert_eq!(test_latest, latest);
        assert_eq!(resolve_run(None, store.path()).unwrap(), latest);
        let via_test = resolve_run(Some(&store.path().join("etcd-register")), store.path());
        assert_eq!(via_test.unwrap(), latest);
        // The earlier run stays addressable by its own path.
        std::fs::write(a.history_path(), "").unwrap();
        assert_eq!(
            resolve_run(Some(a.path()), store.path()).unwrap(),
            a.path().canonicalize().unwrap()
        );
    }

    #[test]
    fn rejects_bad_names_and_missing_runs() {
        let store = tempfile::tempdir().unwrap();
        for bad in ["", "..", "a/b", "latest"] {
            let err = RunDir::create(store.path(), bad).err().unwrap().to_string();
            assert!(err.contains("cannot be a folder name"), "{bad}: {err}");
        }
        let err = resolve_run(None, store.path()).err().unwrap().to_string();
        assert!(err.contains("no labrys run found"), "{err}");
        let run = RunDir::create(store.path(), "t").unwrap();
        assert!(run.node_dir("../n1").is_err());
        assert!(run.node_dir("n1").unwrap().is_dir());
    }

    #[test]
    fn json_round_trips() {
        let store = tempfile::tempdir().unwrap();
        let run = RunDir::create(store.path(), "t").unwrap();
        let v = serde_json::json!({"seed": 7, "nodes": ["n1", "n2"]});
        run.write_json(TEST, &v).unwrap();
        assert_eq!(run.read_json(TEST).unwrap(), v);
        let err = run.read_json(RESULTS).err().unwrap().to_string();
        assert!(err.contains(RESULTS), "{err}");
    }
}

//! `labrys analyze [RUN_DIR]`: re-check a stored run without touching any cluster.
//!
//! The run folder's `test.json` says which workload the history belongs to; the verdict is
//! written to the folder's `results.json` again, exactly as at the end of `labrys test`.

use crate::verdict::{check_run, incomplete_reason, Outcome};
use labrys_store::run_dir::{LOG, TEST};
use labrys_store::{resolve_run, RunDir, RunLog};
use std::path::Path;
use std::time::Duration;

/// Re-checks the run at `arg` (a run folder, a test folder, the store), or the store's latest.
pub fn analyze(arg: Option<&Path>, store_root: &Path, check_timeout: Option<Duration>) -> Outcome {
    let path = match resolve_run(arg, store_root) {
        Ok(p) => p,
        Err(e) => return Outcome::error(e.to_string(), None),
    };
    let run = match RunDir::open(&path) {
        Ok(r) => r,
        Err(e) => return Outcome::error(e.to_string(), Some(path)),
    };
    let test = run.read_json(TEST).ok();
    let results = run.read_json(labrys_store::run_dir::RESULTS).ok();
    // A run killed before test.json was written still has a history worth checking.
    let workload = test
        .as_ref()
        .and_then(|t| t.get("workload"))
        .and_then(|w| w.as_str())
        .unwrap_or("register")
        .to_string();
    if std::fs::metadata(run.history_path()).is_ok_and(|m| m.len() == 0) {
        // A test that stopped before its workload: say why, not that the file is empty.
        let why = results
            .as_ref()
            .and_then(|r| r.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Outcome::error(
            format!("this run recorded no operations; it stopped before its workload began{why}"),
            Some(path),
        );
    }
    let incomplete = incomplete_reason(test.as_ref(), results.as_ref());
    let log = RunLog::open(&run.file(LOG), true);
    log.line(&format!("analyze: re-checking {}", path.display()));
    let (code, summary) = check_run(&run, &workload, check_timeout, incomplete.as_deref(), &log);
    // The same rule as `labrys test`: a run that did not finish has no clean verdict, but an
    // invalid history is invalid however much of it there is.
    match incomplete {
        None => Outcome {
            exit_code: code,
            run_dir: Some(path),
            summary,
        },
        Some(why) => {
            if code == 1 {
                Outcome {
                    exit_code: 1,
                    run_dir: Some(path),
                    summary: format!("{summary} (incomplete run: {why})"),
                }
            } else {
                Outcome::error(
                    format!("incomplete run: {why}; history so far: {summary}"),
                    Some(path),
                )
            }
        }
    }
}

//! A run's `report.html`: written after every check of a run (by `labrys test` and
//! `labrys analyze`), and redrawn from the stored files by `labrys report`.
//!
//! The report is a reading aid, never part of the verdict: a report that cannot be drawn is
//! logged and the run's exit code stays what the check said.

use labrys_history::History;
use labrys_report::{render, Link, ReportInput};
use labrys_store::run_dir::{CLIENTS_LOG, HISTORY, LOG, RESULTS, TEST};
use labrys_store::{read_history, RunDir};
use std::path::{Path, PathBuf};

/// The report's file name in a run folder.
pub const REPORT: &str = "report.html";

/// Links to what the run folder holds: the raw files, then every node's logs.
fn links(dir: &Path) -> Vec<Link> {
    let mut out = Vec::new();
    for (name, label) in [
        (
            HISTORY,
            "history.jsonl: every operation, one JSON record per line",
        ),
        (RESULTS, "results.json: the checker's full result"),
        (TEST, "test.json: the test's options, versions and times"),
        (LOG, "labrys.log: what the harness did, in order"),
        (CLIENTS_LOG, "clients.log: what the clients wrote on stderr"),
    ] {
        if dir.join(name).exists() {
            out.push(Link {
                label: label.to_string(),
                href: name.to_string(),
            });
        }
    }
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    for node in nodes {
        let Some(n) = node.file_name().and_then(|n| n.to_str()).map(String::from) else {
            continue;
        };
        let mut files: Vec<String> = std::fs::read_dir(&node)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_file())
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for f in files {
            out.push(Link {
                label: format!("{n}/{f}: node {n}'s log"),
                href: format!("{n}/{f}"),
            });
        }
    }
    out
}

/// Draws `report.html` into the run folder from a history and result already in hand.
pub fn write(
    run: &RunDir,
    history: &History,
    result: &serde_json::Value,
    test: Option<&serde_json::Value>,
) -> Result<PathBuf, String> {
    let title = test
        .and_then(|t| t.get("name"))
        .and_then(|n| n.as_str())
        .map(String::from)
        .unwrap_or_else(|| {
            run.path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into())
        });
    let stamp = run
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let html = render(&ReportInput {
        title: format!("{title} · {stamp}"),
        history,
        result,
        test,
        source: None,
        links: links(run.path()),
    })
    .map_err(|e| e.to_string())?;
    let path = run.file(REPORT);
    let tmp = run.file(".report.html.tmp");
    std::fs::write(&tmp, html)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Redraws a stored run's report from its `history.jsonl`, `results.json` and `test.json`,
/// without checking again.
pub fn redraw(dir: &Path) -> Result<PathBuf, String> {
    let run = RunDir::open(dir).map_err(|e| e.to_string())?;
    let result = run.read_json(RESULTS).map_err(|e| {
        format!(
            "{e}; run `labrys analyze {}` to check the run first",
            dir.display()
        )
    })?;
    let test = run.read_json(TEST).ok();
    let (history, _) = read_history(&run.history_path()).map_err(|e| e.to_string())?;
    write(&run, &history, &result, test.as_ref())
}

//! Graphviz DOT files of the cycles found, written to `--out DIR` so a person can look at an
//! anomaly as a picture (`dot -Tsvg G2-item-0.dot`).

use crate::cycles::Cycle;
use crate::explain::{explain_step, kind_name};
use crate::graph::Graph;
use crate::txn::{Kind, Txns};
use labrys_history::{Error, History};
use std::path::Path;

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The DOT text of one cycle.
pub fn cycle_dot(h: &History, t: &Txns, g: &Graph, kind: Kind, c: &Cycle) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
        c.anomaly
    );
    for s in &c.steps {
        out.push_str(&format!(
            "  T{} [label=\"{}\"];\n",
            s.from,
            escape(&t.describe(h, s.from))
        ));
    }
    for s in &c.steps {
        out.push_str(&format!(
            "  T{} -> T{} [label=\"{}\", tooltip=\"{}\"];\n",
            s.from,
            s.to,
            kind_name(s.kind),
            escape(&explain_step(h, t, g, kind, s))
        ));
    }
    out.push_str("}\n");
    out
}

/// Writes `<anomaly>-<n>.dot` for each cycle into `dir` (created if needed); returns the paths.
pub fn write_cycles(
    dir: &Path,
    h: &History,
    t: &Txns,
    g: &Graph,
    kind: Kind,
    cycles: &[Cycle],
) -> Result<Vec<String>, Error> {
    let io = |e| Error::io(&dir.display().to_string(), e);
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut counts: std::collections::HashMap<&str, usize> = Default::default();
    let mut paths = Vec::new();
    for c in cycles {
        let n = counts.entry(&c.anomaly).or_default();
        let path = dir.join(format!("{}-{}.dot", c.anomaly, n));
        *n += 1;
        std::fs::write(&path, cycle_dot(h, t, g, kind, c)).map_err(io)?;
        paths.push(path.display().to_string());
    }
    Ok(paths)
}

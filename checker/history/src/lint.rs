//! Lint: what makes a history suspect without making it invalid. Stub until implemented.
use crate::history::History;
use crate::verdict::Warning;

pub fn lint(_h: &History, _workload: &str) -> Vec<Warning> {
    Vec::new()
}

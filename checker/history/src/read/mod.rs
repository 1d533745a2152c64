//! Readers: bytes in, a paired [`History`] out, whatever the Jepsen-family tool that wrote it.
//!
//! Three formats, detected by content (`--format` forces one):
//! - JSON: one array of op objects, or JSON Lines (labrys's own format);
//! - EDN: one vector of op maps, or one map per line, with Jepsen's tagged records;
//! - Jepsen log lines: `INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]`.
//!
//! Every reader streams: it holds one record's text at a time, so memory grows with the ops
//! kept, not with the file; and it counts what it builds against [`ReadLimits`] (see
//! [`budget`]), so a history too large for the memory it may use stops reading with an error
//! at the record where it passed the limit. Every error names file, line, column, what was
//! found and what was expected.

pub mod budget;
pub mod edn;
pub mod jepsen_log;
pub mod json;
mod record;

use crate::error::Error;
use crate::history::History;
use crate::op::Op;
use budget::Budget;
use record::MissingProcess;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

pub use budget::ReadLimits;
pub use record::{op_from_record, RecordContext};

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Auto,
    Json,
    Edn,
    JepsenLog,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "auto" => Some(Format::Auto),
            "json" | "jsonl" => Some(Format::Json),
            "edn" => Some(Format::Edn),
            "jepsen-log" | "log" => Some(Format::JepsenLog),
            _ => None,
        }
    }
}

/// Reads and pairs a history file, with no limit on memory.
/// The 1-based line and column of byte `offset` of `text`: where an error found at that byte
/// (a TOML span, say) is in its file. The readers place their own errors the same way.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    json::place_in(text.as_bytes(), offset, 1, 1)
}

pub fn read_file(path: &Path, format: Format) -> Result<History, Error> {
    read_file_within(path, format, ReadLimits::UNLIMITED)
}

/// Reads and pairs a history file within `limits`.
pub fn read_file_within(path: &Path, format: Format, limits: ReadLimits) -> Result<History, Error> {
    read_file_hooked(path, format, limits, None)
}

fn read_file_hooked(
    path: &Path,
    format: Format,
    limits: ReadLimits,
    hook: Option<OpHook<'_>>,
) -> Result<History, Error> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(&name, e))?;
    // Reserve room for the most ops the file could hold (records are rarely under 40 bytes).
    // Untouched capacity costs address space, not memory, and saves the copies of regrowth.
    let hint = file
        .metadata()
        .map(|m| m.len() / 40)
        .unwrap_or(0)
        .min(1 << 28) as usize;
    let mut input = BufReader::with_capacity(1 << 16, file);
    read_history_hooked(&mut input, &name, format, limits, hint, hook)
}

/// A hook that sees each op as it is read, before it is kept: it may move the op's value into
/// a compact form of its own (leaving a cheaper value in the op) and returns the bytes that
/// form now holds for the op, which replace the value's in the memory budget. `labrys-txn`'s
/// compact reading of transactional histories is built on it: 20 million ops whose values are
/// trees of [`crate::Value`]s would not fit in memory, their micro-ops as flat integers do.
pub type OpHook<'a> = &'a mut dyn FnMut(usize, &mut Op) -> u64;

/// Reads and pairs a history file within `limits`, handing each op to `hook` first (see
/// [`OpHook`]).
pub fn read_file_with_hook(
    path: &Path,
    format: Format,
    limits: ReadLimits,
    hook: OpHook<'_>,
) -> Result<History, Error> {
    read_file_hooked(path, format, limits, Some(hook))
}

/// [`read_file_with_hook`] from any buffered reader (tests).
pub fn read_with_hook<R: BufRead>(
    mut input: R,
    source: &str,
    format: Format,
    limits: ReadLimits,
    hook: OpHook<'_>,
) -> Result<History, Error> {
    read_history_hooked(&mut input, source, format, limits, 0, Some(hook))
}

/// Reads and pairs a history held in memory (tests, examples).
pub fn read_str(text: &str, source: &str, format: Format) -> Result<History, Error> {
    read(text.as_bytes(), source, format)
}

/// Reads and pairs a history from any buffered reader, with no limit on memory.
pub fn read<R: BufRead>(input: R, source: &str, format: Format) -> Result<History, Error> {
    read_within(input, source, format, ReadLimits::UNLIMITED)
}

/// Reads and pairs a history from any buffered reader within `limits`.
pub fn read_within<R: BufRead>(
    mut input: R,
    source: &str,
    format: Format,
    limits: ReadLimits,
) -> Result<History, Error> {
    read_history(&mut input, source, format, limits, 0)
}

/// Reads the records without pairing them.
pub fn read_ops<R: BufRead>(input: &mut R, source: &str, format: Format) -> Result<Vec<Op>, Error> {
    let budget = Budget::unlimited();
    read_ops_into(input, source, format, &budget, 0, None).map(|(ops, _)| ops)
}

fn read_history<R: BufRead>(
    input: &mut R,
    source: &str,
    format: Format,
    limits: ReadLimits,
    capacity: usize,
) -> Result<History, Error> {
    read_history_hooked(input, source, format, limits, capacity, None)
}

fn read_history_hooked<R: BufRead>(
    input: &mut R,
    source: &str,
    format: Format,
    limits: ReadLimits,
    capacity: usize,
    hook: Option<OpHook<'_>>,
) -> Result<History, Error> {
    let budget = Budget::new(limits);
    let (ops, processes_inferred) = read_ops_into(input, source, format, &budget, capacity, hook)?;
    let mut h = History::from_ops(ops, source)?;
    h.processes_inferred = processes_inferred;
    h.held_bytes = budget.used();
    Ok(h)
}

/// The records, and whether their processes were inferred (no record named one).
fn read_ops_into<R: BufRead>(
    input: &mut R,
    source: &str,
    format: Format,
    budget: &Budget,
    capacity: usize,
    mut hook: Option<OpHook<'_>>,
) -> Result<(Vec<Op>, bool), Error> {
    let format = match format {
        Format::Auto => detect(input, source)?,
        f => f,
    };
    let mut ops = Vec::with_capacity(capacity);
    let mut sink = |mut op: Op| {
        if let Some(hook) = hook.as_mut() {
            let before = budget::value_heap(&op.value);
            let held = hook(ops.len(), &mut op);
            budget.rekeep(before, budget::value_heap(&op.value) + held);
        }
        ops.push(op);
        Ok(())
    };
    let mut cx = RecordContext::new(match format {
        Format::Edn => MissingProcess::InferWhenNoneHaveOne,
        _ => MissingProcess::Reject,
    });
    match format {
        Format::Json => json::read(input, source, budget, &mut cx, &mut sink)?,
        Format::Edn => edn::read_ops(input, source, budget, &mut cx, &mut sink)?,
        Format::JepsenLog => jepsen_log::read(input, source, budget, &mut sink)?,
        Format::Auto => unreachable!("detected above"),
    }
    Ok((ops, cx.processes_inferred()))
}

/// Names a byte in an error message: the character when printable, else its hex value.
pub(crate) fn describe(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", c as char)
    } else {
        format!("byte 0x{c:02x}")
    }
}

/// Guesses the format from the first meaningful bytes, without consuming them.
///
/// `{"` or `["`/`[{"`: JSON. `{:`/`[{:`/`#jepsen`/`;`: EDN. A line with a process followed by
/// `:invoke`/`:ok`/`:fail`/`:info` and an `f` keyword (outside a map): Jepsen log. Empty input is an error: there is no history.
pub fn detect<R: BufRead>(input: &mut R, source: &str) -> Result<Format, Error> {
    let buf = input.fill_buf().map_err(|e| Error::io(source, e))?;
    let head = &buf[..buf.len().min(64 * 1024)];
    let text = String::from_utf8_lossy(head);
    if text.trim().is_empty() {
        return Err(Error::syntax(
            source,
            1,
            1,
            "the file is empty; expected a history (JSON, EDN or Jepsen log lines)",
        ));
    }
    if text.lines().take(1000).any(jepsen_log::is_op_line) {
        return Ok(Format::JepsenLog);
    }
    let trimmed =
        text.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == '\u{feff}');
    let after_bracket = trimmed
        .strip_prefix('[')
        .map(|s| s.trim_start())
        .unwrap_or(trimmed);
    if after_bracket.starts_with("{\"")
        || after_bracket.starts_with('"')
        || after_bracket.starts_with("{}")
        || (trimmed.starts_with('[') && after_bracket.starts_with(']'))
    {
        return Ok(Format::Json);
    }
    if after_bracket.starts_with('{') && after_bracket[1..].trim_start().starts_with('"') {
        return Ok(Format::Json);
    }
    Ok(Format::Edn)
}

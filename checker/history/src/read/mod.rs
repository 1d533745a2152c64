//! Readers: bytes in, a paired [`History`] out, whatever the Jepsen-family tool that wrote it.
//!
//! Three formats, detected by content (`--format` forces one):
//! - JSON: one array of op objects, or JSON Lines (labrys's own format);
//! - EDN: one vector of op maps, or one map per line, with Jepsen's tagged records;
//! - Jepsen log lines: `INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]`.
//!
//! Every reader streams: it holds one record's text at a time, so memory grows with the ops
//! kept, not with the file. Every error names file, line, column, what was found and what was
//! expected.

pub mod edn;
pub mod jepsen_log;
pub mod json;
mod record;

use crate::error::Error;
use crate::history::History;
use crate::op::Op;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

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

/// Reads and pairs a history file.
pub fn read_file(path: &Path, format: Format) -> Result<History, Error> {
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
    let ops = read_ops_with_capacity(&mut input, &name, format, hint)?;
    History::from_ops(ops, name)
}

/// Reads and pairs a history held in memory (tests, examples).
pub fn read_str(text: &str, source: &str, format: Format) -> Result<History, Error> {
    read(text.as_bytes(), source, format)
}

/// Reads and pairs a history from any buffered reader.
pub fn read<R: BufRead>(mut input: R, source: &str, format: Format) -> Result<History, Error> {
    let ops = read_ops(&mut input, source, format)?;
    History::from_ops(ops, source)
}

/// Reads the records without pairing them.
pub fn read_ops<R: BufRead>(input: &mut R, source: &str, format: Format) -> Result<Vec<Op>, Error> {
    read_ops_with_capacity(input, source, format, 0)
}

fn read_ops_with_capacity<R: BufRead>(
    input: &mut R,
    source: &str,
    format: Format,
    capacity: usize,
) -> Result<Vec<Op>, Error> {
    let format = match format {
        Format::Auto => detect(input, source)?,
        f => f,
    };
    let mut ops = Vec::with_capacity(capacity);
    let mut sink = |op: Op| {
        ops.push(op);
        Ok(())
    };
    match format {
        Format::Json => json::read(input, source, &mut sink)?,
        Format::Edn => edn::read_ops(input, source, &mut sink)?,
        Format::JepsenLog => jepsen_log::read(input, source, &mut sink)?,
        Format::Auto => unreachable!("detected above"),
    }
    Ok(ops)
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

//! Jepsen log lines: the ops Jepsen prints while a test runs, as Porcupine's etcd histories keep
//! them.
//!
//! ```text
//! INFO  jepsen.util - 2<TAB>:invoke<TAB>:cas<TAB>[3 0]
//! INFO  jepsen.util - 2<TAB>:info<TAB>:cas<TAB>[3 0]<TAB>:timed-out
//! ```
//! Fields are process, type, f, value and an optional error, separated by tabs — or by spaces,
//! in copies whose tabs were expanded. A line is an op line when it holds a process token
//! followed by `:invoke`, `:ok`, `:fail` or `:info` and an `f` keyword; every other line (logs,
//! stack traces) is ignored. A value of `:timed-out` on a `fail`/`info` means no result: the
//! value becomes nil and `:timed-out` is kept as the op's `error` field.

use crate::error::Error;
use crate::op::{Op, OpType, Process};
use crate::read::budget::{Budget, Exceeded};
use crate::read::edn;
use crate::read::record::Interner;
use crate::value::Value;
use std::io::BufRead;
use std::sync::Arc;

/// Streams the ops of a Jepsen log into `sink`, within `budget`.
pub(crate) fn read<R: BufRead>(
    input: &mut R,
    source: &str,
    budget: &Budget,
    sink: &mut dyn FnMut(Op) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut names = Interner::default();
    let mut buf = Vec::new();
    let mut line_no = 0u32;
    let mut pos = 0u64;
    loop {
        if buf.capacity() > 1 << 20 {
            buf = Vec::new(); // don't keep a huge line's buffer
        }
        buf.clear();
        let n = read_line(input, &mut buf, budget)
            .map_err(|e| e.into_error(budget, source, line_no + 1))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        if let Some(op) = parse_line(&text, source, line_no, pos, &mut names, budget)? {
            budget
                .keep(&op)
                .map_err(|e| budget.error(e, source, op.line, op.col))?;
            sink(op)?;
            pos += 1;
        }
    }
    if pos == 0 {
        return Err(Error::syntax(
            source,
            line_no.max(1),
            1,
            "found no op lines; expected Jepsen log lines such as `INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]`",
        ));
    }
    Ok(())
}

enum LineError {
    Io(std::io::Error),
    TooLong(Exceeded),
}

impl LineError {
    fn into_error(self, budget: &Budget, source: &str, line: u32) -> Error {
        match self {
            LineError::Io(e) => Error::io(source, e),
            LineError::TooLong(e) => budget.error(e, source, line, 1),
        }
    }
}

/// Reads one line (with its newline) into `buf`, checking its length against the budget as it
/// grows; the number of bytes read, 0 at the end of the input.
fn read_line<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    budget: &Budget,
) -> Result<usize, LineError> {
    let mut n = 0;
    loop {
        let avail = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        };
        if avail.is_empty() {
            return Ok(n);
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        buf.extend_from_slice(&avail[..take]);
        input.consume(take);
        n += take;
        budget
            .check_transient(buf.capacity() as u64)
            .map_err(LineError::TooLong)?;
        if done {
            return Ok(n);
        }
    }
}

/// True when the line looks like a Jepsen op line (used to detect the format).
pub(crate) fn is_op_line(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().take(64).collect();
    words.windows(3).any(|w| {
        w[1].strip_prefix(':').and_then(OpType::parse).is_some()
            && (w[0].parse::<i64>().is_ok()
                || (w[0].starts_with(':') && w[0] != ":type" && w[0].len() > 1))
            && w[2].starts_with(':')
            && !text.trim_start().starts_with(['{', '['])
    })
}

/// Finds `<process> :<type> :<f> <value> [<error>]` in a line; `None` when the line is no op.
fn parse_line(
    text: &str,
    source: &str,
    line: u32,
    pos: u64,
    names: &mut Interner,
    budget: &Budget,
) -> Result<Option<Op>, Error> {
    let text = text.trim_end_matches(['\n', '\r']);
    // Tokens separated by whitespace, with their byte offsets.
    let mut tokens = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                tokens.push((s, &text[s..i]));
            }
            if tokens.len() >= 64 {
                break;
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        tokens.push((s, &text[s..]));
    }
    for w in 1..tokens.len() {
        let Some(kind) = tokens[w].1.strip_prefix(':').and_then(OpType::parse) else {
            continue;
        };
        let ptok = tokens[w - 1].1;
        let process = if let Ok(p) = ptok.parse::<i64>() {
            Process::Client(p)
        } else if let Some(name) = ptok
            .strip_prefix(':')
            .filter(|n| *n != "type" && !n.is_empty())
        {
            Process::Named(names.get(name))
        } else {
            continue;
        };
        let Some(&(_, ftok)) = tokens.get(w + 1) else {
            continue;
        };
        let Some(f) = ftok.strip_prefix(':') else {
            continue;
        };
        let rest_start = tokens.get(w + 2).map(|t| t.0).unwrap_or(text.len());
        let rest = &text[rest_start..];
        let mut forms = edn::parse_all_within(rest, source, line, rest_start as u32 + 1, budget)
            .map_err(|e| match e {
                Error::Syntax {
                    file,
                    line,
                    col,
                    msg,
                } => Error::Syntax {
                    file,
                    line,
                    col,
                    msg: format!("{msg} (in the value of a Jepsen log line)"),
                },
                other => other,
            })?;
        let mut value = if forms.is_empty() {
            Value::Nil
        } else {
            forms.remove(0)
        };
        let mut extra: Vec<(Arc<str>, Value)> = Vec::new();
        if kind != OpType::Invoke && kind != OpType::Ok && value.as_name() == Some("timed-out") {
            extra.push((names.get("error"), value));
            value = Value::Nil;
        }
        if let Some(err) = forms.into_iter().next() {
            extra.push((names.get("error"), err));
        }
        return Ok(Some(Op {
            index: pos,
            time: None,
            kind,
            process,
            f: names.get(f),
            value,
            extra,
            line,
            col: tokens[w - 1].0 as u32 + 1,
        }));
    }
    Ok(None)
}

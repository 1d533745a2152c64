//! A small, streaming EDN reader, written for Jepsen histories.
//!
//! Why our own: the EDN crates on crates.io either parse whole documents into memory, overflow
//! the stack on deep nesting, or reject what Jepsen actually writes (tagged records such as
//! `#jepsen.history.Op{...}`, `N`/`M` number suffixes, `#_` discards). This one:
//! - reads from any `BufRead` through a fixed buffer, so a 1 GB file needs memory for the ops
//!   kept, not for the text;
//! - parses with an explicit stack (no recursion) and refuses nesting deeper than
//!   [`MAX_DEPTH`] with an error instead of overflowing the stack;
//! - keeps keywords apart from strings; keeps the inner value of any tagged literal (`#inst`,
//!   `#uuid`, `#jepsen.history.Op`) and drops the tag;
//! - tracks line and column of every byte for errors.
//!
//! A history file is either one vector (or list) of op maps, or a sequence of top-level op maps
//! (one a line, usually). [`read_ops`] streams the ops out of either shape.

use crate::error::Error;
use crate::op::Op;
use crate::read::budget::{Budget, Exceeded};
use crate::read::describe;
use crate::read::record::{op_from_record_in, RecordContext};
use crate::value::{float_from_text, int_from_text, number_from_text, Value};
use std::io::Read;

/// Deeper nesting than this is an error: no history needs it, and it bounds the recursion of
/// everything downstream (drop, hash, print).
pub const MAX_DEPTH: usize = 256;

/// Streams the ops of an EDN history into `sink`, within `budget`.
pub(crate) fn read_ops<R: Read>(
    input: R,
    source: &str,
    budget: &Budget,
    cx: &mut RecordContext,
    sink: &mut dyn FnMut(Op) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut p = Parser::new(input, source, budget);
    let mut pos = 0u64;
    p.skip_ws()?;
    match p.peek()? {
        None => {
            return Err(
                p.err("the file has no EDN forms; expected a vector of ops or one op map per line")
            )
        }
        Some(open @ (b'[' | b'(')) => {
            let close = if open == b'[' { b']' } else { b')' };
            p.bump();
            loop {
                p.skip_ws()?;
                match p.peek()? {
                    None => {
                        return Err(p.err(format!(
                            "the file ends inside the top-level {}; expected more ops or a closing '{}' (truncated file?)",
                            if open == b'[' { "vector" } else { "list" },
                            close as char
                        )))
                    }
                    Some(c) if c == close => {
                        p.bump();
                        break;
                    }
                    Some(_) => {
                        let v = p.parse_form()?;
                        sink(p.op(cx, v, pos)?)?;
                        pos += 1;
                    }
                }
            }
            p.skip_ws()?;
            if let Some(c) = p.peek()? {
                return Err(p.err(format!(
                    "found {} after the closing '{}' of the history; expected the end of the file",
                    describe(c),
                    close as char
                )));
            }
        }
        Some(_) => loop {
            p.skip_ws()?;
            if p.peek()?.is_none() {
                break;
            }
            let v = p.parse_form()?;
            sink(p.op(cx, v, pos)?)?;
            pos += 1;
        },
    }
    Ok(())
}

/// Parses every form of a short text (a Jepsen log line's value, `--initial`) that starts at
/// column 1 of `line`.
pub fn parse_all(text: &str, source: &str, line: u32) -> Result<Vec<Value>, Error> {
    parse_all_at(text, source, line, 1)
}

/// Parses every form of a short text that starts at `line`:`col` of its file, so errors name
/// file positions.
pub fn parse_all_at(text: &str, source: &str, line: u32, col: u32) -> Result<Vec<Value>, Error> {
    parse_all_within(text, source, line, col, &Budget::unlimited())
}

/// [`parse_all_at`], charging what it builds to `budget` (a Jepsen log line's value).
pub(crate) fn parse_all_within(
    text: &str,
    source: &str,
    line: u32,
    col: u32,
    budget: &Budget,
) -> Result<Vec<Value>, Error> {
    let mut p = Parser::new(text.as_bytes(), source, budget);
    p.line = line;
    p.col = col;
    let mut out = Vec::new();
    loop {
        p.skip_ws()?;
        if p.peek()?.is_none() {
            return Ok(out);
        }
        out.push(p.parse_form()?);
    }
}

/// Parses exactly one form from a string.
pub fn parse_one(text: &str, source: &str) -> Result<Value, Error> {
    let mut forms = parse_all(text, source, 1)?;
    match forms.len() {
        1 => Ok(forms.pop().expect("one form")),
        0 => Err(Error::syntax(
            source,
            1,
            1,
            "found nothing; expected one EDN value",
        )),
        n => Err(Error::syntax(
            source,
            1,
            1,
            format!("found {n} EDN values; expected one"),
        )),
    }
}

enum Frame {
    /// `[` or `(`: items so far, the closing byte expected.
    Seq {
        items: Vec<Value>,
        close: u8,
        line: u32,
        col: u32,
    },
    Map {
        items: Vec<Value>,
        line: u32,
        col: u32,
    },
    Set {
        items: Vec<Value>,
        line: u32,
        col: u32,
    },
    /// A tag such as `#inst`: the next form is its value, which we keep.
    Tag,
    /// `#_`: the next form is dropped.
    Discard,
}

struct Parser<'s, R> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    line: u32,
    col: u32,
    source: &'s str,
    budget: &'s Budget,
    scratch: Vec<u8>,
    /// Line and column where the last form returned by `parse_form` starts (after any `#_`
    /// discards).
    form_line: u32,
    form_col: u32,
    /// Where each key of the last form's outermost map is written (the op record's fields).
    key_pos: Vec<(u32, u32)>,
    /// Stack index of the outermost map of the form being parsed (below it only tags), or
    /// `usize::MAX`; and where the item about to be read in it starts.
    record_depth: usize,
    item_pos: (u32, u32),
}

impl<'s, R: Read> Parser<'s, R> {
    fn new(input: R, source: &'s str, budget: &'s Budget) -> Self {
        Parser {
            input,
            buf: vec![0u8; 1 << 16].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            line: 1,
            col: 1,
            source,
            budget,
            scratch: Vec::new(),
            form_line: 1,
            form_col: 1,
            key_pos: Vec::new(),
            record_depth: usize::MAX,
            item_pos: (1, 1),
        }
    }

    /// The op of a record form just parsed, with errors at the record's or the field's place.
    fn op(&self, cx: &mut RecordContext, v: Value, pos: u64) -> Result<Op, Error> {
        let op = op_from_record_in(
            cx,
            v,
            pos,
            (self.form_line, self.form_col),
            &self.key_pos,
            self.source,
        )?;
        self.budget.keep(&op).map_err(|e| self.over(e))?;
        Ok(op)
    }

    /// The error for a passed memory limit, at the form being read.
    fn over(&self, e: Exceeded) -> Error {
        self.budget
            .error(e, self.source, self.form_line, self.form_col)
    }

    /// Charges `n` bytes to the form being read.
    fn charge(&self, n: usize) -> Result<(), Error> {
        self.budget.charge(n as u64).map_err(|e| self.over(e))
    }

    /// Checks the text held in `scratch` still fits, every 4 KiB it grows.
    #[inline]
    fn check_scratch(&self) -> Result<(), Error> {
        if self.scratch.len().is_multiple_of(4096) {
            self.budget
                .check_transient(self.scratch.capacity() as u64)
                .map_err(|e| self.over(e))?;
        }
        Ok(())
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::syntax(self.source, self.line, self.col, msg)
    }

    fn err_at(&self, line: u32, col: u32, msg: impl std::fmt::Display) -> Error {
        Error::syntax(self.source, line, col, msg)
    }

    #[inline]
    fn peek(&mut self) -> Result<Option<u8>, Error> {
        if self.pos < self.len {
            return Ok(Some(self.buf[self.pos]));
        }
        self.refill()
    }

    #[cold]
    fn refill(&mut self) -> Result<Option<u8>, Error> {
        if self.eof {
            return Ok(None);
        }
        loop {
            match self.input.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(None);
                }
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(Some(self.buf[0]));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(self.source, e)),
            }
        }
    }

    /// Consumes the byte `peek` just returned.
    #[inline]
    fn bump(&mut self) {
        let c = self.buf[self.pos];
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
    }

    fn next_byte(&mut self) -> Result<Option<u8>, Error> {
        let c = self.peek()?;
        if c.is_some() {
            self.bump();
        }
        Ok(c)
    }

    /// Skips whitespace, commas and `;` comments.
    fn skip_ws(&mut self) -> Result<(), Error> {
        while let Some(c) = self.peek()? {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b',' | 0x0c | 0x0b => self.bump(),
                b';' => {
                    while let Some(c) = self.peek()? {
                        if c == b'\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    fn is_delim(c: u8) -> bool {
        matches!(
            c,
            b' ' | b'\t'
                | b'\n'
                | b'\r'
                | b','
                | b';'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'"'
                | 0x0c
                | 0x0b
        )
    }

    /// Reads a run of token bytes (symbol, number, keyword body, tag name) into `scratch`.
    fn read_token(&mut self) -> Result<(), Error> {
        self.scratch.clear();
        while let Some(c) = self.peek()? {
            if Self::is_delim(c) {
                break;
            }
            self.scratch.push(c);
            self.bump();
            self.check_scratch()?;
        }
        Ok(())
    }

    fn token_str(&self, line: u32, col: u32) -> Result<&str, Error> {
        std::str::from_utf8(&self.scratch).map_err(|_| {
            self.err_at(
                line,
                col,
                "found invalid UTF-8 in a symbol or number; expected UTF-8 text",
            )
        })
    }

    /// Parses one complete form. The caller has skipped whitespace and knows a byte follows.
    fn parse_form(&mut self) -> Result<Value, Error> {
        let mut stack: Vec<Frame> = Vec::new();
        self.record_depth = usize::MAX;
        loop {
            self.skip_ws()?;
            let (line, col) = (self.line, self.col);
            if stack.is_empty() {
                self.form_line = line;
                self.form_col = col;
            } else if stack.len() - 1 == self.record_depth {
                self.item_pos = (line, col);
            }
            let Some(c) = self.peek()? else {
                return Err(match stack.iter().rev().find_map(|f| match f {
                    Frame::Seq { line, col, .. } | Frame::Map { line, col, .. } | Frame::Set { line, col, .. } => {
                        Some((*line, *col))
                    }
                    _ => None,
                }) {
                    Some((l, c)) => self.err(format!(
                        "the file ends inside a collection opened at line {l} column {c}; expected its closing bracket (truncated file?)"
                    )),
                    None => self.err("the file ends where a value was expected (truncated file?)"),
                });
            };
            let value = match c {
                b'(' | b'[' | b'{' => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(self.err(format!(
                            "nesting deeper than {MAX_DEPTH} levels; expected a history of ops, not a deeply nested structure"
                        )));
                    }
                    self.bump();
                    if c == b'{' && stack.iter().all(|f| matches!(f, Frame::Tag)) {
                        self.record_depth = stack.len();
                        self.key_pos.clear();
                    }
                    stack.push(match c {
                        b'(' => Frame::Seq {
                            items: Vec::new(),
                            close: b')',
                            line,
                            col,
                        },
                        b'[' => Frame::Seq {
                            items: Vec::new(),
                            close: b']',
                            line,
                            col,
                        },
                        _ => Frame::Map {
                            items: Vec::new(),
                            line,
                            col,
                        },
                    });
                    continue;
                }
                b')' | b']' | b'}' => {
                    self.bump();
                    let found = c as char;
                    match stack.pop() {
                        Some(Frame::Seq { items, close, .. }) if close == c => Value::List(items),
                        Some(Frame::Set { items, .. }) if c == b'}' => Value::Set(items),
                        Some(Frame::Map { items, line: l, col: cc }) if c == b'}' => {
                            if items.len() % 2 != 0 {
                                return Err(self.err_at(
                                    l,
                                    cc,
                                    "map has an odd number of forms; expected key/value pairs",
                                ));
                            }
                            self.charge(items.len() / 2 * std::mem::size_of::<(Value, Value)>())?;
                            let mut m = Vec::with_capacity(items.len() / 2);
                            let mut it = items.into_iter();
                            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                                m.push((k, v));
                            }
                            Value::Map(m)
                        }
                        Some(Frame::Seq { close, line: l, col: cc, .. }) => {
                            return Err(self.err_at(line, col, format!(
                                "found '{found}'; expected '{}' to close the collection opened at line {l} column {cc}",
                                close as char
                            )))
                        }
                        Some(Frame::Map { line: l, col: cc, .. }) | Some(Frame::Set { line: l, col: cc, .. }) => {
                            return Err(self.err_at(line, col, format!(
                                "found '{found}'; expected '}}' to close the collection opened at line {l} column {cc}"
                            )))
                        }
                        Some(Frame::Tag) | Some(Frame::Discard) | None => {
                            return Err(self.err_at(line, col, format!("found '{found}'; expected a value")))
                        }
                    }
                }
                b'"' => {
                    self.bump();
                    let text = self.read_string(line, col)?;
                    self.charge(text.len())?;
                    Value::Str(text.into())
                }
                b'\\' => {
                    self.bump();
                    Value::Char(self.read_char(line, col)?)
                }
                b':' => {
                    self.bump();
                    self.read_token()?;
                    if self.scratch.is_empty() {
                        return Err(self.err_at(
                            line,
                            col,
                            "found ':' alone; expected a keyword such as :ok",
                        ));
                    }
                    self.charge(self.scratch.len())?;
                    Value::Keyword(self.token_str(line, col)?.into())
                }
                b'#' => {
                    self.bump();
                    match self.peek()? {
                        Some(b'{') => {
                            if stack.len() >= MAX_DEPTH {
                                return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
                            }
                            self.bump();
                            stack.push(Frame::Set { items: Vec::new(), line, col });
                            continue;
                        }
                        Some(b'_') => {
                            self.bump();
                            stack.push(Frame::Discard);
                            continue;
                        }
                        Some(b'#') => {
                            self.bump();
                            self.read_token()?;
                            match self.token_str(line, col)? {
                                "Inf" => Value::Float(f64::INFINITY),
                                "-Inf" => Value::Float(f64::NEG_INFINITY),
                                "NaN" => Value::Float(f64::NAN),
                                other => {
                                    return Err(self.err_at(line, col, format!(
                                        "found ##{other}; expected ##Inf, ##-Inf or ##NaN"
                                    )))
                                }
                            }
                        }
                        Some(b'"') => {
                            // A regex literal: keep its text.
                            self.bump();
                            let text = self.read_string(line, col)?;
                            self.charge(text.len())?;
                            Value::Str(text.into())
                        }
                        Some(c) if !Self::is_delim(c) => {
                            self.read_token()?;
                            if stack.len() >= MAX_DEPTH {
                                return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
                            }
                            stack.push(Frame::Tag);
                            continue;
                        }
                        _ => {
                            return Err(self.err_at(line, col, "found '#' alone; expected #{ (a set), #_ (discard), or a tag such as #inst"))
                        }
                    }
                }
                _ => {
                    self.read_token()?;
                    if self.scratch.is_empty() {
                        // Cannot happen: c is not a delimiter handled above. Consume it anyway.
                        self.bump();
                        return Err(self.err_at(
                            line,
                            col,
                            format!("found {}; expected a value", describe(c)),
                        ));
                    }
                    self.charge(self.scratch.len())?;
                    self.atom(line, col)?
                }
            };
            // Hand the finished value to the enclosing frame.
            let mut value = Some(value);
            while let Some(v) = value.take() {
                let depth = stack.len().wrapping_sub(1);
                match stack.last_mut() {
                    None => return Ok(v),
                    Some(Frame::Map { items, .. }) => {
                        if depth == self.record_depth && items.len() % 2 == 0 {
                            self.key_pos.push(self.item_pos);
                        }
                        if let Err(e) = self.budget.push(items, v) {
                            return Err(self.over(e));
                        }
                    }
                    Some(Frame::Seq { items, .. }) | Some(Frame::Set { items, .. }) => {
                        if let Err(e) = self.budget.push(items, v) {
                            return Err(self.over(e));
                        }
                    }
                    Some(Frame::Tag) => {
                        stack.pop();
                        value = Some(v);
                    }
                    Some(Frame::Discard) => {
                        stack.pop();
                    }
                }
            }
        }
    }

    /// A number, `nil`, `true`, `false` or a symbol, from `scratch`.
    fn atom(&self, line: u32, col: u32) -> Result<Value, Error> {
        let t = self.token_str(line, col)?;
        let b = t.as_bytes();
        let numeric = b[0].is_ascii_digit()
            || ((b[0] == b'-' || b[0] == b'+') && b.len() > 1 && b[1].is_ascii_digit());
        if !numeric {
            return Ok(match t {
                "nil" => Value::Nil,
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::Symbol(t.into()),
            });
        }
        let bad = || self.err_at(line, col, format!("found {t:?}; expected a number"));
        let number = |r: Result<Value, String>| r.map_err(|msg| self.err_at(line, col, msg));
        if let Some(digits) = t.strip_suffix('N') {
            return int_from_text(digits).ok_or_else(bad);
        }
        if let Some(d) = t.strip_suffix('M') {
            // A BigDecimal: read as a float when one holds it exactly (see `value`).
            return number(float_from_text(d).map(Value::Float));
        }
        if t.contains('/') {
            return Err(self.err_at(
                line,
                col,
                format!(
                    "found the ratio {t}; expected an integer or a decimal number (a ratio read \
                     as a float would be rounded and could merge with another number)"
                ),
            ));
        }
        number(number_from_text(t))
    }

    fn read_string(&mut self, line: u32, col: u32) -> Result<String, Error> {
        self.scratch.clear();
        loop {
            let Some(c) = self.next_byte()? else {
                return Err(self.err(format!(
                    "the file ends inside a string that starts at line {line} column {col}; expected a closing '\"'"
                )));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.next_byte()? else { continue };
                    match e {
                        b'n' => self.scratch.push(b'\n'),
                        b't' => self.scratch.push(b'\t'),
                        b'r' => self.scratch.push(b'\r'),
                        b'b' => self.scratch.push(8),
                        b'f' => self.scratch.push(12),
                        b'"' | b'\\' | b'/' | b'\'' => self.scratch.push(e),
                        b'u' => {
                            let ch = self.read_hex4()?;
                            let mut tmp = [0u8; 4];
                            self.scratch
                                .extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        other => {
                            return Err(self.err(format!(
                                "found escape \\{}; expected one of \\n \\t \\r \\\" \\\\ \\uXXXX",
                                other as char
                            )))
                        }
                    }
                }
                _ => {
                    self.scratch.push(c);
                    self.check_scratch()?;
                }
            }
        }
        String::from_utf8(std::mem::take(&mut self.scratch)).map_err(|_| {
            self.err_at(
                line,
                col,
                "found invalid UTF-8 in a string; expected UTF-8 text",
            )
        })
    }

    fn read_hex4(&mut self) -> Result<char, Error> {
        let mut n = 0u32;
        for _ in 0..4 {
            let d = self
                .next_byte()?
                .and_then(|c| (c as char).to_digit(16))
                .ok_or_else(|| self.err("found a bad \\u escape; expected four hex digits"))?;
            n = n * 16 + d;
        }
        Ok(char::from_u32(n).unwrap_or('\u{fffd}'))
    }

    fn read_char(&mut self, line: u32, col: u32) -> Result<char, Error> {
        // The first byte always belongs to the char, even a delimiter such as `\(`.
        let Some(first) = self.next_byte()? else {
            return Err(self.err("the file ends after '\\'; expected a character"));
        };
        self.read_token()?;
        let mut bytes = vec![first];
        bytes.extend_from_slice(&self.scratch);
        let s = std::str::from_utf8(&bytes).map_err(|_| {
            self.err_at(
                line,
                col,
                "found invalid UTF-8 in a character; expected UTF-8",
            )
        })?;
        Ok(match s {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "backspace" => '\u{8}',
            "formfeed" => '\u{c}',
            _ if s.starts_with('u') && s.len() == 5 => u32::from_str_radix(&s[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| {
                    self.err_at(line, col, format!("found \\{s}; expected a character"))
                })?,
            _ => {
                let mut it = s.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => c,
                    _ => {
                        return Err(self.err_at(
                            line,
                            col,
                            format!("found \\{s}; expected a character such as \\a or \\newline"),
                        ))
                    }
                }
            }
        })
    }
}

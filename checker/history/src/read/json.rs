//! JSON reader: one array of op objects, or JSON Lines (one object per line — the format labrys
//! itself writes).
//!
//! Streaming without giving up good errors: a small scanner walks the bytes, tracking strings and
//! bracket depth, and cuts out one record at a time (a top-level object in JSON Lines, an
//! element of the top-level array otherwise). Each record's bytes go to `serde_json`, which
//! builds our [`Value`] directly (no `serde_json::Value` in between). Memory holds one record's
//! text; errors get the record's line plus serde's offset inside it. What a record builds is
//! charged to the reading budget as it is built (see `budget`), and its text is checked while it
//! grows, so an enormous record stops reading instead of exhausting memory.
//!
//! Numbers are read exactly, as EDN numbers are ([`crate::value::number_from_text`]): integers
//! at any size, floats only when the text names one float. serde_json hands over every integer
//! that fits in i64 or u64 as an integer and everything else as an `f64`; for those the reader
//! goes back to the number's text in the record (numbers reach the visitor in text order, so
//! the next number literal that serde would make a float is the one) and reads that instead.
//! We do not turn on serde_json's `arbitrary_precision` feature for this: Cargo unifies
//! features, so it would change `serde_json::Number` for every crate of the workspace (the
//! harness's and the etcd client's JSON included), make every number a string inside serde,
//! and break `#[serde(flatten)]`, which the check result uses; the text is already here.

use crate::error::Error;
use crate::op::Op;
use crate::read::budget::{Budget, Exceeded};
use crate::read::describe;
use crate::read::record::{op_from_record_in, RecordBuilder, RecordContext};
use crate::value::{number_from_text, Value};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::BufRead;

/// Streams the ops of a JSON or JSON Lines history into `sink`, within `budget`.
pub(crate) fn read<R: BufRead>(
    input: &mut R,
    source: &str,
    budget: &Budget,
    cx: &mut RecordContext,
    sink: &mut dyn FnMut(Op) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut pos = 0u64;
    let mut on_record = |bytes: &[u8], line: u32, col: u32| -> Result<(), Error> {
        let rec = Record {
            bytes,
            budget,
            num_cursor: Cell::new(0),
            bad_number: RefCell::new(None),
        };
        let op = if bytes.first() == Some(&b'{') {
            // The common case: build the op straight from the object's fields.
            let mut b = RecordBuilder::default();
            deserialize_with(
                &rec,
                source,
                line,
                col,
                RecordSeed {
                    rec: &rec,
                    cx: &mut *cx,
                    builder: &mut b,
                },
            )?;
            b.finish(cx, pos, line, col).map_err(|e| {
                e.at(source, line, col, |_, name| {
                    key_offset(bytes, name).map(|off| place_in(bytes, off, line, col))
                })
            })?
        } else {
            let v = deserialize_with(&rec, source, line, col, ValueSeed(&rec))?;
            op_from_record_in(cx, v, pos, (line, col), &[], source)?
        };
        budget
            .keep(&op)
            .map_err(|e| budget.error(e, source, line, col))?;
        sink(op)?;
        pos += 1;
        Ok(())
    };
    scan(input, source, budget, &mut on_record)
}

/// Parses one JSON value from `bytes`, which start at `line`:`col` of the file (`--initial`,
/// tests): numbers exactly, no memory limit.
pub fn parse_value(bytes: &[u8], source: &str, line: u32, col: u32) -> Result<Value, Error> {
    let budget = Budget::unlimited();
    let rec = Record {
        bytes,
        budget: &budget,
        num_cursor: Cell::new(0),
        bad_number: RefCell::new(None),
    };
    deserialize_with(&rec, source, line, col, ValueSeed(&rec))
}

/// One record being read: its text, the budget, and where the number scan is.
struct Record<'b> {
    bytes: &'b [u8],
    budget: &'b Budget,
    /// Offset in `bytes` after the last number literal handed over as a float.
    num_cursor: Cell<usize>,
    /// A number literal that cannot be read exactly: its offset in `bytes`, and why.
    bad_number: RefCell<Option<(usize, String)>>,
}

impl Record<'_> {
    /// Charges `n` bytes, as a serde error when the budget is spent.
    fn charge<E: serde::de::Error>(&self, n: usize) -> Result<(), E> {
        self.budget.charge(n as u64).map_err(over::<E>)
    }

    fn push<T, E: serde::de::Error>(&self, v: &mut Vec<T>, x: T) -> Result<(), E> {
        self.budget.push(v, x).map_err(over::<E>)
    }

    fn string<E: serde::de::Error>(&self, s: &str) -> Result<Value, E> {
        self.charge::<E>(s.len())?;
        Ok(Value::Str(s.into()))
    }

    /// The value of the number serde just parsed as the float `f`, read from its text
    /// instead.
    fn wide_number<E: serde::de::Error>(&self, f: f64) -> Result<Value, E> {
        let found = next_wide_number(self.bytes, self.num_cursor.get());
        // Number literals are ASCII.
        let text = found
            .and_then(|(start, end)| std::str::from_utf8(&self.bytes[start..end]).ok())
            .unwrap_or_default();
        // The text must be the number serde read (to within its rounding): never read one
        // number's text for another's.
        let same = text
            .parse::<f64>()
            .is_ok_and(|t| t == f || (t - f).abs() <= f.abs().max(t.abs()) * 1e-15);
        let Some((start, end)) = found.filter(|_| same) else {
            return Err(E::custom(format!(
                "could not find the text of the number {f} in the record; expected plain JSON numbers"
            )));
        };
        self.num_cursor.set(end);
        number_from_text(text).map_err(|msg| {
            *self.bad_number.borrow_mut() = Some((start, msg.clone()));
            E::custom(msg)
        })
    }
}

fn over<E: serde::de::Error>(_: Exceeded) -> E {
    E::custom("over the memory limit")
}

/// The next number literal at or after `from` that serde_json hands over as a float: one with
/// a fraction or an exponent, or an integer outside i64 (negative) or u64 (positive).
fn next_wide_number(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let text = std::str::from_utf8(&bytes[start..i]).ok()?;
                // serde_json also hands `-0` over as a float (-0.0).
                let wide = text.contains(['.', 'e', 'E'])
                    || if text.starts_with('-') {
                        text.parse::<i64>().map_or(true, |i| i == 0)
                    } else {
                        text.parse::<u64>().is_err()
                    };
                if wide {
                    return Some((start, i));
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Where the key `name` of a record's top-level object is written: the offset of its opening
/// quote in `bytes` (the record's text), or `None` when it is not there as written.
fn key_offset(bytes: &[u8], name: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let text = bytes.get(start + 1..i)?;
                if depth == 1 && text == name.as_bytes() {
                    let rest = bytes.get(i + 1..)?;
                    let after = rest.iter().find(|c| !c.is_ascii_whitespace());
                    if after == Some(&b':') {
                        return Some(start);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The file position of byte `off` of a record that starts at `line`:`col`.
pub(crate) fn place_in(bytes: &[u8], off: usize, line: u32, col: u32) -> (u32, u32) {
    let before = &bytes[..off.min(bytes.len())];
    match memchr::memrchr(b'\n', before) {
        None => (line, col + off as u32),
        Some(nl) => (
            line + memchr::memchr_iter(b'\n', before).count() as u32,
            (off - nl) as u32,
        ),
    }
}

/// Runs a seed over the record's text (which starts at `line`:`col` of the file), mapping
/// serde's errors to file positions; a bad number is reported where it is written, a passed
/// memory limit at the record.
fn deserialize_with<'de, S: DeserializeSeed<'de>>(
    rec: &Record<'de>,
    source: &str,
    line: u32,
    col: u32,
    seed: S,
) -> Result<S::Value, Error> {
    let mut de = serde_json::Deserializer::from_slice(rec.bytes);
    seed.deserialize(&mut de)
        .and_then(|v| de.end().map(|_| v))
        .map_err(|e| {
            if let Some(over) = rec.budget.exceeded() {
                return rec.budget.error(over, source, line, col);
            }
            if let Some((off, msg)) = rec.bad_number.borrow_mut().take() {
                let (l, c) = place_in(rec.bytes, off, line, col);
                return Error::syntax(source, l, c, msg);
            }
            let (l, c) = (e.line() as u32, e.column() as u32);
            let (line, col) = if l <= 1 {
                (line, col + c.saturating_sub(1))
            } else {
                (line + l - 1, c)
            };
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            Error::syntax(
                source,
                line,
                col,
                format!("{msg} (in the JSON record starting here)"),
            )
        })
}

/// Feeds the fields of one top-level JSON object to a [`RecordBuilder`].
struct RecordSeed<'a, 'b> {
    rec: &'a Record<'b>,
    cx: &'a mut RecordContext,
    builder: &'a mut RecordBuilder,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an op object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while let Some(k) = a.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == "type" || k == "f" {
                match a.next_value_seed(NameOrValueSeed(self.rec))? {
                    NameOrValue::Name(text) => self.builder.name_field(self.cx, &k, &text),
                    NameOrValue::Value(v) => self.builder.field(self.cx, &k, v),
                }
            } else {
                let v = a.next_value_seed(ValueSeed(self.rec))?;
                self.builder.field(self.cx, &k, v);
            }
        }
        Ok(())
    }
}

/// Called with each record's bytes and the line and column where it starts.
type OnRecord<'a> = dyn FnMut(&[u8], u32, u32) -> Result<(), Error> + 'a;

/// Splits the input into records and calls `on_record(bytes, line, col)` for each.
fn scan<R: BufRead>(
    input: &mut R,
    source: &str,
    budget: &Budget,
    on_record: &mut OnRecord<'_>,
) -> Result<(), Error> {
    #[derive(PartialEq)]
    enum Top {
        Unknown,
        Lines,
        Array,
        ArrayDone,
    }
    let mut top = Top::Unknown;
    let mut rec: Vec<u8> = Vec::new();
    let mut line = 1u32;
    // Absolute offsets: of the current chunk's first byte, and of the current line's start.
    let (mut abs, mut line_start) = (0usize, 0usize);
    let col_at = |abs_pos: usize, line_start: usize| (abs_pos - line_start + 1) as u32;
    let (mut rec_line, mut rec_col) = (0u32, 0u32);
    let mut closers: Vec<u8> = Vec::new(); // closing brackets expected inside the current record
    let mut in_str = false;
    let mut escaped = false;
    // In an array: whether a comma is needed (true) or a value (false) before the next record.
    let mut need_comma = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(source, e)),
        };
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let mut i = 0;
        // Where the current record's bytes begin in this chunk (when inside one).
        let mut seg = 0;
        while i < n {
            if in_str {
                // Skip to the next quote or backslash; JSON strings hold no raw newlines.
                if escaped {
                    escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    None => i = n,
                    Some(j) => {
                        i += j;
                        if buf[i] == b'\\' {
                            escaped = true;
                        } else {
                            in_str = false;
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let c = buf[i];
            if c == b'{' && closers.is_empty() && matches!(top, Top::Unknown | Top::Lines) {
                // JSON Lines fast path: a line that opens and closes an object is one record
                // (JSON strings hold no raw newlines), handed over without a byte-by-byte scan.
                if let Some(j) = memchr::memchr(b'\n', &buf[i..]) {
                    let mut line_bytes = &buf[i..i + j];
                    while let [rest @ .., b' ' | b'\t' | b'\r'] = line_bytes {
                        line_bytes = rest;
                    }
                    if line_bytes.ends_with(b"}") {
                        top = Top::Lines;
                        on_record(line_bytes, line, col_at(abs + i, line_start))?;
                        i += j; // the newline itself is handled below
                        line += 1;
                        line_start = abs + i + 1;
                        i += 1;
                        continue;
                    }
                }
            }
            if !closers.is_empty() {
                // Inside a record: track strings and depth; bytes are copied in bulk.
                match c {
                    b'"' => in_str = true,
                    b'{' => closers.push(b'}'),
                    b'[' => closers.push(b']'),
                    b'}' | b']' => {
                        if closers.pop() != Some(c) {
                            // Mismatched: let serde point at the exact place.
                            rec.extend_from_slice(&buf[seg..=i]);
                            parse_value(&rec, source, rec_line, rec_col)?;
                            return Err(Error::syntax(
                                source,
                                line,
                                col_at(abs + i, line_start),
                                format!("found '{}'; expected a matching bracket", c as char),
                            ));
                        }
                        if closers.is_empty() {
                            if rec.is_empty() {
                                on_record(&buf[seg..=i], rec_line, rec_col)?;
                            } else {
                                rec.extend_from_slice(&buf[seg..=i]);
                                on_record(&rec, rec_line, rec_col)?;
                                rec.clear();
                                if rec.capacity() > 1 << 20 {
                                    rec = Vec::new(); // don't keep a huge record's buffer
                                }
                            }
                            need_comma = top == Top::Array;
                        }
                    }
                    _ => {}
                }
            } else {
                let col = col_at(abs + i, line_start);
                match c {
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    0xef | 0xbb | 0xbf if line == 1 && col <= 3 => {} // UTF-8 byte order mark
                    b'[' if top == Top::Unknown => top = Top::Array,
                    b',' if top == Top::Array && need_comma => need_comma = false,
                    b']' if top == Top::Array => top = Top::ArrayDone,
                    b'{' | b'[' if top != Top::ArrayDone && !(top == Top::Array && need_comma) => {
                        if top == Top::Unknown {
                            top = Top::Lines;
                        }
                        closers.push(if c == b'{' { b'}' } else { b']' });
                        rec_line = line;
                        rec_col = col;
                        seg = i;
                    }
                    _ => {
                        let expected = match top {
                            Top::Unknown | Top::Lines => {
                                "a JSON object (one op per line) or an array of ops"
                            }
                            Top::Array if need_comma => "',' or ']' after an op in the array",
                            Top::Array => "an op object",
                            Top::ArrayDone => "the end of the file after the array's closing ']'",
                        };
                        return Err(Error::syntax(
                            source,
                            line,
                            col,
                            format!("found {}; expected {expected}", describe(c)),
                        ));
                    }
                }
            }
            if c == b'\n' {
                line += 1;
                line_start = abs + i + 1;
            }
            i += 1;
        }
        if !closers.is_empty() {
            // Check the room the text will take before taking it.
            let need = rec.len() + (n - seg);
            let cap = if need > rec.capacity() {
                need.max(2 * rec.capacity())
            } else {
                rec.capacity()
            };
            budget
                .check_transient(cap as u64)
                .map_err(|e| budget.error(e, source, rec_line, rec_col))?;
            rec.reserve_exact(cap - rec.len());
            rec.extend_from_slice(&buf[seg..n]);
        }
        abs += n;
        input.consume(n);
    }
    let col = col_at(abs, line_start);
    if !closers.is_empty() {
        return Err(Error::syntax(
            source,
            line,
            col,
            format!("the file ends inside the JSON record that starts at line {rec_line} column {rec_col}; expected the rest of it (truncated file?)"),
        ));
    }
    match top {
        Top::Unknown => Err(Error::syntax(
            source,
            line,
            col,
            "the file has no JSON records; expected an array of ops or one op object per line",
        )),
        Top::Array => Err(Error::syntax(
            source,
            line,
            col,
            "the file ends inside the top-level array; expected ']' (truncated file?)",
        )),
        _ => Ok(()),
    }
}

/// A string borrowed from the input when it can be, any other value otherwise.
enum NameOrValue<'de> {
    Name(std::borrow::Cow<'de, str>),
    Value(Value),
}

struct NameOrValueSeed<'a, 'b>(&'a Record<'b>);

impl<'de> DeserializeSeed<'de> for NameOrValueSeed<'_, 'de> {
    type Value = NameOrValue<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NameOrValueSeed<'_, 'de> {
    type Value = NameOrValue<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(NameOrValue::Name(std::borrow::Cow::Borrowed(s)))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        self.0.charge::<E>(s.len())?;
        Ok(NameOrValue::Name(std::borrow::Cow::Owned(s.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NameOrValue::Value(Value::Nil))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(NameOrValue::Value(Value::Bool(b)))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
        Ok(NameOrValue::Value(Value::Int(i)))
    }
    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Self::Value, E> {
        ValueSeed(self.0).visit_u64(u).map(NameOrValue::Value)
    }
    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Self::Value, E> {
        ValueSeed(self.0).visit_f64(f).map(NameOrValue::Value)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        ValueSeed(self.0).visit_seq(a).map(NameOrValue::Value)
    }
    fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        ValueSeed(self.0).visit_map(a).map(NameOrValue::Value)
    }
}

/// Deserializes straight into [`Value`], charging what it builds to the record's budget.
struct ValueSeed<'a, 'b>(&'a Record<'b>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, 'de> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, 'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
        match i64::try_from(u) {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => {
                let digits = u.to_string();
                self.0.charge::<E>(digits.len())?;
                Ok(Value::BigInt(digits.into()))
            }
        }
    }
    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Value, E> {
        let v = self.0.wide_number::<E>(f)?;
        if let Value::BigInt(digits) = &v {
            self.0.charge::<E>(digits.len())?;
        }
        Ok(v)
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Value, E> {
        self.0.string(s)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element_seed(ValueSeed(self.0))? {
            self.0.push::<_, A::Error>(&mut v, x)?;
        }
        Ok(Value::List(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut m = Vec::new();
        while let Some(k) = a.next_key::<std::borrow::Cow<'de, str>>()? {
            let k = self.0.string::<A::Error>(&k)?;
            let v = a.next_value_seed(ValueSeed(self.0))?;
            self.0.push::<_, A::Error>(&mut m, (k, v))?;
        }
        Ok(Value::Map(m))
    }
}

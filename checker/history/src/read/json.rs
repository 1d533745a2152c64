//! JSON reader: one array of op objects, or JSON Lines (one object per line — the format labrys
//! itself writes).
//!
//! Streaming without giving up good errors: a small scanner walks the bytes, tracking strings and
//! bracket depth, and cuts out one record at a time (a top-level object in JSON Lines, an
//! element of the top-level array otherwise). Each record's bytes go to `serde_json`, which
//! builds our [`Value`] directly (no `serde_json::Value` in between). Memory holds one record's
//! text; errors get the record's line plus serde's offset inside it.
//!
//! Integers beyond 64 bits: up to u64 they are kept exactly; beyond that serde_json gives a
//! float (JSON has no bigger integer type in practice; EDN histories keep them exactly).

use crate::error::Error;
use crate::op::Op;
use crate::read::describe;
use crate::read::record::{op_from_record_in, RecordBuilder, RecordContext};
use crate::value::Value;
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io::BufRead;

/// Streams the ops of a JSON or JSON Lines history into `sink`.
pub fn read<R: BufRead>(
    input: &mut R,
    source: &str,
    sink: &mut dyn FnMut(Op) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut cx = RecordContext::default();
    let mut pos = 0u64;
    let mut on_record = |bytes: &[u8], line: u32, col: u32| -> Result<(), Error> {
        let op = if bytes.first() == Some(&b'{') {
            // The common case: build the op straight from the object's fields.
            let mut b = RecordBuilder::default();
            deserialize_with(
                bytes,
                source,
                line,
                col,
                RecordSeed {
                    cx: &mut cx,
                    builder: &mut b,
                },
            )?;
            b.finish(&mut cx, pos, line, source)?
        } else {
            let v = parse_record(bytes, source, line, col)?;
            op_from_record_in(&mut cx, v, pos, line, source)?
        };
        sink(op)?;
        pos += 1;
        Ok(())
    };
    scan(input, source, &mut on_record)
}

/// Runs a seed over `bytes` (which start at `line`:`col` of the file), mapping serde's errors
/// to file positions.
fn deserialize_with<'de, S: DeserializeSeed<'de>>(
    bytes: &'de [u8],
    source: &str,
    line: u32,
    col: u32,
    seed: S,
) -> Result<S::Value, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    seed.deserialize(&mut de)
        .and_then(|v| de.end().map(|_| v))
        .map_err(|e| {
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
struct RecordSeed<'a> {
    cx: &'a mut RecordContext,
    builder: &'a mut RecordBuilder,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an op object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while let Some(k) = a.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == "type" || k == "f" {
                match a.next_value::<NameOrValue<'de>>()? {
                    NameOrValue::Name(text) => self.builder.name_field(self.cx, &k, &text),
                    NameOrValue::Value(v) => self.builder.field(self.cx, &k, v),
                }
            } else {
                let JsonValue(v) = a.next_value()?;
                self.builder.field(self.cx, &k, v);
            }
        }
        Ok(())
    }
}

/// Parses one JSON value from `bytes`, which start at `line`:`col` of the file.
pub fn parse_record(bytes: &[u8], source: &str, line: u32, col: u32) -> Result<Value, Error> {
    deserialize_with(
        bytes,
        source,
        line,
        col,
        std::marker::PhantomData::<JsonValue>,
    )
    .map(|v| v.0)
}

/// Called with each record's bytes and the line and column where it starts.
type OnRecord<'a> = dyn FnMut(&[u8], u32, u32) -> Result<(), Error> + 'a;

/// Splits the input into records and calls `on_record(bytes, line, col)` for each.
fn scan<R: BufRead>(
    input: &mut R,
    source: &str,
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
                            parse_record(&rec, source, rec_line, rec_col)?;
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

impl<'de> Deserialize<'de> for NameOrValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NameOrValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(NameOrValue::Name(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
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
                ValueVisitor.visit_u64(u).map(NameOrValue::Value)
            }
            fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
                Ok(NameOrValue::Value(Value::Float(f)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                ValueVisitor.visit_seq(a).map(NameOrValue::Value)
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                ValueVisitor.visit_map(a).map(NameOrValue::Value)
            }
        }
        d.deserialize_any(V)
    }
}

/// Deserializes straight into [`Value`].
struct JsonValue(Value);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(JsonValue)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
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
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(u.to_string().into()),
        })
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.into()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s.into_boxed_str()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(64));
        while let Some(JsonValue(x)) = a.next_element()? {
            v.push(x);
        }
        Ok(Value::List(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut m = Vec::with_capacity(a.size_hint().unwrap_or(0).min(16));
        while let Some((k, JsonValue(v))) =
            a.next_entry::<std::borrow::Cow<'de, str>, JsonValue>()?
        {
            m.push((Value::Str(k.as_ref().into()), v));
        }
        Ok(Value::Map(m))
    }
}

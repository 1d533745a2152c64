//! Values carried by ops: the union of what EDN and JSON can express.
//!
//! Jepsen histories are EDN, Porcupine's and ours are JSON. A checker must not care which one a
//! history came from, so both readers produce this one type. Two distinctions are kept because
//! they matter to someone: keywords vs strings (`:ok` is not `"ok"` inside a value), and sets vs
//! vectors (a set read is unordered). Lists and vectors are one variant: no checker here gives
//! `(1 2)` and `[1 2]` different meanings.
//!
//! Numbers, read the same way from JSON and EDN ([`number_from_text`]), so that two values that
//! differ in the file never become one value here:
//! - integers are exact at any size: `Int` when they fit in i64, otherwise `BigInt` with their
//!   decimal digits in one canonical spelling (no `+`, no leading zeros), so `2^64` and
//!   `2^64 + 1` stay apart and `1N` is `1` (as in Clojure);
//! - numbers written with a fraction or an exponent are 64-bit floats, as in Clojure, Knossos,
//!   Elle and Porcupine. A text is read only when it is that float correctly rounded to the
//!   digits written (`0.1`, `0.10000000000000001`, or a float's full expansion all are the
//!   float 0.1): such texts are what a program printing its floats writes, and each names one
//!   float. A text holding more than any float does (`0.1000000000000000000001`, a 25-digit
//!   integer written as `…0.0`, `1e-400`, `1e400`) is an error naming its place: reading it as
//!   the nearest float would merge it with the other numbers that round there;
//! - an integer and a float are never equal, even of the same value (`1` is not `1.0`), as with
//!   Clojure's `=`, which is what Knossos and Elle compare with.

use std::fmt;
use std::hash::{Hash, Hasher};

/// A value from a history.
#[derive(Clone, Debug, Default)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    /// An integer outside i64 (EDN `N` suffix, or simply too many digits), as decimal digits
    /// with an optional leading `-`.
    BigInt(Box<str>),
    Float(f64),
    Str(Box<str>),
    /// An EDN keyword, without the leading colon (`:read` is `Keyword("read")`).
    Keyword(Box<str>),
    /// An EDN symbol (or a JSON string never; only EDN produces symbols).
    Symbol(Box<str>),
    Char(char),
    /// EDN vectors and lists, JSON arrays.
    List(Vec<Value>),
    /// EDN sets `#{...}`, in the order they were written.
    Set(Vec<Value>),
    /// EDN and JSON maps, in the order they were written.
    Map(Vec<(Value, Value)>),
}

impl Value {
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text of a string, keyword or symbol: the "name" a value stands for. `:read`, `read`
    /// and `"read"` all give `"read"`.
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Keyword(s) | Value::Symbol(s) => Some(s),
            _ => None,
        }
    }

    /// Only a string's text (not a keyword's).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The elements of a list, vector or set.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Looks up a map entry whose key is named `name` (keyword, string or symbol).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_name() == Some(name))
            .map(|(_, v)| v)
    }

    /// Name-equality: true when both are names (string/keyword/symbol) with the same text, or
    /// the values are equal. Use it where `:r` and `"r"` mean the same thing (micro-op tags, `f`).
    pub fn same_name(&self, other: &Value) -> bool {
        match (self.as_name(), other.as_name()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }

    /// Builds a keyword.
    pub fn kw(s: &str) -> Value {
        Value::Keyword(s.into())
    }

    /// Builds a string.
    pub fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    /// A short name of the variant, for error messages ("expected a list, found a map").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::BigInt(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Keyword(_) => "a keyword",
            Value::Symbol(_) => "a symbol",
            Value::Char(_) => "a character",
            Value::List(_) => "a list",
            Value::Set(_) => "a set",
            Value::Map(_) => "a map",
        }
    }

    /// Converts to JSON: keywords and symbols become strings, sets become arrays, maps with
    /// non-name keys become their EDN text as keys, big integers become numbers when serde_json
    /// can hold them exactly and strings otherwise.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Nil => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::BigInt(s) => s
                .parse::<u64>()
                .map(J::from)
                .unwrap_or_else(|_| J::String(s.to_string())),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(s) | Value::Keyword(s) | Value::Symbol(s) => J::String(s.to_string()),
            Value::Char(c) => J::String(c.to_string()),
            Value::List(v) | Value::Set(v) => J::Array(v.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| {
                        let key = match k.as_name() {
                            Some(n) => n.to_string(),
                            None => k.to_string(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
        }
    }

    /// Converts from JSON (numbers that are not i64 become floats, or big integers when integral).
    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Nil,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::BigInt(u.to_string().into())
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => Value::Str(s.as_str().into()),
            J::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (Value::Str(k.as_str().into()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// Reads a number as JSON or EDN writes it (no suffixes): an integer (exact at any size) or a
/// float (see the module doc). The error says what is wrong with the text.
pub fn number_from_text(text: &str) -> Result<Value, String> {
    if text.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        float_from_text(text).map(Value::Float)
    } else {
        int_from_text(text).ok_or_else(|| format!("found {text:?}; expected a number"))
    }
}

/// An integer: `Int` when it fits in i64, else `BigInt` with canonical digits. `None` when the
/// text is not an optionally signed run of decimal digits.
pub fn int_from_text(t: &str) -> Option<Value> {
    let t = t.strip_prefix('+').unwrap_or(t);
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::Int(i));
    }
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    let sign = if t.starts_with('-') { "-" } else { "" };
    Some(Value::BigInt(format!("{sign}{trimmed}").into()))
}

/// A float whose text names it exactly (see the module doc), or why not.
pub fn float_from_text(text: &str) -> Result<f64, String> {
    let f: f64 = text
        .parse()
        .map_err(|_| format!("found {text:?}; expected a number"))?;
    let Some(written) = Decimal::parse(text) else {
        return Err(format!("found {text:?}; expected a number"));
    };
    if !f.is_finite() {
        return Err(format!(
            "found {text}, which is beyond the range of a 64-bit float; expected a number \
             within ±1.8e308"
        ));
    }
    // The float rounded to as many significant digits as the text has: equal when the text is
    // a correct printing of the float. Longer texts than any float needs are compared in full.
    let digits = written.digits.len().clamp(1, 800);
    let printed = Decimal::parse(&format!("{:.*e}", digits - 1, f));
    if written.digits.len() <= 800 && printed.as_ref() == Some(&written) {
        return Ok(f);
    }
    Err(format!(
        "found {text}, which no 64-bit float holds: it would be rounded to {f:?} and so become \
         equal to every other number that rounds there; expected a number within a float's \
         precision (at most 17 significant digits) or an integer"
    ))
}

/// A decimal number's value: sign, significant digits (no leading or trailing zeros), and the
/// power of ten of the last digit. Zero has no digits.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exp: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, t) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], t[i + 1..].parse::<i64>().ok()?),
            None => (t, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let all: String = int.chars().chain(frac.chars()).collect();
        let lead = all.trim_start_matches('0');
        let digits = lead.trim_end_matches('0');
        let exp = exp
            .checked_sub(frac.len() as i64)?
            .checked_add((lead.len() - digits.len()) as i64)?;
        Some(if digits.is_empty() {
            Decimal {
                negative,
                digits: String::new(),
                exp: 0,
            }
        } else {
            Decimal {
                negative,
                digits: digits.to_string(),
                exp,
            }
        })
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Nil, Nil) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) => a == b,
            (Keyword(a), Keyword(b)) => a == b,
            (Symbol(a), Symbol(b)) => a == b,
            (Char(a), Char(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Set(a), Set(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (Map(a), Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
            }
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Nil => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::BigInt(s) | Value::Str(s) | Value::Keyword(s) | Value::Symbol(s) => {
                s.hash(state)
            }
            Value::Float(f) => f.to_bits().hash(state),
            Value::Char(c) => c.hash(state),
            Value::List(v) => v.hash(state),
            // Order-insensitive: sets and maps equal regardless of written order.
            Value::Set(v) => {
                state.write_usize(v.len());
                let mut acc = 0u64;
                for x in v {
                    acc = acc.wrapping_add(hash_one(x));
                }
                state.write_u64(acc);
            }
            Value::Map(m) => {
                state.write_usize(m.len());
                let mut acc = 0u64;
                for (k, v) in m {
                    acc = acc.wrapping_add(hash_one(k).wrapping_mul(31).wrapping_add(hash_one(v)));
                }
                state.write_u64(acc);
            }
        }
    }
}

fn hash_one(v: &Value) -> u64 {
    use std::collections::hash_map::DefaultHasher;
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Prints EDN text, which reads back to an equal value.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::BigInt(s) => write!(f, "{s}N"),
            Value::Float(x) => {
                if x.is_nan() {
                    write!(f, "##NaN")
                } else if x.is_infinite() {
                    write!(f, "{}", if *x > 0.0 { "##Inf" } else { "##-Inf" })
                } else {
                    // Always with a `.` or an exponent, so it reads back as a float.
                    write!(f, "{x:?}")
                }
            }
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Keyword(s) => write!(f, ":{s}"),
            Value::Symbol(s) => write!(f, "{s}"),
            Value::Char(c) => match c {
                '\n' => write!(f, "\\newline"),
                ' ' => write!(f, "\\space"),
                '\t' => write!(f, "\\tab"),
                '\r' => write!(f, "\\return"),
                c => write!(f, "\\{c}"),
            },
            Value::List(v) => write_seq(f, "[", v, "]"),
            Value::Set(v) => write_seq(f, "#{", v, "}"),
            Value::Map(m) => {
                write!(f, "{{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

fn write_seq(f: &mut fmt::Formatter<'_>, open: &str, v: &[Value], close: &str) -> fmt::Result {
    write!(f, "{open}")?;
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            write!(f, " ")?;
        }
        write!(f, "{x}")?;
    }
    write!(f, "{close}")
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.into())
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(v)
    }
}

//! How invariant checkers name ops and summarise sets of elements in their results.
//!
//! Every checker here explains failures twice: in plain words (`Anomaly::explanation`, which
//! the text output prints) and structurally (`Anomaly::detail`, which `--json` prints). Both
//! need the same small vocabulary: which op (index, line, process), a sorted, compact rendering
//! of many elements (`0..41 43 50..99`), and a bounded list of examples. Keeping it here makes
//! every checker's output read alike.

use labrys_history::{Error, History, Op, Value};
use serde_json::{json, Map, Value as J};
use std::cmp::Ordering;

/// How many example elements or ops a result lists before it only counts.
pub const EXAMPLES: usize = 10;

/// "op 12 (line 13, process 4)": where a person finds the op in the file.
pub fn op_ref(op: &Op) -> String {
    if op.line > 0 {
        format!("op {} (line {}, process {})", op.index, op.line, op.process)
    } else {
        format!("op {} (process {})", op.index, op.process)
    }
}

/// The op as JSON plus its line, for `detail` fields.
pub fn op_json(op: &Op) -> J {
    let mut j = op.to_json();
    if let J::Object(m) = &mut j {
        if op.line > 0 {
            m.insert("line".into(), op.line.into());
        }
    }
    j
}

/// A malformed-history error for `op`: names the file and the op's line.
pub fn malformed(h: &History, op: &Op, msg: impl std::fmt::Display) -> Error {
    Error::malformed(
        &h.source,
        op.line,
        format!("{} (op {}): {msg}", op.f, op.index),
    )
}

/// Orders values the way a person expects to read them: by kind (nil, booleans, numbers,
/// strings, keywords, symbols, characters, lists, sets, maps), integers numerically, lists
/// element by element, everything else by its EDN text.
pub fn cmp_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Nil => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::BigInt(_) | Value::Float(_) => 2,
            Value::Str(_) => 3,
            Value::Keyword(_) => 4,
            Value::Symbol(_) => 5,
            Value::Char(_) => 6,
            Value::List(_) => 7,
            Value::Set(_) => 8,
            Value::Map(_) => 9,
        }
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(_), Value::BigInt(_) | Value::Float(_)) => Ordering::Less,
        (Value::BigInt(_) | Value::Float(_), Value::Int(_)) => Ordering::Greater,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y))
        | (Value::Keyword(x), Value::Keyword(y))
        | (Value::Symbol(x), Value::Symbol(y)) => x.cmp(y),
        (Value::List(x), Value::List(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| cmp_values(p, q))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => rank(a)
            .cmp(&rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string())),
    }
}

/// Sorts values with [`cmp_values`].
pub fn sorted(values: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut v: Vec<Value> = values.into_iter().collect();
    v.sort_by(cmp_values);
    v
}

/// A compact rendering of sorted values: runs of consecutive integers become `a..b`, and past
/// [`EXAMPLES`] pieces the rest is counted rather than printed.
pub fn compact(values: &[Value]) -> String {
    let mut pieces: Vec<String> = Vec::new();
    let mut i = 0;
    while i < values.len() {
        if let Value::Int(start) = values[i] {
            let mut j = i;
            while j + 1 < values.len()
                && matches!((&values[j], &values[j + 1]), (Value::Int(a), Value::Int(b)) if a.checked_add(1) == Some(*b))
            {
                j += 1;
            }
            if j > i {
                let Value::Int(end) = values[j] else {
                    unreachable!("runs contain only integers")
                };
                pieces.push(format!("{start}..{end}"));
            } else {
                pieces.push(start.to_string());
            }
            i = j + 1;
        } else {
            pieces.push(values[i].to_string());
            i += 1;
        }
    }
    let total = pieces.len();
    if total > EXAMPLES {
        pieces.truncate(EXAMPLES);
        pieces.push(format!("... ({} more)", total - EXAMPLES));
    }
    pieces.join(" ")
}

/// Up to [`EXAMPLES`] values as a JSON array.
pub fn examples(values: &[Value]) -> J {
    J::Array(values.iter().take(EXAMPLES).map(Value::to_json).collect())
}

/// `{"count": n, "examples": [...], "compact": "..."}` for a sorted set of elements.
pub fn element_set(values: &[Value]) -> J {
    json!({
        "count": values.len(),
        "examples": examples(values),
        "compact": compact(values),
    })
}

/// Builds a detail map from `(key, value)` pairs.
pub fn detail<const N: usize>(fields: [(&str, J); N]) -> Map<String, J> {
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// An i128 as a JSON number when it fits in i64, else as its decimal string.
pub fn num(v: i128) -> J {
    i64::try_from(v)
        .map(Into::into)
        .unwrap_or_else(|_| v.to_string().into())
}

/// A valid result that says why it is valid only vacuously (Jepsen's verdict when there is
/// nothing to check), with a warning a person will see.
pub fn vacuous(kind: &str, message: String) -> labrys_history::CheckResult {
    let mut r = labrys_history::CheckResult::valid();
    r.warnings.push(labrys_history::Warning {
        kind: kind.to_string(),
        line: 0,
        message,
    });
    r
}

/// "1 element" / "3 elements".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_merges_integer_runs_and_counts_the_rest() {
        let v = sorted([5, 1, 2, 3, 9, 10].map(Value::Int));
        assert_eq!(compact(&v), "1..3 5 9..10");
        let many = sorted((0..30).map(|i| Value::Int(i * 2)));
        let c = compact(&many);
        assert!(c.ends_with("... (20 more)"), "{c}");
        assert!(c.starts_with("0 2 4"), "{c}");
    }

    #[test]
    fn sorted_puts_integers_first_in_numeric_order() {
        let v = sorted(vec![
            Value::str("b"),
            Value::Int(10),
            Value::Int(-2),
            Value::kw("a"),
        ]);
        // Non-integers order by EDN text: `"b"` before `:a`.
        assert_eq!(
            v,
            vec![
                Value::Int(-2),
                Value::Int(10),
                Value::str("b"),
                Value::kw("a")
            ]
        );
    }

    #[test]
    fn plural_words() {
        assert_eq!(plural(1, "element"), "1 element");
        assert_eq!(plural(0, "element"), "0 elements");
    }
}

//! Value interning: models keep states as small integers instead of `Value`s.
//!
//! The search hashes and compares states millions of times; a `u32` does that in one
//! instruction where a `Value` walks a tree. Each model owns one interner built while it reads
//! the history, and turns ids back into values only to describe a counterexample.

use labrys_history::Value;
use rustc_hash::FxHashMap;

/// A bijection between the values a history mentions and dense `u32` ids.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    ids: FxHashMap<Value, u32>,
    values: Vec<Value>,
}

impl Interner {
    pub fn new() -> Interner {
        Interner::default()
    }

    /// The id of `v`, assigning the next one when `v` is new.
    pub fn id(&mut self, v: &Value) -> u32 {
        if let Some(&i) = self.ids.get(v) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(v.clone());
        self.ids.insert(v.clone(), i);
        i
    }

    /// The id of `v` if it was interned.
    pub fn get(&self, v: &Value) -> Option<u32> {
        self.ids.get(v).copied()
    }

    /// The value behind an id.
    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_stable() {
        let mut i = Interner::new();
        let a = i.id(&Value::Int(3));
        let b = i.id(&Value::str("x"));
        assert_ne!(a, b);
        assert_eq!(i.id(&Value::Int(3)), a);
        assert_eq!(i.value(b), &Value::str("x"));
        assert_eq!(i.get(&Value::Nil), None);
        assert_eq!(i.len(), 2);
    }
}

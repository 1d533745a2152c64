//! The register and cas-register models: `read`, `write v`, and `cas [old new]`.
//!
//! Values are interned, so a state is one `u32`. A read that returned `nil` from a register
//! that can never hold `nil` (the initial value is not `nil` and nobody writes `nil`) carries
//! no value: Knossos's histories record reads whose result was lost that way, and Knossos
//! treats them as unconstrained; so do we. When `nil` is a possible state (Porcupine's etcd
//! histories start empty), a `nil` read means "empty" and is checked.
//!
//! Registers satisfy the [`Model::produces`] contract: after a write of `v` (or a cas to `v`)
//! the only ops that can follow are a read of `v`, a cas from `v`, or a write, which is a
//! blind overwrite.

use crate::convert::{bad_call, calls_to_ops};
use crate::intern::Interner;
use crate::model::{Fast, LinOp, Model};
use labrys_history::{Error, History, Value};

/// A register op with its result; values are interned ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegOp {
    Read(u32),
    Write(u32),
    Cas(u32, u32),
}

/// A read/write/compare-and-set register.
#[derive(Clone, Debug)]
pub struct Register {
    pub values: Interner,
    /// The initial value as written in the history (the state starts at its class).
    pub initial: u32,
    /// Whether `nil` can be the register's value; when not, a `nil` read carries no value.
    pub nil_possible: bool,
    /// The state a written value leaves: itself, or one shared class for every value no op
    /// observes (see [`Register::merge_unobserved`]); empty means "itself" for all.
    pub class: Vec<u32>,
}

impl Register {
    /// A register starting at `initial` with no values seen yet.
    pub fn new(initial: &Value) -> Register {
        let mut values = Interner::new();
        let id = values.id(initial);
        Register {
            values,
            initial: id,
            nil_possible: initial.is_nil(),
            class: Vec::new(),
        }
    }

    /// The same register with every value its own state, when some were merged (see
    /// [`Register::merge_unobserved`]): slower to search, but its states name real values.
    pub fn without_merging(&self) -> Option<Register> {
        (!self.class.is_empty()).then(|| Register {
            class: Vec::new(),
            ..self.clone()
        })
    }

    /// The state writing `v` leaves (see [`Register::class`]).
    pub fn class_of(&self, v: u32) -> u32 {
        self.class.get(v as usize).copied().unwrap_or(v)
    }

    /// Whether a call writes `nil` (then `nil` reads are real reads).
    pub fn writes_nil(f: &str, v: &Value) -> bool {
        match f {
            "write" => v.is_nil(),
            "cas" => v.as_seq().is_some_and(|s| s.len() == 2 && s[1].is_nil()),
            _ => false,
        }
    }

    /// One register op from `f` and the value the checker reads (`ok`: the result is known).
    /// `Ok(None)` drops an op that constrains nothing; `Err` says what is wrong.
    pub fn op(&mut self, f: &str, v: &Value, ok: bool) -> Result<Option<RegOp>, String> {
        Ok(match f {
            "read" if !ok => None,
            "read" if v.is_nil() && !self.nil_possible => None,
            "read" => Some(RegOp::Read(self.values.id(v))),
            "write" => Some(RegOp::Write(self.values.id(v))),
            "cas" => match v.as_seq() {
                Some([old, new]) => Some(RegOp::Cas(self.values.id(old), self.values.id(new))),
                _ => {
                    return Err(format!(
                        "cas value {v} is {}; expected a pair [old new]",
                        v.kind()
                    ))
                }
            },
            f => {
                return Err(format!(
                    "a register op has f {f:?}; expected read, write or cas"
                ))
            }
        })
    }

    /// Makes every value no op observes (no read returns it, no cas expects it) leave one
    /// shared state, shown as `<some value no read returned>`. Ops keep their values (a
    /// counterexample shows what was written); only states are merged.
    ///
    /// Exact: `step` only ever compares the state with observed values (a read's result, a
    /// cas's expected value), and no unobserved value equals an observed one, so two states
    /// holding different unobserved values behave the same under every op (a bisimulation).
    /// The memo cache then sees one state where it saw one per unread write.
    /// Every list must be given at once (all keys of a kv history): the classes are global.
    pub fn merge_unobserved<'a>(&mut self, lists: impl IntoIterator<Item = &'a Vec<LinOp<RegOp>>>) {
        let mut observed = vec![false; self.values.len()];
        for o in lists.into_iter().flatten() {
            if let RegOp::Read(v) | RegOp::Cas(v, _) = o.op {
                observed[v as usize] = true;
            }
        }
        if observed.iter().all(|&b| b) {
            return;
        }
        let anon = self
            .values
            .id(&Value::Symbol("<some value no read returned>".into()));
        self.class = (0..self.values.len() as u32)
            .map(|v| {
                if observed.get(v as usize).copied().unwrap_or(false) {
                    v
                } else {
                    anon
                }
            })
            .collect();
    }

    /// Reads `h` as register ops. `f`: `read`, `write`, `cas` (value `[old new]`). Values no
    /// op observes are merged (see [`Register::merge_unobserved`]).
    pub fn from_history(
        h: &History,
        initial: &Value,
    ) -> Result<(Register, Vec<LinOp<RegOp>>), Error> {
        let (mut m, ops) = Self::from_history_raw(h, initial)?;
        m.merge_unobserved([&ops]);
        Ok((m, ops))
    }

    /// [`Register::from_history`] keeping every written value as it is: slower to search, but
    /// its states name real values, which is what a counterexample should show.
    pub fn from_history_raw(
        h: &History,
        initial: &Value,
    ) -> Result<(Register, Vec<LinOp<RegOp>>), Error> {
        let mut m = Register::new(initial);
        m.nil_possible |= h
            .calls()
            .any(|c| Register::writes_nil(c.f(), &c.invoke.value));
        let ops = calls_to_ops(h, |call, ok| {
            m.op(call.f(), call.value(), ok)
                .map_err(|e| bad_call(h, call, e))
        })?;
        Ok((m, ops))
    }
}

impl Model for Register {
    type State = u32;
    type Op = RegOp;

    fn init(&self) -> u32 {
        self.class_of(self.initial)
    }

    fn step(&self, s: &u32, op: &RegOp) -> Option<u32> {
        match *op {
            RegOp::Read(v) => (v == *s).then_some(*s),
            RegOp::Write(v) => Some(self.class_of(v)),
            RegOp::Cas(old, new) => (old == *s).then(|| self.class_of(new)),
        }
    }

    fn describe_state(&self, s: &u32) -> String {
        self.values.value(*s).to_string()
    }

    fn describe_op(&self, op: &RegOp) -> String {
        let v = |i: u32| self.values.value(i).to_string();
        match *op {
            RegOp::Read(x) => format!("read → {}", v(x)),
            RegOp::Write(x) => format!("write {}", v(x)),
            RegOp::Cas(a, b) => format!("cas {} → {}", v(a), v(b)),
        }
    }

    fn is_read_only(&self, op: &RegOp) -> bool {
        match *op {
            RegOp::Read(_) => true,
            RegOp::Cas(a, b) => a == self.class_of(b),
            RegOp::Write(_) => false,
        }
    }

    fn produces(&self, op: &RegOp) -> Option<u64> {
        match *op {
            RegOp::Write(v) | RegOp::Cas(_, v) => Some(self.class_of(v) as u64),
            RegOp::Read(_) => None,
        }
    }

    /// Only for a register whose every value is its own state (`class` empty): merged
    /// values would make distinct writers share a token.
    fn closed_cores(&self) -> bool {
        self.class.is_empty()
    }

    /// Histories whose observed values are each written at most once are decided in
    /// O(n log n) by [`crate::unique`]; others are searched.
    fn fast_check(&self, ops: &[LinOp<RegOp>]) -> Option<Fast<RegOp>> {
        crate::unique::decide(self, ops).or_else(|| crate::unique::read_before_written(self, ops))
    }

    fn twin_key(&self, op: &RegOp) -> Option<u64> {
        // Two bits of kind, then the values; a write's value merged with the values nobody
        // reads (`class_of`), since those writes step alike. Values past 31 bits: no key.
        let (kind, a, b) = match *op {
            RegOp::Read(v) => (1u64, v, 0),
            RegOp::Write(v) => (2, self.class_of(v), 0),
            RegOp::Cas(old, new) => (3, old, self.class_of(new)),
        };
        (a < 1 << 31 && b < 1 << 31).then_some(kind << 62 | (a as u64) << 31 | b as u64)
    }

    fn observes(&self, op: &RegOp) -> Option<u64> {
        match *op {
            RegOp::Read(v) | RegOp::Cas(v, _) => Some(v as u64),
            RegOp::Write(_) => None,
        }
    }
}

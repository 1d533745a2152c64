//! One key of Porcupine's kv store: `get → s`, `put s`, `append s` on strings; a missing key
//! reads as `""`.
//!
//! The state is the key's current string (shared, so cloning is a reference count). `kv`
//! histories are split by their `:key` field first (see `kv`), so this model sees one key.

use crate::model::Model;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    Get(Arc<str>),
    Put(Arc<str>),
    Append(Arc<str>),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct KvString;

impl Model for KvString {
    type State = Arc<str>;
    type Op = KvOp;

    fn init(&self) -> Arc<str> {
        Arc::from("")
    }

    fn step(&self, s: &Arc<str>, op: &KvOp) -> Option<Arc<str>> {
        match op {
            KvOp::Get(v) => (v == s).then(|| s.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(v) => Some(Arc::from(format!("{s}{v}"))),
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn describe_state(&self, s: &Arc<str>) -> String {
        format!("{s:?}")
    }

    fn describe_op(&self, op: &KvOp) -> String {
        match op {
            KvOp::Get(v) => format!("get → {v:?}"),
            KvOp::Put(v) => format!("put {v:?}"),
            KvOp::Append(v) => format!("append {v:?}"),
        }
    }
}

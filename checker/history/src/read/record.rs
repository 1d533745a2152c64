//! Turning one record (a map read from JSON or EDN) into an [`Op`].
use crate::error::Error;
use crate::op::Op;
use crate::value::Value;

/// Converts a record map into an op; `pos` is its 0-based position (the index when the record
/// has none), `line` where it starts.
pub fn op_from_record(_rec: Value, _pos: u64, line: u32, source: &str) -> Result<Op, Error> {
    Err(Error::malformed(source, line, "not implemented yet"))
}

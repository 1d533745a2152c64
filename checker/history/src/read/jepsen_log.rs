//! Jepsen log reader: stub until implemented.
use crate::error::Error;
use crate::op::Op;
use std::io::BufRead;

pub fn read<R: BufRead>(_input: &mut R, source: &str, _sink: &mut dyn FnMut(Op) -> Result<(), Error>) -> Result<(), Error> {
    Err(Error::syntax(source, 1, 1, "Jepsen log reader not implemented yet"))
}

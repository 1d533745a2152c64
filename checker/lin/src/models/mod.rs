//! The built-in sequential models, one per module, each with its reader from a history.
//!
//! Every model here implements [`crate::Model`]; the readers turn calls into
//! [`crate::LinOp`]s following the outcome semantics of [`crate::convert`].

pub mod kv_string;
pub mod multi_register;
pub mod mutex;
pub mod queue;
pub mod register;
pub mod set;

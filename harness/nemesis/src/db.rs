//! [`NemesisDb`]: what the nemesis needs of a database, taken from its [`labrys_db::Db`]:
//! the optional [`Process`] and [`Primaries`] capabilities and whether libfaketime works on
//! it. Faults that need a capability the database lacks are refused when the nemesis is made.

use labrys_db::{Db, Primaries, Process};
use std::sync::Arc;

/// The database as the nemesis sees it.
#[derive(Clone)]
pub struct NemesisDb {
    /// The database's name, for messages.
    pub name: String,
    pub process: Option<Arc<dyn Process>>,
    pub primaries: Option<Arc<dyn Primaries>>,
    /// `Ok` when clock faults work on it, else why not.
    pub faketime: Result<(), String>,
}

impl NemesisDb {
    /// The capabilities `db` offers.
    pub fn of(db: &dyn Db) -> NemesisDb {
        let info = db.info();
        NemesisDb {
            name: info.name.to_string(),
            process: db.process(),
            primaries: db.primaries(),
            faketime: if info.honours_faketime {
                Ok(())
            } else {
                Err(info.faketime_note.to_string())
            },
        }
    }

    /// A database that can only be started and signalled (tests).
    pub fn process_only(name: &str, p: Arc<dyn Process>) -> NemesisDb {
        NemesisDb {
            name: name.to_string(),
            process: Some(p),
            primaries: None,
            faketime: Err("no clock faults".into()),
        }
    }
}

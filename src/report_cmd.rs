//! `labrys report`: redraw a stored run's `report.html` from its files, without checking again.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ReportArgs {
    /// A run folder (default: the store's latest run).
    pub run_dir: Option<PathBuf>,
    /// Store folder, for the default.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
}

pub fn run(a: &ReportArgs) -> u8 {
    let dir = match labrys_store::run_dir::resolve_run(a.run_dir.as_deref(), &a.store) {
        Ok(d) => d,
        Err(e) => {
            eout!("labrys report: {e}");
            return 3;
        }
    };
    match labrys_harness::report::redraw(&dir) {
        Ok(p) => {
            sout!("{}", p.display());
            0
        }
        Err(e) => {
            eout!("labrys report: {}: {e}", dir.display());
            3
        }
    }
}

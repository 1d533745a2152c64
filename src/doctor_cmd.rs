//! `labrys doctor [--install]`: can this machine run labrys tests, and what to do if not.

use clap::Args;

#[derive(Args)]
pub struct DoctorArgs {
    /// apt-get install the missing Debian packages (needs root).
    #[arg(long)]
    install: bool,
}

/// Prints the report; exit code 0 when nothing failed, 3 otherwise.
pub fn run(args: &DoctorArgs) -> u8 {
    let report = labrys_cluster::doctor::run(args.install);
    {
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), "{report}");
    }
    if report.ok() {
        0
    } else {
        3
    }
}

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
    let dbs = crate::dbs::all();
    let mut facts = labrys_cluster::doctor::Databases::default();
    for d in &dbs {
        let info = d.info();
        facts.packages.extend_from_slice(info.packages);
        facts.clocks.push((
            info.name.to_string(),
            if info.honours_faketime {
                "yes".to_string()
            } else {
                format!("no: {} (clock faults are refused)", info.faketime_note)
            },
        ));
    }
    let report = labrys_cluster::doctor::run(args.install, &facts);
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

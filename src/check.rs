//! `labrys check`: read each file, check it, print a verdict per file.

use clap::Args;

#[derive(Args)]
pub struct CheckArgs {
    /// History files (JSON, JSON Lines, EDN, or Jepsen log lines).
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
}

pub fn run(_args: &CheckArgs) -> u8 {
    3
}

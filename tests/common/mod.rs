//! Helpers the binary's test files share.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `labrys serve` over `store` on a free loopback port: the child and the base URL it printed
/// (`http://127.0.0.1:PORT`, no trailing slash). Kill the child when done.
pub fn serve(store: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_labrys"))
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    (child, url)
}

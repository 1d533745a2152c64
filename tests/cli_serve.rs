//! `labrys serve` through the binary: a missing store is an error naming it (exit 3) before
//! anything listens, and a good one prints the URL it serves at.

mod common;

use std::io::{Read, Write};
use std::process::Command;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("labrys-cli-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_missing_store_exits_3_naming_it() {
    let dir = scratch("missing");
    let missing = dir.join("no-store-here");
    let out = Command::new(env!("CARGO_BIN_EXE_labrys"))
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn it_prints_the_url_it_serves_at() {
    let store = scratch("store");
    std::fs::create_dir_all(store.join("etcd-register/20261201T080000.000Z")).unwrap();
    std::fs::write(
        store.join("etcd-register/20261201T080000.000Z/test.json"),
        r#"{"db":"etcd","workload":"register"}"#,
    )
    .unwrap();
    let (mut child, url) = common::serve(&store);
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&store);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("etcd-register"), "{resp}");
}

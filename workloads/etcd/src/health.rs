//! Is the cluster ready, and who leads it.
//!
//! `GET /health` answers `{"health":"true"}` only when the member has a leader and a quorum
//! read succeeds, so "every member healthy" means the cluster can serve the test. The leader
//! query runs from the nemesis's blocking threads, so it speaks plain HTTP/1.0 over a
//! `TcpStream` with timeouts instead of pulling an async client into a sync call.

use crate::db::EtcdError;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Polls every URL's `/health` until all say healthy, or fails after `timeout` naming the
/// members that were not.
pub async fn wait_healthy(urls: &[String], timeout: Duration) -> Result<(), EtcdError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| EtcdError::Http(e.to_string()))?;
    let start = Instant::now();
    loop {
        let mut bad = Vec::new();
        for url in urls {
            let ok = match http.get(format!("{url}/health")).send().await {
                Ok(r) => match r.json::<serde_json::Value>().await {
                    Ok(j) if j.get("health").and_then(|h| h.as_str()) == Some("true") => None,
                    Ok(j) => Some(format!("{url}: {j}")),
                    Err(e) => Some(format!("{url}: {e}")),
                },
                Err(e) => Some(format!("{url}: {e}")),
            };
            bad.extend(ok);
        }
        if bad.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(EtcdError::Unhealthy {
                secs: timeout.as_secs(),
                detail: bad.join("; "),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether the member at `host:port` is the leader (its member id equals its leader id).
pub fn is_leader(addr: &str, timeout: Duration) -> Result<bool, String> {
    let body = post_blocking(addr, "/v3/maintenance/status", "{}", timeout)?;
    let j: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{addr}: bad status JSON: {e}"))?;
    let me = j.pointer("/header/member_id").and_then(|v| v.as_str());
    let leader = j.get("leader").and_then(|v| v.as_str());
    Ok(me.is_some() && me == leader)
}

/// A minimal blocking HTTP/1.0 POST returning the body of a 2xx answer.
fn post_blocking(addr: &str, path: &str, body: &str, timeout: Duration) -> Result<String, String> {
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut s = TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .map_err(|e| format!("{addr}: {e}"))?;
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: no HTTP body"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with('2') {
        return Err(format!("{addr}: HTTP {status}: {}", body.trim()));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_post_reads_a_json_answer() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("POST /v3/maintenance/status"));
            c.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"header\":{\"member_id\":\"7\"},\"leader\":\"7\"}").unwrap();
        });
        assert_eq!(is_leader(&addr, Duration::from_secs(2)), Ok(true));
        server.join().unwrap();
    }

    #[tokio::test]
    async fn unhealthy_names_the_member() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let err = wait_healthy(std::slice::from_ref(&url), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&url), "{err}");
    }
}

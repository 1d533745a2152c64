//! `labrys serve` over real HTTP: a server on 127.0.0.1:0 over a store built here, asked with
//! request lines written by hand on a raw `TcpStream`, so no client tidies a path (`..`,
//! `%2F`, `//`) before the server sees it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// What the file outside the store holds: no response may ever contain it.
const SECRET: &str = "root:x:0:0:SECRET-OUTSIDE-THE-STORE";

const RUN_A: &str = "20261201T080000.000Z";
const RUN_B: &str = "20261202T080000.000Z";

struct Fixture {
    _store: tempfile::TempDir,
    _outside: tempfile::TempDir,
    addr: SocketAddr,
    history_len: usize,
}

fn write(p: &Path, s: impl AsRef<[u8]>) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

fn run(root: &Path, test: &str, folder: &str, test_json: &str, results: Option<&str>) {
    let d = root.join(test).join(folder);
    write(&d.join("test.json"), test_json);
    if let Some(r) = results {
        write(&d.join("results.json"), r);
    }
    write(&d.join("history.jsonl"), "");
    write(&d.join("labrys.log"), "run folder\n");
}

fn test_json(db: &str, workload: &str, isolation: Option<&str>, ended: bool) -> String {
    let mut v = serde_json::json!({
        "db": db,
        "workload": workload,
        "nemesis": ["partition", "kill"],
        "start": "2026-12-01T08:00:00.000Z",
    });
    if let Some(i) = isolation {
        v["isolation"] = i.into();
    }
    if ended {
        v["end"] = "2026-12-01T08:01:17.000Z".into();
    }
    v.to_string()
}

/// A store with runs of every verdict, a matrix summary, `latest` links, and two links out of
/// the store (a folder and a file) to a "passwd" in another temporary folder.
fn fixture() -> Fixture {
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("passwd"), SECRET);
    write(
        &outside.path().join("leak.json"),
        r#"{"db":"SECRET","valid":false,"anomaly_types":["SECRET"]}"#,
    );
    let store = tempfile::tempdir().unwrap();
    let root = store.path();
    let valid =
        r#"{"valid":true,"anomaly_types":[],"stats":{"ops":{"total":{"ok":7,"fail":2,"info":1}}}}"#;
    run(
        root,
        "etcd-register",
        RUN_A,
        &test_json("etcd", "register", None, true),
        Some(valid),
    );
    run(
        root,
        "etcd-register",
        RUN_B,
        &test_json("etcd", "register", None, true),
        Some(
            r#"{"valid":false,"anomaly_types":["linearizability"],"anomalies":{"linearizability":[{"explanation":"a stale read"}]}}"#,
        ),
    );
    let pg = "postgres-list-append";
    let ser = Some("serializable");
    run(
        root,
        pg,
        "20261203T080000.000Z",
        &test_json("postgres", "list-append", ser, true),
        Some(r#"{"valid":false,"anomaly_types":["G2-item","G-single"]}"#),
    );
    run(
        root,
        pg,
        "20261204T080000.000Z",
        &test_json("postgres", "list-append", ser, true),
        Some(r#"{"valid":true,"incomplete":"interrupted by SIGINT"}"#),
    );
    run(
        root,
        pg,
        "20261205T080000.000Z",
        &test_json("postgres", "list-append", ser, false),
        None,
    );
    run(
        root,
        pg,
        "20261206T080000.000Z",
        &test_json("postgres", "list-append", ser, true),
        Some(r#"{"valid":"unknown","anomaly_types":[]}"#),
    );
    // A database name and a file name that would be markup if not escaped.
    run(
        root,
        "odd-register",
        "20261207T080000.000Z",
        &test_json("<i>odd</i>", "register", None, true),
        Some(r#"{"valid":true}"#),
    );
    write(
        &root.join("odd-register/20261207T080000.000Z/a<b>&\"c'.txt"),
        "odd",
    );

    let a = root.join("etcd-register").join(RUN_A);
    // A large history, to be streamed.
    let line = "{\"f\":\"read\",\"index\":0,\"process\":0,\"time\":1,\"type\":\"invoke\",\"value\":null}\n";
    let history = line.repeat(8 * 1024 * 1024 / line.len());
    write(&a.join("history.jsonl"), &history);
    write(
        &a.join("report.html"),
        "<!doctype html><title>report</title>",
    );
    write(&a.join("n1/etcd.log"), "etcd says hello\n");
    write(&a.join("history.edn"), "[{:type :invoke}]\n");
    write(&a.join("notes.txt"), "notes\n");
    write(&a.join("core"), [0u8, 1, 2, 3]);
    std::os::unix::fs::symlink(outside.path().join("passwd"), a.join("secret.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("evil")).unwrap();
    // A run folder whose test.json and results.json lead out of the store: not a run.
    let leak = root.join("etcd-register/20261130T080000.000Z");
    std::fs::create_dir_all(&leak).unwrap();
    for name in ["test.json", "results.json"] {
        std::os::unix::fs::symlink(outside.path().join("leak.json"), leak.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(RUN_B, root.join("etcd-register/latest")).unwrap();
    std::os::unix::fs::symlink(format!("etcd-register/{RUN_A}"), root.join("latest")).unwrap();

    let ta = root.join("test-all/20261208T080000.000Z");
    write(
        &ta.join("summary.json"),
        serde_json::json!({"exit-code": 1, "runs": [
            {"db": "postgres", "workload": "list-append", "verdict": "invalid",
             "run-dir": "postgres-list-append/20261203T080000.000Z", "note": "G2-item"},
            {"db": "etcd", "workload": "register", "verdict": "valid",
             "run-dir": format!("etcd-register/{RUN_A}")},
            {"db": "redis", "workload": "bank", "verdict": "skipped", "note": "no bank"},
        ]})
        .to_string(),
    );
    write(&ta.join("summary.md"), "# labrys test-all\n");
    std::os::unix::fs::symlink("20261208T080000.000Z", root.join("test-all/latest")).unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    let store_path = root.to_path_buf();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = labrys_serve::Server::bind("127.0.0.1:0".parse().unwrap(), &store_path)
                .await
                .unwrap();
            tx.send(server.local_addr()).unwrap();
            server.run(std::future::pending()).await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    Fixture {
        _store: store,
        _outside: outside,
        addr,
        history_len: history.len(),
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request_target` exactly as given, on a fresh connection.
fn request(addr: SocketAddr, method: &str, target: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
}

fn get(addr: SocketAddr, target: &str) -> Resp {
    request(addr, "GET", target)
}

/// The rows of the index that are runs, by verdict class.
fn rows(html: &str, verdict: &str) -> usize {
    html.matches(&format!("<tr class=\"run {verdict}\">"))
        .count()
}

#[test]
fn the_index_lists_every_run_with_its_verdict() {
    let f = fixture();
    let r = get(f.addr, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert_eq!(rows(&html, "valid"), 2, "{html}");
    assert_eq!(rows(&html, "invalid"), 2);
    assert_eq!(rows(&html, "unknown"), 1);
    assert_eq!(rows(&html, "incomplete"), 1);
    assert_eq!(rows(&html, "no-result"), 1);
    assert!(html.contains("7 of 7 runs shown"), "{html}");
    // Grouped by test, newest first in each group.
    let etcd = html.find("<h2 id=\"test-etcd-register\"").unwrap();
    let pg = html.find("<h2 id=\"test-postgres-list-append\"").unwrap();
    assert!(etcd < pg);
    let b = html.find("2026-12-02 08:00:00Z").unwrap();
    let a = html.find("2026-12-01 08:00:00Z").unwrap();
    assert!(b < a, "newest first");
    // Columns: duration, isolation, nemesis, anomalies, ops.
    assert!(html.contains("1m 17s"));
    assert!(html.contains("<td>serializable</td>"));
    assert!(html.contains("<td>partition, kill</td>"));
    assert!(html.contains("G2-item, G-single"));
    assert!(
        html.contains("<td class=\"num\">10</td>"),
        "ops of the valid run"
    );
    assert!(
        html.contains("interrupted by SIGINT"),
        "the incomplete run says why"
    );
    // Links: the report where there is one, the raw files, the node folders, the listing.
    let run_a = format!("/files/etcd-register/{RUN_A}/");
    assert!(html.contains(&format!("href=\"{run_a}report.html\"")));
    assert_eq!(html.matches("report.html\"").count(), 1);
    for file in [
        "history.jsonl",
        "results.json",
        "test.json",
        "labrys.log",
        "n1/",
    ] {
        assert!(html.contains(&format!("href=\"{run_a}{file}\"")), "{file}");
    }
    // Counts per verdict in the filter links.
    assert!(html.contains(
        "<a href=\"/?verdict=invalid\"><span class=\"badge invalid\">invalid</span> <span class=\"count\">2</span></a>"
    ), "{html}");
    assert!(html.contains("<a href=\"/?db=postgres\">postgres <span class=\"count\">4</span></a>"));
    // The matrix summary, listed apart.
    assert!(html.contains("Matrices (test-all)"));
    assert!(html.contains("href=\"/files/test-all/20261208T080000.000Z/summary.md\""));
    assert!(
        html.contains("<td>1 valid, 1 invalid, 1 skipped</td>"),
        "{html}"
    );
    // Nothing is read through a link out of the store.
    assert!(!html.contains("SECRET"), "{html}");
    // Nothing is ever loaded from elsewhere.
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
}

#[test]
fn filters_by_verdict_and_database() {
    let f = fixture();
    let html = get(f.addr, "/?verdict=invalid").text();
    assert_eq!(rows(&html, "invalid"), 2);
    assert_eq!(
        rows(&html, "valid") + rows(&html, "unknown") + rows(&html, "no-result"),
        0
    );
    assert!(html.contains("2 of 7 runs shown"));

    let html = get(f.addr, "/?verdict=invalid&db=etcd").text();
    assert_eq!(rows(&html, "invalid"), 1);
    assert!(html.contains("linearizability"));
    assert!(!html.contains("G2-item"));
    // The verdict links keep the database, and count within it.
    let amp = |s: &str| s.replace("&#38;", "&").replace("&amp;", "&");
    assert!(
        amp(&html).contains("href=\"/?verdict=valid&db=etcd\""),
        "{html}"
    );
    assert!(amp(&html).contains(
        "<a href=\"/?verdict=invalid&db=etcd\" class=\"active\">etcd <span class=\"count\">1</span></a>"
    ), "{html}");
    assert!(
        amp(&html).contains("<a href=\"/?verdict=invalid\">all <span class=\"count\">2</span></a>"),
        "{html}"
    );

    let html = get(f.addr, "/?db=postgres").text();
    assert_eq!(
        rows(&html, "invalid")
            + rows(&html, "incomplete")
            + rows(&html, "no-result")
            + rows(&html, "unknown"),
        4
    );
    assert_eq!(rows(&html, "valid"), 0);
    assert!(!html.contains("id=\"test-etcd-register\""));

    let html = get(f.addr, "/?verdict=no-result").text();
    assert_eq!(rows(&html, "no-result"), 1);
    let html = get(f.addr, "/?verdict=incomplete").text();
    assert_eq!(rows(&html, "incomplete"), 1);
    let html = get(f.addr, "/?db=nosuchdb").text();
    assert!(html.contains("No runs match."));
}

#[test]
fn everything_from_the_store_is_escaped() {
    let f = fixture();
    let html = get(f.addr, "/").text();
    assert!(
        html.contains("&#60;i&#62;odd&#60;/i&#62;") || html.contains("&lt;i&gt;odd&lt;/i&gt;"),
        "{html}"
    );
    assert!(!html.contains("<i>odd</i>"));
    let listing = get(f.addr, "/files/odd-register/20261207T080000.000Z/");
    assert_eq!(listing.status, 200);
    let html = listing.text();
    assert!(!html.contains("a<b>&\"c'"), "{html}");
    assert!(
        html.contains("href=\"/files/odd-register/20261207T080000.000Z/a%3Cb%3E%26%22c%27.txt\""),
        "{html}"
    );
    let file = get(
        f.addr,
        "/files/odd-register/20261207T080000.000Z/a%3Cb%3E%26%22c%27.txt",
    );
    assert_eq!((file.status, file.text().as_str()), (200, "odd"));
}

#[test]
fn raw_files_have_their_content_types_and_are_streamed_whole() {
    let f = fixture();
    let base = format!("/files/etcd-register/{RUN_A}");
    for (name, ctype) in [
        ("report.html", "text/html; charset=utf-8"),
        ("results.json", "application/json"),
        ("test.json", "application/json"),
        ("labrys.log", "text/plain; charset=utf-8"),
        ("history.edn", "text/plain; charset=utf-8"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("n1/etcd.log", "text/plain; charset=utf-8"),
        ("core", "application/octet-stream"),
    ] {
        let r = get(f.addr, &format!("{base}/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("content-type"), Some(ctype), "{name}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let h = get(f.addr, &format!("{base}/history.jsonl"));
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        h.header("content-length"),
        Some(f.history_len.to_string().as_str())
    );
    assert_eq!(h.body.len(), f.history_len);
    assert!(h.body.starts_with(b"{\"f\":\"read\""));
    // HEAD: the same headers, no body.
    let head = request(f.addr, "HEAD", &format!("{base}/history.jsonl"));
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(f.history_len.to_string().as_str())
    );
    assert!(head.body.is_empty());
    // A folder is a listing page; without its slash, a redirect to it.
    let dir = get(f.addr, &format!("{base}/n1/"));
    assert_eq!(dir.status, 200);
    assert!(dir.text().contains(&format!("href=\"{base}/n1/etcd.log\"")));
    let redirect = get(f.addr, &format!("{base}/n1"));
    assert_eq!(redirect.status, 308);
    assert_eq!(
        redirect.header("location"),
        Some(format!("{base}/n1/").as_str())
    );
    // A run folder's page shows its verdict; a matrix folder's its summary with run links.
    let page = get(f.addr, &format!("{base}/")).text();
    assert!(
        page.contains("<span class=\"badge valid\">valid</span>"),
        "{page}"
    );
    let m = get(f.addr, "/files/test-all/latest/").text();
    assert!(
        m.contains("href=\"/files/postgres-list-append/20261203T080000.000Z/\""),
        "{m}"
    );
    assert!(m.contains("<span class=\"badge skipped\">skipped</span>"));
}

#[test]
fn links_inside_the_store_work() {
    let f = fixture();
    let r = get(f.addr, "/files/latest/history.jsonl");
    assert_eq!((r.status, r.body.len()), (200, f.history_len));
    let r = get(f.addr, "/files/etcd-register/latest/results.json");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("linearizability"));
    let r = get(f.addr, "/files/latest/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("href=\"/files/latest/history.jsonl\""));
    let root = get(f.addr, "/files/").text();
    // The link out of the store is listed as such, and not linked.
    assert!(root.contains("outside the store: not served"), "{root}");
    assert!(!root.contains("href=\"/files/evil"));
}

#[test]
fn nothing_outside_the_store_is_ever_served() {
    let f = fixture();
    let run_a = format!("/files/etcd-register/{RUN_A}");
    let cases: Vec<(String, &[u16])> = vec![
        // `..`, plain and encoded in every case mix.
        ("/files/../passwd".into(), &[400]),
        ("/files/evil/../evil/passwd".into(), &[400]),
        ("/files/etcd-register/../../../../etc/passwd".into(), &[400]),
        ("/files/%2e%2e/%2e%2e/etc/passwd".into(), &[400]),
        ("/files/%2E%2E/%2E%2E/etc/passwd".into(), &[400]),
        ("/files/.%2e/etc/passwd".into(), &[400]),
        ("/files/%2e./etc/passwd".into(), &[400]),
        ("/files/./latest/test.json".into(), &[400]),
        // Encoded separators.
        ("/files/..%2F..%2F..%2Fetc%2Fpasswd".into(), &[400]),
        ("/files/..%2f..%2fetc%2fpasswd".into(), &[400]),
        ("/files/etcd-register%2Flatest%2Ftest.json".into(), &[400]),
        ("/files/..%5C..%5Cetc%5Cpasswd".into(), &[400]),
        ("/files/..%5c..%5cetc%5cpasswd".into(), &[400]),
        ("/files/..\\..\\etc\\passwd".into(), &[400]),
        // Absolute paths and empty segments.
        ("/files//etc/passwd".into(), &[400]),
        ("/files/%2Fetc%2Fpasswd".into(), &[400]),
        ("//etc/passwd".into(), &[404]),
        ("/etc/passwd".into(), &[404]),
        ("/files/latest//test.json".into(), &[400]),
        // NUL, and broken escapes.
        ("/files/latest/test.json%00.txt".into(), &[400]),
        ("/files/latest/%00".into(), &[400]),
        ("/files/latest/%zz".into(), &[400]),
        ("/files/latest/%".into(), &[400]),
        // Decoded once only: `%252e%252e` is a name nobody has.
        ("/files/%252e%252e/%252e%252e/etc/passwd".into(), &[404]),
        // Links out of the store: a folder and a file.
        ("/files/evil/passwd".into(), &[404]),
        ("/files/evil/".into(), &[404]),
        ("/files/evil".into(), &[404]),
        (format!("{run_a}/secret.txt"), &[404]),
        // Missing files.
        (format!("{run_a}/nothing.json"), &[404]),
        (format!("{run_a}/results.json/"), &[404]),
        ("/nothing".into(), &[404]),
    ];
    for (target, want) in &cases {
        let r = get(f.addr, target);
        assert!(
            want.contains(&r.status),
            "{target}: status {} (wanted {want:?}): {}",
            r.status,
            r.text()
        );
        assert!(
            !r.text().contains("SECRET"),
            "{target} leaked the outside file"
        );
        assert!(
            r.body.len() < 200,
            "{target}: a short message, got {}",
            r.text()
        );
    }
    // A raw NUL in the request line: refused by the HTTP parser itself.
    let r = request(f.addr, "GET", "/files/latest/test.json\0");
    assert_eq!(r.status, 400);
    // Absolute-form targets are held to the same rules.
    let r = get(f.addr, "http://localhost/files/../passwd");
    assert_eq!(r.status, 400);
    assert!(!r.text().contains("SECRET"));
}

#[test]
fn only_get_and_head_are_allowed() {
    let f = fixture();
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for target in ["/", "/files/latest/test.json", "/files/", "/nothing"] {
            let r = request(f.addr, method, target);
            assert_eq!(r.status, 405, "{method} {target}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
    }
    assert_eq!(request(f.addr, "HEAD", "/").status, 200);
}

#[test]
fn a_missing_store_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-store");
    let err = labrys_serve::router(&missing).err().unwrap().to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let file = dir.path().join("a-file");
    write(&file, "x");
    let err = labrys_serve::router(&file).err().unwrap().to_string();
    assert!(err.contains("not a directory"), "{err}");
}

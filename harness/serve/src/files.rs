//! Raw files and folder listings.
//!
//! Files are streamed from disk in chunks, never read whole: a `history.jsonl` can be hundreds
//! of megabytes. The length is taken once from the file's metadata and the body is cut to it,
//! so a history still being appended to by a running test is served as it was when asked
//! (a body longer than its `Content-Length` would break the connection).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::ffi::OsString;
use std::path::Path;
use tokio::io::AsyncReadExt;

/// The content type a file is served with, by its extension. Text formats labrys writes are
/// plain text (so a browser shows them instead of downloading them); anything unknown is
/// bytes.
pub fn content_type(name: &Path) -> &'static str {
    let ext = name
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("jsonl" | "log" | "txt" | "edn" | "md" | "dot" | "toml" | "csv" | "out" | "err") => {
            "text/plain; charset=utf-8"
        }
        _ => "application/octet-stream",
    }
}

/// Headers every raw file gets: no type sniffing, no caching (runs change while they run),
/// and for HTML (a run's `report.html`) a policy that lets it use inline styles and scripts
/// but load nothing from anywhere.
fn file_headers(resp: &mut Response, ctype: &'static str, len: u64) {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if ctype.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
                 script-src 'unsafe-inline'",
            ),
        );
    }
}

/// Streams the file at `real` (a resolved path inside the store).
pub async fn stream(real: &Path) -> Response {
    let file = match tokio::fs::File::open(real).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %real.display(), "cannot open: {e}");
            return (StatusCode::NOT_FOUND, "not found\n").into_response();
        }
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => {
            tracing::warn!(path = %real.display(), "cannot stat: {e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n").into_response();
        }
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file.take(len),
        64 * 1024,
    ));
    let mut resp = body.into_response();
    file_headers(&mut resp, content_type(real), len);
    resp
}

/// One entry of a folder listing.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    /// Absent for a link that leads out of the store (or nowhere): shown, not linked.
    pub href: Option<String>,
    pub dir: bool,
    pub size: String,
    pub modified: String,
    /// Where a symlink points, as written in the link.
    pub link: Option<String>,
}

/// The entries of the folder `real` (inside `root`) that the URL `url_names` names, folders
/// first, then by name.
pub fn list(root: &Path, real: &Path, url_names: &[OsString]) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(real)? {
        let e = e?;
        let name = e.file_name();
        let path = e.path();
        let is_link = e.file_type().is_ok_and(|t| t.is_symlink());
        let link = is_link
            .then(|| std::fs::read_link(&path).ok())
            .flatten()
            .map(|t| t.display().to_string());
        let reachable = !is_link || crate::paths::inside(root, &path);
        // Metadata of what a reachable link points at; of the link itself otherwise.
        let meta = if reachable {
            std::fs::metadata(&path)
        } else {
            std::fs::symlink_metadata(&path)
        };
        let meta = meta.ok();
        let dir = reachable && meta.as_ref().is_some_and(|m| m.is_dir());
        let mut names = url_names.to_vec();
        names.push(name.clone());
        out.push(Entry {
            name: name.to_string_lossy().into_owned(),
            href: reachable.then(|| crate::paths::href(&names, dir)),
            dir,
            size: match &meta {
                Some(m) if !dir && reachable => human_size(m.len()),
                _ => String::new(),
            },
            modified: meta
                .and_then(|m| m.modified().ok())
                .map(|t| {
                    let s = labrys_store::timestamp::rfc3339(t);
                    format!("{} {}Z", &s[..10], &s[11..19])
                })
                .unwrap_or_default(),
            link,
        });
    }
    out.sort_by(|a, b| b.dir.cmp(&a.dir).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// `1.5 KiB`, `220.2 KiB`, `312.0 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        let ct = |n: &str| content_type(Path::new(n));
        assert_eq!(ct("report.html"), "text/html; charset=utf-8");
        assert_eq!(ct("results.json"), "application/json");
        assert_eq!(ct("history.jsonl"), "text/plain; charset=utf-8");
        assert_eq!(ct("labrys.log"), "text/plain; charset=utf-8");
        assert_eq!(ct("h.EDN"), "text/plain; charset=utf-8");
        assert_eq!(ct("notes.txt"), "text/plain; charset=utf-8");
        assert_eq!(ct("core"), "application/octet-stream");
        assert_eq!(ct("x.bin"), "application/octet-stream");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}

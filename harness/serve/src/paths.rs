//! From a URL path to a file inside the store, or a refusal.
//!
//! The server must never hand out a file from outside the store, whatever the request says.
//! The path is taken raw from the request line (not from a router that already decoded it), so
//! every trick is seen before it can turn into a file name: each `/`-separated segment is
//! percent-decoded on its own, strictly, and refused when it decodes to a separator (`%2F`,
//! `%5C`), to `.` or `..` (`%2e%2e` too), contains NUL, or is empty (`a//b`). What is left can
//! only name entries below the root, one level at a time. Symlinks are the remaining way out:
//! the joined path is canonicalized (every link followed) and must still lie inside the
//! canonical root, so `latest` works and a link to `/etc` does not.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Why a path is refused: `Bad` is the client's malformed request (400), `NotFound` covers
/// both a missing file and one outside the store (404, so the answer says nothing about what
/// lies outside).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("bad path: {0}")]
    Bad(&'static str),
    #[error("not found")]
    NotFound,
}

/// A request path below the files prefix, decoded and checked.
#[derive(Debug, PartialEq, Eq)]
pub struct UrlPath {
    /// Decoded segments, each a plain name (no separator, not `.` or `..`, no NUL).
    pub segments: Vec<OsString>,
    /// The URL ended in `/` (a directory was asked for).
    pub trailing_slash: bool,
}

/// Splits and decodes `raw` (the URL path after the files prefix, still percent-encoded).
pub fn parse(raw: &str) -> Result<UrlPath, PathError> {
    if raw.starts_with('/') {
        return Err(PathError::Bad("absolute path or empty segment"));
    }
    let (body, trailing_slash) = match raw.strip_suffix('/') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    let mut segments = Vec::new();
    if body.is_empty() {
        // The root: the files prefix ends in its slash.
        return Ok(UrlPath {
            segments,
            trailing_slash: true,
        });
    }
    for seg in body.split('/') {
        if seg.is_empty() {
            return Err(PathError::Bad("empty path segment"));
        }
        let bytes = decode(seg)?;
        if bytes.contains(&b'/') || bytes.contains(&b'\\') {
            return Err(PathError::Bad("encoded or literal separator in a segment"));
        }
        if bytes.contains(&0) {
            return Err(PathError::Bad("NUL in path"));
        }
        if bytes == b"." || bytes == b".." {
            return Err(PathError::Bad("'.' and '..' segments are not allowed"));
        }
        segments.push(OsString::from_vec(bytes));
    }
    Ok(UrlPath {
        segments,
        trailing_slash,
    })
}

/// Strict percent-decoding: `%` must be followed by two hex digits.
fn decode(seg: &str) -> Result<Vec<u8>, PathError> {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(PathError::Bad("malformed percent-encoding")),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The real file `segments` name below `root` (which must be canonical): every symlink
/// followed, and refused unless the result is still inside `root`.
pub fn resolve(root: &Path, segments: &[OsString]) -> Result<PathBuf, PathError> {
    let mut p = root.to_path_buf();
    for s in segments {
        p.push(s);
    }
    let real = p.canonicalize().map_err(|_| PathError::NotFound)?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        tracing::info!(path = %p.display(), "refused: a link out of the store");
        Err(PathError::NotFound)
    }
}

/// Whether `path` (any path, links and all) ends up inside `root` (canonical).
pub fn inside(root: &Path, path: &Path) -> bool {
    path.canonicalize().is_ok_and(|r| r.starts_with(root))
}

/// Characters left as they are in a URL path segment; everything else is percent-encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment (a file name, possibly not UTF-8) as it goes into a URL.
pub fn encode(name: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    percent_encoding::percent_encode(name.as_bytes(), SEGMENT).to_string()
}

/// A query-string value.
pub fn encode_query(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, SEGMENT).to_string()
}

/// The URL of a path below the store root given as names; `dir` adds the trailing `/`.
pub fn href<S: AsRef<std::ffi::OsStr>>(names: &[S], dir: bool) -> String {
    let mut s = String::from(crate::FILES);
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            s.push('/');
        }
        s.push_str(&encode(n.as_ref()));
    }
    if dir && !names.is_empty() {
        s.push('/');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(raw: &str) -> Vec<String> {
        parse(raw)
            .unwrap()
            .segments
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn plain_paths_decode_segment_by_segment() {
        assert_eq!(segs(""), Vec::<String>::new());
        assert_eq!(segs("a/b.json"), ["a", "b.json"]);
        assert_eq!(segs("a%20b/c%25d/"), ["a b", "c%d"]);
        assert!(parse("a/").unwrap().trailing_slash);
        assert!(!parse("a").unwrap().trailing_slash);
        assert!(parse("").unwrap().trailing_slash);
        // Decoding happens once: `%252e` is the name `%2e`, not `.`.
        assert_eq!(segs("%252e%252e"), ["%2e%2e"]);
        // Dots inside a name are fine.
        assert_eq!(segs("...")[0], "...");
        assert_eq!(segs("a..b")[0], "a..b");
    }

    #[test]
    fn every_escape_is_refused() {
        for raw in [
            "..",
            "a/../b",
            "a/..",
            ".",
            "./a",
            "%2e%2e/x",
            "%2E%2E",
            ".%2e",
            "%2e.",
            "%2e",
            "a%2Fb",
            "a%2fb",
            "..%2F..%2Fetc%2Fpasswd",
            "a%5Cb",
            "a%5cb",
            "a\\b",
            "/etc/passwd",
            "a//b",
            "a%00b",
            "%",
            "a%2",
            "a%zz",
        ] {
            assert!(
                matches!(parse(raw), Err(PathError::Bad(_))),
                "{raw:?} was accepted: {:?}",
                parse(raw)
            );
        }
    }

    #[test]
    fn links_out_of_the_root_are_not_found() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let store = tempfile::tempdir().unwrap();
        let root = store.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("run")).unwrap();
        std::fs::write(root.join("run/a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("run", root.join("latest")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        let ok = resolve(&root, &[OsString::from("latest"), OsString::from("a.txt")]).unwrap();
        assert_eq!(ok, root.join("run/a.txt"));
        let out = resolve(&root, &[OsString::from("out"), OsString::from("secret")]);
        assert_eq!(out, Err(PathError::NotFound));
        assert_eq!(
            resolve(&root, &[OsString::from("missing")]),
            Err(PathError::NotFound)
        );
    }

    #[test]
    fn hrefs_encode_each_name() {
        assert_eq!(href(&["a b", "c/d"], true), "/files/a%20b/c%2Fd/");
        assert_eq!(href::<&str>(&[], true), "/files/");
        assert_eq!(href(&["x.json"], false), "/files/x.json");
    }
}

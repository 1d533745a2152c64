//! `labrys serve`: a small read-only web server over the run store.
//!
//! Runs live on the machine that ran them, as folders of JSON and logs; reading them there
//! through a browser (an SSH tunnel to `127.0.0.1:8080` is enough) beats copying folders
//! around. The server shows an index of every run in the store — grouped by test, newest
//! first, with its verdict and filters by verdict and database — a listing of every folder,
//! and every file raw, streamed with a content type a browser can show.
//!
//! It only ever reads, and only inside the store: anything but GET and HEAD is refused (405),
//! and every file path is decoded and checked by [`paths`] before it touches the disk (no
//! `..`, no encoded separators, no NUL, no link out of the store). Pages are Askama templates
//! with everything escaped, and load nothing from elsewhere (inline CSS, no scripts).
//!
//! Routes:
//! - `/` — the index; `?verdict=valid|invalid|unknown|incomplete|no-result` and `?db=NAME`
//!   filter it;
//! - `/files/` and `/files/<path>/` — a folder's listing (a run folder's also shows its
//!   verdict; a `test-all` folder's its summary table);
//! - `/files/<path>` — a file, raw.

pub mod files;
pub mod pages;
pub mod paths;
pub mod runs;

use askama::Template;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use pages::{Choice, Group, IndexPage, ListingPage, MatrixView};
use paths::PathError;
use runs::{Link, Verdict};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The URL prefix of the store's folders and files.
pub const FILES: &str = "/files/";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("store directory {0} does not exist: run `labrys test` first, or pass --store DIR")]
    NoStore(PathBuf),
    #[error("store directory {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("store directory {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
}

/// Checks that `store` is a readable folder and returns its canonical path, the root every
/// request is held inside.
pub fn open_store(store: &Path) -> Result<PathBuf, ServeError> {
    let meta = match std::fs::metadata(store) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ServeError::NoStore(store.to_path_buf()))
        }
        Err(source) => {
            return Err(ServeError::Store {
                path: store.to_path_buf(),
                source,
            })
        }
    };
    if !meta.is_dir() {
        return Err(ServeError::NotADirectory(store.to_path_buf()));
    }
    let root = store.canonicalize().map_err(|source| ServeError::Store {
        path: store.to_path_buf(),
        source,
    })?;
    std::fs::read_dir(&root).map_err(|source| ServeError::Store {
        path: store.to_path_buf(),
        source,
    })?;
    Ok(root)
}

struct Ctx {
    /// Canonical.
    root: PathBuf,
}

/// The whole site over the store at `store` (checked with [`open_store`]).
pub fn router(store: &Path) -> Result<Router, ServeError> {
    let ctx = Arc::new(Ctx {
        root: open_store(store)?,
    });
    Ok(Router::new()
        .route("/", get(index))
        .route("/files", get(|| async { Redirect::permanent(FILES) }))
        .route("/files/", get(file_or_folder))
        .route("/files/{*path}", get(file_or_folder))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(ctx)
        .layer(middleware::from_fn(read_only)))
}

/// A bound server, not yet serving: binding first lets the caller print the real address
/// (`--bind 127.0.0.1:0`) before the first request.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Server {
    /// Checks the store, then listens on `addr`.
    pub async fn bind(addr: SocketAddr, store: &Path) -> Result<Server, ServeError> {
        let router = router(store)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Server { listener, router })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Serve)
    }
}

/// Serves the store at `store` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, store: &Path) -> Result<(), ServeError> {
    Server::bind(addr, store)
        .await?
        .run(std::future::pending())
        .await
}

/// GET and HEAD only: nothing here changes anything.
async fn read_only(req: Request, next: Next) -> Response {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let resp = if method == Method::GET || method == Method::HEAD {
        next.run(req).await
    } else {
        let mut r = (
            StatusCode::METHOD_NOT_ALLOWED,
            "read-only: only GET and HEAD\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    };
    tracing::debug!(%method, %uri, status = resp.status().as_u16(), "request");
    resp
}

fn refusal(e: PathError) -> Response {
    let status = match e {
        PathError::Bad(_) => StatusCode::BAD_REQUEST,
        PathError::NotFound => StatusCode::NOT_FOUND,
    };
    (status, format!("{e}\n")).into_response()
}

/// Our own pages: HTML that loads nothing from anywhere and runs no script.
fn page(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = Html(html).into_response();
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                     form-action 'self'",
                ),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => {
            tracing::warn!("cannot render a page: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the page\n",
            )
                .into_response()
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct IndexQuery {
    verdict: Option<String>,
    db: Option<String>,
}

/// `/?verdict=..&db=..`: the link that sets these filters.
fn index_href(verdict: Option<&str>, db: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(v) = verdict {
        q.push(format!("verdict={}", paths::encode_query(v)));
    }
    if let Some(d) = db {
        q.push(format!("db={}", paths::encode_query(d)));
    }
    if q.is_empty() {
        "/".into()
    } else {
        format!("/?{}", q.join("&"))
    }
}

async fn index(State(ctx): State<Arc<Ctx>>, Query(q): Query<IndexQuery>) -> Response {
    let root = ctx.root.clone();
    let scan = match tokio::task::spawn_blocking(move || runs::scan(&root)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("store scan failed: {e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the store\n").into_response();
        }
    };
    let verdict = q.verdict.filter(|v| !v.is_empty());
    let db = q.db.filter(|d| !d.is_empty());
    let total = scan.runs.len();
    // Verdict counts are of the runs of the chosen database; database counts of the chosen
    // verdict: each number is what its link would show.
    let of_db: Vec<_> = scan
        .runs
        .iter()
        .filter(|r| db.as_ref().is_none_or(|d| &r.db == d))
        .collect();
    let mut verdicts = vec![Choice {
        label: "all".into(),
        class: String::new(),
        count: Some(of_db.len()),
        href: index_href(None, db.as_deref()),
        active: verdict.is_none(),
    }];
    for v in Verdict::ALL {
        verdicts.push(Choice {
            label: v.label().into(),
            class: v.key().into(),
            count: Some(of_db.iter().filter(|r| r.verdict == v).count()),
            href: index_href(Some(v.key()), db.as_deref()),
            active: verdict.as_deref() == Some(v.key()),
        });
    }
    let of_verdict = |d: Option<&str>| {
        scan.runs
            .iter()
            .filter(|r| verdict.as_ref().is_none_or(|v| r.verdict.key() == v))
            .filter(|r| d.is_none_or(|d| r.db == d))
            .count()
    };
    let mut names: Vec<&str> = scan.runs.iter().map(|r| r.db.as_str()).collect();
    names.sort();
    names.dedup();
    let mut dbs = vec![Choice {
        label: "all".into(),
        class: String::new(),
        count: Some(of_verdict(None)),
        href: index_href(verdict.as_deref(), None),
        active: db.is_none(),
    }];
    for name in names {
        dbs.push(Choice {
            label: name.into(),
            class: String::new(),
            count: Some(of_verdict(Some(name))),
            href: index_href(verdict.as_deref(), Some(name)),
            active: db.as_deref() == Some(name),
        });
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut shown = 0;
    for r in scan.runs {
        if verdict.as_ref().is_some_and(|v| r.verdict.key() != v)
            || db.as_ref().is_some_and(|d| &r.db != d)
        {
            continue;
        }
        shown += 1;
        match groups.last_mut() {
            Some(g) if g.name == r.test => g.runs.push(r),
            _ => groups.push(Group {
                name: r.test.clone(),
                href: paths::href(&[&r.test], true),
                runs: vec![r],
            }),
        }
    }
    page(&IndexPage {
        store: ctx.root.display().to_string(),
        groups,
        matrices: scan.matrices,
        verdicts,
        dbs,
        shown,
        total,
    })
}

async fn file_or_folder(State(ctx): State<Arc<Ctx>>, uri: Uri) -> Response {
    // The raw path, still percent-encoded: `paths::parse` decodes it segment by segment.
    let raw = uri.path().strip_prefix(FILES).unwrap_or("");
    let url = match paths::parse(raw) {
        Ok(u) => u,
        Err(e) => return refusal(e),
    };
    let real = match paths::resolve(&ctx.root, &url.segments) {
        Ok(p) => p,
        Err(e) => return refusal(e),
    };
    let Ok(meta) = tokio::fs::metadata(&real).await else {
        return refusal(PathError::NotFound);
    };
    if meta.is_dir() {
        if !url.trailing_slash {
            return Redirect::permanent(&paths::href(&url.segments, true)).into_response();
        }
        let root = ctx.root.clone();
        let listing = tokio::task::spawn_blocking(move || listing(&root, &real, &url.segments));
        match listing.await {
            Ok(Ok(p)) => page(&p),
            Ok(Err(e)) => {
                tracing::warn!("cannot list a folder: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot list the folder\n",
                )
                    .into_response()
            }
            Err(e) => {
                tracing::warn!("listing failed: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot list the folder\n",
                )
                    .into_response()
            }
        }
    } else if meta.is_file() {
        if url.trailing_slash {
            return refusal(PathError::NotFound);
        }
        files::stream(&real).await
    } else {
        refusal(PathError::NotFound)
    }
}

fn listing(
    root: &Path,
    real: &Path,
    segments: &[std::ffi::OsString],
) -> std::io::Result<ListingPage> {
    let entries = files::list(root, real, segments)?;
    let mut crumbs = vec![Link {
        name: "store".into(),
        href: FILES.into(),
    }];
    for i in 0..segments.len() {
        crumbs.push(Link {
            name: segments[i].to_string_lossy().into_owned(),
            href: paths::href(&segments[..=i], true),
        });
    }
    let title = crumbs
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join("/");
    // A run folder (`<test>/<folder>` holding test.json, reached by any path, `latest`
    // included) shows its run; a matrix folder its summary. Links go by the real names.
    let names = real
        .strip_prefix(root)
        .ok()
        .map(|p| {
            p.iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut run = None;
    let mut matrix = None;
    if let [test, folder] = names.as_slice() {
        if runs::store_file(root, &real.join(labrys_store::run_dir::TEST)) {
            run = Some(runs::read_run(root, real, test, folder));
        } else if runs::store_file(root, &real.join(runs::SUMMARY_JSON)) {
            matrix = Some(match runs::matrix_rows(root, real) {
                Ok((code, rows)) => MatrixView {
                    rows,
                    exit_code: code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                    note: String::new(),
                },
                Err(e) => MatrixView {
                    rows: Vec::new(),
                    exit_code: "-".into(),
                    note: e,
                },
            });
        }
    }
    Ok(ListingPage {
        store: root.display().to_string(),
        title,
        crumbs,
        entries,
        run,
        matrix,
    })
}

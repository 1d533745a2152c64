//! The HTML pages, as Askama templates (`templates/`): checked when the crate compiles, and
//! every value they show is HTML-escaped by the template engine, so a file name or an error
//! message from the store can never become markup.

use crate::files::Entry;
use crate::runs::{Link, Matrix, MatrixRow, Run};
use askama::Template;

/// A filter choice on the index: a link that keeps the other filter.
#[derive(Clone, Debug)]
pub struct Choice {
    pub label: String,
    /// A CSS class for the badge (the verdict's key), or empty.
    pub class: String,
    pub count: Option<usize>,
    pub href: String,
    pub active: bool,
}

/// The runs of one test name, newest first.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub href: String,
    pub runs: Vec<Run>,
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub store: String,
    pub groups: Vec<Group>,
    pub matrices: Vec<Matrix>,
    pub verdicts: Vec<Choice>,
    pub dbs: Vec<Choice>,
    pub shown: usize,
    pub total: usize,
}

/// A matrix summary folder's `summary.json`, shown above its listing.
#[derive(Clone, Debug)]
pub struct MatrixView {
    pub rows: Vec<MatrixRow>,
    pub exit_code: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "listing.html")]
pub struct ListingPage {
    pub store: String,
    pub title: String,
    /// The path from the store down to this folder, each part linked.
    pub crumbs: Vec<Link>,
    pub entries: Vec<Entry>,
    /// The run this folder holds, if it is a run folder.
    pub run: Option<Run>,
    pub matrix: Option<MatrixView>,
}

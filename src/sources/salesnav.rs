//! LinkedIn Sales Navigator has no people-search API open to new partners, so a
//! Sales Navigator workflow reads the CSV/JSON exports its users drop into an inbox
//! folder (`<inbox>/<workflow's folder>/`), through the same path as
//! `leadsprint import`. A file is one page; once its page is committed (its name,
//! size and modification time are in the cursor, so a new file under an old name
//! is still read) it moves to `done/`. The inbox is read in name order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Page;
use crate::http::FetchError;
use crate::import::{self, ImportOptions};
use crate::pipeline::Item;

/// The committed files, each as `name|size|modified-seconds`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesNavCursor {
    pub files: BTreeSet<String>,
}

pub struct SalesNav {
    folder: PathBuf,
}

impl SalesNav {
    /// Reads `folder` (created if missing).
    pub fn new(folder: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(folder.join("done"))?;
        Ok(SalesNav { folder })
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Moves the files whose pages are committed to `done/` (never over an older
    /// file of the same name: that one gets a numbered name).
    pub fn archive(&self, committed: &SalesNavCursor) -> std::io::Result<usize> {
        let mut moved = 0;
        for (name, _) in self.waiting()?.iter().filter(|(_, key)| committed.files.contains(key)) {
            std::fs::rename(self.folder.join(name), self.free_done_path(name))?;
            moved += 1;
        }
        Ok(moved)
    }

    fn free_done_path(&self, name: &str) -> PathBuf {
        let done = self.folder.join("done");
        let mut path = done.join(name);
        let mut n = 1;
        while path.exists() {
            path = done.join(format!("{name}.{n}"));
            n += 1;
        }
        path
    }

    /// Reads the next waiting file not yet in `cursor` as a page; `next` is `None`
    /// when every waiting file is.
    pub fn next_page(
        &mut self,
        cursor: SalesNavCursor,
        workflow: &str,
    ) -> Result<Page<SalesNavCursor>, FetchError> {
        let io = |e: std::io::Error| FetchError::Rejected {
            status: 0,
            body: format!("inbox {}: {e}", self.folder.display()),
        };
        let waiting = self.waiting().map_err(io)?;
        let Some((name, key)) = waiting.into_iter().find(|(_, key)| !cursor.files.contains(key)) else {
            return Ok(Page::exhausted());
        };
        let items = read(&self.folder.join(&name), workflow);
        let mut next = cursor;
        next.files.insert(key);
        Ok(Page { records: Vec::new(), items, next: Some(next), ..Page::exhausted() })
    }

    /// Waiting files as (name, identity key), in name order.
    fn waiting(&self) -> std::io::Result<Vec<(String, String)>> {
        let mut names: Vec<(String, String)> = std::fs::read_dir(&self.folder)?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let meta = e.metadata().ok();
                let size = meta.as_ref().map_or(0, |m| m.len());
                let modified = meta
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs());
                let key = format!("{name}|{size}|{modified}");
                (name, key)
            })
            .filter(|(name, _)| !name.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The file's records as pipeline items, source `salesnav/<workflow>`; a file that
/// cannot be read at all becomes one quarantine entry, so it is never lost.
fn read(path: &Path, workflow: &str) -> Vec<Item> {
    let options = ImportOptions {
        vendor: Some("salesnav".into()),
        workflow: Some(workflow.to_owned()),
        ..Default::default()
    };
    let mut items = Vec::new();
    let result = import::read_file(path, &options, &|_| {}, &mut |chunk| {
        items.extend(chunk);
        true
    });
    if let Err(e) = result {
        let raw = std::fs::read(path).unwrap_or_default();
        let now = crate::pipeline::now_millis();
        let entry = crate::pipeline::quarantine(
            workflow,
            path.display().to_string(),
            "unreadable file",
            e.to_string(),
            raw,
            now,
        );
        items.push(Item::Quarantine(entry));
    }
    items
}

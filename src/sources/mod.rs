//! Vendor sources: where records come from. Each connector speaks one vendor's
//! documented API through the shared [`crate::http`] client and hands back pages of
//! [`RawLead`]s with the cursor to resume after them; [`sandbox`] holds the
//! vendors' in-process twins.

pub mod apollo;
pub mod brightdata;
pub mod check;
pub mod salesnav;
pub mod sandbox;
pub mod spend;
pub mod zoominfo;

use std::sync::Arc;

use crate::config::Costs;
use crate::http::{RequestMetrics, VendorClient};
use crate::lead::RawLead;
use spend::Spend;

/// What every vendor connector is built from: the account's client, the workflow
/// it serves, the vendor's page size and prices, the workflow's request counters,
/// and the vendor's share of the campaign's spend cap.
pub struct Link {
    pub client: VendorClient,
    pub workflow: String,
    pub page_size: u32,
    pub costs: Costs,
    pub metrics: Arc<RequestMetrics>,
    pub spend: Spend,
}

/// One page of a workflow: its records, the cursor after them (`None` once the
/// query is exhausted), and what it cost.
#[derive(Debug, Clone)]
pub struct Page<C> {
    pub records: Vec<RawLead>,
    /// Records already through normalisation (file imports: Sales Navigator exports).
    pub items: Vec<crate::pipeline::Item>,
    pub next: Option<C>,
    pub requests: u32,
    pub credits: u32,
    pub cost: f64,
    /// Something the user should see in the sprint's events (a replaced snapshot).
    pub notice: Option<String>,
}

impl<C> Page<C> {
    /// A page with no records and no further cursor: the query is exhausted.
    pub fn exhausted() -> Self {
        Page {
            records: Vec::new(),
            items: Vec::new(),
            next: None,
            requests: 0,
            credits: 0,
            cost: 0.0,
            notice: None,
        }
    }
}

/// Where a search-then-details workflow resumes (Apollo, ZoomInfo): the search page
/// (from 1) and the offset in it of the next detail batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchCursor {
    pub page: u32,
    pub offset: u32,
}

impl SearchCursor {
    /// The cursor after a detail batch ending at `end` of a search page of `found`
    /// ids: the rest of this page, the next page when this one was full, or none.
    pub fn after(self, end: usize, found: usize, page_size: u32) -> Option<SearchCursor> {
        let page = self.page.max(1);
        if end < found {
            Some(SearchCursor { page, offset: end as u32 })
        } else if found as u32 == page_size {
            Some(SearchCursor { page: page + 1, offset: 0 })
        } else {
            None
        }
    }
}

/// The text at `path` in a vendor's JSON (strings as they are, numbers printed).
pub fn json_text(value: &serde_json::Value, path: &[&str]) -> Option<String> {
    match path.iter().try_fold(value, |v, key| v.get(*key))? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A workflow's connector, whichever vendor it speaks to.
pub enum Connector {
    Apollo(apollo::Apollo),
    BrightData(brightdata::BrightData),
    ZoomInfo(zoominfo::ZoomInfo),
    /// Reads export files; the `String` is the workflow recorded as their source.
    SalesNav(salesnav::SalesNav, String),
}

impl Connector {
    /// The next page after `cursor` (the connector's JSON, `None` = from the start).
    pub async fn next_page(
        &mut self,
        cursor: Option<&str>,
        now: crate::lead::Millis,
    ) -> Result<Page<String>, crate::http::FetchError> {
        match self {
            Connector::Apollo(c) => Ok(page_with_json_cursor(c.next_page(parse_cursor(cursor), now).await?)),
            Connector::BrightData(c) => {
                Ok(page_with_json_cursor(c.next_page(parse_cursor(cursor), now).await?))
            }
            Connector::ZoomInfo(c) => {
                Ok(page_with_json_cursor(c.next_page(parse_cursor(cursor), now).await?))
            }
            Connector::SalesNav(c, workflow) => {
                // Reading a file blocks: let the runtime move other tasks off this thread.
                let page = tokio::task::block_in_place(|| c.next_page(parse_cursor(cursor), workflow))?;
                Ok(page_with_json_cursor(page))
            }
        }
    }

    /// Whether pages come from files that must be archived once committed.
    pub fn reads_files(&self) -> bool {
        matches!(self, Connector::SalesNav(..))
    }

    /// Archives what the committed cursor covers (Sales Navigator files); a no-op elsewhere.
    pub fn archive(&self, committed: Option<&str>) {
        if let Connector::SalesNav(c, workflow) = self {
            let cursor: salesnav::SalesNavCursor = parse_cursor(committed);
            match c.archive(&cursor) {
                Ok(0) => {}
                Ok(n) => tracing::info!(%workflow, "moved {n} committed export files to done/"),
                Err(e) => tracing::warn!(%workflow, "cannot move committed files to done/: {e}"),
            }
        }
    }
}

fn parse_cursor<C: serde::de::DeserializeOwned + Default>(cursor: Option<&str>) -> C {
    match cursor.map(serde_json::from_str) {
        None => C::default(),
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            tracing::warn!("stored cursor {cursor:?} is unreadable ({e}); starting the query over");
            C::default()
        }
    }
}

fn page_with_json_cursor<C: serde::Serialize>(page: Page<C>) -> Page<String> {
    Page {
        records: page.records,
        items: page.items,
        next: page.next.and_then(|c| serde_json::to_string(&c).ok()),
        requests: page.requests,
        credits: page.credits,
        cost: page.cost,
        notice: page.notice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_cursor_walks_batches_then_pages() {
        let at = |page, offset| SearchCursor { page, offset };
        assert_eq!(at(1, 0).after(10, 100, 100), Some(at(1, 10)), "the rest of the page");
        assert_eq!(at(1, 90).after(100, 100, 100), Some(at(2, 0)), "a full page: the next one");
        assert_eq!(at(3, 40).after(57, 57, 100), None, "a short page is the last");
        assert_eq!(at(0, 0).after(0, 0, 100), None, "an empty page ends the query");
    }
}

//! Vendor sources: where records come from. Each connector speaks one vendor's
//! documented API through the shared [`client`] and hands back pages of
//! [`RawLead`]s with the cursor to resume after them; [`sandbox`] holds the
//! vendors' in-process twins.

pub mod apollo;
pub mod client;
pub mod sandbox;

use crate::lead::RawLead;

/// One page of a workflow: its records, the cursor after them (`None` once the
/// query is exhausted), and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<C> {
    pub records: Vec<RawLead>,
    pub next: Option<C>,
    pub requests: u32,
    pub credits: u32,
    pub cost: f64,
}

//! Enrichment (SPEC section 7): providers that find and verify emails and fill
//! company data, each a client of its documented API in a file of its own. Every
//! provider's status is read into the one vocabulary, [`crate::lead::EmailStatus`].
//!
//! - [`local`]: the free steps first: syntax, role, disposable, webmail, registrable domain.
//! - [`mx`]: the free DNS step: whether a domain takes mail (MX, implicit MX, null MX).
//! - [`hunter`]: Email Finder, Email Verifier, email count, company by domain, account.
//! - [`apollo_org`]: Apollo organization enrichment, ten domains a call.
//! - [`zerobounce`]: ZeroBounce's validator, the second verifier.
//! - [`waterfall`]: the email waterfall for one lead, in the campaign's order.
//! - [`budget`]: the spend limits every paid step asks first.
//! - [`cache`]: the cache's keys (provider, operation, normalised input) and lifetimes.
//! - [`session`]: one lead's paid steps, from the cache or the providers, written down.
//! - [`stage`]: a stored lead through the waterfall, into the writer's item.
//! - [`company`]: company data once per domain (Apollo, then Hunter), into the writer's items.
//! - [`estimate`]: what enrichment will spend on a store's leads, before any call.
//! - [`queue`]: which leads still need a step, learnt by following the store.
//! - [`runner`]: the background stage: each lead once, several at a time.

pub mod apollo_org;
pub mod budget;
pub mod cache;
pub mod company;
pub mod estimate;
pub mod hunter;
pub mod local;
pub mod mx;
pub mod queue;
pub mod runner;
pub mod session;
pub mod stage;
pub mod waterfall;
pub mod zerobounce;

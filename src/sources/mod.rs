//! Vendor sources: where records come from. Today the sandbox twins' population;
//! the connectors (Apollo, Bright Data, ZoomInfo, Sales Navigator) build on it.

pub mod client;
pub mod sandbox;

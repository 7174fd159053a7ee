//! Sandbox vendors: in-process twins of the real vendor APIs, serving a seeded
//! population with realistic overlap, partial records and injected faults. They
//! power `leadsprint demo` and the tests.

pub mod population;

//! The free MX step: does a domain take mail at all? Asked of DNS through
//! `hickory-resolver` — the system's resolver (`/etc/resolv.conf`), or a server
//! the campaign names (`[enrichment] dns_server`, `LEADSPRINT_DNS_SERVER`; the
//! sandbox answers there for the demo and the tests, offline). Per RFC 5321
//! §5.1 a domain without MX records takes mail at its address records (the
//! implicit MX); per RFC 7505 a lone MX of `.` (null MX) says it takes none.
//! Only an answer decides: a timeout or a failing server leaves the address to
//! the paid steps, and a resolver that keeps failing is asked no more.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// Failures in a row after which DNS is taken to be unreachable (offline).
const FAILURES_TO_GIVE_UP: u32 = 8;

/// What DNS says of a domain's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailDomain {
    /// MX records, or address records standing in for them.
    Accepts,
    /// The domain takes no mail; why, in words for the lead's check.
    NoMail(&'static str),
    /// No answer to go by (timeout, server failure, resolver given up).
    Unknown,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver ({0}); set [enrichment] dns_server or mx_check = false")]
pub struct ResolverError(String);

pub struct MailResolver {
    dns: TokioResolver,
    /// Answers already had this run, by domain (DNS caches too, but not our verdict).
    known: Mutex<HashMap<String, MailDomain>>,
    failures: AtomicU32,
}

impl MailResolver {
    /// The resolver the campaign names, else the system's.
    pub fn new(server: Option<SocketAddr>) -> Result<MailResolver, ResolverError> {
        MailResolver::with_timeout(server, Duration::from_secs(2))
    }

    /// The same, waiting `timeout` for each of two tries of a query.
    pub fn with_timeout(
        server: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<MailResolver, ResolverError> {
        let mut builder = match server {
            Some(at) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = at.port();
                let mut name_server = NameServerConfig::udp(at.ip());
                name_server.connections = vec![udp];
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![name_server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| ResolverError(e.to_string()))?,
        };
        let options = builder.options_mut();
        options.timeout = timeout;
        options.attempts = 2;
        options.cache_size = 8192;
        let dns = builder.build().map_err(|e| ResolverError(e.to_string()))?;
        Ok(MailResolver { dns, known: Mutex::default(), failures: AtomicU32::new(0) })
    }

    /// Whether `domain` (a registrable or mail domain) takes mail.
    pub async fn mail_domain(&self, domain: &str) -> MailDomain {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty() || self.failures.load(Ordering::Relaxed) >= FAILURES_TO_GIVE_UP {
            return MailDomain::Unknown;
        }
        if let Some(known) = self.known.lock().ok().and_then(|k| k.get(&domain).copied()) {
            return known;
        }
        let verdict = self.ask(&format!("{domain}.")).await;
        match verdict {
            MailDomain::Unknown => {
                self.failures.fetch_add(1, Ordering::Relaxed);
            }
            known => {
                self.failures.store(0, Ordering::Relaxed);
                if let Ok(mut map) = self.known.lock() {
                    map.insert(domain, known);
                }
            }
        }
        verdict
    }

    /// Whether DNS stopped answering and is asked no more this run.
    pub fn gave_up(&self) -> bool {
        self.failures.load(Ordering::Relaxed) >= FAILURES_TO_GIVE_UP
    }

    async fn ask(&self, fqdn: &str) -> MailDomain {
        match self.dns.mx_lookup(fqdn).await {
            Ok(lookup) => {
                let exchanges: Vec<bool> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some(mx.exchange.is_root()),
                        _ => None,
                    })
                    .collect();
                match exchanges.as_slice() {
                    [] => self.implicit_mx(fqdn).await,
                    [true] => MailDomain::NoMail("the domain publishes a null MX: it takes no mail"),
                    _ => MailDomain::Accepts,
                }
            }
            Err(e) => match absence(&e) {
                Some(Absence::NoDomain) => MailDomain::NoMail("the domain does not exist"),
                Some(Absence::NoRecords) => self.implicit_mx(fqdn).await,
                None => MailDomain::Unknown,
            },
        }
    }

    /// No MX: mail goes to the domain's own address, if it has one.
    async fn implicit_mx(&self, fqdn: &str) -> MailDomain {
        match self.dns.lookup_ip(fqdn).await {
            Ok(ips) if ips.iter().next().is_some() => MailDomain::Accepts,
            Ok(_) => MailDomain::NoMail("the domain has no MX and no address record"),
            Err(e) => match absence(&e) {
                Some(_) => MailDomain::NoMail("the domain has no MX and no address record"),
                None => MailDomain::Unknown,
            },
        }
    }
}

enum Absence {
    NoDomain,
    NoRecords,
}

/// A DNS answer that something is not there (as opposed to no answer).
fn absence(e: &NetError) -> Option<Absence> {
    if e.is_nx_domain() {
        Some(Absence::NoDomain)
    } else if e.is_no_records_found() {
        Some(Absence::NoRecords)
    } else {
        None
    }
}

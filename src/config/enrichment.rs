//! The `[enrichment]` section: whether and how leads are enriched, the order of the
//! email waterfall's paid steps, the spend limits (per provider in credits and
//! dollars, for enrichment as a whole, per lead), the kill switch, and each
//! provider's address, key variable, rate and credit price.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{Credential, Rate, Secret, parse_rate, valid_cap};

/// The enrichment providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Hunter,
    Zerobounce,
    /// Apollo's organization enrichment (the `vendors.apollo` key by default).
    Apollo,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Hunter => "hunter",
            ProviderKind::Zerobounce => "zerobounce",
            ProviderKind::Apollo => "apollo",
        }
    }

    /// Documented address, key variable, rate, and a list price per credit
    /// (Hunter Starter $49 for 2,000; ZeroBounce $20 for 2,000; Apollo's credit).
    fn defaults(self) -> (&'static str, &'static str, Rate, f64) {
        match self {
            ProviderKind::Hunter => (
                "https://api.hunter.io/v2",
                "HUNTER_API_KEY",
                Rate { requests: 500, per: Duration::from_secs(60) },
                0.0245,
            ),
            ProviderKind::Zerobounce => (
                "https://api.zerobounce.net/v2",
                "ZEROBOUNCE_API_KEY",
                Rate { requests: 50, per: Duration::from_secs(1) },
                0.01,
            ),
            // The bulk endpoint runs at half the single one's per-minute limit.
            ProviderKind::Apollo => (
                "https://api.apollo.io/api/v1",
                "APOLLO_API_KEY",
                Rate { requests: 500, per: Duration::from_secs(60) },
                0.025,
            ),
        }
    }
}

/// Which provider verifies addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verifier {
    Hunter,
    Zerobounce,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnrichmentFile {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    accept_catch_all: bool,
    #[serde(default = "yes")]
    find_emails: bool,
    #[serde(default = "yes")]
    verify_emails: bool,
    verifier: Option<Verifier>,
    #[serde(default = "yes")]
    company: bool,
    #[serde(default = "yes")]
    mx_check: bool,
    dns_server: Option<String>,
    per_lead_ceiling: Option<f64>,
    spend_cap: Option<f64>,
    kill_switch_after: Option<u64>,
    kill_switch_min_fill: Option<f64>,
    #[serde(default)]
    providers: BTreeMap<ProviderKind, ProviderFile>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
    base_url: Option<String>,
    api_key_env: Option<String>,
    rate_limit: Option<String>,
    cost_per_credit: Option<f64>,
    credits_cap: Option<f64>,
    spend_cap: Option<f64>,
}

/// Stop paying when the fill rate over the first `after` attempts is below `min_fill`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KillSwitch {
    pub after: u64,
    pub min_fill: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    pub base_url: String,
    pub key: Credential,
    pub rate: Rate,
    pub cost_per_credit: f64,
    pub credits_cap: Option<f64>,
    pub spend_cap: Option<f64>,
}

/// The validated `[enrichment]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichmentSettings {
    pub enabled: bool,
    pub accept_catch_all: bool,
    pub find_emails: bool,
    pub verify_emails: bool,
    pub verifier: Verifier,
    pub company: bool,
    /// Ask DNS whether a domain takes mail before paying for its addresses.
    pub mx_check: bool,
    /// The DNS server to ask (`None`: the system's resolver).
    pub dns_server: Option<std::net::SocketAddr>,
    /// Dollars one lead may cost at most.
    pub per_lead_ceiling: f64,
    /// Dollars enrichment may spend in all.
    pub spend_cap: f64,
    pub kill_switch: KillSwitch,
    pub providers: BTreeMap<ProviderKind, ProviderSettings>,
}

impl Default for EnrichmentFile {
    fn default() -> Self {
        EnrichmentFile {
            enabled: false,
            accept_catch_all: false,
            find_emails: true,
            verify_emails: true,
            verifier: None,
            company: true,
            mx_check: true,
            dns_server: None,
            per_lead_ceiling: None,
            spend_cap: None,
            kill_switch_after: None,
            kill_switch_min_fill: None,
            providers: BTreeMap::new(),
        }
    }
}

impl EnrichmentSettings {
    /// A campaign without an `[enrichment]` section: enrichment off, every default.
    pub(super) fn off(env: &dyn Fn(&str) -> Option<String>) -> Result<EnrichmentSettings, String> {
        settings(EnrichmentFile::default(), env)
    }
}

/// Validates the section; every provider gets its documented defaults.
pub(super) fn settings(
    file: EnrichmentFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<EnrichmentSettings, String> {
    let at = |key: &str| format!("enrichment.{key}");
    let per_lead_ceiling = valid_cap(file.per_lead_ceiling.unwrap_or(0.12), &at("per_lead_ceiling"))?;
    let spend_cap = valid_cap(file.spend_cap.unwrap_or(300.0), &at("spend_cap"))?;
    let min_fill = file.kill_switch_min_fill.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&min_fill) {
        return Err(format!(
            "{} = {min_fill} must be a fraction between 0 and 1",
            at("kill_switch_min_fill")
        ));
    }
    let dns_server = match env("LEADSPRINT_DNS_SERVER").or(file.dns_server) {
        Some(text) => {
            Some(dns_server(&text).map_err(|why| format!("{} = {text:?}: {why}", at("dns_server")))?)
        }
        None => None,
    };
    let mut files = file.providers;
    let mut providers = BTreeMap::new();
    for kind in [ProviderKind::Hunter, ProviderKind::Zerobounce, ProviderKind::Apollo] {
        let given = files.remove(&kind).unwrap_or_default();
        providers.insert(kind, provider(kind, given, env)?);
    }
    Ok(EnrichmentSettings {
        enabled: file.enabled,
        accept_catch_all: file.accept_catch_all,
        find_emails: file.find_emails,
        verify_emails: file.verify_emails,
        verifier: file.verifier.unwrap_or(Verifier::Hunter),
        company: file.company,
        mx_check: file.mx_check,
        dns_server,
        per_lead_ceiling,
        spend_cap,
        kill_switch: KillSwitch { after: file.kill_switch_after.unwrap_or(500), min_fill },
        providers,
    })
}

/// `IP` or `IP:PORT` (port 53 when left out).
fn dns_server(text: &str) -> Result<std::net::SocketAddr, &'static str> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    text.parse().map_err(|_| "give an IP address, with :PORT if not 53 (e.g. 1.1.1.1 or 127.0.0.1:5353)")
}

fn provider(
    kind: ProviderKind,
    file: ProviderFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderSettings, String> {
    let at = |key: &str| format!("enrichment.providers.{}.{key}", kind.name());
    let (base_url, key_env, rate, price) = kind.defaults();
    let env_base = env(&format!("LEADSPRINT_{}_ENRICH_BASE_URL", kind.name().to_uppercase()));
    let base_url = env_base.or(file.base_url).unwrap_or_else(|| base_url.to_owned());
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(format!("{} = {base_url:?} must start with http:// or https://", at("base_url")));
    }
    let rate = match file.rate_limit {
        Some(text) => parse_rate(&text).map_err(|why| format!("{} = {text:?}: {why}", at("rate_limit")))?,
        None => rate,
    };
    let key_env = file.api_key_env.unwrap_or_else(|| key_env.to_owned());
    let key = Credential { value: env(&key_env).filter(|v| !v.is_empty()).map(Secret::new), env: key_env };
    Ok(ProviderSettings {
        kind,
        base_url: base_url.trim_end_matches('/').to_owned(),
        key,
        rate,
        cost_per_credit: valid_cap(file.cost_per_credit.unwrap_or(price), &at("cost_per_credit"))?,
        credits_cap: file.credits_cap.map(|c| valid_cap(c, &at("credits_cap"))).transpose()?,
        spend_cap: file.spend_cap.map(|c| valid_cap(c, &at("spend_cap"))).transpose()?,
    })
}

//! Campaign configuration: a TOML file (unknown keys refused) plus environment
//! variables and command-line flags, turned into validated [`Settings`] by one pure
//! function, [`load`]. Precedence: flags > environment > file > defaults. Secrets are
//! only ever named here (`api_key_env = "APOLLO_API_KEY"`); their values come from
//! the environment and are held as [`Secret`], which never prints.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The default campaign (the sprint's ten workflows), embedded in the binary.
pub const DEFAULT_CAMPAIGN: &str = include_str!("../data/campaign.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// The data vendors leadsprint collects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VendorKind {
    Brightdata,
    Apollo,
    Zoominfo,
    Salesnav,
}

impl VendorKind {
    pub const ALL: [VendorKind; 4] =
        [VendorKind::Brightdata, VendorKind::Apollo, VendorKind::Zoominfo, VendorKind::Salesnav];

    pub fn name(self) -> &'static str {
        match self {
            VendorKind::Brightdata => "brightdata",
            VendorKind::Apollo => "apollo",
            VendorKind::Zoominfo => "zoominfo",
            VendorKind::Salesnav => "salesnav",
        }
    }

    /// Documented defaults: Bright Data 1 request / 1.5 s, Apollo 10/s, ZoomInfo 25/s.
    fn default_rate(self) -> Rate {
        match self {
            VendorKind::Brightdata => Rate { requests: 1, per: Duration::from_millis(1500) },
            VendorKind::Apollo => Rate { requests: 10, per: Duration::from_secs(1) },
            VendorKind::Zoominfo => Rate { requests: 25, per: Duration::from_secs(1) },
            VendorKind::Salesnav => Rate { requests: 1, per: Duration::from_secs(1) },
        }
    }

    /// The page size each vendor documents: (default, fewest, most). Bright Data's
    /// snapshot download takes `batch_size` ≥ 1000; Apollo's People API Search
    /// `per_page` ≤ 100; ZoomInfo's search `rpp` ≤ 100 (the ceiling we use; its
    /// documentation leaves it unconfirmed).
    fn page_bounds(self) -> (u32, u32, u32) {
        match self {
            VendorKind::Brightdata => (1000, 1000, 100_000),
            VendorKind::Apollo => (100, 1, 100),
            VendorKind::Zoominfo => (100, 1, 100),
            VendorKind::Salesnav => (100, 1, u32::MAX),
        }
    }

    fn default_base_url(self) -> &'static str {
        match self {
            VendorKind::Brightdata => "https://api.brightdata.com",
            VendorKind::Apollo => "https://api.apollo.io/api/v1",
            VendorKind::Zoominfo => "https://api.zoominfo.com",
            VendorKind::Salesnav => "",
        }
    }

    fn env_prefix(self) -> String {
        format!("LEADSPRINT_{}_", self.name().to_uppercase())
    }
}

// ---- The file, as written ----------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    campaign: CampaignFile,
    #[serde(default)]
    kpi: Kpi,
    #[serde(default)]
    vendors: BTreeMap<VendorKind, VendorFile>,
    #[serde(default, rename = "workflow")]
    workflows: Vec<WorkflowFile>,
    enrichment: Option<enrichment::EnrichmentFile>,
    #[serde(default)]
    alerts: alerts::AlertsFile,
    #[serde(default)]
    plan: PlanAssumptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignFile {
    name: String,
    target: u64,
    /// Dollars the whole campaign may spend on vendors (default: target × the
    /// cost-per-qualified-lead KPI).
    spend_cap: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VendorFile {
    base_url: Option<String>,
    api_key_env: Option<String>,
    username_env: Option<String>,
    password_env: Option<String>,
    dataset_id: Option<String>,
    inbox: Option<PathBuf>,
    rate_limit: Option<String>,
    page_size: Option<u32>,
    timeout: Option<String>,
    #[serde(default)]
    cost_per_request: f64,
    #[serde(default)]
    cost_per_credit: f64,
    #[serde(default)]
    cost_per_record: f64,
    /// Dollars this vendor may spend over the campaign (default: the campaign's cap).
    spend_cap: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowFile {
    name: String,
    vendor: VendorKind,
    #[serde(default)]
    query: toml::Table,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    /// A limit of the workflow's own instead of the vendor account's shared one.
    rate_limit: Option<String>,
    /// Records its query is expected to return (for `leadsprint plan`).
    expected_records: Option<u64>,
}

fn enabled_by_default() -> bool {
    true
}

// ---- Validated settings ------------------------------------------------------

/// KPI thresholds (SPEC section 7); every one has the specification's default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kpi {
    pub collected: u64,
    pub unique: u64,
    pub avg_quality: f64,
    pub email_availability: f64,
    pub company_completeness: f64,
    pub cost_per_qualified_lead: f64,
    pub leads_per_hour: f64,
}

impl Default for Kpi {
    fn default() -> Self {
        Kpi {
            collected: 20_000,
            unique: 18_000,
            avg_quality: 75.0,
            email_availability: 25.0,
            company_completeness: 80.0,
            cost_per_qualified_lead: 0.60,
            leads_per_hour: 833.0,
        }
    }
}

/// What `leadsprint plan` assumes where the campaign cannot know before spending
/// (`[plan]`). A run's measured figures replace them on the dashboard.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanAssumptions {
    /// Share of records expected to be duplicates of records already collected.
    pub duplicate_rate: f64,
    /// Share of records expected to pass validation (the rest is quarantined).
    pub valid_share: f64,
    /// Share of requests expected to fail and be retried (429s, 5xx, timeouts).
    pub failure_share: f64,
    /// A request's round trip, vendor time (`150ms`): bounds a workflow's pace
    /// where the rate limit does not.
    pub latency: String,
    /// How long a Bright Data filter snapshot takes to build.
    pub snapshot_build: String,
    /// Share of unique leads that arrive with a valid personal email.
    pub sold_email_share: f64,
    /// Share of the other leads the finder gives an address.
    pub email_find_rate: f64,
    /// Share of leads whose company enrichment fills (with what vendors sold).
    pub company_fill_rate: f64,
    /// Expected mean quality score of a lead (0–100).
    pub quality: f64,
    /// Share of unique leads expected to qualify.
    pub qualified_share: f64,
}

impl Default for PlanAssumptions {
    fn default() -> Self {
        PlanAssumptions {
            duplicate_rate: 0.12,
            valid_share: 0.99,
            failure_share: 0.05,
            latency: "150ms".to_owned(),
            snapshot_build: "20s".to_owned(),
            sold_email_share: 0.15,
            email_find_rate: 0.5,
            company_fill_rate: 0.9,
            quality: 80.0,
            qualified_share: 0.95,
        }
    }
}

impl PlanAssumptions {
    fn validated(self) -> Result<PlanAssumptions, String> {
        for (key, share) in [
            ("duplicate_rate", self.duplicate_rate),
            ("valid_share", self.valid_share),
            ("failure_share", self.failure_share),
            ("sold_email_share", self.sold_email_share),
            ("email_find_rate", self.email_find_rate),
            ("company_fill_rate", self.company_fill_rate),
            ("qualified_share", self.qualified_share),
        ] {
            if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
                return Err(format!("plan.{key} = {share} must be a share from 0 to 1"));
            }
        }
        if !(self.quality.is_finite() && (0.0..=100.0).contains(&self.quality)) {
            return Err(format!("plan.quality = {} must be from 0 to 100", self.quality));
        }
        for (key, text) in [("latency", &self.latency), ("snapshot_build", &self.snapshot_build)] {
            parse_duration(text).map_err(|e| format!("plan.{key} = {text:?}: {e}"))?;
        }
        Ok(self)
    }

    pub fn latency(&self) -> Duration {
        parse_duration(&self.latency).unwrap_or(Duration::from_millis(150))
    }

    pub fn snapshot_build(&self) -> Duration {
        parse_duration(&self.snapshot_build).unwrap_or(Duration::from_secs(20))
    }
}

/// `requests` per `per`, e.g. `10/s`, `1/1.5s`, `200/min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

/// A secret read from the environment: shown as `***` everywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the environment (or given by a test).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it (an HTTP header or form).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A credential: the variable that holds it, and its value if that is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub env: String,
    pub value: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Costs {
    pub per_request: f64,
    pub per_credit: f64,
    pub per_record: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VendorSettings {
    pub kind: VendorKind,
    pub base_url: String,
    /// Bright Data and Apollo: the API key. ZoomInfo: username then password.
    pub credentials: Vec<Credential>,
    pub dataset_id: Option<String>,
    /// Sales Navigator: the folder (under the data dir unless absolute) whose
    /// sub-folders, one per workflow, receive export files.
    pub inbox: Option<PathBuf>,
    pub rate: Rate,
    pub page_size: u32,
    pub timeout: Duration,
    pub costs: Costs,
    /// Dollars this vendor may spend over the campaign; `None`: only the campaign's cap.
    pub spend_cap: Option<f64>,
}

impl VendorSettings {
    /// The credential variables that are not set.
    pub fn missing_credentials(&self) -> Vec<&str> {
        self.credentials.iter().filter(|c| c.value.is_none()).map(|c| c.env.as_str()).collect()
    }
}

/// What a workflow asks its vendor for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    BrightData(BrightDataQuery),
    Apollo(ApolloQuery),
    ZoomInfo(ZoomInfoQuery),
    SalesNav(SalesNavQuery),
}

/// A filter over Bright Data's LinkedIn people dataset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrightDataQuery {
    pub title: String,
    pub location: String,
    /// At most this many records from the snapshot (Bright Data bills per record).
    pub records_limit: Option<u32>,
}

/// Apollo People API Search filters (`mixed_people/api_search`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApolloQuery {
    pub person_titles: Vec<String>,
    #[serde(default)]
    pub person_locations: Vec<String>,
    #[serde(default)]
    pub person_seniorities: Vec<String>,
    pub q_keywords: Option<String>,
    #[serde(default)]
    pub organization_num_employees_ranges: Vec<String>,
}

/// ZoomInfo contact search (`search/contact`) fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ZoomInfoQuery {
    pub job_title: String,
    pub country: Option<String>,
    pub management_level: Option<String>,
    pub department: Option<String>,
}

/// A Sales Navigator workflow reads the exports dropped in its inbox folder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesNavQuery {
    pub inbox: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowSettings {
    pub name: String,
    pub vendor: VendorKind,
    pub query: Query,
    pub enabled: bool,
    /// `Some` when the workflow has a limit of its own instead of the vendor's shared one.
    pub rate: Option<Rate>,
    /// Records its query is expected to return (the plan's yield); `None`: as many
    /// as the vendor shows.
    pub expected_records: Option<u64>,
}

/// The validated campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub name: String,
    pub target: u64,
    /// Dollars the campaign may spend on vendors, all of them together.
    pub spend_cap: f64,
    pub kpi: Kpi,
    pub vendors: BTreeMap<VendorKind, VendorSettings>,
    pub workflows: Vec<WorkflowSettings>,
    pub enrichment: EnrichmentSettings,
    pub alerts: AlertSettings,
    pub plan: PlanAssumptions,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub target: Option<u64>,
}

/// Where the file came from, for error messages.
pub struct Source<'a> {
    pub origin: &'a str,
    pub text: &'a str,
}

/// Builds the settings from the file's text, the environment (a lookup, so tests
/// pass a map) and the flags. Pure: reads nothing else.
pub fn load(
    file: Source<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &Flags,
) -> Result<Settings, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { origin: file.origin.to_owned(), message };
    let parsed: File = toml::from_str(file.text)
        .map_err(|e| ConfigError::Parse { origin: file.origin.to_owned(), message: e.to_string() })?;
    let target = match (flags.target, env("LEADSPRINT_TARGET")) {
        (Some(t), _) => t,
        (None, Some(v)) => {
            v.trim().parse().map_err(|_| invalid(format!("LEADSPRINT_TARGET={v:?} is not a number")))?
        }
        (None, None) => parsed.campaign.target,
    };
    if target == 0 {
        return Err(invalid("campaign target must be at least 1".into()));
    }
    let mut vendors = BTreeMap::new();
    for (kind, vendor) in parsed.vendors {
        vendors.insert(kind, vendor_settings(kind, vendor, env).map_err(invalid)?);
    }
    let workflows = workflows(parsed.workflows, &vendors).map_err(invalid)?;
    let spend_cap = match parsed.campaign.spend_cap {
        Some(cap) => valid_cap(cap, "campaign.spend_cap").map_err(invalid)?,
        None => target as f64 * parsed.kpi.cost_per_qualified_lead,
    };
    let enrichment = match parsed.enrichment {
        Some(file) => enrichment::settings(file, env).map_err(invalid)?,
        None => EnrichmentSettings::off(env).map_err(invalid)?,
    };
    Ok(Settings {
        name: parsed.campaign.name,
        target,
        spend_cap,
        kpi: parsed.kpi,
        vendors,
        workflows,
        enrichment,
        alerts: alerts::settings(parsed.alerts, env).map_err(invalid)?,
        plan: parsed.plan.validated().map_err(invalid)?,
    })
}

/// A spend cap is a finite number of dollars, zero or more.
fn valid_cap(cap: f64, key: &str) -> Result<f64, String> {
    if cap.is_finite() && cap >= 0.0 {
        Ok(cap)
    } else {
        Err(format!("{key} = {cap} must be a number of dollars, zero or more"))
    }
}

fn vendor_settings(
    kind: VendorKind,
    file: VendorFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<VendorSettings, String> {
    let at = |field: &str| format!("vendors.{}.{field}", kind.name());
    let prefix = kind.env_prefix();
    let base_url = env(&format!("{prefix}BASE_URL"))
        .or(file.base_url)
        .unwrap_or_else(|| kind.default_base_url().to_owned());
    if kind != VendorKind::Salesnav && !(base_url.starts_with("http://") || base_url.starts_with("https://"))
    {
        return Err(format!("{} = {base_url:?} must start with http:// or https://", at("base_url")));
    }
    let rate_text = env(&format!("{prefix}RATE_LIMIT")).or(file.rate_limit);
    let rate = match rate_text {
        Some(text) => parse_rate(&text).map_err(|why| format!("{} = {text:?}: {why}", at("rate_limit")))?,
        None => kind.default_rate(),
    };
    let timeout = match file.timeout {
        Some(text) => parse_duration(&text).map_err(|why| format!("{} = {text:?}: {why}", at("timeout")))?,
        None => Duration::from_secs(30),
    };
    let (default_page, fewest, most) = kind.page_bounds();
    let page_size = file.page_size.unwrap_or(default_page);
    if !(fewest..=most).contains(&page_size) {
        return Err(format!(
            "{} = {page_size} is outside what {} accepts ({fewest} to {most}); set it within, or leave it out for {default_page}",
            at("page_size"),
            kind.name()
        ));
    }
    let names = [file.api_key_env, file.username_env, file.password_env];
    let credentials = names
        .into_iter()
        .flatten()
        .map(|name| Credential { value: env(&name).filter(|v| !v.is_empty()).map(Secret::new), env: name })
        .collect();
    let costs = Costs {
        per_request: file.cost_per_request,
        per_credit: file.cost_per_credit,
        per_record: file.cost_per_record,
    };
    if [costs.per_request, costs.per_credit, costs.per_record].iter().any(|c| !c.is_finite() || *c < 0.0) {
        return Err(format!("vendors.{}: costs must be zero or more", kind.name()));
    }
    let spend_cap = file.spend_cap.map(|cap| valid_cap(cap, &at("spend_cap"))).transpose()?;
    let inbox = file.inbox.or_else(|| (kind == VendorKind::Salesnav).then(|| PathBuf::from("inbox")));
    Ok(VendorSettings {
        kind,
        base_url: base_url.trim_end_matches('/').to_owned(),
        credentials,
        dataset_id: file.dataset_id,
        inbox,
        rate,
        page_size,
        timeout,
        costs,
        spend_cap,
    })
}

fn workflows(
    files: Vec<WorkflowFile>,
    vendors: &BTreeMap<VendorKind, VendorSettings>,
) -> Result<Vec<WorkflowSettings>, String> {
    let mut seen = HashSet::new();
    files
        .into_iter()
        .map(|w| {
            let valid_name = !w.name.is_empty()
                && w.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                return Err(format!("workflow name {:?}: use letters, digits, - and _ only", w.name));
            }
            if !seen.insert(w.name.clone()) {
                return Err(format!("workflow name {:?} is used twice", w.name));
            }
            if !vendors.contains_key(&w.vendor) {
                return Err(format!(
                    "workflow {:?} uses vendor {:?}, which has no [vendors.{}] section",
                    w.name,
                    w.vendor.name(),
                    w.vendor.name()
                ));
            }
            let query =
                parse_query(w.vendor, w.query).map_err(|e| format!("workflow {:?} query: {e}", w.name))?;
            if let Query::BrightData(BrightDataQuery { records_limit: Some(0), .. }) = query {
                return Err(format!("workflow {:?} query: records_limit must be at least 1", w.name));
            }
            let rate = w
                .rate_limit
                .map(|t| {
                    parse_rate(&t).map_err(|why| format!("workflow {:?} rate_limit {t:?}: {why}", w.name))
                })
                .transpose()?;
            Ok(WorkflowSettings {
                name: w.name,
                vendor: w.vendor,
                query,
                enabled: w.enabled,
                rate,
                expected_records: w.expected_records,
            })
        })
        .collect()
}

fn parse_query(vendor: VendorKind, table: toml::Table) -> Result<Query, toml::de::Error> {
    let value = toml::Value::Table(table);
    Ok(match vendor {
        VendorKind::Brightdata => Query::BrightData(value.try_into()?),
        VendorKind::Apollo => Query::Apollo(value.try_into()?),
        VendorKind::Zoominfo => Query::ZoomInfo(value.try_into()?),
        VendorKind::Salesnav => Query::SalesNav(value.try_into()?),
    })
}

/// `10/s`, `1/1.5s`, `200/min`, `600/h`.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let (requests, per) = text.split_once('/').ok_or("expected REQUESTS/PERIOD, e.g. 10/s or 1/1.5s")?;
    let requests: u32 = requests.trim().parse().map_err(|_| "the request count is not a whole number")?;
    let per = per.trim();
    let per = match per {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => parse_duration(other)?,
    };
    if requests == 0 || per.is_zero() {
        return Err("the rate must allow at least one request per non-zero period".into());
    }
    Ok(Rate { requests, per })
}

/// `30s`, `1.5s`, `500ms`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).ok_or("expected a unit: ms, s, m or h")?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.trim().parse().map_err(|_| "not a number before the unit")?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s, m or h")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err("must be a positive duration".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

mod alerts;
pub use alerts::{AlertSettings, RULES as ALERT_RULES, SinkAddress};
mod enrichment;
pub use enrichment::{EnrichmentSettings, KillSwitch, ProviderKind, ProviderSettings, Verifier};

#[cfg(test)]
mod tests;

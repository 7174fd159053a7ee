//! The lead model: what a vendor hands us ([`RawLead`]), what we store ([`Lead`]),
//! and the identity keys that decide who is who. Pure data and pure functions: no
//! I/O, no clock (callers pass `now`), no other module of the crate.

pub mod identity;
pub mod normalize;
pub mod quality;
pub mod suppression;

pub use identity::{IdentityKey, KeyKind};
pub use normalize::{Candidate, Rejection, normalize};
pub use quality::{Quality, score};
pub use suppression::{Suppression, SuppressionList};

use serde::{Deserialize, Serialize};

/// Store-assigned lead number, dense and increasing.
pub type LeadId = u64;

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// A record as a vendor or a file gives it: every field optional, nothing checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawLead {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub job_title: Option<String>,
    pub seniority: Option<String>,
    /// Every address the record carries; the first personal one becomes `Lead::email`.
    pub emails: Vec<String>,
    pub email_status: Option<String>,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    /// Namespaced vendor IDs (`apollo:…`, `zoominfo:…`, `brightdata:…`, `li:…`) or
    /// LinkedIn member URNs.
    pub profile_ids: Vec<String>,
    pub company_name: Option<String>,
    pub company_domain: Option<String>,
    pub company_industry: Option<String>,
    pub company_size: Option<String>,
    pub company_linkedin_url: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    /// Free-text "City, Region, Country", used where the parts are missing.
    pub location: Option<String>,
    pub source: Source,
}

/// Where one record of a lead came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// `apollo`, `brightdata`, `zoominfo`, `salesnav`, or the import format.
    pub vendor: String,
    /// The workflow name, or `import:<file name>` for imports.
    pub workflow: String,
    /// The vendor's record id, or `line N` for imported rows.
    pub record_id: Option<String>,
    pub fetched_at: Millis,
}

impl Source {
    pub fn new(vendor: &str, workflow: &str, record_id: Option<String>, fetched_at: Millis) -> Self {
        Source { vendor: vendor.to_owned(), workflow: workflow.to_owned(), record_id, fetched_at }
    }

    /// Two sources are the same record when vendor, workflow and record id agree
    /// (the fetch time does not matter: re-reading a record is not a new source).
    pub fn same_record(&self, other: &Source) -> bool {
        self.vendor == other.vendor && self.workflow == other.workflow && self.record_id == other.record_id
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub size: Option<String>,
    pub linkedin_url: Option<String>,
}

impl Company {
    /// Name, domain and industry all known: what the quality rubric calls complete.
    pub fn is_complete(&self) -> bool {
        self.name.is_some() && self.domain.is_some() && self.industry.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
}

/// What we know of the primary email's deliverability: the one vocabulary every
/// vendor's and enrichment provider's status maps to (SPEC section 7). The first
/// four keep their stored positions (they were unverified, verified, accept_all,
/// invalid), so leads written before read the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    /// Nobody could tell yet (or a check was inconclusive).
    #[default]
    #[serde(alias = "unverified")]
    Unknown,
    /// The mailbox was verified to exist.
    #[serde(alias = "verified")]
    Valid,
    /// The domain accepts every address (catch-all): deliverability unprovable.
    AcceptAll,
    Invalid,
    /// A throwaway address.
    Disposable,
    /// A free webmail address (gmail.com and the like), not a work inbox.
    Webmail,
    /// A shared mailbox (info@, sales@).
    Role,
    /// A verification is under way (the provider asked to be polled again).
    Pending,
    /// The person objected to processing: never contact, never enrich again.
    Suppressed,
}

impl EmailStatus {
    pub const ALL: [EmailStatus; 9] = [
        EmailStatus::Valid,
        EmailStatus::AcceptAll,
        EmailStatus::Unknown,
        EmailStatus::Invalid,
        EmailStatus::Disposable,
        EmailStatus::Webmail,
        EmailStatus::Role,
        EmailStatus::Pending,
        EmailStatus::Suppressed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Unknown => "unknown",
            EmailStatus::Valid => "valid",
            EmailStatus::AcceptAll => "accept_all",
            EmailStatus::Invalid => "invalid",
            EmailStatus::Disposable => "disposable",
            EmailStatus::Webmail => "webmail",
            EmailStatus::Role => "role",
            EmailStatus::Pending => "pending",
            EmailStatus::Suppressed => "suppressed",
        }
    }

    pub fn parse(text: &str) -> Option<EmailStatus> {
        EmailStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The address may be sent to (it is not known to be bad or off limits).
    pub fn is_usable(self) -> bool {
        !matches!(
            self,
            EmailStatus::Invalid | EmailStatus::Disposable | EmailStatus::Role | EmailStatus::Suppressed
        )
    }

    /// Quality points for the email (SPEC section 7): verified 20, catch-all or
    /// unknown 10 (pending and webmail are unknowns of a kind), none otherwise.
    pub fn points(self) -> u8 {
        match self {
            EmailStatus::Valid => 20,
            EmailStatus::AcceptAll | EmailStatus::Unknown | EmailStatus::Pending | EmailStatus::Webmail => 10,
            _ => 0,
        }
    }
}

/// Every normalised identity key a lead holds, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub linkedin_urls: Vec<String>,
    pub emails: Vec<String>,
    pub profile_ids: Vec<String>,
}

impl Identity {
    pub fn keys(&self) -> impl Iterator<Item = IdentityKey> + '_ {
        let ids = self.profile_ids.iter().map(|v| IdentityKey::new(KeyKind::ProfileId, v));
        let urls = self.linkedin_urls.iter().map(|v| IdentityKey::new(KeyKind::LinkedIn, v));
        let mails = self.emails.iter().map(|v| IdentityKey::new(KeyKind::Email, v));
        ids.chain(urls).chain(mails)
    }

    pub fn contains(&self, key: &IdentityKey) -> bool {
        self.list(key.kind()).iter().any(|v| v == key.value())
    }

    /// Adds `key` unless present; returns whether it was added.
    pub fn add(&mut self, key: &IdentityKey) -> bool {
        if self.contains(key) {
            return false;
        }
        self.list_mut(key.kind()).push(key.value().to_owned());
        true
    }

    /// Removes `key`; returns whether it was held.
    pub fn remove(&mut self, key: &IdentityKey) -> bool {
        let list = self.list_mut(key.kind());
        let before = list.len();
        list.retain(|v| v != key.value());
        list.len() != before
    }

    pub fn is_empty(&self) -> bool {
        self.linkedin_urls.is_empty() && self.emails.is_empty() && self.profile_ids.is_empty()
    }

    pub fn len(&self) -> usize {
        self.linkedin_urls.len() + self.emails.len() + self.profile_ids.len()
    }

    /// Keys of one kind that cannot all be one person's by the vendors' own rules:
    /// two LinkedIn profile URLs, or two profile IDs in one namespace. A person may
    /// hold several emails, so emails never contradict.
    pub fn contradictions(&self) -> Vec<Contradiction> {
        let mut out = Vec::new();
        if self.linkedin_urls.len() > 1 {
            let keys = self.keys().filter(|k| k.kind() == KeyKind::LinkedIn).map(|k| k.encoded()).collect();
            out.push(Contradiction { kind: "linkedin_url".to_owned(), keys });
        }
        let mut slots: Vec<&str> = self.profile_ids.iter().filter_map(|id| id_slot(id)).collect();
        slots.sort_unstable();
        slots.dedup();
        for slot in slots {
            let keys: Vec<String> = self
                .keys()
                .filter(|k| k.kind() == KeyKind::ProfileId && id_slot(k.value()) == Some(slot))
                .map(|k| k.encoded())
                .collect();
            if keys.len() > 1 {
                out.push(Contradiction { kind: format!("profile_id:{slot}"), keys });
            }
        }
        out
    }

    fn list(&self, kind: KeyKind) -> &Vec<String> {
        match kind {
            KeyKind::ProfileId => &self.profile_ids,
            KeyKind::LinkedIn => &self.linkedin_urls,
            KeyKind::Email => &self.emails,
        }
    }

    fn list_mut(&mut self, kind: KeyKind) -> &mut Vec<String> {
        match kind {
            KeyKind::ProfileId => &mut self.profile_ids,
            KeyKind::LinkedIn => &mut self.linkedin_urls,
            KeyKind::Email => &mut self.emails,
        }
    }
}

/// The kind of ID a profile ID is, for contradictions: its namespace, except that
/// LinkedIn gives every member two IDs — the numeric member ID and the `ACw…`
/// profile URN Sales Navigator shows — so `li:` splits into `li-member` and
/// `li-urn`; one of each is one person, two of a kind contradict.
fn id_slot(id: &str) -> Option<&str> {
    let (namespace, value) = id.split_once(':')?;
    Some(match namespace {
        "li" if value.bytes().all(|b| b.is_ascii_digit()) => "li-member",
        "li" => "li-urn",
        other => other,
    })
}

/// A value that failed validation: kept on the lead, flagged, never an identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub field: String,
    pub value: String,
    pub reason: String,
}

/// Keys of one kind on one lead that contradict each other (see
/// [`Identity::contradictions`]): the lead is flagged for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contradiction {
    /// `linkedin_url`, or `profile_id:{namespace}`.
    pub kind: String,
    /// The contradicting keys, encoded ([`IdentityKey::encoded`]).
    pub keys: Vec<String>,
}

/// One change to a lead: a record folded in (with the leads it bridged), or a
/// split made by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeEvent {
    pub at: Millis,
    pub source: Source,
    /// Fields that were empty on the lead and this record filled.
    pub filled: Vec<String>,
    /// Identity keys this record added (encoded form, see [`IdentityKey::encoded`]).
    pub added_keys: Vec<String>,
    /// Other leads this record's keys also pointed at that a remembered split keeps
    /// apart (nothing moved).
    pub conflicts_with: Vec<LeadId>,
    /// Leads this record's keys bridged into this one (they are aliases of it now).
    pub absorbed: Vec<LeadId>,
    /// A split by hand: on the lead split, the lead that took `removed_keys`; on
    /// the new lead, the lead it was split from.
    pub split_with: Option<LeadId>,
    /// Keys a split moved off this lead (encoded).
    pub removed_keys: Vec<String>,
}

/// A person, de-duplicated across every vendor that returned them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub id: LeadId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub job_title: Option<String>,
    pub seniority: Option<String>,
    pub company: Company,
    pub location: Location,
    /// The primary address, as given (trimmed, lower-cased); its identity form may differ.
    pub email: Option<String>,
    pub email_status: EmailStatus,
    pub phone: Option<String>,
    /// Canonical `https://www.linkedin.com/in/{slug}`.
    pub linkedin_url: Option<String>,
    pub identity: Identity,
    pub flags: Vec<Flag>,
    pub sources: Vec<Source>,
    pub merges: Vec<MergeEvent>,
    pub quality: Quality,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Store sequence of the last change (the search index follows it).
    pub seq: u64,
    /// Leads merged into this one, directly or through a lead it absorbed: each is
    /// an alias of this lead now (ascending by id).
    pub absorbed: Vec<Absorbed>,
    /// Who gave `email_status` and when; `None` while nobody has.
    pub email_check: Option<StatusCheck>,
}

/// Where an email status came from: the vendor that sold the address with it, or
/// the enrichment provider that checked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCheck {
    /// A vendor (`apollo`, …) or a provider (`hunter`, `zerobounce`, `local`).
    pub provider: String,
    /// Its own word for the status, before mapping to the one vocabulary.
    pub raw_status: String,
    pub checked_at: Millis,
}

/// A lead merged into another: its id (an alias now) and the primary address it
/// had then, under which a CRM may still know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absorbed {
    pub id: LeadId,
    pub email: Option<String>,
}

impl Lead {
    /// Whether the primary email is a personal address that may be sent to.
    pub fn has_personal_email(&self) -> bool {
        self.email.as_deref().is_some_and(|e| !identity::is_role_email(e)) && self.email_status.is_usable()
    }

    /// The ids of the leads merged into this one.
    pub fn absorbed_ids(&self) -> impl Iterator<Item = LeadId> + '_ {
        self.absorbed.iter().map(|a| a.id)
    }

    /// Whether its keys contradict (see [`Identity::contradictions`]); checked on
    /// every write, so without allocating.
    pub fn needs_review(&self) -> bool {
        let ids = &self.identity.profile_ids;
        self.identity.linkedin_urls.len() > 1
            || ids
                .iter()
                .enumerate()
                .any(|(i, a)| ids[..i].iter().any(|b| id_slot(a).is_some() && id_slot(a) == id_slot(b)))
    }

    /// The display name: full name, else first and last joined.
    pub fn display_name(&self) -> String {
        if let Some(full) = &self.full_name {
            return full.clone();
        }
        let parts = [self.first_name.as_deref(), self.last_name.as_deref()];
        parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_review_agrees_with_the_contradictions() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases: &[(&str, Identity, bool)] = &[
            (
                "one of each",
                Identity {
                    linkedin_urls: ids(&["a"]),
                    emails: ids(&["x@y.z", "w@y.z"]),
                    profile_ids: ids(&["apollo:1", "li:2"]),
                },
                false,
            ),
            ("two urls", Identity { linkedin_urls: ids(&["a", "b"]), ..Identity::default() }, true),
            (
                "two apollo ids",
                Identity { profile_ids: ids(&["li:9", "apollo:1", "apollo:2"]), ..Identity::default() },
                true,
            ),
            ("empty", Identity::default(), false),
            (
                "a member id and its urn",
                Identity { profile_ids: ids(&["li:100000251", "li:ACwAA0005F5E1FB"]), ..Identity::default() },
                false,
            ),
            (
                "two member ids",
                Identity { profile_ids: ids(&["li:100000251", "li:100000252"]), ..Identity::default() },
                true,
            ),
            (
                "two urns",
                Identity { profile_ids: ids(&["li:ACwAA01", "li:ACwAA02"]), ..Identity::default() },
                true,
            ),
        ];
        for (name, identity, want) in cases {
            let lead = Lead { identity: identity.clone(), ..Lead::default() };
            assert_eq!(lead.needs_review(), *want, "{name}");
            assert_eq!(!identity.contradictions().is_empty(), *want, "{name}");
        }
    }
}

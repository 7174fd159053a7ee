//! The do-not-contact list (SPEC section 5): emails, whole email domains, LinkedIn
//! profile URLs and profile IDs. Pure: parsing what a user typed or imported, and
//! matching a lead against the list. The store keeps the list; the writer drops
//! new records that match it; exports leave matching leads out.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::Lead;
use super::identity;

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Suppression {
    /// An identity key (email, LinkedIn URL or profile ID), in its stored form.
    Key(String),
    /// Everyone whose email or company is at this domain (`@acme.com`).
    Domain(String),
}

impl Suppression {
    /// Reads one entry: `@acme.com` (or `d:acme.com`) for a domain, otherwise
    /// anything [`identity::parse_key`] reads.
    pub fn parse(text: &str) -> Result<Suppression, String> {
        let text = text.trim();
        let domain = text.strip_prefix('@').or_else(|| text.strip_prefix("d:"));
        if let Some(domain) = domain {
            let domain = domain.trim().trim_end_matches('.').to_lowercase();
            return if identity::valid_domain(&domain) {
                Ok(Suppression::Domain(domain))
            } else {
                Err(format!("{text:?} is not an email domain (write it as @acme.com)"))
            };
        }
        if let Some(address) = role_address(text) {
            // A shared mailbox is not a key, but a team may still never want it written to.
            return Ok(Suppression::Key(format!("e:{address}")));
        }
        identity::parse_key(text).map(|k| Suppression::Key(k.encoded()))
    }

    /// The stored form: a key's encoded form, or `d:{domain}`.
    pub fn encoded(&self) -> String {
        match self {
            Suppression::Key(k) => k.clone(),
            Suppression::Domain(d) => format!("d:{d}"),
        }
    }

    /// Reads the stored form back.
    pub fn from_encoded(encoded: &str) -> Suppression {
        match encoded.strip_prefix("d:") {
            Some(domain) => Suppression::Domain(domain.to_owned()),
            None => Suppression::Key(encoded.to_owned()),
        }
    }

    /// What it names: `email`, `domain`, `linkedin_url` or `profile_id`.
    pub fn kind(&self) -> &'static str {
        match self {
            Suppression::Domain(_) => "domain",
            Suppression::Key(k) if k.starts_with("e:") => "email",
            Suppression::Key(k) if k.starts_with("u:") => "linkedin_url",
            Suppression::Key(_) => "profile_id",
        }
    }

    /// How a user writes it: `@acme.com`, an email, a profile URL, a profile ID.
    pub fn display(&self) -> String {
        match self {
            Suppression::Domain(d) => format!("@{d}"),
            Suppression::Key(k) => match k.split_at_checked(2) {
                Some(("u:", url)) => format!("https://www.{url}"),
                Some((_, value)) => value.to_owned(),
                None => k.clone(),
            },
        }
    }
}

/// `info@acme.com` as a lower-cased address, when it is a valid role address.
fn role_address(text: &str) -> Option<String> {
    let email = identity::email(text).ok()?;
    email.is_role.then_some(email.address)
}

/// The list, ready to match leads and records against.
#[derive(Debug, Clone, Default)]
pub struct SuppressionList {
    keys: HashSet<String>,
    domains: HashSet<String>,
}

impl SuppressionList {
    pub fn new(entries: impl IntoIterator<Item = Suppression>) -> SuppressionList {
        let mut list = SuppressionList::default();
        for entry in entries {
            list.insert(entry);
        }
        list
    }

    pub fn insert(&mut self, entry: Suppression) {
        match entry {
            Suppression::Key(k) => self.keys.insert(k),
            Suppression::Domain(d) => self.domains.insert(d),
        };
    }

    pub fn remove(&mut self, entry: &Suppression) {
        match entry {
            Suppression::Key(k) => self.keys.remove(k),
            Suppression::Domain(d) => self.domains.remove(d),
        };
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.domains.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len() + self.domains.len()
    }

    /// The entry `lead` matches, if any: one of its identity keys, its primary
    /// address (a role address included), or the domain of any of its emails or
    /// of its company.
    pub fn matching(&self, lead: &Lead) -> Option<Suppression> {
        if self.is_empty() {
            return None;
        }
        let keys = lead.identity.keys().map(|k| k.encoded());
        let primary = lead.email.iter().map(|e| format!("e:{e}"));
        if let Some(hit) = keys.chain(primary).find(|k| self.keys.contains(k)) {
            return Some(Suppression::Key(hit));
        }
        let emails = lead.identity.emails.iter().chain(&lead.email);
        let mut domains =
            emails.filter_map(|e| e.rsplit_once('@').map(|(_, d)| d)).chain(lead.company.domain.as_deref());
        domains.find(|d| self.domains.contains(*d)).map(|d| Suppression::Domain(d.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::{Company, Identity};

    #[test]
    fn parses_every_kind_of_entry() {
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("@Acme.com", Ok("d:acme.com")),
            ("d:acme.com", Ok("d:acme.com")),
            ("Dana@Acme.com", Ok("e:dana@acme.com")),
            ("info@acme.com", Ok("e:info@acme.com")),
            ("https://www.linkedin.com/in/dana/", Ok("u:linkedin.com/in/dana")),
            ("apollo:42", Ok("p:apollo:42")),
            ("@localhost", Err(())),
            ("nobody", Err(())),
        ];
        for (text, want) in cases {
            let got = Suppression::parse(text).map(|s| s.encoded()).map_err(|_| ());
            assert_eq!(got.as_deref(), want.as_deref(), "{text}");
        }
        let url = Suppression::parse("linkedin.com/in/dana").unwrap();
        assert_eq!(url.display(), "https://www.linkedin.com/in/dana");
        assert_eq!(Suppression::from_encoded(&url.encoded()), url);
    }

    fn lead(emails: &[&str], primary: Option<&str>, company_domain: Option<&str>) -> Lead {
        Lead {
            email: primary.map(str::to_owned),
            identity: Identity {
                emails: emails.iter().map(|e| e.to_string()).collect(),
                linkedin_urls: vec!["linkedin.com/in/dana".into()],
                ..Identity::default()
            },
            company: Company { domain: company_domain.map(str::to_owned), ..Company::default() },
            ..Lead::default()
        }
    }

    #[test]
    fn matches_keys_addresses_and_domains() {
        let list = SuppressionList::new(
            ["@blocked.com", "info@acme.com", "https://linkedin.com/in/zed"]
                .iter()
                .map(|e| Suppression::parse(e).unwrap()),
        );
        let cases: &[(&str, Lead, Option<&str>)] = &[
            ("no match", lead(&["dana@acme.com"], Some("dana@acme.com"), Some("acme.com")), None),
            ("email domain", lead(&["dana@blocked.com"], None, None), Some("d:blocked.com")),
            ("company domain", lead(&[], None, Some("blocked.com")), Some("d:blocked.com")),
            ("role address", lead(&[], Some("info@acme.com"), None), Some("e:info@acme.com")),
        ];
        for (name, lead, want) in cases {
            assert_eq!(list.matching(lead).map(|s| s.encoded()).as_deref(), *want, "{name}");
        }
        let mut zed = lead(&[], None, None);
        zed.identity.linkedin_urls.push("linkedin.com/in/zed".into());
        assert_eq!(list.matching(&zed), Some(Suppression::Key("u:linkedin.com/in/zed".into())));
        assert!(SuppressionList::default().matching(&zed).is_none());
    }
}

//! Identity keys (SPEC section 5): the one place that turns LinkedIn URLs, emails
//! and vendor IDs into the normalised keys de-duplication compares. Changing any
//! rule here changes which records are one person: bump `store::SCHEMA_VERSION`.

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

/// Key kinds in merge priority: a profile ID outranks a LinkedIn URL, which
/// outranks an email, when a record's keys point at different leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KeyKind {
    ProfileId,
    LinkedIn,
    Email,
}

impl KeyKind {
    fn tag(self) -> &'static str {
        match self {
            KeyKind::ProfileId => "p:",
            KeyKind::LinkedIn => "u:",
            KeyKind::Email => "e:",
        }
    }
}

/// A normalised identity key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityKey {
    kind: KeyKind,
    value: String,
}

impl IdentityKey {
    /// Wraps an already-normalised value.
    pub fn new(kind: KeyKind, value: impl Into<String>) -> Self {
        IdentityKey { kind, value: value.into() }
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// The stored form: a kind tag in front of the value, so the three namespaces
    /// can never collide (`u:linkedin.com/in/x`, `e:a@b.com`, `p:apollo:1`).
    pub fn encoded(&self) -> String {
        let mut s = String::with_capacity(self.value.len() + 2);
        s.push_str(self.kind.tag());
        s.push_str(&self.value);
        s
    }

    /// The xxh3-64 hash the in-memory set holds.
    pub fn hash64(&self) -> u64 {
        hash_encoded(&self.encoded())
    }
}

/// xxh3-64 of a key's stored form; the in-memory set is rebuilt from stored keys with it.
pub fn hash_encoded(encoded: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(encoded.as_bytes())
}

/// Why a would-be key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Invalid(&'static str),
}

/// What a LinkedIn-looking value turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkedInValue {
    /// A public profile: the key `linkedin.com/in/{slug}`.
    Profile(String),
    /// A Sales Navigator lead URL or member URN: a `li:` profile ID.
    MemberId(String),
}

/// Normalises a LinkedIn profile URL (or Sales Navigator lead URL / member URN).
pub fn linkedin(raw: &str) -> Result<LinkedInValue, KeyError> {
    let s = raw.trim();
    if let Some(id) = member_urn(s) {
        return Ok(LinkedInValue::MemberId(id));
    }
    let rest = strip_scheme(s);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !is_linkedin_host(host) {
        return Err(KeyError::Invalid("not a linkedin.com address"));
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut segments = path.split('/').filter(|p| !p.is_empty());
    match segments.next() {
        Some("in") => profile_slug(segments.next()).map(LinkedInValue::Profile),
        Some("sales") => sales_lead(segments),
        _ => Err(KeyError::Invalid("not a profile URL (expected linkedin.com/in/…)")),
    }
}

fn strip_scheme(s: &str) -> &str {
    let s = match s.find("://") {
        Some(i) if s[..i].chars().all(|c| c.is_ascii_alphabetic()) => &s[i + 3..],
        _ => s,
    };
    s.trim_start_matches('/')
}

fn is_linkedin_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let Some(sub) = host.strip_suffix("linkedin.com") else {
        return false;
    };
    match sub.strip_suffix('.') {
        None => sub.is_empty(),
        Some(label) => {
            matches!(label, "www" | "m" | "mobile")
                || (label.len() == 2 && label.bytes().all(|b| b.is_ascii_lowercase()))
        }
    }
}

fn profile_slug(segment: Option<&str>) -> Result<String, KeyError> {
    let segment = segment.ok_or(KeyError::Invalid("profile URL without a name after /in/"))?;
    let decoded = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| KeyError::Invalid("profile name is not valid UTF-8 once decoded"))?;
    let slug = decoded.to_lowercase();
    // Characters that would change meaning if the key were parsed again.
    let bad = |c: char| c.is_whitespace() || c.is_control() || "/?#%".contains(c);
    if slug.is_empty() || slug.chars().any(bad) || slug.len() > 200 {
        return Err(KeyError::Invalid("profile name has characters a LinkedIn URL cannot hold"));
    }
    Ok(format!("linkedin.com/in/{slug}"))
}

/// `/sales/lead/{ID},NAME_SEARCH,x` and `/sales/people/{ID},…` name a member.
fn sales_lead<'a>(mut segments: impl Iterator<Item = &'a str>) -> Result<LinkedInValue, KeyError> {
    match (segments.next(), segments.next()) {
        (Some("lead" | "people"), Some(id_part)) => {
            let id = id_part.split(',').next().unwrap_or("");
            member_id(id).map(LinkedInValue::MemberId)
        }
        _ => Err(KeyError::Invalid("Sales Navigator URL that names no lead")),
    }
}

/// `urn:li:member:123`, `urn:li:person:ABC`, `urn:li:fs_salesProfile:(ACw…,NAME_SEARCH,x)`.
fn member_urn(s: &str) -> Option<String> {
    let rest = s.strip_prefix("urn:li:")?;
    let (_, id) = rest.split_once(':')?;
    let id = id.trim_start_matches('(').split([',', ')']).next()?;
    member_id(id).ok()
}

fn member_id(id: &str) -> Result<String, KeyError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(format!("li:{id}")) } else { Err(KeyError::Invalid("malformed LinkedIn member ID")) }
}

/// The vendor namespaces a profile ID may carry.
const NAMESPACES: [&str; 4] = ["apollo", "zoominfo", "brightdata", "li"];

/// Normalises a namespaced profile ID: `apollo:…`, `zoominfo:…`, `brightdata:…`, `li:…`
/// (also `linkedin:…` and LinkedIn member URNs, which become `li:`).
pub fn profile_id(raw: &str) -> Result<String, KeyError> {
    let s = raw.trim();
    if let Some(id) = member_urn(s) {
        return Ok(id);
    }
    let (ns, id) = s
        .split_once(':')
        .ok_or(KeyError::Invalid("profile ID without a vendor namespace (e.g. apollo:123)"))?;
    let ns = ns.trim().to_ascii_lowercase();
    let ns = if ns == "linkedin" { "li".to_owned() } else { ns };
    if !NAMESPACES.contains(&ns.as_str()) {
        return Err(KeyError::Invalid("unknown profile ID namespace (apollo, zoominfo, brightdata, li)"));
    }
    let id = id.trim();
    let ok = !id.is_empty() && id.len() <= 128 && id.chars().all(|c| !c.is_whitespace() && !c.is_control());
    if !ok {
        return Err(KeyError::Invalid("profile ID is empty, too long or has spaces"));
    }
    Ok(format!("{ns}:{id}"))
}

/// A syntactically valid email: the address as given (trimmed, lower-cased) and its
/// identity form (gmail folded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub address: String,
    pub key: String,
    pub is_role: bool,
}

/// Checks and normalises an email address.
pub fn email(raw: &str) -> Result<Email, KeyError> {
    let s = raw.trim();
    let s = s.strip_prefix("mailto:").unwrap_or(s).trim().to_lowercase();
    let (local, domain) = s.rsplit_once('@').ok_or(KeyError::Invalid("email without @"))?;
    if s.len() > 254 || !valid_local(local) || !valid_domain(domain) {
        return Err(KeyError::Invalid("email is not a valid address"));
    }
    let key = match domain {
        "gmail.com" | "googlemail.com" => {
            let base = local.split('+').next().unwrap_or(local).replace('.', "");
            if base.is_empty() {
                return Err(KeyError::Invalid("email is not a valid address"));
            }
            format!("{base}@gmail.com")
        }
        _ => s.clone(),
    };
    let is_role = is_role_local(local);
    Ok(Email { address: s, key, is_role })
}

fn valid_local(local: &str) -> bool {
    const SPECIAL: &[u8] = b"!#$%&'*+/=?^_`{|}~-.";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || SPECIAL.contains(&b))
}

/// A DNS name of at least two labels with a non-numeric top level (`acme.com`).
pub fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let tld_ok = labels.last().is_some_and(|t| t.len() >= 2 && !t.bytes().all(|b| b.is_ascii_digit()));
    labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

/// Shared mailboxes: stored, but never an identity key (many people read them).
const ROLE_LOCALS: &[&str] = &[
    "info",
    "sales",
    "contact",
    "hello",
    "support",
    "admin",
    "marketing",
    "team",
    "office",
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
    "help",
    "enquiries",
    "enquiry",
    "inquiries",
    "inquiry",
    "billing",
    "accounts",
    "accounting",
    "finance",
    "careers",
    "jobs",
    "hr",
    "recruiting",
    "press",
    "media",
    "pr",
    "news",
    "newsletter",
    "webmaster",
    "postmaster",
    "hostmaster",
    "abuse",
    "privacy",
    "legal",
    "security",
    "service",
    "services",
    "customerservice",
    "customer-service",
    "feedback",
    "partners",
    "partnerships",
    "mail",
    "general",
    "reception",
    "hi",
    "ops",
    "operations",
    "it",
    "dev",
    "all",
    "everyone",
];

fn is_role_local(local: &str) -> bool {
    let base = local.split('+').next().unwrap_or(local);
    ROLE_LOCALS.contains(&base)
}

/// Whether `address` is a role (shared) mailbox such as `info@` or `sales@`.
pub fn is_role_email(address: &str) -> bool {
    address.rsplit_once('@').is_some_and(|(local, _)| is_role_local(&local.to_lowercase()))
}

/// Reads every text with `parse`, or says why each one that fails does (joined).
pub fn parse_each<T>(texts: &[String], parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    if texts.is_empty() {
        return Err("name at least one key".to_owned());
    }
    let (good, bad): (Vec<_>, Vec<_>) = texts.iter().map(|t| parse(t)).partition(Result::is_ok);
    if !bad.is_empty() {
        return Err(bad.into_iter().filter_map(Result::err).collect::<Vec<_>>().join("; "));
    }
    Ok(good.into_iter().filter_map(Result::ok).collect())
}

/// Reads a key a user typed (`forget`, `split`, suppression): an email, a LinkedIn
/// profile URL, a namespaced profile ID, or a key's stored form (`e:…`, `u:…`,
/// `p:…`, as the lead detail shows them). Role addresses are refused: they are
/// never a key.
pub fn parse_key(text: &str) -> Result<IdentityKey, String> {
    let text = text.trim();
    let stored = [("e:", KeyKind::Email), ("u:", KeyKind::LinkedIn), ("p:", KeyKind::ProfileId)];
    for (tag, kind) in stored {
        if let Some(rest) = text.strip_prefix(tag) {
            let key = parse_key(rest)?;
            return if key.kind() == kind {
                Ok(key)
            } else {
                Err(format!("{text:?}: the {tag} prefix does not fit the value"))
            };
        }
    }
    if text.contains('@') && !text.contains('/') {
        return match email(text) {
            Ok(e) if e.is_role => {
                Err(format!("{text:?} is a role address (shared mailbox): it is never an identity key"))
            }
            Ok(e) => Ok(IdentityKey::new(KeyKind::Email, e.key)),
            Err(KeyError::Invalid(why)) => Err(format!("{text:?}: {why}")),
        };
    }
    if text.to_ascii_lowercase().contains("linkedin.com") || text.starts_with("urn:li:") {
        return match linkedin(text) {
            Ok(LinkedInValue::Profile(key)) => Ok(IdentityKey::new(KeyKind::LinkedIn, key)),
            Ok(LinkedInValue::MemberId(id)) => Ok(IdentityKey::new(KeyKind::ProfileId, id)),
            Err(KeyError::Invalid(why)) => Err(format!("{text:?}: {why}")),
        };
    }
    match profile_id(text) {
        Ok(id) => Ok(IdentityKey::new(KeyKind::ProfileId, id)),
        Err(KeyError::Invalid(why)) => {
            Err(format!("{text:?} is not an email, a LinkedIn profile URL or a profile ID ({why})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_key_reads_what_users_type() {
        let ok: &[(&str, &str)] = &[
            ("Dana.Wills+x@Gmail.com", "e:danawills@gmail.com"),
            ("dana@acme.com", "e:dana@acme.com"),
            ("https://uk.linkedin.com/in/Dana-W/", "u:linkedin.com/in/dana-w"),
            ("urn:li:member:42", "p:li:42"),
            ("apollo:5f2a", "p:apollo:5f2a"),
            ("e:dana@acme.com", "e:dana@acme.com"),
            ("u:linkedin.com/in/dana-w", "u:linkedin.com/in/dana-w"),
            ("p:zoominfo:77", "p:zoominfo:77"),
        ];
        for (text, want) in ok {
            assert_eq!(parse_key(text).map(|k| k.encoded()).as_deref(), Ok(*want), "{text}");
        }
        for bad in ["info@acme.com", "dana", "https://example.com/in/x", "e:apollo:1", "", "foo:1"] {
            assert!(parse_key(bad).is_err(), "{bad} should be refused");
        }
    }

    fn profile(s: &str) -> String {
        format!("linkedin.com/in/{s}")
    }

    #[test]
    fn linkedin_url_rules() {
        let cases: &[(&str, &str, Result<LinkedInValue, ()>)] = &[
            (
                "plain",
                "https://www.linkedin.com/in/john-doe",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "http scheme",
                "http://linkedin.com/in/john-doe",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            ("no scheme", "linkedin.com/in/john-doe", Ok(LinkedInValue::Profile(profile("john-doe")))),
            (
                "www no scheme",
                "www.linkedin.com/in/John-Doe/",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "country subdomain",
                "https://uk.linkedin.com/in/john-doe",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "mobile subdomain",
                "https://m.linkedin.com/in/john-doe",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "upper host",
                "HTTPS://WWW.LINKEDIN.COM/in/JOHN-DOE",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "query and fragment",
                "https://www.linkedin.com/in/john-doe?trk=abc#top",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "details sub-path",
                "https://www.linkedin.com/in/john-doe/details/experience/",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "language sub-path",
                "https://www.linkedin.com/in/john-doe/en",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "activity sub-path",
                "https://www.linkedin.com/in/john-doe/recent-activity/all/",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "percent-encoded unicode",
                "https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller",
                Ok(LinkedInValue::Profile(profile("jürgen-müller"))),
            ),
            (
                "unicode upper",
                "https://www.linkedin.com/in/JÜRGEN",
                Ok(LinkedInValue::Profile(profile("jürgen"))),
            ),
            (
                "surrounding space",
                "  https://www.linkedin.com/in/john-doe  ",
                Ok(LinkedInValue::Profile(profile("john-doe"))),
            ),
            (
                "sales lead url",
                "https://www.linkedin.com/sales/lead/ACwAAA123xyz,NAME_SEARCH,aBcD",
                Ok(LinkedInValue::MemberId("li:ACwAAA123xyz".into())),
            ),
            ("member urn", "urn:li:member:245026690", Ok(LinkedInValue::MemberId("li:245026690".into()))),
            (
                "sales profile urn",
                "urn:li:fs_salesProfile:(ACwAAA123,NAME_SEARCH,x)",
                Ok(LinkedInValue::MemberId("li:ACwAAA123".into())),
            ),
            ("company page", "https://www.linkedin.com/company/acme", Err(())),
            ("other site", "https://example.com/in/john-doe", Err(())),
            ("lookalike host", "https://notlinkedin.com/in/john-doe", Err(())),
            ("no slug", "https://www.linkedin.com/in/", Err(())),
            ("slash inside slug", "https://www.linkedin.com/in/a%2Fb", Err(())),
            ("bad percent utf8", "https://www.linkedin.com/in/%FF", Err(())),
            ("empty", "", Err(())),
        ];
        for (name, input, want) in cases {
            let got = linkedin(input).map_err(|_| ());
            assert_eq!(&got, want, "case {name}: {input}");
        }
    }

    #[test]
    fn near_miss_slugs_stay_apart() {
        let a = linkedin("linkedin.com/in/john-doe").unwrap();
        let b = linkedin("linkedin.com/in/john-doe-1").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn email_rules() {
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, bool)>);
        let cases: &[Case] = &[
            ("lower and trim", "  Dana.Wills@Acme.COM ", Some(("dana.wills@acme.com", false))),
            ("gmail dots", "d.a.n.a@gmail.com", Some(("dana@gmail.com", false))),
            ("gmail plus tag", "dana+news@gmail.com", Some(("dana@gmail.com", false))),
            ("googlemail", "Dana.W+x@googlemail.com", Some(("danaw@gmail.com", false))),
            ("other plus kept", "dana+x@acme.com", Some(("dana+x@acme.com", false))),
            ("role info", "info@acme.com", Some(("info@acme.com", true))),
            ("role noreply", "noreply@acme.com", Some(("noreply@acme.com", true))),
            ("role with tag", "sales+eu@acme.com", Some(("sales+eu@acme.com", true))),
            ("mailto", "mailto:dana@acme.com", Some(("dana@acme.com", false))),
            ("no at", "dana.acme.com", None),
            ("no tld", "dana@acme", None),
            ("double dot", "dana..w@acme.com", None),
            ("space inside", "da na@acme.com", None),
            ("zero width", "dana\u{200b}@acme.com", None),
            ("numeric tld", "dana@1.2.3.4", None),
            ("gmail only dots", "...@gmail.com", None),
        ];
        for (name, input, want) in cases {
            let got = email(input).ok().map(|e| (e.key, e.is_role));
            let want = want.map(|(k, r)| (k.to_string(), r));
            assert_eq!(got, want, "case {name}: {input}");
        }
    }

    #[test]
    fn profile_id_rules() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("apollo", "apollo:67bdafd0c3a4c50001bbd7c2", Some("apollo:67bdafd0c3a4c50001bbd7c2")),
            ("namespace case", " ZoomInfo:1434351821 ", Some("zoominfo:1434351821")),
            ("linkedin alias", "linkedin:245026690", Some("li:245026690")),
            ("urn", "urn:li:member:245026690", Some("li:245026690")),
            ("brightdata slug", "brightdata:dana-wills", Some("brightdata:dana-wills")),
            ("no namespace", "12345", None),
            ("unknown namespace", "hubspot:12", None),
            ("empty id", "apollo:", None),
            ("space in id", "apollo:12 34", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(profile_id(input).ok().as_deref(), *want, "case {name}: {input}");
        }
    }

    #[test]
    fn encoded_forms_never_collide() {
        let a = IdentityKey::new(KeyKind::Email, "x@y.com");
        let b = IdentityKey::new(KeyKind::ProfileId, "x@y.com");
        assert_ne!(a.encoded(), b.encoded());
        assert_ne!(a.hash64(), b.hash64());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn url_like() -> impl Strategy<Value = String> {
            let scheme = prop::sample::select(vec!["", "http://", "https://", "HTTPS://", "//"]);
            let host = prop::sample::select(vec![
                "linkedin.com",
                "www.linkedin.com",
                "uk.linkedin.com",
                "m.LinkedIn.com",
            ]);
            let path = prop::sample::select(vec!["/in/", "/IN/", "/sales/lead/", "/pub/"]);
            (scheme, host, path, "[\\PC%/?#]{0,24}").prop_map(|(a, b, c, d)| format!("{a}{b}{c}{d}"))
        }

        proptest! {
            #[test]
            fn linkedin_is_idempotent_and_total(s in prop_oneof![url_like(), any::<String>()]) {
                match linkedin(&s) {
                    Ok(LinkedInValue::Profile(key)) => {
                        prop_assert_eq!(linkedin(&key), Ok(LinkedInValue::Profile(key.clone())));
                        let url = format!("https://www.{key}");
                        prop_assert_eq!(linkedin(&url), Ok(LinkedInValue::Profile(key)));
                    }
                    Ok(LinkedInValue::MemberId(id)) => prop_assert_eq!(profile_id(&id), Ok(id.clone())),
                    Err(_) => {}
                }
            }

            #[test]
            fn email_is_idempotent_and_total(s in prop_oneof!["[a-zA-Z0-9.+_-]{0,12}@[a-zA-Z0-9.-]{0,12}", any::<String>()]) {
                if let Ok(e) = email(&s) {
                    let again = email(&e.address).unwrap();
                    prop_assert_eq!(&again, &e);
                    prop_assert_eq!(email(&e.key).unwrap().key, e.key);
                }
            }

            #[test]
            fn profile_id_is_idempotent_and_total(s in prop_oneof!["(apollo|li|ZoomInfo|urn:li:member):[a-zA-Z0-9 ]{0,10}", any::<String>()]) {
                if let Ok(id) = profile_id(&s) {
                    prop_assert_eq!(profile_id(&id), Ok(id.clone()));
                }
            }

            #[test]
            fn clean_is_idempotent(s in any::<String>()) {
                let once = crate::lead::normalize::clean(Some(&s));
                prop_assert_eq!(crate::lead::normalize::clean(once.as_deref()), once.clone());
            }
        }
    }
}

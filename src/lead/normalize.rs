//! Normalisation: a vendor's [`RawLead`] becomes a [`Candidate`] — cleaned text,
//! canonical identity keys, invalid values flagged — or a [`Rejection`] that goes
//! to quarantine. Pure: the caller passes the time.

use super::identity::{self, IdentityKey, KeyKind, LinkedInValue};
use super::{Company, EmailStatus, Flag, Lead, Location, Millis, RawLead, StatusCheck, quality};

/// The largest text field accepted, in bytes; a longer one sends the record to quarantine.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// A normalised record, ready for de-duplication.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The record as a lead (id and seq not yet assigned).
    pub lead: Lead,
    /// Its identity keys, in merge priority (profile ID, LinkedIn URL, email).
    pub keys: Vec<IdentityKey>,
}

/// Why a record cannot become a lead; the record goes to quarantine with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("field {field} is {bytes} bytes, over the 64 KiB limit; shorten it and import again")]
    FieldTooLong { field: &'static str, bytes: usize },
    #[error(
        "no identity key: needs a LinkedIn profile URL, a personal email or a vendor profile ID{}",
        describe_flags(.0)
    )]
    NoIdentityKey(Vec<Flag>),
}

fn describe_flags(flags: &[Flag]) -> String {
    let parts: Vec<String> =
        flags.iter().map(|f| format!("{} {:?}: {}", f.field, truncate(&f.value, 80), f.reason)).collect();
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join("; ")) }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Normalises one record.
pub fn normalize(raw: &RawLead, now: Millis) -> Result<Candidate, Rejection> {
    check_sizes(raw)?;
    let mut flags = Vec::new();
    let mut lead = Lead {
        job_title: clean(raw.job_title.as_deref()),
        phone: clean(raw.phone.as_deref()),
        company: company(raw, &mut flags),
        location: location(raw),
        sources: vec![raw.source.clone()],
        created_at: now,
        updated_at: now,
        ..Lead::default()
    };
    names(raw, &mut lead);
    lead.job_title = lead.job_title.map(|t| strip_at_company(t, lead.company.name.as_deref()));
    lead.seniority = clean(raw.seniority.as_deref())
        .map(|s| s.to_lowercase())
        .or_else(|| seniority_of(lead.job_title.as_deref()));
    let mut keys = Vec::new();
    linkedin_key(raw, &mut lead, &mut keys, &mut flags);
    profile_keys(raw, &mut keys, &mut flags);
    email_keys(raw, &mut lead, &mut keys, &mut flags);
    if keys.is_empty() {
        return Err(Rejection::NoIdentityKey(flags));
    }
    keys.sort();
    keys.dedup();
    for key in &keys {
        lead.identity.add(key);
    }
    lead.flags = flags;
    lead.quality = quality::score(&lead);
    Ok(Candidate { lead, keys })
}

fn check_sizes(raw: &RawLead) -> Result<(), Rejection> {
    let singles: [(&'static str, &Option<String>); 17] = [
        ("first_name", &raw.first_name),
        ("last_name", &raw.last_name),
        ("full_name", &raw.full_name),
        ("job_title", &raw.job_title),
        ("seniority", &raw.seniority),
        ("email_status", &raw.email_status),
        ("phone", &raw.phone),
        ("linkedin_url", &raw.linkedin_url),
        ("company_name", &raw.company_name),
        ("company_domain", &raw.company_domain),
        ("company_industry", &raw.company_industry),
        ("company_size", &raw.company_size),
        ("company_linkedin_url", &raw.company_linkedin_url),
        ("city", &raw.city),
        ("region", &raw.region),
        ("country", &raw.country),
        ("location", &raw.location),
    ];
    let lists = [("email", &raw.emails), ("profile_id", &raw.profile_ids)];
    let singles = singles.into_iter().filter_map(|(f, v)| v.as_deref().map(|v| (f, v)));
    let lists = lists.into_iter().flat_map(|(f, vs)| vs.iter().map(move |v| (f, v.as_str())));
    match singles.chain(lists).find(|(_, v)| v.len() > MAX_FIELD_BYTES) {
        Some((field, v)) => Err(Rejection::FieldTooLong { field, bytes: v.len() }),
        None => Ok(()),
    }
}

/// Trims, folds runs of white space (tabs, newlines) into one space, drops other
/// control characters, and treats placeholders such as `N/A` as missing. Other
/// Unicode (emoji, right-to-left text, HTML) is kept as given: it is escaped where
/// it is shown, not here.
pub fn clean(value: Option<&str>) -> Option<String> {
    let value = value?;
    if is_plain_ascii(value) {
        return (!is_placeholder(value)).then(|| value.to_owned());
    }
    let mut out = String::with_capacity(value.len());
    let mut pending_space = false;
    for c in value.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if !c.is_control() {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    (!is_placeholder(&out)).then_some(out)
}

/// Printable ASCII, no leading, trailing or doubled spaces: already clean (the
/// common case, checked without allocating).
fn is_plain_ascii(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut previous_space = true;
    for &b in bytes {
        let space = b == b' ';
        if !(b' '..=b'~').contains(&b) || (space && previous_space) {
            return false;
        }
        previous_space = space;
    }
    !previous_space
}

fn is_placeholder(value: &str) -> bool {
    value.len() <= 4
        && matches!(
            value.to_ascii_lowercase().as_str(),
            "" | "-" | "--" | "n/a" | "na" | "null" | "none" | "nil"
        )
}

fn names(raw: &RawLead, lead: &mut Lead) {
    let mut first = clean(raw.first_name.as_deref());
    let mut last = clean(raw.last_name.as_deref());
    let full = clean(raw.full_name.as_deref());
    if let (Some(full), None, None) = (&full, &first, &last) {
        let mut parts = full.splitn(2, ' ');
        first = parts.next().map(str::to_owned);
        last = parts.next().map(str::to_owned);
    }
    lead.full_name = full.or_else(|| {
        let joined: Vec<&str> = [first.as_deref(), last.as_deref()].into_iter().flatten().collect();
        (!joined.is_empty()).then(|| joined.join(" "))
    });
    lead.first_name = first;
    lead.last_name = last;
}

/// Bright Data's `position` reads "VP Sales at Acme": keep the title only.
fn strip_at_company(title: String, company: Option<&str>) -> String {
    let Some(company) = company else { return title };
    let suffix = format!(" at {}", company.to_lowercase());
    if title.to_lowercase().ends_with(&suffix) && title.len() > suffix.len() {
        title[..title.len() - suffix.len()].to_owned()
    } else {
        title
    }
}

/// Apollo's seniority vocabulary, inferred from the title when the vendor gives
/// none: the first rule with a word in the title wins.
const SENIORITY_RULES: &[(&str, &[&str])] = &[
    ("founder", &["founder", "cofounder"]),
    ("owner", &["owner"]),
    ("c_suite", &["chief", "ceo", "cmo", "cto", "coo", "cfo", "cro"]),
    ("partner", &["partner"]),
    ("vp", &["vp", "svp", "evp", "vice"]),
    ("head", &["head"]),
    ("director", &["director"]),
    ("manager", &["manager", "lead", "mgr"]),
    ("senior", &["senior", "sr", "principal"]),
    ("intern", &["intern", "internship"]),
];

fn seniority_of(title: Option<&str>) -> Option<String> {
    let title = title?.to_lowercase();
    let words: Vec<&str> = title.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let level = SENIORITY_RULES
        .iter()
        .find(|(_, keys)| words.iter().any(|w| keys.contains(w)))
        .map_or("entry", |(level, _)| level);
    Some(level.to_owned())
}

fn company(raw: &RawLead, flags: &mut Vec<Flag>) -> Company {
    let domain = clean(raw.company_domain.as_deref()).and_then(|d| match domain_of(&d) {
        Some(domain) => Some(domain),
        None => {
            flags.push(flag("company_domain", &d, "not a web domain"));
            None
        }
    });
    Company {
        name: clean(raw.company_name.as_deref()),
        domain,
        industry: clean(raw.company_industry.as_deref()),
        size: clean(raw.company_size.as_deref()),
        linkedin_url: clean(raw.company_linkedin_url.as_deref()),
    }
}

/// `https://www.Acme.com/about` → `acme.com`.
pub fn domain_of(value: &str) -> Option<String> {
    let v = value.trim().to_lowercase();
    let v = v.split_once("://").map_or(v.as_str(), |(_, rest)| rest);
    let host = v.split(['/', '?', '#', ':']).next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host).trim_end_matches('.');
    identity::valid_domain(host).then(|| host.to_owned())
}

fn location(raw: &RawLead) -> Location {
    let mut loc = Location {
        city: clean(raw.city.as_deref()),
        region: clean(raw.region.as_deref()),
        country: clean(raw.country.as_deref()),
    };
    // Bright Data puts "Austin, Texas, United States" in `city`; files use `location`.
    let free_text = match (&loc.city, &loc.region) {
        (Some(c), None) if c.contains(',') => loc.city.take(),
        (None, None) if loc.country.is_none() => clean(raw.location.as_deref()),
        _ => None,
    };
    if let Some(text) = free_text {
        let parts: Vec<String> = text.split(',').filter_map(|p| clean(Some(p))).collect();
        if let [city, rest @ ..] = parts.as_slice() {
            loc.city = Some(city.clone());
            let (region, country) = match rest {
                [] => (None, None),
                [region] => (Some(region.clone()), None),
                [middle @ .., country] => (Some(middle.join(", ")), Some(country.clone())),
            };
            loc.region = region;
            loc.country = loc.country.take().or(country);
        }
    }
    loc.country = loc.country.map(canonical_country);
    loc
}

/// Folds the common spellings of the countries a sprint meets into one name, so
/// facets count them together.
fn canonical_country(country: String) -> String {
    let name = match country.to_lowercase().replace('.', "").as_str() {
        "us" | "usa" | "united states" | "united states of america" | "america" => "United States",
        "uk" | "gb" | "gbr" | "united kingdom" | "great britain" | "england" => "United Kingdom",
        "ca" | "can" | "canada" => "Canada",
        "de" | "deu" | "germany" | "deutschland" => "Germany",
        "fr" | "fra" | "france" => "France",
        "au" | "aus" | "australia" => "Australia",
        "in" | "ind" | "india" => "India",
        _ => return country,
    };
    name.to_owned()
}

fn linkedin_key(raw: &RawLead, lead: &mut Lead, keys: &mut Vec<IdentityKey>, flags: &mut Vec<Flag>) {
    let Some(url) = clean(raw.linkedin_url.as_deref()) else {
        return;
    };
    match identity::linkedin(&url) {
        Ok(LinkedInValue::Profile(key)) => {
            lead.linkedin_url = Some(format!("https://www.{key}"));
            keys.push(IdentityKey::new(KeyKind::LinkedIn, key));
        }
        Ok(LinkedInValue::MemberId(id)) => keys.push(IdentityKey::new(KeyKind::ProfileId, id)),
        Err(identity::KeyError::Invalid(why)) => flags.push(flag("linkedin_url", &url, why)),
    }
}

fn profile_keys(raw: &RawLead, keys: &mut Vec<IdentityKey>, flags: &mut Vec<Flag>) {
    // One cell may list several IDs; an ID never holds white space or `;` (a
    // Sales Navigator URN does hold commas).
    let values =
        raw.profile_ids.iter().flat_map(|v| v.split([' ', ';', '\t', '\n'])).filter_map(|v| clean(Some(v)));
    for raw_id in values {
        match identity::profile_id(&raw_id) {
            Ok(id) => keys.push(IdentityKey::new(KeyKind::ProfileId, id)),
            Err(identity::KeyError::Invalid(why)) => flags.push(flag("profile_id", &raw_id, why)),
        }
    }
}

fn email_keys(raw: &RawLead, lead: &mut Lead, keys: &mut Vec<IdentityKey>, flags: &mut Vec<Flag>) {
    let values = raw.emails.iter().flat_map(|v| v.split([',', ';', ' '])).filter_map(|v| clean(Some(v)));
    let mut role_address = None;
    for value in values {
        match identity::email(&value) {
            Ok(e) if e.is_role => {
                role_address.get_or_insert(e.address);
            }
            Ok(e) => {
                lead.email.get_or_insert(e.address);
                keys.push(IdentityKey::new(KeyKind::Email, e.key));
            }
            Err(identity::KeyError::Invalid(why)) => flags.push(flag("email", &value, why)),
        }
    }
    if lead.email.is_none() {
        lead.email = role_address;
    }
    lead.email_status = email_status(raw.email_status.as_deref());
    lead.email_check = status_check(raw, lead);
}

/// The vendor's word behind the status, when it gave one for the address kept.
fn status_check(raw: &RawLead, lead: &Lead) -> Option<StatusCheck> {
    lead.email.as_ref()?;
    let raw_status = clean(raw.email_status.as_deref())?;
    let checked_at = if raw.source.fetched_at > 0 { raw.source.fetched_at } else { lead.created_at };
    Some(StatusCheck { provider: raw.source.vendor.clone(), raw_status, checked_at })
}

/// A vendor's email status in the one vocabulary (Apollo's `verified`/`likely to
/// engage`, generic `deliverable`, catch-all spellings, …); anything else is unknown.
fn email_status(value: Option<&str>) -> EmailStatus {
    let text = value.map(|v| v.trim().to_lowercase().replace(['-', ' '], "_"));
    match text.as_deref() {
        Some("verified" | "valid" | "deliverable" | "likely_to_engage") => EmailStatus::Valid,
        Some("invalid" | "undeliverable" | "bounced") => EmailStatus::Invalid,
        Some("accept_all" | "catch_all" | "catchall") => EmailStatus::AcceptAll,
        Some("disposable") => EmailStatus::Disposable,
        Some("webmail") => EmailStatus::Webmail,
        _ => EmailStatus::Unknown,
    }
}

fn flag(field: &str, value: &str, reason: &str) -> Flag {
    Flag { field: field.to_owned(), value: value.to_owned(), reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawLead {
        RawLead { linkedin_url: Some("https://www.linkedin.com/in/dana-wills".into()), ..RawLead::default() }
    }

    #[test]
    fn clean_rules() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("trim", "  Dana  ", Some("Dana")),
            ("fold white space", "Dana\t\r\n  Wills", Some("Dana Wills")),
            ("drop control", "Da\u{0}na\u{7}", Some("Dana")),
            ("keep html", "<b>Dana</b>", Some("<b>Dana</b>")),
            ("keep rtl and emoji", "\u{202e}Dana 🚀", Some("\u{202e}Dana 🚀")),
            ("placeholder", " N/A ", None),
            ("empty", "   ", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(clean(Some(input)).as_deref(), *want, "case {name}");
        }
    }

    #[test]
    fn a_vendor_status_says_who_gave_it() {
        let mut r = raw();
        r.emails = vec!["dana@acme.com".into()];
        r.email_status = Some(" Likely to engage ".into());
        r.source = super::super::Source::new("apollo", "w", None, 77);
        let lead = normalize(&r, 100).unwrap().lead;
        assert_eq!(lead.email_status, EmailStatus::Valid);
        let check = lead.email_check.expect("the vendor's word");
        assert_eq!(
            (check.provider.as_str(), check.raw_status.as_str(), check.checked_at),
            ("apollo", "Likely to engage", 77)
        );
        r.email_status = None;
        assert_eq!(normalize(&r, 100).unwrap().lead.email_check, None, "no status, no check");
        r.email_status = Some("verified".into());
        r.emails.clear();
        assert_eq!(normalize(&r, 100).unwrap().lead.email_check, None, "no address, nothing checked");
    }

    #[test]
    fn splits_full_name_and_location() {
        let mut r = raw();
        r.full_name = Some("Dana van Wills".into());
        r.city = Some("Austin, Texas, US".into());
        let c = normalize(&r, 0).unwrap();
        assert_eq!(c.lead.first_name.as_deref(), Some("Dana"));
        assert_eq!(c.lead.last_name.as_deref(), Some("van Wills"));
        assert_eq!(c.lead.location.city.as_deref(), Some("Austin"));
        assert_eq!(c.lead.location.region.as_deref(), Some("Texas"));
        assert_eq!(c.lead.location.country.as_deref(), Some("United States"));
    }

    #[test]
    fn joins_full_name_and_strips_company_from_title() {
        let mut r = raw();
        r.first_name = Some("Dana".into());
        r.last_name = Some("Wills".into());
        r.job_title = Some("VP Sales at Acme Corp".into());
        r.company_name = Some("Acme Corp".into());
        r.company_domain = Some("https://www.Acme.com/about".into());
        let c = normalize(&r, 0).unwrap();
        assert_eq!(c.lead.full_name.as_deref(), Some("Dana Wills"));
        assert_eq!(c.lead.job_title.as_deref(), Some("VP Sales"));
        assert_eq!(c.lead.seniority.as_deref(), Some("vp"));
        assert_eq!(c.lead.company.domain.as_deref(), Some("acme.com"));
    }

    #[test]
    fn keys_in_priority_order_and_role_email_is_not_a_key() {
        let mut r = raw();
        r.emails = vec!["info@acme.com".into(), "Dana@Acme.com".into()];
        r.profile_ids = vec!["apollo:42".into()];
        let c = normalize(&r, 0).unwrap();
        let kinds: Vec<KeyKind> = c.keys.iter().map(|k| k.kind()).collect();
        assert_eq!(kinds, [KeyKind::ProfileId, KeyKind::LinkedIn, KeyKind::Email]);
        assert_eq!(c.lead.email.as_deref(), Some("dana@acme.com"));
        assert_eq!(c.lead.linkedin_url.as_deref(), Some("https://www.linkedin.com/in/dana-wills"));
    }

    #[test]
    fn role_email_alone_is_rejected_with_reason() {
        let r = RawLead {
            emails: vec!["info@acme.com".into()],
            linkedin_url: Some("https://acme.com/team".into()),
            ..RawLead::default()
        };
        let err = normalize(&r, 0).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Rejection::NoIdentityKey(ref f) if f.len() == 1), "{msg}");
        assert!(msg.contains("linkedin_url"), "{msg}");
    }

    #[test]
    fn invalid_values_are_flagged_not_keys() {
        let mut r = raw();
        r.emails = vec!["not-an-email".into()];
        r.profile_ids = vec!["12345".into()];
        let c = normalize(&r, 0).unwrap();
        assert_eq!(c.keys.len(), 1);
        let fields: Vec<&str> = c.lead.flags.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["profile_id", "email"]);
    }

    #[test]
    fn oversized_field_is_rejected() {
        let mut r = raw();
        r.job_title = Some("x".repeat(MAX_FIELD_BYTES + 1));
        assert_eq!(
            normalize(&r, 0).unwrap_err(),
            Rejection::FieldTooLong { field: "job_title", bytes: MAX_FIELD_BYTES + 1 }
        );
    }
}

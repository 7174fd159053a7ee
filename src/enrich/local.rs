//! The free, local steps every address goes through before a provider is paid:
//! syntax (the identity rules), role mailboxes, disposable domains (the
//! `mailchecker` list, maintained upstream), free webmail domains, and the
//! registrable domain of a company site or mailbox (the Public Suffix List through
//! `psl`), so enrichment runs once per company however its sites are spelled.

use crate::lead::EmailStatus;
use crate::lead::identity;

/// Free mailbox providers: their addresses reach a person, not a work inbox.
const WEBMAIL: [&str; 24] = [
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "ymail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "web.de",
    "yandex.ru",
    "mail.ru",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "qq.com",
    "163.com",
];

/// What the local steps can tell of an address without asking anyone; `None`
/// when only a provider can tell (a syntactically sound work address).
pub fn email_status(address: &str) -> Option<EmailStatus> {
    let Ok(email) = identity::email(address) else { return Some(EmailStatus::Invalid) };
    if email.is_role {
        return Some(EmailStatus::Role);
    }
    if !mailchecker::is_valid(&email.address) {
        return Some(EmailStatus::Disposable);
    }
    let domain = email.address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    is_webmail(domain).then_some(EmailStatus::Webmail)
}

/// Whether `domain` is a free mailbox provider's.
pub fn is_webmail(domain: &str) -> bool {
    WEBMAIL.contains(&domain)
}

/// The registrable domain (`www.shop.acme.co.uk` → `acme.co.uk`) of a site, URL or
/// address; `None` for something that is not a public domain.
pub fn registrable_domain(site: &str) -> Option<String> {
    // A bare public suffix (`co.uk`) or a single label has no registrable part.
    psl::domain_str(&crate::enrich::apollo_org::bare(site)).filter(|d| d.contains('.')).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_steps_tell_what_they_can() {
        assert_eq!(email_status("not an address"), Some(EmailStatus::Invalid));
        assert_eq!(email_status("info@acme.com"), Some(EmailStatus::Role));
        assert_eq!(email_status("dana@mailinator.com"), Some(EmailStatus::Disposable));
        assert_eq!(email_status("dana@10minutemail.com"), Some(EmailStatus::Disposable));
        assert_eq!(email_status("dana.wills@gmail.com"), Some(EmailStatus::Webmail));
        assert_eq!(email_status("Dana@Acme.com"), None, "a work address needs a provider");
    }

    #[test]
    fn registrable_domains_follow_the_public_suffix_list() {
        assert_eq!(registrable_domain("https://www.shop.acme.co.uk/about").as_deref(), Some("acme.co.uk"));
        assert_eq!(registrable_domain("dana@mail.acme.com").as_deref(), Some("acme.com"));
        assert_eq!(registrable_domain("acme.github.io").as_deref(), Some("acme.github.io"));
        assert_eq!(registrable_domain("co.uk"), None);
        assert_eq!(registrable_domain("localhost"), None);
    }
}

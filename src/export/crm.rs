//! What the CRM exports share: their error, their report, the lead fields a field
//! mapping can name and how a mapping is built.

use serde::Serialize;

use crate::http::FetchError;
use crate::lead::{Lead, LeadId};

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("{crm} refused the credentials ({detail}) — check {env} and its scopes")]
    Unauthorized { crm: &'static str, env: &'static str, detail: String },
    #[error("{crm}: {error} — run the export again; it resumes after the last sent batch")]
    Request { crm: &'static str, error: FetchError },
    #[error("{crm} has no contact propert{} {}: create {} (a single-line text property), pass --create-properties to have them created (needs the crm.schemas.contacts.write scope), or map the field elsewhere or away with --map FIELD=", if .names.len() == 1 { "y" } else { "ies" }, .names.join(", "), if .names.len() == 1 { "it" } else { "them" })]
    MissingProperties { crm: &'static str, names: Vec<String> },
    #[error("{crm}: {message}")]
    Setup { crm: &'static str, message: String },
    #[error("field mapping '{0}': use LEAD_FIELD=PROPERTY with a lead field of {fields}", fields = LEAD_FIELDS.join(", "))]
    BadMapping(String),
}

/// The lead fields a mapping can name.
pub const LEAD_FIELDS: [&str; 17] = [
    "email",
    "email_status",
    "email_checked_by",
    "email_checked_at",
    "first_name",
    "last_name",
    "full_name",
    "job_title",
    "seniority",
    "company",
    "website",
    "industry",
    "city",
    "region",
    "country",
    "phone",
    "linkedin_url",
];

/// `defaults` after `overrides` (`lead_field=crm_field`; an empty CRM field drops it).
pub fn mapping(defaults: &[(&str, &str)], overrides: &[String]) -> Result<Vec<(String, String)>, CrmError> {
    let mut map: Vec<(String, String)> =
        defaults.iter().map(|(f, p)| ((*f).to_owned(), (*p).to_owned())).collect();
    for item in overrides {
        let (field, property) = item.split_once('=').ok_or_else(|| CrmError::BadMapping(item.clone()))?;
        let field = field.trim();
        if !LEAD_FIELDS.contains(&field) {
            return Err(CrmError::BadMapping(item.clone()));
        }
        map.retain(|(f, _)| f != field);
        if !property.trim().is_empty() {
            map.push((field.to_owned(), property.trim().to_owned()));
        }
    }
    Ok(map)
}

/// A lead field's value as text.
pub fn field_value(lead: &Lead, field: &str) -> Option<String> {
    let c = &lead.company;
    let l = &lead.location;
    match field {
        "email" => lead.email.clone(),
        "email_status" => lead.email.as_ref().map(|_| lead.email_status.as_str().to_owned()),
        "email_checked_by" => lead.email_check.as_ref().map(|c| c.provider.clone()),
        "email_checked_at" => lead.email_check.as_ref().map(|c| iso_date_time(c.checked_at)),
        "first_name" => lead.first_name.clone(),
        "last_name" => lead.last_name.clone(),
        "full_name" => Some(lead.display_name()).filter(|n| !n.is_empty()),
        "job_title" => lead.job_title.clone(),
        "seniority" => lead.seniority.clone(),
        "company" => c.name.clone(),
        "website" => c.domain.as_ref().map(|d| format!("https://{d}")),
        "industry" => c.industry.clone(),
        "city" => l.city.clone(),
        "region" => l.region.clone(),
        "country" => l.country.clone(),
        "phone" => lead.phone.clone(),
        "linkedin_url" => lead.linkedin_url.clone(),
        _ => None,
    }
}

/// A stored time as RFC 3339 (UTC, milliseconds), which CRM date-time fields take.
fn iso_date_time(millis: crate::lead::Millis) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// What a CRM export did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CrmReport {
    pub created: u64,
    pub updated: u64,
    /// Leads the CRM refused, with its reason.
    pub failed: Vec<(LeadId, String)>,
    /// Leads not sent because the CRM cannot take them (e.g. no email), with why.
    pub not_sent: Vec<(LeadId, String)>,
    pub requests: u64,
    /// Records merged in the CRM because their leads became one here: (lead, the
    /// record kept, the record merged into it).
    pub merged: Vec<(LeadId, String, String)>,
    /// Leads that absorbed others, whose CRM records may be two or more: (lead,
    /// absorbed lead) for someone to merge in the CRM.
    pub to_merge: Vec<(LeadId, LeadId)>,
    /// Leads erased on request: delete their records in the CRM if they were sent.
    pub erased: Vec<LeadId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_overrides_and_drops() {
        let defaults = [("phone", "phone"), ("linkedin_url", "linkedin_url")];
        let overrides = ["linkedin_url=hs_linkedin".into(), "phone=".into(), "industry=industry".into()];
        let m = mapping(&defaults, &overrides).unwrap();
        assert_eq!(
            m,
            [("linkedin_url".to_owned(), "hs_linkedin".to_owned()), ("industry".into(), "industry".into())]
        );
        assert!(mapping(&defaults, &["nickname=x".into()]).is_err());
        assert!(mapping(&defaults, &["no-equals".into()]).is_err());
    }

    #[test]
    fn the_email_check_maps_to_fields() {
        let check = crate::lead::StatusCheck {
            provider: "hunter".into(),
            raw_status: "accept_all".into(),
            checked_at: 1_764_489_600_250,
        };
        let lead = Lead {
            email: Some("dana@acme.com".into()),
            email_status: crate::lead::EmailStatus::AcceptAll,
            email_check: Some(check),
            ..Lead::default()
        };
        assert_eq!(field_value(&lead, "email_status").as_deref(), Some("accept_all"));
        assert_eq!(field_value(&lead, "email_checked_by").as_deref(), Some("hunter"));
        assert_eq!(field_value(&lead, "email_checked_at").as_deref(), Some("2025-11-30T08:00:00.250Z"));
        let no_email = Lead::default();
        assert_eq!(field_value(&no_email, "email_status"), None);
        assert_eq!(field_value(&no_email, "email_checked_at"), None);
        assert!(mapping(&[], &["email_checked_by=leadsprint_email_checked_by".into()]).is_ok());
    }
}

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
pub const LEAD_FIELDS: [&str; 14] = [
    "email",
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
}

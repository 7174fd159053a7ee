//! Column names: the synonym table that maps the headers of Apollo, LinkedIn
//! `Connections.csv`, Sales Navigator export tools, HubSpot and Bright Data exports
//! onto lead fields, plus `--map column=field` overrides.

use std::collections::HashMap;

use crate::lead::RawLead;

/// A lead field a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    FirstName,
    LastName,
    FullName,
    Email,
    LinkedinUrl,
    ProfileId,
    ApolloId,
    ZoominfoId,
    BrightdataId,
    LinkedinMemberId,
    JobTitle,
    Seniority,
    CompanyName,
    CompanyDomain,
    CompanyIndustry,
    CompanySize,
    CompanyLinkedinUrl,
    City,
    Region,
    Country,
    Location,
    Phone,
    EmailStatus,
    /// Named by `--map col=ignore`: the column is dropped.
    Ignore,
}

/// Canonical names (as `--map` takes them) and the header synonyms of each field,
/// in the folded form of [`fold`]. The first column that maps to a field wins.
const FIELDS: &[(Field, &str, &[&str])] = &[
    (Field::FirstName, "first_name", &["firstname", "first", "givenname", "fname"]),
    (Field::LastName, "last_name", &["lastname", "last", "surname", "familyname", "lname"]),
    (Field::FullName, "full_name", &["fullname", "name", "contactname", "personname", "leadname"]),
    (
        Field::Email,
        "email",
        &[
            "email",
            "emailaddress",
            "workemail",
            "businessemail",
            "primaryemail",
            "contactemail",
            "emails",
            "email1",
        ],
    ),
    (
        Field::LinkedinUrl,
        "linkedin_url",
        &[
            "linkedinurl",
            "personlinkedinurl",
            "linkedin",
            "linkedinprofile",
            "linkedinprofileurl",
            "profileurl",
            "url",
            "publicprofileurl",
            "defaultprofileurl",
            "inputurl",
            "salesnavigatorurl",
            "salesnavigatorprofileurl",
            "salesnavurl",
            "leadurl",
        ],
    ),
    (Field::ProfileId, "profile_id", &["profileid"]),
    (Field::ApolloId, "apollo_id", &["apolloid", "apollocontactid", "apollopersonid"]),
    (
        Field::ZoominfoId,
        "zoominfo_id",
        &["zoominfoid", "zoominfocontactid", "zicontactid", "zoominfopersonid"],
    ),
    (Field::BrightdataId, "brightdata_id", &["brightdataid"]),
    (
        Field::LinkedinMemberId,
        "linkedin_member_id",
        &["linkedinmemberid", "linkedinnumid", "memberid", "memberurn", "linkedinurn", "vmid", "leadurn"],
    ),
    (Field::JobTitle, "job_title", &["jobtitle", "title", "position", "currentposition", "currenttitle"]),
    (Field::Seniority, "seniority", &["seniority", "managementlevel", "senioritylevel"]),
    (
        Field::CompanyName,
        "company_name",
        &[
            "companyname",
            "company",
            "organization",
            "organizationname",
            "organisation",
            "accountname",
            "currentcompanyname",
            "currentcompany",
            "employer",
            "companynameforemails",
        ],
    ),
    (
        Field::CompanyDomain,
        "company_domain",
        &[
            "companydomain",
            "domain",
            "website",
            "companywebsite",
            "websiteurl",
            "organizationdomain",
            "primarydomain",
        ],
    ),
    (Field::CompanyIndustry, "company_industry", &["companyindustry", "industry", "organizationindustry"]),
    (
        Field::CompanySize,
        "company_size",
        &[
            "companysize",
            "employees",
            "numemployees",
            "employeecount",
            "numberofemployees",
            "organizationnumemployees",
            "estimatednumemployees",
            "headcount",
            "companyheadcount",
        ],
    ),
    (
        Field::CompanyLinkedinUrl,
        "company_linkedin_url",
        &["companylinkedinurl", "companylinkedin", "currentcompanylink", "organizationlinkedinurl"],
    ),
    (Field::City, "city", &["city", "personcity", "contactcity"]),
    (Field::Region, "region", &["region", "state", "province", "stateregion", "personstate"]),
    (Field::Country, "country", &["country", "personcountry", "countryregion", "countrycode"]),
    (Field::Location, "location", &["location", "geo", "locality", "personlocation"]),
    (
        Field::Phone,
        "phone",
        &[
            "phone",
            "phonenumber",
            "mobilephone",
            "workdirectphone",
            "directphone",
            "corporatephone",
            "mobile",
            "workphone",
        ],
    ),
    (Field::EmailStatus, "email_status", &["emailstatus", "emailverificationstatus", "emailverification"]),
    (Field::Ignore, "ignore", &[]),
];

impl Field {
    /// The canonical name, as `--map` and the docs use it.
    pub fn name(self) -> &'static str {
        FIELDS.iter().find(|(f, _, _)| *f == self).map_or("ignore", |(_, name, _)| name)
    }

    /// Parses a canonical name given to `--map`.
    pub fn from_name(name: &str) -> Option<Field> {
        let folded = fold(name);
        FIELDS.iter().find(|(_, n, _)| fold(n) == folded).map(|(f, _, _)| *f)
    }

    /// Fields that can identify a person on their own.
    pub fn is_identity(self) -> bool {
        matches!(
            self,
            Field::Email
                | Field::LinkedinUrl
                | Field::ProfileId
                | Field::ApolloId
                | Field::ZoominfoId
                | Field::BrightdataId
                | Field::LinkedinMemberId
        )
    }

    /// Puts `value` into `raw`.
    pub fn apply(self, raw: &mut RawLead, value: &str) {
        let set = |slot: &mut Option<String>| {
            if slot.is_none() && !value.trim().is_empty() {
                *slot = Some(value.to_owned());
            }
        };
        let id = |ns: &str| {
            if value.contains(':') { value.to_owned() } else { format!("{ns}:{}", value.trim()) }
        };
        match self {
            Field::FirstName => set(&mut raw.first_name),
            Field::LastName => set(&mut raw.last_name),
            Field::FullName => set(&mut raw.full_name),
            Field::Email => raw.emails.push(value.to_owned()),
            Field::LinkedinUrl => set(&mut raw.linkedin_url),
            Field::ProfileId => raw.profile_ids.push(value.to_owned()),
            Field::ApolloId => raw.profile_ids.push(id("apollo")),
            Field::ZoominfoId => raw.profile_ids.push(id("zoominfo")),
            Field::BrightdataId => raw.profile_ids.push(id("brightdata")),
            Field::LinkedinMemberId => raw.profile_ids.push(id("li")),
            Field::JobTitle => set(&mut raw.job_title),
            Field::Seniority => set(&mut raw.seniority),
            Field::CompanyName => set(&mut raw.company_name),
            Field::CompanyDomain => set(&mut raw.company_domain),
            Field::CompanyIndustry => set(&mut raw.company_industry),
            Field::CompanySize => set(&mut raw.company_size),
            Field::CompanyLinkedinUrl => set(&mut raw.company_linkedin_url),
            Field::City => set(&mut raw.city),
            Field::Region => set(&mut raw.region),
            Field::Country => set(&mut raw.country),
            Field::Location => set(&mut raw.location),
            Field::Phone => set(&mut raw.phone),
            Field::EmailStatus => set(&mut raw.email_status),
            Field::Ignore => {}
        }
    }
}

/// Folds a header for matching: lower case, letters and digits only
/// (`Person Linkedin Url`, `person_linkedin_url` and `personLinkedinUrl` agree).
pub fn fold(header: &str) -> String {
    header.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Which export a set of folded headers comes from; it names the records' source.
pub fn detect_vendor<'a>(folded: impl IntoIterator<Item = &'a str> + Clone) -> &'static str {
    let has = |names: &[&str]| folded.clone().into_iter().any(|h| names.contains(&h));
    if has(&["apollocontactid", "personlinkedinurl", "companynameforemails"]) {
        "apollo"
    } else if has(&["linkedinnumid", "inputurl", "currentcompanycompanyid"]) {
        "brightdata"
    } else if has(&["salesnavigatorurl", "salesnavigatorprofileurl", "vmid", "leadurl", "defaultprofileurl"])
    {
        "salesnav"
    } else if has(&["connectedon"]) {
        "linkedin"
    } else if has(&["recordid"]) {
        "hubspot"
    } else if has(&["zoominfocontactid", "zicontactid"]) {
        "zoominfo"
    } else {
        "file"
    }
}

/// Header → field resolution: the synonym table, vendor-specific names, then the
/// user's `--map` overrides (which win).
#[derive(Debug, Clone)]
pub struct Mapper {
    overrides: HashMap<String, Field>,
}

#[derive(Debug, thiserror::Error)]
#[error("--map {given:?}: {why}")]
pub struct MapError {
    pub given: String,
    pub why: String,
}

impl Mapper {
    /// Parses `--map column=field` arguments.
    pub fn new(maps: &[String]) -> Result<Mapper, MapError> {
        let mut overrides = HashMap::new();
        for given in maps {
            let err = |why: String| MapError { given: given.clone(), why };
            let (column, field) = given
                .split_once('=')
                .ok_or_else(|| err("expected COLUMN=FIELD, e.g. \"E-mail=email\"".into()))?;
            let field = Field::from_name(field).ok_or_else(|| {
                let names: Vec<&str> = FIELDS.iter().map(|(_, n, _)| *n).collect();
                err(format!("unknown field {field:?}; fields are {}", names.join(", ")))
            })?;
            overrides.insert(fold(column), field);
        }
        Ok(Mapper { overrides })
    }

    /// The field for a header of a file from `vendor`, if any.
    pub fn field(&self, header: &str, vendor: &str) -> Option<Field> {
        let folded = fold(header);
        if let Some(field) = self.overrides.get(&folded) {
            return Some(*field).filter(|f| *f != Field::Ignore);
        }
        if vendor == "brightdata" && folded == "id" {
            return Some(Field::BrightdataId);
        }
        FIELDS.iter().find(|(_, _, syn)| syn.contains(&folded.as_str())).map(|(f, _, _)| *f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_headers_map_to_fields() {
        let m = Mapper::new(&[]).unwrap();
        let cases: &[(&str, &str, Option<Field>)] = &[
            ("apollo linkedin", "Person Linkedin Url", Some(Field::LinkedinUrl)),
            ("apollo employees", "# Employees", Some(Field::CompanySize)),
            ("apollo id", "Apollo Contact Id", Some(Field::ApolloId)),
            ("connections url", "URL", Some(Field::LinkedinUrl)),
            ("connections email", "Email Address", Some(Field::Email)),
            ("hubspot region", "State/Region", Some(Field::Region)),
            ("camel case", "firstName", Some(Field::FirstName)),
            ("bright data nested", "current_company.name", Some(Field::CompanyName)),
            ("company city is not the person's", "Company City", None),
            ("unknown", "Favourite Colour", None),
        ];
        for (name, header, want) in cases {
            assert_eq!(m.field(header, "file"), *want, "case {name}");
        }
        assert_eq!(m.field("id", "brightdata"), Some(Field::BrightdataId));
        assert_eq!(m.field("id", "file"), None);
    }

    #[test]
    fn overrides_win_and_bad_maps_explain() {
        let m = Mapper::new(&["E-Mail Adr=email".into(), "URL=ignore".into()]).unwrap();
        assert_eq!(m.field("e-mail adr", "file"), Some(Field::Email));
        assert_eq!(m.field("URL", "file"), None);
        let err = Mapper::new(&["x=colour".into()]).unwrap_err().to_string();
        assert!(err.contains("unknown field \"colour\"") && err.contains("linkedin_url"), "{err}");
        assert!(Mapper::new(&["nofield".into()]).is_err());
    }

    #[test]
    fn detects_export_vendor() {
        assert_eq!(detect_vendor(["firstname", "personlinkedinurl"]), "apollo");
        assert_eq!(detect_vendor(["firstname", "connectedon"]), "linkedin");
        assert_eq!(detect_vendor(["linkedinnumid"]), "brightdata");
        assert_eq!(detect_vendor(["email"]), "file");
    }
}

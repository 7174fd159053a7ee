//! The quality score (SPEC section 7): five parts of 20 points, 0–100 in all; a
//! lead scoring at least [`QUALIFIED`] is qualified.

use serde::{Deserialize, Serialize};

use super::Lead;

/// The score at and above which a lead counts as qualified.
pub const QUALIFIED: u8 = 80;

/// The score with its breakdown, each part 0 or 20.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quality {
    pub score: u8,
    pub full_name: u8,
    pub job_title: u8,
    pub linkedin_url: u8,
    pub email: u8,
    pub company: u8,
}

impl Quality {
    pub fn is_qualified(&self) -> bool {
        self.score >= QUALIFIED
    }
}

fn points(earned: bool) -> u8 {
    if earned { 20 } else { 0 }
}

/// Scores a lead: full name, job title, valid LinkedIn URL, personal email (20
/// verified, 10 catch-all or unknown), complete company (name + domain + industry).
pub fn score(lead: &Lead) -> Quality {
    let full_name = points(lead.first_name.is_some() && lead.last_name.is_some());
    let job_title = points(lead.job_title.is_some());
    let linkedin_url = points(lead.linkedin_url.is_some());
    let email = if lead.has_personal_email() { lead.email_status.points() } else { 0 };
    let company = points(lead.company.is_complete());
    Quality {
        score: full_name + job_title + linkedin_url + email + company,
        full_name,
        job_title,
        linkedin_url,
        email,
        company,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::{Company, EmailStatus};

    fn full() -> Lead {
        Lead {
            first_name: Some("Dana".into()),
            last_name: Some("Wills".into()),
            job_title: Some("PPC Manager".into()),
            linkedin_url: Some("https://www.linkedin.com/in/dana".into()),
            email: Some("dana@acme.com".into()),
            email_status: EmailStatus::Valid,
            company: Company {
                name: Some("Acme".into()),
                domain: Some("acme.com".into()),
                industry: Some("Retail".into()),
                ..Company::default()
            },
            ..Lead::default()
        }
    }

    #[test]
    fn rubric_cases() {
        let cases: Vec<(&str, Lead, u8)> = vec![
            ("complete", full(), 100),
            ("unknown email", Lead { email_status: EmailStatus::Unknown, ..full() }, 90),
            ("catch-all email", Lead { email_status: EmailStatus::AcceptAll, ..full() }, 90),
            ("disposable email", Lead { email_status: EmailStatus::Disposable, ..full() }, 80),
            ("empty", Lead::default(), 0),
            ("no last name", Lead { last_name: None, ..full() }, 80),
            ("role email", Lead { email: Some("info@acme.com".into()), ..full() }, 80),
            ("invalid email", Lead { email_status: EmailStatus::Invalid, ..full() }, 80),
            ("no industry", Lead { company: Company { industry: None, ..full().company }, ..full() }, 80),
            ("title only", Lead { job_title: Some("CMO".into()), ..Lead::default() }, 20),
        ];
        for (name, lead, want) in cases {
            let q = score(&lead);
            assert_eq!(q.score, want, "case {name}");
            assert_eq!(q.score, q.full_name + q.job_title + q.linkedin_url + q.email + q.company);
        }
        assert!(score(&full()).is_qualified());
        assert!(score(&Lead { job_title: None, ..full() }).is_qualified());
        let unverified = Lead { email_status: EmailStatus::Unknown, ..full() };
        assert!(
            !score(&Lead { job_title: None, ..unverified }).is_qualified(),
            "70: an unverified email is worth 10"
        );
        assert!(!score(&Lead { job_title: None, email: None, ..full() }).is_qualified());
    }
}

//! The email waterfall for one lead, in the campaign's order: the address a vendor
//! already sold us (with its status) → the free local steps (syntax, role,
//! disposable, webmail, then DNS: does the domain take mail?) → a free count of the
//! addresses the provider knows at the domain (no finder for a domain with none) →
//! the finder → the verifier. It stops at the first address that passes: `valid`,
//! or `accept_all` when the campaign accepts catch-all domains. Every paid step
//! asks the [`Allowance`] first, so a cap or the per-lead ceiling stops spending
//! before the call, not after.

use std::future::Future;

use crate::enrich::hunter::{At, Finding, Verification};
use crate::enrich::local;
use crate::enrich::mx::MailDomain;
use crate::http::FetchError;
use crate::lead::EmailStatus;

/// The paid steps, as the providers offer them (Hunter and ZeroBounce in
/// production, a scripted fake in tests).
pub trait EmailProviders {
    /// Addresses the provider knows at a domain or company (free).
    fn count(&self, at: &At) -> impl Future<Output = Result<u64, FetchError>>;
    fn find(&self, first: &str, last: &str, at: &At) -> impl Future<Output = Result<Finding, FetchError>>;
    fn verify(&self, email: &str) -> impl Future<Output = Result<Verification, FetchError>>;
    /// Who [`EmailProviders::verify`] asks (`hunter`, `zerobounce`): the check's provider.
    fn verifier(&self) -> &'static str;
    /// Whether a domain takes mail (DNS, free).
    fn mail_domain(&self, domain: &str) -> impl Future<Output = MailDomain>;
}

/// Which paid step a dollar figure is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paid {
    Find,
    Verify,
}

/// Whether a paid step may run (caps, the per-lead ceiling, a kill switch).
pub trait Allowance {
    fn allows(&mut self, step: Paid) -> bool;
}

/// How the campaign wants emails found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A catch-all domain's address ends the waterfall.
    pub accept_catch_all: bool,
    pub use_finder: bool,
    pub use_verifier: bool,
}

/// The lead as the waterfall sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The address a vendor sold, with the status it came with.
    pub email: Option<String>,
    pub status: EmailStatus,
    /// The company's registrable domain.
    pub domain: Option<String>,
    /// The company's name: the finder looks it up when the domain is unknown.
    pub company: Option<String>,
}

/// Where the waterfall ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The best address found, with its status, who said so and in what words.
    pub email: Option<Found>,
    /// The person objected (Hunter's 451): suppress, never enrich again.
    pub objected: Option<String>,
    /// A verification still running at the provider: resume it later.
    pub pending: Option<String>,
    /// Paid steps taken, in order (for the report and the tests).
    pub steps: Vec<Paid>,
    /// Why it stopped short of a passing address, when it did.
    pub stopped: Option<&'static str>,
    /// The company domain the finder resolved a company name to.
    pub domain: Option<String>,
    /// The verifier's mail server answered oddly (Hunter's 222): ask again later.
    pub retry_later: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub address: String,
    pub status: EmailStatus,
    pub provider: &'static str,
    pub raw_status: String,
}

impl Policy {
    /// The campaign's `[enrichment]` choices.
    pub fn of(settings: &crate::config::EnrichmentSettings) -> Policy {
        Policy {
            accept_catch_all: settings.accept_catch_all,
            use_finder: settings.find_emails,
            use_verifier: settings.verify_emails,
        }
    }

    /// Whether `status` ends the waterfall: `valid`, or `accept_all` when accepted.
    pub fn passes(&self, status: EmailStatus) -> bool {
        status == EmailStatus::Valid || (self.accept_catch_all && status == EmailStatus::AcceptAll)
    }
}

impl Subject {
    /// Where the finder looks: the domain, else the company's name.
    pub fn at(&self) -> Option<At> {
        match (&self.domain, &self.company) {
            (Some(domain), _) => Some(At::Domain(domain.clone())),
            (None, Some(company)) => Some(At::Company(company.clone())),
            (None, None) => None,
        }
    }
}

/// Runs the waterfall for `subject`.
pub async fn run(
    subject: &Subject,
    policy: Policy,
    providers: &impl EmailProviders,
    allowance: &mut impl Allowance,
) -> Result<Outcome, FetchError> {
    let mut out = Outcome {
        email: None,
        objected: None,
        pending: None,
        steps: Vec::new(),
        stopped: None,
        domain: None,
        retry_later: false,
    };
    // 1. What the vendor sold, unless the free steps already rule it out.
    if let Some(address) = &subject.email {
        let sold = match local_verdict(address, providers).await {
            Some((status, why)) => {
                Found { address: address.clone(), status, provider: "local", raw_status: why }
            }
            None => Found {
                address: address.clone(),
                status: subject.status,
                provider: "vendor",
                raw_status: subject.status.as_str().into(),
            },
        };
        let status = sold.status;
        if policy.passes(status) {
            out.email = Some(sold);
            return Ok(out);
        }
        if status.is_usable() && status != EmailStatus::Webmail {
            return verify(sold, policy, providers, allowance, out).await;
        }
        // Ruled out: kept as the lead's check unless a finder does better.
        if !status.is_usable() {
            out.email = Some(sold);
        }
    }
    // 2. A finder needs a name and a domain (or a company name) the provider knows addresses at.
    let (Some(first), Some(last), Some(at)) = (&subject.first_name, &subject.last_name, subject.at()) else {
        out.stopped = Some("no name and company to find an address with");
        return Ok(out);
    };
    if !policy.use_finder {
        out.stopped = Some("finding addresses is off for this campaign");
        return Ok(out);
    }
    if let At::Domain(domain) = &at
        && let MailDomain::NoMail(_) = providers.mail_domain(domain).await
    {
        out.stopped = Some("the company's domain takes no mail");
        return Ok(out);
    }
    if providers.count(&at).await? == 0 {
        out.stopped = Some("the provider knows no address at this domain");
        return Ok(out);
    }
    if !allowance.allows(Paid::Find) {
        out.stopped = Some("the budget allows no finder call");
        return Ok(out);
    }
    out.steps.push(Paid::Find);
    let finding = providers.find(first, last, &at).await?;
    if let (At::Company(_), Finding::Found { domain, .. } | Finding::NotFound { domain }) = (&at, &finding) {
        out.domain = domain.clone();
    }
    match finding {
        Finding::NotFound { .. } => {
            out.stopped = Some("no address found");
            Ok(out)
        }
        Finding::Found { email, status, raw_status, .. } => {
            let found = Found { address: email, status, provider: "hunter", raw_status };
            // The finder's answer carries its own verification: only an inconclusive
            // one is worth paying a verifier for (a catch-all stays a catch-all).
            if policy.passes(found.status)
                || !matches!(found.status, EmailStatus::Unknown | EmailStatus::Pending)
            {
                out.email = Some(found);
                return Ok(out);
            }
            verify(found, policy, providers, allowance, out).await
        }
    }
}

/// What the free steps tell of an address, in the one vocabulary and in words:
/// syntax, role, disposable and webmail first, then whether its domain takes mail.
async fn local_verdict(address: &str, providers: &impl EmailProviders) -> Option<(EmailStatus, String)> {
    if let Some(status) = local::email_status(address) {
        return Some((status, status.as_str().to_owned()));
    }
    let domain = address.rsplit_once('@').map(|(_, d)| d)?;
    match providers.mail_domain(domain).await {
        MailDomain::NoMail(why) => Some((EmailStatus::Invalid, why.to_owned())),
        MailDomain::Accepts | MailDomain::Unknown => None,
    }
}

/// 3. The verifier, for an address that has not passed yet.
async fn verify(
    candidate: Found,
    policy: Policy,
    providers: &impl EmailProviders,
    allowance: &mut impl Allowance,
    mut out: Outcome,
) -> Result<Outcome, FetchError> {
    if !policy.use_verifier || !allowance.allows(Paid::Verify) {
        out.stopped = Some("no verification allowed");
        out.email = Some(candidate);
        return Ok(out);
    }
    out.steps.push(Paid::Verify);
    match providers.verify(&candidate.address).await? {
        Verification::Done { status, raw_status, .. } => {
            out.email = Some(Found { status, raw_status, provider: providers.verifier(), ..candidate });
        }
        Verification::Pending => {
            out.pending = Some(candidate.address.clone());
            out.email = Some(Found { status: EmailStatus::Pending, ..candidate });
        }
        Verification::RetryLater => {
            out.stopped = Some("the mail server answered oddly; verify again later");
            out.retry_later = true;
            out.email = Some(Found { status: EmailStatus::Unknown, ..candidate });
        }
        Verification::Objected => out.objected = Some(candidate.address),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Providers answering from a script, counting what they were asked.
    #[derive(Default)]
    struct Scripted {
        count: u64,
        finding: Option<Finding>,
        verification: Option<Verification>,
        /// Domains DNS says take no mail.
        no_mail: Vec<&'static str>,
        /// Who verifies (Hunter when unset).
        verifier: Option<&'static str>,
        asked: RefCell<Vec<&'static str>>,
    }

    impl EmailProviders for Scripted {
        async fn count(&self, _: &At) -> Result<u64, FetchError> {
            self.asked.borrow_mut().push("count");
            Ok(self.count)
        }
        async fn find(&self, _: &str, _: &str, _: &At) -> Result<Finding, FetchError> {
            self.asked.borrow_mut().push("find");
            Ok(self.finding.clone().unwrap_or(Finding::NotFound { domain: None }))
        }
        async fn verify(&self, _: &str) -> Result<Verification, FetchError> {
            self.asked.borrow_mut().push("verify");
            Ok(self.verification.clone().unwrap_or(Verification::RetryLater))
        }
        fn verifier(&self) -> &'static str {
            self.verifier.unwrap_or("hunter")
        }
        async fn mail_domain(&self, domain: &str) -> MailDomain {
            if self.no_mail.contains(&domain) {
                MailDomain::NoMail("the domain does not exist")
            } else {
                MailDomain::Accepts
            }
        }
    }

    struct Calls(u32);
    impl Allowance for Calls {
        fn allows(&mut self, _: Paid) -> bool {
            let ok = self.0 > 0;
            self.0 = self.0.saturating_sub(1);
            ok
        }
    }

    const STRICT: Policy = Policy { accept_catch_all: false, use_finder: true, use_verifier: true };

    fn subject(email: Option<&str>, status: EmailStatus) -> Subject {
        Subject {
            first_name: Some("Dana".into()),
            last_name: Some("Wills".into()),
            email: email.map(str::to_owned),
            status,
            domain: Some("acme.com".into()),
            company: None,
        }
    }

    fn found(status: EmailStatus) -> Finding {
        Finding::Found {
            email: "dana@acme.com".into(),
            score: 90,
            status,
            raw_status: status.as_str().into(),
            domain: Some("acme.com".into()),
        }
    }

    fn done(status: EmailStatus) -> Verification {
        Verification::Done { status, raw_status: status.as_str().into(), score: 90 }
    }

    async fn waterfall(s: &Subject, p: Policy, providers: &Scripted, budget: u32) -> Outcome {
        run(s, p, providers, &mut Calls(budget)).await.unwrap()
    }

    #[tokio::test]
    async fn a_verified_vendor_email_costs_nothing() {
        let providers = Scripted::default();
        let out = waterfall(&subject(Some("dana@acme.com"), EmailStatus::Valid), STRICT, &providers, 9).await;
        assert_eq!(out.email.map(|f| f.provider), Some("vendor"));
        assert!(providers.asked.borrow().is_empty(), "no provider asked");
    }

    #[tokio::test]
    async fn an_unverified_vendor_email_is_verified_not_replaced() {
        let providers = Scripted { verification: Some(done(EmailStatus::Valid)), ..Scripted::default() };
        let out =
            waterfall(&subject(Some("dana@acme.com"), EmailStatus::Unknown), STRICT, &providers, 9).await;
        assert_eq!(*providers.asked.borrow(), ["verify"]);
        assert_eq!(out.email.map(|f| (f.status, f.provider)), Some((EmailStatus::Valid, "hunter")));
        let zerobounce = Scripted {
            verification: Some(done(EmailStatus::Valid)),
            verifier: Some("zerobounce"),
            ..Scripted::default()
        };
        let out =
            waterfall(&subject(Some("dana@acme.com"), EmailStatus::Unknown), STRICT, &zerobounce, 9).await;
        assert_eq!(out.email.map(|f| f.provider), Some("zerobounce"), "the check names its verifier");
    }

    #[tokio::test]
    async fn a_role_or_disposable_vendor_email_sends_the_waterfall_to_the_finder() {
        let providers =
            Scripted { count: 3, finding: Some(found(EmailStatus::Valid)), ..Scripted::default() };
        let out = waterfall(&subject(Some("info@acme.com"), EmailStatus::Valid), STRICT, &providers, 9).await;
        assert_eq!(*providers.asked.borrow(), ["count", "find"], "a valid finding needs no verifier");
        assert_eq!(out.email.map(|f| f.address), Some("dana@acme.com".to_owned()));
        assert_eq!(out.steps, [Paid::Find]);
    }

    #[tokio::test]
    async fn a_domain_the_provider_knows_nothing_at_is_not_paid_for() {
        let providers =
            Scripted { count: 0, finding: Some(found(EmailStatus::Valid)), ..Scripted::default() };
        let out = waterfall(&subject(None, EmailStatus::Unknown), STRICT, &providers, 9).await;
        assert_eq!(*providers.asked.borrow(), ["count"]);
        assert!(out.email.is_none() && out.steps.is_empty());
    }

    #[tokio::test]
    async fn a_domain_that_takes_no_mail_is_not_paid_for() {
        let providers = Scripted {
            count: 3,
            finding: Some(found(EmailStatus::Valid)),
            no_mail: vec!["acme.com"],
            ..Scripted::default()
        };
        let out = waterfall(&subject(None, EmailStatus::Unknown), STRICT, &providers, 9).await;
        assert!(providers.asked.borrow().is_empty(), "nothing asked of Hunter");
        assert_eq!(out.stopped, Some("the company's domain takes no mail"));
    }

    #[tokio::test]
    async fn a_sold_address_whose_domain_takes_no_mail_is_invalid_and_the_finder_tries() {
        let sold = subject(Some("dana@acme-old.com"), EmailStatus::Unknown);
        let providers = Scripted {
            count: 3,
            finding: Some(found(EmailStatus::Valid)),
            no_mail: vec!["acme-old.com"],
            ..Scripted::default()
        };
        let out = waterfall(&sold, STRICT, &providers, 9).await;
        assert_eq!(*providers.asked.borrow(), ["count", "find"], "no verifier paid for the dead address");
        assert_eq!(out.email.map(|f| (f.address, f.provider)), Some(("dana@acme.com".into(), "hunter")));
        let nothing_found = Scripted { count: 0, no_mail: vec!["acme-old.com"], ..Scripted::default() };
        let out = waterfall(&sold, STRICT, &nothing_found, 9).await;
        let check = out.email.expect("the dead address is the lead's check");
        assert_eq!(
            (check.status, check.provider, check.raw_status.as_str()),
            (EmailStatus::Invalid, "local", "the domain does not exist")
        );
    }

    #[tokio::test]
    async fn catch_all_stops_the_waterfall_only_when_the_campaign_accepts_it() {
        let lenient = Policy { accept_catch_all: true, ..STRICT };
        let providers =
            Scripted { count: 3, finding: Some(found(EmailStatus::AcceptAll)), ..Scripted::default() };
        let out = waterfall(&subject(None, EmailStatus::Unknown), lenient, &providers, 9).await;
        assert_eq!(
            (out.steps, out.email.map(|f| f.status)),
            (vec![Paid::Find], Some(EmailStatus::AcceptAll))
        );
        let providers = Scripted {
            count: 3,
            finding: Some(found(EmailStatus::AcceptAll)),
            verification: Some(done(EmailStatus::AcceptAll)),
            ..Scripted::default()
        };
        let out = waterfall(&subject(None, EmailStatus::Unknown), STRICT, &providers, 9).await;
        assert_eq!(
            (out.steps, out.email.map(|f| f.status)),
            (vec![Paid::Find], Some(EmailStatus::AcceptAll)),
            "strict: the finder's own check said catch-all; a verifier could say no more"
        );
        let providers = Scripted {
            count: 3,
            finding: Some(found(EmailStatus::Unknown)),
            verification: Some(done(EmailStatus::Valid)),
            ..Scripted::default()
        };
        let out = waterfall(&subject(None, EmailStatus::Unknown), STRICT, &providers, 9).await;
        assert_eq!(
            (out.steps, out.email.map(|f| f.status)),
            (vec![Paid::Find, Paid::Verify], Some(EmailStatus::Valid)),
            "an inconclusive find goes on to the verifier"
        );
    }

    #[tokio::test]
    async fn the_allowance_is_asked_before_each_paid_step() {
        let providers =
            Scripted { count: 3, finding: Some(found(EmailStatus::Unknown)), ..Scripted::default() };
        let out = waterfall(&subject(None, EmailStatus::Unknown), STRICT, &providers, 1).await;
        assert_eq!(*providers.asked.borrow(), ["count", "find"], "one paid call allowed: no verifier");
        assert_eq!(out.stopped, Some("no verification allowed"));
        let none = Scripted { count: 3, ..Scripted::default() };
        let out = waterfall(&subject(None, EmailStatus::Unknown), STRICT, &none, 0).await;
        assert_eq!(*none.asked.borrow(), ["count"], "the free count only");
        assert_eq!(out.stopped, Some("the budget allows no finder call"));
    }

    #[tokio::test]
    async fn an_objection_a_pending_check_and_a_222_are_told_apart() {
        for (verification, objected, pending, status) in [
            (Verification::Objected, true, false, None),
            (Verification::Pending, false, true, Some(EmailStatus::Pending)),
            (Verification::RetryLater, false, false, Some(EmailStatus::Unknown)),
        ] {
            let providers = Scripted { verification: Some(verification.clone()), ..Scripted::default() };
            let out =
                waterfall(&subject(Some("dana@acme.com"), EmailStatus::Unknown), STRICT, &providers, 9).await;
            assert_eq!(out.objected.is_some(), objected, "{verification:?}");
            assert_eq!(out.pending.is_some(), pending, "{verification:?}");
            assert_eq!(out.email.map(|f| f.status), status, "{verification:?}");
        }
    }
}

//! Enrichment providers against replays of their documented API
//! (`tests/fixtures/enrich/`): every status code Hunter documents (202 polled, 222,
//! 403, 429, 451), its finder, count, company and account reads.

use std::time::Duration;

use leadsprint::config::Secret;
use leadsprint::enrich::hunter::{CompanyData, Finding, Hunter, Verification};
use leadsprint::http::FetchError;
use leadsprint::lead::EmailStatus;

use crate::support::replay::{Replay, scenario};

/// Fast enough that Hunter's 3 s between polls takes 3 ms.
const SPEED: f64 = 1000.0;
/// In vendor time, like every wait (3.6 s real at SPEED): the replay answers at
/// once, but a loaded machine (another test burning both cores) must not turn a
/// slow answer into a retry the tape did not document (10 ms real did, once).
const REPLAY_TIMEOUT: Duration = Duration::from_secs(3_600);

/// A fresh budget under a campaign's `[enrichment]` section with `extra` lines.
fn budget(extra: &str) -> leadsprint::enrich::budget::Budget {
    use leadsprint::config::{Flags, Source, load};
    let text = format!("[campaign]\nname = \"t\"\ntarget = 1\n[enrichment]\nenabled = true\n{extra}");
    let settings = load(Source { origin: "t", text: &text }, &|_| None, &Flags::default()).expect("settings");
    leadsprint::enrich::budget::Budget::new(&settings.enrichment, &[])
}

/// Strict: only a verified address ends the waterfall.
const STRICT: leadsprint::enrich::waterfall::Policy =
    leadsprint::enrich::waterfall::Policy { accept_catch_all: false, use_finder: true, use_verifier: true };

async fn hunter(name: &str) -> (Replay, Hunter) {
    let replay = Replay::start(scenario("enrich/hunter", name)).await;
    let hunter = Hunter::new(&format!("{}/v2", replay.url), Secret::new("hunter-key"), REPLAY_TIMEOUT, SPEED)
        .expect("client");
    (replay, hunter)
}

#[tokio::test]
async fn hunter_finder_reads_a_find_and_a_miss() {
    let (replay, hunter) = hunter("finder_found_then_missed").await;
    let found = hunter.find_email("Dana", "Wills", "acme.com").await.expect("find");
    assert_eq!(
        found,
        Finding::Found {
            email: "dana@acme.com".into(),
            score: 97,
            status: EmailStatus::Valid,
            raw_status: "valid".into(),
            domain: Some("acme.com".into()),
        }
    );
    assert_eq!(
        hunter.find_email("Sam", "Ortiz", "initech.com").await.expect("miss"),
        Finding::NotFound { domain: Some("initech.com".into()) }
    );
    replay.assert_played();
}

#[tokio::test]
async fn hunter_verifier_polls_a_202_with_the_same_call() {
    let (replay, hunter) = hunter("verifier_polled_then_done").await;
    let done = hunter.verify("sam@initech.com").await.expect("verify");
    assert_eq!(
        done,
        Verification::Done { status: EmailStatus::AcceptAll, raw_status: "accept_all".into(), score: 70 }
    );
    replay.assert_played();
}

#[tokio::test]
async fn hunter_222_is_retried_later_451_is_an_objection_403_waits_and_429_stops() {
    let (replay, hunter) = hunter("verifier_222_451_403_429").await;
    assert_eq!(hunter.verify("odd@initech.com").await.unwrap(), Verification::RetryLater);
    assert_eq!(hunter.verify("gone@initech.com").await.unwrap(), Verification::Objected);
    let after_403 = hunter.verify("dana@acme.com").await.expect("a 403 is Hunter's rate limit: waited out");
    assert!(matches!(after_403, Verification::Done { status: EmailStatus::Valid, .. }), "{after_403:?}");
    let quota = hunter.verify("lee@acme.com").await.expect_err("429: the plan is used up");
    assert!(matches!(quota, FetchError::QuotaExhausted(ref m) if m.contains("usage limit")), "{quota:?}");
    assert!(quota.stops_vendor());
    replay.assert_played();
}

#[tokio::test]
async fn hunter_counts_enriches_a_company_and_reads_the_account() {
    let (replay, hunter) = hunter("count_company_account").await;
    assert_eq!(hunter.email_count("acme.com").await.unwrap(), 81);
    assert_eq!(
        hunter.company("acme.com").await.unwrap(),
        Some(CompanyData {
            name: Some("Acme Corp".into()),
            industry: Some("Retail".into()),
            size: Some("51-250".into()),
            linkedin_url: Some("https://www.linkedin.com/company/acme".into()),
        })
    );
    let credits = hunter.account().await.unwrap();
    assert_eq!((credits.used, credits.available), (12.5, 2000.0));
    replay.assert_played();
}

#[tokio::test]
async fn apollo_enriches_organizations_by_bare_domain_in_the_query() {
    use leadsprint::config::Rate;
    use leadsprint::enrich::apollo_org::ApolloOrg;
    let replay = Replay::start(scenario("enrich/apollo", "bulk_enrich")).await;
    let rate = Rate { requests: 5, per: Duration::from_secs(1) };
    let apollo = ApolloOrg::new(
        &format!("{}/api/v1", replay.url),
        Secret::new("apollo-key"),
        rate,
        REPLAY_TIMEOUT,
        SPEED,
    )
    .unwrap();
    let found = apollo.enrich(&["https://www.acme.com/".into(), "initech.com".into()]).await.expect("enrich");
    replay.assert_played();
    assert_eq!(found.len(), 1, "initech.com is a miss: absent, not an error");
    let acme = &found["acme.com"];
    assert_eq!((acme.industry.as_deref(), acme.size.as_deref()), (Some("retail"), Some("120")));
}

#[tokio::test]
async fn zerobounce_validates_in_the_one_vocabulary_and_stops_when_out_of_credits() {
    use leadsprint::config::Rate;
    use leadsprint::enrich::zerobounce::ZeroBounce;
    let replay = Replay::start(scenario("enrich/zerobounce", "validate_and_credits")).await;
    let rate = Rate { requests: 50, per: Duration::from_secs(1) };
    let zb =
        ZeroBounce::new(&format!("{}/v2", replay.url), Secret::new("zb-key"), rate, REPLAY_TIMEOUT, SPEED)
            .unwrap();
    let valid = zb.validate("dana@acme.com").await.unwrap();
    assert_eq!((valid.status, valid.billed), (EmailStatus::Valid, true));
    assert_eq!(zb.validate("info@initech.com").await.unwrap().status, EmailStatus::Role);
    let unknown = zb.validate("sam@initech.com").await.unwrap();
    assert_eq!((unknown.status, unknown.billed), (EmailStatus::Unknown, false), "unknown is not charged");
    assert_eq!(zb.credits().await.unwrap(), 2375.0);
    let out = zb.validate("lee@acme.com").await.expect_err("out of credits");
    assert!(out.stops_vendor(), "{out:?}");
    replay.assert_played();
}

#[tokio::test]
async fn a_cache_hit_makes_no_request_and_costs_nothing() {
    use leadsprint::config::Verifier;
    use leadsprint::enrich::session::Session;
    use leadsprint::enrich::waterfall::{self, Subject};
    use leadsprint::store::CacheEntry;

    let (replay, hunter) = hunter("count_then_find").await;
    let budget = std::cell::RefCell::new(budget(
        "[enrichment.providers.hunter]
cost_per_credit = 0.03
",
    ));
    let policy = STRICT;
    let dana = Subject {
        first_name: Some("Dana".into()),
        last_name: Some("Wills".into()),
        domain: Some("acme.com".into()),
        ..Subject::default()
    };
    let empty = |_: &str| None;
    let first = Session::new(&hunter, None, Verifier::Hunter, &empty, &budget, 1_000);
    let out = waterfall::run(&dana, policy, &first, &mut first.allowance()).await.unwrap();
    assert_eq!(out.email.map(|f| (f.address, f.status)), Some(("dana@acme.com".into(), EmailStatus::Valid)));
    let ledger = first.ledger.into_inner();
    let hunter_spend = &ledger.spend["hunter"];
    assert_eq!((hunter_spend.calls, hunter_spend.credits, ledger.cache.len()), (2, 1.0, 2), "{ledger:?}");
    assert!((ledger.dollars - 0.03).abs() < 1e-9, "one found address, one credit");
    assert!((budget.borrow().spent() - 0.03).abs() < 1e-9);

    // The same question again: answered from the cache (the replay has nothing left to answer).
    let cached: Vec<(String, CacheEntry)> = ledger.cache;
    let lookup = move |key: &str| cached.iter().find(|(k, _)| k == key).map(|(_, e)| e.clone());
    let second = Session::new(&hunter, None, Verifier::Hunter, &lookup, &budget, 2_000);
    let again = waterfall::run(&dana, policy, &second, &mut second.allowance()).await.unwrap();
    assert_eq!(again.email.map(|f| f.address), Some("dana@acme.com".into()));
    let ledger = second.ledger.into_inner();
    assert_eq!((ledger.spend["hunter"].calls, ledger.spend["hunter"].cache_hits), (0, 2));
    assert_eq!(ledger.dollars, 0.0, "a cache hit costs nothing");
    assert!((budget.borrow().spent() - 0.03).abs() < 1e-9, "the price taken before the call went back");
    replay.assert_played();
}

#[tokio::test]
async fn a_found_address_lands_on_its_lead_with_its_spend_and_cache() {
    use leadsprint::config::Verifier;
    use leadsprint::enrich::session::Session;
    use leadsprint::enrich::stage;
    use leadsprint::lead::{RawLead, Source};
    use leadsprint::pipeline::{Item, Writer, prepare};
    use leadsprint::store::Store;

    let (replay, hunter) = hunter("count_then_find").await;
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(Store::open(dir.path()).unwrap()).unwrap();
    let dana = RawLead {
        first_name: Some("Dana".into()),
        last_name: Some("Wills".into()),
        linkedin_url: Some("https://www.linkedin.com/in/dana-wills".into()),
        company_name: Some("Acme".into()),
        company_domain: Some("https://www.acme.com/".into()),
        source: Source::new("brightdata", "w", Some("dana-wills".into()), 1),
        ..RawLead::default()
    };
    writer.write(vec![prepare(&dana, "w", String::new, Vec::new, 1)]).unwrap();
    let lead = writer.store().reader().unwrap().lead(1).unwrap().expect("the lead");
    assert_eq!(stage::subject(&lead).domain.as_deref(), Some("acme.com"));

    let budget = std::cell::RefCell::new(budget(
        "[enrichment.providers.hunter]
cost_per_credit = 0.03
",
    ));
    let policy = STRICT;
    let empty = |_: &str| None;
    let session = Session::new(&hunter, None, Verifier::Hunter, &empty, &budget, 5);
    let outcome = stage::enrich_email(&lead, policy, &session).await.unwrap();
    let item = stage::enriched(&lead, &outcome, session.ledger.into_inner(), 5);
    let totals = writer.write(vec![Item::Enriched(Box::new(item))]).unwrap();
    assert_eq!(totals.enriched, 1);
    replay.assert_played();

    let store = writer.shared_store();
    writer.finish().unwrap();
    let reader = store.reader().unwrap();
    let lead = reader.lead(1).unwrap().expect("the lead");
    assert_eq!((lead.email.as_deref(), lead.email_status), (Some("dana@acme.com"), EmailStatus::Valid));
    assert_eq!(lead.quality.email, 20);
    assert_eq!(reader.lead_count().unwrap(), 1, "the address landed on its lead, not a new one");
    let spend = reader.spend().unwrap();
    assert_eq!((spend[0].0.as_str(), spend[0].1.credits, spend[0].1.calls), ("hunter", 1.0, 2));
    assert!(reader.cache_entry("hunter|find|dana|wills|acme.com").unwrap().is_some_and(|e| e.found));
    let check = reader.enrichment(1).unwrap().and_then(|e| e.email).expect("the check");
    assert_eq!((check.provider.as_str(), check.raw_status.as_str()), ("hunter", "valid"));
    let on_lead = lead.email_check.expect("the lead says who checked it");
    assert_eq!(
        (on_lead.provider, on_lead.raw_status, on_lead.checked_at),
        (check.provider, check.raw_status, 5)
    );
}

#[tokio::test]
async fn company_data_is_asked_once_per_domain_and_fills_its_leads() {
    use leadsprint::config::Rate;
    use leadsprint::enrich::apollo_org::ApolloOrg;
    use leadsprint::enrich::company;
    use leadsprint::lead::{RawLead, Source};
    use leadsprint::pipeline::{Item, Writer, prepare};
    use leadsprint::store::Store;

    let replay = Replay::start(scenario("enrich/apollo", "bulk_enrich")).await;
    let rate = Rate { requests: 5, per: Duration::from_secs(1) };
    let apollo = ApolloOrg::new(
        &format!("{}/api/v1", replay.url),
        Secret::new("apollo-key"),
        rate,
        REPLAY_TIMEOUT,
        SPEED,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(Store::open(dir.path()).unwrap()).unwrap();
    let person = |slug: &str, company: &str, domain: &str| RawLead {
        first_name: Some("A".into()),
        last_name: Some(slug.into()),
        linkedin_url: Some(format!("https://www.linkedin.com/in/{slug}")),
        company_name: Some(company.into()),
        company_domain: Some(domain.into()),
        source: Source::new("brightdata", "w", Some(slug.into()), 1),
        ..RawLead::default()
    };
    let items = [person("dana", "Acme Corp", "acme.com"), person("sam", "Initech", "initech.com")]
        .iter()
        .map(|r| prepare(r, "w", String::new, Vec::new, 1))
        .collect();
    writer.write(items).unwrap();
    let budget = std::cell::RefCell::new(budget(""));
    let empty = |_: &str| None;
    let domains = vec!["acme.com".to_owned(), "initech.com".to_owned()];
    let (found, ledger) = company::from_apollo(&domains, &apollo, &empty, &budget, 7).await.unwrap();
    replay.assert_played();
    assert_eq!(found.keys().collect::<Vec<_>>(), ["acme.com"]);
    assert_eq!(
        (ledger.spend["apollo"].credits, ledger.cache.len()),
        (1.0, 2),
        "the miss is remembered, not billed"
    );
    assert!((budget.borrow().spent() - 0.025).abs() < 1e-9, "one organization at Apollo's credit price");

    // Asked again: the cache answers both, the replay has nothing left.
    let cached = ledger.cache.clone();
    let lookup = move |key: &str| cached.iter().find(|(k, _)| k == key).map(|(_, e)| e.clone());
    let (again, second) = company::from_apollo(&domains, &apollo, &lookup, &budget, 8).await.unwrap();
    assert_eq!((again.len(), second.spend["apollo"].cache_hits, second.spend["apollo"].calls), (1, 2, 0));

    let lead = writer.store().reader().unwrap().lead(1).unwrap().expect("dana");
    let item = company::enriched(&lead, &found["acme.com"], "acme.com", "apollo", 7);
    writer.write(vec![Item::Enriched(Box::new(item))]).unwrap();
    let lead = writer.store().reader().unwrap().lead(1).unwrap().expect("dana");
    assert_eq!(
        (lead.company.industry.as_deref(), lead.company.size.as_deref()),
        (Some("retail"), Some("120"))
    );
    assert!(lead.company.is_complete(), "name, domain and industry");
    assert_eq!(lead.quality.company, 20);
    let record = writer.store().reader().unwrap().enrichment(1).unwrap().expect("its record");
    assert_eq!(record.company_source.as_deref(), Some("apollo"));
    writer.finish().unwrap();
}

/// The enrichment stage over stored leads against the sandbox's twins.
mod stage_against_the_twins {
    use leadsprint::config::{Flags, Settings, Source, load};
    use leadsprint::enrich::runner::{self, EnrichStats, StageOptions, StageState};
    use leadsprint::lead::{RawLead, Source as LeadSource};
    use leadsprint::pipeline::{Intake, Writer, prepare};
    use leadsprint::sources::sandbox::faults::FaultRates;
    use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};
    use leadsprint::store::Store;
    use tokio::sync::watch;

    const SPEED: f64 = 2000.0;

    fn settings(sb: &Sandbox, extra: &str) -> Settings {
        let text = format!(
            "[campaign]\nname = \"t\"\ntarget = 10\n[enrichment]\nenabled = true\ndns_server = \"{}\"\n{extra}\n\
             [enrichment.providers.hunter]\nbase_url = \"{}\"\ncost_per_credit = 0.03\n\
             [enrichment.providers.apollo]\nbase_url = \"{}\"\n\
             [enrichment.providers.zerobounce]\nbase_url = \"{}\"\n",
            sb.dns,
            sb.base_url("hunter"),
            sb.base_url("apollo"),
            sb.base_url("zerobounce")
        );
        let env = |name: &str| name.ends_with("_API_KEY").then(|| "sandbox-key".to_owned());
        load(Source { origin: "t", text: &text }, &env, &Flags::default()).expect("settings")
    }

    /// `n` people of the sandbox as a profile vendor sells them: name, title, page,
    /// company name; every third with the company's domain too.
    fn profiles(sb: &Sandbox, n: usize) -> Vec<RawLead> {
        sb.population()
            .people
            .iter()
            .take(n)
            .map(|p| RawLead {
                first_name: Some(p.first_name.clone()),
                last_name: Some(p.last_name.clone()),
                job_title: Some(p.title.clone()),
                linkedin_url: Some(p.linkedin_url()),
                company_name: Some(p.company.clone()),
                company_domain: (p.index % 3 == 0).then(|| p.domain.clone()),
                source: LeadSource::new("brightdata", "w", Some(p.slug.clone()), 1),
                ..RawLead::default()
            })
            .collect()
    }

    /// A sandbox without faults, and a store holding `n` of its people as profiles.
    async fn stored_profiles(n: usize) -> (Sandbox, tempfile::TempDir, Intake) {
        let config = SandboxConfig {
            population: 3000,
            speed: SPEED,
            faults: FaultRates::NONE,
            ..SandboxConfig::default()
        };
        let sb = Sandbox::start(config).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("dir");
        let intake = Intake::start(Writer::new(Store::open(dir.path()).unwrap()).unwrap());
        let items = profiles(&sb, n).iter().map(|r| prepare(r, "w", String::new, Vec::new, 1)).collect();
        leadsprint::pipeline::write_batch(&intake.sender(), items).expect("the leads");
        (sb, dir, intake)
    }

    async fn enrich(settings: &Settings, intake: &Intake) -> EnrichStats {
        let options = StageOptions {
            speed: SPEED,
            only: None,
            collecting: watch::channel(false).1,
            paused: watch::channel(false).1,
            cancel: tokio_util::sync::CancellationToken::new(),
        };
        let (tx, _rx) = watch::channel(EnrichStats::default());
        let stats = runner::run(&settings.enrichment, intake.store(), intake.sender(), options, tx)
            .await
            .expect("the stage");
        assert!(intake.flush().await);
        stats
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_lead_is_enriched_once_and_the_spend_is_what_the_providers_billed() {
        let (sb, _dir, intake) = stored_profiles(240).await;
        let settings = settings(&sb, "");

        let stats = enrich(&settings, &intake).await;
        assert_eq!(stats.state, StageState::Done, "{:?}", stats.notes);
        let reader = intake.store().reader().unwrap();
        let mut tried = 0;
        for lead in reader.leads().unwrap() {
            let lead = lead.unwrap();
            let was_tried = reader.enrichment(lead.id).unwrap().is_some_and(|r| r.email_tried_at > 0);
            let suppressed = lead.email_status == leadsprint::lead::EmailStatus::Suppressed;
            assert!(suppressed || was_tried, "lead {} never tried", lead.id);
            tried += u64::from(was_tried);
        }
        assert!(tried >= 230, "{tried} leads");
        // What the store counts is what Hunter and Apollo billed, to the credit.
        let spend: std::collections::BTreeMap<String, _> = reader.spend().unwrap().into_iter().collect();
        let hunter = &spend["hunter"];
        let billed = sb.counters("hunter").billed as f64
            + 0.5 * sb.counters("hunter-verifier").billed as f64
            + 0.2 * sb.counters("hunter-company").billed as f64;
        assert!((hunter.credits - billed).abs() < 1e-6, "store {} vs billed {billed}", hunter.credits);
        assert_eq!(spend["apollo"].credits, sb.counters("apollo-organizations").billed as f64);
        // The finder finds what a real one would: about half.
        let finds = sb.counters("hunter").billed as f64 / stats.leads_done.max(1) as f64;
        assert!((0.3..=0.7).contains(&finds), "finder hit rate {finds:.2}");
        // The free MX step asked the campaign's DNS server (the sandbox's).
        assert!(sb.counters("dns").requests > 0, "no MX asked");

        // Again: nothing is owed, nothing is asked.
        let before: u64 = ["hunter", "hunter-verifier", "apollo-organizations"]
            .iter()
            .map(|v| sb.counters(v).requests)
            .sum();
        let again = enrich(&settings, &intake).await;
        let after: u64 = ["hunter", "hunter-verifier", "apollo-organizations"]
            .iter()
            .map(|v| sb.counters(v).requests)
            .sum();
        assert_eq!((again.leads_done, after - before), (0, 0), "a second run asks nothing");
        intake.finish().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zerobounce_checks_name_zerobounce_and_its_unknown_is_asked_again_not_cached() {
        let (sb, _dir, intake) = stored_profiles(240).await;
        let settings = settings(&sb, "verifier = \"zerobounce\"");
        let stats = enrich(&settings, &intake).await;
        assert_eq!(stats.state, StageState::Done, "{:?}", stats.notes);
        assert!(sb.counters("zerobounce").requests > 0, "ZeroBounce never asked");
        let reader = intake.store().reader().unwrap();
        let (mut by_zerobounce, mut by_hunter_verifier) = (0, 0);
        for lead in reader.leads().unwrap() {
            let lead = lead.unwrap();
            let Some(email) = lead.email.as_deref() else { continue };
            match lead.email_check.as_ref().map(|c| c.provider.as_str()) {
                Some("zerobounce") => by_zerobounce += 1,
                Some("hunter")
                    if reader.cache_entry(&format!("hunter|verify|{email}")).unwrap().is_some() =>
                {
                    by_hunter_verifier += 1
                }
                _ => {}
            }
            // An unknown (greylisted) answer is no verdict: never kept for 90 days.
            if let Some(cached) = reader.cache_entry(&format!("zerobounce|verify|{email}")).unwrap() {
                assert!(!cached.value.contains("\"unknown\""), "{email}: {cached:?}");
            }
        }
        assert!(by_zerobounce > 0, "no check names ZeroBounce");
        assert_eq!(by_hunter_verifier, 0, "Hunter's verifier was not the campaign's");
        assert_eq!(sb.counters("hunter-verifier").requests, 0);
        intake.finish().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_estimate_prices_what_is_owed_then_learns_the_stores_find_rate() {
        use leadsprint::enrich::estimate::estimate;
        let (sb, _dir, intake) = stored_profiles(240).await;
        let settings = settings(&sb, "");
        let before = estimate(&settings.enrichment, &intake.store().reader().unwrap(), None).unwrap();
        assert_eq!((before.leads, before.without_email), (240, 240));
        assert_eq!((before.find_rate, before.find_rate_measured), (0.5, false), "a typical finder's rate");
        assert!((before.finder_cost - 240.0 * 0.03 * 0.5).abs() < 1e-9, "{before:?}");
        let domains: std::collections::BTreeSet<&str> =
            sb.population().people.iter().take(240).map(|p| p.domain.as_str()).collect();
        assert!(before.domains > 0 && before.domains <= domains.len() as u64, "{before:?}");
        assert!((before.company_cost - before.domains as f64 * 0.025).abs() < 1e-9, "{before:?}");

        let stats = enrich(&settings, &intake).await;
        let after = estimate(&settings.enrichment, &intake.store().reader().unwrap(), None).unwrap();
        assert_eq!(after.without_email, 0, "every lead was tried: {after:?}");
        assert!(after.find_rate_measured);
        // The store's rate is the finder's own: addresses billed per lead tried.
        let billed_rate = sb.counters("hunter").billed as f64 / stats.leads_done as f64;
        assert!((after.find_rate - billed_rate).abs() < 0.1, "{} vs billed {billed_rate}", after.find_rate);
        intake.finish().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spending_stops_at_the_enrichment_cap() {
        let (sb, _dir, intake) = stored_profiles(200).await;
        let settings = settings(&sb, "spend_cap = 1.0\ncompany = false");
        let stats = enrich(&settings, &intake).await;
        let reader = intake.store().reader().unwrap();
        let spent = reader.enrichment_cost().unwrap();
        let billed =
            0.03 * (sb.counters("hunter").billed as f64 + 0.5 * sb.counters("hunter-verifier").billed as f64);
        // The leads in flight when the cap was met may give back what they took.
        assert!(spent <= 1.0 + 1e-9 && spent > 0.5, "spent ${spent}");
        assert!((billed - spent).abs() < 1e-6, "billed ${billed}, counted ${spent}");
        assert!(stats.notes.iter().any(|n| n.contains("enrichment.spend_cap")), "{:?}", stats.notes);
        intake.finish().unwrap();
    }
}

/// The sandbox's enrichment twins answer in the documented shapes: every field the
/// documented responses (`tests/fixtures/enrich/`, written from the providers'
/// documentation) carry, the twins carry too; and they refuse what the APIs refuse.
mod twins_against_the_documented_answers {
    use std::collections::BTreeSet;

    use leadsprint::sources::sandbox::faults::FaultRates;
    use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};
    use serde_json::Value;

    /// The body of the first documented exchange on `path` answered with `status`
    /// whose body `pick` accepts.
    fn documented(file: &str, path: &str, status: u64, pick: impl Fn(&Value) -> bool) -> Value {
        let at = format!("{}/tests/fixtures/enrich/{file}.json", env!("CARGO_MANIFEST_DIR"));
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&at).expect("fixture")).expect("json");
        let scenarios = fixture["scenarios"].as_object().expect("scenarios");
        let exchanges =
            scenarios.values().flat_map(|s| s["exchanges"].as_array().cloned().unwrap_or_default());
        exchanges
            .filter(|e| e["request"]["path"] == path && e["response"]["status"] == status)
            .map(|e| e["response"]["body"].clone())
            .find(|body| pick(body))
            .unwrap_or_else(|| panic!("{at} documents no {status} answer on {path}"))
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
    }

    fn assert_carries(twin: &Value, doc: &Value, what: &str) {
        let missing: Vec<String> = keys(doc).difference(&keys(twin)).cloned().collect();
        assert!(missing.is_empty(), "the twin's {what} lacks documented fields {missing:?}: {twin}");
    }

    #[tokio::test]
    async fn hunter_and_apollo_twins_answer_as_documented_and_refuse_what_the_apis_refuse() {
        let config = SandboxConfig {
            population: 3000,
            speed: 1000.0,
            faults: FaultRates::NONE,
            ..SandboxConfig::default()
        };
        let sb = Sandbox::start(config).await.expect("sandbox");
        let pop = sb.population();
        let http = leadsprint::http::http(std::time::Duration::from_secs(30)).expect("client");
        let get = |path: &str, query: Vec<(&str, String)>| {
            let request = http.get(format!("{}/{path}", sb.base_url("hunter"))).query(&query);
            async move {
                let response = request.header("X-API-KEY", "sandbox-key").send().await.expect("hunter twin");
                (response.status().as_u16(), response.json::<Value>().await.unwrap_or_default())
            }
        };
        // A person Hunter's sources know, at a company that is not catch-all.
        let known = pop
            .people
            .iter()
            .find(|p| {
                let c = &pop.companies[p.company_index];
                let t = p.enrichment_traits(pop.seed);
                c.known_to_hunter && !c.catch_all && t.findable && !t.objected && !t.slow_mail_server
            })
            .expect("a findable person");
        let finder = vec![
            ("domain", known.domain.clone()),
            ("first_name", known.first_name.clone()),
            ("last_name", known.last_name.clone()),
        ];
        let (status, found) = get("email-finder", finder).await;
        let doc = documented("hunter", "/v2/email-finder", 200, |b| b["data"]["email"].is_string());
        assert_eq!(status, 200);
        assert_carries(&found["data"], &doc["data"], "finder answer");
        assert_carries(&found["data"]["verification"], &doc["data"]["verification"], "finder verification");
        assert_eq!(found["data"]["email"].as_str(), Some(known.work_email().as_str()));

        // The verifier answers 222 now and then: asked again, as Hunter says to.
        let doc = documented("hunter", "/v2/email-verifier", 200, |b| b["data"]["status"].is_string());
        let mut verified = None;
        for _ in 0..10 {
            let (status, body) = get("email-verifier", vec![("email", known.work_email())]).await;
            if status == 200 {
                verified = Some(body);
                break;
            }
            assert_eq!(status, 222, "{body}");
            let odd = documented("hunter", "/v2/email-verifier", 222, |_| true);
            assert_carries(&body, &odd, "222 answer");
            assert_carries(&body["data"], &odd["data"], "222 data");
        }
        let verified = verified.expect("a verification");
        assert_carries(&verified["data"], &doc["data"], "verifier answer");
        assert_eq!(verified["data"]["status"], "valid");

        // Hunter refuses a call without a key, and a finder call without a domain or company.
        let anonymous =
            http.get(format!("{}/email-count", sb.base_url("hunter"))).query(&[("domain", &known.domain)]);
        assert_eq!(anonymous.send().await.expect("call").status().as_u16(), 401);
        let (status, body) =
            get("email-finder", vec![("first_name", "Dana".into()), ("last_name", "Wills".into())]).await;
        assert_eq!((status, body["errors"][0]["id"].as_str()), (400, Some("wrong_params")));
        let empty =
            vec![("first_name", "Dana".into()), ("last_name", "Wills".into()), ("domain", String::new())];
        let (status, body) = get("email-finder", empty).await;
        assert_eq!(
            (status, body["errors"][0]["id"].as_str()),
            (400, Some("wrong_params")),
            "an empty domain"
        );
        // A company Hunter has no addresses for is not resolved to a domain either.
        let unknown = pop.companies.iter().find(|c| !c.known_to_hunter).expect("one");
        let by_name = vec![
            ("first_name", "Dana".into()),
            ("last_name", "Wills".into()),
            ("company", unknown.name.clone()),
        ];
        let (status, body) = get("email-finder", by_name).await;
        assert_eq!((status, &body["data"]["domain"]), (200, &Value::Null), "{body}");

        // Apollo's bulk organization enrichment: the documented fields, ten domains at most, no body.
        let domain =
            pop.companies.iter().find(|c| c.known_to_apollo).map(|c| c.domain.clone()).expect("a domain");
        let url = format!("{}/organizations/bulk_enrich", sb.base_url("apollo"));
        let bulk = |domains: Vec<String>, body: &'static str| {
            let query: Vec<(&str, String)> = domains.into_iter().map(|d| ("domains[]", d)).collect();
            http.post(&url).header("x-api-key", "sandbox-key").query(&query).body(body).send()
        };
        let answer: Value =
            bulk(vec![domain.clone()], "").await.expect("apollo twin").json().await.expect("json");
        let doc = documented("apollo", "/api/v1/organizations/bulk_enrich", 200, |b| {
            b["organizations"][0].is_object()
        });
        assert_carries(&answer, &doc, "bulk answer");
        assert_carries(&answer["organizations"][0], &doc["organizations"][0], "organization");
        let eleven: Vec<String> = pop.companies.iter().take(11).map(|c| c.domain.clone()).collect();
        assert_eq!(bulk(eleven, "").await.expect("call").status().as_u16(), 400, "more than ten domains");
        assert_eq!(bulk(vec![domain.clone()], "{}").await.expect("call").status().as_u16(), 400, "a body");
        // ZeroBounce's validator wants ip_address (blank allowed), as documented.
        let validate = format!("{}/validate", sb.base_url("zerobounce"));
        let without: Value = http
            .get(&validate)
            .query(&[("api_key", "sandbox-key"), ("email", "dana@acme.com")])
            .send()
            .await
            .expect("call")
            .json()
            .await
            .expect("json");
        assert!(without["error"].as_str().is_some_and(|e| e.contains("ip_address")), "{without}");

        // A domain asked twice is one organization, billed once.
        let billed = sb.counters("apollo-organizations").billed;
        let twice: Value =
            bulk(vec![domain.clone(), domain], "").await.expect("call").json().await.expect("json");
        assert_eq!(
            (twice["total_requested_domains"].as_u64(), twice["unique_domains"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(twice["organizations"].as_array().map(Vec::len), Some(1), "{twice}");
        assert_eq!(twice["missing_records"], 0);
        assert_eq!(sb.counters("apollo-organizations").billed, billed + 1);
        sb.stop().await;
    }
}

/// `kill -9` of `leadsprint enrich` while it works, then a restart to the end: no
/// result committed before the kill is asked for again (counted at the twin), what
/// the store counts is what the providers billed, and every lead is enriched.
mod killed_and_restarted {
    use leadsprint::lead::{RawLead, Source as LeadSource};
    use leadsprint::pipeline::{Writer, prepare};
    use leadsprint::sources::sandbox::faults::FaultRates;
    use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};
    use leadsprint::store::Store;

    use crate::support::{Sandbox as Dir, spawn};

    const SPEED: &str = "100";

    fn campaign(sb: &Sandbox) -> String {
        format!(
            "[campaign]\nname = \"k\"\ntarget = 10\n[enrichment]\nenabled = true\ndns_server = \"{}\"\n\
             [enrichment.providers.hunter]\nbase_url = \"{}\"\n[enrichment.providers.apollo]\nbase_url = \"{}\"\n",
            sb.dns,
            sb.base_url("hunter"),
            sb.base_url("apollo")
        )
    }

    #[test]
    fn no_credit_is_spent_twice_across_a_kill_9() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let config = SandboxConfig {
            population: 3000,
            speed: 100.0,
            faults: FaultRates::NONE,
            ..SandboxConfig::default()
        };
        let sb = runtime.block_on(Sandbox::start(config)).expect("sandbox");
        let dir = Dir::new();
        {
            let mut writer = Writer::new(Store::open(&dir.data_dir()).expect("store")).expect("writer");
            let people = sb.population().people.iter().take(400);
            let records: Vec<RawLead> = people
                .map(|p| RawLead {
                    first_name: Some(p.first_name.clone()),
                    last_name: Some(p.last_name.clone()),
                    linkedin_url: Some(p.linkedin_url()),
                    company_name: Some(p.company.clone()),
                    company_domain: (p.index % 2 == 0).then(|| p.domain.clone()),
                    source: LeadSource::new("salesnav", "w", None, 1),
                    ..RawLead::default()
                })
                .collect();
            writer
                .write(records.iter().map(|r| prepare(r, "w", String::new, Vec::new, 1)).collect())
                .expect("leads");
            writer.finish().expect("closed");
        }
        let file = dir.write("campaign.toml", campaign(&sb));
        let enrich = || {
            let mut command =
                dir.command(&["enrich", "--config", file.to_str().expect("path"), "--speed", SPEED]);
            command.env("HUNTER_API_KEY", "sandbox-key").env("APOLLO_API_KEY", "sandbox-key");
            command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
            command
        };
        let mut first = spawn(&mut enrich());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while sb.hunter_finder_requests().len() < 120 {
            assert!(std::time::Instant::now() < deadline, "enrichment never got going");
            assert!(matches!(first.try_wait(), Ok(None)), "enrich ended before the kill");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        first.kill().expect("kill -9");
        let _ = first.wait();
        let asked_before = sb.hunter_finder_requests().len();

        // What the killed run committed: its leads' finder questions must not come back.
        // A lead without a domain may have been asked at the one other leads named for
        // its company: its person's true domain is asked for too.
        let page = |url: String| {
            let raw = RawLead { linkedin_url: Some(url), ..RawLead::default() };
            leadsprint::lead::normalize(&raw, 0).expect("a page").lead.linkedin_url.unwrap_or_default()
        };
        let true_domain: std::collections::HashMap<String, String> = sb
            .population()
            .people
            .iter()
            .take(400)
            .map(|p| (page(p.linkedin_url()), p.domain.clone()))
            .collect();
        let committed: Vec<String> = {
            let store = Store::open_existing(&dir.data_dir()).expect("store after the kill");
            let reader = store.reader().expect("reader");
            let leads: Vec<_> = reader.leads().expect("leads").map(|l| l.expect("lead")).collect();
            let known =
                leads.iter().filter(|l| l.linkedin_url.as_ref().is_some_and(|u| true_domain.contains_key(u)));
            assert_eq!(known.count(), leads.len(), "every lead's person is found by its page");
            leads
                .iter()
                .filter(|l| reader.enrichment(l.id).expect("record").is_some_and(|r| r.email_tried_at > 0))
                .flat_map(|l| {
                    let name = format!(
                        "{}|{}",
                        l.first_name.clone().unwrap_or_default(),
                        l.last_name.clone().unwrap_or_default()
                    );
                    let company = l.company.name.clone().unwrap_or_default();
                    let domain = l.company.domain.clone().unwrap_or_default();
                    let learnt = l.linkedin_url.as_ref().and_then(|u| true_domain.get(u)).cloned();
                    [
                        format!("{name}|{domain}").to_lowercase(),
                        format!("{name}|company:{company}").to_lowercase(),
                        format!("{name}|{}", learnt.unwrap_or_default()).to_lowercase(),
                    ]
                })
                .collect()
        };
        assert!(committed.len() >= 20, "the kill came before anything was committed: {}", committed.len());

        let status = enrich().status().expect("restart");
        assert_eq!(status.code(), Some(0), "the restarted enrichment finishes");
        let after = sb.hunter_finder_requests();
        let again: Vec<&String> = after[asked_before..].iter().filter(|q| committed.contains(q)).collect();
        assert!(again.is_empty(), "asked again after their results were committed: {again:?}");

        let store = Store::open_existing(&dir.data_dir()).expect("store");
        let reader = store.reader().expect("reader");
        for lead in reader.leads().expect("leads") {
            let lead = lead.expect("lead");
            let done = reader.enrichment(lead.id).expect("record").is_some_and(|r| r.email_tried_at > 0);
            assert!(
                done || lead.email_status == leadsprint::lead::EmailStatus::Suppressed,
                "lead {} not enriched",
                lead.id
            );
        }
        let spend: std::collections::BTreeMap<String, _> =
            reader.spend().expect("spend").into_iter().collect();
        let billed = sb.counters("hunter").billed as f64
            + 0.5 * sb.counters("hunter-verifier").billed as f64
            + 0.2 * sb.counters("hunter-company").billed as f64;
        // Never counted more than billed; what the kill lost is at most what was in
        // flight then (sixteen leads, a find and a verification each) and asked
        // again without a charge, unless the second answer was not a verdict.
        let counted = spend["hunter"].credits;
        assert!(counted <= billed + 1e-6, "counted {counted} of {billed} billed");
        assert!(billed - counted <= 16.0 * 1.5, "counted {counted} of {billed} billed");
        runtime.block_on(sb.stop());
    }
}

/// The demo as a user starts it, piped: all seven KPIs pass, enrichment included.
#[test]
fn the_demo_meets_every_kpi_with_enrichment() {
    let dir = crate::support::Sandbox::new();
    let out = dir.command(&["demo", "--headless", "--fresh", "--speed", "100"]).output().expect("demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let kpis: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("KPI"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(kpis.len(), 7, "{text}");
    let failed: Vec<&&str> = kpis.iter().filter(|l| !l.trim_end().ends_with("pass")).collect();
    assert!(failed.is_empty(), "KPIs failing: {failed:?}\n{text}");
    assert!(text.contains("enrichment:") && text.contains("hunter"), "{text}");
    let stats = dir.stats();
    assert!(stats["enrichment_cost"].as_f64().unwrap_or(0.0) > 0.0, "{stats}");
    assert!(stats["email_status"]["valid"].as_u64().unwrap_or(0) > 0, "{stats}");
    exports_carry_the_check(&dir, stats["email_status"]["valid"].as_u64().unwrap_or(0));
}

/// Search, CSV and JSONL agree on the valid addresses and say who checked each.
fn exports_carry_the_check(dir: &crate::support::Sandbox, valid: u64) {
    let found = dir.run(&["search", "email_status:valid", "--json", "--limit", "1"]).json();
    assert_eq!(found["total"].as_u64(), Some(valid), "{found}");
    let csv_path = dir.path("leads.csv");
    assert_eq!(dir.run(&["export", "csv", "--out", csv_path.to_str().unwrap()]).code, 0);
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name}"));
    let (status, by, raw, at) = (
        column("email_status"),
        column("email_checked_by"),
        column("email_raw_status"),
        column("email_checked_at"),
    );
    let mut checked_by = std::collections::BTreeMap::<String, u64>::new();
    for row in reader.records() {
        let row = row.unwrap();
        if row[status] == *"valid" {
            assert!(!row[raw].is_empty() && row[at].parse::<i64>().is_ok_and(|t| t > 0), "{row:?}");
            *checked_by.entry(row[by].to_owned()).or_default() += 1;
        }
    }
    assert_eq!(checked_by.values().sum::<u64>(), valid, "{checked_by:?}");
    assert!(!checked_by.contains_key("vendor"), "a sold status names its vendor: {checked_by:?}");
    assert!(checked_by.get("hunter").is_some_and(|&n| n > 0), "Hunter checked none: {checked_by:?}");
    let jsonl_path = dir.path("leads.jsonl");
    assert_eq!(dir.run(&["export", "jsonl", "--out", jsonl_path.to_str().unwrap()]).code, 0);
    let text = std::fs::read_to_string(&jsonl_path).unwrap();
    let hunter_checked = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["email_status"] == "valid" && l["email_check"]["provider"] == "hunter")
        .count() as u64;
    assert_eq!(hunter_checked, checked_by["hunter"]);
}

/// The MX step's real resolver against the sandbox's DNS server: MX, implicit MX
/// (address record only), null MX, a domain that does not exist; each domain asked
/// once a run; a server that never answers is given up on, not waited for.
mod mx_against_the_dns_twin {
    use leadsprint::enrich::mx::{MailDomain, MailResolver};
    use leadsprint::sources::sandbox::population::MailSetup;
    use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};

    #[tokio::test]
    async fn mx_implicit_mx_null_mx_and_missing_domains_are_told_apart() {
        let sb = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
        let resolver = MailResolver::new(Some(sb.dns)).expect("resolver");
        let domain_with = |setup: MailSetup| {
            sb.population().companies.iter().find(|c| c.mail == setup).map(|c| c.domain.clone()).expect("one")
        };
        let mx = domain_with(MailSetup::Mx);
        assert_eq!(resolver.mail_domain(&mx).await, MailDomain::Accepts);
        assert_eq!(resolver.mail_domain(&domain_with(MailSetup::AddressOnly)).await, MailDomain::Accepts);
        assert!(matches!(
            resolver.mail_domain(&domain_with(MailSetup::NullMx)).await,
            MailDomain::NoMail(why) if why.contains("null MX")
        ));
        assert!(matches!(
            resolver.mail_domain("no-such-company-anywhere.com").await,
            MailDomain::NoMail(why) if why.contains("does not exist")
        ));
        assert_eq!(resolver.mail_domain("gmail.com").await, MailDomain::Accepts);
        // Asked again, in another spelling: answered without asking DNS.
        let asked = sb.counters("dns").requests;
        assert_eq!(resolver.mail_domain(&format!(" {}. ", mx.to_uppercase())).await, MailDomain::Accepts);
        assert_eq!(sb.counters("dns").requests, asked);
        assert!(!resolver.gave_up());
    }

    #[tokio::test]
    async fn garbage_gets_no_answer_and_a_silent_server_is_given_up() {
        let sb = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(b"not a dns message", sb.dns).await.unwrap();
        let mut buf = [0u8; 512];
        let reply =
            tokio::time::timeout(std::time::Duration::from_millis(300), socket.recv_from(&mut buf)).await;
        assert!(reply.is_err(), "garbage was answered");
        assert_eq!(sb.counters("dns").requests, 1);

        // A socket that reads nothing: every ask times out, then DNS is asked no more.
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let wait = std::time::Duration::from_millis(100);
        let resolver =
            MailResolver::with_timeout(Some(silent.local_addr().unwrap()), wait).expect("resolver");
        let started = std::time::Instant::now();
        let mut verdicts = Vec::new();
        for i in 0..12 {
            verdicts.push(resolver.mail_domain(&format!("company{i}.com")).await);
        }
        assert!(verdicts.iter().all(|v| *v == MailDomain::Unknown), "{verdicts:?}");
        assert!(resolver.gave_up());
        let after_giving_up = std::time::Instant::now();
        assert_eq!(resolver.mail_domain("company99.com").await, MailDomain::Unknown);
        assert!(after_giving_up.elapsed() < std::time::Duration::from_millis(50), "asked after giving up");
        eprintln!("gave up after {:?}", started.elapsed());
    }
}

/// The cache outlives a campaign's leads: a new leads file in the same data dir
/// (`demo --fresh`, a second campaign) still has every paid answer.
#[test]
fn the_cache_outlives_the_leads_file() {
    use leadsprint::store::{CACHE_FILE, CacheEntry, DB_FILE, Store, StoreError};
    let dir = tempfile::tempdir().unwrap();
    let entry = CacheEntry { found: true, value: "\"dana@acme.com\"".into(), fetched_at: 7 };
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|b| -> Result<(), StoreError> {
                b.put_cache_entry("hunter|find|dana|wills|acme.com", &entry)
            })
            .unwrap();
        assert_eq!(
            store.reader().unwrap().cache_entry("hunter|find|dana|wills|acme.com").unwrap(),
            Some(entry.clone())
        );
    }
    std::fs::remove_file(dir.path().join(DB_FILE)).unwrap();
    assert!(dir.path().join(CACHE_FILE).exists());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.reader().unwrap().lead_count().unwrap(), 0, "a new campaign's leads");
    assert_eq!(store.reader().unwrap().cache_entry("hunter|find|dana|wills|acme.com").unwrap(), Some(entry));
}

/// The campaign's `[enrichment.providers.hunter] rate_limit` spaces Hunter's calls.
#[tokio::test]
async fn hunter_calls_are_spaced_to_the_campaigns_rate() {
    use leadsprint::config::Rate;
    use leadsprint::enrich::hunter::At;
    use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};
    let sb = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let domain = sb.population().companies[0].domain.clone();
    let rate = Rate { requests: 2, per: Duration::from_secs(1) };
    let hunter =
        Hunter::with_rate(&sb.base_url("hunter"), Secret::new("sandbox-key"), rate, REPLAY_TIMEOUT, 1.0)
            .expect("client");
    let started = std::time::Instant::now();
    for _ in 0..3 {
        hunter.count(&At::Domain(domain.clone())).await.expect("count");
    }
    // Two a second, no burst: the third call waits a second after the first.
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
    sb.stop().await;
}

//! Vendor conformance: each connector against a replay of the vendor's documented
//! requests and responses (`tests/fixtures/vendors/`), written from the vendors'
//! documentation rather than from our twins. A wrong route, parameter or body
//! field fails here even where a twin would accept it.

use std::sync::Arc;
use std::time::Duration;

use leadsprint::config::{ApolloQuery, BrightDataQuery, Costs, Rate, Secret, VendorKind, ZoomInfoQuery};
use leadsprint::http::{RequestMetrics, VendorClient};
use leadsprint::sources::apollo::{Apollo, ApolloCursor};
use leadsprint::sources::brightdata::{BrightData, BrightDataCursor};
use leadsprint::sources::spend::Spend;
use leadsprint::sources::zoominfo::{AUTH_RATE, ZoomInfo, ZoomInfoCursor};
use leadsprint::sources::{Link, SearchCursor};

use crate::support::replay::{Replay, scenario};

/// Fast enough that status polls (10 s of vendor time) take 10 ms.
const SPEED: f64 = 1000.0;

fn link(vendor: VendorKind, base: &str, page_size: u32, costs: Costs) -> Link {
    let rate = Rate { requests: 100, per: Duration::from_secs(1) };
    let client = VendorClient::new(vendor.name(), base, rate, Duration::from_secs(10), SPEED)
        .expect("client")
        .with_auth_limit(AUTH_RATE);
    let metrics = Arc::new(RequestMetrics::default());
    Link { client, workflow: "w".into(), page_size, costs, metrics, spend: Spend::unlimited(vendor) }
}

fn price(per_record: f64, per_credit: f64) -> Costs {
    Costs { per_request: 0.0, per_credit, per_record }
}

fn bd_query() -> BrightDataQuery {
    BrightDataQuery { title: "VP Sales".into(), location: "Austin, TX".into(), records_limit: Some(1000) }
}

#[tokio::test]
async fn brightdata_filter_snapshot_is_created_awaited_counted_and_downloaded_as_documented() {
    let replay = Replay::start(scenario("brightdata", "filter_wait_parts_download")).await;
    let link = link(VendorKind::Brightdata, &replay.url, 1000, price(0.0015, 0.0));
    let spend = link.spend.clone();
    let mut bd =
        BrightData::new(link, Secret::new("bd-key"), "gd_l1viktl72bvl7bjuj0".into(), bd_query(), 20_000);
    let mut cursor = BrightDataCursor::default();
    let mut pages = Vec::new();
    let error = loop {
        match bd.next_page(cursor.clone(), 0).await {
            Err(e) => break Some(e),
            Ok(page) => {
                let next = page.next.clone();
                pages.push(page);
                match next {
                    Some(c) => cursor = c,
                    None => break None,
                }
            }
        }
    };
    replay.assert_played();
    assert_eq!(error, None);
    assert_eq!(pages.len(), 3, "create; ready with its parts counted; the one part");
    assert!((pages[0].cost - 1000.0 * 0.0015).abs() < 1e-9, "billed at creation, at its limit");
    assert_eq!(pages[0].next.as_ref().and_then(|c| c.snapshot.as_deref()), Some("snap_m2bxug4e2o352v1jv1"));
    assert!((pages[1].cost + 998.0 * 0.0015).abs() < 1e-9, "corrected to the 2 records it holds");
    let total: f64 = pages.iter().map(|p| p.cost).sum();
    assert!((total - 2.0 * 0.0015).abs() < 1e-9, "{total}");
    assert!(spend.headroom().is_infinite());
    let records: Vec<_> = pages.iter().flat_map(|p| p.records.iter()).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].profile_ids, ["brightdata:dana-wills", "li:245026690"]);
    assert_eq!(records[0].company_name.as_deref(), Some("Acme Corp"));
    assert_eq!(records[1].job_title, None, "a hidden position stays empty");
}

#[tokio::test]
async fn brightdata_replaces_a_failed_snapshot_once_then_stops() {
    let replay = Replay::start(scenario("brightdata", "failed_then_missing")).await;
    let link = link(VendorKind::Brightdata, &replay.url, 1000, price(0.0015, 0.0));
    let mut bd =
        BrightData::new(link, Secret::new("bd-key"), "gd_l1viktl72bvl7bjuj0".into(), bd_query(), 20_000);
    let first = bd.next_page(BrightDataCursor::default(), 0).await.expect("create");
    let replaced = bd.next_page(first.next.clone().expect("cursor"), 0).await.expect("replace");
    let cursor = replaced.next.clone().expect("cursor");
    assert_eq!((cursor.snapshot.as_deref(), cursor.replaced), (Some("snap_missing0000000002"), 1));
    assert!((replaced.cost - 1.5).abs() < 1e-9, "the replacement is billed too: {}", replaced.cost);
    let notice = replaced.notice.expect("the replacement is shown");
    assert!(
        notice.contains("snap_failing0000000001") && notice.contains("snap_missing0000000002"),
        "{notice}"
    );
    let error = bd.next_page(cursor, 0).await.expect_err("a second loss stops the query");
    assert!(error.to_string().contains("already replaced once"), "{error}");
    replay.assert_played();
}

fn apollo_query() -> ApolloQuery {
    ApolloQuery {
        person_titles: vec!["vp sales".into(), "head of sales".into()],
        person_locations: vec!["Austin, US".into()],
        person_seniorities: vec![],
        q_keywords: None,
        organization_num_employees_ranges: vec![],
    }
}

#[tokio::test]
async fn apollo_searches_with_query_parameters_and_bills_what_bulk_match_reports() {
    let replay = Replay::start(scenario("apollo", "search_then_bulk_match")).await;
    let link = link(VendorKind::Apollo, &replay.url, 2, price(0.0, 0.025));
    let mut apollo = Apollo::new(link, Secret::new("apollo-key"), apollo_query());
    let mut cursor = ApolloCursor::default();
    let mut records = Vec::new();
    let mut credits = 0;
    loop {
        let page = apollo.next_page(cursor, 0).await.expect("page");
        records.extend(page.records);
        credits += page.credits;
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    replay.assert_played();
    assert_eq!(credits, 1, "one person found, one credit");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].emails, ["dana@acme.com"]);
    assert_eq!(records[0].company_domain.as_deref(), Some("acme.com"));
}

#[tokio::test]
async fn apollo_never_asks_for_a_page_past_500() {
    let replay = Replay::start(scenario("apollo", "last_displayed_page")).await;
    let link = link(VendorKind::Apollo, &replay.url, 2, price(0.0, 0.025));
    let mut apollo = Apollo::new(link, Secret::new("apollo-key"), apollo_query());
    let page = apollo.next_page(SearchCursor { page: 500, offset: 0 }, 0).await.expect("page 500");
    assert_eq!(page.next, None, "page 500 is the last Apollo shows, full or not");
    let past = apollo.next_page(SearchCursor { page: 501, offset: 0 }, 0).await.expect("no request");
    assert!(past.next.is_none() && past.requests == 0);
    replay.assert_played();
}

fn zoominfo_query() -> ZoomInfoQuery {
    ZoomInfoQuery {
        job_title: "VP Sales OR Head of Sales".into(),
        country: Some("United States".into()),
        management_level: Some("VP-Level".into()),
        department: None,
    }
}

#[tokio::test]
async fn zoominfo_authenticates_searches_documented_fields_and_enriches() {
    let replay = Replay::start(scenario("zoominfo", "authenticate_search_enrich")).await;
    let link = link(VendorKind::Zoominfo, &replay.url, 2, price(0.0, 0.10));
    let mut zi = ZoomInfo::new(link, Secret::new("zi-user"), Secret::new("zi-pass"), zoominfo_query());
    let page = zi.next_page(ZoomInfoCursor::default(), 0).await.expect("page");
    replay.assert_played();
    assert_eq!(page.next, None, "a short search page is the last");
    assert_eq!((page.records.len(), page.credits), (1, 1), "a credit per enriched contact");
    assert!((page.cost - 0.10).abs() < 1e-9);
    assert_eq!(page.records[0].linkedin_url.as_deref(), Some("https://linkedin.com/in/danawills"));
}

#[tokio::test]
async fn zoominfo_paging_past_its_limit_ends_the_query_with_a_notice() {
    let replay = Replay::start(scenario("zoominfo", "paging_past_the_limit")).await;
    let link = link(VendorKind::Zoominfo, &replay.url, 2, price(0.0, 0.10));
    let mut zi = ZoomInfo::new(link, Secret::new("zi-user"), Secret::new("zi-pass"), zoominfo_query());
    let page = zi.next_page(SearchCursor { page: 501, offset: 0 }, 0).await.expect("the end, not an error");
    replay.assert_played();
    assert!(page.next.is_none() && page.records.is_empty());
    assert!(page.notice.is_some_and(|n| n.contains("pagination")));
}

mod crm {
    use leadsprint::config::{Rate, Secret};
    use leadsprint::export::hubspot::HubSpot;
    use leadsprint::export::salesforce::{Auth, Salesforce, SalesforceTarget};
    use leadsprint::lead::Lead;
    use std::time::Duration;

    use crate::support::replay::{Replay, scenario};

    fn lead(id: u64, first: &str, last: &str, company: &str, email: &str) -> Lead {
        let mut lead = Lead {
            id,
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(email.into()),
            ..Lead::default()
        };
        lead.company.name = Some(company.into());
        lead
    }

    fn mapping(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(f, p)| ((*f).to_owned(), (*p).to_owned())).collect()
    }

    #[tokio::test]
    async fn hubspot_checks_its_properties_then_upserts_as_documented() {
        let replay = Replay::start(scenario("crm/hubspot", "properties_then_upsert")).await;
        let rate = Rate { requests: 100, per: Duration::from_secs(1) };
        let map =
            mapping(&[("email", "email"), ("first_name", "firstname"), ("linkedin_url", "linkedin_url")]);
        let mut hubspot = HubSpot::new(&replay.url, Secret::new("pat-na1-documented"), rate, map).unwrap();
        hubspot.prepare(false).await.expect("every mapped property exists");
        let mut dana = lead(1, "Dana", "Wills", "Acme Corp", "dana@acme.com");
        dana.linkedin_url = Some("https://www.linkedin.com/in/dana-wills".into());
        let sam = lead(2, "Sam", "Ortiz", "Initech", "sam@initech.com");
        hubspot.send(&[dana, sam]).await.expect("send");
        replay.assert_played();
        let report = hubspot.into_report();
        assert_eq!((report.created, report.updated, report.failed.len()), (1, 1, 0), "{report:?}");
    }

    #[tokio::test]
    async fn salesforce_signs_in_and_runs_a_bulk_job_as_documented() {
        let replay = Replay::start(scenario("crm/salesforce", "upsert_job")).await;
        let target = SalesforceTarget {
            login_url: replay.url.clone(),
            auth: Auth::ClientCredentials {
                client_id: "3MVG9-documented".into(),
                client_secret: Secret::new("documented-secret"),
            },
            external_id: Some("Leadsprint_Id__c".into()),
            mapping: mapping(&[("last_name", "LastName"), ("company", "Company"), ("email", "Email")]),
            rate: Rate { requests: 100, per: Duration::from_secs(1) },
            poll: Duration::from_millis(10),
        };
        let mut salesforce = Salesforce::new(target).unwrap();
        salesforce.sign_in().await.expect("sign in");
        let leads = [
            lead(1, "Dana", "Wills", "Acme Corp", "dana@acme.com"),
            lead(2, "Sam", "Ortiz", "Initech", "bad@@initech"),
        ];
        salesforce.send(&leads).await.expect("send");
        replay.assert_played();
        let report = salesforce.into_report();
        assert_eq!((report.created, report.updated), (1, 0), "{report:?}");
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].0, 2);
        assert!(report.failed[0].1.starts_with("INVALID_EMAIL_ADDRESS"), "{report:?}");
    }
}

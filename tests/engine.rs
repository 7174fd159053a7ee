//! The engine against the sandbox: workflows page to exhaustion in parallel into
//! one store, resume from their committed cursors, and stop at the target.

use std::time::Duration;

use leadsprint::config::{self, Flags, Settings, Source};
use leadsprint::engine::{self, RunOptions, stats::RunStats};
use leadsprint::sources::sandbox::faults::FaultRates;
use leadsprint::sources::sandbox::population::Vendor;
use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};
use leadsprint::store::Store;
use tokio::sync::watch;

const SPEED: f64 = 25.0;

fn apollo_campaign(sb: &Sandbox, target: u64) -> Settings {
    apollo_campaign_with(sb, target, "")
}

/// The two-workflow Apollo campaign, with `vendor_lines` added to the vendor's table.
fn apollo_campaign_with(sb: &Sandbox, target: u64, vendor_lines: &str) -> Settings {
    let text = format!(
        "[campaign]\nname = \"test\"\ntarget = {target}\n\
         [vendors.apollo]\nbase_url = \"{}\"\napi_key_env = \"APOLLO_API_KEY\"\npage_size = 50\n{vendor_lines}\
         [[workflow]]\nname = \"perf\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"performance marketing manager\"] }}\n\
         [[workflow]]\nname = \"paid\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"ppc manager\"] }}\n",
        sb.base_url("apollo")
    );
    let env = |k: &str| (k == "APOLLO_API_KEY").then(|| "sandbox-key".to_owned());
    config::load(Source { origin: "test.toml", text: &text }, &env, &Flags::default()).expect("settings")
}

async fn run(settings: &Settings, dir: &std::path::Path) -> RunStats {
    let store = Store::open(dir).expect("store");
    let (tx, _rx) = watch::channel(RunStats::default());
    engine::run(settings, store, RunOptions { speed: SPEED, plan: None }, tx, |_| {})
        .await
        .expect("engine run")
}

fn sandbox_config() -> SandboxConfig {
    SandboxConfig { population: 3000, speed: SPEED, ..SandboxConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_run_to_exhaustion_and_a_rerun_adds_nothing() {
    let sb = Sandbox::start(sandbox_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = apollo_campaign(&sb, 1_000_000);
    let stats = run(&settings, dir.path()).await;
    let expected = sb.population().matching(Vendor::Apollo, &["performance", "paid"], &[]).count() as u64;
    assert_eq!(stats.unique_leads, expected);
    assert!(stats.workflows.iter().all(|w| w.state.label() == "done"), "{:?}", stats.workflows);
    let perf = stats.workflows.iter().find(|w| w.name == "perf").unwrap();
    assert!(perf.requests > 0 && perf.records > 0 && perf.new_leads > 0);
    assert_eq!(perf.duplicates, 0, "the two queries do not overlap");
    assert!((perf.cost - perf.credits as f64 * 0.0).abs() < 1e-9);
    let requests_before = sb.counters("apollo").requests;

    let again = run(&settings, dir.path()).await;
    assert_eq!(again.unique_leads, expected);
    assert_eq!(sb.counters("apollo").requests, requests_before, "finished workflows are not fetched again");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_stops_at_the_target_and_resumes_from_its_cursor() {
    let sb = Sandbox::start(sandbox_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stats = run(&apollo_campaign(&sb, 200), dir.path()).await;
    assert!(
        stats.unique_leads >= 200 && stats.unique_leads < 300,
        "stopped near the target: {}",
        stats.unique_leads
    );
    assert!(stats.workflows.iter().all(|w| w.state.label() == "stopped"));
    let store = Store::open(dir.path()).unwrap();
    let records = store.reader().unwrap().workflows().unwrap();
    assert!(records["perf"].cursor.is_some() && !records["perf"].done);
    drop(store);
    let all = sb.population().matching(Vendor::Apollo, &["performance", "paid"], &[]).count() as u64;
    let finished = run(&apollo_campaign(&sb, 1_000_000), dir.path()).await;
    assert_eq!(finished.unique_leads, all, "resuming finishes the job");
    let store = Store::open(dir.path()).unwrap();
    let counters = store.reader().unwrap().counters().unwrap();
    assert_eq!(counters.duplicates_merged, 0, "no page was fetched twice");
    assert_eq!(counters.records_received, all);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_fails_its_workflows_with_a_clear_reason() {
    let sb = Sandbox::start(sandbox_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[campaign]\nname = \"t\"\ntarget = 10\n[vendors.apollo]\nbase_url = \"{}\"\napi_key_env = \"NOT_SET_ANYWHERE\"\n\
         [[workflow]]\nname = \"a\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"ppc\"] }}\n",
        sb.base_url("apollo")
    );
    let settings = config::load(Source { origin: "t", text: &text }, &|_| None, &Flags::default()).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(30), run(&settings, dir.path())).await.unwrap();
    let w = &stats.workflows[0];
    assert_eq!(w.state.label(), "failed");
    assert!(format!("{:?}", w.state).contains("NOT_SET_ANYWHERE is not set"), "{:?}", w.state);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesnav_inbox_files_import_once_and_move_to_done() {
    let sb = Sandbox::start(sandbox_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("inbox").join("segment");
    let files =
        leadsprint::sources::sandbox::salesnav::write_exports(sb.population(), &folder, &["paid"], 100)
            .unwrap();
    assert!(files >= 2, "{files}");
    let text = "[campaign]\nname = \"t\"\ntarget = 1000000\n[vendors.salesnav]\ninbox = \"inbox\"\n\
                [[workflow]]\nname = \"sn\"\nvendor = \"salesnav\"\nquery = { inbox = \"segment\" }\n";
    let settings = config::load(Source { origin: "t", text }, &|_| None, &Flags::default()).unwrap();
    let stats = run(&settings, dir.path()).await;
    let people = sb.population().matching(Vendor::SalesNav, &["paid"], &[]).count() as u64;
    assert_eq!(stats.unique_leads, people);
    assert_eq!(stats.workflows[0].state.label(), "done");
    assert_eq!(stats.workflows[0].quarantined, files as u64, "one broken row per file, quarantined");
    let waiting: Vec<_> =
        std::fs::read_dir(&folder).unwrap().filter_map(Result::ok).filter(|e| e.path().is_file()).collect();
    assert!(waiting.is_empty(), "every committed file moved to done/");
    assert_eq!(std::fs::read_dir(folder.join("done")).unwrap().count(), files);
    let store = Store::open(dir.path()).unwrap();
    let q = store.reader().unwrap().quarantine().unwrap().next().unwrap().unwrap();
    assert_eq!(q.origin, "sn");
    assert!(q.position.starts_with("export-001.csv line "), "{}", q.position);
    drop(store);
    let pages_before = Store::open(dir.path()).unwrap().reader().unwrap().workflows().unwrap()["sn"].pages;
    // New exports arrive after the inbox ran empty: the next run reads them, and only them.
    let more = tempfile::tempdir().unwrap();
    let added = leadsprint::sources::sandbox::salesnav::write_exports(
        sb.population(),
        more.path(),
        &["operations"],
        100,
    )
    .unwrap();
    for entry in std::fs::read_dir(more.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), folder.join(format!("new-{}", entry.file_name().to_string_lossy())))
            .unwrap();
    }
    let again = run(&settings, dir.path()).await;
    let operations = sb.population().matching(Vendor::SalesNav, &["operations"], &[]).count() as u64;
    assert_eq!(again.unique_leads, people + operations, "the new files' people are added");
    let store = Store::open(dir.path()).unwrap();
    let record = &store.reader().unwrap().workflows().unwrap()["sn"];
    assert_eq!(
        record.pages,
        pages_before + added as u64 + 1,
        "each new file read once (plus the empty-inbox page)"
    );
    assert_eq!(record.quarantined, (files + added) as u64);
    let pages = record.pages;
    drop(store);
    // A new file under a name already archived is read too, and archived beside the old one.
    std::fs::copy(more.path().join("export-001.csv"), folder.join("export-001.csv")).unwrap();
    run(&settings, dir.path()).await;
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.reader().unwrap().workflows().unwrap()["sn"].pages, pages + 2);
    assert!(folder.join("done").join("export-001.csv.1").exists());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_stop_one_vendor_while_the_others_go_on() {
    let sb = Sandbox::start(sandbox_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[campaign]\nname = \"t\"\ntarget = 1000000\n\
         [vendors.apollo]\nbase_url = \"{}\"\napi_key_env = \"APOLLO_API_KEY\"\n\
         [vendors.brightdata]\nbase_url = \"{}\"\napi_key_env = \"BRIGHTDATA_API_KEY\"\n\
         [[workflow]]\nname = \"a1\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"ppc\"] }}\n\
         [[workflow]]\nname = \"a2\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"growth\"] }}\n\
         [[workflow]]\nname = \"bd\"\nvendor = \"brightdata\"\nquery = {{ title = \"PPC Manager\", location = \"Chicago, IL\" }}\n",
        sb.base_url("apollo"),
        sb.base_url("brightdata")
    );
    let env = |k: &str| match k {
        "APOLLO_API_KEY" => Some("revoked".to_owned()),
        "BRIGHTDATA_API_KEY" => Some("sandbox-key".to_owned()),
        _ => None,
    };
    let settings = config::load(Source { origin: "t", text: &text }, &env, &Flags::default()).unwrap();
    let stats = run(&settings, dir.path()).await;
    let state = |name: &str| stats.workflows.iter().find(|w| w.name == name).unwrap().state.clone();
    assert_eq!(state("a1").label(), "failed");
    assert_eq!(state("a2").label(), "failed");
    assert!(format!("{:?}", state("a1")).contains("401") || format!("{:?}", state("a2")).contains("401"));
    assert_eq!(state("bd").label(), "done");
    let expected = sb.population().matching(Vendor::BrightData, &["paid"], &[3]).count() as u64;
    assert_eq!(stats.unique_leads, expected);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_workflow_fetches_nothing_until_resumed() {
    let sb = Sandbox::start(sandbox_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = apollo_campaign(&sb, 1_000_000);
    let store = Store::open(dir.path()).unwrap();
    let (tx, mut rx) = watch::channel(RunStats::default());
    let (control_tx, control_rx) = tokio::sync::oneshot::channel();
    let engine = tokio::spawn(async move {
        engine::run(&settings, store, RunOptions { speed: SPEED, plan: None }, tx, |c| {
            c.set_paused("perf", true);
            let _ = control_tx.send(c);
        })
        .await
    });
    let control = control_rx.await.unwrap();
    // Wait until "paid" is done while "perf" stays paused with nothing fetched.
    loop {
        rx.changed().await.unwrap();
        let s = rx.borrow().clone();
        let perf = s.workflows.iter().find(|w| w.name == "perf").unwrap().clone();
        assert_eq!(perf.requests, 0, "a paused workflow sends nothing");
        if s.workflows.iter().any(|w| w.name == "paid" && w.state.label() == "done") {
            assert_eq!(perf.state.label(), "paused");
            break;
        }
    }
    assert!(control.set_paused("perf", false));
    assert!(!control.set_paused("no-such-workflow", false));
    let stats = engine.await.unwrap().unwrap();
    assert!(stats.workflows.iter().all(|w| w.state.label() == "done"), "{:?}", stats.workflows);
    let all = sb.population().matching(Vendor::Apollo, &["performance", "paid"], &[]).count() as u64;
    assert_eq!(stats.unique_leads, all);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_ends_the_run_even_with_a_paused_workflow() {
    let sb = Sandbox::start(sandbox_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = apollo_campaign(&sb, 1_000_000);
    let store = Store::open(dir.path()).unwrap();
    let (tx, _rx) = watch::channel(RunStats::default());
    let (control_tx, control_rx) = tokio::sync::oneshot::channel();
    let engine = tokio::spawn(async move {
        engine::run(&settings, store, RunOptions { speed: SPEED, plan: None }, tx, |c| {
            c.set_paused("perf", true);
            c.set_paused("paid", true);
            let _ = control_tx.send(c);
        })
        .await
    });
    let control = control_rx.await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    control.cancel.cancel();
    let stats =
        tokio::time::timeout(Duration::from_secs(10), engine).await.expect("the run ends").unwrap().unwrap();
    assert!(stats.workflows.iter().all(|w| w.state.label() == "stopped"), "{:?}", stats.workflows);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_takes_effect_within_its_grace_even_while_a_vendor_stalls() {
    // Every request stalls until the client gives up: 120 s of vendor time, 4.8 s here.
    let faults = FaultRates { timeout: 100.0, ..FaultRates::NONE };
    let sb = Sandbox::start(SandboxConfig { faults, ..sandbox_config() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = apollo_campaign_with(&sb, 1_000_000, "timeout = \"120s\"\n");
    let store = Store::open(dir.path()).unwrap();
    let (tx, mut rx) = watch::channel(RunStats::default());
    let (control_tx, control_rx) = tokio::sync::oneshot::channel();
    let engine = tokio::spawn(async move {
        engine::run(&settings, store, RunOptions { speed: SPEED, plan: None }, tx, |c| {
            let _ = control_tx.send(c);
        })
        .await
    });
    let control = control_rx.await.unwrap();
    while sb.counters("apollo").requests < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = std::time::Instant::now();
    assert!(control.set_paused("perf", true));
    let state = |s: &RunStats| s.workflows.iter().find(|w| w.name == "perf").map(|w| w.state.label());
    let limit = engine::PAUSE_GRACE + Duration::from_millis(1500);
    tokio::time::timeout(limit, rx.wait_for(|s| state(s) == Some("paused")))
        .await
        .expect("perf shows paused soon after the grace, its stalled request abandoned")
        .unwrap();
    let paused_after = asked.elapsed();
    assert!(paused_after >= engine::PAUSE_GRACE, "the page in flight had its grace: {paused_after:?}");
    let requests = sb.counters("apollo").requests;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(state(&rx.borrow()), Some("paused"), "it stays paused");
    assert!(
        sb.counters("apollo").requests <= requests + 1,
        "only the other workflow may send (one stalled request at a time): {paused_after:?}"
    );
    control.cancel.cancel();
    let stats =
        tokio::time::timeout(Duration::from_secs(10), engine).await.expect("the run ends").unwrap().unwrap();
    assert!(stats.workflows.iter().all(|w| w.state.label() == "stopped"), "{:?}", stats.workflows);
    sb.stop().await;
}

/// The three API vendors, priced, over the sandbox: `extra` goes in the campaign.
fn priced_campaign(sb: &Sandbox, brightdata_lines: &str, workflows: &str) -> Settings {
    let text = format!(
        "[campaign]\nname = \"t\"\ntarget = 1000000\n\
         [vendors.apollo]\nbase_url = \"{}\"\napi_key_env = \"KEY\"\ncost_per_credit = 0.025\n\
         [vendors.brightdata]\nbase_url = \"{}\"\napi_key_env = \"KEY\"\ncost_per_record = 0.0015\n{brightdata_lines}\
         [vendors.zoominfo]\nbase_url = \"{}\"\nusername_env = \"USER\"\npassword_env = \"KEY\"\ncost_per_credit = 0.10\n\
         {workflows}",
        sb.base_url("apollo"),
        sb.base_url("brightdata"),
        sb.base_url("zoominfo"),
    );
    let env = |k: &str| match k {
        "KEY" => Some("sandbox-key".to_owned()),
        "USER" => Some("user".to_owned()),
        _ => None,
    };
    config::load(Source { origin: "t", text: &text }, &env, &Flags::default()).expect("settings")
}

fn cost_of(stats: &RunStats, vendor: &str) -> f64 {
    stats.workflows.iter().filter(|w| w.vendor == vendor).map(|w| w.cost).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_counted_is_what_each_vendor_billed() {
    let sb =
        Sandbox::start(SandboxConfig { population: 6000, speed: 50.0, ..sandbox_config() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let workflows = "[[workflow]]\nname = \"bd1\"\nvendor = \"brightdata\"\nquery = { title = \"PPC Manager\", location = \"Chicago, IL\" }\n\
         [[workflow]]\nname = \"bd2\"\nvendor = \"brightdata\"\nquery = { title = \"Paid Media Manager\", location = \"\", records_limit = 1200 }\n\
         [[workflow]]\nname = \"ap\"\nvendor = \"apollo\"\nquery = { person_titles = [\"growth marketing manager\"] }\n\
         [[workflow]]\nname = \"zi\"\nvendor = \"zoominfo\"\nquery = { jobTitle = \"performance marketing\", country = \"United States\" }\n";
    let settings = priced_campaign(&sb, "", workflows);
    let stats = run(&settings, dir.path()).await;
    assert!(stats.workflows.iter().all(|w| w.state.label() == "done"), "{:?}", stats.workflows);
    for (vendor, price) in [("brightdata", 0.0015), ("apollo", 0.025), ("zoominfo", 0.10)] {
        let billed = sb.counters(vendor).billed;
        assert!(billed > 0, "{vendor} billed something");
        let counted = cost_of(&stats, vendor);
        assert!(
            (counted - billed as f64 * price).abs() < 1e-6,
            "{vendor}: counted ${counted}, billed {billed} units"
        );
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spend_cap_stops_a_vendor_before_it_overspends() {
    let sb =
        Sandbox::start(SandboxConfig { population: 6000, speed: 50.0, ..sandbox_config() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let workflows = "[[workflow]]\nname = \"bd1\"\nvendor = \"brightdata\"\nquery = { title = \"Paid Media Manager\", location = \"\", records_limit = 500 }\n\
         [[workflow]]\nname = \"bd2\"\nvendor = \"brightdata\"\nquery = { title = \"PPC Manager\", location = \"\", records_limit = 500 }\n\
         [[workflow]]\nname = \"ap\"\nvendor = \"apollo\"\nquery = { person_titles = [\"growth marketing manager\"] }\n";
    // $0.50 buys 333 records: one snapshot, cut to fit; the second finds the cap reached.
    let settings = priced_campaign(&sb, "spend_cap = 0.5\n", workflows);
    let stats = run(&settings, dir.path()).await;
    let billed = sb.counters("brightdata").billed as f64 * 0.0015;
    assert!(billed <= 0.5 + 1e-9, "Bright Data billed ${billed} against a $0.50 cap");
    assert!((cost_of(&stats, "brightdata") - billed).abs() < 1e-6);
    let states: Vec<String> = stats
        .workflows
        .iter()
        .filter(|w| w.vendor == "brightdata")
        .map(|w| format!("{:?}", w.state))
        .collect();
    assert_eq!(states.iter().filter(|s| s.contains("Done")).count(), 1, "{states:?}");
    let stopped = states.iter().find(|s| s.contains("Failed")).expect("one workflow stopped");
    assert!(stopped.contains("vendors.brightdata.spend_cap"), "{stopped}");
    let apollo = stats.workflows.iter().find(|w| w.name == "ap").unwrap();
    assert_eq!(apollo.state.label(), "done", "another vendor goes on");
    sb.stop().await;
}

//! Alerts end to end: the demo's milestones and completion reach a Slack webhook
//! and an SMTP server exactly once, a 429 from the webhook is waited out, a
//! vendor forced to fail gives one grouped alert, repeated only after the repeat
//! interval, not re-sent by a restart, and resolved when the vendor recovers; a
//! dead webhook turns its sink off and says so.

use std::sync::Arc;
use std::time::Duration;

use leadsprint::alerts::rules::Observation;
use leadsprint::alerts::{self, Alerting};
use leadsprint::config::{self, Flags, Settings, Source};
use leadsprint::engine::{self, RunOptions, stats::RunStats};
use leadsprint::pipeline::{Intake, Writer};
use leadsprint::sources::sandbox::faults::FaultRates;
use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};
use leadsprint::store::Store;
use tokio::sync::watch;

use crate::support::Sandbox as TestDir;
use crate::support::alert_sinks::{SlackCatcher, SlackReply, SmtpSink};

fn count(texts: &[String], rule: &str) -> usize {
    texts.iter().map(|t| t.matches(rule).count()).sum()
}

#[test]
fn the_demo_sends_its_milestones_and_completion_once_and_a_rerun_sends_nothing() {
    // Slack's first answer is a 429 asking for a second's wait.
    let slack =
        SlackCatcher::start(vec![SlackReply { status: 429, retry_after: Some(1), body: "rate_limited" }]);
    let smtp = SmtpSink::start();
    let dir = TestDir::new();
    let demo = |dir: &TestDir| {
        let out = dir
            .command(&["demo", "--headless", "--speed", "100", "--target", "4000"])
            .env("LEADSPRINT_SLACK_WEBHOOK_URL", &slack.url)
            .env("LEADSPRINT_SMTP_URL", smtp.url())
            .env("LEADSPRINT_ALERT_EMAIL_TO", "growth@example.com, ops@example.com")
            .output()
            .expect("demo runs");
        assert!(out.status.success(), "demo failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let output = demo(&dir);
    assert!(!output.contains("/services/T000"), "the webhook URL is a secret: {output}");
    let texts = slack.texts();
    for rule in ["milestone_50", "milestone_100", "run_complete"] {
        assert_eq!(count(&texts, rule), 1, "{rule} once in Slack: {texts:#?}");
    }
    // The 429 was honoured: the retry came a second later, and nothing was lost.
    let arrivals = slack.arrivals();
    assert!(arrivals.len() >= 2, "{arrivals:?}");
    assert!(arrivals[1] - arrivals[0] >= Duration::from_millis(950), "Retry-After ignored: {arrivals:?}");
    // Slack's pace: a second between messages.
    for pair in arrivals.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(950), "faster than 1 message/s: {arrivals:?}");
    }
    // Info alerts reach email in a digest, to both addresses, once each.
    let mails = smtp.messages();
    assert!(!mails.is_empty(), "no email");
    let bodies: Vec<String> = mails.iter().map(|m| m.data.clone()).collect();
    for rule in ["milestone_50", "milestone_100", "run_complete"] {
        let in_bodies: usize = bodies.iter().map(|b| b.matches(&format!("] {rule}:")).count()).sum();
        assert_eq!(in_bodies, 1, "{rule} once by email: {bodies:#?}");
    }
    assert!(mails.iter().all(|m| m.to.len() == 2), "{mails:?}");

    // Again over the same store: nothing new to say.
    let before = slack.messages().len();
    let mails_before = smtp.messages().len();
    demo(&dir);
    assert_eq!(slack.texts()[before..], [] as [String; 0], "a rerun re-sends nothing");
    assert_eq!(smtp.messages().len(), mails_before);
    // The notices are in the store for the UI and the API.
    let logged = dir.run(&["stats", "--json"]);
    assert_eq!(logged.code, 0);
}

const SPEED: f64 = 1000.0;

/// The two-workflow Apollo campaign against `sb`, alerting to `webhook` with
/// Alertmanager's default waits (30 s, 5 m) and a 20-minute repeat.
fn campaign(sb: &Sandbox, webhook: &str) -> Settings {
    let text = format!(
        "[campaign]\nname = \"alerts\"\ntarget = 1000000\n\
         [vendors.apollo]\nbase_url = \"{}\"\napi_key_env = \"APOLLO_API_KEY\"\npage_size = 50\n\
         [alerts]\nrepeat_interval = \"20m\"\n\
         [[workflow]]\nname = \"perf\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"performance marketing manager\"] }}\n\
         [[workflow]]\nname = \"paid\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"ppc manager\"] }}\n",
        sb.base_url("apollo")
    );
    let webhook = webhook.to_owned();
    let env = move |k: &str| match k {
        "APOLLO_API_KEY" => Some("sandbox-key".to_owned()),
        "LEADSPRINT_SLACK_WEBHOOK_URL" => Some(webhook.clone()),
        _ => None,
    };
    config::load(Source { origin: "alerts.toml", text: &text }, &env, &Flags::default()).expect("settings")
}

async fn sprint(settings: &Settings, intake: &Intake) -> RunStats {
    let (tx, _rx) = watch::channel(RunStats::default());
    engine::run_on(settings, intake, RunOptions { speed: SPEED, plan: None }, tx, |_| {}).await.expect("run")
}

fn intake(dir: &std::path::Path) -> Intake {
    Intake::start(Writer::new(Store::open(dir).expect("store")).expect("writer"))
}

/// Observes `last` every 20 ms for `real` time, or until `done` says so.
async fn observe_until(
    alerting: &mut Alerting,
    settings: &Settings,
    store: &Store,
    last: &RunStats,
    real: Duration,
    done: impl Fn() -> bool,
) {
    let until = std::time::Instant::now() + real;
    while std::time::Instant::now() < until && !done() {
        let obs = Observation::gather(settings, &store.reader().unwrap(), last, None).unwrap();
        alerting.observe(&obs).await.expect("observe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn observe_for(
    alerting: &mut Alerting,
    settings: &Settings,
    store: &Store,
    last: &RunStats,
    real: Duration,
) {
    observe_until(alerting, settings, store, last, real, || false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_vendor_is_one_grouped_alert_repeated_after_its_interval_and_resolved() {
    let slack = SlackCatcher::start(Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let intake = intake(dir.path());
    let store = intake.store();
    // Every Apollo request fails: both workflows trip their breakers and stop.
    let failing = FaultRates { server_error: 100.0, ..FaultRates::NONE };
    let sb = Sandbox::start(SandboxConfig {
        population: 2000,
        speed: SPEED,
        faults: failing,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let settings = campaign(&sb, &slack.url);
    let last = sprint(&settings, &intake).await;
    assert!(last.workflows.iter().all(|w| w.state.label() == "failed"), "{:?}", last.workflows);

    // Waits at speed 1000: group wait 30 ms, group interval 300 ms, repeat 1.2 s.
    let mut alerting = Alerting::start(&settings, store.clone(), SPEED).unwrap();
    observe_for(&mut alerting, &settings, &store, &last, Duration::from_millis(600)).await;
    let texts = slack.texts();
    assert_eq!(texts.len(), 1, "one notice for the vendor: {texts:#?}");
    let first = &slack.messages()[0].1;
    assert!(texts[0].contains("vendor_down"), "{texts:?}");
    assert!(
        !texts[0].contains("error_rate") && !texts[0].contains("breaker_open"),
        "muted by vendor_down: {texts:?}"
    );
    let summary = first.to_string();
    assert!(summary.contains("perf:") && summary.contains("paid:"), "both workflows in one alert: {summary}");

    // A restart: the state is in the store, so nothing is re-sent early...
    drop(alerting);
    let mut alerting = Alerting::open(&settings, store.clone(), SPEED).unwrap();
    observe_for(&mut alerting, &settings, &store, &last, Duration::from_millis(100)).await;
    assert_eq!(slack.texts().len(), 1, "a restart re-sends nothing");
    // ...and the repeat comes once the repeat interval has passed.
    let repeated = || slack.messages().len() >= 2;
    observe_until(&mut alerting, &settings, &store, &last, Duration::from_secs(10), repeated).await;
    let messages = slack.messages();
    assert_eq!(messages.len(), 2, "{:#?}", slack.texts());
    let gap = messages[1].0 - messages[0].0;
    assert!(gap >= Duration::from_millis(1150), "repeated after {gap:?}, before the 1.2 s interval");
    assert!(slack.texts()[1].contains("(still)"), "{:?}", slack.texts());

    // The vendor recovers: the next run's workflows work, the alert resolves.
    sb.stop().await;
    let healthy =
        Sandbox::start(SandboxConfig { population: 2000, speed: SPEED, ..SandboxConfig::default() })
            .await
            .unwrap();
    let settings = campaign(&healthy, &slack.url);
    let recovered = sprint(&settings, &intake).await;
    assert!(recovered.workflows.iter().all(|w| w.state.label() == "done"), "{:?}", recovered.workflows);
    let resolved = || slack.messages().len() >= 3;
    observe_until(&mut alerting, &settings, &store, &recovered, Duration::from_secs(10), resolved).await;
    // Then nothing more: the group is told all.
    observe_for(&mut alerting, &settings, &store, &recovered, Duration::from_millis(400)).await;
    let texts = slack.texts();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(texts[2].contains("resolved: vendor_down"), "{texts:?}");
    let view = alerts::view(&store.reader().unwrap(), 10).unwrap();
    assert!(view.firing.is_empty(), "nothing fires: {:?}", view.firing);
    assert_eq!(view.notices.len(), 3);
    drop(alerting);
    drop(store);
    intake.finish().unwrap();
    healthy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_webhook_turns_its_sink_off_and_says_so() {
    let slack = SlackCatcher::start(vec![SlackReply { status: 404, retry_after: None, body: "no_service" }]);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let sb = Sandbox::start(SandboxConfig { population: 500, speed: SPEED, ..SandboxConfig::default() })
        .await
        .unwrap();
    let settings = campaign(&sb, &slack.url);
    let mut alerting = Alerting::open(&settings, store.clone(), 1.0).unwrap();
    let first = alerting.test().await.unwrap();
    assert!(!first[0].ok, "{first:?}");
    let second = alerting.test().await.unwrap();
    assert!(second.is_empty(), "a dead webhook is not called again: {second:?}");
    assert_eq!(slack.arrivals().len(), 1);
    // Stays off across a restart, and the UI's API says why.
    drop(alerting);
    let alerting = Alerting::open(&settings, store.clone(), 1.0).unwrap();
    assert!(alerting.sink_statuses()[0].disabled.as_deref().is_some_and(|d| d.contains("no_service")));
    let view = alerts::view(&store.reader().unwrap(), 10).unwrap();
    assert!(view.sinks[0].disabled.is_some(), "{:?}", view.sinks);
    sb.stop().await;
}

#[test]
fn alerts_test_reports_each_sink_and_says_what_to_set_when_none_is() {
    let dir = TestDir::new();
    let none = dir.command(&["alerts", "test"]).env_remove("LEADSPRINT_SLACK_WEBHOOK_URL").output().unwrap();
    assert_eq!(none.status.code(), Some(1));
    let text = String::from_utf8_lossy(&none.stdout);
    assert!(
        text.contains("no alert sink configured") && text.contains("LEADSPRINT_SLACK_WEBHOOK_URL"),
        "{text}"
    );

    let slack = SlackCatcher::start(Vec::new());
    let smtp = SmtpSink::start();
    let out = dir
        .command(&["alerts", "test"])
        .env("LEADSPRINT_SLACK_WEBHOOK_URL", &slack.url)
        .env("LEADSPRINT_SMTP_URL", smtp.url())
        .env("LEADSPRINT_ALERT_EMAIL_TO", "ops@example.com")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("ok   slack") && text.contains("ok   email"), "{text}");
    assert!(slack.texts()[0].contains("test"), "{:?}", slack.texts());
    assert!(smtp.messages()[0].data.contains("a test alert from"), "{:?}", smtp.messages());
}

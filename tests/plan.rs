//! `leadsprint plan` against the demo: the forecast's time to target is the
//! demo's, measured by running the demo's collection (the built-in campaign on
//! the sandbox with its bad-day faults) in vendor time.

use std::process::Command;

use leadsprint::config::{self, Flags, Source};
use leadsprint::engine::{self, RunOptions, stats::RunStats};
use leadsprint::sources::sandbox::faults::FaultRates;
use leadsprint::sources::sandbox::salesnav;
use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};
use leadsprint::store::Store;
use tokio::sync::watch;

/// Slow enough that this machine's own work per request (milliseconds) stays
/// small beside the vendors' paces, which the plan models.
const SPEED: f64 = 2.0;

fn plan_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_leadsprint")).args(args).output().expect("leadsprint runs");
    assert!(out.status.success(), "plan failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("plan --json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_forecasts_the_demos_time_to_target_within_a_quarter() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let plan = plan_json(&["--data-dir", data, "plan", "--demo", "--json"]);
    let forecast = plan["time_to_target_seconds"].as_f64().expect("the demo's target is in reach");
    assert!(plan["bottleneck"].as_str().is_some_and(|b| !b.is_empty()), "{plan}");

    let config = SandboxConfig { speed: SPEED, faults: FaultRates::DEMO, ..SandboxConfig::default() };
    let key = config.api_key.clone();
    let sb = Sandbox::start(config).await.unwrap();
    for (folder, families) in salesnav::DEMO_SEGMENTS {
        salesnav::write_exports(sb.population(), &dir.path().join("inbox").join(folder), families, 500)
            .unwrap();
    }
    let env = |name: &str| sb.env(&key, name);
    let source = Source { origin: "built-in", text: config::DEFAULT_CAMPAIGN };
    let settings = config::load(source, &env, &Flags::default()).unwrap();
    let (tx, _rx) = watch::channel(RunStats::default());
    let store = Store::open(dir.path()).unwrap();
    let stats =
        engine::run(&settings, store, RunOptions { speed: SPEED, plan: None }, tx, |_| {}).await.unwrap();
    assert!(stats.unique_leads >= settings.target, "{stats:?}");
    for w in &stats.workflows {
        eprintln!(
            "{} req {} rec {} new {} thr {} state {}",
            w.name,
            w.requests,
            w.records,
            w.new_leads,
            w.throttled,
            w.state.label()
        );
    }
    let actual = stats.elapsed_seconds * SPEED;
    let error = (forecast - actual).abs() / actual;
    eprintln!("plan {forecast:.1} s, demo {actual:.1} s (vendor time): {:.0}% off", error * 100.0);
    assert!(error <= 0.25, "plan {forecast:.1} s vs demo {actual:.1} s: {:.0}% off", error * 100.0);
    sb.stop().await;
}

//! `kill -9` of `leadsprint run` at random moments: after a restart the run
//! finishes with exactly the leads of an uninterrupted run — no page lost, none
//! counted twice. Seeds are printed so a failure replays.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};

use crate::support::{Sandbox as Dir, identities};

const TRIALS: u64 = 5;

fn campaign(sb: &Sandbox) -> String {
    format!(
        "[campaign]\nname = \"crash\"\ntarget = 1000000\n\
         [vendors.apollo]\nbase_url = \"{}\"\napi_key_env = \"APOLLO_API_KEY\"\nrate_limit = \"200/s\"\npage_size = 50\n\
         [[workflow]]\nname = \"perf\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"growth marketing\"] }}\n\
         [[workflow]]\nname = \"paid\"\nvendor = \"apollo\"\nquery = {{ person_titles = [\"paid social\"] }}\n",
        sb.base_url("apollo")
    )
}

fn run_command(dir: &Dir, config: &std::path::Path) -> std::process::Command {
    let mut cmd = dir.command(&["run", "--config", config.to_str().unwrap()]);
    cmd.env("APOLLO_API_KEY", "sandbox-key")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *seed >> 33
}

/// Sandbox vendors whose Apollo allows `per_second` requests.
async fn apollo_sandbox(per_second: u32) -> Sandbox {
    let limits = std::collections::BTreeMap::from([("apollo", (per_second, Duration::from_secs(1)))]);
    Sandbox::start(SandboxConfig { population: 6000, limits, ..SandboxConfig::default() }).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_run_then_restart_equals_an_uninterrupted_run() {
    let sb = apollo_sandbox(200).await;
    let baseline = Dir::new();
    let config = baseline.write("campaign.toml", campaign(&sb));
    let started = Instant::now();
    let status = tokio::task::spawn_blocking({
        let mut cmd = run_command(&baseline, &config);
        move || cmd.status()
    })
    .await
    .unwrap()
    .unwrap();
    // Exit 4: the queries ran out before the (huge) target.
    assert_eq!(status.code(), Some(4));
    let full = started.elapsed();
    let expected = identities(&baseline.leads());
    let expected_stats = baseline.stats();
    assert!(expected.len() > 500, "a run worth interrupting: {}", expected.len());
    assert_eq!(expected_stats["workflows"]["perf"]["done"], true, "stats shows each workflow's record");
    assert!(expected_stats["workflows"]["paid"]["requests"].as_u64().unwrap_or(0) > 0);
    assert_eq!(crash_resumes(&baseline), 0, "an uninterrupted run is no crash");

    let mut seed = std::env::var("LEADSPRINT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64));
    eprintln!("run crash seed {seed}; an uninterrupted run took {full:?}");
    for trial in 0..TRIALS {
        let dir = Dir::new();
        let config = dir.write("campaign.toml", campaign(&sb));
        let delay = Duration::from_micros(next(&mut seed) % (full.as_micros() as u64).max(1));
        let mut child = run_command(&dir, &config).spawn().unwrap();
        tokio::time::sleep(delay).await;
        child.kill().unwrap();
        child.wait().unwrap();
        // A committed record means the sprint had started (its alerting marks it open
        // first); a logged completion that it had (nearly) ended cleanly before the kill.
        let has_store = dir.data_dir().join(leadsprint::store::DB_FILE).exists();
        let started = has_store && dir.stats()["records_received"].as_u64().unwrap_or(0) > 0;
        let completed = started && report_events(&dir).contains("run_complete");
        let status = tokio::task::spawn_blocking({
            let mut cmd = run_command(&dir, &config);
            move || cmd.status()
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(status.code(), Some(4), "trial {trial}: the restarted run finishes");
        assert_eq!(
            identities(&dir.leads()),
            expected,
            "trial {trial} (killed after {delay:?}): leads differ"
        );
        let stats = dir.stats();
        assert_eq!(
            stats["records_received"], expected_stats["records_received"],
            "trial {trial}: a page was stored twice"
        );
        assert_eq!(stats["duplicates_merged"], expected_stats["duplicates_merged"], "trial {trial}");
        let resumes = crash_resumes(&dir);
        let crashed = started && !completed;
        assert!(resumes <= 1 && (resumes == 1 || !crashed), "trial {trial}: {resumes} crash-resume alerts");
        eprintln!("trial {trial}: killed after {delay:?}, restart finished with {} leads", expected.len());
    }
    sb.stop().await;
}

/// The report's timeline events (alerts included: they go to no sink here, but are logged).
fn report_events(dir: &Dir) -> String {
    let json = dir.path("report.json");
    let html = dir.path("report.html");
    let run = dir.run(&["report", "--out", html.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    report["timeline"]["events"].to_string()
}

fn crash_resumes(dir: &Dir) -> usize {
    report_events(dir).matches("crash_resume").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_what_works_and_what_to_fix() {
    let sb = Sandbox::start(SandboxConfig { population: 300, ..SandboxConfig::default() }).await.unwrap();
    let dir = Dir::new();
    let config = dir.write(
        "campaign.toml",
        format!(
            "[campaign]\nname = \"c\"\ntarget = 1\n\
             [vendors.apollo]\nbase_url = \"{}\"\napi_key_env = \"APOLLO_API_KEY\"\n\
             [vendors.brightdata]\nbase_url = \"{}\"\napi_key_env = \"BRIGHTDATA_API_KEY\"\n\
             [vendors.zoominfo]\nbase_url = \"{}\"\nusername_env = \"ZI_USER\"\npassword_env = \"ZI_PASSWORD\"\n",
            sb.base_url("apollo"),
            sb.base_url("brightdata"),
            sb.base_url("zoominfo")
        ),
    );
    let run = |env: Vec<(&'static str, &'static str)>| {
        let mut cmd = dir.command(&["check", "--config", config.to_str().unwrap()]);
        cmd.env_remove("APOLLO_API_KEY")
            .env_remove("BRIGHTDATA_API_KEY")
            .env_remove("ZI_USER")
            .env_remove("ZI_PASSWORD");
        cmd.envs(env);
        async move { tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap() }
    };
    let good = run(vec![
        ("APOLLO_API_KEY", "sandbox-key"),
        ("BRIGHTDATA_API_KEY", "sandbox-key"),
        ("ZI_USER", "me"),
        ("ZI_PASSWORD", "sandbox-key"),
    ])
    .await;
    let text = String::from_utf8_lossy(&good.stdout).to_string();
    assert_eq!(good.status.code(), Some(0), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("ok")).count(), 3, "{text}");
    assert!(!text.contains("sandbox-key"), "no secret in the output");

    let bad =
        run(vec![("APOLLO_API_KEY", "wrong"), ("BRIGHTDATA_API_KEY", "sandbox-key"), ("ZI_USER", "me")])
            .await;
    let text = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.lines().any(|l| l.starts_with("FAIL apollo") && l.contains("Invalid API key")), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("FAIL zoominfo") && l.contains("ZI_PASSWORD not set")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("ok   brightdata")), "{text}");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_never_reaches_logs_output_or_files() {
    const KEY: &str = "sk-live-SECRET-7c1e44";
    let config = SandboxConfig {
        population: 500,
        api_key: KEY.into(),
        faults: leadsprint::sources::sandbox::faults::FaultRates {
            server_error: 20.0,
            ..leadsprint::sources::sandbox::faults::FaultRates::NONE
        },
        ..SandboxConfig::default()
    };
    let sb = Sandbox::start(config).await.unwrap();
    let dir = Dir::new();
    let file = dir.write("campaign.toml", campaign(&sb));
    let mut cmd = dir.command(&["-vvv", "--log-format", "json", "run", "--config", file.to_str().unwrap()]);
    cmd.env("APOLLO_API_KEY", KEY).env("RUST_LOG", "trace");
    let output = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", String::from_utf8_lossy(&output.stderr));
    let logs = [output.stdout, output.stderr].concat();
    assert!(logs.len() > 1000, "trace logging produced output");
    assert!(!contains(&logs, KEY.as_bytes()), "the key is in the logs");
    for path in files_under(&dir.data_dir()) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(!contains(&bytes, KEY.as_bytes()), "the key is in {}", path.display());
    }
    sb.stop().await;
}

/// Every file below `dir` (the store, the search index, inbox folders).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `run --ui`: the real-vendor run serves the same dashboard and controls as the demo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_ui_serves_its_sprint_and_takes_pause_and_resume() {
    let sb = apollo_sandbox(20).await;
    let dir = Dir::new();
    let config = dir.write("campaign.toml", campaign(&sb).replace("200/s", "20/s"));
    let mut child = crate::support::spawn(
        dir.command(&["run", "--config", config.to_str().unwrap(), "--ui", "--bind", "127.0.0.1:0"])
            .env("APOLLO_API_KEY", "sandbox-key")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null()),
    );
    let url = tokio::task::block_in_place(|| crate::support::served_url(&mut child));
    let url = url.trim_end_matches('/').to_owned();
    let client = leadsprint::http::http(Duration::from_secs(10)).unwrap();
    let origin = url.clone();
    let state_of = |name: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let listed: serde_json::Value =
                client.get(format!("{url}/api/workflows")).send().await.unwrap().json().await.unwrap();
            let found = listed["workflows"].as_array().unwrap().iter().find(|w| w["name"] == name).cloned();
            found.map(|w| w["state"].as_str().unwrap_or_default().to_owned()).unwrap_or_default()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while state_of("perf").await != "running" {
        assert!(Instant::now() < deadline, "perf never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dashboard: serde_json::Value =
        client.get(format!("{url}/api/dashboard")).send().await.unwrap().json().await.unwrap();
    assert_eq!(dashboard["mode"], "run");
    for (action, expect) in [("pause", "paused"), ("resume", "running")] {
        let answer = client
            .post(format!("{url}/api/workflows/perf/{action}"))
            .header("origin", &origin)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{action}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while state_of("perf").await != expect {
            assert!(Instant::now() < deadline, "perf never became {expect}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let unknown = client
        .post(format!("{url}/api/workflows/nope/pause"))
        .header("origin", &origin)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let interrupted = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    assert!(interrupted.is_ok_and(|s| s.success()));
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(4), "interrupted short of its target");
    assert!(!dir.data_dir().join("server.json").exists());
}

//! `leadsprint report`: known numbers from a known store (golden JSON), the same
//! numbers served at `/api/report`, and the HTML page rendered in headless
//! Chromium with its charts drawn (screenshot under `target/browser/`).

use std::path::Path;

use serde_json::{Value, json};

use crate::support::Sandbox;
use crate::support::webdriver::Browser;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/report/golden.json");

/// The report's JSON without what depends on when it ran (clock times, the
/// version, the timeline's wall-clock rates).
fn stable(mut report: Value) -> Value {
    for key in ["generated_at", "version", "window"] {
        report[key] = Value::Null;
    }
    let timeline = &mut report["timeline"];
    timeline["start_ms"] = Value::Null;
    timeline["bin_ms"] = Value::Null;
    if let Some(series) = timeline["leads_per_hour"].as_object_mut() {
        for value in series.values_mut() {
            *value = json!(value.as_array().map_or(0, Vec::len));
        }
    }
    report
}

#[test]
fn report_on_a_known_store_gives_known_numbers() {
    let sb = Sandbox::new();
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search"));
    for file in ["apollo.csv", "zoominfo.csv"] {
        assert_eq!(sb.import(&fixtures.join(file)).code, 0);
    }
    let html = sb.path("report.html");
    let json_path = sb.path("report.json");
    let run = sb.run(&["report", "--out", html.to_str().unwrap(), "--json", json_path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let got = stable(report.clone());
    if std::env::var_os("LEADSPRINT_BLESS").is_some() {
        std::fs::write(GOLDEN, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(GOLDEN).expect("golden file")).unwrap();
    assert_eq!(
        got, want,
        "report numbers changed; if on purpose, rerun with LEADSPRINT_BLESS=1 and review the diff"
    );
    // The numbers agree with themselves and with `stats`.
    let stats = sb.stats();
    assert_eq!(report["stats"]["unique_leads"], stats["unique_leads"]);
    let histogram: u64 =
        report["quality_histogram"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(json!(histogram), stats["unique_leads"], "every lead in one quality bucket");
    let unique: u64 =
        report["vendors"].as_array().unwrap().iter().map(|v| v["unique"].as_u64().unwrap()).sum();
    assert_eq!(json!(unique), stats["unique_leads"], "the funnel's unique leads add up");
    // The HTML carries the same figures.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(&format!("<b>{}</b>", stats["unique_leads"])), "unique leads card");
    assert!(!page.contains("<script"), "no script in the report");
}

#[test]
fn the_report_renders_offline_in_chromium_with_its_charts() {
    let sb = Sandbox::new();
    let demo = sb.run(&["demo", "--headless", "--speed", "100", "--target", "3000"]);
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    let html = sb.path("report.html");
    let json_path = sb.path("report.json");
    let run = sb.run(&["report", "--out", html.to_str().unwrap(), "--json", json_path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert!(
        report["plan_vs_actual"]["plan"]["time_to_target_seconds"].as_f64().is_some(),
        "the sprint kept its plan"
    );
    assert!(report["alerts_sent"].as_u64().is_some());

    let browser = Browser::start();
    browser.open(&format!("file://{}", html.display()));
    let charts = browser.eval(
        "return [...document.querySelectorAll('svg.chart')].map(s => { const r = s.getBoundingClientRect(); \
         return { w: r.width, h: r.height, marks: s.querySelectorAll('rect, polyline').length }; });",
        json!([]),
    );
    let charts = charts.as_array().expect("charts");
    assert!(charts.len() >= 4, "funnel, quality, email status, timeline: {charts:?}");
    for chart in charts {
        assert!(
            chart["w"].as_f64().unwrap_or(0.0) > 100.0 && chart["h"].as_f64().unwrap_or(0.0) > 100.0,
            "{chart}"
        );
        assert!(chart["marks"].as_u64().unwrap_or(0) > 0, "a chart with nothing drawn: {chart}");
    }
    let kpi_rows = browser.eval("return document.querySelectorAll('#summary tbody tr').length;", json!([]));
    assert_eq!(kpi_rows, json!(7), "the seven KPIs");
    let unique = browser.text("#summary .card b");
    assert_eq!(unique, report["stats"]["unique_leads"].to_string(), "the page shows the JSON's numbers");
    browser.screenshot(concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser/report.png"));
}

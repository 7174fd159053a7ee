//! `/metrics`: the campaign in Prometheus' text format — store totals, and per
//! workflow its requests, errors by kind, records, new leads, duplicates,
//! rate-limit waits, cost and state.

use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{AppState, live};
use crate::engine::stats::WorkflowView;
use crate::stats::Stats;
use crate::store::StoreError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let read = move || -> Result<String, StoreError> {
        let stats = Stats::from(&state.store.reader()?.counters()?);
        let (workflows, _) = live::workflows(&state)?;
        Ok(render(&stats, &workflows))
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(text)) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "the store could not be read; see the server log\n")
            .into_response(),
    }
}

/// One metric family: its header, then a sample per labelled value.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// `{workflow="…",vendor="…"}` with Prometheus escaping (backslash, quote, newline).
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// How one per-workflow figure is read off a workflow.
type Reading<'a> = &'a dyn Fn(&WorkflowView) -> f64;

pub fn render(stats: &Stats, workflows: &[WorkflowView]) -> String {
    let mut out = String::new();
    let total = |v: u64| vec![(String::new(), v as f64)];
    family(
        &mut out,
        "leadsprint_unique_leads",
        "gauge",
        "Unique leads in the store.",
        &total(stats.unique_leads),
    );
    family(
        &mut out,
        "leadsprint_records_received_total",
        "counter",
        "Records received from every source.",
        &total(stats.records_received),
    );
    family(
        &mut out,
        "leadsprint_duplicates_merged_total",
        "counter",
        "Records merged into an existing lead.",
        &total(stats.duplicates_merged),
    );
    family(
        &mut out,
        "leadsprint_quarantined_total",
        "counter",
        "Records quarantined with a reason.",
        &total(stats.quarantined),
    );
    let identity: [(&str, &str, &str, u64); 6] = [
        (
            "leadsprint_leads_merged_total",
            "counter",
            "Lead-to-lead merges (a record bridged two leads).",
            stats.leads_merged,
        ),
        ("leadsprint_aliases", "gauge", "Lead ids that resolve to another lead.", stats.aliases),
        ("leadsprint_needs_review", "gauge", "Leads whose identity keys contradict.", stats.needs_review),
        (
            "leadsprint_suppressed_total",
            "counter",
            "Records dropped by the do-not-contact list.",
            stats.suppressed,
        ),
        (
            "leadsprint_erased_total",
            "counter",
            "Records dropped because their person was erased.",
            stats.erased,
        ),
        ("leadsprint_leads_erased_total", "counter", "Leads erased on request.", stats.leads_erased),
    ];
    for (name, kind, help, value) in identity {
        family(&mut out, name, kind, help, &total(value));
    }
    let per = |f: Reading| -> Vec<(String, f64)> {
        workflows.iter().map(|w| (labels(&[("workflow", &w.name), ("vendor", &w.vendor)]), f(w))).collect()
    };
    let series: [(&str, &str, &str, Reading); 7] = [
        ("leadsprint_requests_total", "counter", "Vendor requests sent (retries included).", &|w| {
            w.requests as f64
        }),
        ("leadsprint_records_total", "counter", "Records received per workflow.", &|w| w.records as f64),
        ("leadsprint_new_leads_total", "counter", "New unique leads per workflow.", &|w| w.new_leads as f64),
        ("leadsprint_duplicates_total", "counter", "Duplicates merged per workflow.", &|w| {
            w.duplicates as f64
        }),
        ("leadsprint_rate_limit_waits_total", "counter", "Requests the rate limiter held back.", &|w| {
            w.rate_limit_waits as f64
        }),
        (
            "leadsprint_rate_limit_wait_seconds_total",
            "counter",
            "Seconds spent waiting for the rate limiter.",
            &|w| w.rate_limit_wait_seconds,
        ),
        ("leadsprint_cost_dollars_total", "counter", "Vendor spend per workflow, in dollars.", &|w| w.cost),
    ];
    for (name, kind, help, value) in series {
        family(&mut out, name, kind, help, &per(value));
    }
    let errors: Vec<(String, f64)> = workflows
        .iter()
        .flat_map(|w| {
            w.errors.iter().map(|(kind, n)| {
                (labels(&[("workflow", &w.name), ("vendor", &w.vendor), ("kind", kind)]), *n as f64)
            })
        })
        .collect();
    family(&mut out, "leadsprint_errors_total", "counter", "Request errors per workflow, by kind.", &errors);
    let states: Vec<(String, f64)> = workflows
        .iter()
        .map(|w| (labels(&[("workflow", &w.name), ("vendor", &w.vendor), ("state", w.state.label())]), 1.0))
        .collect();
    family(
        &mut out,
        "leadsprint_workflow_state",
        "gauge",
        "Each workflow's state (1 on its current state).",
        &states,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WorkflowRecord;

    #[test]
    fn exposition_is_labelled_escaped_and_complete() {
        let record = WorkflowRecord {
            requests: 7,
            errors: [("throttled".to_owned(), 3)].into(),
            ..WorkflowRecord::default()
        };
        let w = WorkflowView::recorded("apollo \"ppc\"\n", "apollo", &record);
        let stats = Stats::from(&crate::store::Counters { unique_leads: 42, ..Default::default() });
        let text = render(&stats, &[w]);
        assert!(text.contains("leadsprint_unique_leads 42\n"), "{text}");
        assert!(
            text.contains(r#"leadsprint_requests_total{workflow="apollo \"ppc\"\n",vendor="apollo"} 7"#),
            "{text}"
        );
        assert!(text.contains(r#"kind="throttled"} 3"#), "{text}");
        assert!(text.contains("# TYPE leadsprint_rate_limit_waits_total counter"));
        // Every sample line is `name{labels} value` or `name value`: no raw newline in a label.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("leadsprint_"), "stray line {line:?}");
            assert!(line.rsplit(' ').next().is_some_and(|v| v.parse::<f64>().is_ok()), "{line}");
        }
    }
}

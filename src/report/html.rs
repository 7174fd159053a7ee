//! The report as one self-contained HTML page: inline CSS, inline SVG, no script.

use std::fmt::Write;

use super::Report;
use super::svg::{bars, escape, lines};

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111827;margin:0;background:#f9fafb}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.meta{color:#4b5563;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f3f4f6;font-weight:600}
.pass{color:#166534;font-weight:600}.fail{color:#b91c1c;font-weight:600}
.chart{background:#fff;border:1px solid #e5e7eb;margin:8px 0;max-width:100%;height:auto}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #e5e7eb;padding:8px 12px;min-width:140px}
.card b{display:block;font-size:20px}
"#;

fn money(x: f64) -> String {
    format!("${x:.2}")
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            // Cells are escaped by the caller where they carry data (they may hold markup).
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn card(out: &mut String, label: &str, value: &str) {
    let _ = write!(out, r#"<div class="card">{}<b>{}</b></div>"#, escape(label), escape(value));
}

/// The page.
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — leadsprint report</title><style>{STYLE}</style></head><body><main>",
        escape(&r.campaign)
    );
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"meta\">leadsprint {} · generated {}</p>",
        escape(&r.campaign),
        escape(&r.version),
        escape(&r.generated_at)
    );
    summary(&mut out, r);
    funnel(&mut out, r);
    overlap(&mut out, r);
    quarantine(&mut out, r);
    spend(&mut out, r);
    quality(&mut out, r);
    timeline(&mut out, r);
    plan(&mut out, r);
    exports(&mut out, r);
    out.push_str("</main></body></html>\n");
    out
}

fn summary(out: &mut String, r: &Report) {
    out.push_str("<section id=\"summary\"><h2>KPIs</h2><div class=\"cards\">");
    card(out, "unique leads", &r.stats.unique_leads.to_string());
    card(out, "qualified", &r.stats.qualified_leads.to_string());
    card(out, "spent", &money(r.spend.costs.cost_total));
    card(out, "alerts sent", &r.alerts_sent.to_string());
    out.push_str("</div>");
    let rows: Vec<Vec<String>> = r
        .kpis
        .iter()
        .map(|k| {
            let value = if k.value.is_finite() { format!("{:.2}", k.value) } else { "n/a".into() };
            let verdict =
                if k.pass { "<span class=\"pass\">pass</span>" } else { "<span class=\"fail\">FAIL</span>" };
            vec![escape(k.name), value, escape(&k.threshold), verdict.to_owned()]
        })
        .collect();
    table(out, &["KPI", "actual", "target", "result"], &rows);
    out.push_str("</section>");
}

fn funnel(out: &mut String, r: &Report) {
    out.push_str("<section id=\"funnel\"><h2>Per-vendor funnel</h2>");
    let categories: Vec<String> = r.vendors.iter().map(|v| v.vendor.clone()).collect();
    let pick = |f: fn(&super::VendorFunnel) -> u64| r.vendors.iter().map(|v| f(v) as f64).collect::<Vec<_>>();
    let series = [
        ("returned", pick(|v| v.returned)),
        ("valid", pick(|v| v.valid)),
        ("unique", pick(|v| v.unique)),
        ("qualified", pick(|v| v.qualified)),
    ];
    out.push_str(&bars("Records per vendor: returned, valid, unique, qualified", &categories, &series));
    let rows: Vec<Vec<String>> = r
        .vendors
        .iter()
        .map(|v| {
            vec![
                escape(&v.vendor),
                v.requested.to_string(),
                v.returned.to_string(),
                v.valid.to_string(),
                v.unique.to_string(),
                v.qualified.to_string(),
                v.duplicates.to_string(),
                money(v.cost),
            ]
        })
        .collect();
    table(
        out,
        &["vendor", "requests", "returned", "valid", "unique", "qualified", "duplicates", "cost"],
        &rows,
    );
    out.push_str("</section>");
}

fn overlap(out: &mut String, r: &Report) {
    out.push_str("<section id=\"overlap\"><h2>Vendor overlap</h2><p class=\"meta\">Records of the row's vendor merged into leads the column's vendor found first.</p>");
    let mut head = vec!["from \\ into"];
    head.extend(r.overlap.vendors.iter().map(String::as_str));
    let max = r.overlap.merged.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let rows: Vec<Vec<String>> = r
        .overlap
        .vendors
        .iter()
        .zip(&r.overlap.merged)
        .map(|(v, row)| {
            let mut cells = vec![escape(v)];
            cells.extend(row.iter().map(|n| {
                let alpha = (*n as f64 / max * 0.6).min(0.6);
                format!("<span style=\"background:rgba(37,99,235,{alpha:.2});padding:0 4px\">{n}</span>")
            }));
            cells
        })
        .collect();
    table(out, &head, &rows);
    out.push_str("</section>");
}

fn quarantine(out: &mut String, r: &Report) {
    out.push_str("<section id=\"quarantine\"><h2>Quarantine and drops</h2>");
    let mut rows: Vec<Vec<String>> = r
        .quarantine_by_reason
        .iter()
        .map(|(k, n)| vec![format!("quarantined: {}", escape(k)), n.to_string()])
        .collect();
    rows.extend(r.dropped.iter().map(|(k, n)| vec![format!("dropped: {}", escape(k)), n.to_string()]));
    table(out, &["reason", "records"], &rows);
    out.push_str("</section>");
}

fn spend(out: &mut String, r: &Report) {
    let s = &r.spend;
    out.push_str("<section id=\"spend\"><h2>Spend</h2><div class=\"cards\">");
    card(out, "vendors", &money(s.costs.vendor_cost));
    card(out, "enrichment", &money(s.costs.enrichment_cost));
    card(out, "per unique lead", &s.cost_per_unique_lead.map_or("n/a".into(), |c| format!("${c:.4}")));
    card(
        out,
        "per qualified lead",
        &s.costs.cost_per_qualified_lead.map_or("n/a".into(), |c| format!("${c:.4}")),
    );
    card(out, "cache hits", &s.cache_hits.to_string());
    out.push_str("</div>");
    let mut rows: Vec<Vec<String>> = s
        .by_vendor
        .iter()
        .map(|(v, c)| vec![escape(v), "vendor".into(), "".into(), "".into(), money(*c)])
        .collect();
    rows.extend(s.enrichment.iter().map(|(p, e)| {
        vec![escape(p), "enrichment".into(), e.calls.to_string(), e.cache_hits.to_string(), money(e.dollars)]
    }));
    table(out, &["who", "kind", "calls", "cache hits", "dollars"], &rows);
    let caps = format!(
        "Budget: vendors {} of {}, enrichment {} of {}.",
        money(s.costs.vendor_cost),
        s.vendor_cap.map_or("no cap".into(), money),
        money(s.costs.enrichment_cost),
        s.enrichment_cap.map_or("no cap".into(), money)
    );
    let _ = write!(out, "<p class=\"meta\">{}</p></section>", escape(&caps));
}

fn quality(out: &mut String, r: &Report) {
    out.push_str("<section id=\"quality\"><h2>Quality and email status</h2>");
    let buckets: Vec<String> =
        (0..10).map(|i| format!("{}–{}", i * 10, if i == 9 { 100 } else { i * 10 + 9 })).collect();
    let values: Vec<f64> = r.quality_histogram.iter().map(|n| *n as f64).collect();
    out.push_str(&bars("Leads by quality score", &buckets, &[("leads", values)]));
    let statuses: Vec<String> = r.email_status.keys().cloned().collect();
    let counts: Vec<f64> = r.email_status.values().map(|n| *n as f64).collect();
    out.push_str(&bars("Leads by email status", &statuses, &[("leads", counts)]));
    let rows: Vec<Vec<String>> =
        r.fill_rates.iter().map(|(k, p)| vec![escape(k), format!("{p:.2}%")]).collect();
    table(out, &["field", "filled"], &rows);
    out.push_str("</section>");
}

fn timeline(out: &mut String, r: &Report) {
    let t = &r.timeline;
    out.push_str("<section id=\"timeline\"><h2>Timeline</h2>");
    if t.leads_per_hour.is_empty() {
        out.push_str("<p class=\"meta\">No leads yet.</p></section>");
        return;
    }
    let bins = t.leads_per_hour.values().map(Vec::len).max().unwrap_or(0);
    let labels: Vec<String> =
        (0..bins).map(|i| crate::stats::human_duration((i as i64 * t.bin_ms) as f64 / 1000.0)).collect();
    let series: Vec<(&str, Vec<f64>)> =
        t.leads_per_hour.iter().map(|(v, s)| (v.as_str(), s.clone())).collect();
    let span = (t.bin_ms * bins as i64).max(1) as f64;
    let marks: Vec<(f64, String)> =
        t.events.iter().map(|e| ((e.at_ms - t.start_ms) as f64 / span, e.text.clone())).collect();
    out.push_str(&lines(
        "New unique leads per hour (wall clock), by vendor; red: events",
        &labels,
        &series,
        &marks,
    ));
    let rows: Vec<Vec<String>> = t
        .events
        .iter()
        .map(|e| {
            let at = crate::stats::human_duration((e.at_ms - t.start_ms).max(0) as f64 / 1000.0);
            vec![at, escape(&e.kind), escape(e.vendor.as_deref().unwrap_or("")), escape(&e.text)]
        })
        .collect();
    table(out, &["at", "kind", "vendor", "what"], &rows);
    out.push_str("</section>");
}

fn plan(out: &mut String, r: &Report) {
    out.push_str("<section id=\"plan\"><h2>Plan vs actual</h2>");
    let Some(p) = &r.plan_vs_actual else {
        out.push_str("<p class=\"meta\">No sprint recorded a plan in this store.</p></section>");
        return;
    };
    let human = |s: Option<f64>| s.map_or("n/a".to_owned(), crate::stats::human_duration);
    let rows = vec![
        vec![
            "time to target (vendor time)".into(),
            human(p.plan.time_to_target_seconds),
            human(Some(p.actual.vendor_seconds)),
        ],
        vec![
            "unique leads/hour".into(),
            format!("{:.0}", p.plan.unique_per_hour),
            format!("{:.0}", p.actual.leads_per_hour),
        ],
        vec!["vendor cost".into(), money(p.plan.vendor_cost), money(p.actual.vendor_cost)],
    ];
    table(out, &["", "plan", "actual"], &rows);
    let _ = write!(out, "<p class=\"meta\">Bottleneck planned: {}</p></section>", escape(&p.plan.bottleneck));
}

fn exports(out: &mut String, r: &Report) {
    out.push_str("<section id=\"exports\"><h2>Exports</h2>");
    if r.exports.is_empty() {
        out.push_str("<p class=\"meta\">No export yet.</p></section>");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .exports
        .iter()
        .map(|e| {
            let at = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.at_ms.max(0) as u64),
            );
            vec![
                escape(&e.target),
                at.to_string(),
                e.written.to_string(),
                e.failed.to_string(),
                e.suppressed.to_string(),
                escape(&e.detail),
            ]
        })
        .collect();
    table(out, &["target", "at", "written", "failed", "suppressed", "detail"], &rows);
    out.push_str("</section>");
}

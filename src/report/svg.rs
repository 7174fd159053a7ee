//! Small inline SVG charts for the report: grouped bars and lines with event
//! marks. Text is escaped; sizes are fixed so the page lays out without script.

use std::fmt::Write;

const PALETTE: [&str; 8] =
    ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#ca8a04", "#dc2626", "#4b5563"];
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 56.0;

/// `text` safe inside SVG/HTML text and attributes.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A round upper bound for an axis, and a tick step.
fn scale(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.25);
    }
    let magnitude = 10f64.powf(max.log10().floor());
    let top = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|t| *t >= max)
        .unwrap_or(10.0 * magnitude);
    (top, top / 4.0)
}

fn short(value: f64) -> String {
    match value.abs() {
        v if v >= 1e6 => format!("{:.1}M", value / 1e6),
        v if v >= 1e4 => format!("{:.0}k", value / 1e3),
        v if v >= 100.0 || value.fract() == 0.0 => format!("{value:.0}"),
        _ => format!("{value:.2}"),
    }
}

fn frame(out: &mut String, title: &str, top: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{t}" class="chart"><title>{t}</title>"#,
        t = escape(title)
    );
    let plot_h = HEIGHT - TOP - BOTTOM;
    for i in 0..=4 {
        let y = TOP + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#4b5563">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            short(top * f64::from(i) / 4.0)
        );
    }
}

fn legend(out: &mut String, names: &[&str]) {
    let mut x = LEFT;
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="8" width="10" height="10" fill="{}"/><text x="{:.1}" y="17" font-size="11" fill="#111827">{}</text>"##,
            color(i),
            x + 14.0,
            escape(name)
        );
        x += 24.0 + 7.0 * name.chars().count() as f64;
    }
}

/// Grouped bars: one group per category, one bar per series, values on top.
pub fn bars(title: &str, categories: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0, f64::max);
    let (top, _) = scale(max);
    let mut out = String::new();
    frame(&mut out, title, top);
    let names: Vec<&str> = series.iter().map(|(n, _)| *n).collect();
    if series.len() > 1 {
        legend(&mut out, &names);
    }
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let group = plot_w / categories.len().max(1) as f64;
    let bar = (group * 0.8 / series.len().max(1) as f64).min(48.0);
    for (c, category) in categories.iter().enumerate() {
        let x0 = LEFT + group * c as f64 + (group - bar * series.len() as f64) / 2.0;
        for (s, (_, values)) in series.iter().enumerate() {
            let value = values.get(c).copied().unwrap_or(0.0).max(0.0);
            let h = plot_h * value / top;
            let x = x0 + bar * s as f64;
            let y = TOP + plot_h - h;
            let _ = write!(
                out,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {}</title></rect>"##,
                (bar - 2.0).max(1.0),
                color(s),
                escape(category),
                short(value)
            );
            if bar >= 18.0 {
                let _ = write!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#111827">{}</text>"##,
                    x + bar / 2.0 - 1.0,
                    y - 3.0,
                    short(value)
                );
            }
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#111827">{}</text>"##,
            LEFT + group * (c as f64 + 0.5),
            HEIGHT - BOTTOM + 16.0,
            escape(category)
        );
    }
    out.push_str("</svg>");
    out
}

/// Lines over `points` x positions, with vertical marks for events (x in 0–1).
pub fn lines(
    title: &str,
    x_labels: &[String],
    series: &[(&str, Vec<f64>)],
    marks: &[(f64, String)],
) -> String {
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0, f64::max);
    let (top, _) = scale(max);
    let mut out = String::new();
    frame(&mut out, title, top);
    let names: Vec<&str> = series.iter().map(|(n, _)| *n).collect();
    legend(&mut out, &names);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let points = series.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let x_at = |i: usize| LEFT + plot_w * i as f64 / (points.max(2) - 1) as f64;
    for (fraction, label) in marks {
        let x = LEFT + plot_w * fraction.clamp(0.0, 1.0);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#dc2626" stroke-dasharray="3 3" class="event-mark"><title>{}</title></line>"##,
            TOP + plot_h,
            escape(label)
        );
    }
    for (s, (_, values)) in series.iter().enumerate() {
        let path: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_at(i), TOP + plot_h - plot_h * v.max(0.0) / top))
            .collect();
        let _ = write!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            path.join(" "),
            color(s)
        );
    }
    let step = (x_labels.len() / 6).max(1);
    for (i, label) in x_labels.iter().enumerate().step_by(step) {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#4b5563">{}</text>"##,
            x_at(i),
            HEIGHT - BOTTOM + 16.0,
            escape(label)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_a_round_top_and_escape_their_labels() {
        let svg = bars("t<1>", &["a&b".to_owned(), "c".to_owned()], &[("n", vec![40.0, 80.0])]);
        assert!(svg.contains("t&lt;1&gt;") && svg.contains("a&amp;b"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
        // 80 of a 100 top: the taller bar is 80% of the plot's height.
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert!(svg.contains(&format!("height=\"{:.1}\"", plot_h * 0.8)), "{svg}");
        assert_eq!(scale(80.0).0, 100.0);
        assert_eq!(scale(2400.0).0, 2500.0);
    }

    #[test]
    fn lines_draw_one_polyline_per_series_and_a_mark_per_event() {
        let svg = lines(
            "x",
            &["0".into(), "1".into()],
            &[("a", vec![1.0, 2.0]), ("b", vec![2.0, 1.0])],
            &[(0.5, "429".into())],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("event-mark").count(), 1);
    }
}

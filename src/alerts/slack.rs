//! Slack incoming webhook sink. One message a second at most (Slack's limit for
//! webhooks), `Retry-After` obeyed on a 429, Block Kit with a `text` fallback
//! (new-style webhooks cannot set channel, name or icon, so we never send them),
//! and a webhook Slack says is gone (404/410, `no_service`, `channel_is_archived`,
//! ...) disables the sink: sending on would risk the app being disabled.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::notify::Notice;
use super::{Severity, SinkError};
use crate::config::Secret;

/// Slack's documented pace for a webhook.
const MIN_SPACING: Duration = Duration::from_secs(1);
/// Attempts per message (429s and 5xx retried).
const ATTEMPTS: u32 = 4;
/// A Retry-After beyond this is not waited for: the message is dropped and logged.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// Answers that mean the webhook will never work again.
const DEAD: [&str; 7] = [
    "no_service",
    "no_service_id",
    "no_team",
    "team_disabled",
    "channel_is_archived",
    "channel_not_found",
    "invalid_token",
];
/// Block Kit limits: a section's text, a header's text, fields per section.
const SECTION_MAX: usize = 3000;
const HEADER_MAX: usize = 150;
const FIELDS_MAX: usize = 10;

pub struct Slack {
    url: Secret,
    http: reqwest::Client,
    last_sent: Option<Instant>,
}

impl Slack {
    pub fn new(url: Secret) -> Result<Slack, SinkError> {
        let http = crate::http::http(Duration::from_secs(10)).map_err(|e| SinkError::Setup(e.to_string()))?;
        Ok(Slack { url, http, last_sent: None })
    }

    /// Posts `notice`; `Err(SinkError::Dead)` when the webhook is gone for good.
    pub async fn send(&mut self, notice: &Notice) -> Result<(), SinkError> {
        let body = message(notice);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(last) = self.last_sent {
                tokio::time::sleep(MIN_SPACING.saturating_sub(last.elapsed())).await;
            }
            self.last_sent = Some(Instant::now());
            let response = self.http.post(self.url.expose()).json(&body).send().await;
            let response = match response {
                Ok(r) => r,
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!("Slack webhook unreachable (attempt {attempt}): {}", without_url(&e));
                    continue;
                }
                Err(e) => return Err(SinkError::Failed(format!("unreachable: {}", without_url(&e)))),
            };
            let status = response.status().as_u16();
            let retry_after = crate::http::retry_after(response.headers(), std::time::SystemTime::now());
            let text = response.text().await.unwrap_or_default();
            let text = text.trim();
            match status {
                200..=299 => return Ok(()),
                429 if attempt < ATTEMPTS => {
                    let wait = retry_after.unwrap_or(MIN_SPACING);
                    if wait > MAX_RETRY_AFTER {
                        return Err(SinkError::Failed(format!("rate limited for {wait:?}; message dropped")));
                    }
                    tracing::warn!("Slack webhook rate limited: waiting {wait:?} as Retry-After says");
                    tokio::time::sleep(wait).await;
                }
                500..=599 if attempt < ATTEMPTS => tokio::time::sleep(MIN_SPACING * attempt).await,
                404 | 410 => return Err(SinkError::Dead(format!("HTTP {status} {text}"))),
                _ if DEAD.contains(&text) => return Err(SinkError::Dead(format!("HTTP {status} {text}"))),
                _ => {
                    return Err(SinkError::Failed(format!(
                        "HTTP {status} {}",
                        text.chars().take(200).collect::<String>()
                    )));
                }
            }
        }
    }
}

/// A transport error without the URL (the webhook's URL is its secret).
fn without_url(e: &reqwest::Error) -> String {
    let e = e.to_string();
    match e.find(" for url") {
        Some(at) => e[..at].to_owned(),
        None => e,
    }
}

fn emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Page => ":rotating_light:",
        Severity::Warn => ":warning:",
        Severity::Info => ":information_source:",
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The notice as one line of plain text (notifications, and clients without blocks).
pub fn headline(notice: &Notice) -> String {
    let scope = match &notice.group.vendor {
        Some(v) => format!("{} / {v}", notice.group.campaign),
        None => notice.group.campaign.clone(),
    };
    let mut parts = Vec::new();
    if !notice.firing.is_empty() {
        let again = if notice.repeat { " (still)" } else { "" };
        let rules: Vec<&str> = notice.firing.iter().map(|a| a.rule.as_str()).collect();
        parts.push(format!("{} firing{again}: {}", notice.firing.len(), rules.join(", ")));
    }
    if !notice.resolved.is_empty() {
        let rules: Vec<&str> = notice.resolved.iter().map(|a| a.rule.as_str()).collect();
        parts.push(format!("resolved: {}", rules.join(", ")));
    }
    format!("[{}] {scope}: {}", notice.severity().label(), parts.join("; "))
}

/// Block Kit message: a header, one section per alert (fields: rule, severity,
/// vendor), resolved ones in a context block, within Slack's limits.
pub fn message(notice: &Notice) -> Value {
    let text = headline(notice);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": clip(&format!("{} {}", emoji(notice.severity()), text), HEADER_MAX), "emoji": true }
    })];
    // 50 blocks at most: 1 header + 40 alerts + resolved + context stays under.
    for alert in notice.firing.iter().take(40) {
        let mut fields = vec![
            json!({ "type": "mrkdwn", "text": format!("*Rule*\n{}", alert.rule) }),
            json!({ "type": "mrkdwn", "text": format!("*Severity*\n{}", alert.severity.label()) }),
        ];
        if let Some(vendor) = &alert.vendor {
            fields.push(json!({ "type": "mrkdwn", "text": format!("*Vendor*\n{vendor}") }));
        }
        fields.truncate(FIELDS_MAX);
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": clip(&alert.summary, SECTION_MAX) },
            "fields": fields,
        }));
    }
    if !notice.resolved.is_empty() {
        let lines: Vec<String> =
            notice.resolved.iter().map(|a| format!(":white_check_mark: resolved — {}", a.summary)).collect();
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": clip(&lines.join("\n"), SECTION_MAX) },
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("leadsprint {} · campaign {}", env!("CARGO_PKG_VERSION"), notice.group.campaign) }]
    }));
    json!({ "text": text, "blocks": blocks })
}

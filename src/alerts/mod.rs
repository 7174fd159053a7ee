//! Alerts (SPEC section 10): rules over the figures a sprint already keeps
//! ([`rules`]), grouped, delayed, repeated and resolved as Alertmanager does
//! ([`notify`]), sent to a Slack webhook ([`slack`]) and by email ([`email`]).
//! What was sent, each alert's state and each sink's health live in the store,
//! so a restart sends nothing twice and a dead webhook stays off.

pub mod email;
pub mod notify;
pub mod rules;
pub mod slack;
pub mod sprint;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{AlertSettings, Settings};
use crate::pipeline::now_millis;
use crate::store::{Log, Named, Store, StoreError};
use notify::{GroupKey, Notice, Notifier, Timing};
use rules::{Evaluator, Observation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Page,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Page => "page",
        }
    }
}

/// One alert as a rule raised it. Its identity is rule + labels (campaign,
/// vendor, instance): the fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub severity: Severity,
    pub campaign: String,
    pub vendor: Option<String>,
    /// Tells one-shot alerts of a rule apart (`target=20000`, a run's start).
    pub instance: String,
    pub summary: String,
    /// Sent once, ever; never repeated or resolved.
    pub once: bool,
}

impl Alert {
    pub fn new(
        rule: &str,
        severity: Severity,
        campaign: &str,
        vendor: Option<&str>,
        summary: String,
    ) -> Alert {
        Alert {
            rule: rule.to_owned(),
            severity,
            campaign: campaign.to_owned(),
            vendor: vendor.map(str::to_owned),
            instance: String::new(),
            summary,
            once: false,
        }
    }

    /// Makes it a one-shot alert, told apart from its rule's others by `instance`.
    pub fn once(mut self, instance: &str) -> Alert {
        self.once = true;
        self.instance = instance.to_owned();
        self
    }

    pub fn fingerprint(&self) -> String {
        format!("{}|{}|{}|{}", self.rule, self.campaign, self.vendor.as_deref().unwrap_or(""), self.instance)
    }

    pub fn group(&self) -> GroupKey {
        GroupKey { campaign: self.campaign.clone(), vendor: self.vendor.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot set up: {0}")]
    Setup(String),
    #[error("{0}")]
    Failed(String),
    /// The destination is gone for good: the sink turns itself off.
    #[error("gone for good ({0}); the sink is off until its address changes")]
    Dead(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("alert sink {sink}: {error}")]
    Sink { sink: &'static str, error: SinkError },
}

/// A sink's health, kept in the store and shown in the UI.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkStatus {
    pub sink: String,
    /// Why it is off, when a destination was found dead.
    pub disabled: Option<String>,
    /// A fingerprint of the address it was disabled for (a new address re-enables).
    #[serde(default)]
    pub address_hash: u64,
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

/// What one notice did at each sink, as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub sink: String,
    pub ok: bool,
    pub detail: Option<String>,
}

/// One entry of the notice log (`GET /api/alerts`, the dashboard's events, the report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedNotice {
    pub at_ms: i64,
    pub notice: Notice,
    pub deliveries: Vec<Delivery>,
}

fn address_hash(secret: &crate::config::Secret) -> u64 {
    xxhash_rust::xxh3::xxh3_64(secret.expose().as_bytes())
}

/// The configured sinks, with their health.
pub struct Sinks {
    slack: Option<(slack::Slack, SinkStatus)>,
    email: Option<(email::Email, SinkStatus)>,
}

impl Sinks {
    /// Sinks for what the environment names; `known` is their health as stored.
    pub fn new(settings: &AlertSettings, speed: f64, known: &[SinkStatus]) -> Result<Sinks, AlertError> {
        let status = |sink: &str, hash: u64| {
            let stored = known.iter().find(|s| s.sink == sink).cloned().unwrap_or_default();
            // A dead address stays off; a new one starts afresh.
            let disabled = stored.disabled.filter(|_| stored.address_hash == hash);
            SinkStatus { sink: sink.to_owned(), disabled, address_hash: hash, ..stored }
        };
        let slack = match &settings.slack_webhook.value {
            None => None,
            Some(url) => Some((
                slack::Slack::new(url.clone()).map_err(|error| AlertError::Sink { sink: "slack", error })?,
                status("slack", address_hash(url)),
            )),
        };
        let email = match (&settings.smtp_url.value, &settings.email_to.value) {
            (Some(url), Some(to)) => {
                let digest = settings.email_digest.div_f64(speed.max(1.0));
                let sink = email::Email::new(
                    url,
                    settings.smtp_password.value.as_ref(),
                    &settings.email_from,
                    to,
                    digest,
                )
                .map_err(|error| AlertError::Sink { sink: "email", error })?;
                Some((sink, status("email", address_hash(url))))
            }
            _ => None,
        };
        Ok(Sinks { slack, email })
    }

    pub fn statuses(&self) -> Vec<SinkStatus> {
        let slack = self.slack.as_ref().map(|(_, s)| s.clone());
        let email = self.email.as_ref().map(|(_, s)| s.clone());
        slack.into_iter().chain(email).collect()
    }

    /// Hands `notice` to every enabled sink; what each did.
    pub async fn deliver(&mut self, notice: &Notice) -> Vec<Delivery> {
        let mut out = Vec::new();
        if let Some((sink, status)) = &mut self.slack
            && status.disabled.is_none()
        {
            out.push(record(status, sink.send(notice).await));
        }
        if let Some((sink, status)) = &mut self.email
            && status.disabled.is_none()
        {
            out.push(record(status, sink.send(notice).await));
        }
        out
    }

    /// Sends the email digest now (the sprint is ending).
    pub async fn flush(&mut self) -> Vec<Delivery> {
        match &mut self.email {
            Some((sink, status)) if status.disabled.is_none() => {
                vec![record(status, sink.send_digest().await)]
            }
            _ => Vec::new(),
        }
    }
}

fn record(status: &mut SinkStatus, result: Result<(), SinkError>) -> Delivery {
    let detail = result.as_ref().err().map(ToString::to_string);
    match &result {
        Ok(()) => status.sent += 1,
        Err(e) => {
            status.failed += 1;
            status.last_error = detail.clone();
            tracing::warn!(sink = %status.sink, "alert not delivered: {e}");
            if let SinkError::Dead(why) = e {
                status.disabled = Some(why.clone());
            }
        }
    }
    Delivery { sink: status.sink.clone(), ok: result.is_ok(), detail }
}

/// The run marker: set while a sprint runs, so the next start knows a crash.
#[derive(Debug, Serialize, Deserialize)]
struct OpenRun {
    started_ms: i64,
}

const OPEN_RUN: &str = "open";

/// A sprint's alerting: rules, notifier, sinks, and their state in the store.
pub struct Alerting {
    settings: AlertSettings,
    campaign: String,
    speed: f64,
    store: Arc<Store>,
    notifier: Notifier,
    evaluator: Evaluator,
    sinks: Sinks,
    /// One-shot alerts raised by events (resume, completion, exports), kept
    /// active until sent.
    events: Vec<Alert>,
    started: Instant,
}

impl Alerting {
    /// Loads the alerting state from `store`; notes a crash if the last sprint
    /// never ended, and marks this one open.
    pub fn start(settings: &Settings, store: Arc<Store>, speed: f64) -> Result<Alerting, AlertError> {
        let mut alerting = Alerting::open(settings, store, speed)?;
        let now = now_millis();
        if let Some(bytes) = alerting.store.named_value(Named::Run, OPEN_RUN)? {
            let since = serde_json::from_slice::<OpenRun>(&bytes).map_or(0, |r| r.started_ms);
            let summary = format!(
                "the sprint started at {} ended without finishing (crash or kill); resumed from its committed cursors",
                humantime::format_rfc3339_seconds(millis_time(since))
            );
            alerting.raise(
                Alert::new("crash_resume", Severity::Info, &settings.name, None, summary)
                    .once(&now.to_string()),
            );
        }
        let marker = serde_json::to_vec(&OpenRun { started_ms: now }).unwrap_or_default();
        alerting.store.put_named(Named::Run, &[(OPEN_RUN.to_owned(), marker)], &[])?;
        Ok(alerting)
    }

    /// Alerting over `store` without a sprint (exports, `alerts test`).
    pub fn open(settings: &Settings, store: Arc<Store>, speed: f64) -> Result<Alerting, AlertError> {
        let reader = store.reader()?;
        let mut notifier = Notifier::default();
        for (fingerprint, bytes) in reader.named(Named::AlertState)? {
            match serde_json::from_slice(&bytes) {
                Ok(state) => {
                    notifier.alerts.insert(fingerprint, state);
                }
                Err(e) => tracing::warn!("alert state {fingerprint} unreadable, dropped: {e}"),
            }
        }
        if let Some(bytes) = store.named_value(Named::Run, "groups")?
            && let Ok(groups) = serde_json::from_slice::<Vec<(GroupKey, f64)>>(&bytes)
        {
            notifier.groups = groups.into_iter().collect();
        }
        let sinks = Sinks::new(&settings.alerts, speed, &sinks(&reader)?)?;
        Ok(Alerting {
            settings: settings.alerts.clone(),
            campaign: settings.name.clone(),
            speed: speed.max(1e-9),
            store,
            notifier,
            evaluator: Evaluator::default(),
            sinks,
            events: Vec::new(),
            started: Instant::now(),
        })
    }

    pub fn campaign(&self) -> &str {
        &self.campaign
    }

    pub fn sink_statuses(&self) -> Vec<SinkStatus> {
        self.sinks.statuses()
    }

    /// Raises a one-shot alert (sent at the next step).
    pub fn raise(&mut self, alert: Alert) {
        if self.settings.enabled(&alert.rule) {
            self.events.push(alert);
        }
    }

    fn timing(&self) -> Timing {
        let real = |d: Duration| d.as_secs_f64() / self.speed;
        Timing {
            group_wait: real(self.settings.group_wait),
            group_interval: real(self.settings.group_interval),
            repeat_interval: real(self.settings.repeat_interval),
            send_resolved: self.settings.send_resolved,
        }
    }

    /// Evaluates the rules over `obs` and sends what is due.
    pub async fn observe(&mut self, obs: &Observation) -> Result<Vec<Notice>, AlertError> {
        let vendor_now = self.started.elapsed().as_secs_f64() * self.speed;
        let active = self.evaluator.evaluate(obs, vendor_now, &self.settings);
        self.step(active, false).await
    }

    /// The sprint ends: `obs` evaluated once more, `complete` raised if given,
    /// everything owed sent now, the digest flushed, the run marked closed.
    pub async fn finish(
        &mut self,
        obs: Option<&Observation>,
        complete: Option<Alert>,
    ) -> Result<Vec<Notice>, AlertError> {
        if let Some(alert) = complete {
            self.raise(alert);
        }
        let vendor_now = self.started.elapsed().as_secs_f64() * self.speed;
        let active = obs.map(|o| self.evaluator.evaluate(o, vendor_now, &self.settings)).unwrap_or_default();
        let sent = self.step(active, true).await?;
        let digest = self.sinks.flush().await;
        if !digest.is_empty() {
            self.save_sinks()?;
        }
        self.store.put_named(Named::Run, &[], &[OPEN_RUN.to_owned()])?;
        Ok(sent)
    }

    /// Sends one-shot events only (no rules): exports use it.
    pub async fn send_events(&mut self) -> Result<Vec<Notice>, AlertError> {
        let sent = self.step(Vec::new(), true).await?;
        self.sinks.flush().await;
        self.save_sinks()?;
        Ok(sent)
    }

    async fn step(&mut self, mut active: Vec<Alert>, flush: bool) -> Result<Vec<Notice>, AlertError> {
        active.extend(self.events.iter().cloned());
        let now = now_millis() as f64 / 1000.0;
        let before = self.notifier.clone();
        let notices = self.notifier.step(now, active, &self.timing(), flush);
        let mut logged = Vec::new();
        for notice in &notices {
            let deliveries = self.sinks.deliver(notice).await;
            logged.push(LoggedNotice { at_ms: now_millis(), notice: notice.clone(), deliveries });
        }
        self.events
            .retain(|e| self.notifier.alerts.get(&e.fingerprint()).is_none_or(|s| s.last_sent.is_none()));
        if !logged.is_empty() {
            let values: Vec<Vec<u8>> = logged.iter().filter_map(|l| serde_json::to_vec(l).ok()).collect();
            self.store.append(Log::AlertNotices, &values)?;
            self.save_sinks()?;
        }
        // A summary's figures change every tick: only a change of state is written.
        if !same_state(&self.notifier, &before) {
            self.save_state(&before)?;
        }
        Ok(notices)
    }

    fn save_state(&self, before: &Notifier) -> Result<(), AlertError> {
        let changed: Vec<(String, Vec<u8>)> = self
            .notifier
            .alerts
            .iter()
            .filter(|(f, s)| before.alerts.get(*f).is_none_or(|b| !same_alert_state(b, s)))
            .filter_map(|(f, s)| Some((f.clone(), serde_json::to_vec(s).ok()?)))
            .collect();
        let removed: Vec<String> =
            before.alerts.keys().filter(|f| !self.notifier.alerts.contains_key(*f)).cloned().collect();
        self.store.put_named(Named::AlertState, &changed, &removed)?;
        let groups: Vec<(&GroupKey, &f64)> = self.notifier.groups.iter().collect();
        let groups = serde_json::to_vec(&groups).unwrap_or_default();
        self.store.put_named(Named::Run, &[("groups".to_owned(), groups)], &[])?;
        Ok(())
    }

    fn save_sinks(&self) -> Result<(), AlertError> {
        let entries: Vec<(String, Vec<u8>)> = self
            .sinks
            .statuses()
            .iter()
            .filter_map(|s| Some((s.sink.clone(), serde_json::to_vec(s).ok()?)))
            .collect();
        self.store.put_named(Named::AlertSink, &entries, &[])?;
        Ok(())
    }

    /// `leadsprint alerts test`: one test notice to every configured sink now.
    pub async fn test(&mut self) -> Result<Vec<Delivery>, AlertError> {
        let alert = Alert::new(
            "test",
            Severity::Warn,
            &self.campaign,
            None,
            "a test alert from `leadsprint alerts test`: this sink works".to_owned(),
        );
        let notice = Notice {
            group: alert.group(),
            firing: vec![alert],
            resolved: Vec::new(),
            repeat: false,
            at: now_millis() as f64 / 1000.0,
        };
        let deliveries = self.sinks.deliver(&notice).await;
        self.save_sinks()?;
        Ok(deliveries)
    }
}

/// Equal but for the alerts' summaries.
fn same_state(a: &Notifier, b: &Notifier) -> bool {
    a.groups == b.groups
        && a.alerts.len() == b.alerts.len()
        && a.alerts.iter().all(|(f, s)| b.alerts.get(f).is_some_and(|t| same_alert_state(s, t)))
}

fn same_alert_state(a: &notify::AlertState, b: &notify::AlertState) -> bool {
    (a.since, a.last_sent, a.resolved_at, a.resolved_sent)
        == (b.since, b.last_sent, b.resolved_at, b.resolved_sent)
        && a.alert.fingerprint() == b.alert.fingerprint()
}

fn millis_time(ms: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// What `GET /api/alerts` answers: the alerts firing now, each sink's health, the
/// latest notices (newest last).
#[derive(Debug, Serialize)]
pub struct AlertsView {
    pub firing: Vec<notify::AlertState>,
    pub sinks: Vec<SinkStatus>,
    pub notices: Vec<LoggedNotice>,
}

/// The alerting state as stored (no sprint needed).
pub fn view(reader: &crate::store::Reader, notices: usize) -> Result<AlertsView, StoreError> {
    let firing = reader
        .named(Named::AlertState)?
        .iter()
        .filter_map(|(_, b)| serde_json::from_slice::<notify::AlertState>(b).ok())
        .filter(|s| s.resolved_at.is_none() && !s.alert.once)
        .collect();
    let notices = logged_notices(reader, 0, notices)?;
    Ok(AlertsView { firing, sinks: sinks(reader)?, notices })
}

/// Each sink's health as stored.
pub fn sinks(reader: &crate::store::Reader) -> Result<Vec<SinkStatus>, StoreError> {
    Ok(reader.named(Named::AlertSink)?.iter().filter_map(|(_, b)| serde_json::from_slice(b).ok()).collect())
}

/// The notice log's last `count` entries (after `after`, when given), oldest first.
pub fn logged_notices(
    reader: &crate::store::Reader,
    after: u64,
    count: usize,
) -> Result<Vec<LoggedNotice>, StoreError> {
    let entries = if after == 0 {
        reader.log_tail(Log::AlertNotices, count)?
    } else {
        reader.log_after(Log::AlertNotices, after, count)?
    };
    Ok(entries.iter().filter_map(|(_, b)| serde_json::from_slice(b).ok()).collect())
}

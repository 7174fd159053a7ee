//! Email sink over SMTP (lettre). `LEADSPRINT_SMTP_URL` says where and how:
//! `smtps://user@host` (TLS on 465), `smtp://user@host:587?tls=required`
//! (STARTTLS: nothing is sent if the upgrade fails), `smtp://host:25` for a local
//! relay. The password comes from `LEADSPRINT_SMTP_PASSWORD` (or the URL).
//! Pages and warnings go at once; info notices wait for the digest.

use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::notify::Notice;
use super::slack::headline;
use super::{Severity, SinkError};
use crate::config::Secret;

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    digest: Vec<Notice>,
    digest_every: Duration,
    digest_since: Instant,
}

impl Email {
    /// A sink for `url` (with `password` when set) sending from `from` to the
    /// comma-separated `to`; info notices are gathered for `digest_every` (real time).
    pub fn new(
        url: &Secret,
        password: Option<&Secret>,
        from: &str,
        to: &Secret,
        digest_every: Duration,
    ) -> Result<Email, SinkError> {
        let setup = |what: &str, e: &dyn std::fmt::Display| SinkError::Setup(format!("{what}: {e}"));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| setup("LEADSPRINT_SMTP_URL is not an SMTP URL (smtps://user@host or smtp://host:587?tls=required)", &e))?
            .timeout(Some(Duration::from_secs(15)));
        if let (Some(password), Some(user)) = (password, url_user(url.expose())) {
            builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
        }
        let from: Mailbox = from.parse().map_err(|e| setup("alerts.email_from is not an address", &e))?;
        let to = to
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<Mailbox>().map_err(|e| setup(&format!("{a:?} in LEADSPRINT_ALERT_EMAIL_TO"), &e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(SinkError::Setup("LEADSPRINT_ALERT_EMAIL_TO names no address".into()));
        }
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            digest: Vec::new(),
            digest_every,
            digest_since: Instant::now(),
        })
    }

    /// Sends a page or warning now; keeps an info notice for the digest (sent
    /// once the digest interval has passed).
    pub async fn send(&mut self, notice: &Notice) -> Result<(), SinkError> {
        if notice.severity() == Severity::Info && !notice.firing.is_empty() {
            self.digest.push(notice.clone());
            if self.digest_since.elapsed() < self.digest_every {
                return Ok(());
            }
            return self.send_digest().await;
        }
        let subject = headline(notice);
        self.deliver(&subject, body(std::slice::from_ref(notice))).await
    }

    /// Sends the info notices gathered so far, if any, as one email.
    pub async fn send_digest(&mut self) -> Result<(), SinkError> {
        self.digest_since = Instant::now();
        if self.digest.is_empty() {
            return Ok(());
        }
        let notices = std::mem::take(&mut self.digest);
        let subject = format!("[info] leadsprint digest: {} notices", notices.len());
        self.deliver(&subject, body(&notices)).await
    }

    async fn deliver(&self, subject: &str, text: String) -> Result<(), SinkError> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message =
            message.body(text).map_err(|e| SinkError::Failed(format!("building the email: {e}")))?;
        self.transport.send(message).await.map_err(|e| SinkError::Failed(format!("SMTP: {e}")))?;
        Ok(())
    }
}

/// The user name in an SMTP URL (`smtps://user@host`), percent-decoded.
fn url_user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split(['/', '?']).next()?.rsplit_once('@')?.0;
    let user = userinfo.split(':').next().filter(|u| !u.is_empty())?;
    Some(percent_encoding::percent_decode_str(user).decode_utf8_lossy().into_owned())
}

fn body(notices: &[Notice]) -> String {
    let mut out = String::new();
    for notice in notices {
        out.push_str(&headline(notice));
        out.push('\n');
        for alert in &notice.firing {
            out.push_str(&format!(
                "  firing  [{}] {}: {}\n",
                alert.severity.label(),
                alert.rule,
                alert.summary
            ));
        }
        for alert in &notice.resolved {
            out.push_str(&format!("  resolved {}: {}\n", alert.rule, alert.summary));
        }
        out.push('\n');
    }
    out.push_str(&format!("-- leadsprint {}\n", env!("CARGO_PKG_VERSION")));
    out
}

#[cfg(test)]
mod tests {
    use super::url_user;

    #[test]
    fn the_user_comes_from_the_url_and_never_the_password() {
        assert_eq!(url_user("smtps://alerts%40acme.io:pw@smtp.acme.io").as_deref(), Some("alerts@acme.io"));
        assert_eq!(url_user("smtp://bot@smtp.acme.io:587?tls=required").as_deref(), Some("bot"));
        assert_eq!(url_user("smtp://127.0.0.1:2525"), None);
    }
}

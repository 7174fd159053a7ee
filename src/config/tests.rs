//! Configuration: the default campaign, precedence, secrets, and a clear error for
//! each kind of mistake.

use std::collections::HashMap;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

fn default_with(env: &[(&str, &str)], flags: &Flags) -> Result<Settings, ConfigError> {
    load(Source { origin: "campaign.toml", text: DEFAULT_CAMPAIGN }, &env_of(env), flags)
}

#[test]
fn default_campaign_is_the_sprint() {
    let s = default_with(&[], &Flags::default()).unwrap();
    assert_eq!(s.target, 20_000);
    assert_eq!(s.kpi, Kpi::default());
    assert_eq!(s.workflows.len(), 10);
    let per_vendor = |v: VendorKind| s.workflows.iter().filter(|w| w.vendor == v).count();
    assert_eq!(
        [VendorKind::Brightdata, VendorKind::Apollo, VendorKind::Zoominfo, VendorKind::Salesnav]
            .map(per_vendor),
        [5, 2, 1, 2]
    );
    let bd = &s.vendors[&VendorKind::Brightdata];
    assert_eq!(bd.rate, Rate { requests: 1, per: Duration::from_millis(1500) });
    assert_eq!(s.vendors[&VendorKind::Apollo].rate, Rate { requests: 10, per: Duration::from_secs(1) });
    assert_eq!(s.vendors[&VendorKind::Zoominfo].rate, Rate { requests: 25, per: Duration::from_secs(1) });
    assert_eq!(bd.missing_credentials(), ["BRIGHTDATA_API_KEY"]);
    assert_eq!(
        s.vendors[&VendorKind::Zoominfo].missing_credentials(),
        ["ZOOMINFO_USERNAME", "ZOOMINFO_PASSWORD"]
    );
    match &s.workflows[3].query {
        Query::BrightData(q) => {
            assert_eq!((q.title.as_str(), q.location.as_str()), ("PPC Manager", "Chicago, IL"))
        }
        other => panic!("workflow 4 should query Bright Data, got {other:?}"),
    }
}

#[test]
fn flags_beat_environment_beat_file() {
    let file = default_with(&[], &Flags::default()).unwrap();
    let env = default_with(&[("LEADSPRINT_TARGET", "500")], &Flags::default()).unwrap();
    let flag = default_with(&[("LEADSPRINT_TARGET", "500")], &Flags { target: Some(100) }).unwrap();
    assert_eq!((file.target, env.target, flag.target), (20_000, 500, 100));
    let proxied = default_with(
        &[
            ("LEADSPRINT_APOLLO_BASE_URL", "http://127.0.0.1:9/api/v1/"),
            ("LEADSPRINT_APOLLO_RATE_LIMIT", "2/s"),
        ],
        &Flags::default(),
    )
    .unwrap();
    let apollo = &proxied.vendors[&VendorKind::Apollo];
    assert_eq!(apollo.base_url, "http://127.0.0.1:9/api/v1");
    assert_eq!(apollo.rate.requests, 2);
}

#[test]
fn secrets_come_from_the_environment_and_never_print() {
    let s = default_with(&[("APOLLO_API_KEY", "sk-very-secret-123")], &Flags::default()).unwrap();
    let apollo = &s.vendors[&VendorKind::Apollo];
    assert!(apollo.missing_credentials().is_empty());
    assert_eq!(apollo.credentials[0].value.as_ref().map(Secret::expose), Some("sk-very-secret-123"));
    let printed = format!("{s:?} {s:#?}");
    assert!(!printed.contains("sk-very-secret-123"), "a secret leaked into Debug output");
    assert!(printed.contains("***"));
}

#[test]
fn mistakes_get_clear_errors() {
    let base = "[campaign]\nname = \"x\"\ntarget = 10\n[vendors.apollo]\n";
    let wf = |extra: &str| format!("{base}[[workflow]]\nname = \"a\"\nvendor = \"apollo\"\n{extra}");
    let cases: Vec<(&str, String, &str)> = vec![
        ("toml syntax", "[campaign\n".into(), "campaign.toml: TOML parse error"),
        ("unknown top-level key", format!("{base}colour = 1\n"), "unknown field `colour`"),
        ("unknown vendor key", format!("{base}api_key = \"x\"\n"), "unknown field `api_key`"),
        (
            "unknown vendor",
            "[campaign]\nname = \"x\"\ntarget = 1\n[vendors.hunter]\n".into(),
            "unknown variant `hunter`",
        ),
        ("bad rate", format!("{base}rate_limit = \"fast\"\n"), "vendors.apollo.rate_limit = \"fast\""),
        ("zero rate", format!("{base}rate_limit = \"0/s\"\n"), "at least one request"),
        ("bad timeout", format!("{base}timeout = \"30 parsecs\"\n"), "unknown unit"),
        ("bad url", format!("{base}base_url = \"api.apollo.io\"\n"), "must start with http"),
        ("zero target", "[campaign]\nname = \"x\"\ntarget = 0\n".into(), "target must be at least 1"),
        ("query key of another vendor", wf("query = { title = \"PPC\" }\n"), "workflow \"a\" query"),
        (
            "duplicate workflow",
            format!(
                "{}[[workflow]]\nname = \"a\"\nvendor = \"apollo\"\nquery = {{ person_titles = [] }}\n",
                wf("query = { person_titles = [] }\n")
            ),
            "used twice",
        ),
        (
            "vendor without a section",
            format!(
                "{base}[[workflow]]\nname = \"z\"\nvendor = \"zoominfo\"\nquery = {{ jobTitle = \"x\" }}\n"
            ),
            "no [vendors.zoominfo] section",
        ),
        (
            "workflow name",
            wf("query = { person_titles = [] }\n").replace("name = \"a\"", "name = \"a b\""),
            "letters, digits",
        ),
    ];
    for (name, text, want) in cases {
        let err = load(Source { origin: "campaign.toml", text: &text }, &env_of(&[]), &Flags::default())
            .expect_err(name)
            .to_string();
        assert!(err.contains(want), "case {name}: {err}");
        assert!(err.starts_with("campaign.toml"), "case {name} names the file: {err}");
    }
    let env_err = default_with(&[("LEADSPRINT_TARGET", "lots")], &Flags::default()).unwrap_err().to_string();
    assert!(env_err.contains("LEADSPRINT_TARGET"), "{env_err}");
}

#[test]
fn rates_and_durations() {
    let rates = [
        ("10/s", Some((10, 1000))),
        ("1/1.5s", Some((1, 1500))),
        ("200/min", Some((200, 60_000))),
        ("600/h", Some((600, 3_600_000))),
        (" 5 / 500ms ", Some((5, 500))),
        ("10", None),
        ("x/s", None),
        ("1/0s", None),
        ("-1/s", None),
    ];
    for (text, want) in rates {
        let got = parse_rate(text).ok().map(|r| (r.requests, r.per.as_millis() as u64));
        assert_eq!(got, want, "rate {text:?}");
    }
    let durations = [
        ("30s", Some(30_000)),
        ("500ms", Some(500)),
        ("2m", Some(120_000)),
        ("1h", Some(3_600_000)),
        ("5", None),
        ("-1s", None),
    ];
    for (text, want) in durations {
        assert_eq!(parse_duration(text).ok().map(|d| d.as_millis() as u64), want, "duration {text:?}");
    }
}

fn parse_for_test(text: &str) -> Result<Settings, String> {
    load(Source { origin: "t.toml", text }, &env_of(&[]), &Flags::default()).map_err(|e| e.to_string())
}

#[test]
fn page_sizes_are_checked_against_what_each_vendor_documents() {
    let with = |vendor: &str, extra: &str| {
        format!("[campaign]\nname = \"t\"\ntarget = 10\n[vendors.{vendor}]\n{extra}\n")
    };
    let refused = [
        (
            "brightdata",
            "page_size = 100",
            "vendors.brightdata.page_size = 100 is outside what brightdata accepts (1000 to",
        ),
        (
            "apollo",
            "page_size = 500",
            "vendors.apollo.page_size = 500 is outside what apollo accepts (1 to 100)",
        ),
        ("zoominfo", "page_size = 0", "vendors.zoominfo.page_size = 0"),
    ];
    for (vendor, line, want) in refused {
        let err = parse_for_test(&with(vendor, line)).expect_err(line);
        assert!(err.contains(want), "{err}");
    }
    let settings = parse_for_test(&with("brightdata", "")).expect("defaults are valid");
    let brightdata = &settings.vendors[&VendorKind::Brightdata];
    assert_eq!(brightdata.page_size, 1000, "without page_size, the documented minimum batch_size");
}

#[test]
fn spend_caps_default_to_what_the_kpi_allows_and_refuse_nonsense() {
    let base = "[campaign]\nname = \"t\"\ntarget = 1000\n";
    let settings = parse_for_test(&format!("{base}[vendors.apollo]\n")).unwrap();
    assert!((settings.spend_cap - 1000.0 * 0.60).abs() < 1e-9, "target × cost-per-qualified-lead KPI");
    assert_eq!(settings.vendors[&VendorKind::Apollo].spend_cap, None, "only the campaign's cap");
    let capped = parse_for_test(&format!("{base}[vendors.apollo]\nspend_cap = 25.5\n")).unwrap();
    assert_eq!(capped.vendors[&VendorKind::Apollo].spend_cap, Some(25.5));
    let err = parse_for_test(&format!("{base}[vendors.apollo]\nspend_cap = -1.0\n")).unwrap_err();
    assert!(err.contains("vendors.apollo.spend_cap = -1") && err.contains("zero or more"), "{err}");
    let err =
        parse_for_test(&base.replace("target = 1000\n", "target = 1000\nspend_cap = nan\n")).unwrap_err();
    assert!(err.contains("campaign.spend_cap"), "{err}");
    let zero = format!(
        "{base}[vendors.brightdata]\n[[workflow]]\nname = \"b\"\nvendor = \"brightdata\"\n\
         query = {{ title = \"t\", location = \"l\", records_limit = 0 }}\n"
    );
    assert!(parse_for_test(&zero).unwrap_err().contains("records_limit must be at least 1"));
    let default = default_with(&[], &Flags::default()).unwrap();
    assert_eq!(default.spend_cap, 1000.0, "the embedded campaign sets its cap");
}

#[test]
fn enrichment_is_off_by_default_and_validated_when_set() {
    let base = "[campaign]\nname = \"t\"\ntarget = 10\n";
    let off = parse_for_test(base).unwrap();
    assert!(!off.enrichment.enabled);
    let hunter = &off.enrichment.providers[&ProviderKind::Hunter];
    assert_eq!(
        (hunter.base_url.as_str(), hunter.key.env.as_str()),
        ("https://api.hunter.io/v2", "HUNTER_API_KEY")
    );
    let on = format!(
        "{base}[enrichment]\nenabled = true\naccept_catch_all = true\nverifier = \"zerobounce\"\nper_lead_ceiling = 0.2\n\
         [enrichment.providers.hunter]\ncost_per_credit = 0.03\ncredits_cap = 1000\nrate_limit = \"5/s\"\n"
    );
    let s = load(Source { origin: "t", text: &on }, &env_of(&[("HUNTER_API_KEY", "hk")]), &Flags::default())
        .unwrap();
    let e = &s.enrichment;
    assert!(e.enabled && e.accept_catch_all);
    assert_eq!((e.verifier, e.per_lead_ceiling), (Verifier::Zerobounce, 0.2));
    let hunter = &e.providers[&ProviderKind::Hunter];
    assert_eq!((hunter.cost_per_credit, hunter.credits_cap), (0.03, Some(1000.0)));
    assert_eq!(hunter.rate, Rate { requests: 5, per: Duration::from_secs(1) });
    assert_eq!(hunter.key.value.as_ref().map(|k| k.expose()), Some("hk"));
    assert!(e.mx_check && e.dns_server.is_none(), "the system's resolver by default");
    let dns = |line: &str| {
        parse_for_test(&format!("{base}[enrichment]\n{line}\n"))
            .map(|s| s.enrichment.dns_server.map(|a| a.to_string()))
    };
    assert_eq!(dns("dns_server = \"1.1.1.1\"").unwrap().as_deref(), Some("1.1.1.1:53"));
    assert_eq!(dns("dns_server = \"127.0.0.1:5353\"").unwrap().as_deref(), Some("127.0.0.1:5353"));
    for (line, want) in [
        ("per_lead_ceiling = -1.0", "enrichment.per_lead_ceiling"),
        ("kill_switch_min_fill = 1.5", "enrichment.kill_switch_min_fill"),
        ("dns_server = \"localhost\"", "give an IP address"),
        ("clearbit = true", "unknown field `clearbit`"),
    ] {
        let err = parse_for_test(&format!("{base}[enrichment]\n{line}\n")).unwrap_err();
        assert!(err.contains(want), "{line}: {err}");
    }
    let err = parse_for_test(&format!("{base}[enrichment.providers.clearbit]\n")).unwrap_err();
    assert!(err.contains("clearbit"), "{err}");
}

#[test]
fn alerts_have_alertmanagers_defaults_and_their_sinks_come_from_the_environment() {
    let s = default_with(
        &[("LEADSPRINT_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/x")],
        &Flags::default(),
    )
    .unwrap();
    let a = &s.alerts;
    assert_eq!(
        (a.group_wait, a.group_interval, a.repeat_interval),
        (Duration::from_secs(30), Duration::from_secs(300), Duration::from_secs(4 * 3600))
    );
    assert!(a.slack_webhook.value.is_some() && a.smtp_url.value.is_none());
    assert_eq!(format!("{:?}", a.slack_webhook.value), "Some(***)", "the webhook URL never prints");
    assert_eq!(s.plan.duplicate_rate, 0.12);
}

#[test]
fn alert_and_plan_mistakes_get_clear_errors() {
    let campaign = |extra: &str| format!("[campaign]\nname = \"c\"\ntarget = 10\n{extra}");
    let cases = [
        ("[alerts]\ndisabled_rules = [\"nope\"]\n", "\"nope\", which is no rule"),
        (
            "[alerts]\ngroup_interval = \"10m\"\nrepeat_interval = \"5m\"\n",
            "repeat_interval must be at least",
        ),
        ("[alerts]\nerror_rate_percent = 150.0\n", "error_rate_percent = 150"),
        ("[alerts]\ngroup_wait = \"soon\"\n", "alerts.group_wait"),
        ("[alerts]\nslack_url = \"x\"\n", "unknown field `slack_url`"),
        ("[plan]\nduplicate_rate = 1.5\n", "plan.duplicate_rate = 1.5"),
        ("[plan]\nlatency = \"fast\"\n", "plan.latency"),
    ];
    for (extra, expected) in cases {
        let text = campaign(extra);
        let err =
            load(Source { origin: "c.toml", text: &text }, &env_of(&[]), &Flags::default()).unwrap_err();
        assert!(err.to_string().contains(expected), "{extra}: {err}");
    }
}

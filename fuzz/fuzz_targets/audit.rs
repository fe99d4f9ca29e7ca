//! The audit-log parsers, redaction and audit documents on arbitrary text: MySQL audit lines, PostgreSQL
//! lines with the RDS prefix or a prefix taken from the input, literal masking. Never a panic; every
//! document is one line of JSON; a quoted statement round-trips through the MySQL quoting.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::audit::pgaudit::{self, LinePrefix};
use logcore::audit::redact::{mask_literals, Dialect, Redactor};
use logcore::audit::{mysql, write_audit_event, AuditConfig, AuditContext, AuditStats, EngineSetting};
use logcore::logs::cwl::{LogEvent, MessageType, Payload};

/// Redactors compile their rules once, not per input.
static CONFIGS: std::sync::LazyLock<[AuditConfig; 2]> = std::sync::LazyLock::new(|| {
    [false, true].map(|mask| AuditConfig {
        engine: EngineSetting::Auto,
        redactor: Redactor::new(true, Vec::new(), mask),
        ..AuditConfig::default()
    })
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(r) = mysql::parse(text) {
        let mut q = String::new();
        mysql::quote(&r.object, &mut q);
        let line = format!("1700000000000000,h,u,h,1,2,QUERY,db,{q},0");
        assert_eq!(mysql::parse(&line).expect("quoted object parses").object, r.object);
    }
    let _ = pgaudit::parse(&LinePrefix::default(), text);
    if let Some((prefix, line)) = text.split_once('\n') {
        if let Ok(p) = LinePrefix::new(prefix) {
            let _ = pgaudit::parse(&p, line);
        }
    }
    let _ = CONFIGS[0].redactor.redact(text);
    let _ = mask_literals(text, Dialect::Mysql);
    let _ = mask_literals(text, Dialect::Postgres);

    let cfg = &CONFIGS[usize::from(data.first().is_some_and(|b| b & 1 == 1))];
    for group in ["/aws/rds/cluster/c/audit", "/aws/rds/instance/i/postgresql", "/other"] {
        let payload = Payload {
            message_type: MessageType::Data,
            owner: "123456789012".into(),
            log_group: group.into(),
            log_stream: "s".into(),
            subscription_filters: vec!["f".into()],
            log_events: Vec::new(),
            hops: 0,
        };
        let ctx = AuditContext::new(&payload, cfg, Some("eu-west-1"));
        let ev = LogEvent { id: "1".into(), timestamp: 1_700_000_000_000, message: text.into(), literal: None };
        let mut out = Vec::new();
        let mut stats = AuditStats::default();
        write_audit_event(cfg, &ctx, &ev, &mut out, &mut stats);
        assert_eq!(out.last(), Some(&b'\n'));
        let doc = &out[..out.len() - 1];
        assert!(!doc.contains(&b'\n'));
        serde_json::from_slice::<serde_json::Value>(doc).expect("audit document is JSON");
    }
});

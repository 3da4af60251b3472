// Weighted DNS: [route53] switches between two whole stacks (one ALB per
// colour) by two weighted alias records, with a steady load that resolves
// the name through the emulator's DNS server and honours the TTL.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use crate::common::{python, Stack};

fn r53(s: &Stack) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&s.sdk())
}

/// A hosted zone of the user's, with one record of theirs in it.
fn zone(s: &Stack, domain: &str) -> String {
    let c = r53(s);
    Stack::rt().block_on(async {
        let z = c
            .create_hosted_zone()
            .name(domain)
            .caller_reference(format!("{domain}-{}", std::process::id()))
            .send()
            .await
            .unwrap();
        let id = z
            .hosted_zone()
            .unwrap()
            .id()
            .trim_start_matches("/hostedzone/")
            .to_string();
        put_simple(&c, &id, &format!("www.{domain}"), "127.9.9.9").await;
        id
    })
}

async fn put_simple(c: &aws_sdk_route53::Client, zone: &str, name: &str, ip: &str) {
    let rrs = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
        .build()
        .unwrap();
    c.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(rrs)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Every A record set of the zone: (name, set identifier, weight).
fn records(s: &Stack, zone: &str) -> Vec<(String, Option<String>, Option<i64>)> {
    let c = r53(s);
    Stack::rt().block_on(async {
        let o = c
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .unwrap();
        o.resource_record_sets()
            .iter()
            .filter(|r| r.r#type() == &RrType::A)
            .map(|r| {
                (
                    r.name().trim_end_matches('.').to_string(),
                    r.set_identifier().map(String::from),
                    r.weight(),
                )
            })
            .collect()
    })
}

/// (blue, green) Route 53 weights of the stack's records.
fn weights(s: &Stack, zone: &str) -> (i64, i64) {
    let rs = records(s, zone);
    let w = |c: &str| {
        rs.iter()
            .find(|r| r.1.as_deref() == Some(&format!("{}-{c}", s.name)))
            .and_then(|r| r.2)
            .unwrap_or(-1)
    };
    (w("blue"), w("green"))
}

fn dns_stack(name: &str) -> (Stack, String, String) {
    let s = Stack::new(
        name,
        &["--bake", "3s", "--poll", "500ms", "--steps", "10, 50, 100"],
    );
    let domain = format!("{name}.example.com");
    let z = zone(&s, &domain);
    let record = format!("api.{domain}");
    s.edit_config(|t| {
        t + &format!("\n[route53]\nhosted_zone_id = \"{z}\"\nrecord = \"{record}\"\n")
    });
    (s, z, record)
}

/// A steady load through the record (resolved through the emulator's DNS,
/// cached for its TTL): per-second lines, then a summary.
fn dns_load(s: &Stack, record: &str, secs: u32) -> std::process::Child {
    Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/localstack/load.py"))
        .args(["--url", &format!("http://{record}:80/invocations")])
        .args(["--resolve-via", &format!("127.0.0.1:{}", s.emu.port)])
        .args(["--rate", "20", "--duration", &secs.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn dns_switches_whole_stacks_with_no_failed_request_and_moves_back_on_rollback() {
    let (s, z, record) = dns_stack("dnsx");
    let plan = s.ok(&["plan"], 0);
    assert!(
        plan.contains("load balancer dnsx-blue") && plan.contains("load balancer dnsx-green"),
        "{plan}"
    );
    assert!(plan.contains("Route 53 weighted alias records"), "{plan}");
    assert!(plan.contains("shorter than the records' TTL"), "{plan}");
    s.ok(&["provision"], 0);
    assert_eq!(weights(&s, &z), (100, 0));
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    // A hand edit of a record is drift: refused.
    let c = r53(&s);
    Stack::rt().block_on(async {
        let o = c
            .list_resource_record_sets()
            .hosted_zone_id(&z)
            .send()
            .await
            .unwrap();
        let green = o
            .resource_record_sets()
            .iter()
            .find(|r| r.set_identifier() == Some("dnsx-green"))
            .unwrap()
            .clone();
        let edited = ResourceRecordSet::builder()
            .name(green.name())
            .r#type(RrType::A)
            .set_identifier("dnsx-green")
            .weight(30)
            .set_alias_target(green.alias_target().cloned())
            .build()
            .unwrap();
        c.change_resource_record_sets()
            .hosted_zone_id(&z)
            .change_batch(
                ChangeBatch::builder()
                    .changes(
                        Change::builder()
                            .action(ChangeAction::Upsert)
                            .resource_record_set(edited)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });
    let out = s.exits(&["shift", "--to", "10"], 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("drift"));
    // --adopt takes what Route 53 shows (100:30 is 77/23), then moves on.
    s.ok(&["shift", "--to", "50", "--adopt"], 0);
    assert_eq!(weights(&s, &z), (50, 50));
    let load = dns_load(&s, &record, 40);
    std::thread::sleep(Duration::from_secs(3));
    s.ok(&["shift"], 0);
    assert_eq!(weights(&s, &z), (0, 100));
    let st = s.status_json();
    assert_eq!(st["route53"]["record"], record.as_str());
    let r = &st["route53"]["resolved"];
    assert_eq!(r["green"], r["samples"], "{r}");
    std::thread::sleep(Duration::from_secs(3));
    s.ok(&["rollback"], 0);
    let rolled_back = Instant::now();
    let rolled_back_at = crate::common::traffic::now_ms() as f64 / 1000.0;
    assert_eq!(weights(&s, &z), (100, 0));
    let st = s.status_json();
    assert_eq!(
        st["route53"]["resolved"]["blue"],
        st["route53"]["resolved"]["samples"]
    );
    assert!(rolled_back.elapsed() < Duration::from_secs(30));
    let out = load.wait_with_output().unwrap();
    let ls = lines(&out);
    let summary = ls.iter().find(|l| l["summary"] == true).expect("summary");
    assert_eq!(summary["fail"], 0, "failed requests: {summary}");
    assert!(summary["ok"].as_u64().unwrap() > 300, "{summary}");
    // Every client is back on v1 within TTL (5 s) + propagation (1 s) + 1 s.
    let last_v2 = ls
        .iter()
        .filter(|l| l["summary"] != true && l["versions"]["v2"].as_u64().unwrap_or(0) > 0)
        .filter_map(|l| l["at"].as_f64())
        .fold(0.0, f64::max);
    let moved = last_v2 - rolled_back_at;
    assert!(
        moved <= 7.0 + 1.0,
        "clients still reached v2 {moved:.1}s after the rollback"
    );
    // destroy deletes cutover's two records only; the user's record stays.
    s.ok(&["destroy", "--yes"], 0);
    let left = records(&s, &z);
    assert!(left.iter().all(|r| r.1.is_none()), "{left:?}");
    assert!(
        left.iter().any(|r| r.0 == "www.dnsx.example.com"),
        "{left:?}"
    );
}

#[test]
fn a_record_name_with_records_of_someone_else_is_refused_before_any_change() {
    let (s, z, record) = dns_stack("dnsf");
    let c = r53(&s);
    Stack::rt().block_on(put_simple(&c, &z, &record, "127.8.8.8"));
    let before = s.requests().len();
    let out = s.exits(&["provision"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not own"), "{err}");
    let writes = s.writes_since(before);
    assert!(writes.is_empty(), "provision wrote {writes:?}");
}

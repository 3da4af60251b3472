//! DynamoDB: compare-and-set conflicts and lost answers, the lock, retries
//! of throttling, and the journal past one page.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, Rule};
use cutover::error::Error;
use cutover::rollout::{Color, Weights};
use cutover::store::{now_ms, Clock, StackDoc, Store};

use crate::harness::{clients, put_recorded, Item, Rules, Writes};

/// The last PutItem request, as the mock saw it.
type LastPut = Arc<Mutex<Option<PutItemInput>>>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn doc_with(live: &str) -> StackDoc {
    StackDoc {
        versions: [(Color::Blue, live.to_string())].into(),
        weights: Some(Weights::all(Color::Blue)),
        ..StackDoc::default()
    }
}

fn state_item(doc: &StackDoc, rev: u64, writer: &str) -> Item {
    HashMap::from([
        ("pk".into(), s("iris")),
        ("sk".into(), s("state")),
        ("doc".into(), s(&serde_json::to_string(doc).unwrap())),
        ("rev".into(), n(rev)),
        ("writer".into(), s(writer)),
    ])
}

fn condition_failed() -> PutItemError {
    PutItemError::ConditionalCheckFailedException(
        ConditionalCheckFailedException::builder()
            .message("The conditional request failed")
            .build(),
    )
}

fn store(c: Client) -> Store {
    Store::new(c, "cutover-state", "iris")
}

/// PutItem whose condition fails; the request is kept in `seen`.
fn put_condition_fails(seen: LastPut) -> Rule {
    mock!(Client::put_item)
        .match_requests(move |r| {
            *seen.lock().unwrap() = Some(r.clone());
            true
        })
        .then_error(condition_failed)
}

/// GetItem (consistent, of `sk`) answering whatever `item` holds when asked.
fn get_from(sk: &'static str, item: Arc<Mutex<Option<Item>>>) -> Rule {
    mock!(Client::get_item)
        .match_requests(move |r| {
            r.table_name() == Some("cutover-state")
                && r.consistent_read() == Some(true)
                && r.key().and_then(|k| k.get("sk")) == Some(&s(sk))
                && r.key().and_then(|k| k.get("pk")) == Some(&s("iris"))
        })
        .then_compute_output(move |_| {
            GetItemOutput::builder()
                .set_item(item.lock().unwrap().clone())
                .build()
        })
}

fn shared(item: Option<Item>) -> Arc<Mutex<Option<Item>>> {
    Arc::new(Mutex::new(item))
}

#[tokio::test]
async fn a_lost_compare_and_set_is_a_conflict() {
    let seen: LastPut = Arc::default();
    let put = put_condition_fails(seen.clone());
    // Another run wrote rev 2 first.
    let get = get_from(
        "state",
        shared(Some(state_item(&doc_with("v9"), 2, "another-run"))),
    );
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let e = store(c.dynamodb)
        .save(&doc_with("v2"), 1)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    assert_eq!(e.exit_code(), 1);
    assert_eq!(put.num_calls(), 1, "a failed condition is not retried");
    assert_eq!(
        get.num_calls(),
        1,
        "the item was read back before giving up"
    );
    let req = seen.lock().unwrap().clone().unwrap();
    assert_eq!(req.condition_expression(), Some("rev = :rev"));
    assert_eq!(
        req.expression_attribute_values().unwrap().get(":rev"),
        Some(&n(1))
    );
}

#[tokio::test]
async fn a_conflict_with_our_token_but_another_revision_is_still_a_conflict() {
    let seen: LastPut = Arc::default();
    let put = put_condition_fails(seen.clone());
    let item = shared(None);
    let from_put = item.clone();
    // Our token, but rev 7: not the item our write (rev 2) would have left.
    let get = mock!(Client::get_item).then_compute_output(move |_| {
        let token = seen.lock().unwrap().as_ref().unwrap().item().unwrap()["writer"].clone();
        let mut i = state_item(&doc_with("v9"), 7, "x");
        i.insert("writer".into(), token);
        *from_put.lock().unwrap() = Some(i.clone());
        GetItemOutput::builder().set_item(Some(i)).build()
    });
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let e = store(c.dynamodb)
        .save(&doc_with("v2"), 1)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    assert!(item.lock().unwrap().is_some(), "the read-back happened");
}

#[tokio::test]
async fn a_retried_write_whose_answer_was_lost_is_ours() {
    let seen: LastPut = Arc::default();
    let put = put_condition_fails(seen.clone());
    // The item holds exactly what our own PutItem wrote: the first try landed,
    // its answer was lost, and the SDK's retry then failed its own condition.
    let get = mock!(Client::get_item).then_compute_output(move |_| {
        GetItemOutput::builder()
            .set_item(
                seen.lock()
                    .unwrap()
                    .as_ref()
                    .and_then(|r| r.item().cloned()),
            )
            .build()
    });
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let rev = store(c.dynamodb).save(&doc_with("v2"), 1).await.unwrap();
    assert_eq!(rev, 2);
    assert_eq!((put.num_calls(), get.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_plain_write_succeeds_once_and_claims_a_fresh_item() {
    let writes = Writes::default();
    let put = put_recorded(&writes);
    let c = clients(Rules {
        dynamodb: vec![&put],
        ..Rules::default()
    });
    let doc = doc_with("v1");
    assert_eq!(store(c.dynamodb).save(&doc, 0).await.unwrap(), 1);
    assert_eq!(put.num_calls(), 1);
    assert_eq!(writes.states(), vec![(doc, 1)]);
    let item = &writes.all()[0];
    assert_eq!(item["pk"], s("iris"));
    assert_eq!(item["writer"].as_s().unwrap().len(), 16, "a writer token");
}

fn lock_item(token: &str, holder: &str, expires: u64) -> Item {
    HashMap::from([
        ("pk".into(), s("iris")),
        ("sk".into(), s("lock")),
        ("holder".into(), s(holder)),
        ("token".into(), s(token)),
        ("expires".into(), n(expires)),
    ])
}

#[tokio::test]
async fn a_held_lock_names_its_holder_and_an_expired_one_can_be_taken() {
    let seen: LastPut = Arc::default();
    let put = put_condition_fails(seen.clone());
    let get = get_from(
        "lock",
        shared(Some(lock_item(
            "someone-else",
            "`shift` by ops@host pid 7",
            now_ms() + 30_000,
        ))),
    );
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let before = now_ms();
    let e = store(c.dynamodb)
        .lock(Duration::from_secs(60), "promote")
        .await
        .unwrap_err();
    let after = now_ms();
    match &e {
        Error::Locked(m) => {
            assert!(m.contains("locked by `shift` by ops@host pid 7"), "{m}");
            // The holder's lease (30 s from when the item was made) is named too.
            let left: u64 = m
                .split("lease expires in ")
                .nth(1)
                .and_then(|r| r.split('s').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no lease time in {m}"));
            assert!((20..=30).contains(&left), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.exit_code(), 75);
    assert_eq!(get.num_calls(), 1);

    // The first try only claims an absent lock; breaking a lease is decided
    // after reading it (see the tests below). The item names its clock.
    let req = seen.lock().unwrap().clone().unwrap();
    assert_eq!(req.condition_expression(), Some("attribute_not_exists(pk)"));
    let num = |v: &AttributeValue| v.as_n().unwrap().parse::<u64>().unwrap();
    let item = req.item().unwrap();
    let expires = num(&item["expires"]);
    assert!(
        (before + 60_000..=after + 60_000).contains(&expires),
        "{expires}"
    );
    assert_eq!(num(&item["lease_ms"]), 60_000);
    assert_eq!(item["clock"], s(&Clock::here().id));
    assert_eq!(item["version"].as_s().unwrap().len(), 16);
    assert_eq!(item["sk"], s("lock"));
    assert!(item["holder"].as_s().unwrap().starts_with("`promote` by "));
}

/// A lock item written on another host's clock, with times that mean
/// nothing here (its expiry is long past by this host's wall clock).
fn foreign_lock(version: &str, watch: Option<(&str, u64)>) -> Item {
    let mut item = lock_item("someone-else", "`promote` by ops@b pid 9", 1);
    item.insert("version".into(), s(version));
    item.insert("clock".into(), s("boot:another-host"));
    item.insert("clock_expires".into(), n(1));
    item.insert("lease_ms".into(), n(60_000));
    let mut map = HashMap::new();
    if let Some((v, since)) = watch {
        map.insert(
            Clock::here().id,
            AttributeValue::M(HashMap::from([
                ("version".into(), s(v)),
                ("since".into(), n(since)),
            ])),
        );
    }
    item.insert("watch".into(), AttributeValue::M(map));
    item
}

type LastUpdate = Arc<Mutex<Option<UpdateItemInput>>>;

fn lock_rules(
    item: Arc<Mutex<Option<Item>>>,
    take_ok: bool,
    seen_take: LastPut,
    seen_watch: LastUpdate,
) -> (Rule, Rule, Rule, Rule) {
    let claim = mock!(Client::put_item)
        .match_requests(|r| r.condition_expression() == Some("attribute_not_exists(pk)"))
        .then_error(condition_failed);
    let take = mock!(Client::put_item).match_requests(move |r| {
        *seen_take.lock().unwrap() = Some(r.clone());
        true
    });
    let take = if take_ok {
        take.then_output(|| PutItemOutput::builder().build())
    } else {
        take.then_error(condition_failed)
    };
    let watch = mock!(Client::update_item)
        .match_requests(move |r| {
            *seen_watch.lock().unwrap() = Some(r.clone());
            true
        })
        .then_output(|| UpdateItemOutput::builder().build());
    (claim, take, watch, get_from("lock", item))
}

#[tokio::test]
async fn a_lease_from_another_clock_is_watched_a_full_lease_then_broken() {
    let item = shared(Some(foreign_lock("v1", None)));
    let (seen_take, seen_watch): (LastPut, LastUpdate) = Default::default();
    let (claim, take, watch, get) =
        lock_rules(item.clone(), true, seen_take.clone(), seen_watch.clone());
    let c = clients(Rules {
        dynamodb: vec![&claim, &take, &watch, &get],
        ..Rules::default()
    });
    let st = store(c.dynamodb);
    // First sight: no trust in the holder's times; a watch is recorded.
    let e = st
        .lock(Duration::from_secs(60), "promote")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Locked(m) if m.contains("another host's clock") && m.contains("within 60s")),
        "{e:?}"
    );
    assert_eq!(take.num_calls(), 0);
    let up = seen_watch.lock().unwrap().clone().unwrap();
    assert_eq!(up.update_expression(), Some("SET #w.#c = :e"));
    assert_eq!(
        up.condition_expression(),
        Some("#v = :v AND attribute_exists(#w)")
    );
    assert_eq!(
        up.expression_attribute_names().unwrap()["#c"],
        Clock::here().id
    );
    assert_eq!(up.expression_attribute_values().unwrap()[":v"], s("v1"));
    // Half a lease later on this clock: still watching, no write.
    let here = Clock::here().now;
    *item.lock().unwrap() = Some(foreign_lock("v1", Some(("v1", here - 30_000))));
    let e = st
        .lock(Duration::from_secs(60), "promote")
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 75);
    assert_eq!((take.num_calls(), watch.num_calls()), (0, 1));
    // A full lease on this clock with the same version: broken, guarded by
    // that version so a renewal in between would win.
    *item.lock().unwrap() = Some(foreign_lock("v1", Some(("v1", here - 61_000))));
    let lock = st.lock(Duration::from_secs(60), "promote").await.unwrap();
    assert_eq!(take.num_calls(), 1);
    let put = seen_take.lock().unwrap().clone().unwrap();
    assert_eq!(put.condition_expression(), Some("#t = :t AND #v = :v"));
    let vals = put.expression_attribute_values().unwrap();
    assert_eq!((&vals[":v"], &vals[":t"]), (&s("v1"), &s("someone-else")));
    assert_eq!(put.item().unwrap()["token"], s(&lock.token));
}

#[tokio::test]
async fn a_renewal_voids_the_watch() {
    // The holder renewed (v2) since this clock watched v1 long ago.
    let here = Clock::here().now;
    let item = shared(Some(foreign_lock("v2", Some(("v1", here - 600_000)))));
    let (seen_take, seen_watch): (LastPut, LastUpdate) = Default::default();
    let (claim, take, watch, get) = lock_rules(item, true, seen_take, seen_watch.clone());
    let c = clients(Rules {
        dynamodb: vec![&claim, &take, &watch, &get],
        ..Rules::default()
    });
    let e = store(c.dynamodb)
        .lock(Duration::from_secs(60), "promote")
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 75);
    assert_eq!(take.num_calls(), 0);
    let up = seen_watch.lock().unwrap().clone().unwrap();
    assert_eq!(up.expression_attribute_values().unwrap()[":v"], s("v2"));
}

#[tokio::test]
async fn two_takers_race_and_the_loser_is_locked_out() {
    let here = Clock::here().now;
    let item = shared(Some(foreign_lock("v1", Some(("v1", here - 61_000)))));
    let (seen_take, seen_watch): (LastPut, LastUpdate) = Default::default();
    // The other taker's put landed first: ours fails its version condition,
    // and the read-back shows their token, not ours.
    let (claim, take, watch, _) = lock_rules(item.clone(), false, seen_take, seen_watch);
    let reads = Arc::new(Mutex::new(0));
    let get = mock!(Client::get_item).then_compute_output(move |_| {
        let mut k = reads.lock().unwrap();
        *k += 1;
        let it = if *k == 1 {
            foreign_lock("v1", Some(("v1", here - 61_000)))
        } else {
            lock_item("winner", "`promote` by ops@c pid 3", u64::MAX)
        };
        GetItemOutput::builder().set_item(Some(it)).build()
    });
    let c = clients(Rules {
        dynamodb: vec![&claim, &take, &watch, &get],
        ..Rules::default()
    });
    let e = store(c.dynamodb)
        .lock(Duration::from_secs(60), "promote")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Locked(m) if m.contains("taken by `promote` by ops@c pid 3 first")),
        "{e:?}"
    );
    assert_eq!((take.num_calls(), get.num_calls()), (1, 2));
}

#[tokio::test]
async fn a_lock_whose_answer_was_lost_is_held() {
    let seen: LastPut = Arc::default();
    let put = put_condition_fails(seen.clone());
    let from_put = seen.clone();
    // The lock item holds our own PutItem (it landed; its answer was lost).
    let get = mock!(Client::get_item).then_compute_output(move |_| {
        GetItemOutput::builder()
            .set_item(
                from_put
                    .lock()
                    .unwrap()
                    .as_ref()
                    .and_then(|r| r.item().cloned()),
            )
            .build()
    });
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let lock = store(c.dynamodb)
        .lock(Duration::from_secs(60), "promote")
        .await
        .unwrap();
    let req = seen.lock().unwrap().clone().unwrap();
    assert_eq!(req.item().unwrap()["token"], s(&lock.token));
    assert_eq!(get.num_calls(), 1);
}

const THROTTLED: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}"#;

#[tokio::test]
async fn throttling_is_retried() {
    let get = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .times(2)
        .output(|| {
            GetItemOutput::builder()
                .set_item(Some(state_item(&doc_with("v3"), 3, "w")))
                .build()
        })
        .build();
    let c = clients(Rules {
        dynamodb: vec![&get],
        ..Rules::default()
    });
    let (doc, rev) = store(c.dynamodb).load().await.unwrap();
    assert_eq!((doc, rev), (doc_with("v3"), 3));
    assert_eq!(get.num_calls(), 3, "two throttled attempts, then the item");
}

#[tokio::test]
async fn throttling_that_never_stops_is_an_error_never_absence() {
    for load_if_table in [false, true] {
        let always = mock!(Client::get_item)
            .sequence()
            .http_status(400, Some(THROTTLED.into()))
            .repeatedly()
            .build();
        let c = clients(Rules {
            dynamodb: vec![&always],
            ..Rules::default()
        });
        let st = store(c.dynamodb);
        // Neither "no state yet" (rev 0) nor "no table" (None): exit 1.
        let e = if load_if_table {
            match st.load_if_table().await {
                Err(e) => e,
                Ok(v) => panic!("throttling read as {v:?}"),
            }
        } else {
            match st.load().await {
                Err(e) => e,
                Ok(v) => panic!("throttling read as {v:?}"),
            }
        };
        assert!(matches!(e, Error::Aws { .. }), "{e:?}");
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("ThrottlingException"), "{e}");
        assert_eq!(always.num_calls(), 3, "every attempt was made");
    }
}

fn journal_item(at: u64) -> Item {
    let doc = format!(r#"{{"at":{at},"event":"step","detail":"entry {at}","phase":"shifting"}}"#);
    HashMap::from([
        ("pk".into(), s("iris")),
        ("sk".into(), s(&format!("journal#{at:013}#0"))),
        ("doc".into(), s(&doc)),
    ])
}

fn journal_key(at: u64) -> Item {
    HashMap::from([
        ("pk".into(), s("iris")),
        ("sk".into(), s(&format!("journal#{at:013}#0"))),
    ])
}

#[tokio::test]
async fn the_journal_is_read_past_one_page() {
    let page1 = mock!(Client::query)
        .match_requests(|r| {
            r.exclusive_start_key().is_none()
                && r.key_condition_expression() == Some("pk = :pk AND begins_with(sk, :j)")
        })
        .then_output(|| {
            QueryOutput::builder()
                .set_items(Some((1..=3).map(journal_item).collect()))
                .set_last_evaluated_key(Some(journal_key(3)))
                .build()
        });
    let page2 = mock!(Client::query)
        .match_requests(|r| r.exclusive_start_key() == Some(&journal_key(3)))
        .then_output(|| {
            QueryOutput::builder()
                .set_items(Some((4..=5).map(journal_item).collect()))
                .build()
        });
    let c = clients(Rules {
        dynamodb: vec![&page1, &page2],
        ..Rules::default()
    });
    let entries = store(c.dynamodb).history(None).await.unwrap();
    let ats: Vec<u64> = entries.iter().map(|e| e.at).collect();
    assert_eq!(ats, vec![1, 2, 3, 4, 5], "both pages, oldest first");
    assert_eq!(entries[4].detail, "entry 5");
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

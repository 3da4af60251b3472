//! DynamoDB: compare-and-set conflicts and lost answers, the lock, retries
//! of throttling, and the journal past one page.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::mock;
use cutover::error::Error;
use cutover::store::{StackDoc, Store};

use crate::harness::{clients, rt, Rules};

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn state_item(rev: u64, writer: &str) -> Item {
    HashMap::from([
        ("pk".into(), s("iris")),
        ("sk".into(), s("state")),
        (
            "doc".into(),
            s(&serde_json::to_string(&StackDoc::default()).unwrap()),
        ),
        ("rev".into(), AttributeValue::N(rev.to_string())),
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

/// The writer token of the last PutItem, captured as the mock sees it.
fn capture_put(seen: Arc<Mutex<Option<Item>>>) -> aws_smithy_mocks::Rule {
    mock!(Client::put_item)
        .match_requests(move |r| {
            *seen.lock().unwrap() = r.item().cloned();
            true
        })
        .then_error(condition_failed)
}

#[test]
fn a_lost_compare_and_set_is_a_conflict() {
    let put = capture_put(Arc::default());
    let get = mock!(Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .set_item(Some(state_item(2, "another-run")))
            .build()
    });
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let r = rt().block_on(store(c.dynamodb).save(&StackDoc::default(), 1));
    assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
    assert_eq!(put.num_calls(), 1, "a failed condition is not retried");
}

#[test]
fn a_retried_write_whose_answer_was_lost_is_ours() {
    let seen: Arc<Mutex<Option<Item>>> = Arc::default();
    let put = capture_put(seen.clone());
    let from_put = seen.clone();
    // The item now holds what our own PutItem wrote (the first try landed).
    let get = mock!(Client::get_item).then_compute_output(move |_| {
        GetItemOutput::builder()
            .set_item(from_put.lock().unwrap().clone())
            .build()
    });
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let r = rt().block_on(store(c.dynamodb).save(&StackDoc::default(), 1));
    assert_eq!(r.unwrap(), 2);
    let written = seen.lock().unwrap().clone().unwrap();
    assert_eq!(written["rev"], AttributeValue::N("2".into()));
    assert!(written["writer"].as_s().unwrap().len() >= 16);
}

fn lock_item(token: &str, holder: &str) -> Item {
    HashMap::from([
        ("pk".into(), s("iris")),
        ("sk".into(), s("lock")),
        ("holder".into(), s(holder)),
        ("token".into(), s(token)),
        (
            "expires".into(),
            AttributeValue::N((cutover::store::now_ms() + 30_000).to_string()),
        ),
    ])
}

#[test]
fn a_held_lock_names_its_holder_and_an_expired_one_can_be_taken() {
    let conditions: Arc<Mutex<Vec<String>>> = Arc::default();
    let cond = conditions.clone();
    let put = mock!(Client::put_item)
        .match_requests(move |r| {
            cond.lock()
                .unwrap()
                .push(r.condition_expression().unwrap_or_default().to_string());
            true
        })
        .then_error(condition_failed);
    let get = mock!(Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .set_item(Some(lock_item("someone-else", "`shift` by ops@host pid 7")))
            .build()
    });
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let r = rt().block_on(store(c.dynamodb).lock(Duration::from_secs(60), "promote"));
    match r {
        Err(Error::Locked(m)) => assert!(m.contains("`shift` by ops@host pid 7"), "{m}"),
        other => panic!("{other:?}"),
    }
    // The condition lets a taker break a lease that has expired.
    assert!(conditions.lock().unwrap()[0].contains("expires < :now"));
}

#[test]
fn a_lock_whose_answer_was_lost_is_held() {
    let seen: Arc<Mutex<Option<Item>>> = Arc::default();
    let put = capture_put(seen.clone());
    let from_put = seen.clone();
    let get = mock!(Client::get_item).then_compute_output(move |_| {
        GetItemOutput::builder()
            .set_item(from_put.lock().unwrap().clone())
            .build()
    });
    let c = clients(Rules {
        dynamodb: vec![&put, &get],
        ..Rules::default()
    });
    let lock = rt()
        .block_on(store(c.dynamodb).lock(Duration::from_secs(60), "promote"))
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().as_ref().unwrap()["token"]
            .as_s()
            .unwrap(),
        &lock.token
    );
}

const THROTTLED: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}"#;

#[test]
fn throttling_is_retried_and_never_read_as_absent() {
    let get = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .times(2)
        .output(|| {
            GetItemOutput::builder()
                .set_item(Some(state_item(3, "w")))
                .build()
        })
        .build();
    let c = clients(Rules {
        dynamodb: vec![&get],
        ..Rules::default()
    });
    let (_, rev) = rt().block_on(store(c.dynamodb).load()).unwrap();
    assert_eq!(rev, 3);
    assert_eq!(get.num_calls(), 3);
    // Throttling that never stops is an operational error (exit 1), not "no table".
    let always = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .repeatedly()
        .build();
    let c = clients(Rules {
        dynamodb: vec![&always],
        ..Rules::default()
    });
    let r = rt().block_on(store(c.dynamodb).load_if_table());
    match r {
        Err(e) => assert_eq!(e.exit_code(), 1, "{e}"),
        Ok(v) => panic!("throttling read as {v:?}"),
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

#[test]
fn the_journal_is_read_past_one_page() {
    let page1 = mock!(Client::query)
        .match_requests(|r| r.exclusive_start_key().is_none())
        .then_output(|| {
            QueryOutput::builder()
                .set_items(Some((1..=3).map(journal_item).collect()))
                .set_last_evaluated_key(Some(journal_item(3)))
                .build()
        });
    let page2 = mock!(Client::query)
        .match_requests(|r| r.exclusive_start_key().is_some())
        .then_output(|| {
            QueryOutput::builder()
                .set_items(Some((4..=5).map(journal_item).collect()))
                .build()
        });
    let c = clients(Rules {
        dynamodb: vec![&page1, &page2],
        ..Rules::default()
    });
    let entries = rt().block_on(store(c.dynamodb).history(None)).unwrap();
    let ats: Vec<u64> = entries.iter().map(|e| e.at).collect();
    assert_eq!(ats, vec![1, 2, 3, 4, 5]);
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

#[test]
fn a_plain_write_succeeds_once() {
    let put = mock!(Client::put_item).then_output(|| PutItemOutput::builder().build());
    let c = clients(Rules {
        dynamodb: vec![&put],
        ..Rules::default()
    });
    assert_eq!(
        rt().block_on(store(c.dynamodb).save(&StackDoc::default(), 0))
            .unwrap(),
        1
    );
    assert_eq!(put.num_calls(), 1);
}

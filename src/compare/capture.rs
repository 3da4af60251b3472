//! Pairs of captured answers: SageMaker Data Capture records of the live
//! variant and of the shadow, matched by the request's event id (or the
//! caller's inference id), each side's output decoded.
use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::report::Pair;
use crate::probe::Answer;

/// One capture record: its id, input and output (decoded).
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    pub id: String,
    pub input: String,
    pub output: String,
}

fn decode(v: &Value) -> Option<String> {
    let data = v.get("data")?.as_str()?;
    let enc = v.get("encoding").and_then(Value::as_str).unwrap_or("JSON");
    if enc.eq_ignore_ascii_case("BASE64") {
        String::from_utf8(aws_smithy_types::base64::decode(data).ok()?).ok()
    } else {
        Some(data.to_string())
    }
}

/// The records of a capture file (JSON lines); lines that are not capture
/// records, or lack an id or an output, are skipped.
pub fn records(text: &str) -> Vec<Captured> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter_map(|v| {
            let meta = v.get("eventMetadata")?;
            let id = meta
                .get("inferenceId")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| meta.get("eventId").and_then(Value::as_str))?;
            let cap = v.get("captureData")?;
            Some(Captured {
                id: id.to_string(),
                input: cap
                    .get("endpointInput")
                    .and_then(decode)
                    .unwrap_or_default(),
                output: cap.get("endpointOutput").and_then(decode)?,
            })
        })
        .collect()
}

/// Pairs live's and the shadow's records of the same requests (at most
/// `max`, in the shadow's order), as comparison pairs.
pub fn pair(live: &[Captured], shadow: &[Captured], max: usize) -> Vec<Pair> {
    let by_id: HashMap<&str, &Captured> = live.iter().map(|c| (c.id.as_str(), c)).collect();
    let answer = |c: &Captured| {
        Ok(Answer {
            status: 200,
            body: c.output.clone(),
            latency: Duration::ZERO,
        })
    };
    shadow
        .iter()
        .filter_map(|s| by_id.get(s.id.as_str()).map(|l| (*l, s)))
        .take(max)
        .map(|(l, s)| Pair {
            input: l.input.clone(),
            expect: None,
            live: answer(l),
            candidate: answer(s),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, out: &str, b64: bool) -> String {
        let (data, enc) = if b64 {
            (aws_smithy_types::base64::encode(out), "BASE64")
        } else {
            (out.replace('"', "\\\""), "JSON")
        };
        format!(
            r#"{{"captureData":{{"endpointInput":{{"data":"{{}}","encoding":"JSON"}},"endpointOutput":{{"data":"{data}","encoding":"{enc}"}}}},"eventMetadata":{{"eventId":"{id}","inferenceTime":"2026-12-07T12:00:00Z"}},"eventVersion":"0"}}"#
        )
    }

    #[test]
    fn pairs_by_event_id_whatever_the_encoding() {
        let live = records(
            &[
                line("a", r#"{"p":[1]}"#, true),
                line("b", r#"{"p":[2]}"#, false),
                line("c", "x", false),
            ]
            .join("\n"),
        );
        let shadow = records(
            &[
                line("b", r#"{"p":[3]}"#, true),
                line("z", "y", false),
                "not json".into(),
            ]
            .join("\n"),
        );
        assert_eq!(live.len(), 3);
        assert_eq!(shadow.len(), 2);
        let pairs = pair(&live, &shadow, 10);
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].live.as_ref().unwrap().body, r#"{"p":[2]}"#);
        assert_eq!(pairs[0].candidate.as_ref().unwrap().body, r#"{"p":[3]}"#);
        assert!(pair(&live, &shadow, 0).is_empty());
    }
}

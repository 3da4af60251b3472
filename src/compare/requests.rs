//! The request set: JSON lines `{"body": <request>, "expect": <output>}`, or
//! SageMaker Data Capture lines (`captureData.endpointInput`), as AWS writes them.
use serde_json::Value;

/// One request to send to both colours.
#[derive(Clone, Debug, PartialEq)]
pub struct Golden {
    pub body: String,
    pub content_type: String,
    /// The expected output, when the line gives one.
    pub expect: Option<Value>,
}

/// Parses a request file; `what` names it in errors (`file:line: ...`).
pub fn parse_requests(what: &str, text: &str, content_type: &str) -> Result<Vec<Golden>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |m: String| format!("{what}:{}: {m}", i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
        if let Some(input) = v.pointer("/captureData/endpointInput") {
            out.push(capture(input, content_type).map_err(at)?);
            continue;
        }
        let Some(body) = v.get("body") else {
            return Err(at(
                "needs \"body\" (or SageMaker Data Capture's captureData.endpointInput)".into(),
            ));
        };
        let body = match body {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push(Golden {
            body,
            content_type: content_type.to_string(),
            expect: v.get("expect").cloned(),
        });
    }
    if out.is_empty() {
        return Err(format!("{what}: no requests"));
    }
    Ok(out)
}

/// One Data Capture input: `data` is base64 when `encoding` is BASE64, text otherwise.
fn capture(input: &Value, default_type: &str) -> Result<Golden, String> {
    let data = input
        .get("data")
        .and_then(Value::as_str)
        .ok_or("captureData.endpointInput has no \"data\"")?;
    let encoding = input
        .get("encoding")
        .and_then(Value::as_str)
        .unwrap_or("JSON");
    let body = if encoding.eq_ignore_ascii_case("BASE64") {
        let bytes = aws_smithy_types::base64::decode(data)
            .map_err(|e| format!("captureData.endpointInput.data is not base64: {e}"))?;
        String::from_utf8(bytes).map_err(|_| "captured input is not UTF-8 text".to_string())?
    } else {
        data.to_string()
    };
    Ok(Golden {
        body,
        content_type: input
            .get("observedContentType")
            .and_then(Value::as_str)
            .unwrap_or(default_type)
            .to_string(),
        expect: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_lines() {
        let text = "{\"body\": {\"data\": [[1, 2, 3, 4]]}, \"expect\": [0]}\n\n# note\n{\"body\": \"raw\"}\n";
        let r = parse_requests("g.jsonl", text, "application/json").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].body, r#"{"data":[[1,2,3,4]]}"#);
        assert_eq!(r[0].expect, Some(serde_json::json!([0])));
        assert_eq!(r[1].body, "raw");
        assert_eq!(r[1].expect, None);
    }

    #[test]
    fn data_capture_lines() {
        let b64 = aws_smithy_types::base64::encode(r#"{"data": [[5.1, 3.5, 1.4, 0.2]]}"#);
        let text = format!(
            "{{\"captureData\":{{\"endpointInput\":{{\"observedContentType\":\"application/json\",\"mode\":\"INPUT\",\"data\":\"{b64}\",\"encoding\":\"BASE64\"}},\"endpointOutput\":{{\"data\":\"x\",\"encoding\":\"BASE64\"}}}},\"eventMetadata\":{{\"eventId\":\"1\"}},\"eventVersion\":\"0\"}}\n{{\"captureData\":{{\"endpointInput\":{{\"observedContentType\":\"text/csv\",\"data\":\"1,2,3\",\"encoding\":\"CSV\"}}}}}}"
        );
        let r = parse_requests("capture.jsonl", &text, "application/json").unwrap();
        assert_eq!(r[0].body, r#"{"data": [[5.1, 3.5, 1.4, 0.2]]}"#);
        assert_eq!(r[0].content_type, "application/json");
        assert_eq!(r[1].body, "1,2,3");
        assert_eq!(r[1].content_type, "text/csv");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse_requests("g.jsonl", "{\"body\": 1}\nnot json\n", "a").unwrap_err();
        assert!(e.starts_with("g.jsonl:2: not JSON"), "{e}");
        let e = parse_requests("g.jsonl", "{\"x\": 1}\n", "a").unwrap_err();
        assert!(e.contains("g.jsonl:1: needs \"body\""), "{e}");
        assert!(parse_requests("g.jsonl", "\n", "a")
            .unwrap_err()
            .contains("no requests"));
        let bad = r#"{"captureData":{"endpointInput":{"data":"%%%","encoding":"BASE64"}}}"#;
        assert!(parse_requests("c", bad, "a")
            .unwrap_err()
            .contains("not base64"));
    }
}

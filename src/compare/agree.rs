//! Whether two model outputs agree: exact for strings, booleans and null,
//! within an absolute tolerance for numbers, element-wise for arrays and objects.
use serde_json::Value;

/// The output at JSON pointer `ptr` of an answer body ("" = the whole body).
pub fn extract(body: &str, ptr: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(body).ok()?;
    v.pointer(ptr).cloned()
}

pub fn agree(a: &Value, b: &Value, tolerance: f64) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= tolerance,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| agree(x, y, tolerance))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| agree(v, w, tolerance)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_within_tolerance() {
        assert!(agree(&json!(1.0), &json!(1), 0.0));
        assert!(agree(&json!(0.5), &json!(0.55), 0.05 + 1e-12));
        assert!(!agree(&json!(0.5), &json!(0.56), 0.05));
        assert!(!agree(&json!(0), &json!(1), 0.5));
    }

    #[test]
    fn arrays_element_wise_and_shapes() {
        assert!(agree(&json!([0, 1, 2]), &json!([0, 1, 2]), 0.0));
        assert!(!agree(&json!([0, 1, 2]), &json!([0, 1]), 10.0));
        assert!(agree(&json!([[0.1, 0.9]]), &json!([[0.12, 0.88]]), 0.05));
        assert!(!agree(&json!([[0.1, 0.9]]), &json!([[0.3, 0.7]]), 0.05));
        assert!(agree(&json!({"a": [1]}), &json!({"a": [1.0]}), 0.0));
        assert!(!agree(&json!({"a": 1}), &json!({"b": 1}), 0.0));
        assert!(!agree(&json!("setosa"), &json!("virginica"), 1.0));
        assert!(!agree(&json!(1), &json!("1"), 0.0));
    }

    #[test]
    fn pointers() {
        let body = r#"{"predictions": [2, 0], "version": "v1"}"#;
        assert_eq!(extract(body, "/predictions"), Some(json!([2, 0])));
        assert_eq!(extract(body, "/predictions/1"), Some(json!(0)));
        assert_eq!(
            extract(body, ""),
            Some(json!({"predictions": [2, 0], "version": "v1"}))
        );
        assert_eq!(extract(body, "/nope"), None);
        assert_eq!(extract("not json", ""), None);
    }
}

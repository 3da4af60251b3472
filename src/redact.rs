//! What may leave the process: URLs lose their userinfo and query values
//! (webhook tokens, `user:pass@`), and remote text loses terminal control
//! sequences. Output, errors, the journal and events all pass through here.

/// A URL as it may be shown: scheme, host, port and path stay; userinfo,
/// query values and the fragment go.
pub fn url(u: &str) -> String {
    let Some((scheme, rest)) = u.split_once("://") else {
        return u.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once('@') {
        Some((_, h)) => format!("***@{h}"),
        None => authority.to_string(),
    };
    let tail = tail.split('#').next().unwrap_or_default();
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let mut out = format!("{scheme}://{host}{path}");
    if let Some(q) = query {
        let q: Vec<String> = q
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) => format!("{k}=***"),
                None => "***".to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&q.join("&"));
    }
    out
}

/// Where a URL goes, and no more: `scheme://host/…` (webhook tokens often
/// sit in the path: Slack, Discord, Teams).
pub fn origin(u: &str) -> String {
    let Some((scheme, rest)) = u.split_once("://") else {
        return "***".to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = if end < rest.len() { "/…" } else { "" };
    format!("{scheme}://{host}{more}")
}

/// `text` with every http(s) URL in it redacted and control characters
/// (terminal escape sequences) made visible as `?`.
pub fn text(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(i) = [rest.find("http://"), rest.find("https://")]
        .into_iter()
        .flatten()
        .min()
    {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after
            .find(|c: char| c.is_whitespace() || "\"'<>`)]},;\\".contains(c))
            .unwrap_or(after.len());
        out.push_str(&url(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_secrets_but_keep_where_they_go() {
        assert_eq!(
            url("https://bob:s3cret@hooks.example.com:8443/T0/B1?token=abc&x=1#frag"),
            "https://***@hooks.example.com:8443/T0/B1?token=***&x=***"
        );
        assert_eq!(url("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(url("not a url"), "not a url");
        assert_eq!(
            origin("https://hooks.slack.com/services/T0/B1/s3cr3t"),
            "https://hooks.slack.com/…"
        );
        let t = text("POST https://h.example/x?sig=1 failed: \u{1b}[31mred (see http://a:b@c/d)");
        assert_eq!(
            t,
            "POST https://h.example/x?sig=*** failed: ?[31mred (see http://***@c/d)"
        );
        assert!(!t.contains("sig=1") && !t.contains("a:b"));
        // Inside serialized JSON a URL ends at the escaped quote, which stays.
        let j = serde_json::json!({"r": "see \"https://g/d?orgId=1\""}).to_string();
        let r: serde_json::Value = serde_json::from_str(&text(&j)).unwrap();
        assert_eq!(r["r"], "see \"https://g/d?orgId=***\"");
    }
}

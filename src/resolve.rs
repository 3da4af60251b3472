//! A DNS A query over UDP, as a client of a weighted record sends it: what
//! `status` uses to show the split the name servers actually answer.
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// The query packet for `name` (type A, class IN, recursion desired).
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Skips a (possibly compressed) name at `i`; the index after it.
fn skip_name(p: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = *p.get(i)? as usize;
        if len == 0 {
            return Some(i + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Some(i + 2);
        }
        i += 1 + len;
    }
}

/// The A addresses and the TTL of an answer to query `id`; None for a
/// packet that is not that answer (or is cut short).
pub fn answers(p: &[u8], id: u16) -> Option<(Vec<Ipv4Addr>, u32)> {
    if p.len() < 12 || u16::from_be_bytes([p[0], p[1]]) != id || p[2] & 0x80 == 0 {
        return None;
    }
    let qd = u16::from_be_bytes([p[4], p[5]]);
    let an = u16::from_be_bytes([p[6], p[7]]);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(p, i)? + 4;
    }
    let (mut out, mut ttl) = (Vec::new(), u32::MAX);
    for _ in 0..an {
        i = skip_name(p, i)?;
        let h = p.get(i..i + 10)?;
        let (kind, len) = (
            u16::from_be_bytes([h[0], h[1]]),
            u16::from_be_bytes([h[8], h[9]]) as usize,
        );
        let data = p.get(i + 10..i + 10 + len)?;
        if kind == 1 && len == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
            ttl = ttl.min(u32::from_be_bytes([h[4], h[5], h[6], h[7]]));
        }
        i += 10 + len;
    }
    let ttl = if out.is_empty() { 0 } else { ttl };
    Some((out, ttl))
}

/// Asks `server` for `name`'s A addresses, once (2 s timeout).
pub async fn resolve(server: SocketAddr, name: &str, id: u16) -> Option<Vec<Ipv4Addr>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .ok()?;
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.send_to(&query(id, name), server).await.ok()?;
    let mut buf = [0u8; 1500];
    let got = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await;
    let (n, _) = got.ok()?.ok()?;
    answers(&buf[..n], id).map(|(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_answer_it_asked_for() {
        let q = query(7, "iris.example.com");
        // The query echoed as an answer with one A record (name compressed).
        let mut a = q.clone();
        a[2] = 0x81;
        a[7] = 1;
        a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 20, 0, 1]);
        assert_eq!(
            answers(&a, 7),
            Some((vec![Ipv4Addr::new(127, 20, 0, 1)], 5))
        );
        assert_eq!(answers(&a, 8), None);
        assert_eq!(answers(&a[..a.len() - 2], 7), None);
        assert_eq!(answers(&q, 7), None, "a query is not an answer");
    }
}

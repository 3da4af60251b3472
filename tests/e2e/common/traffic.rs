// Real traffic for the data-plane tests: a steady load through a listener,
// with every answer recorded (time, status, model version).
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const BODY: &str = r#"{"data": [[5.1, 3.5, 1.4, 0.2]]}"#;

#[derive(Clone, Debug)]
pub struct Hit {
    /// Send time, ms since the epoch.
    pub at: u64,
    /// None: no HTTP answer (refused, reset, timeout).
    pub status: Option<u16>,
    pub version: Option<String>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One POST /invocations to `host:port`, with extra headers.
pub fn invoke(host: &str, port: u16, headers: &[(&str, &str)]) -> Hit {
    let at = now_ms();
    let res = (|| -> std::io::Result<(u16, Option<String>)> {
        let addr = format!("{host}:{port}").parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        write!(
            s,
            "POST /invocations HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{BODY}",
            BODY.len()
        )?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        let text = String::from_utf8_lossy(&buf);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status line"))?;
        let version = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("x-model-version")
                .then(|| v.trim().to_string())
        });
        Ok((status, version))
    })();
    match res {
        Ok((status, version)) => Hit {
            at,
            status: Some(status),
            version,
        },
        Err(_) => Hit {
            at,
            status: None,
            version: None,
        },
    }
}

/// A steady load of `rate` requests a second until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    hits: Arc<Mutex<Vec<Hit>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(host: &str, port: u16, rate: u32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let threads = 4u32;
        let gap = Duration::from_secs_f64(threads as f64 / rate as f64);
        let workers = (0..threads)
            .map(|i| {
                let (stop, hits, host) = (stop.clone(), hits.clone(), host.to_string());
                std::thread::spawn(move || {
                    std::thread::sleep(gap / threads * i);
                    // Bounded: at most 20 minutes of load.
                    let deadline = std::time::Instant::now() + Duration::from_secs(1200);
                    while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                        let t = std::time::Instant::now();
                        let h = invoke(&host, port, &[]);
                        hits.lock().unwrap().push(h);
                        if let Some(left) = gap.checked_sub(t.elapsed()) {
                            std::thread::sleep(left);
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            hits,
            workers,
        }
    }

    pub fn snapshot(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    pub fn finish(self) -> Vec<Hit> {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            let _ = w.join();
        }
        let mut v = self.hits.lock().unwrap().clone();
        v.sort_by_key(|h| h.at);
        v
    }
}

/// Share (percent) of answers in [from, to) that came from `version`.
pub fn share(hits: &[Hit], from: u64, to: u64, version: &str) -> (f64, usize) {
    let window: Vec<&Hit> = hits
        .iter()
        .filter(|h| h.at >= from && h.at < to && h.status == Some(200))
        .collect();
    let n = window.len();
    let k = window
        .iter()
        .filter(|h| h.version.as_deref() == Some(version))
        .count();
    (
        if n == 0 {
            0.0
        } else {
            100.0 * k as f64 / n as f64
        },
        n,
    )
}

/// The answers that were not 200.
pub fn failures(hits: &[Hit]) -> Vec<Hit> {
    hits.iter()
        .filter(|h| h.status != Some(200))
        .cloned()
        .collect()
}

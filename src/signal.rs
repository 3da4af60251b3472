//! Stop requests: Ctrl-C, SIGTERM and SIGHUP all ask the run to stop at its
//! next safe point (a wait, or between two transitions), never mid-write.
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

/// The exit code of the first stop request (130, 143, 129); 0 while none.
static STOP: AtomicU8 = AtomicU8::new(0);
static NOTIFY: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Listens for the three signals for the rest of the process (needs a runtime).
pub fn install() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        for (kind, code) in [
            (SignalKind::interrupt(), 130u8),
            (SignalKind::terminate(), 143),
            (SignalKind::hangup(), 129),
        ] {
            let Ok(mut s) = signal(kind) else { continue };
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    request(code);
                }
            });
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            request(130);
        }
    });
}

/// Records a stop request; the first one's code wins.
pub fn request(code: u8) {
    let _ = STOP.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    NOTIFY.notify_waiters();
}

/// The pending stop request's exit code, if any.
pub fn requested() -> Option<u8> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        c => Some(c),
    }
}

/// A safe point: fails with `Interrupted` once a stop was requested.
pub fn check() -> Result<()> {
    match requested() {
        Some(code) => Err(Error::Interrupted(code)),
        None => Ok(()),
    }
}

/// Resolves when a stop is requested (at once if one already was).
pub async fn stopped() -> u8 {
    loop {
        let n = NOTIFY.notified();
        if let Some(c) = requested() {
            return c;
        }
        n.await;
    }
}

/// Sleeps for `d`, or fails with `Interrupted` as soon as a stop is requested.
pub async fn pause(d: Duration) -> Result<()> {
    check()?;
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        c = stopped() => Err(Error::Interrupted(c)),
    }
}

/// The signal's name, for messages.
pub fn name(code: u8) -> &'static str {
    match code {
        143 => "SIGTERM",
        129 => "SIGHUP",
        _ => "Ctrl-C",
    }
}

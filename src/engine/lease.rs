//! The stack lease: the lock held and renewed in the background until release.
use std::time::Duration;

use super::ctx::Ctx;
use crate::error::{Error, Result};
use crate::store::{Lock, Store};

/// A held lock whose lease a background task renews until release.
pub struct Held {
    store: Store,
    lock: Option<Lock>,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// When the last renewal that succeeded was sent (the lease runs from there).
    renewed: std::sync::Arc<std::sync::Mutex<std::time::Instant>>,
    lease: Duration,
    renewer: tokio::task::JoinHandle<()>,
}

impl Held {
    fn hold(store: &Store, lock: Lock, lease: Duration) -> Held {
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renewed = std::sync::Arc::new(std::sync::Mutex::new(std::time::Instant::now()));
        let (s, l, flag, last) = (store.clone(), lock.clone(), lost.clone(), renewed.clone());
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 4).await;
                let sent = std::time::Instant::now();
                match s.renew(&l, lease).await {
                    Ok(()) => {
                        if let Ok(mut t) = last.lock() {
                            *t = sent;
                        }
                    }
                    Err(Error::Safety(_)) => {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    // Transient: the lease may still have time (see `lost`).
                    Err(_) => {}
                }
            }
        });
        Held {
            store: store.clone(),
            lock: Some(lock),
            lost,
            renewed,
            lease,
            renewer,
        }
    }

    /// Whether the lock may no longer be ours: someone (a rollback) took it,
    /// or three quarters of a lease passed since the last renewal that
    /// succeeded was sent, so another host may be about to break it.
    pub fn lost(&self) -> bool {
        let stale = self
            .renewed
            .lock()
            .map(|t| t.elapsed() > self.lease * 3 / 4)
            .unwrap_or(true);
        stale || self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn release(mut self) {
        self.renewer.abort();
        // The delete is conditional on our token: harmless if it was taken.
        if let Some(l) = self.lock.take() {
            let _ = self.store.unlock(&l).await;
        }
    }
}

/// Takes the stack's lock (exit 75 when held; exit 2 when there is no state table).
pub async fn take_lock(ctx: &Ctx<'_>, what: &str) -> Result<Held> {
    let lock = ctx.store.lock(ctx.cfg.lock_lease, what).await?;
    Ok(Held::hold(&ctx.store, lock, ctx.cfg.lock_lease))
}

/// Runs `body` under the stack's lock and always releases it.
pub async fn locked<T>(
    ctx: &Ctx<'_>,
    what: &str,
    body: impl AsyncFnOnce() -> Result<T>,
) -> Result<T> {
    let held = take_lock(ctx, what).await?;
    let res = body().await;
    held.release().await;
    res
}

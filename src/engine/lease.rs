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
    renewer: tokio::task::JoinHandle<()>,
}

impl Held {
    fn hold(store: &Store, lock: Lock, lease: Duration) -> Held {
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, l, flag) = (store.clone(), lock.clone(), lost.clone());
        let renewer = tokio::spawn(async move {
            let mut renewed = std::time::Instant::now();
            loop {
                tokio::time::sleep(lease / 4).await;
                match s.renew(&l, lease).await {
                    Ok(()) => renewed = std::time::Instant::now(),
                    Err(Error::Safety(_)) => {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    // Transient while the lease still has time; after three
                    // quarters of it without a renewal, another host may be
                    // about to break it: stop as if it were lost.
                    Err(_) if renewed.elapsed() < lease * 3 / 4 => {}
                    Err(_) => {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
        Held {
            store: store.clone(),
            lock: Some(lock),
            lost,
            renewer,
        }
    }

    /// Whether someone (a rollback) took the lock from us.
    pub fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn release(mut self) {
        self.renewer.abort();
        if let Some(l) = self.lock.take() {
            if !self.lost() {
                let _ = self.store.unlock(&l).await;
            }
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

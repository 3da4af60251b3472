//! When a lock held by another run may be broken, without trusting that two
//! hosts' clocks agree.
//!
//! Every acquire and renewal writes a fresh `version`. A run on the holder's
//! own clock (same boot of the same host) compares the lease with that clock.
//! A run on another clock never reads the holder's times: it records on the
//! lock item that it saw `version` at a time of its own clock, and may break
//! the lease once its own clock says a full lease passed with that version
//! unchanged. A live holder renews every quarter lease, which changes the
//! version and voids every watch. Assumed: clocks run at sane rates (a
//! quarter lease on the holder's is shorter than a lease on the watcher's);
//! not assumed: that they agree on the time.
use std::collections::BTreeMap;

/// A clock: an identity (one boot of one host) and its reading in ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    pub id: String,
    pub now: u64,
}

impl Clock {
    /// This host's boot clock (Linux: boot id and uptime, which no time
    /// adjustment moves); elsewhere the wall clock of this host name.
    pub fn here() -> Clock {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id");
        let up = std::fs::read_to_string("/proc/uptime");
        if let (Ok(id), Ok(up)) = (boot, up) {
            let secs: Option<f64> = up.split_whitespace().next().and_then(|s| s.parse().ok());
            if let Some(secs) = secs {
                return Clock {
                    id: format!("boot:{}", id.trim()),
                    now: (secs * 1000.0) as u64,
                };
            }
        }
        Clock {
            id: format!("wall:{}", host_name()),
            now: super::now_ms(),
        }
    }
}

pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".into())
}

/// One watcher's record: the version it saw, at its own clock's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub version: String,
    pub since: u64,
}

/// The lock item, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockItem {
    pub who: String,
    pub token: String,
    /// The holder's wall-clock expiry (for people, and for items without a
    /// version, which older cutover releases or hands wrote).
    pub expires: u64,
    pub version: String,
    /// The holder's clock and its expiry on that clock.
    pub clock: String,
    pub clock_expires: u64,
    pub lease_ms: u64,
    pub watch: BTreeMap<String, Watch>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The lease is over: take the lock if `version` (or, for an item without
    /// one, the token) is still what was read.
    Take,
    /// Held and live by a clock this run can read.
    Held { expires_in_ms: u64 },
    /// Held from another clock: record (or keep) a watch; breakable at
    /// `breakable_at` on this clock if the version has not changed by then.
    Watch {
        record: bool,
        since: u64,
        breakable_at: u64,
    },
}

/// The lease assumed for an item that names none (written by hand, or cut
/// short): long, so that such an item is never broken at once.
pub const UNKNOWN_LEASE_MS: u64 = 10 * 60 * 1000;

/// Whether a run on `me` may break `item`'s lease (`wall_now`: this host's
/// wall clock, used only for items without a version).
pub fn decide(item: &LockItem, me: &Clock, wall_now: u64) -> Decision {
    if item.version.is_empty() {
        return if item.expires < wall_now {
            Decision::Take
        } else {
            Decision::Held {
                expires_in_ms: item.expires - wall_now,
            }
        };
    }
    if item.clock == me.id {
        return if item.clock_expires < me.now {
            Decision::Take
        } else {
            Decision::Held {
                expires_in_ms: item.clock_expires - me.now,
            }
        };
    }
    let lease = if item.lease_ms == 0 {
        UNKNOWN_LEASE_MS
    } else {
        item.lease_ms
    };
    match item.watch.get(&me.id) {
        Some(w) if w.version == item.version && me.now >= w.since => {
            let at = w.since.saturating_add(lease);
            if me.now >= at {
                Decision::Take
            } else {
                Decision::Watch {
                    record: false,
                    since: w.since,
                    breakable_at: at,
                }
            }
        }
        // No watch from this clock, a stale one, or one from before a reboot.
        _ => Decision::Watch {
            record: true,
            since: me.now,
            breakable_at: me.now.saturating_add(lease),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(clock: &str, version: &str) -> LockItem {
        LockItem {
            who: "`promote` by ops@b pid 1".into(),
            token: "t".into(),
            expires: 1_000,
            version: version.into(),
            clock: clock.into(),
            clock_expires: 5_000,
            lease_ms: 60_000,
            watch: BTreeMap::new(),
        }
    }

    fn me(now: u64) -> Clock {
        Clock {
            id: "boot:me".into(),
            now,
        }
    }

    #[test]
    fn an_item_without_a_lease_length_is_not_broken_at_once() {
        let mut i = item("boot:other", "v1");
        i.lease_ms = 0;
        let first = decide(&i, &me(1_000), 0);
        assert_eq!(
            first,
            Decision::Watch {
                record: true,
                since: 1_000,
                breakable_at: 1_000 + UNKNOWN_LEASE_MS
            }
        );
        i.watch.insert(
            "boot:me".into(),
            Watch {
                version: "v1".into(),
                since: 1_000,
            },
        );
        assert!(matches!(decide(&i, &me(2_000), 0), Decision::Watch { .. }));
        assert_eq!(decide(&i, &me(1_000 + UNKNOWN_LEASE_MS), 0), Decision::Take);
    }

    #[test]
    fn the_holders_own_clock_reads_the_expiry() {
        let i = item("boot:me", "v1");
        assert_eq!(
            decide(&i, &me(4_000), 0),
            Decision::Held {
                expires_in_ms: 1_000
            }
        );
        assert_eq!(decide(&i, &me(5_001), 0), Decision::Take);
    }

    #[test]
    fn an_item_without_a_version_uses_its_wall_clock_expiry() {
        let i = item("", "");
        assert_eq!(decide(&i, &me(0), 1_001), Decision::Take);
        assert_eq!(
            decide(&i, &me(0), 400),
            Decision::Held { expires_in_ms: 600 }
        );
    }

    #[test]
    fn another_clock_watches_a_full_lease_before_breaking() {
        // Whatever the holder's times say (long past here), a foreign clock
        // first records a watch.
        let mut i = item("boot:other", "v1");
        assert_eq!(
            decide(&i, &me(100), u64::MAX),
            Decision::Watch {
                record: true,
                since: 100,
                breakable_at: 60_100
            }
        );
        i.watch.insert(
            "boot:me".into(),
            Watch {
                version: "v1".into(),
                since: 100,
            },
        );
        assert_eq!(
            decide(&i, &me(60_099), 0),
            Decision::Watch {
                record: false,
                since: 100,
                breakable_at: 60_100
            }
        );
        assert_eq!(decide(&i, &me(60_100), 0), Decision::Take);
    }

    #[test]
    fn a_renewal_voids_the_watch() {
        let mut i = item("boot:other", "v2");
        i.watch.insert(
            "boot:me".into(),
            Watch {
                version: "v1".into(),
                since: 100,
            },
        );
        assert_eq!(
            decide(&i, &me(999_999), 0),
            Decision::Watch {
                record: true,
                since: 999_999,
                breakable_at: 1_059_999
            }
        );
    }

    #[test]
    fn another_watchers_record_does_not_count_for_this_clock() {
        let mut i = item("boot:other", "v1");
        i.watch.insert(
            "boot:third".into(),
            Watch {
                version: "v1".into(),
                since: 0,
            },
        );
        assert!(matches!(
            decide(&i, &me(999_999), 0),
            Decision::Watch { record: true, .. }
        ));
    }

    #[test]
    fn a_watch_from_the_future_of_this_clock_is_stale() {
        // Same boot id cannot go backwards; a larger `since` means a record
        // this clock cannot have made, so it starts over.
        let mut i = item("boot:other", "v1");
        i.watch.insert(
            "boot:me".into(),
            Watch {
                version: "v1".into(),
                since: 50_000,
            },
        );
        assert!(matches!(
            decide(&i, &me(10), 0),
            Decision::Watch { record: true, .. }
        ));
    }
}

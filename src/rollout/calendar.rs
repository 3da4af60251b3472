//! Release windows and freezes (`[schedule]`), pure: whether an instant is
//! inside a window of the team's time zone and outside every freeze, and
//! when the next window opens. Zone rules come from jiff (the system's tz
//! database), never hand-rolled, so DST days are right.
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// One weekly window: these weekdays (Monday = 0), from `start` to `end`
/// local time (`end` at or before `start` runs past midnight).
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub days: [bool; 7],
    pub start: Time,
    pub end: Time,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Calendar {
    pub windows: Vec<Window>,
    pub zone: String,
    tz: TimeZone,
    /// Whole local days, both ends included.
    pub freeze: Vec<(Date, Date)>,
}

impl PartialEq for Calendar {
    fn eq(&self, o: &Calendar) -> bool {
        self.windows == o.windows && self.zone == o.zone && self.freeze == o.freeze
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(s: &str) -> Option<usize> {
    let s = s.to_ascii_lowercase();
    DAYS.iter().position(|d| s.starts_with(d) && s.len() >= 3)
}

fn time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if h == 24 && m == 0 {
        return Time::new(23, 59, 59, 999_999_999).ok();
    }
    Time::new(h, m, 0, 0).ok()
}

/// Parses `Mon-Fri 09:00-17:00`, `Sat,Sun 10:00-12:00`, `daily 22:00-06:00`.
pub fn window(text: &str) -> Result<Window, String> {
    let bad = || {
        format!("\"{text}\" is not a window; write days and hours, e.g. \"Mon-Fri 09:00-17:00\" or \"daily 22:00-06:00\"")
    };
    let (days_s, hours) = text.trim().split_once(' ').ok_or_else(bad)?;
    let mut days = [false; 7];
    if days_s.eq_ignore_ascii_case("daily") {
        days = [true; 7];
    } else {
        for part in days_s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                    let mut d = a;
                    loop {
                        days[d] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days[day(part).ok_or_else(bad)?] = true,
            }
        }
    }
    let (a, b) = hours.trim().split_once('-').ok_or_else(bad)?;
    let (start, end) = (
        time(a.trim()).ok_or_else(bad)?,
        time(b.trim()).ok_or_else(bad)?,
    );
    Ok(Window {
        days,
        start,
        end,
        text: text.trim().to_string(),
    })
}

/// Parses `2026-12-20/2027-01-04` (or one day, `2026-12-24`).
pub fn freeze(text: &str) -> Result<(Date, Date), String> {
    let bad = || {
        format!("\"{text}\" is not a freeze; write \"2026-12-20/2027-01-04\" (both days included)")
    };
    let (a, b) = text.split_once('/').unwrap_or((text, text));
    let (a, b): (Date, Date) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if b < a {
        return Err(format!("freeze \"{text}\" ends before it starts"));
    }
    Ok((a, b))
}

impl Calendar {
    pub fn new(
        windows: Vec<Window>,
        zone: &str,
        freeze: Vec<(Date, Date)>,
    ) -> Result<Calendar, String> {
        let tz = TimeZone::get(zone).map_err(|_| {
            format!("\"{zone}\" is not a time zone of the tz database; write e.g. \"Europe/Berlin\" or \"UTC\"")
        })?;
        Ok(Calendar {
            windows,
            zone: zone.into(),
            tz,
            freeze,
        })
    }

    fn local(&self, ms: u64) -> Option<jiff::civil::DateTime> {
        let ts = Timestamp::from_millisecond(ms as i64).ok()?;
        Some(ts.to_zoned(self.tz.clone()).datetime())
    }

    fn frozen(&self, d: Date) -> bool {
        self.freeze.iter().any(|(a, b)| *a <= d && d <= *b)
    }

    /// Whether a rollout may start or advance at `ms`.
    pub fn open(&self, ms: u64) -> bool {
        let Some(dt) = self.local(ms) else {
            return false;
        };
        if self.frozen(dt.date()) {
            return false;
        }
        if self.windows.is_empty() {
            return true;
        }
        let wd = dt.date().weekday().to_monday_zero_offset() as usize;
        let t = dt.time();
        self.windows.iter().any(|w| {
            if w.start < w.end {
                w.days[wd] && w.start <= t && t < w.end
            } else {
                // Past midnight: the evening belongs to the day, the morning to the day before.
                (w.days[wd] && t >= w.start) || (w.days[(wd + 6) % 7] && t < w.end)
            }
        })
    }

    /// The first instant at or after `ms` when `open` holds (ms), within
    /// about two years; None when nothing opens that soon.
    pub fn next_open(&self, ms: u64) -> Option<u64> {
        if self.open(ms) {
            return Some(ms);
        }
        let today = self.local(ms)?.date();
        let mut best: Option<u64> = None;
        for offset in 0..800i64 {
            let d = today.checked_add(offset.days()).ok()?;
            // A frozen day opens at the next midnight after the freeze at the earliest.
            let mut starts: Vec<Time> = self.windows.iter().map(|w| w.start).collect();
            if self.windows.is_empty() || self.windows.iter().any(|w| w.start >= w.end) {
                starts.push(Time::midnight());
            }
            for t in starts {
                // A start inside a DST gap moves forward (jiff's compatible rule).
                let Ok(z) = d.to_datetime(t).to_zoned(self.tz.clone()) else {
                    continue;
                };
                let mut at = z.timestamp().as_millisecond();
                // In a DST gap jiff moves the start past the gap by its
                // length; the window is already open from the gap's end.
                let mut back = 0;
                while back < 180 && at - 60_000 >= ms as i64 && self.open((at - 60_000) as u64) {
                    at -= 60_000;
                    back += 1;
                }
                if at >= ms as i64 && self.open(at as u64) {
                    best = Some(best.map_or(at as u64, |b| b.min(at as u64)));
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// `2026-12-08 09:00 CET` for an instant, in the calendar's zone.
    pub fn show(&self, ms: u64) -> String {
        Timestamp::from_millisecond(ms as i64)
            .map(|ts| {
                ts.to_zoned(self.tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_default()
    }

    /// "the next window opens 2026-12-08 09:00 CET" (or that none opens soon).
    pub fn next_window(&self, ms: u64) -> String {
        match self.next_open(ms) {
            Some(n) => format!("the next window opens {}", self.show(n)),
            None => "no window opens in the next two years".into(),
        }
    }

    /// "open now", or "closed; " and the next window.
    pub fn state(&self, ms: u64) -> String {
        if self.open(ms) {
            "open now".into()
        } else {
            format!("closed; {}", self.next_window(ms))
        }
    }

    /// The windows as written, for messages.
    pub fn describe(&self) -> String {
        let w: Vec<&str> = self.windows.iter().map(|w| w.text.as_str()).collect();
        let w = if w.is_empty() {
            "any time".to_string()
        } else {
            w.join(", ")
        };
        format!("{w} {}", self.zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u64 {
        s.parse::<Timestamp>().unwrap().as_millisecond() as u64
    }

    fn berlin() -> Calendar {
        Calendar::new(
            vec![window("Mon-Fri 09:00-17:00").unwrap()],
            "Europe/Berlin",
            vec![freeze("2026-12-20/2027-01-04").unwrap()],
        )
        .unwrap()
    }

    #[test]
    fn windows_freezes_and_the_next_opening() {
        let c = berlin();
        // Tuesday 2026-12-08 10:00 CET = 09:00 UTC: open.
        assert!(c.open(ms("2026-12-08T09:00:00Z")));
        // 17:30 CET: closed; opens Wednesday 09:00 CET.
        let at = ms("2026-12-08T16:30:00Z");
        assert!(!c.open(at));
        assert_eq!(c.next_open(at), Some(ms("2026-12-09T08:00:00Z")));
        assert_eq!(c.show(ms("2026-12-09T08:00:00Z")), "2026-12-09 09:00 CET");
        // Saturday: Monday.
        assert_eq!(
            c.next_open(ms("2026-12-12T12:00:00Z")),
            Some(ms("2026-12-14T08:00:00Z"))
        );
        // In the freeze (New Year's Eve 03:00): the first weekday after it.
        assert!(!c.open(ms("2026-12-31T02:00:00Z")));
        assert_eq!(
            c.next_open(ms("2026-12-22T10:00:00Z")),
            Some(ms("2027-01-05T08:00:00Z"))
        );
        // Overnight windows, and bad input in the user's words.
        let n = Calendar::new(vec![window("daily 22:00-06:00").unwrap()], "UTC", vec![]).unwrap();
        assert!(n.open(ms("2026-12-08T23:00:00Z")) && n.open(ms("2026-12-09T05:59:00Z")));
        assert!(!n.open(ms("2026-12-09T06:00:00Z")));
        assert!(window("weekdays 9-5")
            .unwrap_err()
            .contains("Mon-Fri 09:00-17:00"));
        assert!(Calendar::new(vec![], "Europe/Berlinn", vec![]).is_err());
        assert!(freeze("2027-01-04/2026-12-20").is_err());
    }

    #[test]
    fn dst_days_keep_local_hours() {
        // Europe/Berlin springs forward on 2026-03-29: 09:00 CEST is 07:00 UTC.
        let c = Calendar::new(
            vec![window("Sun 09:00-10:00").unwrap()],
            "Europe/Berlin",
            vec![],
        )
        .unwrap();
        assert_eq!(
            c.next_open(ms("2026-03-28T12:00:00Z")),
            Some(ms("2026-03-29T07:00:00Z"))
        );
        // New York falls back on 2026-11-01: 09:00 EST is 14:00 UTC.
        let ny = Calendar::new(
            vec![window("Sun 09:00-10:00").unwrap()],
            "America/New_York",
            vec![],
        )
        .unwrap();
        assert_eq!(
            ny.next_open(ms("2026-10-31T12:00:00Z")),
            Some(ms("2026-11-01T14:00:00Z"))
        );
        // A window starting inside the spring gap (02:30 does not exist) is
        // open from the gap's end, 03:00.
        let gap = Calendar::new(
            vec![window("Sun 02:30-04:00").unwrap()],
            "Europe/Berlin",
            vec![],
        )
        .unwrap();
        let o = gap.next_open(ms("2026-03-28T12:00:00Z")).unwrap();
        assert!(gap.open(o));
        assert_eq!(gap.show(o), "2026-03-29 03:00 CEST");
    }
}

//! Property tests of release windows and freezes over random instants and
//! zones, DST transitions included (Europe/Berlin, America/New_York).
use cutover::rollout::calendar::{freeze, window, Calendar};
use cutover::rollout::{fit, PlannedStep};
use proptest::prelude::*;

const ZONES: [&str; 3] = ["Europe/Berlin", "America/New_York", "UTC"];
/// 2026-01-01 to 2027-12-31 (both DST changes of both years inside).
const FROM: u64 = 1_767_225_600_000;
const TO: u64 = 1_830_297_600_000;

fn calendar() -> impl Strategy<Value = Calendar> {
    let day = prop::sample::select(vec![
        "Mon-Fri",
        "Sat,Sun",
        "Sun",
        "Mon,Wed,Fri",
        "daily",
        "Fri-Mon",
    ]);
    let hour = (0u32..24, prop::sample::select(vec![0u32, 15, 30, 45]));
    let win = (day, hour.clone(), hour).prop_map(|(d, (h1, m1), (h2, m2))| {
        window(&format!("{d} {h1:02}:{m1:02}-{h2:02}:{m2:02}")).unwrap()
    });
    let frz = (0u64..700, 0u64..20).prop_map(|(start, len)| {
        let d = |n: u64| {
            jiff::civil::date(2026, 1, 1)
                .checked_add(jiff::Span::new().days(n as i64))
                .unwrap()
                .to_string()
        };
        freeze(&format!("{}/{}", d(start), d(start + len))).unwrap()
    });
    (
        proptest::collection::vec(win, 0..3),
        prop::sample::select(ZONES.to_vec()),
        proptest::collection::vec(frz, 0..3),
    )
        .prop_map(|(w, z, f)| Calendar::new(w, z, f).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The next opening is open, not before `t`, and nothing between `t`
    /// and it is open (checked every 5 minutes).
    #[test]
    fn the_next_window_is_the_first_open_instant(c in calendar(), t in FROM..TO) {
        match c.next_open(t) {
            Some(n) => {
                prop_assert!(n >= t);
                prop_assert!(c.open(n), "{} not open", c.show(n));
                let mut x = t;
                while x + 300_000 < n {
                    prop_assert!(!c.open(x), "{} is open before {}", c.show(x), c.show(n));
                    x += 300_000;
                }
            }
            None => {
                // Only a calendar with no usable window (e.g. a zero-length one).
                let mut x = t;
                for _ in 0..2_000 {
                    prop_assert!(!c.open(x));
                    x += 3_600_000;
                }
            }
        }
    }

    /// A frozen local day is never open, whatever the windows.
    #[test]
    fn freezes_win_over_windows(c in calendar(), t in FROM..TO) {
        if c.open(t) {
            let day = jiff::Timestamp::from_millisecond(t as i64)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::get(&c.zone).unwrap())
                .date();
            prop_assert!(!c.freeze.iter().any(|(a, b)| *a <= day && day <= *b));
        }
    }

    /// `plan`'s schedule fitted to the windows: every step it times starts
    /// inside a window, in order, never before its unfitted time.
    #[test]
    fn fitted_steps_start_inside_a_window(
        c in calendar(),
        t in FROM..TO,
        bakes in proptest::collection::vec(0u64..40 * 3_600_000, 1..6),
    ) {
        let mut at = 0;
        let plan: Vec<PlannedStep> = bakes
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let p = PlannedStep { step: i + 1, at_ms: at, ..PlannedStep::default() };
                at += b;
                p
            })
            .collect();
        let got = fit(plan.clone(), t, |x| c.next_open(x));
        let mut last = 0;
        for (g, p) in got.iter().zip(&plan) {
            if g.blocked {
                continue;
            }
            prop_assert!(c.open(t + g.at_ms), "step {} at {} is outside {}", g.step, c.show(t + g.at_ms), c.describe());
            prop_assert!(g.at_ms >= p.at_ms && g.at_ms >= last);
            // Every bake keeps at least its length.
            prop_assert!(g.at_ms - last >= p.at_ms - plan.get(g.step.wrapping_sub(2)).map_or(0, |q| q.at_ms) || g.step == 1);
            last = g.at_ms;
        }
    }
}

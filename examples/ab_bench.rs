//! Benchmark of the A/B statistics: 2,000 simulated A/A experiments at the
//! planned sample size (false positives should be within alpha ± 1.5
//! points) and 2,000 A/B experiments with a true lift of `min_effect`
//! (power should be at least 0.78).
//!
//!     cargo run --release --example ab_bench
use cutover::judge::proportions::{decide, trials_needed, Counts, Decision};

/// xorshift64*: a fixed seed gives the same figures on every run.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn counts(&mut self, rate: f64, trials: u64) -> Counts {
        let successes = (0..trials).filter(|_| self.unit() < rate).count() as u64;
        Counts { trials, successes }
    }
}

fn main() {
    let runs = 2000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (base, effect, alpha) in [(0.10, 0.02, 0.05), (0.30, 0.05, 0.05), (0.05, 0.02, 0.01)] {
        let n = trials_needed(base, effect, alpha, 0.8).unwrap();
        let mut false_pos = 0;
        let mut found = 0;
        for _ in 0..runs {
            let (a, b) = (rng.counts(base, n), rng.counts(base, n));
            if decide(a, b, alpha).0 != Decision::Equal {
                false_pos += 1;
            }
            let (cand, stable) = (rng.counts(base + effect, n), rng.counts(base, n));
            if decide(cand, stable, alpha).0 == Decision::Candidate {
                found += 1;
            }
        }
        let fp = false_pos as f64 / runs as f64;
        let power = found as f64 / runs as f64;
        let fp_ok = (fp - alpha).abs() <= 0.015;
        let power_ok = power >= 0.78;
        println!(
            "base {base:.2} lift {effect:.2} alpha {alpha}: {n} trials/colour; A/A false positives {:.1}% (target {:.0}% ± 1.5) {}; A/B power {:.1}% (target >= 78%) {}",
            fp * 100.0,
            alpha * 100.0,
            if fp_ok { "ok" } else { "MISSED" },
            power * 100.0,
            if power_ok { "ok" } else { "MISSED" },
        );
        assert!(fp_ok && power_ok, "target missed");
    }
}

//! A/B statistics, pure: the two-proportion z-test (pooled, two-sided, as
//! statsmodels' `proportions_ztest`), Wilson intervals, and the trials per
//! colour needed to detect a lift at a significance level with power 0.8.
use serde::{Deserialize, Serialize};

use super::stats::erfc;

/// Successes out of trials for one colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub trials: u64,
    pub successes: u64,
}

impl Counts {
    pub fn rate(&self) -> Option<f64> {
        (self.trials > 0).then(|| self.successes.min(self.trials) as f64 / self.trials as f64)
    }
}

/// The standard normal CDF.
pub fn phi(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The standard normal quantile (Acklam's rational approximation, refined
/// by one Halley step: within 1e-12 on (1e-12, 1 - 1e-12)).
pub fn quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let low = 0.02425;
    let x = if p < low || p > 1.0 - low {
        let q = (-2.0 * (if p < low { p } else { 1.0 - p }).ln()).sqrt();
        let v = (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0);
        if p < low {
            v
        } else {
            -v
        }
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step against the exact CDF.
    let e = phi(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The pooled two-proportion z-test of `a` against `b`: (z, two-sided p).
/// None when either colour has no trials, or nothing varies (all or none
/// succeeded in both).
pub fn z_test(a: Counts, b: Counts) -> Option<(f64, f64)> {
    let (pa, pb) = (a.rate()?, b.rate()?);
    let (na, nb) = (a.trials as f64, b.trials as f64);
    let pooled = (a.successes.min(a.trials) + b.successes.min(b.trials)) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 || !se.is_finite() {
        return None;
    }
    let z = (pa - pb) / se;
    Some((z, erfc(z.abs() / std::f64::consts::SQRT_2)))
}

/// The Wilson score interval of a rate at confidence 1 - alpha.
pub fn wilson(c: Counts, alpha: f64) -> Option<(f64, f64)> {
    let p = c.rate()?;
    let n = c.trials as f64;
    let z = quantile(1.0 - alpha / 2.0);
    let z2 = z * z;
    let mid = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((mid - half).max(0.0), (mid + half).min(1.0)))
}

/// Trials per colour for a two-sided test at `alpha` with `power` to detect
/// an absolute lift `effect` over a baseline rate `base` (without
/// continuity correction). None for a lift that cannot exist.
pub fn trials_needed(base: f64, effect: f64, alpha: f64, power: f64) -> Option<u64> {
    let p1 = base;
    let p2 = base + effect;
    if effect <= 0.0 || !(0.0..1.0).contains(&p1) || !(0.0..=1.0).contains(&p2) {
        return None;
    }
    let bar = (p1 + p2) / 2.0;
    let za = quantile(1.0 - alpha / 2.0);
    let zb = quantile(power);
    let num =
        za * (2.0 * bar * (1.0 - bar)).sqrt() + zb * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    Some((num * num / (effect * effect)).ceil() as u64)
}

/// What an experiment concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The candidate converts better (significant at alpha).
    Candidate,
    /// The stable colour converts better.
    Stable,
    /// No significant difference.
    Equal,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Candidate => "candidate",
            Decision::Stable => "stable",
            Decision::Equal => "equal",
        }
    }
}

/// Decides candidate against stable at `alpha`, with the test's p (None
/// when nothing varies: no difference to find).
pub fn decide(candidate: Counts, stable: Counts, alpha: f64) -> (Decision, Option<f64>) {
    match z_test(candidate, stable) {
        Some((z, p)) if p < alpha && z > 0.0 => (Decision::Candidate, Some(p)),
        Some((_, p)) if p < alpha => (Decision::Stable, Some(p)),
        Some((_, p)) => (Decision::Equal, Some(p)),
        None => (Decision::Equal, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(successes: u64, trials: u64) -> Counts {
        Counts { trials, successes }
    }

    #[test]
    fn quantile_inverts_the_cdf() {
        for p in [1e-9, 0.001, 0.025, 0.2, 0.5, 0.8, 0.975, 0.999999] {
            assert!((phi(quantile(p)) - p).abs() < 1e-12 * p.max(1e-3), "{p}");
        }
        assert!((quantile(0.975) - 1.959963984540054).abs() < 1e-12);
        assert!((quantile(0.8) - 0.8416212335729143).abs() < 1e-12);
    }

    #[test]
    fn no_trials_or_no_variance_is_no_test() {
        assert_eq!(z_test(c(0, 0), c(5, 10)), None);
        assert_eq!(z_test(c(0, 10), c(0, 20)), None);
        assert_eq!(z_test(c(10, 10), c(20, 20)), None);
        assert_eq!(decide(c(0, 10), c(0, 10), 0.05), (Decision::Equal, None));
    }

    #[test]
    fn direction_follows_the_rates() {
        assert_eq!(
            decide(c(300, 1000), c(100, 1000), 0.05).0,
            Decision::Candidate
        );
        assert_eq!(decide(c(100, 1000), c(300, 1000), 0.05).0, Decision::Stable);
        assert_eq!(decide(c(101, 1000), c(100, 1000), 0.05).0, Decision::Equal);
    }

    /// statsmodels 0.14 `proportions_ztest([x1, x2], [n1, n2])`.
    const STATSMODELS: [(u64, u64, u64, u64, f64, f64); 11] = [
        (120, 1000, 100, 1000, 1.4293008498232314, 0.1529177818639462),
        (30, 200, 45, 210, -1.6829763461389204, 0.09237967055994593),
        (5, 50, 15, 50, -2.4999999999999996, 0.012419330651552277),
        (
            500,
            10000,
            560,
            10000,
            -1.8937529756356748,
            0.05825780603351623,
        ),
        (1, 20, 0, 25, 1.1306675421666137, 0.25819504758394507),
        (250, 500, 200, 480, 2.616936719096206, 0.008872278785416372),
        (33, 1000, 31, 1000, 0.2540986338067945, 0.7994193588060443),
        (
            900,
            1000,
            850,
            1000,
            3.3806170189140694,
            0.0007232327164301844,
        ),
        (12, 40, 25, 40, -2.9150986476802294, 0.0035557612986177388),
        (
            2000,
            20000,
            2100,
            20000,
            -1.648507179928956,
            0.09924863855919007,
        ),
        (7, 300, 19, 310, -2.320091169300681, 0.020335945946349788),
    ];

    #[test]
    fn z_test_matches_statsmodels() {
        for (x1, n1, x2, n2, z, p) in STATSMODELS {
            let (gz, gp) = z_test(c(x1, n1), c(x2, n2)).unwrap();
            assert!(
                (gz - z).abs() < 1e-9,
                "z {x1}/{n1} vs {x2}/{n2}: {gz} != {z}"
            );
            assert!(
                (gp - p).abs() < 1e-9 * p.max(1e-3),
                "p {x1}/{n1}: {gp} != {p}"
            );
        }
    }

    /// The textbook sample size (Fleiss, no continuity correction), as scipy computes it.
    #[test]
    fn trials_needed_matches_the_formula() {
        for (base, effect, n) in [
            (0.1, 0.05, 686),
            (0.5, 0.01, 39240),
            (0.2, 0.1, 294),
            (0.03, 0.01, 5301),
        ] {
            assert_eq!(
                trials_needed(base, effect, 0.05, 0.8),
                Some(n),
                "{base} + {effect}"
            );
        }
        assert_eq!(trials_needed(0.99, 0.05, 0.05, 0.8), None);
    }

    #[test]
    fn wilson_holds_the_rate() {
        let (lo, hi) = wilson(c(30, 100), 0.05).unwrap();
        assert!(lo < 0.3 && 0.3 < hi);
        assert_eq!(wilson(c(0, 0), 0.05), None);
    }
}

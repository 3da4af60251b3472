//! Two-sample statistics for the metric judge: the Mann-Whitney U test
//! (two-sided; exact for small samples without ties, else the normal
//! approximation with tie and continuity corrections, as scipy's
//! `mannwhitneyu(method="auto")`), the Hodges-Lehmann shift, and Kayenta's
//! tolerance band around a regression. Pure; std only.

/// The U statistic of `x` (as scipy reports it) and the two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    pub u: f64,
    pub p: f64,
}

/// Midranks (1-based) of `values`, and the sizes of the tied groups.
fn ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut r = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            r[*k] = mid;
        }
        if j > i {
            ties.push(j - i + 1);
        }
        i = j + 1;
    }
    (r, ties)
}

/// Number of arrangements with each value of U, for samples of m and n (no ties).
fn u_counts(m: usize, n: usize) -> Vec<f64> {
    // f[j][u]: arrangements of i x-values and j y-values with statistic u,
    // built up one x-value at a time: f_i(j, u) = f_{i-1}(j, u - j) + f_i(j-1, u).
    let max = m * n;
    let mut prev: Vec<Vec<f64>> = (0..=n)
        .map(|_| {
            let mut v = vec![0.0; max + 1];
            v[0] = 1.0;
            v
        })
        .collect();
    for _ in 1..=m {
        let mut cur = vec![vec![0.0; max + 1]; n + 1];
        for j in 0..=n {
            for u in 0..=max {
                let mut c = if u >= j { prev[j][u - j] } else { 0.0 };
                if j > 0 {
                    c += cur[j - 1][u];
                }
                cur[j][u] = c;
            }
        }
        prev = cur;
    }
    prev.swap_remove(n)
}

/// The complementary error function (W. J. Cody's rational approximations
/// via the Numerical Recipes form; relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Two-sided Mann-Whitney U test; None when either sample is empty.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (r, ties) = ranks(&all);
    let r1: f64 = r[..n1].iter().sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    let big = u1.max(u2);
    let p = if ties.is_empty() && n1.min(n2) < 8 {
        let counts = u_counts(n1, n2);
        let total: f64 = counts.iter().sum();
        let from = big.round() as usize;
        2.0 * counts[from.min(counts.len())..].iter().sum::<f64>() / total
    } else {
        let n = (n1 + n2) as f64;
        let tie: f64 = ties.iter().map(|t| (t * t * t - t) as f64).sum();
        let var = (n1 * n2) as f64 / 12.0 * ((n + 1.0) - tie / (n * (n - 1.0)));
        if var <= 0.0 {
            1.0
        } else {
            let z = (big - (n1 * n2) as f64 / 2.0 - 0.5) / var.sqrt();
            erfc(z / std::f64::consts::SQRT_2)
        }
    };
    Some(MannWhitney {
        u: u1,
        p: p.min(1.0),
    })
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

/// Hodges-Lehmann shift: the median of all differences x_i - y_j.
pub fn hodges_lehmann(x: &[f64], y: &[f64]) -> Option<f64> {
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    median(&mut d)
}

/// The smallest two-sided exact p any outcome can reach: 2 / C(n1 + n2, n1).
pub fn min_p_value(n1: usize, n2: usize) -> f64 {
    let mut c = 1.0;
    for i in 0..n1.min(n2) {
        c = c * (n1 + n2 - i) as f64 / (i + 1) as f64;
    }
    (2.0 / c).min(1.0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

/// One metric judged: the verdict and the numbers behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub p: Option<f64>,
    pub shift: Option<f64>,
    pub candidate_median: Option<f64>,
    pub stable_median: Option<f64>,
    pub reason: String,
}

/// Judges the candidate's values against the stable colour's. A regression
/// is significant at `confidence`, in the worse direction, and larger than
/// `tolerance` x the stable median (Kayenta's band). Too few points is never a pass.
pub fn judge_metric(
    candidate: &[f64],
    stable: &[f64],
    confidence: f64,
    higher_is_worse: bool,
    tolerance: f64,
    min_points: usize,
) -> Judgement {
    let cm = median(&mut candidate.to_vec());
    let sm = median(&mut stable.to_vec());
    let mut j = Judgement {
        verdict: Verdict::Inconclusive,
        p: None,
        shift: None,
        candidate_median: cm,
        stable_median: sm,
        reason: String::new(),
    };
    if candidate.len() < min_points || stable.len() < min_points {
        j.reason = format!(
            "too few data points: {} candidate, {} stable (need {min_points} each)",
            candidate.len(),
            stable.len()
        );
        return j;
    }
    let (Some(t), Some(shift), Some(sm)) = (
        mann_whitney_u(candidate, stable),
        hodges_lehmann(candidate, stable),
        sm,
    ) else {
        j.reason = "no data".into();
        return j;
    };
    j.p = Some(t.p);
    j.shift = Some(shift);
    let alpha = 1.0 - confidence;
    let worse = if higher_is_worse {
        shift > 0.0
    } else {
        shift < 0.0
    };
    let band = tolerance * sm.abs();
    let beyond = if sm.abs() < 1e-12 {
        shift.abs() > 1e-12
    } else {
        shift.abs() > band
    };
    if t.p < alpha && worse && beyond {
        j.verdict = Verdict::Fail;
        j.reason = format!(
            "shift {shift:+.4} beyond the ±{:.0}% band (p = {:.4})",
            tolerance * 100.0,
            t.p
        );
    } else if min_p_value(candidate.len(), stable.len()) > alpha {
        j.reason = format!(
            "{} vs {} points cannot reach p < {alpha:.3}",
            candidate.len(),
            stable.len()
        );
    } else {
        j.verdict = Verdict::Pass;
        j.reason = format!("shift {shift:+.4}, p = {:.4}", t.p);
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-3)
    }

    type Case = (&'static str, Vec<f64>, Vec<f64>, f64, f64);

    /// (name, x, y, U, p) from scipy 1.x:
    /// `scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="auto")`.
    #[test]
    fn matches_scipy() {
        let large_x: Vec<f64> = (0..20)
            .map(|i| 0.010 * i as f64 + 0.001 * (i % 3) as f64)
            .collect();
        let large_y: Vec<f64> = (0..25)
            .map(|i| 0.012 * i as f64 + 0.002 * (i % 5) as f64)
            .collect();
        let same: Vec<f64> = [vec![0.1; 6], vec![0.2; 4]].concat();
        let errors_y: Vec<f64> = [vec![0.0; 8], vec![0.01, 0.0]].concat();
        let cases: Vec<Case> = vec![
            (
                "exact_small",
                vec![1.1, 2.2, 3.3, 4.4],
                vec![5.5, 6.6, 7.7, 8.8],
                0.0,
                0.02857142857142857,
            ),
            (
                "exact_mixed",
                vec![3.1, 1.2, 5.3, 2.4, 7.5],
                vec![4.6, 6.7, 8.8, 9.9, 0.5, 10.1],
                8.0,
                0.24675324675324672,
            ),
            (
                "ties_small",
                vec![1.0, 2.0, 2.0, 3.0],
                vec![2.0, 3.0, 3.0, 4.0],
                3.0,
                0.1720337089218229,
            ),
            ("large", large_x, large_y, 162.0, 0.045618718055438566),
            ("identical", same.clone(), same, 50.0, 1.0),
            (
                "separated",
                vec![0.30, 0.31, 0.29, 0.32, 0.30, 0.33, 0.31, 0.30, 0.32, 0.29],
                vec![
                    0.002, 0.003, 0.002, 0.004, 0.002, 0.003, 0.002, 0.003, 0.002, 0.003,
                ],
                100.0,
                0.00014763850375246,
            ),
            (
                "latency",
                vec![0.021, 0.019, 0.025, 0.022, 0.020, 0.024, 0.023, 0.018],
                vec![0.020, 0.022, 0.019, 0.021, 0.023, 0.020, 0.018, 0.022],
                39.0,
                0.4909864494486902,
            ),
            (
                "errors",
                vec![0.0, 0.0, 0.01, 0.0, 0.02, 0.0, 0.0, 0.0, 0.01, 0.0],
                errors_y,
                60.5,
                0.2780756866208852,
            ),
        ];
        for (name, x, y, u, p) in cases {
            let t = mann_whitney_u(&x, &y).unwrap();
            assert!(close(t.u, u), "{name}: U {} vs {u}", t.u);
            assert!(close(t.p, p), "{name}: p {} vs {p}", t.p);
        }
        assert_eq!(mann_whitney_u(&[], &[1.0]), None);
    }

    #[test]
    fn shift_and_reachable_p() {
        assert_eq!(hodges_lehmann(&[3.0, 4.0], &[1.0, 2.0]), Some(2.0));
        assert_eq!(hodges_lehmann(&[1.0], &[]), None);
        assert!(close(min_p_value(4, 4), 2.0 / 70.0));
        assert!(close(min_p_value(5, 5), 2.0 / 252.0));
    }

    #[test]
    fn verdicts() {
        let stable = [
            0.010, 0.011, 0.009, 0.010, 0.012, 0.010, 0.011, 0.009, 0.010, 0.011,
        ];
        let slow: Vec<f64> = stable.iter().map(|v| v + 0.3).collect();
        let j = judge_metric(&slow, &stable, 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
        let j = judge_metric(&stable, &stable, 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Pass, "{}", j.reason);
        // Significantly faster is not a regression.
        let j = judge_metric(&stable, &slow, 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Pass, "{}", j.reason);
        // Too few points is never a pass.
        let j = judge_metric(&slow[..3], &stable[..3], 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(j.reason.contains("too few"));
        // 4 points each can never reach p < 0.02.
        let j = judge_metric(&stable[..4], &stable[..4], 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Inconclusive, "{}", j.reason);
        // A significant +10% shift is inside the 25% band.
        let bit: Vec<f64> = stable.iter().map(|v| v * 1.1 + 0.0001).collect();
        let j = judge_metric(&bit, &stable, 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Pass, "{}", j.reason);
        // Errors out of nothing: the stable median is 0, any significant rise fails.
        let zero = [0.0; 8];
        let some = [0.2, 0.3, 0.25, 0.2, 0.3, 0.2, 0.25, 0.3];
        let j = judge_metric(&some, &zero, 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
    }
}

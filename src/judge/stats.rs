//! Two-sample statistics for the metric judge: the two-sided Mann-Whitney U
//! test (as scipy's `mannwhitneyu(alternative="two-sided", method="auto")`:
//! exact when there are no ties and either sample has at most 8 values, else
//! the normal approximation with tie and continuity corrections), the
//! Hodges-Lehmann shift, and Kayenta's tolerance band around a regression.
//! Pure; std only.

/// The U statistic of `x` (as scipy reports it) and the two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    pub u: f64,
    pub p: f64,
}

/// Largest sample size for which a tie-free test uses the exact distribution
/// (scipy's `_mwu_choose_method`: exact unless both samples exceed 8).
const EXACT_MAX: usize = 8;

/// Below this, a shift counts as no shift at all (the band's absolute floor).
const ABS_FLOOR: f64 = 1e-9;

/// Midranks (1-based) of `values` (no NaN), and the sizes of the tied groups.
fn ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut r = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        // `==`, not total order: -0.0 and 0.0 are one value (and adjacent).
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mid;
        }
        if j > i {
            ties.push(j - i + 1);
        }
        i = j + 1;
    }
    (r, ties)
}

/// C(n, k) in floating point.
fn binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n.saturating_sub(k));
    (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64)
}

/// Null distribution of U for tie-free samples of `m` and `n`: entry u is the
/// number of orderings with U = u. These are the coefficients of the Gaussian
/// binomial [m+n choose k]_q (k = min(m, n)), built as the product over
/// i = 1..=k of (1 - q^(big+i)) / (1 - q^i). Every intermediate is bounded by
/// C(m+n, k); None when that might not fit in an i128.
fn u_counts(m: usize, n: usize) -> Option<Vec<i128>> {
    let (k, big) = (m.min(n), m.max(n));
    if binomial(m + n, k) > 1e36 {
        return None;
    }
    let mut c = vec![0i128; k * big + 1];
    c[0] = 1;
    for i in 1..=k {
        // Degree big*i after this step; higher terms cancel, so skip them.
        let top = big * i;
        let s = big + i;
        for j in (s..=top).rev() {
            c[j] -= c[j - s];
        }
        for j in i..=top {
            c[j] += c[j - i];
        }
    }
    Some(c)
}

/// The complementary error function, to near double precision: the
/// positive-term series exp(-x²)·Σ 2ⁿx^(2n+1)/(2n+1)!! for erf below 1.5, the
/// continued fraction of erfc above (within 1e-14 of scipy's erfc on 0..12).
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let pre = (-x * x).exp() / std::f64::consts::PI.sqrt();
    if x < 1.5 {
        let x2 = 2.0 * x * x;
        let (mut term, mut sum) = (x, x);
        let mut n = 1.0;
        while term > sum * 1e-17 {
            term *= x2 / (2.0 * n + 1.0);
            sum += term;
            n += 1.0;
        }
        1.0 - 2.0 * pre * sum
    } else {
        // erfc(x) = pre / (x + (1/2) / (x + (2/2) / (x + (3/2) / (x + ...))))
        let mut f = x;
        for k in (1..=300).rev() {
            f = x + (k as f64 / 2.0) / f;
        }
        pre / f
    }
}

/// Two-sided Mann-Whitney U test with midranks for ties; None when either
/// sample is empty or contains NaN. `u` is x's statistic, R1 - n1(n1+1)/2.
/// (The exact counts are i128; past C(n1+n2, k) = 1e36, some 10^5 points
/// against 8, the normal approximation is used instead.)
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (r, ties) = ranks(&all);
    let r1: f64 = r[..n1].iter().sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    let big = u1.max(u2);
    let exact = if ties.is_empty() && n1.min(n2) <= EXACT_MAX {
        u_counts(n1, n2)
    } else {
        None
    };
    let p = match exact {
        Some(counts) => {
            // Without ties U is an integer; P(U >= big), doubled.
            let from = (big.round() as usize).min(counts.len());
            let tail: i128 = counts[from..].iter().sum();
            let total: i128 = counts.iter().sum();
            2.0 * tail as f64 / total as f64
        }
        None => {
            let n = (n1 + n2) as f64;
            let tie: f64 = ties.iter().map(|&t| (t as f64).powi(3) - t as f64).sum();
            let var = (n1 * n2) as f64 / 12.0 * ((n + 1.0) - tie / (n * (n - 1.0)));
            if var <= 0.0 {
                // Every value tied: no evidence either way.
                1.0
            } else {
                let z = (big - (n1 * n2) as f64 / 2.0 - 0.5) / var.sqrt();
                erfc(z / std::f64::consts::SQRT_2)
            }
        }
    };
    Some(MannWhitney {
        u: u1,
        p: p.clamp(0.0, 1.0),
    })
}

/// Median of NaN-free values (reorders them); None when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let (lower, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(lo + (hi - lo) / 2.0)
}

/// Hodges-Lehmann shift: the median of all differences x_i - y_j. None when
/// either sample is empty or holds a non-finite value.
pub fn hodges_lehmann(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    median(&mut d)
}

/// The smallest two-sided exact p any outcome can reach, 2 / C(n1 + n2, n1)
/// (at most 1): 4 vs 4 points give 2/70 = 0.0286, so confidence 0.98 is out
/// of reach.
pub fn min_p_value(n1: usize, n2: usize) -> f64 {
    (2.0 / binomial(n1 + n2, n1)).min(1.0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

/// One metric judged: the verdict and the numbers behind it (None where
/// they could not be computed).
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub p: Option<f64>,
    /// Hodges-Lehmann shift, candidate minus stable.
    pub shift: Option<f64>,
    pub candidate_median: Option<f64>,
    pub stable_median: Option<f64>,
    pub reason: String,
}

/// A signed number for a reason: 4 decimals, or 4 significant digits when tiny.
fn num(v: f64) -> String {
    if v == 0.0 || v.abs() >= 0.01 {
        format!("{v:+.4}")
    } else {
        format!("{v:+.3e}")
    }
}

/// Judges the candidate's per-period values against the stable colour's.
/// Non-finite values (periods without data) are dropped first. Fail: p below
/// 1 - `confidence`, the Hodges-Lehmann shift in the worse direction, and the
/// shift beyond `tolerance` x |stable median| (floored at 1e-9; a rise from a
/// stable median of 0 is infinitely large). Otherwise inconclusive when there
/// are fewer than `min_points` values on either side or the sizes could never
/// reach the confidence, else pass. Too few points is never a pass (nor a fail).
pub fn judge_metric(
    candidate: &[f64],
    stable: &[f64],
    confidence: f64,
    higher_is_worse: bool,
    tolerance: f64,
    min_points: usize,
) -> Judgement {
    let mut c: Vec<f64> = candidate
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let mut s: Vec<f64> = stable.iter().copied().filter(|v| v.is_finite()).collect();
    let dropped = candidate.len() + stable.len() - c.len() - s.len();
    let note = if dropped > 0 {
        format!(" ({dropped} non-finite value(s) dropped)")
    } else {
        String::new()
    };
    let (n1, n2) = (c.len(), s.len());
    let test = mann_whitney_u(&c, &s);
    let shift = hodges_lehmann(&c, &s);
    let mut j = Judgement {
        verdict: Verdict::Inconclusive,
        p: test.map(|t| t.p),
        shift,
        candidate_median: median(&mut c),
        stable_median: median(&mut s),
        reason: String::new(),
    };
    let valid = confidence > 0.0 && confidence < 1.0 && tolerance >= 0.0 && tolerance.is_finite();
    if !valid {
        j.reason = format!("invalid confidence {confidence} or tolerance {tolerance}");
        return j;
    }
    if n1 < min_points.max(1) || n2 < min_points.max(1) {
        j.reason = format!(
            "too few data points: {n1} candidate, {n2} stable (need {min_points} each){note}"
        );
        return j;
    }
    let (Some(t), Some(shift), Some(cm), Some(sm)) =
        (test, shift, j.candidate_median, j.stable_median)
    else {
        j.reason = format!("no usable data{note}");
        return j;
    };
    let alpha = 1.0 - confidence;
    // Signed so that positive is worse.
    let sign = if higher_is_worse { 1.0 } else { -1.0 };
    let worse = sign * shift > 0.0;
    let relative = if shift == 0.0 {
        0.0
    } else if sm == 0.0 {
        shift.signum() * f64::INFINITY
    } else {
        shift / sm.abs()
    };
    // A rise from a stable median of 0 is infinitely large, however small.
    let from_zero = sm == 0.0 && sign * cm > 0.0;
    let beyond = shift.abs() > (tolerance * sm.abs()).max(ABS_FLOOR) || from_zero;
    let band = tolerance * 100.0;
    let size = format!(
        "shift {} ({:+.1}% of the stable median)",
        num(shift),
        relative * 100.0
    );
    if t.p < alpha && worse && beyond {
        j.verdict = Verdict::Fail;
        j.reason = format!(
            "regression: {size}, beyond the {band:.0}% band, p = {:.3e} < {alpha:.3}{note}",
            t.p
        );
    } else if min_p_value(n1, n2) > alpha {
        j.reason = format!(
            "{n1} vs {n2} points can never reach confidence {confidence}: smallest p = {:.4} (p = {:.4}){note}",
            min_p_value(n1, n2),
            t.p
        );
    } else {
        j.verdict = Verdict::Pass;
        j.reason = if t.p >= alpha {
            format!(
                "no significant difference: p = {:.4} >= {alpha:.3}, {size}{note}",
                t.p
            )
        } else if worse {
            format!("within the {band:.0}% band: {size}, p = {:.3e}{note}", t.p)
        } else {
            format!("improvement: {size}, p = {:.3e}{note}", t.p)
        };
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        a == b || (a - b).abs() <= rel * b.abs()
    }

    const LAT_STABLE: [f64; 18] = [
        182.4, 179.9, 185.1, 181.0, 190.3, 178.6, 183.7, 180.2, 187.9, 184.4, 179.1, 186.5, 182.0,
        181.8, 188.2, 183.3, 180.7, 185.6,
    ];
    const LAT_CAND: [f64; 18] = [
        184.9, 183.2, 189.7, 186.1, 192.8, 182.5, 187.0, 185.3, 191.4, 188.8, 183.6, 190.1, 186.4,
        185.0, 193.5, 187.7, 184.2, 189.0,
    ];
    const ERR_STABLE: [f64; 20] = [
        0.0, 0.0, 0.001, 0.0, 0.0, 0.002, 0.0, 0.0, 0.0, 0.001, 0.0, 0.0, 0.0, 0.0, 0.001, 0.0,
        0.0, 0.0, 0.0, 0.0,
    ];
    const ERR_CAND: [f64; 20] = [
        0.0, 0.003, 0.001, 0.004, 0.0, 0.002, 0.005, 0.0, 0.003, 0.001, 0.002, 0.0, 0.004, 0.003,
        0.001, 0.0, 0.006, 0.002, 0.003, 0.0,
    ];

    fn series(n: usize, f: impl Fn(f64, usize) -> f64) -> Vec<f64> {
        (0..n).map(|i| f(i as f64, i)).collect()
    }

    /// (name, x, y, U, p). Produced by scipy 1.17.1 with
    /// `r = scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="auto")`
    /// and checked equal to the explicit `method="exact"` / `"asymptotic"` run:
    ///   lat_stable, lat_cand, err_stable, err_cand = (the constants above)
    ///   large_x = [0.010 * i + 0.001 * (i % 3) for i in range(20)]
    ///   large_y = [0.012 * i + 0.0005 * (i % 7) for i in range(25)]
    ///   lin_x = [1.0 + 0.37 * i for i in range(20)]
    ///   lin_y = [0.5 + 0.41 * i for i in range(25)]
    ///   sep_x = [0.300 + 0.001 * i for i in range(25)]
    ///   sep_y = [0.002 + 0.0001 * i for i in range(25)]
    ///   same = [0.1] * 6 + [0.2] * 4 + [0.3] * 2
    ///   print(float(r.statistic), float(r.pvalue))
    #[test]
    fn mann_whitney_matches_scipy() {
        type Case = (&'static str, Vec<f64>, Vec<f64>, f64, f64);
        let same = [vec![0.1; 6], vec![0.2; 4], vec![0.3; 2]].concat();
        let cases: Vec<Case> = vec![
            // exact (no ties, a sample of <= 8)
            (
                "exact_separated_4v4",
                vec![1.1, 2.2, 3.3, 4.4],
                vec![5.5, 6.6, 7.7, 8.8],
                0.0,
                0.02857142857142857,
            ),
            (
                "exact_mixed_5v6",
                vec![3.1, 1.2, 5.3, 2.4, 7.5],
                vec![4.6, 6.7, 8.8, 9.9, 0.5, 10.1],
                8.0,
                0.24675324675324672,
            ),
            (
                "exact_8v12_boundary",
                vec![12.0, 3.5, 7.25, 9.0, 1.5, 15.0, 4.75, 11.0],
                vec![
                    2.0, 6.0, 8.5, 10.0, 13.0, 14.0, 16.0, 17.5, 18.0, 5.0, 19.0, 20.5,
                ],
                26.0,
                0.09788044772564897,
            ),
            (
                "exact_3v20",
                vec![5.05, 12.05, 18.05],
                series(20, |f, _| f),
                38.0,
                0.5138339920948616,
            ),
            ("single_1v1", vec![1.0], vec![2.0], 0.0, 1.0),
            // asymptotic (ties, or both samples > 8)
            (
                "ties_small_4v4",
                vec![1.0, 2.0, 2.0, 3.0],
                vec![2.0, 3.0, 3.0, 4.0],
                3.0,
                0.1720337089218229,
            ),
            (
                "large_20v25",
                series(20, |f, i| 0.010 * f + 0.001 * (i % 3) as f64),
                series(25, |f, i| 0.012 * f + 0.0005 * (i % 7) as f64),
                166.5,
                0.05797114652171633,
            ),
            (
                "large_no_ties_20v25",
                series(20, |f, _| 1.0 + 0.37 * f),
                series(25, |f, _| 0.5 + 0.41 * f),
                206.0,
                0.3204127646456789,
            ),
            ("identical", same.clone(), same, 72.0, 1.0),
            (
                "separated_25v25",
                series(25, |f, _| 0.300 + 0.001 * f),
                series(25, |f, _| 0.002 + 0.0001 * f),
                625.0,
                1.4156562248495537e-09,
            ),
            (
                "latency_ms_18v18",
                LAT_CAND.to_vec(),
                LAT_STABLE.to_vec(),
                256.0,
                0.003094321598011137,
            ),
            (
                "error_rate_20v20",
                ERR_CAND.to_vec(),
                ERR_STABLE.to_vec(),
                319.0,
                0.00042932473868391614,
            ),
            (
                "error_rate_swapped",
                ERR_STABLE.to_vec(),
                ERR_CAND.to_vec(),
                81.0,
                0.00042932473868391614,
            ),
        ];
        for (name, x, y, u, p) in cases {
            let t = mann_whitney_u(&x, &y).expect(name);
            assert!(close(t.u, u, 1e-9), "{name}: U {} vs {u}", t.u);
            assert!(close(t.p, p, 1e-9), "{name}: p {} vs {p}", t.p);
        }
        assert_eq!(mann_whitney_u(&[], &[1.0]), None);
        assert_eq!(mann_whitney_u(&[1.0], &[]), None);
        assert_eq!(mann_whitney_u(&[f64::NAN, 1.0], &[2.0]), None);
    }

    #[test]
    fn exact_distribution_and_erfc() {
        // C(4, 2) = 6 orderings: U = 0, 1, 2, 2, 3, 4.
        assert_eq!(u_counts(2, 2), Some(vec![1, 1, 2, 1, 1]));
        let c = u_counts(7, 300).expect("fits");
        assert_eq!(c.iter().sum::<i128>(), 47_601_293_640_636); // scipy.special.comb(307, 7, exact=True)
        assert!(c.iter().all(|&v| v > 0));
        // scipy.special.erfc(x) for x in (0.5, 2.9, 3.1, 6.0)
        for (x, want) in [
            (0.5, 0.4795001221869535),
            (2.9, 4.109787809945884e-05),
            (3.1, 1.1648657367199584e-05),
            (6.0, 2.1519736712498913e-17),
        ] {
            assert!(close(erfc(x), want, 1e-12), "erfc({x}) = {}", erfc(x));
            assert!(close(erfc(-x), 2.0 - want, 1e-12));
        }
    }

    #[test]
    fn hodges_lehmann_and_min_p() {
        // numpy.median(numpy.subtract.outer(x, y))
        assert_eq!(hodges_lehmann(&[3.0, 4.0], &[1.0, 2.0]), Some(2.0));
        assert_eq!(hodges_lehmann(&[1.0, 2.0, 10.0], &[0.5, 1.5]), Some(1.0));
        assert!(close(
            hodges_lehmann(&LAT_CAND, &LAT_STABLE).unwrap_or(0.0),
            4.0,
            1e-9
        ));
        assert!(close(
            hodges_lehmann(&ERR_CAND, &ERR_STABLE).unwrap_or(0.0),
            0.002,
            1e-9
        ));
        assert_eq!(hodges_lehmann(&[1.0], &[]), None);
        assert_eq!(hodges_lehmann(&[f64::INFINITY], &[1.0]), None);
        assert!(close(min_p_value(4, 4), 0.028_571_428_571_428_57, 1e-12));
        assert!(close(min_p_value(5, 5), 2.0 / 252.0, 1e-12));
        assert!(close(min_p_value(3, 20), 2.0 / 1771.0, 1e-12));
        assert_eq!(min_p_value(1, 1), 1.0);
        assert_eq!(min_p_value(0, 5), 1.0);
    }

    fn judge(c: &[f64], s: &[f64], confidence: f64) -> Judgement {
        judge_metric(c, s, confidence, true, 0.25, 5)
    }

    #[test]
    fn verdicts() {
        let j = judge(&LAT_STABLE, &LAT_STABLE, 0.98);
        assert_eq!(j.verdict, Verdict::Pass, "{}", j.reason);
        assert_eq!((j.p, j.shift), (Some(1.0), Some(0.0)));

        let slow: Vec<f64> = LAT_STABLE[..12].iter().map(|v| v + 300.0).collect();
        let j = judge(&slow, &LAT_STABLE[..12], 0.98);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
        assert!(close(j.shift.unwrap_or(0.0), 300.0, 1e-9));
        // Faster is not a regression; nor is lower when lower is better.
        assert_eq!(judge(&LAT_STABLE[..12], &slow, 0.98).verdict, Verdict::Pass);
        let j = judge_metric(&LAT_STABLE[..12], &slow, 0.98, false, 0.25, 5);
        assert_eq!(j.verdict, Verdict::Fail, "throughput drop: {}", j.reason);

        // Too few points is never a pass, even when clearly worse.
        let j = judge(&slow[..3], &LAT_STABLE[..3], 0.98);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(j.reason.starts_with("too few data points"), "{}", j.reason);

        // 4 vs 4, completely separated: p = 2/70 cannot get below 0.02.
        let j = judge_metric(&slow[..4], &LAT_STABLE[..4], 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Inconclusive, "{}", j.reason);
        assert!(j.reason.contains("can never reach"), "{}", j.reason);
        let j = judge_metric(&LAT_STABLE[..4], &LAT_STABLE[..4], 0.98, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Inconclusive, "{}", j.reason);
        // ... but it can get below 0.05.
        let j = judge_metric(&slow[..4], &LAT_STABLE[..4], 0.95, true, 0.25, 4);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);

        // +10% is highly significant but inside the 25% band.
        let bit: Vec<f64> = LAT_STABLE.iter().map(|v| v * 1.1).collect();
        let j = judge(&bit, &LAT_STABLE, 0.98);
        assert!(j.p.unwrap_or(1.0) < 1e-5, "{:?}", j.p);
        assert_eq!(j.verdict, Verdict::Pass, "{}", j.reason);
        assert!(j.reason.starts_with("within"), "{}", j.reason);
        // +40% is not.
        let much: Vec<f64> = LAT_STABLE.iter().map(|v| v * 1.4).collect();
        assert_eq!(judge(&much, &LAT_STABLE, 0.98).verdict, Verdict::Fail);

        // Errors out of nothing: the stable median is 0, so any significant rise fails.
        let j = judge(&ERR_CAND, &[0.0; 20], 0.98);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
        assert!(j.reason.contains("inf"), "{}", j.reason);
        // ... even a rise smaller than the absolute floor.
        let tiny: Vec<f64> = ERR_CAND.iter().map(|v| v * 1e-8).collect();
        assert_eq!(judge(&tiny, &[0.0; 20], 0.98).verdict, Verdict::Fail);
        // The realistic error-rate series: significant, median 0 -> 0.002.
        assert_eq!(judge(&ERR_CAND, &ERR_STABLE, 0.98).verdict, Verdict::Fail);
        // Periods without data are dropped before counting.
        let gappy = [f64::NAN, 1.0, f64::NAN, 1.0, 1.0, 1.0];
        let j = judge(&gappy, &[1.0; 5], 0.98);
        assert_eq!(j.verdict, Verdict::Inconclusive, "{}", j.reason);
        assert!(j.reason.contains("2 non-finite"), "{}", j.reason);

        // Nonsense parameters never pass.
        assert_eq!(
            judge(&bit, &LAT_STABLE, f64::NAN).verdict,
            Verdict::Inconclusive
        );
        assert_eq!(judge(&bit, &LAT_STABLE, 1.0).verdict, Verdict::Inconclusive);
        assert_eq!(
            judge_metric(&[], &[], 0.98, true, 0.25, 0).verdict,
            Verdict::Inconclusive
        );
    }
}

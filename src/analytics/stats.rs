//! Statistical tests used by the trend verdicts: Welch's t, the two-proportion z test,
//! Mann–Kendall with Sen's slope, and Benjamini–Hochberg false-discovery control.
//! Distribution functions come from `statrs`.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Result of Welch's two-sample t-test (current minus previous).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Welch {
    /// Difference of means.
    pub difference: f64,
    /// t statistic.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Two-sided p-value of a standard normal statistic.
pub fn normal_two_sided(z: f64) -> f64 {
    if !z.is_finite() {
        return if z.is_nan() { 1.0 } else { 0.0 };
    }
    let n = Normal::new(0.0, 1.0).expect("standard normal");
    (2.0 * (1.0 - n.cdf(z.abs()))).clamp(0.0, 1.0)
}

/// Welch's t-test from summary statistics (means, sample variances, sizes).
/// `None` when either side has fewer than two values or both variances are zero.
pub fn welch(
    mean_a: f64,
    var_a: f64,
    n_a: f64,
    mean_b: f64,
    var_b: f64,
    n_b: f64,
) -> Option<Welch> {
    if n_a < 2.0 || n_b < 2.0 {
        return None;
    }
    let (sa, sb) = (var_a / n_a, var_b / n_b);
    let se2 = sa + sb;
    if se2 <= 0.0 || !se2.is_finite() {
        return None;
    }
    let difference = mean_b - mean_a;
    let t = difference / se2.sqrt();
    let df = se2 * se2 / (sa * sa / (n_a - 1.0) + sb * sb / (n_b - 1.0));
    Some(Welch {
        difference,
        t,
        df,
        p: t_two_sided(t, df),
    })
}

/// Two-sided p-value of a Student t statistic with `df` degrees of freedom (the normal
/// distribution when `df` is not a positive finite number).
pub fn t_two_sided(t: f64, df: f64) -> f64 {
    if df.is_finite() && df > 0.0 && t.is_finite() {
        let dist = StudentsT::new(0.0, 1.0, df).expect("positive degrees of freedom");
        (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0)
    } else {
        normal_two_sided(t)
    }
}

/// One stratum of a stratified two-window comparison: mean, sample variance and size of
/// the previous and the current window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StratumSample {
    /// Previous window: mean, variance, size.
    pub previous: (f64, f64, f64),
    /// Current window: mean, variance, size.
    pub current: (f64, f64, f64),
}

/// A stratified Welch test: the weighted mean of the per-stratum differences of means
/// (current − previous), each stratum weighted by `n_prev·n_cur / (n_prev + n_cur)` (the
/// weight that makes the estimate efficient when variances are equal, and that does not
/// depend on noisy variance estimates). Its standard error uses one variance per window,
/// pooled over the strata (Σ(n−1)·s² / Σ(n−1): a stratum of three conversations would
/// otherwise lend its chance-small variance to the whole test), and Welch–Satterthwaite
/// degrees of freedom between the windows. With one stratum it is exactly [`welch`].
/// Strata of a single conversation in a window still compare (the variance is pooled).
/// `None` without a stratum seen in both windows, when a window has no stratum of two
/// values to estimate its variance from, or when both variances are zero.
pub fn stratified_welch(strata: &[StratumSample]) -> Option<Welch> {
    let usable = || {
        strata
            .iter()
            .filter(|s| s.previous.2 >= 1.0 && s.current.2 >= 1.0)
    };
    let weight = |s: &StratumSample| s.previous.2 * s.current.2 / (s.previous.2 + s.current.2);
    let total: f64 = usable().map(weight).sum();
    if total <= 0.0 {
        return None;
    }
    // Per window: pooled Σ(n−1)s², Σ(n−1), and Σ share²/n.
    let (mut difference, mut prev, mut cur) = (0.0, [0.0; 3], [0.0; 3]);
    for s in usable() {
        let share = weight(s) / total;
        difference += share * (s.current.0 - s.previous.0);
        for ((_, var, n), acc) in [(s.previous, &mut prev), (s.current, &mut cur)] {
            acc[0] += (n - 1.0) * var;
            acc[1] += n - 1.0;
            acc[2] += share * share / n;
        }
    }
    if prev[1] < 1.0 || cur[1] < 1.0 {
        return None;
    }
    let part = |acc: [f64; 3]| acc[0] / acc[1] * acc[2];
    let (a, b) = (part(prev), part(cur));
    let se2 = a + b;
    if se2 <= 0.0 || !se2.is_finite() {
        return None;
    }
    let t = difference / se2.sqrt();
    let df = se2 * se2 / (a * a / prev[1] + b * b / cur[1]);
    Some(Welch {
        difference,
        t,
        df,
        p: t_two_sided(t, df),
    })
}

/// Result of the two-proportion z test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportions {
    /// Share in the previous window.
    pub previous: f64,
    /// Share in the current window.
    pub current: f64,
    /// z statistic (current minus previous).
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Pooled two-proportion z test of `x_b / n_b` against `x_a / n_a`.
pub fn two_proportions(x_a: u64, n_a: u64, x_b: u64, n_b: u64) -> Option<Proportions> {
    if n_a == 0 || n_b == 0 {
        return None;
    }
    let (pa, pb) = (x_a as f64 / n_a as f64, x_b as f64 / n_b as f64);
    let pooled = (x_a + x_b) as f64 / (n_a + n_b) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n_a as f64 + 1.0 / n_b as f64)).sqrt();
    let (z, p) = if se > 0.0 {
        let z = (pb - pa) / se;
        (z, normal_two_sided(z))
    } else {
        (0.0, 1.0)
    };
    Some(Proportions {
        previous: pa,
        current: pb,
        z,
        p,
    })
}

/// Result of the Mann–Kendall trend test on a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannKendall {
    /// The S statistic.
    pub s: i64,
    /// Continuity-corrected z.
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Sen's slope: median pairwise slope, in value units per x unit.
    pub sen_slope: f64,
    /// Points in the series.
    pub points: usize,
}

/// Mann–Kendall test with tie correction and Sen's slope, on `(x, y)` points (x strictly
/// increasing, e.g. day offsets). `None` with fewer than four points.
pub fn mann_kendall(points: &[(f64, f64)]) -> Option<MannKendall> {
    let n = points.len();
    if n < 4 {
        return None;
    }
    let mut s: i64 = 0;
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in (i + 1)..n {
            let dy = points[j].1 - points[i].1;
            s += match dy.partial_cmp(&0.0) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
            let dx = points[j].0 - points[i].0;
            if dx != 0.0 {
                slopes.push(dy / dx);
            }
        }
    }
    // Tie correction: groups of equal y values.
    let mut ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    ys.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mut tie_term = 0.0;
    let mut run = 1usize;
    for w in 1..=ys.len() {
        if w < ys.len() && ys[w] == ys[w - 1] {
            run += 1;
        } else {
            if run > 1 {
                let t = run as f64;
                tie_term += t * (t - 1.0) * (2.0 * t + 5.0);
            }
            run = 1;
        }
    }
    let nf = n as f64;
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - tie_term) / 18.0;
    let z = if var <= 0.0 {
        0.0
    } else if s > 0 {
        (s as f64 - 1.0) / var.sqrt()
    } else if s < 0 {
        (s as f64 + 1.0) / var.sqrt()
    } else {
        0.0
    };
    slopes.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let sen_slope = median_sorted(&slopes).unwrap_or(0.0);
    Some(MannKendall {
        s,
        z,
        p: normal_two_sided(z),
        sen_slope,
        points: n,
    })
}

fn median_sorted(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the input order.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    if m == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| {
        p_values[a]
            .partial_cmp(&p_values[b])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for rank in (0..m).rev() {
        let i = order[rank];
        let adjusted = p_values[i] * m as f64 / (rank + 1) as f64;
        running = running.min(adjusted);
        q[i] = running.clamp(0.0, 1.0);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_matches_a_textbook_example() {
        // Two samples with known statistics (computed independently):
        // a: mean 20, var 16, n 10; b: mean 24, var 9, n 12
        // → se² = 1.6 + 0.75, t = 4 / √2.35 ≈ 2.609, df = 2.35² / (1.6²/9 + 0.75²/11) ≈ 16.46.
        let w = welch(20.0, 16.0, 10.0, 24.0, 9.0, 12.0).unwrap();
        assert!((w.t - 2.609).abs() < 0.001, "{w:?}");
        assert!((w.df - 16.457).abs() < 0.01, "{w:?}");
        assert!(w.p > 0.015 && w.p < 0.025, "{w:?}");
        assert!(welch(1.0, 0.0, 5.0, 1.0, 0.0, 5.0).is_none());
    }

    #[test]
    fn proportions_detect_a_real_shift_and_not_noise() {
        let shift = two_proportions(20, 200, 60, 200).unwrap();
        assert!(shift.p < 0.001 && shift.z > 0.0);
        let same = two_proportions(30, 200, 31, 200).unwrap();
        assert!(same.p > 0.5);
        assert_eq!(two_proportions(0, 10, 0, 10).unwrap().p, 1.0);
    }

    #[test]
    fn mann_kendall_sees_monotone_series_and_sen_slope_is_the_median_slope() {
        let up: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
        let mk = mann_kendall(&up).unwrap();
        assert_eq!(mk.s, 45);
        assert!(mk.p < 0.001);
        assert!((mk.sen_slope - 2.0).abs() < 1e-12);
        let flat = [
            (0.0, 5.0),
            (1.0, 3.0),
            (2.0, 5.0),
            (3.0, 3.0),
            (4.0, 5.0),
            (5.0, 3.0),
        ];
        assert!(mann_kendall(&flat).unwrap().p > 0.5);
        assert!(mann_kendall(&up[..3]).is_none());
    }

    #[test]
    fn bh_adjusts_like_the_reference_procedure() {
        let p = [0.01, 0.04, 0.03, 0.005];
        let q = benjamini_hochberg(&p);
        // Sorted: 0.005(1) 0.01(2) 0.03(3) 0.04(4) → 0.02, 0.02, 0.04, 0.04.
        let expected = [0.02, 0.04, 0.04, 0.02];
        for (a, b) in q.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }
}

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
    let p = if df.is_finite() && df > 0.0 {
        let dist = StudentsT::new(0.0, 1.0, df).expect("positive degrees of freedom");
        (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0)
    } else {
        normal_two_sided(t)
    };
    Some(Welch {
        difference,
        t,
        df,
        p,
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

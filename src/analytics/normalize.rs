//! Raw sentiment → 0–100 quality score, with a version stamped on every output.
//!
//! The formulas and their versions are documented in `docs/normalization.md`. A version
//! string names the formula family and, for configurable shapes, a fingerprint of the
//! shape, so two reports with the same version were computed identically.

use sha2::{Digest, Sha256};

use crate::config::{AnalyticsSettings, Band, NormalizationKind};
use crate::domain::{Polarity, QualityReading, RawSentiment};

/// Version of the default linear formula.
pub const LINEAR_V1: &str = "linear-v1";

/// Why a raw score cannot be normalized. Nothing is ever clamped silently.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NormalizeError {
    /// NaN or an infinity.
    #[error("score {0} is not a finite number")]
    NotFinite(f64),
    /// Outside the scale the source is configured for.
    #[error("score {value} is outside the {scale} scale [-{max}, {max}]")]
    OutOfRange {
        /// The value received.
        value: f64,
        /// The configured scale.
        scale: &'static str,
        /// Largest magnitude on that scale.
        max: f64,
    },
}

/// The mapping from the raw percent scale to quality points.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Linear,
    Piecewise(Vec<[f64; 2]>),
    Banded(Vec<Band>),
}

/// A configured, versioned normalization.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    shape: Shape,
    neutral_band: f64,
    action_threshold: f64,
    version: String,
}

impl Default for Normalizer {
    fn default() -> Self {
        Normalizer::linear(20.0, 40.0)
    }
}

impl Normalizer {
    /// The linear formula `(percent + 100) / 2` (`linear-v1`).
    pub fn linear(neutral_band: f64, action_threshold: f64) -> Normalizer {
        Normalizer {
            shape: Shape::Linear,
            neutral_band,
            action_threshold,
            version: LINEAR_V1.to_owned(),
        }
    }

    /// Builds the normalization the settings describe (already validated by `config`).
    pub fn from_settings(s: &AnalyticsSettings) -> Normalizer {
        let (shape, version) = match s.normalization {
            NormalizationKind::Linear => (Shape::Linear, LINEAR_V1.to_owned()),
            NormalizationKind::Piecewise => {
                let fp = fingerprint(s.piecewise_points.iter().flat_map(|p| p.iter().copied()));
                (
                    Shape::Piecewise(s.piecewise_points.clone()),
                    format!("piecewise-v1+{fp}"),
                )
            }
            NormalizationKind::Banded => {
                let fp = fingerprint(s.bands.iter().flat_map(|b| [b.upper, b.score]));
                (Shape::Banded(s.bands.clone()), format!("banded-v1+{fp}"))
            }
        };
        Normalizer {
            shape,
            neutral_band: s.neutral_band,
            action_threshold: s.action_threshold,
            version,
        }
    }

    /// Whether quality is the linear formula, (percent + 100) / 2.
    pub fn is_linear(&self) -> bool {
        matches!(self.shape, Shape::Linear)
    }

    /// The version string stamped on every output (`linear-v1`, `piecewise-v1+1a2b3c4d`, …).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The threshold below which `action_required` is set.
    pub fn action_threshold(&self) -> f64 {
        self.action_threshold
    }

    /// Checks a raw value and returns it on the percent scale.
    ///
    /// # Errors
    /// [`NormalizeError`] for NaN, infinities and values outside the scale.
    #[inline]
    pub fn to_percent(raw: RawSentiment) -> Result<f64, NormalizeError> {
        if !raw.value.is_finite() {
            return Err(NormalizeError::NotFinite(raw.value));
        }
        let max = raw.scale.max_abs();
        if raw.value.abs() > max {
            return Err(NormalizeError::OutOfRange {
                value: raw.value,
                scale: raw.scale.as_str(),
                max,
            });
        }
        Ok(raw.scale.to_percent(raw.value))
    }

    /// The 0–100 quality score for a raw value.
    ///
    /// # Errors
    /// See [`Normalizer::to_percent`].
    #[inline]
    pub fn quality(&self, raw: RawSentiment) -> Result<f64, NormalizeError> {
        let p = Self::to_percent(raw)?;
        Ok(self.quality_from_percent(p))
    }

    #[inline]
    fn quality_from_percent(&self, p: f64) -> f64 {
        match &self.shape {
            Shape::Linear => (p + 100.0) * 0.5,
            Shape::Piecewise(points) => interpolate(points, p),
            Shape::Banded(bands) => bands
                .iter()
                .find(|b| p <= b.upper)
                .map_or(bands[bands.len() - 1].score, |b| b.score),
        }
    }

    /// Polarity derived from the raw value: neutral within ±`neutral_band` percent points.
    #[inline]
    pub fn derive_polarity(&self, percent: f64) -> Polarity {
        if percent > self.neutral_band {
            Polarity::Positive
        } else if percent < -self.neutral_band {
            Polarity::Negative
        } else {
            Polarity::Neutral
        }
    }

    /// The full reading: quality score, polarity (supplied if given, else derived) and
    /// `action_required`.
    ///
    /// # Errors
    /// See [`Normalizer::to_percent`].
    #[inline]
    pub fn read(
        &self,
        raw: RawSentiment,
        supplied: Option<Polarity>,
    ) -> Result<QualityReading, NormalizeError> {
        let p = Self::to_percent(raw)?;
        let quality_score = self.quality_from_percent(p);
        Ok(QualityReading {
            quality_score,
            polarity: supplied.unwrap_or_else(|| self.derive_polarity(p)),
            action_required: quality_score < self.action_threshold,
        })
    }
}

fn interpolate(points: &[[f64; 2]], p: f64) -> f64 {
    for w in points.windows(2) {
        let ([x0, y0], [x1, y1]) = (w[0], w[1]);
        if p <= x1 {
            if x1 == x0 {
                return y1;
            }
            return y0 + (y1 - y0) * (p - x0) / (x1 - x0);
        }
    }
    points[points.len() - 1][1]
}

fn fingerprint(values: impl Iterator<Item = f64>) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    hex::encode(&h.finalize()[..4])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ScoreScale;

    fn unit(v: f64) -> RawSentiment {
        RawSentiment {
            value: v,
            scale: ScoreScale::Unit,
        }
    }

    #[test]
    fn linear_matches_the_original_design() {
        let n = Normalizer::default();
        assert_eq!(n.quality(unit(-1.0)).unwrap(), 0.0);
        assert_eq!(n.quality(unit(0.0)).unwrap(), 50.0);
        assert_eq!(n.quality(unit(1.0)).unwrap(), 100.0);
        assert_eq!(n.quality(unit(0.42)).unwrap(), (0.42 + 1.0) / 2.0 * 100.0);
        let pct = RawSentiment {
            value: 42.0,
            scale: ScoreScale::Percent,
        };
        assert_eq!(n.quality(pct).unwrap(), 71.0);
    }

    #[test]
    fn polarity_and_action_follow_thresholds() {
        let n = Normalizer::default();
        let r = n.read(unit(0.2), None).unwrap();
        assert_eq!(r.polarity, Polarity::Neutral);
        let r = n.read(unit(0.21), None).unwrap();
        assert_eq!(r.polarity, Polarity::Positive);
        let r = n.read(unit(-0.21), None).unwrap();
        assert_eq!(r.polarity, Polarity::Negative);
        assert!(r.action_required == (r.quality_score < 40.0));
        assert!(n.read(unit(-0.3), None).unwrap().action_required);
        assert!(!n.read(unit(-0.2), None).unwrap().action_required);
        let r = n.read(unit(0.9), Some(Polarity::Negative)).unwrap();
        assert_eq!(
            r.polarity,
            Polarity::Negative,
            "a supplied polarity is kept"
        );
    }

    #[test]
    fn bad_values_are_rejected_not_clamped() {
        let n = Normalizer::default();
        assert!(matches!(
            n.quality(unit(1.0001)),
            Err(NormalizeError::OutOfRange { .. })
        ));
        assert!(matches!(
            n.quality(unit(f64::NAN)),
            Err(NormalizeError::NotFinite(_))
        ));
        assert!(matches!(
            n.quality(unit(f64::NEG_INFINITY)),
            Err(NormalizeError::NotFinite(_))
        ));
    }

    #[test]
    fn shapes_from_settings_carry_distinct_versions() {
        let mut s = crate::config::Settings::defaults().analytics;
        s.normalization = NormalizationKind::Piecewise;
        let a = Normalizer::from_settings(&s);
        assert!(a.version().starts_with("piecewise-v1+"));
        assert_eq!(a.quality(unit(-0.2)).unwrap(), 35.0);
        assert_eq!(a.quality(unit(0.0)).unwrap(), 50.0);
        s.piecewise_points[1][1] = 30.0;
        let b = Normalizer::from_settings(&s);
        assert_ne!(a.version(), b.version());
        s.normalization = NormalizationKind::Banded;
        let c = Normalizer::from_settings(&s);
        assert!(c.version().starts_with("banded-v1+"));
        assert_eq!(c.quality(unit(-0.6)).unwrap(), 10.0);
        assert_eq!(c.quality(unit(1.0)).unwrap(), 95.0);
    }
}

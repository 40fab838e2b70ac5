//! Learning-rate schedule: linear warm-up, then constant or cosine decay. A pure function of the
//! step, computed in f64 on the host (nanoGPT's `get_lr`), so a resumed run gets the same LR as an
//! uninterrupted one without any saved scheduler state.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What follows the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// `base_lr` until the end.
    Constant,
    /// Half a cosine from `base_lr` (end of warm-up) to `min_lr` (at `total_steps`), then `min_lr`.
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LrSchedule {
    /// Peak learning rate, reached at the end of the warm-up.
    pub base_lr: f64,
    /// Steps of linear warm-up; 0 starts at `base_lr`.
    pub warmup_steps: u64,
    /// Step at which the cosine reaches `min_lr` (ignored by `constant`).
    pub total_steps: u64,
    /// Floor of the cosine decay (ignored by `constant`).
    pub min_lr: f64,
    /// Constant or cosine after the warm-up.
    pub kind: ScheduleKind,
}

impl Default for LrSchedule {
    /// MDM's schedule: a constant 1e-4, no warm-up.
    fn default() -> Self {
        LrSchedule {
            base_lr: 1e-4,
            warmup_steps: 0,
            total_steps: 0,
            min_lr: 0.0,
            kind: ScheduleKind::Constant,
        }
    }
}

impl LrSchedule {
    /// Refuses schedules whose LR would be negative, non-finite, or whose cosine has no room.
    pub fn validate(&self) -> Result<()> {
        if !(self.base_lr.is_finite() && self.base_lr > 0.0) {
            return Err(Error::Invalid(format!(
                "base_lr {} must be a finite number > 0",
                self.base_lr
            )));
        }
        if !(self.min_lr >= 0.0 && self.min_lr <= self.base_lr) {
            return Err(Error::Invalid(format!(
                "min_lr {} must lie in [0, base_lr = {}]",
                self.min_lr, self.base_lr
            )));
        }
        if self.kind == ScheduleKind::Cosine && self.total_steps <= self.warmup_steps {
            return Err(Error::Invalid(format!(
                "a cosine schedule needs total_steps ({}) > warmup_steps ({})",
                self.total_steps, self.warmup_steps
            )));
        }
        Ok(())
    }

    /// The LR for optimizer step `step` (0-based). Warm-up: `base * (step + 1) / warmup`, so step 0
    /// already moves and step `warmup - 1` reaches `base`. Cosine: `min + (base - min) * (1 + cos(pi *
    /// p)) / 2` with `p = (step - warmup) / (total - warmup)`, clamped to `min` from `total` on.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        match self.kind {
            ScheduleKind::Constant => self.base_lr,
            ScheduleKind::Cosine if step >= self.total_steps => self.min_lr,
            ScheduleKind::Cosine => {
                let p = (step - self.warmup_steps) as f64
                    / (self.total_steps - self.warmup_steps) as f64;
                self.min_lr
                    + (self.base_lr - self.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use std::f64::consts::FRAC_1_SQRT_2;

    fn cosine() -> LrSchedule {
        LrSchedule {
            base_lr: 1e-3,
            warmup_steps: 10,
            total_steps: 110,
            min_lr: 1e-5,
            kind: ScheduleKind::Cosine,
        }
    }

    #[test]
    fn warm_up_is_linear_from_the_first_step() {
        let s = cosine();
        assert_relative_eq!(s.lr(0), 1e-4, max_relative = 1e-12);
        assert_relative_eq!(s.lr(4), 5e-4, max_relative = 1e-12);
        assert_relative_eq!(s.lr(9), 1e-3, max_relative = 1e-12);
    }

    #[test]
    fn cosine_matches_the_closed_form() {
        let s = cosine();
        let (base, min) = (1e-3, 1e-5);
        // Progress 0, 1/4, 1/2, 3/4 of the 100 decay steps: cos(pi p) = 1, 1/sqrt2, 0, -1/sqrt2.
        assert_relative_eq!(s.lr(10), base, max_relative = 1e-12);
        let quarter = min + (base - min) * (1.0 + FRAC_1_SQRT_2) / 2.0;
        assert_relative_eq!(s.lr(35), quarter, max_relative = 1e-12);
        assert_relative_eq!(s.lr(60), (base + min) / 2.0, max_relative = 1e-12);
        let three_quarters = min + (base - min) * (1.0 - FRAC_1_SQRT_2) / 2.0;
        assert_relative_eq!(s.lr(85), three_quarters, max_relative = 1e-12);
        assert_relative_eq!(s.lr(110), min, max_relative = 1e-12);
        assert_eq!(s.lr(1_000_000), min, "clamped after total_steps");
        // Monotone decay after the warm-up.
        assert!((10..110).all(|k| s.lr(k + 1) <= s.lr(k)));
    }

    #[test]
    fn constant_stays_at_base_and_zero_warm_up_starts_there() {
        let s = LrSchedule {
            warmup_steps: 4,
            ..LrSchedule::default()
        };
        assert_relative_eq!(s.lr(0), 0.25e-4, max_relative = 1e-12);
        assert_eq!(s.lr(4), 1e-4);
        assert_eq!(s.lr(10_000_000), 1e-4);
        assert_eq!(LrSchedule::default().lr(0), 1e-4);
    }

    #[test]
    fn serde_is_lowercase_and_strict() {
        let json = serde_json::to_string(&cosine()).unwrap();
        assert!(json.contains("\"kind\":\"cosine\""), "{json}");
        let back: LrSchedule = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cosine());
        let partial: LrSchedule = serde_json::from_str(r#"{"kind": "constant"}"#).unwrap();
        assert_eq!(partial, LrSchedule::default());
        assert!(serde_json::from_str::<LrSchedule>(r#"{"lr": 1}"#).is_err());
    }

    #[test]
    fn validate_names_the_bad_value() {
        assert!(cosine().validate().is_ok());
        let e = LrSchedule {
            total_steps: 10,
            ..cosine()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("total_steps (10)"), "{e}");
        let e = LrSchedule {
            min_lr: 2e-3,
            ..cosine()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("min_lr 0.002"), "{e}");
        let e = LrSchedule {
            base_lr: f64::NAN,
            ..cosine()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("base_lr NaN"), "{e}");
    }
}

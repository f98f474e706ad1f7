//! The axis type: linear, log or categorical, with our own ticks and tick labels.

use crate::types::*;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use std::ops::Range;

// ---------------------------------------------------------------------------------------------
// The axis type: linear, log or categorical, with our own ticks and tick labels.

#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) log: bool,
    /// Labels of the integer positions 0, 1, … (categorical axis).
    pub(crate) categories: Option<Vec<String>>,
}

impl Axis {
    /// An axis covering `values` (non-finite, and for log non-positive, values dropped),
    /// padded by `pad` of the span on each side.
    pub(crate) fn fit(values: impl Iterator<Item = f64>, scale: Scale, pad: f64) -> Self {
        let log = scale == Scale::Log;
        let vals = values.filter(|v| v.is_finite() && (!log || *v > 0.0));
        let (lo, hi) = min_max(vals).unwrap_or(if log { (0.1, 10.0) } else { (0.0, 1.0) });
        if log {
            let (mut a, mut b) = (lo.log10(), hi.log10());
            if b - a < 1e-9 {
                a -= 0.3;
                b += 0.3;
            }
            let p = (b - a) * pad;
            Self::new(10f64.powf(a - p), 10f64.powf(b + p), true)
        } else {
            let (mut a, mut b) = (lo, hi);
            if b - a < 1e-12 * a.abs().max(1e-300) || b == a {
                let d = if a == 0.0 { 1.0 } else { 0.1 * a.abs() };
                a -= d;
                b += d;
            }
            let p = (b - a) * pad;
            Self::new(a - p, b + p, false)
        }
    }
    pub(crate) fn new(lo: f64, hi: f64, log: bool) -> Self {
        Self {
            lo,
            hi,
            log,
            categories: None,
        }
    }
    /// A categorical axis: positions 0..n labelled by `labels`.
    pub(crate) fn categorical(labels: Vec<String>) -> Self {
        let n = labels.len().max(1) as f64;
        Self {
            lo: -0.6,
            hi: n - 0.4,
            log: false,
            categories: Some(labels),
        }
    }
    /// Position of `v` on the axis in [0, 1] (NaN for a value the axis cannot show).
    pub(crate) fn norm(&self, v: f64) -> f64 {
        if self.log {
            if v <= 0.0 {
                return f64::NAN;
            }
            (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
    pub(crate) fn contains(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }
    /// Nice linear ticks, at most `max` of them (light: five subdivisions each).
    pub(crate) fn linear_ticks(lo: f64, hi: f64, max: usize, light: bool) -> Vec<f64> {
        let max = max.max(2);
        let raw = (hi - lo) / max as f64;
        if raw.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return vec![lo];
        }
        let mag = 10f64.powf(raw.log10().floor());
        let mut step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw * (1.0 - 1e-9))
            .unwrap_or(10.0 * mag);
        if light {
            step /= 5.0;
        }
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        (first..=last).map(|k| k as f64 * step).collect()
    }
    pub(crate) fn log_ticks(&self, max: usize, light: bool) -> Vec<f64> {
        let (a, b) = (self.lo.log10(), self.hi.log10());
        let within = |v: f64| v >= self.lo * (1.0 - 1e-9) && v <= self.hi * (1.0 + 1e-9);
        let with = |mantissas: &[f64]| -> Vec<f64> {
            let mut out = Vec::new();
            for k in (a.floor() as i32)..=(b.ceil() as i32) {
                for m in mantissas {
                    let v = m * 10f64.powi(k);
                    if within(v) {
                        out.push(v);
                    }
                }
            }
            out
        };
        let decades = with(&[1.0]);
        if light {
            let all = with(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
            return if all.len() <= max.max(1) * 10 {
                all
            } else {
                decades
            };
        }
        let max = max.max(2);
        if decades.len() >= 3 {
            let stride = decades.len().div_ceil(max);
            return decades
                .iter()
                .copied()
                .filter(|v| (v.log10().round() as i64).rem_euclid(stride as i64) == 0)
                .collect();
        }
        for mantissas in [
            &[1.0, 2.0, 5.0][..],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ] {
            let t = with(mantissas);
            if t.len() >= 3 && t.len() <= max {
                return t;
            }
        }
        Self::linear_ticks(self.lo, self.hi, max.min(6), false)
    }
}

/// A tick label: plain decimals between 10⁻³ and 10⁵, otherwise m×10ᵏ.
pub(crate) fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.10}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return s.replace('-', "−");
    }
    let k = a.log10().floor() as i32;
    let m = v / 10f64.powi(k);
    let m = (m * 1000.0).round() / 1000.0;
    let exp: String = k
        .to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹']
                [d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect();
    if (m - 1.0).abs() < 1e-9 {
        format!("10{exp}")
    } else if (m + 1.0).abs() < 1e-9 {
        format!("−10{exp}")
    } else {
        format!("{}×10{exp}", tick_label(m))
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = self.norm(*value);
        let t = if t.is_finite() {
            t.clamp(-10.0, 11.0)
        } else {
            -10.0
        };
        (limit.0 as f64 + t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let light = hint.weight().allow_light_points();
        if let Some(c) = &self.categories {
            return if light {
                Vec::new()
            } else {
                (0..c.len()).map(|i| i as f64).collect()
            };
        }
        if self.log {
            self.log_ticks(hint.bold_points(), light)
        } else {
            Self::linear_ticks(self.lo, self.hi, hint.bold_points(), light)
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        match &self.categories {
            Some(c) => {
                let i = value.round();
                if (value - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < c.len() {
                    c[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None => tick_label(*value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_plain_or_powers_of_ten() {
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(1000.0), "1000");
        assert_eq!(tick_label(1e-4), "10⁻⁴");
        assert_eq!(tick_label(2e6), "2×10⁶");
        assert_eq!(tick_label(-0.5), "−0.5");
    }

    #[test]
    fn log_ticks_are_decades_or_finer() {
        let a = Axis::new(0.8, 12_000.0, true);
        assert_eq!(
            a.log_ticks(8, false),
            vec![1.0, 10.0, 100.0, 1000.0, 10_000.0]
        );
        let narrow = Axis::new(0.2, 0.35, true);
        let t = narrow.log_ticks(8, false);
        assert!(
            t.len() >= 2 && t.iter().all(|v| (0.2..=0.35).contains(v)),
            "{t:?}"
        );
        let wide = Axis::new(1e-12, 1.0, true);
        assert!(wide.log_ticks(5, false).len() <= 5);
    }
}

//! Temporal windows for n sub-sentences over T KP frames (method.md section 4):
//! lambda(n) = (1 + 1/ln(n+2)) / n; n = 1 is the whole motion; otherwise window i covers
//! [start_i, start_i + lT) with lT = max(1, floor(T lambda)) and start_i = round(i (T - lT)/(n-1)),
//! so the last window ends exactly at T (a deliberate fix of the reference's floored step).
//! T is always the true length, never a padded one.

use std::ops::Range;

/// lambda(n): the fraction of the motion each of n windows spans.
pub fn window_fraction(n: usize) -> f64 {
    let n = n as f64;
    (1.0 + 1.0 / (n + 2.0).ln()) / n
}

/// The n windows over `frames` frames, in sentence order. Empty when `n` or `frames` is 0.
pub fn temporal_windows(frames: usize, n: usize) -> Vec<Range<usize>> {
    if n == 0 || frames == 0 {
        return Vec::new();
    }
    if n == 1 {
        return std::iter::once(0..frames).collect();
    }
    let len = ((frames as f64 * window_fraction(n)).floor() as usize).clamp(1, frames);
    (0..n)
        .map(|i| {
            let start = (i as f64 * (frames - len) as f64 / (n - 1) as f64).round() as usize;
            start..start + len
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_matches_the_formula() {
        assert!((window_fraction(1) - (1.0 + 1.0 / 3f64.ln())).abs() < 1e-15);
        assert!((window_fraction(4) - (1.0 + 1.0 / 6f64.ln()) / 4.0).abs() < 1e-15);
    }

    #[test]
    fn windows_cover_the_motion_in_order_and_end_at_t() {
        assert_eq!(
            temporal_windows(120, 1),
            std::iter::once(0..120).collect::<Vec<_>>()
        );
        for frames in [1usize, 2, 7, 40, 119, 196] {
            for n in 2..=20 {
                let w = temporal_windows(frames, n);
                assert_eq!(w.len(), n);
                assert_eq!(w[0].start, 0);
                assert_eq!(w[n - 1].end, frames, "T {frames}, n {n}");
                let len = w[0].len();
                assert!(len >= 1 && w.iter().all(|r| r.len() == len && r.end <= frames));
                assert!(w.windows(2).all(|p| p[0].start <= p[1].start));
                // At real motion lengths no frame is left out: consecutive windows touch or overlap.
                // (With many sentences or few frames, floor(T lambda) can leave one-frame gaps: T 40, n 18.)
                if frames >= 40 && n <= 6 {
                    assert!(
                        w.windows(2).all(|p| p[1].start <= p[0].end),
                        "T {frames}, n {n}: {w:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn three_sentences_over_100_frames() {
        // lambda(3) = (1 + 1/ln 5)/3 = 0.5404 -> lT = 54; starts round(i * 46 / 2) = 0, 23, 46.
        assert_eq!(temporal_windows(100, 3), vec![0..54, 23..77, 46..100]);
        assert!(temporal_windows(0, 3).is_empty() && temporal_windows(10, 0).is_empty());
    }
}

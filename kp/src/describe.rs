//! Sign KP as a readable timeline of phrase events ("0.40-1.20 s: the left wrist moves upwards").
//!
//! Runs of one sign are merged across short gaps; movement phrases (PP, PDP, LAP, GVP) must last long
//! enough and add up to a visible amount (static noise is hidden); state phrases (PRPP/LOP) are
//! reported only where they change inside the clip.

use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::phrases::{phrase_table, PhraseType, NUM_PHRASES};

/// Thresholds of the timeline; defaults suit 20 fps motion.
#[derive(Debug, Clone)]
pub struct ExplainConfig {
    pub fps: f64,
    /// Runs separated by at most this many frames of another value are merged.
    pub max_gap: usize,
    /// Shortest run reported, in frames.
    pub min_frames: usize,
    /// Least accumulated |raw| of a movement run: metres for PP, PDP, GVP; radians for LAP.
    pub min_travel_m: f64,
    pub min_travel_rad: f64,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        Self {
            fps: 20.0,
            max_gap: 2,
            min_frames: 4,
            min_travel_m: 0.05,
            min_travel_rad: 0.15,
        }
    }
}

/// One line of the timeline: frames `start..end` (end exclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub start: usize,
    pub end: usize,
    pub phrase: usize,
    pub sign: i8,
    pub text: String,
}

impl Event {
    /// "0.40-1.20 s: the left wrist moves upwards".
    pub fn line(&self, fps: f64) -> String {
        format!(
            "{:.2}-{:.2} s: {}",
            self.start as f64 / fps,
            self.end as f64 / fps,
            self.text
        )
    }
}

/// Runs `(start, end)` of `sign` in `values`, merged across gaps of at most `max_gap` frames.
pub fn runs(values: &[i8], sign: i8, max_gap: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut t = 0;
    while t < values.len() {
        if values[t] != sign {
            t += 1;
            continue;
        }
        let start = t;
        while t < values.len() && values[t] == sign {
            t += 1;
        }
        match out.last_mut() {
            Some(last) if start - last.1 <= max_gap => last.1 = t,
            _ => out.push((start, t)),
        }
    }
    out
}

/// The timeline of `raw [T, 392]` values (after the time rules), sorted by start time.
pub fn timeline(raw: &Tensor, cfg: &ExplainConfig) -> Result<Vec<Event>> {
    let size = raw.size();
    if size.len() != 2 || size[1] != NUM_PHRASES as i64 {
        return Err(Error::Shape {
            expected: "raw KP [T, 392]".into(),
            got: size,
        });
    }
    let t = size[0] as usize;
    let raw = raw.to_kind(Kind::Double).contiguous();
    let values: Vec<f64> = Vec::try_from(raw.flatten(0, -1)).expect("a double tensor converts");
    let sign = Vec::<f64>::try_from(crate::extract::sign(&raw).flatten(0, -1))
        .expect("a double tensor converts");
    let mut events = Vec::new();
    for phrase in phrase_table() {
        let i = phrase.index;
        let col: Vec<i8> = (0..t).map(|f| sign[f * NUM_PHRASES + i] as i8).collect();
        for s in [1i8, -1] {
            for (start, end) in runs(&col, s, cfg.max_gap) {
                let keep = if phrase.kind_of.is_dynamic() {
                    let travel: f64 = (start..end)
                        .map(|f| values[f * NUM_PHRASES + i].abs())
                        .sum();
                    let min = if phrase.kind_of == PhraseType::Lap {
                        cfg.min_travel_rad
                    } else {
                        cfg.min_travel_m
                    };
                    end - start >= cfg.min_frames && travel >= min
                } else {
                    // A state is news only where it begins or ends inside the clip.
                    end - start >= cfg.min_frames && !(start == 0 && end == t)
                };
                if keep {
                    let text = if s > 0 {
                        phrase.positive.clone()
                    } else {
                        phrase.negative.clone()
                    };
                    events.push(Event {
                        start,
                        end,
                        phrase: i,
                        sign: s,
                        text,
                    });
                }
            }
        }
    }
    events.sort_by_key(|e| (e.start, e.phrase));
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_short_gaps() {
        let v = [0, 1, 1, 0, 1, 1, 0, 0, 0, 1, -1, -1];
        assert_eq!(runs(&v, 1, 1), vec![(1, 6), (9, 10)]);
        assert_eq!(runs(&v, 1, 0), vec![(1, 3), (4, 6), (9, 10)]);
        assert_eq!(runs(&v, -1, 2), vec![(10, 12)]);
        assert!(runs(&[], 1, 2).is_empty());
    }

    #[test]
    fn a_rising_wrist_reads_as_one_event_and_noise_is_hidden() {
        let raw = Tensor::zeros([40, NUM_PHRASES as i64], (Kind::Double, tch::Device::Cpu));
        let _ = raw.narrow(0, 10, 20).narrow(1, 2, 1).fill_(0.02); // LW:u, 2 cm a frame, 1 s
        let _ = raw.narrow(0, 0, 40).narrow(1, 0, 1).fill_(0.0011); // LW:r creeping 1.1 mm a frame (4.4 cm in all): noise
        let _ = raw.narrow(0, 0, 20).narrow(1, 115, 1).fill_(0.3); // LW-RW:r flips half way: a state change
        let _ = raw.narrow(0, 20, 20).narrow(1, 115, 1).fill_(-0.3);
        let _ = raw.narrow(1, 116, 1).fill_(0.4); // holds the whole clip: not news
        let events = timeline(&raw, &ExplainConfig::default()).unwrap();
        let lines: Vec<String> = events.iter().map(|e| e.line(20.0)).collect();
        assert_eq!(
            lines,
            vec![
                "0.00-1.00 s: the left wrist is to the right of the right wrist",
                "0.50-1.50 s: the left wrist moves upwards",
                "1.00-2.00 s: the left wrist is to the left of the right wrist",
            ]
        );
    }
}

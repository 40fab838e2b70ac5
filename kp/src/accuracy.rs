//! KP accuracy: a benchmark of prompts built from phrase templates, each with the phrases expected
//! and when, and a scorer that checks a motion's sign KP against them. It measures text faithfulness
//! without a learned evaluator.
//!
//! The prompt set is generated ([`prompt_set`]) and written by `keta kp prompts`; the copy in the
//! repo (`kp/prompts/kp-prompts-v1.json`) is checked against the generator by a test.

use serde::{Deserialize, Serialize};

use crate::describe::runs;
use crate::error::{Error, Result};
use crate::phrases::{phrase_table, Axis, PhraseKind, NUM_PHRASES};

/// Version of the prompt set's content; bump it whenever [`prompt_set`] changes.
pub const PROMPT_SET_VERSION: u32 = 1;

/// What a prompt expects of one phrase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub phrase: usize,
    /// +1 or -1.
    pub sign: i8,
    /// Part of the motion, as fractions of its length.
    pub window: [f64; 2],
    /// Separate runs of the sign needed in the window (movements), e.g. 2 for "twice".
    pub count: usize,
    /// A state ("is in front of") must hold on most of the window; a movement must happen in it.
    pub state: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    pub id: String,
    pub text: String,
    pub seconds: f64,
    pub expect: Vec<Expectation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSet {
    pub version: u32,
    pub fps: f64,
    /// Timing tolerance at each window edge, seconds.
    pub tolerance_s: f64,
    /// Shortest run that counts as a movement, frames.
    pub min_run_frames: usize,
    /// Fraction of a window a state must hold on.
    pub state_fraction: f64,
    pub prompts: Vec<Prompt>,
}

fn find(kind: PhraseKind) -> usize {
    phrase_table()
        .iter()
        .position(|p| p.kind == kind)
        .unwrap_or_else(|| panic!("{kind:?} is in the table"))
}

/// Movement phrases the prompts use: wrists, elbows, knees and feet along each axis, the limb angles,
/// and the body's velocity.
fn movement_phrases() -> Vec<usize> {
    let mut out = Vec::new();
    for joint in [20, 21, 10, 11] {
        for axis in [Axis::Up, Axis::Forward, Axis::Right] {
            out.push(find(PhraseKind::Position { joint, axis }));
        }
    }
    for joint in [4, 5] {
        out.push(find(PhraseKind::Position {
            joint,
            axis: Axis::Up,
        }));
    }
    out.extend(381..389); // LAP
    out.extend(389..392); // GVP
    out
}

/// State phrases the prompts use: hands above the head, hands and feet in front of each other.
fn state_phrases() -> Vec<(usize, i8)> {
    let rel = |a, b, axis| {
        find(PhraseKind::Relative {
            a,
            b,
            axis,
            limb: false,
        })
    };
    vec![
        (rel(20, 15, Axis::Up), 1),       // the left wrist is above the head
        (rel(21, 15, Axis::Up), 1),       // the right wrist is above the head
        (rel(10, 11, Axis::Forward), 1),  // the left foot is in front of the right foot
        (rel(10, 11, Axis::Forward), -1), // ... behind (the right foot is in front)
        (rel(20, 0, Axis::Forward), 1),   // the left wrist is in front of the pelvis
        (rel(21, 0, Axis::Forward), 1),
        (rel(20, 21, Axis::Up), 1), // the left wrist is above the right wrist
        (rel(20, 21, Axis::Up), -1),
    ]
}

fn text(phrase: usize, sign: i8) -> &'static str {
    let p = &phrase_table()[phrase];
    if sign > 0 {
        &p.positive
    } else {
        &p.negative
    }
}

/// The tail of a sentence after its subject ("moves upwards" of "the left wrist moves upwards").
fn predicate(sentence: &str) -> &str {
    sentence
        .split_once(" moves ")
        .map(|(_, rest)| rest)
        .unwrap_or(sentence)
}

fn movement(phrase: usize, sign: i8, window: [f64; 2], count: usize) -> Expectation {
    Expectation {
        phrase,
        sign,
        window,
        count,
        state: false,
    }
}

/// The benchmark prompts, generated from templates: single movements, "X, then <opposite>",
/// "X twice", states, and "X. At the same time, Y".
pub fn prompt_set() -> PromptSet {
    let mut prompts = Vec::new();
    let mut add = |kind: &str, text: String, seconds: f64, expect: Vec<Expectation>| {
        let id = format!("{kind}-{:03}", prompts.len());
        prompts.push(Prompt {
            id,
            text,
            seconds,
            expect,
        });
    };
    let moves = movement_phrases();
    for &p in &moves {
        for s in [1i8, -1] {
            add(
                "single",
                format!("{}.", text(p, s)),
                4.0,
                vec![movement(p, s, [0.0, 1.0], 1)],
            );
        }
    }
    for &p in &moves {
        let then = predicate(text(p, -1));
        add(
            "then",
            format!("{}, then {then}.", text(p, 1)),
            6.0,
            vec![
                movement(p, 1, [0.0, 0.5], 1),
                movement(p, -1, [0.5, 1.0], 1),
            ],
        );
        add(
            "twice",
            format!("{} twice.", text(p, 1)),
            6.0,
            vec![movement(p, 1, [0.0, 1.0], 2)],
        );
    }
    for (p, s) in state_phrases() {
        add(
            "state",
            format!("{}.", text(p, s)),
            4.0,
            vec![Expectation {
                phrase: p,
                sign: s,
                window: [0.0, 1.0],
                count: 1,
                state: true,
            }],
        );
    }
    // Pairs from different body parts: a wrist movement together with a body or leg movement.
    let firsts = [moves[0], moves[3], moves[1]];
    let seconds = [389 + 2, 389 + 1, moves[6], moves[12]];
    for &a in &firsts {
        for &b in &seconds {
            let t = format!("{}. At the same time, {}.", text(a, 1), text(b, 1));
            add(
                "same-time",
                t,
                4.0,
                vec![movement(a, 1, [0.0, 1.0], 1), movement(b, 1, [0.0, 1.0], 1)],
            );
        }
    }
    PromptSet {
        version: PROMPT_SET_VERSION,
        fps: 20.0,
        tolerance_s: 0.5,
        min_run_frames: 3,
        state_fraction: 0.5,
        prompts,
    }
}

/// Result of one prompt on one motion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptScore {
    pub id: String,
    /// One flag per expectation.
    pub met: Vec<bool>,
}

impl PromptScore {
    pub fn passed(&self) -> bool {
        self.met.iter().all(|&m| m)
    }
}

/// Checks `sign` (row-major `[T, 392]` of -1/0/+1) against a prompt's expectations.
pub fn score_prompt(set: &PromptSet, prompt: &Prompt, sign: &[i8]) -> Result<PromptScore> {
    if sign.is_empty() || sign.len() % NUM_PHRASES != 0 {
        return Err(Error::Invalid(format!(
            "sign KP of {} values is not T x {NUM_PHRASES}",
            sign.len()
        )));
    }
    let t = sign.len() / NUM_PHRASES;
    let tol = (set.tolerance_s * set.fps).round() as i64;
    let met = prompt
        .expect
        .iter()
        .map(|e| {
            let column: Vec<i8> = (0..t).map(|f| sign[f * NUM_PHRASES + e.phrase]).collect();
            let (w0, w1) = (
                (e.window[0] * t as f64).floor() as i64,
                (e.window[1] * t as f64).ceil() as i64,
            );
            if e.state {
                // Most frames of the window (shrunk by the tolerance where it can be) hold the state.
                let (a, b) = if w1 - w0 > 2 * tol {
                    (w0 + tol, w1 - tol)
                } else {
                    (w0, w1)
                };
                let (a, b) = (a.clamp(0, t as i64) as usize, b.clamp(0, t as i64) as usize);
                let held = column[a..b].iter().filter(|&&v| v == e.sign).count();
                b > a && held as f64 >= set.state_fraction * (b - a) as f64
            } else {
                // Enough separate runs of the sign inside the window (widened by the tolerance).
                let (a, b) = ((w0 - tol).max(0) as usize, ((w1 + tol) as usize).min(t));
                let found = runs(&column[a..b], e.sign, 2)
                    .iter()
                    .filter(|(s, e2)| e2 - s >= set.min_run_frames)
                    .count();
                found >= e.count
            }
        })
        .collect();
    Ok(PromptScore {
        id: prompt.id.clone(),
        met,
    })
}

/// Reads a prompt set written by `keta kp prompts`.
pub fn read_prompt_set(path: &std::path::Path) -> Result<PromptSet> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::File {
        path: path.display().to_string(),
        msg: format!("not a prompt set: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_with(t: usize, phrase: usize, frames: &[(usize, usize, i8)]) -> Vec<i8> {
        let mut s = vec![0i8; t * NUM_PHRASES];
        for &(a, b, v) in frames {
            for f in a..b {
                s[f * NUM_PHRASES + phrase] = v;
            }
        }
        s
    }

    fn prompt(set: &PromptSet, text: &str) -> Prompt {
        set.prompts
            .iter()
            .find(|p| p.text == text)
            .unwrap_or_else(|| panic!("no prompt {text:?}"))
            .clone()
    }

    #[test]
    fn the_set_covers_every_template_with_readable_texts() {
        let set = prompt_set();
        for kind in ["single", "then", "twice", "state", "same-time"] {
            assert!(set.prompts.iter().any(|p| p.id.starts_with(kind)), "{kind}");
        }
        let p = prompt(&set, "the left wrist moves upwards, then downwards.");
        assert_eq!(p.expect.len(), 2);
        assert!(set
            .prompts
            .iter()
            .any(|p| p.text == "the left foot is behind the right foot."));
        assert!(set.prompts.iter().any(|p| p.text.starts_with(
            "the left wrist moves upwards. At the same time, the body moves forward"
        )));
        let ids: std::collections::HashSet<_> = set.prompts.iter().map(|p| &p.id).collect();
        assert_eq!(ids.len(), set.prompts.len(), "unique ids");
    }

    #[test]
    fn the_committed_prompt_file_is_what_the_generator_writes() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/kp-prompts-v1.json");
        let committed = read_prompt_set(&path).unwrap();
        assert_eq!(committed, prompt_set(), "regenerate with `keta kp prompts --out kp/prompts/kp-prompts-v1.json` and bump the version");
    }

    #[test]
    fn scores_timing_counts_and_states() {
        let set = prompt_set();
        let up_then_down = prompt(&set, "the left wrist moves upwards, then downwards.");
        let lw_up = 2;
        // Up over 0.5-1.5 s, down over 2.5-3.5 s of a 4 s (80-frame) motion: both halves met.
        let good = sign_with(80, lw_up, &[(10, 30, 1), (50, 70, -1)]);
        assert!(score_prompt(&set, &up_then_down, &good).unwrap().passed());
        // The other order fails both expectations.
        let reversed = sign_with(80, lw_up, &[(10, 30, -1), (50, 70, 1)]);
        assert_eq!(
            score_prompt(&set, &up_then_down, &reversed).unwrap().met,
            vec![false, false]
        );
        // Up a little late (ends 0.3 s into the second half) still counts, within the 0.5 s tolerance.
        let late = sign_with(80, lw_up, &[(38, 46, 1), (50, 70, -1)]);
        assert!(score_prompt(&set, &up_then_down, &late).unwrap().passed());

        let twice = prompt(&set, "the left wrist moves upwards twice.");
        assert!(score_prompt(
            &set,
            &twice,
            &sign_with(120, lw_up, &[(10, 20, 1), (60, 70, 1)])
        )
        .unwrap()
        .passed());
        assert!(
            !score_prompt(&set, &twice, &sign_with(120, lw_up, &[(10, 20, 1)]))
                .unwrap()
                .passed()
        );
        // Two runs split by a one-frame flicker are one movement, and too-short blips do not count.
        assert!(!score_prompt(
            &set,
            &twice,
            &sign_with(120, lw_up, &[(10, 20, 1), (21, 30, 1)])
        )
        .unwrap()
        .passed());
        assert!(!score_prompt(
            &set,
            &twice,
            &sign_with(120, lw_up, &[(10, 12, 1), (60, 62, 1)])
        )
        .unwrap()
        .passed());

        let above = prompt(&set, "the left wrist is above the head.");
        let phrase = above.expect[0].phrase;
        assert!(
            score_prompt(&set, &above, &sign_with(80, phrase, &[(5, 60, 1)]))
                .unwrap()
                .passed()
        );
        assert!(
            !score_prompt(&set, &above, &sign_with(80, phrase, &[(5, 30, 1)]))
                .unwrap()
                .passed()
        );
        assert!(score_prompt(&set, &above, &[0i8; 5]).is_err());
    }
}

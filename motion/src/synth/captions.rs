//! Captions that are always true of a synthesised clip, in several wordings, each with its
//! ground-truth segmentation (sub-sentence and frame range per action, overlapping for "while").

use rand::seq::IndexedRandom;
use rand::Rng;

/// One action of a clip as the captions see it.
#[derive(Debug, Clone)]
pub struct Described {
    pub third: String,
    pub gerund: String,
    /// Frame range `[start, end)` of the action.
    pub frames: (usize, usize),
    /// An arm action done during this one ("while"), with its own frames.
    pub during: Option<(String, String, (usize, usize))>,
}

/// A caption and its segments `(sub-sentence, start frame, end frame)` in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Caption {
    pub text: String,
    pub segments: Vec<(String, usize, usize)>,
}

const SUBJECTS: [&str; 10] = [
    "a person",
    "someone",
    "a man",
    "the woman",
    "a woman",
    "the man",
    "the person",
    "a figure",
    "the dancer",
    "an actor",
];

/// The same subject at its second mention ("a man ... then the man ...").
fn definite(subject: &str) -> String {
    match subject {
        "someone" => "the person".into(),
        s => s.replacen("a ", "the ", 1).replacen("an ", "the ", 1),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Sub-sentences of one action: itself, and its "while" arm action as a second, overlapping one.
fn segments_of(subject: &str, a: &Described) -> Vec<(String, usize, usize)> {
    let mut out = vec![(format!("{subject} {}", a.third), a.frames.0, a.frames.1)];
    if let Some((third, _, (s, e))) = &a.during {
        out.push((format!("{subject} {third}"), *s, *e));
    }
    out
}

/// A verb phrase with its "while" part.
fn with_while(a: &Described) -> String {
    match &a.during {
        Some((_, gerund, _)) => format!("{} while {gerund}", a.third),
        None => a.third.clone(),
    }
}

/// `count` different captions of `actions` (in time order).
pub fn captions(actions: &[Described], count: usize, rng: &mut impl Rng) -> Vec<Caption> {
    let mut out: Vec<Caption> = Vec::new();
    let mut attempts = 0;
    while out.len() < count && attempts < 50 {
        attempts += 1;
        let subject = *SUBJECTS.choose(rng).expect("subjects");
        let the = definite(subject);
        let mut segments: Vec<(String, usize, usize)> = actions
            .iter()
            .flat_map(|a| segments_of(subject, a))
            .collect();
        segments.sort_by_key(|s| (s.1, s.2));
        let phrases: Vec<String> = actions.iter().map(with_while).collect();
        let text = match (actions.len(), rng.random_range(0..4)) {
            (1, _) => format!("{subject} {}.", phrases[0]),
            (2, 0) if actions[1].during.is_none() => {
                // "Before jumping, a man walks forward." (reordered in the text, not in time).
                format!(
                    "{} {}, {subject} {}.",
                    "before", actions[1].gerund, phrases[0]
                )
            }
            (_, 1) => {
                let mut s = format!("{subject} {}.", phrases[0]);
                for p in &phrases[1..] {
                    s += &format!(" after that, {the} {p}.");
                }
                s
            }
            (_, 2) => {
                let (last, rest) = phrases.split_last().expect("at least one action");
                format!("{subject} {} and then {last}.", rest.join(", then "))
            }
            _ => format!("{subject} {}.", phrases.join(", then ")),
        };
        let text = capitalise(&text.replace(". after that", ". After that"));
        if out.iter().all(|c| c.text != text) {
            out.push(Caption { text, segments });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn act(third: &str, gerund: &str, frames: (usize, usize)) -> Described {
        Described {
            third: third.into(),
            gerund: gerund.into(),
            frames,
            during: None,
        }
    }

    #[test]
    fn captions_keep_time_order_in_their_segments() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut walk = act("walks forward", "walking forward", (0, 60));
        walk.during = Some((
            "waves with the left hand twice".into(),
            "waving with the left hand".into(),
            (10, 45),
        ));
        let acts = [walk, act("jumps up", "jumping up", (60, 90))];
        let caps = captions(&acts, 3, &mut rng);
        assert_eq!(caps.len(), 3);
        for c in &caps {
            assert!(
                c.text
                    .contains("walks forward while waving with the left hand"),
                "{}",
                c.text
            );
            assert_eq!(c.segments.len(), 3);
            assert_eq!(
                (c.segments[0].1, c.segments[1].1, c.segments[2].1),
                (0, 10, 60)
            );
            assert!(c.segments[1].0.ends_with("waves with the left hand twice"));
            assert!(c.text.chars().next().unwrap().is_uppercase());
        }
        let single = captions(&[act("jumps up", "jumping up", (0, 40))], 3, &mut rng);
        assert!(single
            .iter()
            .all(|c| c.text.ends_with("jumps up.") && c.segments.len() == 1));
    }

    #[test]
    fn before_reorders_the_words_not_the_segments() {
        let acts = [
            act("walks forward", "walking forward", (0, 50)),
            act("jumps up", "jumping up", (50, 80)),
        ];
        let found = (0..40).find_map(|seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            captions(&acts, 3, &mut rng)
                .into_iter()
                .find(|c| c.text.starts_with("Before"))
        });
        let c = found.expect("some seed writes a 'before' caption");
        assert!(c.text.starts_with("Before jumping up, "), "{}", c.text);
        assert!(
            c.segments[0].0.ends_with("walks forward") && c.segments[1].0.ends_with("jumps up")
        );
    }
}

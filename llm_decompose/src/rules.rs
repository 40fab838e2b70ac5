//! The default, offline decomposer: splits a caption on sequence words and punctuation, keeps the
//! subject, reorders "before", expands "twice"/"three times", keeps "while" together, and adds an
//! initial or final state sentence only where the caption states one.
//!
//! Deterministic and dependency-free; verbs are recognised from a lexicon of motion verbs (unknown
//! verbs still split on punctuation and sequence words, but cannot be inflected).

use crate::decomposer::{validate_sentences, Decomposer, Error};

/// Motion verbs (base form) the rules can inflect between "-ing" and third person.
const VERBS: &[&str] = &[
    "walk",
    "run",
    "jog",
    "jump",
    "hop",
    "skip",
    "march",
    "turn",
    "spin",
    "step",
    "side-step",
    "wave",
    "raise",
    "lift",
    "lower",
    "clap",
    "punch",
    "kick",
    "squat",
    "crouch",
    "bow",
    "sit",
    "stand",
    "stretch",
    "look",
    "throw",
    "catch",
    "dance",
    "move",
    "bend",
    "lean",
    "circle",
    "swing",
    "climb",
    "crawl",
    "fall",
    "get",
    "lie",
    "roll",
    "shake",
    "hold",
    "reach",
    "pick",
    "put",
    "push",
    "pull",
    "carry",
    "do",
    "make",
    "go",
    "come",
    "start",
    "stop",
    "begin",
    "finish",
    "rotate",
    "shuffle",
    "stomp",
    "stumble",
    "slide",
    "pace",
    "wander",
    "kneel",
    "rise",
    "drop",
    "bounce",
    "twist",
    "flap",
    "point",
    "touch",
    "grab",
    "sway",
    "rock",
    "limp",
    "tiptoe",
    "stride",
    "sprint",
    "lunge",
    "play",
    "perform",
    "balance",
    "return",
    "continue",
];

const SUBJECT_WORDS: &[&str] = &[
    "person",
    "man",
    "woman",
    "someone",
    "somebody",
    "figure",
    "dancer",
    "actor",
    "child",
    "boy",
    "girl",
    "people",
    "he",
    "she",
    "they",
    "human",
    "character",
    "player",
    "individual",
];

fn third_person(base: &str) -> String {
    match base {
        "do" => "does".into(),
        "go" => "goes".into(),
        b if b.ends_with("sh") || b.ends_with("ch") || b.ends_with("ss") || b.ends_with('x') => {
            format!("{b}es")
        }
        b if b.ends_with('y') && !b.ends_with("ay") && !b.ends_with("ey") && !b.ends_with("oy") => {
            format!("{}ies", &b[..b.len() - 1])
        }
        b => format!("{b}s"),
    }
}

fn gerund(base: &str) -> String {
    match base {
        "lie" => "lying".into(),
        "run" | "sit" | "get" | "put" | "hop" | "skip" | "step" | "side-step" | "jog" | "spin"
        | "drop" | "stop" | "swing"
            if !base.ends_with("ing") =>
        {
            let last = base.chars().last().expect("non-empty");
            if base == "swing" {
                "swinging".into()
            } else {
                format!("{base}{last}ing")
            }
        }
        b if b.ends_with("ie") => format!("{}ying", &b[..b.len() - 2]),
        b if b.ends_with('e') && !b.ends_with("ee") => format!("{}ing", &b[..b.len() - 1]),
        b => format!("{b}ing"),
    }
}

/// Base form of a verb token in third person ("walks") or "-ing" form ("walking").
fn verb_base(word: &str) -> Option<(&'static str, bool)> {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '-');
    VERBS.iter().find_map(|&v| {
        if w == third_person(v) {
            Some((v, false))
        } else if w == gerund(v) || w == doubled_gerund(v) {
            Some((v, true))
        } else {
            None
        }
    })
}

/// "clap" -> "clapping": a final consonant after a single vowel doubles (tolerated for any such
/// verb, since spelling varies: "clapping", "squatting").
fn doubled_gerund(base: &str) -> String {
    let b = base.as_bytes();
    let vowel = |c: u8| b"aeiou".contains(&c);
    match b {
        [.., v, c] if vowel(*v) && !vowel(*c) && !b"wxy".contains(c) => {
            format!("{base}{}ing", *c as char)
        }
        _ => String::new(),
    }
}

/// Splits `clause` into (subject, predicate) when it starts with a subject ("a man walks ...").
fn split_subject(clause: &str) -> (Option<String>, String) {
    let words: Vec<&str> = clause.split_whitespace().collect();
    for (i, w) in words.iter().enumerate().take(5) {
        if verb_base(w).is_some_and(|(_, ing)| !ing) && i > 0 {
            let subj = words[..i].join(" ");
            let looks_like_subject = words[..i].iter().any(|s| SUBJECT_WORDS.contains(s));
            if looks_like_subject {
                return (Some(subj), words[i..].join(" "));
            }
        }
    }
    (None, clause.to_string())
}

/// "walking forward slowly" -> "walks forward slowly".
fn finite(predicate: &str) -> String {
    let mut words: Vec<String> = predicate.split_whitespace().map(str::to_string).collect();
    if let Some((base, true)) = words.first().and_then(|w| verb_base(w)) {
        words[0] = third_person(base);
    }
    words.join(" ")
}

/// Number of repetitions a predicate asks for, and the predicate without the count words.
fn repetitions(predicate: &str) -> (usize, String) {
    for (phrase, n) in [
        (" twice", 2),
        (" three times", 3),
        (" four times", 4),
        (" five times", 5),
        (" two times", 2),
        (" once", 1),
    ] {
        if let Some(pos) = predicate.find(phrase) {
            let end = pos + phrase.len();
            if end == predicate.len() || predicate[end..].starts_with(' ') {
                let rest = format!("{}{}", &predicate[..pos], &predicate[end..]);
                return (n, rest.trim().to_string());
            }
        }
    }
    (1, predicate.to_string())
}

/// The rules, as a [`Decomposer`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Rules;

impl Decomposer for Rules {
    fn backend(&self) -> &str {
        "rules"
    }

    fn decompose(&self, caption: &str) -> Result<Vec<String>, Error> {
        validate_sentences(decompose(caption))
    }
}

/// Splits on sequence words, keeping their order meaning: returns (clauses in time order).
fn clauses_in_order(sentence: &str) -> Vec<String> {
    let s = format!(" {sentence} ");
    // "before X-ing, Y" and "after X-ing, Y" at the start; "Y before X-ing" / "Y after X-ing" inside.
    for (word, x_first) in [("before", false), ("after", true)] {
        let lead = format!(" {word} ");
        if let Some(rest) = s.strip_prefix(&lead) {
            if let Some((x, y)) = rest.split_once(',') {
                let (x, y) = (finite(x.trim()), y.trim().to_string());
                let mut out = clauses_in_order(&y);
                if x_first {
                    out.insert(0, x);
                } else {
                    out.push(x);
                }
                return out;
            }
        }
        if word == "before" || word == "after" {
            let mid = format!(" {word} ");
            if let Some(pos) = s.find(&mid) {
                let (y, x) = (s[..pos].trim(), s[pos + mid.len()..].trim());
                if x.split_whitespace()
                    .next()
                    .and_then(verb_base)
                    .is_some_and(|(_, ing)| ing)
                {
                    let (x, y) = (finite(x), y.to_string());
                    return if x_first { vec![x, y] } else { vec![y, x] };
                }
            }
        }
    }
    let mut parts = vec![s.trim().to_string()];
    for sep in [
        ", and then ",
        " and then ",
        ", then ",
        " then ",
        ", after that, ",
        ", after that ",
        " after that, ",
        ", afterwards, ",
        " afterwards ",
    ] {
        parts = parts
            .iter()
            .flat_map(|p| p.split(sep).map(|x| x.trim().to_string()))
            .filter(|x| !x.is_empty())
            .collect();
    }
    // Commas (and ", and") between verb phrases: split only where a verb starts the next part.
    let mut out: Vec<String> = Vec::new();
    for part in parts {
        let pieces: Vec<String> = part
            .split(", ")
            .map(|x| x.trim_start_matches("and ").trim().to_string())
            .collect();
        let mut current = String::new();
        for piece in pieces {
            let starts_with_verb = piece
                .split_whitespace()
                .next()
                .and_then(verb_base)
                .is_some_and(|(_, ing)| !ing);
            if current.is_empty() {
                current = piece;
            } else if starts_with_verb {
                out.push(std::mem::take(&mut current));
                current = piece;
            } else {
                current = format!("{current}, {piece}");
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    // "X and Y" where both are verb phrases (not "while").
    out.into_iter()
        .flat_map(|c| {
            if c.contains(" while ") {
                return vec![c];
            }
            match c.split_once(" and ") {
                Some((a, b))
                    if b.split_whitespace()
                        .next()
                        .and_then(verb_base)
                        .is_some_and(|(_, ing)| !ing) =>
                {
                    vec![a.to_string(), b.to_string()]
                }
                _ => vec![c],
            }
        })
        .collect()
}

/// The decomposition: 1 or more short sentences in time order (before validation).
pub fn decompose(caption: &str) -> Vec<String> {
    let text = caption
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let text = text.trim().trim_end_matches(['.', '!']).trim().to_string();
    if text.is_empty() {
        return vec![caption.trim().to_string()];
    }
    let clauses: Vec<String> = text
        .split(['.', ';', '!'])
        .map(|s| {
            s.trim()
                .trim_start_matches("after that,")
                .trim_start_matches("afterwards,")
                .trim_start_matches("then,")
                .trim()
        })
        .filter(|s| !s.is_empty())
        .flat_map(clauses_in_order)
        .collect();
    // The subject of the caption, wherever it first appears ("After waving, a person sits down").
    let mut subject: Option<String> = clauses.iter().find_map(|c| split_subject(c).0);
    let mut out = Vec::new();
    {
        for clause in clauses {
            let (subj, predicate) = split_subject(&clause);
            match (&subject, subj) {
                (None, Some(s)) => subject = Some(s),
                (Some(_), Some(s))
                    if !matches!(s.as_str(), "he" | "she" | "they" | "it")
                        && !s.starts_with("the ") =>
                {
                    subject = Some(s)
                }
                _ => {}
            }
            // Gerunds become finite verbs only where there is a subject to carry them.
            let predicate = if subject.is_some() {
                finite(&predicate)
            } else {
                predicate
            };
            let (times, predicate) = repetitions(&predicate);
            let sentence = match &subject {
                Some(s)
                    if verb_base(predicate.split_whitespace().next().unwrap_or("")).is_some() =>
                {
                    format!("{s} {predicate}")
                }
                _ => predicate,
            };
            for _ in 0..times {
                out.push(sentence.clone());
            }
        }
    }
    add_states(&text, subject.as_deref(), &mut out);
    if out.is_empty() {
        out.push(text);
    }
    out.truncate(20);
    out
}

/// Initial and final states the caption states outright ("starting from a crouch", "ends sitting").
fn add_states(text: &str, subject: Option<&str>, out: &mut Vec<String>) {
    let who = subject.unwrap_or("the person");
    for (pattern, state, initial) in [
        ("from a sitting position", "is sitting", true),
        ("from a seated position", "is sitting", true),
        ("from a crouch", "is crouching", true),
        ("from a lying position", "is lying down", true),
        ("starting from standing", "is standing", true),
        ("ends sitting", "is sitting", false),
        ("ends up sitting", "is sitting", false),
        ("ends standing", "is standing", false),
        ("comes to a stop", "stands still", false),
        ("ends lying", "is lying down", false),
    ] {
        if text.contains(pattern) {
            let s = format!("{who} {state}");
            if initial {
                out.insert(0, s);
            } else {
                out.push(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(caption: &str) -> Vec<String> {
        decompose(caption)
    }

    #[test]
    fn splits_on_sequence_words_and_keeps_the_subject() {
        assert_eq!(
            d("A man walks, then jumps."),
            ["a man walks", "a man jumps"]
        );
        assert_eq!(
            d("a person walks forward and then turns left"),
            ["a person walks forward", "a person turns left"]
        );
        assert_eq!(
            d("The woman waves. After that, the woman sits down."),
            ["the woman waves", "the woman sits down"]
        );
        assert_eq!(
            d("someone jogs forward, then walks backwards, and then stops"),
            [
                "someone jogs forward",
                "someone walks backwards",
                "someone stops"
            ]
        );
        assert_eq!(
            d("a man kicks, punches, and bows"),
            ["a man kicks", "a man punches", "a man bows"]
        );
    }

    #[test]
    fn before_and_after_reorder_into_time_order() {
        assert_eq!(
            d("Before jumping up, a man walks forward."),
            ["a man walks forward", "a man jumps up"]
        );
        assert_eq!(
            d("After waving, a person sits down"),
            ["a person waves", "a person sits down"]
        );
        assert_eq!(
            d("a person squats before jumping"),
            ["a person squats", "a person jumps"]
        );
    }

    #[test]
    fn while_stays_together_and_counts_expand() {
        assert_eq!(
            d("a man walks forward while waving with the left hand"),
            ["a man walks forward while waving with the left hand"]
        );
        assert_eq!(
            d("a person jumps twice"),
            ["a person jumps", "a person jumps"]
        );
        assert_eq!(
            d("someone claps three times, then bows"),
            [
                "someone claps",
                "someone claps",
                "someone claps",
                "someone bows"
            ]
        );
    }

    #[test]
    fn states_only_where_stated_and_never_empty() {
        assert_eq!(
            d("a person stands up from a sitting position"),
            [
                "a person is sitting",
                "a person stands up from a sitting position"
            ]
        );
        assert_eq!(
            d("a man runs and comes to a stop"),
            ["a man runs", "a man comes to a stop", "a man stands still"]
        );
        assert_eq!(d("dancing"), ["dancing"]);
        assert_eq!(d("   "), [""]);
        assert_eq!(Rules.decompose("a man walks").unwrap(), ["a man walks"]);
        assert!(
            Rules.decompose("  ").is_err(),
            "an empty caption fails validation"
        );
    }

    #[test]
    fn inflection_of_the_lexicon() {
        assert_eq!(third_person("punch"), "punches");
        assert_eq!(gerund("run"), "running");
        assert_eq!(gerund("wave"), "waving");
        assert_eq!(gerund("lie"), "lying");
        assert_eq!(verb_base("side-steps"), Some(("side-step", false)));
        assert_eq!(verb_base("sitting"), Some(("sit", true)));
        assert_eq!(verb_base("clapping"), Some(("clap", true)));
        assert_eq!(verb_base("squatting"), Some(("squat", true)));
        assert_eq!(
            decompose("Before clapping, someone looks around."),
            ["someone looks around", "someone claps"]
        );
    }
}

//! Part-of-speech tags for motion captions, and the evaluator's token sequence.
//!
//! HumanML3D tagged its captions with spaCy (`legacy/text_process.py`: hyphens removed, tokens
//! that are not purely alphabetic dropped, NOUN and VERB tokens lemmatised except `left`) and
//! stored them as `word/POS` strings; the evaluator maps each to a word vector and one of 15 POS
//! classes (`utils/word_vectorizer.py`, [`PosClass`]). spaCy is not available to a Rust build, so
//! this is a lexicon + rules tagger of our own, sized for motion captions: closed-class word lists
//! (determiners, prepositions, pronouns, auxiliaries, conjunctions, numbers), a motion-verb lexicon
//! with the context rule "after a determiner, adjective or number it is a noun", and suffix rules
//! (-ly adverbs, -ing/-ed verbs, -ful/-ous/-ive adjectives); everything else is a noun.
//! One deliberate difference from the reference files: words are lowercased (GloVe is lowercase;
//! spaCy kept "A person" capitalised, which the reference vectorizer then looked up as `unk`).

use std::collections::HashSet;
use std::sync::OnceLock;

/// Universal POS tags as spaCy writes them in HumanML3D text files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upos {
    Verb,
    Noun,
    Det,
    Adp,
    Num,
    Aux,
    Pron,
    Adj,
    Adv,
    Cconj,
    Sconj,
    Part,
}

impl Upos {
    pub fn as_str(self) -> &'static str {
        match self {
            Upos::Verb => "VERB",
            Upos::Noun => "NOUN",
            Upos::Det => "DET",
            Upos::Adp => "ADP",
            Upos::Num => "NUM",
            Upos::Aux => "AUX",
            Upos::Pron => "PRON",
            Upos::Adj => "ADJ",
            Upos::Adv => "ADV",
            Upos::Cconj => "CCONJ",
            Upos::Sconj => "SCONJ",
            Upos::Part => "PART",
        }
    }
}

/// The evaluator's 15 POS classes, in the reference's one-hot order (`POS_enumerator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosClass {
    Verb = 0,
    Noun,
    Det,
    Adp,
    Num,
    Aux,
    Pron,
    Adj,
    Adv,
    LocVip,
    BodyVip,
    ObjVip,
    ActVip,
    DescVip,
    Other,
}

/// Length of the POS one-hot.
pub const POS_CLASSES: usize = 15;

/// Words of a caption the evaluator reads, before `sos`/`eos` (the reference's `max_text_len`).
pub const MAX_TEXT_LEN: usize = 20;

// The reference's VIP word lists (`VIP_dict`); a listed word takes the list's class whatever its
// tag. The reference's Act list names 'dance' twice; once is enough here.
#[rustfmt::skip]
const LOC_VIP: &[&str] = &[
    "left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back",
    "backward", "up", "down", "straight", "curve",
];
#[rustfmt::skip]
const BODY_VIP: &[&str] = &[
    "arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee",
    "shoulder", "thigh",
];
#[rustfmt::skip]
const OBJ_VIP: &[&str] = &[
    "stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball",
    "basketball",
];
#[rustfmt::skip]
const ACT_VIP: &[&str] = &[
    "walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance",
    "jump", "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel",
    "stroll", "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin",
    "spread", "climb",
];
#[rustfmt::skip]
const DESC_VIP: &[&str] = &[
    "slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad",
    "happily", "angrily", "sadly",
];

impl PosClass {
    /// The class of a tag string as the reference's `_get_pos_ohot` reads it: the 14 named
    /// classes, anything else (CCONJ, PART, PROPN, ...) is OTHER.
    pub fn from_tag(tag: &str) -> PosClass {
        match tag {
            "VERB" => PosClass::Verb,
            "NOUN" => PosClass::Noun,
            "DET" => PosClass::Det,
            "ADP" => PosClass::Adp,
            "NUM" => PosClass::Num,
            "AUX" => PosClass::Aux,
            "PRON" => PosClass::Pron,
            "ADJ" => PosClass::Adj,
            "ADV" => PosClass::Adv,
            "Loc_VIP" => PosClass::LocVip,
            "Body_VIP" => PosClass::BodyVip,
            "Obj_VIP" => PosClass::ObjVip,
            "Act_VIP" => PosClass::ActVip,
            "Desc_VIP" => PosClass::DescVip,
            _ => PosClass::Other,
        }
    }

    /// The VIP class of a word, if one of the reference's lists names it.
    pub fn vip(word: &str) -> Option<PosClass> {
        [
            (LOC_VIP, PosClass::LocVip),
            (BODY_VIP, PosClass::BodyVip),
            (OBJ_VIP, PosClass::ObjVip),
            (ACT_VIP, PosClass::ActVip),
            (DESC_VIP, PosClass::DescVip),
        ]
        .into_iter()
        .find(|(list, _)| list.contains(&word))
        .map(|(_, class)| class)
    }
}

/// One tagged word: the lemma for nouns and verbs (as the reference files), else the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub word: String,
    pub tag: Upos,
}

/// The evaluator's input tokens: `sos/OTHER`, at most [`MAX_TEXT_LEN`] `word/POS` tokens,
/// `eos/OTHER`, padded with `unk/OTHER` to `MAX_TEXT_LEN + 2`; `len` counts sos and eos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSequence {
    pub tokens: Vec<String>,
    pub len: usize,
}

/// Tags a caption: lowercase, hyphens removed, split at anything not a letter or apostrophe,
/// clitics (`'s`, `n't`) dropped as spaCy's non-alphabetic tokens are. The reference keeps
/// `left` unlemmatised (spaCy would make it `leave`); here `left` is never tagged a verb.
pub fn tag_caption(caption: &str) -> Vec<Tagged> {
    let words: Vec<String> = caption
        .to_lowercase()
        .replace('-', "")
        .split(|c: char| !(c.is_alphabetic() || c == '\''))
        .filter_map(|w| {
            let w = w.trim_matches('\'');
            let w = w
                .strip_suffix("n't")
                .or_else(|| w.strip_suffix("'s"))
                .unwrap_or(w);
            (!w.is_empty() && w.chars().all(char::is_alphabetic)).then(|| w.to_string())
        })
        .collect();
    let mut out: Vec<Tagged> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let prev = out.last().map(|t| t.tag);
        let next = words.get(i + 1).map(String::as_str);
        let tag = tag_word(w, prev, next);
        let word = match tag {
            Upos::Verb => verb_lemma(w),
            Upos::Noun => noun_lemma(w),
            _ => w.clone(),
        };
        out.push(Tagged { word, tag });
    }
    out
}

/// The `word/POS` tokens that a HumanML3D text file stores for a caption.
pub fn humanml3d_tokens(caption: &str) -> Vec<String> {
    tag_caption(caption)
        .into_iter()
        .map(|t| format!("{}/{}", t.word, t.tag.as_str()))
        .collect()
}

/// The evaluator's fixed-length sequence from `word/POS` tokens (HumanML3D's
/// `Text2MotionDatasetV2`: longer captions are cut to their first [`MAX_TEXT_LEN`] tokens).
pub fn evaluator_tokens(tokens: &[String]) -> TokenSequence {
    let kept = &tokens[..tokens.len().min(MAX_TEXT_LEN)];
    let mut seq = Vec::with_capacity(MAX_TEXT_LEN + 2);
    seq.push("sos/OTHER".to_string());
    seq.extend(kept.iter().cloned());
    seq.push("eos/OTHER".to_string());
    let len = seq.len();
    seq.resize(MAX_TEXT_LEN + 2, "unk/OTHER".to_string());
    TokenSequence { tokens: seq, len }
}

#[rustfmt::skip]
const DETS: &[&str] = &[
    "a", "an", "the", "this", "these", "those", "each", "every", "both", "either", "neither",
    "another", "some", "any", "all", "no", "his", "their", "its", "my", "your", "our", "whose",
];
#[rustfmt::skip]
const ADPS: &[&str] = &[
    "in", "on", "at", "from", "with", "into", "onto", "over", "under", "around", "across", "along",
    "through", "toward", "towards", "behind", "between", "above", "below", "by", "of", "for",
    "about", "after", "before", "against", "like", "near", "off", "upon", "within", "without",
    "beside", "besides", "past", "throughout", "beneath", "underneath", "among", "amongst",
    "during", "per", "via", "inside", "outside", "than",
];
#[rustfmt::skip]
const PRONS: &[&str] = &[
    "he", "she", "it", "they", "them", "him", "himself", "herself", "itself", "themselves",
    "someone", "something", "somebody", "anyone", "anything", "everything", "nothing", "who",
    "what", "which", "i", "me", "we", "us", "you", "one", "oneself", "theirs", "hers",
];
#[rustfmt::skip]
const AUXS: &[&str] = &[
    "is", "are", "was", "were", "be", "been", "being", "am", "can", "could", "will", "would",
    "should", "may", "might", "must", "shall",
];
const CCONJS: &[&str] = &["and", "or", "but", "nor", "yet", "plus"];
#[rustfmt::skip]
const SCONJS: &[&str] = &[
    "while", "as", "until", "if", "because", "when", "whilst", "though", "although", "whereas",
    "till", "so",
];
#[rustfmt::skip]
const NUMS: &[&str] = &[
    "zero", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "hundred", "dozen",
];
#[rustfmt::skip]
const ADVS: &[&str] = &[
    "then", "forward", "forwards", "backward", "backwards", "back", "again", "away", "together",
    "up", "down", "also", "still", "very", "too", "twice", "thrice", "there", "here", "sideways",
    "upward", "upwards", "downward", "downwards", "outward", "outwards", "inward", "inwards",
    "apart", "ahead", "clockwise", "counterclockwise", "anticlockwise", "almost", "just", "now",
    "out", "aside", "repeatedly", "around", "afterwards", "later", "first", "finally", "not",
    "only", "fast", "straight", "far", "overhead", "instead", "even", "quite", "rather", "much",
    "more", "less", "how", "where", "halfway", "once",
];
#[rustfmt::skip]
const ADJS: &[&str] = &[
    "left", "right", "big", "small", "large", "little", "slow", "high", "low", "long", "short",
    "quick", "other", "same", "several", "few", "many", "full", "half", "entire", "whole",
    "circular", "wide", "front", "upper", "lower", "second", "third", "last", "next", "open",
    "closed", "tall", "heavy", "light", "happy", "sad", "angry", "careful", "diagonal", "vertical",
    "horizontal", "different", "random", "imaginary", "invisible", "normal", "steady", "fine",
    "hard", "soft", "strong", "weak", "tight", "loose", "square", "single", "double", "multiple",
    "various", "both", "sudden", "brief", "deep", "shallow", "quiet", "loud", "awkward", "crazy",
    "drunk", "old", "young", "stiff", "relaxed", "ready", "upright", "flat", "opposite",
    "overhead", "outstretched", "alternate", "alternating",
];
// Base forms of the verbs of motion captions; a word whose lemma is here is a verb unless a
// determiner, adjective or number precedes it ("takes a step", "a big jump").
#[rustfmt::skip]
const VERBS: &[&str] = &[
    "walk", "run", "jog", "jump", "hop", "skip", "wave", "turn", "kick", "punch", "throw", "catch",
    "sit", "stand", "squat", "kneel", "crawl", "climb", "dance", "spin", "rotate", "bend", "lean",
    "stretch", "raise", "lift", "lower", "swing", "step", "move", "stop", "start", "pick", "put",
    "place", "reach", "grab", "hold", "push", "pull", "shake", "clap", "bow", "nod", "stumble",
    "fall", "balance", "slide", "shuffle", "stroll", "march", "sway", "rock", "roll", "twist",
    "tilt", "touch", "rub", "wash", "scratch", "wipe", "flap", "spread", "cross", "circle",
    "bounce", "leap", "lunge", "shift", "drag", "carry", "bring", "take", "go", "come", "get",
    "look", "point", "hit", "strike", "block", "dodge", "duck", "fight", "box", "celebrate",
    "drink", "eat", "play", "swim", "fly", "gesture", "return", "continue", "begin", "make",
    "perform", "do", "use", "keep", "extend", "pace", "wander", "tiptoe", "trip", "limp",
    "stagger", "sneak", "hurry", "dash", "sprint", "skate", "pose", "salute", "hug", "pat", "tap",
    "stomp", "flail", "flex", "shrug", "sweep", "stir", "pour", "open", "close", "pretend", "act",
    "imitate", "mimic", "try", "appear", "seem", "face", "head", "have", "lie", "rise", "sidestep",
    "stoop", "crouch", "straighten", "swipe", "toss", "bat", "pivot", "stride", "trot", "gallop",
    "glide", "hang", "shoot", "aim", "cover", "wait", "rest", "fold", "unfold", "repeat", "pause",
    "drop", "dribble", "juggle", "swat", "paddle", "row", "stamp", "pump", "shadow", "spar",
    "check", "bump", "kiss", "grasp", "squeeze", "tie", "write", "talk", "call", "answer",
    "listen", "watch", "see", "feel", "zigzag", "exercise", "warm", "cool", "flip", "tumble",
    "somersault", "cartwheel",
];
#[rustfmt::skip]
const IRREGULAR_VERBS: &[(&str, &str)] = &[
    ("ran", "run"), ("running", "run"), ("goes", "go"), ("went", "go"), ("gone", "go"),
    ("does", "do"), ("did", "do"), ("done", "do"), ("sat", "sit"), ("stood", "stand"),
    ("threw", "throw"), ("thrown", "throw"), ("took", "take"), ("taken", "take"), ("got", "get"),
    ("came", "come"), ("swam", "swim"), ("held", "hold"), ("spun", "spin"), ("swung", "swing"),
    ("knelt", "kneel"), ("leapt", "leap"), ("bent", "bend"), ("fell", "fall"), ("fallen", "fall"),
    ("made", "make"), ("began", "begin"), ("begun", "begin"), ("has", "have"), ("had", "have"),
    ("caught", "catch"), ("brought", "bring"), ("rose", "rise"), ("risen", "rise"),
    ("lying", "lie"), ("lies", "lie"), ("lay", "lie"), ("hit", "hit"), ("put", "put"),
    ("shook", "shake"), ("struck", "strike"), ("strode", "stride"), ("hung", "hang"),
    ("shot", "shoot"), ("saw", "see"), ("felt", "feel"),
];
#[rustfmt::skip]
const IRREGULAR_NOUNS: &[(&str, &str)] = &[
    ("feet", "foot"), ("people", "person"), ("men", "man"), ("women", "woman"),
    ("children", "child"), ("teeth", "tooth"), ("knives", "knife"), ("wolves", "wolf"),
    ("halves", "half"), ("selves", "self"), ("hips", "hip"),
];

fn set(words: &'static [&'static str]) -> HashSet<&'static str> {
    words.iter().copied().collect()
}

fn verbs() -> &'static HashSet<&'static str> {
    static V: OnceLock<HashSet<&'static str>> = OnceLock::new();
    V.get_or_init(|| set(VERBS))
}

/// Whether a word is a form of a lexicon verb ("walks", "stepped", "ran").
fn is_verb_form(w: &str) -> bool {
    verbs().contains(verb_lemma(w).as_str())
}

fn in_list(list: &[&str], w: &str) -> bool {
    list.contains(&w)
}

/// Whether a word can be the head of a noun phrase that a determiner or adjective announces.
fn noun_like(w: &str) -> bool {
    !(in_list(ADPS, w)
        || in_list(CCONJS, w)
        || in_list(SCONJS, w)
        || in_list(AUXS, w)
        || in_list(PRONS, w)
        || in_list(DETS, w)
        || (in_list(ADVS, w) && !in_list(ADJS, w))
        || w.ends_with("ly"))
}

fn tag_word(w: &str, prev: Option<Upos>, next: Option<&str>) -> Upos {
    let after_modifier = matches!(prev, Some(Upos::Det | Upos::Adj | Upos::Num));
    match w {
        // "to walk" is a particle, "to the left" a preposition.
        "to" => {
            return match next {
                Some(n) if verbs().contains(n) => Upos::Part,
                _ => Upos::Adp,
            }
        }
        // "raises her arm" vs "hugs her".
        "her" => {
            return match next {
                Some(n) if noun_like(n) => Upos::Det,
                _ => Upos::Pron,
            }
        }
        "that" => {
            return match next {
                Some(n) if noun_like(n) && !is_verb_form(n) => Upos::Det,
                _ => Upos::Pron,
            }
        }
        // Auxiliaries before a participle ("has raised") or a verb ("does not move").
        "has" | "have" | "had" => {
            let aux = next.is_some_and(|n| n == "been" || n.ends_with("ed") || n.ends_with("en"));
            return if aux { Upos::Aux } else { Upos::Verb };
        }
        "do" | "does" | "did" => {
            let aux = next.is_some_and(|n| n == "not" || is_verb_form(n));
            return if aux { Upos::Aux } else { Upos::Verb };
        }
        "left" | "right" => {
            // "left hand" vs "turns left".
            return match next {
                Some(n) if noun_like(n) && !in_list(ADVS, n) && !is_verb_form(n) => Upos::Adj,
                _ => Upos::Adv,
            };
        }
        _ => {}
    }
    // Closed classes first, in this order (a word in two lists takes the first).
    let lexicon: [(&[&str], Upos); 9] = [
        (DETS, Upos::Det),
        (PRONS, Upos::Pron),
        (AUXS, Upos::Aux),
        (CCONJS, Upos::Cconj),
        (ADPS, Upos::Adp),
        (SCONJS, Upos::Sconj),
        (NUMS, Upos::Num),
        (ADJS, Upos::Adj),
        (ADVS, Upos::Adv),
    ];
    if let Some((_, tag)) = lexicon.iter().find(|(list, _)| in_list(list, w)) {
        return *tag;
    }
    if is_verb_form(w) {
        // A plain -s form after a determiner is a plural noun ("the walks"), after a subject a verb.
        return if after_modifier {
            Upos::Noun
        } else {
            Upos::Verb
        };
    }
    if w.len() > 4 && w.ends_with("ly") {
        return Upos::Adv;
    }
    if w.len() > 5 && (w.ends_with("ing") || w.ends_with("ed")) {
        return if after_modifier {
            Upos::Adj
        } else {
            Upos::Verb
        };
    }
    if ["ful", "ous", "ive", "less", "ish"]
        .iter()
        .any(|s| w.len() > s.len() + 2 && w.ends_with(s))
    {
        return Upos::Adj;
    }
    Upos::Noun
}

/// The stem of a suffixed verb form that the verb lexicon knows ("wav" -> "wave", "stepp" ->
/// "step"), else the stem with a doubled final consonant undone.
fn resolve_stem(stem: &str) -> String {
    let v = verbs();
    if v.contains(stem) {
        return stem.to_string();
    }
    let with_e = format!("{stem}e");
    if v.contains(with_e.as_str()) {
        return with_e;
    }
    let b = stem.as_bytes();
    if b.len() >= 3 && b[b.len() - 1] == b[b.len() - 2] && !b"lsz".contains(&b[b.len() - 1]) {
        return stem[..stem.len() - 1].to_string();
    }
    stem.to_string()
}

/// Verb lemma: walks / walking / walked -> walk, waves / waving -> wave, carries -> carry.
pub fn verb_lemma(w: &str) -> String {
    if let Some((_, lemma)) = IRREGULAR_VERBS.iter().find(|(f, _)| *f == w) {
        return lemma.to_string();
    }
    if verbs().contains(w) {
        return w.to_string();
    }
    if w.len() > 4 && (w.ends_with("ies") || w.ends_with("ied")) {
        return format!("{}y", &w[..w.len() - 3]);
    }
    if let Some(stem) = w.strip_suffix("ing").filter(|s| s.len() >= 2) {
        return resolve_stem(stem);
    }
    if let Some(stem) = w.strip_suffix("ed").filter(|s| s.len() >= 2) {
        return resolve_stem(stem);
    }
    if ["ches", "shes", "sses", "xes", "zes"]
        .iter()
        .any(|s| w.ends_with(s))
    {
        return w[..w.len() - 2].to_string();
    }
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

/// Noun lemma: hands -> hand, feet -> foot, bodies -> body.
pub fn noun_lemma(w: &str) -> String {
    if let Some((_, lemma)) = IRREGULAR_NOUNS.iter().find(|(f, _)| *f == w) {
        return lemma.to_string();
    }
    if w.len() > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..w.len() - 3]);
    }
    if ["ches", "shes", "sses", "xes"]
        .iter()
        .any(|s| w.ends_with(s))
    {
        return w[..w.len() - 2].to_string();
    }
    if w.len() > 3
        && w.ends_with('s')
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
    {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(caption: &str) -> String {
        humanml3d_tokens(caption).join(" ")
    }

    #[test]
    fn real_captions_get_spacy_like_tokens() {
        assert_eq!(
            tokens("a person walks forward, then waves with the left hand."),
            "a/DET person/NOUN walk/VERB forward/ADV then/ADV wave/VERB with/ADP the/DET \
             left/ADJ hand/NOUN"
        );
        assert_eq!(
            tokens("A man is running in a circle and jumping over two obstacles"),
            "a/DET man/NOUN is/AUX run/VERB in/ADP a/DET circle/NOUN and/CCONJ jump/VERB \
             over/ADP two/NUM obstacle/NOUN"
        );
        assert_eq!(
            tokens("someone takes a step back and raises her arms slowly"),
            "someone/PRON take/VERB a/DET step/NOUN back/ADV and/CCONJ raise/VERB her/DET \
             arm/NOUN slowly/ADV"
        );
        assert_eq!(
            tokens("the figure turns right, bends down to pick up something with both feet"),
            "the/DET figure/NOUN turn/VERB right/ADV bend/VERB down/ADV to/PART pick/VERB \
             up/ADV something/PRON with/ADP both/DET foot/NOUN"
        );
    }

    #[test]
    fn hyphens_numbers_and_clitics_follow_the_reference_cleaning() {
        // Hyphens vanish ("t-pose" -> "tpose"); digits are not alphabetic and are dropped.
        assert_eq!(
            tokens("he doesn't move from t-pose 3 times"),
            "he/PRON does/AUX move/VERB from/ADP tpose/NOUN time/NOUN"
        );
    }

    #[test]
    fn lemmas_of_regular_and_irregular_forms() {
        for (w, l) in [
            ("walks", "walk"),
            ("walking", "walk"),
            ("walked", "walk"),
            ("waving", "wave"),
            ("stepped", "step"),
            ("jogging", "jog"),
            ("carries", "carry"),
            ("touches", "touch"),
            ("ran", "run"),
            ("sat", "sit"),
        ] {
            assert_eq!(verb_lemma(w), l, "{w}");
        }
        assert_eq!(noun_lemma("hands"), "hand");
        assert_eq!(noun_lemma("feet"), "foot");
        assert_eq!(noun_lemma("bodies"), "body");
        assert_eq!(noun_lemma("glass"), "glass");
    }

    #[test]
    fn token_sequence_is_padded_and_cut_as_the_reference() {
        let short = evaluator_tokens(&humanml3d_tokens("a person walks"));
        assert_eq!(short.len, 5);
        assert_eq!(short.tokens.len(), MAX_TEXT_LEN + 2);
        assert_eq!(
            &short.tokens[..5],
            [
                "sos/OTHER",
                "a/DET",
                "person/NOUN",
                "walk/VERB",
                "eos/OTHER"
            ]
        );
        assert!(short.tokens[5..].iter().all(|t| t == "unk/OTHER"));
        let many: Vec<String> = (0..25).map(|i| format!("w{i}/NOUN")).collect();
        let long = evaluator_tokens(&many);
        assert_eq!(long.len, MAX_TEXT_LEN + 2);
        assert_eq!(long.tokens[MAX_TEXT_LEN], "w19/NOUN");
        assert_eq!(long.tokens[MAX_TEXT_LEN + 1], "eos/OTHER");
    }

    #[test]
    fn classes_follow_the_reference_order_and_vip_lists() {
        assert_eq!(PosClass::from_tag("VERB") as usize, 0);
        assert_eq!(PosClass::from_tag("Desc_VIP") as usize, 13);
        assert_eq!(PosClass::from_tag("CCONJ"), PosClass::Other);
        assert_eq!(PosClass::Other as usize, POS_CLASSES - 1);
        assert_eq!(PosClass::vip("left"), Some(PosClass::LocVip));
        assert_eq!(PosClass::vip("feet"), Some(PosClass::BodyVip));
        assert_eq!(PosClass::vip("basketball"), Some(PosClass::ObjVip));
        assert_eq!(PosClass::vip("climb"), Some(PosClass::ActVip));
        assert_eq!(PosClass::vip("sadly"), Some(PosClass::DescVip));
        assert_eq!(PosClass::vip("person"), None);
    }
}

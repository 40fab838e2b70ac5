//! Procedural, captioned motion: `keta data synth`. A parametric character animator over the
//! 22-joint skeleton (29 primitives with parameters, sequences of 1-4 and "while" combinations),
//! varied bodies and styles, true captions in several wordings with ground-truth segmentations,
//! written as a complete HumanML3D-layout folder.
//!
//! Every clip is a pure function of (seed, index): a data set is reproducible and can be extended.

pub mod actions;
pub mod animator;
pub mod arms;
pub mod body;
pub mod captions;
mod locomotion;
mod vec3;
mod writer;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use animator::FPS;
pub use writer::{synthesize, SynthOptions, SynthReport};

use actions::Action;
use animator::Animator;
use body::{Body, Pose};
use captions::{Caption, Described};

/// Clips have 41..=200 joint frames (40..=199 feature rows, inside the loader's filter).
pub const MIN_FRAMES: usize = 41;
pub const MAX_FRAMES: usize = 200;

/// One synthesised clip.
#[derive(Debug, Clone)]
pub struct Clip {
    /// `[T][22]` joint positions, metres.
    pub joints: Vec<[[f64; 3]; 22]>,
    pub captions: Vec<Caption>,
    /// The actions, in time order, with their frame ranges.
    pub actions: Vec<Described>,
}

pub(crate) fn rng_for(seed: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ index.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}

/// Clip `index` of the data set with seed `seed`.
pub fn clip(seed: u64, index: u64) -> Clip {
    let mut rng = rng_for(seed, index);
    let n = match rng.random_range(0..100) {
        0..30 => 1,
        30..65 => 2,
        65..90 => 3,
        _ => 4,
    };
    let mut plan: Vec<Action> = Vec::new();
    let mut total = 0.0;
    for _ in 0..n {
        let a = Action::sample(&mut rng);
        if total + a.duration() > (MAX_FRAMES - 1) as f64 / FPS && !plan.is_empty() {
            break;
        }
        total += a.duration();
        plan.push(a);
    }
    build(&mut rng, &plan)
}

/// Animates `plan` with a sampled body, adds "while" arm actions where they fit, and captions it.
pub fn build(rng: &mut impl Rng, plan: &[Action]) -> Clip {
    let body = Body::sample(rng);
    let start = Pose::standing(
        &body,
        0.0,
        0.0,
        rng.random_range(-std::f64::consts::PI..std::f64::consts::PI),
    );
    let mut anim = Animator::new(&body, start);
    let mut described = Vec::new();
    for a in plan {
        let first = anim.next_frame() - usize::from(described.is_empty());
        a.animate(&mut anim);
        let (third, gerund) = a.phrase();
        described.push(Described {
            third,
            gerund,
            frames: (first, anim.next_frame()),
            during: None,
        });
        if a.allows_arm_overlay() && rng.random_bool(0.35) {
            overlay_arms(
                rng,
                &body,
                &mut anim,
                described.last_mut().expect("just pushed"),
            );
        }
    }
    let mut frames = anim.frames;
    frames.truncate(MAX_FRAMES);
    while frames.len() < MIN_FRAMES {
        frames.push(frames.last().expect("the start pose").clone());
    }
    let last = frames.len();
    for d in &mut described {
        d.frames.1 = d.frames.1.min(last);
        if let Some((_, _, f)) = &mut d.during {
            f.1 = f.1.min(last);
        }
    }
    described.retain(|d| d.frames.0 < d.frames.1);
    if let Some(d) = described.last_mut() {
        d.frames.1 = last; // a held final pose belongs to the last action
    }
    let joints = frames
        .iter()
        .map(|p| body::joints(&body, p).map(|v| v.to_array()))
        .collect();
    let count = rng.random_range(3..=4);
    let captions = captions::captions(&described, count, rng);
    Clip {
        joints,
        captions,
        actions: described,
    }
}

/// Runs an arm action over the middle of the action just animated, blending in and out.
fn overlay_arms(rng: &mut impl Rng, body: &Body, anim: &mut Animator, target: &mut Described) {
    let arm = loop {
        let a = arms::ArmAction::sample(rng);
        if !matches!(
            a,
            arms::ArmAction::Stretch | arms::ArmAction::Circles { .. }
        ) {
            break a;
        }
    };
    let (s, e) = target.frames;
    let need = (arm.duration() * FPS).round() as usize;
    if e - s < need + 4 {
        return;
    }
    let start = s + rng.random_range(0..=(e - s - need));
    for k in 0..need {
        let t = k as f64 / FPS;
        let w = vec3::smoothstep(t / 0.4) * vec3::smoothstep((arm.duration() - t) / 0.4);
        let frame = &mut anim.frames[start + k];
        let mut with = frame.clone();
        arm.apply(body, t, &mut with);
        for side in [body::LEFT, body::RIGHT] {
            frame.hands[side] = frame.hands[side].lerp(with.hands[side], w);
            frame.elbow_pole[side] = frame.elbow_pole[side].lerp(with.elbow_pole[side], w);
        }
        frame.twist += (with.twist - frame.twist) * w;
    }
    let (third, gerund) = arm.phrase();
    target.during = Some((third, gerund, (start, start + need)));
}

#[cfg(test)]
mod tests;

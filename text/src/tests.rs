//! The encoder against the expected values of assets.md (from an independent forward pass).
//! Needs the assets that scripts/setup.sh fetches (scripts/test.sh runs it first).

use tch::{Device, Kind, Tensor};

use crate::{SentenceEncoder, MAX_TOKENS};

/// A fresh encoder per test (tch tensors are not Sync, so no shared static).
fn encoder() -> SentenceEncoder {
    SentenceEncoder::load_default(Device::Cpu)
        .unwrap_or_else(|e| panic!("{e} (run scripts/setup.sh or scripts/test.sh)"))
}

fn cos(a: &Tensor, b: &Tensor) -> f64 {
    (a * b).sum(Kind::Double).double_value(&[])
}

#[test]
fn matches_the_reference_values() {
    let e = encoder()
        .encode(&[
            "a person walks forward slowly",
            "a man jumps up and down",
            "someone is walking ahead",
        ])
        .unwrap();
    assert_eq!(e.vectors.size(), vec![3, 384]);
    let first = |i: i64| {
        Vec::<f64>::try_from(e.vectors.get(i).narrow(0, 0, 5).to_kind(Kind::Double)).unwrap()
    };
    let want = [
        [0.04302, -0.00080, 0.01223, 0.01847, 0.05083],
        [0.01623, 0.01666, 0.02210, -0.06232, -0.06315],
    ];
    for (i, w) in want.iter().enumerate() {
        for (got, want) in first(i as i64).iter().zip(w) {
            assert!((got - want).abs() < 1e-4, "sentence {i}: {got} vs {want}");
        }
    }
    let (walk, jump, ahead) = (e.vectors.get(0), e.vectors.get(1), e.vectors.get(2));
    assert!(
        (cos(&walk, &ahead) - 0.7748).abs() < 1e-3,
        "{}",
        cos(&walk, &ahead)
    );
    assert!(
        (cos(&walk, &jump) - 0.2523).abs() < 1e-3,
        "{}",
        cos(&walk, &jump)
    );
    let norms = e.vectors.norm_scalaropt_dim(2, [-1], false);
    assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
}

#[test]
fn a_batch_equals_one_by_one() {
    let encoder = encoder();
    let encoder = || &encoder;
    let sentences = [
        "a person waves",
        "the man walks in a circle, then sits down on the floor",
        "kick",
    ];
    let batch = encoder().encode(&sentences).unwrap().vectors;
    for (i, s) in sentences.iter().enumerate() {
        let one = encoder().encode(&[s]).unwrap().vectors.get(0);
        let err = (batch.get(i as i64) - one).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{s}: padding changed the embedding by {err}");
    }
}

#[test]
fn long_input_is_truncated_and_reported_and_empty_input_is_handled() {
    let encoder = encoder();
    let encoder = || &encoder;
    let long = "walk forward and ".repeat(200);
    let e = encoder().encode(&["a short one", &long]).unwrap();
    assert_eq!(e.truncated, vec![1]);
    let states = encoder().token_states(&[&long]).unwrap();
    assert_eq!(states.states.size()[1], MAX_TOKENS as i64);
    let empty = encoder().encode(&[""]).unwrap().vectors;
    assert_eq!(empty.isfinite().all().int64_value(&[]), 1);
    assert!((empty.norm().double_value(&[]) - 1.0).abs() < 1e-5);
    assert_eq!(encoder().encode(&[]).unwrap().vectors.size(), vec![0, 384]);
}

#[test]
fn token_states_mask_padding_and_the_cache_returns_the_same_vectors() {
    let encoder = encoder();
    let encoder = || &encoder;
    let t = encoder()
        .token_states(&["a person runs", "a person runs in a wide circle"])
        .unwrap();
    let real = t.mask.sum_dim_intlist(1, false, Kind::Int64);
    assert_eq!(Vec::<i64>::try_from(real).unwrap(), vec![5, 9]);
    assert_eq!(
        t.states
            .get(0)
            .narrow(0, 5, 4)
            .abs()
            .sum(Kind::Double)
            .double_value(&[]),
        0.0
    );
    let plain = encoder()
        .encode(&["a person runs", "kick with the left leg"])
        .unwrap()
        .vectors;
    let cached = encoder()
        .encode_cached(&[
            "kick with the left leg",
            "a person runs",
            "kick with the left leg",
        ])
        .unwrap();
    assert!((cached.get(1) - plain.get(0)).abs().max().double_value(&[]) < 1e-6);
    assert!(
        (cached.get(0) - cached.get(2))
            .abs()
            .max()
            .double_value(&[])
            == 0.0
    );
}

#[test]
fn a_missing_folder_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let e = SentenceEncoder::load(dir.path(), Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("config.json") && e.contains("scripts/setup.sh"),
        "{e}"
    );
}

use tch::{nn, Device, Kind, Tensor};

use super::*;
use crate::diffusion::Guided;

fn build(cfg: &DenoiserConfig) -> (nn::VarStore, Denoiser) {
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Denoiser::new(vs.root(), cfg).unwrap();
    (vs, model)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn inputs(b: i64, n: i64, e: i64) -> (Tensor, Tensor, Tensor) {
    let x = Tensor::randn([b, n, 263], (Kind::Float, Device::Cpu));
    let t = Tensor::from_slice(&(0..b).map(|i| i * 97 % 1000).collect::<Vec<i64>>());
    let text = Tensor::randn([b, e], (Kind::Float, Device::Cpu));
    (x, t, text)
}

#[test]
fn sinusoid_matches_the_formula() {
    let _rng = crate::global_rng();
    let pos = Tensor::from_slice(&[0.0f32, 3.0, 17.5]);
    let table = sinusoid(&pos, 8);
    assert_eq!(table.size(), [3, 8]);
    for (i, p) in [0.0f64, 3.0, 17.5].iter().enumerate() {
        for k in 0..4 {
            let w = 10000f64.powf(-(2.0 * k as f64) / 8.0);
            let s = table.double_value(&[i as i64, 2 * k]);
            let c = table.double_value(&[i as i64, 2 * k + 1]);
            assert!((s - (p * w).sin()).abs() < 1e-5 && (c - (p * w).cos()).abs() < 1e-5);
        }
    }
}

#[test]
fn padded_frames_and_dropped_text_do_not_leak() {
    let _rng = crate::global_rng();
    for variant in [Variant::Encoder, Variant::Decoder] {
        let cfg = DenoiserConfig {
            variant,
            ..DenoiserConfig::tiny()
        };
        let (_vs, model) = build(&cfg);
        let (x, t, text) = inputs(3, 12, cfg.text_dim);
        // Rows 0 and 1 have 9 real frames, row 2 all 12.
        let pad = Tensor::from_slice(&[[false; 9], [false; 9]].concat())
            .view([2, 9])
            .pad([0, 3], "constant", Some(1.0))
            .to_kind(Kind::Bool);
        let pad = Tensor::cat(&[pad, Tensor::zeros([1, 12], (Kind::Bool, Device::Cpu))], 0);
        let cond = Condition::caption(&text);
        let pad = Padding::from_mask(pad);
        let out = model.forward(&x, &t, &cond, Some(&pad), false).unwrap();
        assert_eq!(out.size(), [3, 12, 263]);
        // Garbage in padded frames changes no real frame.
        let x2 = x.copy();
        let _ = x2.narrow(0, 0, 2).narrow(1, 9, 3).fill_(1e3);
        let out2 = model.forward(&x2, &t, &cond, Some(&pad), false).unwrap();
        assert!(max_diff(&out.narrow(1, 0, 9), &out2.narrow(1, 0, 9)) < 1e-5);
        // With keep = 0 the text does not matter; with keep = 1 it does.
        let dropped = Condition {
            keep: Tensor::zeros([3], (Kind::Float, Device::Cpu)),
            ..Condition::caption(&text)
        };
        let other = Condition {
            keep: Tensor::zeros([3], (Kind::Float, Device::Cpu)),
            ..Condition::caption(&text.randn_like())
        };
        let a = model.forward(&x, &t, &dropped, None, false).unwrap();
        let b = model.forward(&x, &t, &other, None, false).unwrap();
        assert!(max_diff(&a, &b) < 1e-6, "{variant:?}");
        let c = model
            .forward(&x, &t, &Condition::caption(&text.randn_like()), None, false)
            .unwrap();
        assert!(max_diff(&a, &c) > 1e-3);
        // Dropout only in training mode.
        let e1 = model.forward(&x, &t, &cond, None, false).unwrap();
        assert!(max_diff(&e1, &model.forward(&x, &t, &cond, None, false).unwrap()) == 0.0);
        assert!(max_diff(&e1, &model.forward(&x, &t, &cond, None, true).unwrap()) > 1e-4);
    }
}

#[test]
fn decoder_ignores_absent_sentences_and_uses_guides() {
    let _rng = crate::global_rng();
    let cfg = DenoiserConfig {
        variant: Variant::Decoder,
        guide_tokens: true,
        max_sentences: 4,
        ..DenoiserConfig::tiny()
    };
    let (_vs, model) = build(&cfg);
    let (x, t, text) = inputs(2, 8, cfg.text_dim);
    let sentences = Tensor::randn([2, 3, cfg.text_dim], (Kind::Float, Device::Cpu));
    let absent = Tensor::from_slice(&[false, false, true, false, true, true]).view([2, 3]);
    let guide = Tensor::randn([2, 3, GUIDE_DIM], (Kind::Float, Device::Cpu));
    let cond = |s: &Tensor, g: &Tensor| Condition {
        sentences: Some((s.shallow_clone(), absent.shallow_clone())),
        guide: Some(g.shallow_clone()),
        ..Condition::caption(&text)
    };
    let out = model
        .forward(&x, &t, &cond(&sentences, &guide), None, false)
        .unwrap();
    // Garbage in absent slots (sentence and guide) changes nothing.
    let (s2, g2) = (sentences.copy(), guide.copy());
    let _ = s2.get(1).narrow(0, 1, 2).fill_(50.0);
    let _ = g2.get(0).narrow(0, 2, 1).fill_(-50.0);
    let out2 = model.forward(&x, &t, &cond(&s2, &g2), None, false).unwrap();
    assert!(max_diff(&out, &out2) < 1e-5);
    // Present guides matter.
    let out3 = model
        .forward(&x, &t, &cond(&sentences, &guide.randn_like()), None, false)
        .unwrap();
    assert!(max_diff(&out, &out3) > 1e-4);
    // A guide-token decoder refuses to run without guides.
    let no_guide = Condition {
        guide: None,
        ..cond(&sentences, &guide)
    };
    let e = model.forward(&x, &t, &no_guide, None, false).unwrap_err();
    assert!(e.to_string().contains("pass a guide"), "{e}");
    // Too many sub-sentences is named.
    let many = Tensor::randn([2, 5, cfg.text_dim], (Kind::Float, Device::Cpu));
    let c = Condition {
        sentences: Some((many, Tensor::zeros([2, 5], (Kind::Bool, Device::Cpu)))),
        guide: Some(Tensor::zeros([2, 5, GUIDE_DIM], (Kind::Float, Device::Cpu))),
        ..Condition::caption(&text)
    };
    let e = model
        .forward(&x, &t, &c, None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("5 sub-sentences") && e.contains("at most 4"),
        "{e}"
    );
}

#[test]
fn bad_shapes_are_named() {
    let _rng = crate::global_rng();
    let cfg = DenoiserConfig::tiny();
    let (_vs, model) = build(&cfg);
    let (x, t, text) = inputs(2, 8, cfg.text_dim);
    let cond = Condition::caption(&text);
    let e = model
        .forward(&x.narrow(2, 0, 200), &t, &cond, None, false)
        .unwrap_err();
    assert!(e.to_string().contains("x_t [B, N, 263]"), "{e}");
    let long = Tensor::zeros([2, 65, 263], (Kind::Float, Device::Cpu));
    let e = model.forward(&long, &t, &cond, None, false).unwrap_err();
    assert!(e.to_string().contains("max_frames 64"), "{e}");
    let e = model
        .forward(
            &x,
            &t,
            &Condition::caption(&text.narrow(1, 0, 10)),
            None,
            false,
        )
        .unwrap_err();
    assert!(e.to_string().contains("text [B, E]"), "{e}");
}

#[test]
fn batched_guidance_equals_two_forward_passes() {
    let _rng = crate::global_rng();
    let cfg = DenoiserConfig::tiny();
    let (_vs, model) = build(&cfg);
    let (x, _, text) = inputs(2, 10, cfg.text_dim);
    let cond = Condition::caption(&text);
    let guided = Guided::new(&model, &cond, 2.5);
    let got = guided.x0(&x, 500, None).unwrap();
    let t = Tensor::from_slice(&[500i64, 500]);
    let c = model.forward(&x, &t, &cond, None, false).unwrap();
    let dropped = Condition {
        keep: Tensor::zeros([2], (Kind::Float, Device::Cpu)),
        ..Condition::caption(&text)
    };
    let u = model.forward(&x, &t, &dropped, None, false).unwrap();
    let want = &u + (c.shallow_clone() - &u) * 2.5;
    assert!(max_diff(&got, &want) < 1e-5);
    let plain = Guided::new(&model, &cond, 1.0).x0(&x, 500, None).unwrap();
    assert!(max_diff(&plain, &c) < 1e-6);
}

#[test]
fn weights_round_trip_through_strict_loading() {
    let _rng = crate::global_rng();
    let cfg = DenoiserConfig::tiny();
    let (vs, model) = build(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    vs.save(&path).unwrap();
    let mut vs2 = nn::VarStore::new(Device::Cpu);
    tch::manual_seed(99);
    let model2 = Denoiser::new(vs2.root(), &cfg).unwrap();
    train::load_strict(&mut vs2, &path, &[]).unwrap();
    let (x, t, text) = inputs(1, 6, cfg.text_dim);
    let cond = Condition::caption(&text);
    let a = model.forward(&x, &t, &cond, None, false).unwrap();
    let b = model2.forward(&x, &t, &cond, None, false).unwrap();
    assert_eq!(max_diff(&a, &b), 0.0);
    // Keys are stable names (they are the checkpoint format).
    let keys: std::collections::BTreeSet<String> = vs.variables().into_keys().collect();
    for k in [
        "input.weight",
        "time.0.weight",
        "time.1.bias",
        "text.weight",
        "layers.0.attn.qkv.weight",
        "layers.1.ff.down.bias",
        "layers.1.norm2.weight",
        "output.weight",
    ] {
        assert!(keys.contains(k), "{k} missing from {keys:?}");
    }
}

#[test]
fn packing_real_tokens_changes_nothing_on_real_frames() {
    let _rng = crate::global_rng();
    // The plain encoder and decoder, and a KETA decoder with sub-sentences and guide tokens.
    for (variant, keta) in [
        (Variant::Encoder, false),
        (Variant::Decoder, false),
        (Variant::Decoder, true),
    ] {
        let cfg = DenoiserConfig {
            variant,
            dropout: 0.0,
            guide_tokens: keta,
            max_sentences: 4,
            ..DenoiserConfig::tiny()
        };
        let (vs, model) = build(&cfg);
        let (x, t, text) = inputs(3, 10, cfg.text_dim);
        let lengths = [4i64, 10, 7];
        let packed = Padding::from_lengths(&lengths, 10, Device::Cpu);
        let masked = Padding::from_mask(packed.mask.copy());
        let mut cond = Condition::caption(&text);
        if keta {
            let absent = Tensor::from_slice(&[false, true, false, false, false, true]).view([3, 2]);
            cond.sentences = Some((
                Tensor::randn([3, 2, cfg.text_dim], (Kind::Float, Device::Cpu)),
                absent,
            ));
            cond.guide = Some(Tensor::randn([3, 2, GUIDE_DIM], (Kind::Float, Device::Cpu)));
        }
        let variant = (variant, keta);
        let a = model.forward(&x, &t, &cond, Some(&packed), true).unwrap();
        let b = model.forward(&x, &t, &cond, Some(&masked), true).unwrap();
        let real = packed.mask.logical_not().unsqueeze(-1).to_kind(Kind::Float);
        assert!(max_diff(&(&a * &real), &(&b * &real)) < 1e-5, "{variant:?}");
        // Same gradients for a loss on real frames.
        let grads = |out: &Tensor| {
            let loss = (out * &real).square().sum(Kind::Float);
            let vars: Vec<Tensor> = vs.trainable_variables();
            Tensor::run_backward(&[loss], &vars, false, false)
        };
        // (Variables the graph does not reach, e.g. the decoder's unused sentence projection, have
        // undefined gradients in both.)
        for (ga, gb) in grads(&a).iter().zip(grads(&b)) {
            assert_eq!(ga.defined(), gb.defined());
            if !ga.defined() {
                continue;
            }
            assert!(max_diff(ga, &gb) < 1e-4 * (1.0 + gb.abs().max().double_value(&[])));
        }
    }
}

/// Radial attention's schedule reaches the layers: with every layer in `dense_layers`, or at a step
/// inside `dense_steps_fraction`, the radial model computes exactly what the dense one does; outside
/// the schedule, at a length where the mask is sparse, it does not.
#[test]
fn the_radial_schedule_runs_scheduled_layers_and_steps_densely() {
    use kernels::{RadialAttention, RadialBackend, RadialConfig};
    let _rng = crate::global_rng();
    let cfg = DenoiserConfig::tiny();
    let (vs, dense) = build(&cfg);
    let radial_model = |dense_layers: usize, fraction: f64| {
        let radial = RadialAttention::new(
            RadialConfig {
                block: 8,
                auto_dense_below: 0,
                gather_dense_below: 0,
                dense_layers,
                dense_steps_fraction: fraction,
                ..RadialConfig::default()
            },
            RadialBackend::Gather,
        )
        .unwrap()
        .with_condition_tokens(1)
        .unwrap()
        .shared();
        let mut other = nn::VarStore::new(Device::Cpu);
        let model = Denoiser::with_attention(other.root(), &cfg, radial).unwrap();
        other.copy(&vs).unwrap();
        (other, model)
    };
    tch::manual_seed(3);
    let (x, t, text) = inputs(2, 60, 384);
    let cond = Condition::caption(&text);
    let run = |m: &Denoiser| tch::no_grad(|| m.forward(&x, &t, &cond, None, false).unwrap());
    let reference = run(&dense);
    let (_a, all_dense) = radial_model(cfg.layers as usize, 0.0);
    assert!(max_diff(&run(&all_dense), &reference) < 1e-5);
    let (_b, sparse) = radial_model(0, 0.5);
    assert!(
        max_diff(&run(&sparse), &reference) > 1e-3,
        "61 tokens in blocks of 8 is sparse"
    );
    sparse.set_sampling_step(1, 4); // within the first half of the steps: dense
    assert!(max_diff(&run(&sparse), &reference) < 1e-5);
    assert!(sparse.schedule_varies(60, 4) && !dense.schedule_varies(60, 4));
    sparse.set_sampling_step(3, 4); // the last, least noisy step: radial
    assert!(max_diff(&run(&sparse), &reference) > 1e-3);
    // Below the auto-dense threshold nothing varies: CUDA graphs stay on for short motions.
    let auto = RadialAttention::new(RadialConfig::default(), RadialBackend::Auto)
        .unwrap()
        .shared();
    let mut other = nn::VarStore::new(Device::Cpu);
    let short = Denoiser::with_attention(other.root(), &cfg, auto).unwrap();
    other.copy(&vs).unwrap();
    assert!(!short.schedule_varies(60, 50) && short.schedule_varies(4096, 50));
}

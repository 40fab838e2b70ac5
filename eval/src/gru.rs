//! One-layer bidirectional GRU over padded sequences of different lengths, returning the final
//! states exactly as PyTorch's `nn.GRU(batch_first=True, bidirectional=True)` does on a
//! `pack_padded_sequence` input: the forward direction stops at each sequence's own last step,
//! the backward direction starts there. Parameter names are PyTorch's (`weight_ih_l0`,
//! `weight_hh_l0_reverse`, ...) so that official state dicts load by a plain copy.
//!
//! Both directions run libtorch's single-direction GRU over the whole padded batch; the forward
//! final state is gathered at `len - 1`, and the backward direction reads each sequence reversed
//! within its own length (padding stays behind it), so its state at `len - 1` is the packed one.

use std::borrow::Borrow;

use tch::{nn, Kind, Tensor};

/// Weights of one direction: `[w_ih [3H, I], w_hh [3H, H], b_ih [3H], b_hh [3H]]` (r, z, n gates).
#[derive(Debug)]
struct Direction {
    params: [Tensor; 4],
}

impl Direction {
    /// PyTorch's GRU init: every weight and bias uniform in +-1/sqrt(H).
    fn new(p: &nn::Path, input: i64, hidden: i64, suffix: &str) -> Self {
        let k = 1.0 / (hidden as f64).sqrt();
        let init = nn::Init::Uniform { lo: -k, up: k };
        Direction {
            params: [
                p.var(&format!("weight_ih_l0{suffix}"), &[3 * hidden, input], init),
                p.var(
                    &format!("weight_hh_l0{suffix}"),
                    &[3 * hidden, hidden],
                    init,
                ),
                p.var(&format!("bias_ih_l0{suffix}"), &[3 * hidden], init),
                p.var(&format!("bias_hh_l0{suffix}"), &[3 * hidden], init),
            ],
        }
    }

    /// States `[B, T, H]` after each step of `x [B, T, I]` from `h0 [1, B, H]`.
    fn states(&self, x: &Tensor, h0: &Tensor, train: bool) -> Tensor {
        let params: Vec<&Tensor> = self.params.iter().map(Borrow::borrow).collect();
        x.gru(h0, &params, true, 1, 0.0, train, false, true).0
    }
}

#[derive(Debug)]
pub struct BiGru {
    forward: Direction,
    backward: Direction,
}

impl BiGru {
    /// `p` is the GRU's own path (`.../gru`).
    pub fn new(p: &nn::Path, input: i64, hidden: i64) -> Self {
        BiGru {
            forward: Direction::new(p, input, hidden, ""),
            backward: Direction::new(p, input, hidden, "_reverse"),
        }
    }

    /// Final states `[B, 2H]` (forward then backward, as the reference's `cat(gru_last[0],
    /// gru_last[1])`) of `x [B, T, I]` with `lengths [B]` int64 in 1..=T, from `h0 [2, B, H]`.
    pub fn final_states(&self, x: &Tensor, lengths: &Tensor, h0: &Tensor, train: bool) -> Tensor {
        let (b, t, i) = x.size3().expect("x is [B, T, I]");
        let last = (lengths - 1).view([b, 1]); // [B, 1]
                                               // [1, T]
        let steps = Tensor::arange(t, (Kind::Int64, x.device())).view([1, t]);
        // Step s of the reversed sequence reads step len-1-s; padding (s >= len) stays in place.
        let reversed_at = (&last - &steps).where_self(
            &steps.lt_tensor(&lengths.view([b, 1])),
            &steps.expand([b, t], false),
        ); // [B, T]
        let x_rev = x.gather(
            1,
            &reversed_at.unsqueeze(-1).expand([b, t, i], false),
            false,
        ); // [B, T, I]
        let at_last = |states: Tensor| {
            let h = states.size()[2];
            states
                .gather(1, &last.unsqueeze(-1).expand([b, 1, h], false), false)
                .squeeze_dim(1) // [B, H]
        };
        let fwd = at_last(self.forward.states(x, &h0.narrow(0, 0, 1), train));
        let bwd = at_last(self.backward.states(&x_rev, &h0.narrow(0, 1, 1), train));
        Tensor::cat(&[fwd, bwd], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The PyTorch GRU cell written out: r, z, n gates, n = tanh(W_in x + b_in + r (W_hn h + b_hn)).
    fn cell(d: &Direction, x: &Tensor, h: &Tensor) -> Tensor {
        let [w_ih, w_hh, b_ih, b_hh] = &d.params;
        let gi = x.matmul(&w_ih.tr()) + b_ih;
        let gh = h.matmul(&w_hh.tr()) + b_hh;
        let gi = gi.chunk(3, -1);
        let gh = gh.chunk(3, -1);
        let r = (&gi[0] + &gh[0]).sigmoid();
        let z = (&gi[1] + &gh[1]).sigmoid();
        let n = (&gi[2] + r * &gh[2]).tanh();
        (1.0 - &z) * n + z * h
    }

    #[test]
    fn final_states_equal_a_per_sequence_loop() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let gru = BiGru::new(&(vs.root() / "gru"), 3, 5);
        let x = Tensor::randn([3, 6, 3], (Kind::Float, Device::Cpu));
        let h0 = Tensor::randn([2, 3, 5], (Kind::Float, Device::Cpu));
        let lens = [6i64, 2, 4];
        let got = gru.final_states(&x, &Tensor::from_slice(&lens), &h0, false);
        for (b, &len) in lens.iter().enumerate() {
            let seq = x.get(b as i64);
            let mut hf = h0.get(0).get(b as i64);
            for s in 0..len {
                hf = cell(&gru.forward, &seq.get(s), &hf);
            }
            let mut hb = h0.get(1).get(b as i64);
            for s in (0..len).rev() {
                hb = cell(&gru.backward, &seq.get(s), &hb);
            }
            let want = Tensor::cat(&[hf, hb], 0);
            let diff = (got.get(b as i64) - want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "sequence {b}: {diff}");
        }
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert!(
            names.contains(&"gru.weight_hh_l0_reverse".to_string()),
            "{names:?}"
        );
    }
}

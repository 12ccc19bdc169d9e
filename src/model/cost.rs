//! What a forward pass costs, counted from the model's shapes and the sizes of its weights
//! as loaded: bytes read per decoded token (the decode's speed limit against the machine's
//! read bandwidth, `crate::roofline`) and multiply-adds per prefilled token (the prefill's,
//! against the compute peak).

use super::Model;

/// The work of one decode step or one prefill, counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassCost {
    /// Weight bytes read: every projection, the LM head, and one embedding row per token.
    pub weight_bytes: u64,
    /// KV-cache bytes read and written by attention (keys and values of the model's
    /// default cache type, `Model::default_kv`).
    pub kv_bytes: u64,
    /// Multiply-adds of the projections and the LM head.
    pub matmul_macs: u64,
    /// Multiply-adds of attention (scores and the weighted sum of values).
    pub attention_macs: u64,
}

impl PassCost {
    pub fn bytes(&self) -> u64 {
        self.weight_bytes + self.kv_bytes
    }

    /// Floating-point or integer operations: two per multiply-add.
    pub fn ops(&self) -> u64 {
        2 * (self.matmul_macs + self.attention_macs)
    }
}

impl Model {
    /// The cost of running `tokens` tokens after `depth` already cached, with logits for
    /// the last one only (`Session::forward`): `tokens = 1` is a decode step, `depth = 0`
    /// a prefill. Each weight matrix is read once per pass.
    pub fn pass_cost(&self, depth: usize, tokens: usize) -> PassCost {
        let (c, w) = (&self.config, &self.weights);
        let t = tokens as u64;
        let mut weight_bytes = 0u64;
        let mut layer_macs = 0u64;
        for lw in &w.layers {
            let linears = [
                &lw.wq.w,
                &lw.wk.w,
                &lw.wv.w,
                &lw.wo.w,
                &lw.w_up.w,
                &lw.w_down.w,
            ]
            .into_iter()
            .chain(lw.w_gate.as_ref());
            for l in linears {
                weight_bytes += l.bytes() as u64;
                layer_macs += (l.rows * l.cols) as u64;
            }
        }
        let head = w.lm_head();
        weight_bytes += head.bytes() as u64 + t * (w.token_embd.bytes() / w.token_embd.rows) as u64;
        // Each query attends to the cached positions and itself, within its layer's window.
        let (mut attention_macs, mut kv_bytes) = (0u64, 0u64);
        let value_bytes = self.default_kv().size() as u64;
        for l in 0..c.n_layers {
            let window = c.window(l).unwrap_or(usize::MAX);
            let seen: u64 = (depth..depth + tokens)
                .map(|p| (p + 1).min(window) as u64)
                .sum();
            attention_macs += 2 * seen * c.q_dim() as u64;
            // Read once per query group's pass: keys and values of the longest span, plus
            // this pass's new rows written.
            let span = (depth + tokens).min(window) as u64;
            kv_bytes += 2 * value_bytes * c.kv_dim() as u64 * (span + t);
        }
        PassCost {
            weight_bytes,
            kv_bytes,
            matmul_macs: t * layer_macs + (head.rows * head.cols) as u64,
            attention_macs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ComputeMode, LoadOptions};

    #[test]
    fn counts_the_tiny_models_shapes() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/llama");
        let model = Model::from_hf_dir(
            &dir,
            LoadOptions {
                mode: ComputeMode::F32,
            },
        )
        .expect("tiny llama");
        let c = model.config().clone();
        let per_layer = c.q_dim() * c.dim * 2 + c.kv_dim() * c.dim * 2 + 3 * c.hidden_dim * c.dim;
        let head = c.vocab_size * c.dim;
        let d = model.pass_cost(10, 1);
        assert_eq!(d.matmul_macs, (c.n_layers * per_layer + head) as u64);
        // f32 mode: four bytes per weight.
        assert_eq!(
            d.weight_bytes,
            4 * (c.n_layers * per_layer + head + c.dim) as u64
        );
        assert_eq!(d.attention_macs, (c.n_layers * 2 * 11 * c.q_dim()) as u64);
        // Keys and values of 11 positions read and one written, 4 bytes each (f32 cache);
        // native mode's f16 cache, 2.
        let kv = (c.n_layers * 2 * c.kv_dim() * 12) as u64;
        assert_eq!(d.kv_bytes, 4 * kv);
        let native = Model::from_hf_dir(&dir, LoadOptions::default()).expect("tiny llama");
        assert_eq!(native.pass_cost(10, 1).kv_bytes, 2 * kv);
        let p = model.pass_cost(0, 4);
        assert_eq!(p.matmul_macs, (4 * c.n_layers * per_layer + head) as u64);
        assert_eq!(
            p.attention_macs,
            (c.n_layers * 2 * (1 + 2 + 3 + 4) * c.q_dim()) as u64
        );
    }
}

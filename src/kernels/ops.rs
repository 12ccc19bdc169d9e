//! Small element-wise and per-row kernels: RMSNorm, LayerNorm, RoPE, GELU, softmax,
//! and the f32 dot product the matmuls are built on.

/// Dot product of two equal-length slices.
///
/// Sixteen independent partial sums, combined in a fixed order: the compiler can keep
/// them in vector registers (float addition is not associative, so a plain `sum()` would
/// stay scalar), and the result does not depend on how callers split their work.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    const L: usize = 16;
    let mut acc = [0.0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..L {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    // Pairwise combination: 16 -> 8 -> 4 -> 2 -> 1.
    let mut w = L;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0] + tail
}

/// `out = x / rms(x) * weight` for each row of `dim` values (Zhang & Sennrich 2019).
/// `x` and `out` are `(rows, dim)`; `weight` is `(dim)`.
pub fn rmsnorm(out: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
    let dim = weight.len();
    debug_assert_eq!(out.len(), x.len());
    for (o, xr) in out.chunks_exact_mut(dim).zip(x.chunks_exact(dim)) {
        rms_scale(o, xr, weight, rms_inv(xr, eps));
    }
}

/// `1 / rms(x)` of one row, as `rmsnorm` computes it.
#[inline]
pub fn rms_inv(x: &[f32], eps: f32) -> f32 {
    let ss = dot(x, x) / x.len() as f32;
    1.0 / (ss + eps).sqrt()
}

/// `out = weight · (x · inv)` elementwise: a row of `rmsnorm`, or a piece of one.
#[inline]
pub fn rms_scale(out: &mut [f32], x: &[f32], weight: &[f32], inv: f32) {
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = w * (v * inv);
    }
}

/// How RoPE pairs up the dimensions of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(x[2i], x[2i+1])`: GGML's "normal" mode. GGUF Llama q/k weights are
    /// permuted at conversion so that this is right for them.
    Interleaved,
    /// Halves `(x[i], x[i + d/2])`: Hugging Face's `rotate_half` ("NeoX" mode), right for
    /// safetensors checkpoints.
    Neox,
}

/// The RoPE inverse frequencies `base^(-2i/d)` for `i < d/2`, computed in f32 as
/// Hugging Face does (`1 / base ** (arange(0, d, 2) / d)`).
pub fn rope_inv_freq(head_dim: usize, base: f32) -> Vec<f32> {
    (0..head_dim / 2)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32))
        .collect()
}

/// Fills `cos` and `sin` (each `(head_dim/2)`) with the rotation for position `pos`.
pub fn rope_angles(pos: usize, inv_freq: &[f32], cos: &mut [f32], sin: &mut [f32]) {
    for ((c, s), &f) in cos.iter_mut().zip(sin.iter_mut()).zip(inv_freq) {
        let angle = pos as f32 * f;
        *c = angle.cos();
        *s = angle.sin();
    }
}

/// Rotates every head of one token in place. `x` is `(n_heads, head_dim)`; `cos`/`sin`
/// are `(head_dim/2)` for this token's position.
pub fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32], style: RopeStyle) {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..half {
            let (a, b) = match style {
                RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                RopeStyle::Neox => (i, i + half),
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * cos[i] - x1 * sin[i];
            head[b] = x0 * sin[i] + x1 * cos[i];
        }
    }
}

/// `out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias` for each row of `dim`
/// values (LayerNorm, Ba et al. 2016). `x` and `out` are `(rows, dim)`.
pub fn layernorm(out: &mut [f32], x: &[f32], weight: &[f32], bias: &[f32], eps: f32) {
    let dim = weight.len();
    debug_assert_eq!(out.len(), x.len());
    for (o, xr) in out.chunks_exact_mut(dim).zip(x.chunks_exact(dim)) {
        let mean = xr.iter().sum::<f32>() / dim as f32;
        let var = xr.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / dim as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for (((o, &v), &w), &b) in o.iter_mut().zip(xr).zip(weight).zip(bias) {
            *o = (v - mean) * inv * w + b;
        }
    }
}

/// GELU with the tanh approximation (Hendrycks & Gimpel 2016; HF `gelu_pytorch_tanh`,
/// `gelu_new`): `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
#[inline]
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
}

/// Adds `bias` (`(n)`) to every row of `x` (`(rows, n)`).
pub fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        add_assign(row, bias);
    }
}

/// `x = cap * tanh(x / cap)`: squashes logits into `(-cap, cap)` (Gemma's soft-capping).
pub fn softcap(x: &mut [f32], cap: f32) {
    x.iter_mut().for_each(|v| *v = cap * (*v / cap).tanh());
}

/// `x += y`.
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// In-place softmax of one row.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum_on_awkward_lengths() {
        for n in [0usize, 1, 7, 15, 16, 17, 31, 33, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).cos()).collect();
            let naive: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64) * (*y as f64))
                .sum();
            assert!((dot(&a, &b) as f64 - naive).abs() < 1e-5, "n = {n}");
        }
    }

    #[test]
    fn rmsnorm_unit_rms() {
        let x = [3.0, 4.0];
        let mut out = [0.0; 2];
        rmsnorm(&mut out, &x, &[1.0, 2.0], 0.0);
        let rms = (12.5f32).sqrt();
        assert!((out[0] - 3.0 / rms).abs() < 1e-6);
        assert!((out[1] - 8.0 / rms).abs() < 1e-6);
    }

    #[test]
    fn rope_styles_pair_different_dims() {
        let (cos, sin) = ([0.0, 1.0], [1.0, 0.0]); // rotate pair 0 by 90°, pair 1 by 0°
        let mut x = [1.0, 2.0, 3.0, 4.0];
        rope(&mut x, 4, &cos, &sin, RopeStyle::Interleaved);
        assert_eq!(x, [-2.0, 1.0, 3.0, 4.0]);
        let mut x = [1.0, 2.0, 3.0, 4.0];
        rope(&mut x, 4, &cos, &sin, RopeStyle::Neox);
        assert_eq!(x, [-3.0, 2.0, 1.0, 4.0]);
    }

    #[test]
    fn rope_at_position_zero_is_identity() {
        let f = rope_inv_freq(8, 10000.0);
        let (mut c, mut s) = (vec![0.0; 4], vec![0.0; 4]);
        rope_angles(0, &f, &mut c, &mut s);
        let mut x: Vec<f32> = (0..8).map(|i| i as f32).collect();
        rope(&mut x, 8, &c, &s, RopeStyle::Interleaved);
        assert_eq!(x, (0..8).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(f[0], 1.0);
        assert!((f[1] - 0.1).abs() < 1e-7);
    }

    #[test]
    fn layernorm_gelu_softcap() {
        let x = [1.0, 3.0];
        let mut out = [0.0; 2];
        layernorm(&mut out, &x, &[2.0, 1.0], &[0.5, 0.0], 0.0);
        assert_eq!(out, [-1.5, 1.0]);
        assert_eq!(gelu_tanh(0.0), 0.0);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-5);
        assert!((gelu_tanh(-3.0) + 0.003_637_4).abs() < 1e-6);
        let mut l = [0.0, 100.0, -1.0];
        softcap(&mut l, 10.0);
        assert!(l[0] == 0.0 && l[1] <= 10.0 && l[1] > 9.99 && (l[2] + 0.996_68).abs() < 1e-4);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = [1.0, 1.0, 1.0, 1.0];
        softmax(&mut x);
        assert_eq!(x, [0.25; 4]);
    }
}

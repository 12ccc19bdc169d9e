//! Choosing the next token from logits: greedy or temperature sampling with a seeded RNG.
//!
//! The same seed gives the same tokens on every run and thread count: the RNG is
//! sequential and the logits are bit-identical across thread counts.

use crate::error::{Error, Result};

/// Settings of a `Sampler`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// 0 picks the most likely token (greedy); otherwise logits are divided by it.
    pub temperature: f32,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.0,
            seed: 0x5EED,
        }
    }
}

/// SplitMix64 (Steele et al. 2014): tiny, fast, and good enough to draw tokens.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Picks tokens from logits.
#[derive(Clone, Debug)]
pub struct Sampler {
    config: SamplerConfig,
    rng: Rng,
    probs: Vec<f64>,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Result<Sampler> {
        if !(config.temperature >= 0.0 && config.temperature.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "temperature {} must be a finite number ≥ 0",
                config.temperature
            )));
        }
        Ok(Sampler {
            config,
            rng: Rng::new(config.seed),
            probs: Vec::new(),
        })
    }

    pub fn config(&self) -> SamplerConfig {
        self.config
    }

    /// The next token for `logits` (one score per vocabulary entry).
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.config.temperature == 0.0 {
            return argmax(logits);
        }
        // softmax(logits / T) in f64, then invert the CDF at a uniform draw.
        let inv_t = 1.0 / self.config.temperature as f64;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        self.probs.clear();
        self.probs
            .extend(logits.iter().map(|&l| ((l as f64 - max) * inv_t).exp()));
        let total: f64 = self.probs.iter().sum();
        let mut u = self.rng.next_f64() * total;
        for (i, &p) in self.probs.iter().enumerate() {
            if u < p {
                return i as u32;
            }
            u -= p;
        }
        // Rounding left u just past the end: the last token with any mass.
        self.probs.iter().rposition(|&p| p > 0.0).unwrap_or(0) as u32
    }
}

/// Index of the largest logit; the lowest index on ties (as `torch.argmax`). NaN never wins.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_first_max() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.5]), 1);
        let mut s = Sampler::new(SamplerConfig::default()).unwrap();
        assert_eq!(s.sample(&[0.0, 0.1, 5.0]), 2);
    }

    #[test]
    fn temperature_follows_the_distribution_and_the_seed() {
        // logits ln(1), ln(3): probabilities 0.25 / 0.75 at T = 1.
        let logits = [0.0f32, 3f32.ln()];
        let mut s = Sampler::new(SamplerConfig {
            temperature: 1.0,
            seed: 42,
        })
        .unwrap();
        let n = 20_000;
        let ones = (0..n).filter(|_| s.sample(&logits) == 1).count();
        let frac = ones as f64 / n as f64;
        assert!((frac - 0.75).abs() < 0.02, "{frac}");
        // Same seed, same draws.
        let mut a = Sampler::new(SamplerConfig {
            temperature: 0.7,
            seed: 7,
        })
        .unwrap();
        let mut b = Sampler::new(SamplerConfig {
            temperature: 0.7,
            seed: 7,
        })
        .unwrap();
        let l: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        for _ in 0..100 {
            assert_eq!(a.sample(&l), b.sample(&l));
        }
    }

    #[test]
    fn bad_temperature_is_an_error() {
        for t in [-1.0, f32::NAN, f32::INFINITY] {
            assert!(Sampler::new(SamplerConfig {
                temperature: t,
                seed: 0
            })
            .is_err());
        }
    }
}

//! Choosing the next token from logits: logit bias, repetition penalties, top-k,
//! typical-p, top-p, min-p and temperature (the filters in `filters.rs`), then a seeded
//! draw, or the argmax when the temperature is 0.
//!
//! The same seed gives the same tokens on every run and thread count: the RNG is
//! sequential and the logits are bit-identical across thread counts.

pub mod filters;

use std::collections::VecDeque;

use crate::error::{Error, Result};

/// Settings of a `Sampler`; the defaults turn every filter off and sample greedily.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// 0 picks the most likely token (greedy); otherwise logits are divided by it.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0: off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p` (1: off).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (0: off).
    pub min_p: f32,
    /// Locally typical sampling mass (1: off).
    pub typical_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens by this (1: off).
    pub repeat_penalty: f32,
    /// Subtract `count × frequency_penalty` from recent tokens' logits (0: off).
    pub frequency_penalty: f32,
    /// Subtract `presence_penalty` from every recent token's logit (0: off).
    pub presence_penalty: f32,
    /// How many of the last tokens the penalties look at.
    pub repeat_last_n: usize,
    /// Added to the logits of the given tokens before anything else.
    pub logit_bias: Vec<(u32, f32)>,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            typical_p: 1.0,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            repeat_last_n: 64,
            logit_bias: Vec::new(),
            seed: 0x5EED,
        }
    }
}

impl SamplerConfig {
    /// Checks every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, v: f32, range: &str| {
            Err(Error::InvalidArgument(format!(
                "{name} {v} must be {range}"
            )))
        };
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature", self.temperature, "a finite number ≥ 0");
        }
        for (name, v) in [
            ("top_p", self.top_p),
            ("min_p", self.min_p),
            ("typical_p", self.typical_p),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(name, v, "between 0 and 1");
            }
        }
        if !(self.repeat_penalty > 0.0 && self.repeat_penalty.is_finite()) {
            return bad("repeat_penalty", self.repeat_penalty, "a finite number > 0");
        }
        for (name, v) in [
            ("frequency_penalty", self.frequency_penalty),
            ("presence_penalty", self.presence_penalty),
        ] {
            if !v.is_finite() {
                return bad(name, v, "finite");
            }
        }
        if let Some(&(id, b)) = self
            .logit_bias
            .iter()
            .find(|(_, b)| b.is_nan() || *b == f32::INFINITY)
        {
            return Err(Error::InvalidArgument(format!(
                "logit bias {b} for token {id} must be a number or -inf"
            )));
        }
        Ok(())
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

/// Picks tokens from logits, remembering recent tokens for the penalties.
#[derive(Clone, Debug)]
pub struct Sampler {
    config: SamplerConfig,
    rng: Rng,
    /// The last `repeat_last_n` accepted tokens.
    recent: VecDeque<u32>,
    /// (vocab_size) scratch copy of the logits, biased and penalised.
    scratch: Vec<f32>,
    /// (repeat_last_n) the recent tokens, sorted for counting.
    recent_sorted: Vec<u32>,
    /// (≤ vocab_size) the candidates and the filters' scratch.
    cands: filters::Candidates,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Result<Sampler> {
        config.validate()?;
        // Room for the whole penalty window up front (within reason), so that accepting
        // tokens does not allocate as the window fills.
        let window = config.repeat_last_n.min(1 << 12);
        Ok(Sampler {
            rng: Rng::new(config.seed),
            recent: VecDeque::with_capacity(window),
            scratch: Vec::new(),
            recent_sorted: Vec::with_capacity(window),
            cands: filters::Candidates::default(),
            config,
        })
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Records a token as part of the text (prompt or generated), for the penalties.
    pub fn accept(&mut self, token: u32) {
        if self.config.repeat_last_n == 0 {
            return;
        }
        if self.recent.len() == self.config.repeat_last_n {
            self.recent.pop_front();
        }
        self.recent.push_back(token);
    }

    /// Forgets the recent tokens (the RNG state is kept).
    pub fn reset(&mut self) {
        self.recent.clear();
    }

    /// The next token for `logits` (one score per vocabulary entry). Does not `accept` it.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::InvalidArgument(
                "sampling from an empty list of logits".into(),
            ));
        }
        let c = &self.config;
        let neutral = c.logit_bias.is_empty()
            && c.repeat_penalty == 1.0
            && c.frequency_penalty == 0.0
            && c.presence_penalty == 0.0;
        if c.temperature == 0.0 && neutral {
            // Greedy with nothing to adjust: no copy of the logits (Gemma 3's are 1 MB).
            return Ok(argmax(logits));
        }
        // Bias and penalties change a copy; without them the logits are read in place.
        let l: &[f32] = if neutral {
            logits
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(logits);
            let l = &mut self.scratch;
            filters::logit_bias(l, &c.logit_bias);
            self.recent_sorted.clear();
            self.recent_sorted.extend(self.recent.iter());
            filters::penalties(
                l,
                &mut self.recent_sorted,
                c.repeat_penalty,
                c.frequency_penalty,
                c.presence_penalty,
            );
            if c.temperature == 0.0 {
                return Ok(argmax(l));
            }
            l
        };
        let cands = &mut self.cands;
        if c.top_k > 0 && c.top_k < l.len() {
            // The k best in one pass (Gemma 3's 262,144 logits are never copied).
            cands.fill_top_k(l, c.top_k);
        } else {
            cands.fill(l);
        }
        filters::top_k(cands, c.top_k);
        filters::typical_p(cands, c.typical_p);
        filters::top_p(cands, c.top_p);
        filters::min_p(cands, c.min_p);
        filters::temperature(cands, c.temperature);
        Ok(filters::draw(cands, self.rng.next_f64()))
    }
}

/// The largest value of `x`, ignoring NaN (`-inf` if there is none), in `LANES`
/// independent lanes the compiler keeps in vector registers: a one-value loop is a chain
/// of dependent compares. Long slices want more lanes in flight (argmax: 16); 64-value
/// blocks, a shorter tail to fold (`Candidates::fill_top_k`: 8, 20% faster there).
pub(crate) fn max_ignoring_nan<const LANES: usize>(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            // NaN compares false, so it never replaces a lane's value.
            *m = if v > *m { v } else { *m };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Index of the largest logit; the lowest index on ties (as `torch.argmax`). NaN never wins.
///
/// Two passes the compiler vectorises: the largest value (`max_ignoring_nan`), then the
/// first index holding it.
pub fn argmax(logits: &[f32]) -> u32 {
    let top = max_ignoring_nan::<16>(logits);
    // Every value is NaN or −∞: the first non-NaN wins (index 0 if all are NaN).
    let pick = |v: f32| {
        if top == f32::NEG_INFINITY {
            !v.is_nan()
        } else {
            v == top
        }
    };
    logits.iter().position(|&v| pick(v)).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_first_max() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.5]), 1);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
        assert_eq!(argmax(&[f32::NAN, f32::NEG_INFINITY, f32::NEG_INFINITY]), 1);
        assert_eq!(argmax(&[-2.0]), 0);
        // Long enough for the lanes and a remainder: the first of two equal maxima.
        let mut v: Vec<f32> = (0..1000).map(|i| ((i * 37 % 101) as f32).sin()).collect();
        v[517] = 9.0;
        v[903] = 9.0;
        v[12] = f32::NAN;
        assert_eq!(argmax(&v), 517);
        v[998] = 9.5;
        assert_eq!(argmax(&v), 998);
        let mut s = Sampler::new(SamplerConfig::default()).unwrap();
        assert_eq!(s.sample(&[0.0, 0.1, 5.0]).unwrap(), 2);
        // A repetition penalty of 100 on token 2 makes token 1 the argmax.
        let mut s = Sampler::new(SamplerConfig {
            repeat_penalty: 100.0,
            ..Default::default()
        })
        .unwrap();
        s.accept(2);
        assert_eq!(s.sample(&[0.0, 0.1, 5.0]).unwrap(), 1);
        // The penalty window forgets old tokens.
        let mut s = Sampler::new(SamplerConfig {
            repeat_penalty: 100.0,
            repeat_last_n: 2,
            ..Default::default()
        })
        .unwrap();
        for t in [2, 0, 0] {
            s.accept(t);
        }
        assert_eq!(s.sample(&[0.0, 0.1, 5.0]).unwrap(), 2);
    }

    #[test]
    fn temperature_follows_the_distribution_and_the_seed() {
        // logits ln(1), ln(3): probabilities 0.25 / 0.75 at T = 1.
        let logits = [0.0f32, 3f32.ln()];
        let mut s = Sampler::new(SamplerConfig {
            temperature: 1.0,
            seed: 42,
            ..Default::default()
        })
        .unwrap();
        let n = 20_000;
        let ones = (0..n).filter(|_| s.sample(&logits).unwrap() == 1).count();
        let frac = ones as f64 / n as f64;
        assert!((frac - 0.75).abs() < 0.02, "{frac}");
        // Same seed, same draws.
        let mut a = Sampler::new(SamplerConfig {
            temperature: 0.7,
            seed: 7,
            ..Default::default()
        })
        .unwrap();
        let mut b = Sampler::new(SamplerConfig {
            temperature: 0.7,
            seed: 7,
            ..Default::default()
        })
        .unwrap();
        let l: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        for _ in 0..100 {
            assert_eq!(a.sample(&l).unwrap(), b.sample(&l).unwrap());
        }
    }

    #[test]
    fn empty_logits_are_an_error() {
        for temperature in [0.0, 1.0] {
            let mut s = Sampler::new(SamplerConfig {
                temperature,
                ..Default::default()
            })
            .unwrap();
            assert!(s.sample(&[]).is_err());
        }
    }

    #[test]
    fn bad_temperature_is_an_error() {
        for t in [-1.0, f32::NAN, f32::INFINITY] {
            assert!(Sampler::new(SamplerConfig {
                temperature: t,
                seed: 0,
                ..Default::default()
            })
            .is_err());
        }
    }
}

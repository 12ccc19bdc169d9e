//! The samplers, each a small function over logits or a candidate list, composed in
//! `Sampler::sample` in llama.cpp's order: logit bias, penalties, top-k, typical-p,
//! top-p, min-p, temperature, then a draw.
//!
//! A `Candidates` list holds `(token, logit)` pairs and owns its scratch buffers, so a
//! sampler that keeps one allocates nothing per token once warm. The list is sorted best
//! first only when a filter needs the order: top-k sorts its `k` survivors, top-p sorts
//! the smallest prefix that holds its mass (found by selection, not by sorting the whole
//! vocabulary; Gemma's has 262,144 entries), typical-p re-sorts what it keeps. With those
//! filters off, sampling is three linear passes: build, softmax, draw. Every filter keeps
//! at least one token.

use crate::kernels::cpu::isa;
use crate::kernels::simd::exp_shift_sum;

/// `(token id, logit)` pairs still in the running, with scratch for the filters.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    /// (n) the candidates; best first when `sorted`, else in token-id order.
    pub list: Vec<(u32, f32)>,
    sorted: bool,
    /// (n) softmax of `list`, in its order (scratch for the filters that need it).
    probs: Vec<f32>,
    /// (n) typical-p's (distance, index) order (scratch).
    order: Vec<(f32, u32)>,
}

/// Best first: higher logit, ties by lower id.
fn better(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

impl Candidates {
    /// Every token of `logits` as a candidate, in id order; a NaN logit counts as `-inf`.
    /// Reuses this value's buffers.
    pub fn fill(&mut self, logits: &[f32]) {
        self.list.clear();
        self.list.extend(
            logits
                .iter()
                .enumerate()
                .map(|(i, &l)| (i as u32, if l.is_nan() { f32::NEG_INFINITY } else { l })),
        );
        self.sorted = false;
    }

    /// The `k` best tokens of `logits` (`0 < k < logits.len()`), sorted best first: the
    /// same list as `fill` then `top_k`, in one pass that never copies the vocabulary.
    ///
    /// The list collects candidates until it holds `4k` (at least 256), then keeps its `k`
    /// best; from then on a token enters only if it beats the `k`-th best so far, and a
    /// block of 64 logits whose maximum does not is skipped after one vectorised max. On
    /// a vocabulary in any order only a few hundred tokens ever enter (about
    /// `k·ln(n/k)`), so Gemma 3's 262,144 logits cost one read.
    pub fn fill_top_k(&mut self, logits: &[f32], k: usize) {
        debug_assert!(k > 0 && k < logits.len());
        const BLOCK: usize = 64;
        let cap = (4 * k).max(256);
        self.list.clear();
        self.sorted = false;
        // The k-th best logit once the list has been cut to k (ties go to the lower id,
        // which came first, so a later equal logit never enters).
        let mut bar: Option<f32> = None;
        for (b, block) in logits.chunks(BLOCK).enumerate() {
            if let Some(bar) = bar {
                // NaN never passes `>`, as a NaN logit counts as −∞.
                if super::max_ignoring_nan::<8>(block) <= bar {
                    continue;
                }
            }
            for (j, &l) in block.iter().enumerate() {
                let l = if l.is_nan() { f32::NEG_INFINITY } else { l };
                if bar.is_none_or(|bar| l > bar) {
                    self.list.push(((b * BLOCK + j) as u32, l));
                    if self.list.len() == cap {
                        self.list.select_nth_unstable_by(k - 1, better);
                        self.list.truncate(k);
                        bar = Some(self.list[k - 1].1);
                    }
                }
            }
        }
        // At least k entered (the logits outnumber k); the best k, sorted.
        self.sort_prefix(0, k);
        self.truncate(k);
        self.sorted = true;
    }

    /// A sorted list of every token (tests and small vocabularies).
    pub fn sorted_from(logits: &[f32]) -> Candidates {
        let mut c = Candidates::default();
        c.fill(logits);
        c.sort();
        c
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The candidate ids, in the list's order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.list.iter().map(|x| x.0)
    }

    /// Sorts best first (no-op when already sorted).
    pub fn sort(&mut self) {
        if !self.sorted {
            self.list.sort_unstable_by(better);
            self.sorted = true;
        }
    }

    /// Given the `done` best already sorted at the front, moves the next best up to `k`
    /// in total after them, sorted, leaving the rest unordered. Linear in the length of
    /// the unsorted rest plus `k log k`.
    fn sort_prefix(&mut self, done: usize, k: usize) {
        if self.sorted {
            return;
        }
        if k >= self.list.len() {
            self.list[done..].sort_unstable_by(better);
            self.sorted = true;
            return;
        }
        let rest = &mut self.list[done..];
        rest.select_nth_unstable_by(k - done, better);
        rest[..k - done].sort_unstable_by(better);
    }

    fn truncate(&mut self, n: usize) {
        self.list.truncate(n.max(1));
    }

    /// The largest logit (`-inf` for an empty list).
    fn max_logit(&self) -> f32 {
        self.list
            .iter()
            .map(|x| x.1)
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// Fills `self.probs` with `exp(logit - max)` of the list, in its order (one SIMD
    /// pass); returns `max` and the weights' sum.
    fn exp_weights(&mut self) -> (f32, f32) {
        let max = self.max_logit();
        self.probs.clear();
        if !max.is_finite() {
            // All -inf (or +inf somewhere): every candidate weighs the same.
            self.probs.resize(self.list.len(), 1.0);
            return (max, self.list.len() as f32);
        }
        self.probs.extend(self.list.iter().map(|x| x.1));
        (max, exp_shift_sum(isa(), &mut self.probs, max))
    }

    /// Fills `self.probs` with the softmax of the list, in its order.
    fn softmax(&mut self) {
        let (_, sum) = self.exp_weights();
        self.probs.iter_mut().for_each(|p| *p /= sum);
    }

    /// The softmax of the list, in its order.
    pub fn probs(&mut self) -> &[f32] {
        self.softmax();
        &self.probs
    }
}

/// Adds `bias` to the logits of the listed tokens (ids outside the vocabulary are ignored;
/// `-inf` bans a token).
pub fn logit_bias(logits: &mut [f32], bias: &[(u32, f32)]) {
    for &(id, b) in bias {
        if let Some(l) = logits.get_mut(id as usize) {
            *l += b;
        }
    }
}

/// Penalises tokens seen in `recent` (llama.cpp `penalties`, after CTRL, Keskar et al.
/// 2019, and OpenAI's frequency/presence penalties): a positive logit is divided by
/// `repeat` and a negative one multiplied by it; then `count · frequency + presence` is
/// subtracted for each token that occurs `count > 0` times. `recent` is sorted in place
/// (its order does not matter to the result).
pub fn penalties(
    logits: &mut [f32],
    recent: &mut [u32],
    repeat: f32,
    frequency: f32,
    presence: f32,
) {
    if recent.is_empty() || (repeat == 1.0 && frequency == 0.0 && presence == 0.0) {
        return;
    }
    recent.sort_unstable();
    for run in recent.chunk_by(|a, b| a == b) {
        let Some(l) = logits.get_mut(run[0] as usize) else {
            continue;
        };
        *l = if *l > 0.0 { *l / repeat } else { *l * repeat };
        *l -= run.len() as f32 * frequency + presence;
    }
}

/// Keeps the `k` most likely, sorted (0 keeps all, unsorted). Linear in the list's length
/// for small `k`: a selection, then a sort of the survivors.
pub fn top_k(c: &mut Candidates, k: usize) {
    if k == 0 || k >= c.len() {
        return;
    }
    c.sort_prefix(0, k);
    c.truncate(k);
    c.sorted = true;
}

/// Nucleus sampling (Holtzman et al. 2019): keeps the smallest set of best tokens whose
/// probability mass reaches `p`; `p >= 1` keeps all. On an unsorted list the best 64,
/// 256, 1024, … are selected and sorted until their mass reaches `p`, so a peaked
/// distribution never sorts the whole vocabulary.
pub fn top_p(c: &mut Candidates, p: f32) {
    if p >= 1.0 || c.is_empty() {
        return;
    }
    // The softmax's sum over the whole list, accumulated in f64 (an f32 sum over 10⁵
    // tail tokens drifts past their size), then each prefix token's weight again.
    let (max, _) = c.exp_weights();
    let sum = sum_f64(&c.probs);
    let prob = |l: f32| {
        if max.is_finite() {
            ((l - max) as f64).exp()
        } else {
            1.0
        }
    };
    let target = p as f64 * sum;
    let (mut done, mut cum) = (0, 0.0);
    let mut k = 64;
    loop {
        let k_now = k.min(c.len());
        c.sort_prefix(done, k_now);
        for (i, x) in c.list[..k_now].iter().enumerate().skip(done) {
            cum += prob(x.1);
            if cum >= target {
                c.truncate(i + 1);
                c.sorted = true;
                return;
            }
        }
        if k_now == c.len() {
            // Rounding kept the total just under p: keep everything.
            c.sorted = true;
            return;
        }
        (done, k) = (k_now, k * 4);
    }
}

/// `Σ x` in f64, eight lanes at a time.
fn sum_f64(x: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| v as f64).sum();
    for ch in chunks {
        for (l, &v) in lanes.iter_mut().zip(ch) {
            *l += v as f64;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// Keeps tokens whose probability is at least `p` times the best one's; `p <= 0` keeps
/// all. The list's order is kept.
pub fn min_p(c: &mut Candidates, p: f32) {
    if p <= 0.0 || c.is_empty() {
        return;
    }
    // p_i ≥ p · p_max  ⟺  logit_i ≥ logit_max + ln p.
    let threshold = c.max_logit() + p.ln();
    if c.sorted {
        let keep = c.list.iter().take_while(|x| x.1 >= threshold).count();
        c.truncate(keep);
    } else {
        // The best token always passes (ln p ≤ 0), so the list never empties.
        c.list.retain(|x| x.1 >= threshold);
    }
}

/// Locally typical sampling (Meister et al. 2022): orders tokens by how far their
/// surprisal is from the distribution's entropy and keeps the closest ones until their
/// mass reaches `p`. The result is sorted by logit. `p >= 1` keeps all.
pub fn typical_p(c: &mut Candidates, p: f32) {
    if p >= 1.0 || c.len() <= 1 {
        return;
    }
    c.softmax();
    let entropy: f32 = c
        .probs
        .iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| -x * x.ln())
        .sum();
    c.order.clear();
    c.order.extend(
        c.probs
            .iter()
            .enumerate()
            .map(|(i, &x)| ((-x.ln() - entropy).abs(), i as u32)),
    );
    // Ties by token id, whatever the list's order.
    let list = &c.list;
    c.order.sort_unstable_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(list[a.1 as usize].0.cmp(&list[b.1 as usize].0))
    });
    let mut cum = 0.0;
    let mut keep = c.order.len();
    for (n, &(_, i)) in c.order.iter().enumerate() {
        cum += c.probs[i as usize];
        if cum >= p {
            keep = n + 1;
            break;
        }
    }
    // Keep the chosen indices, compacting the list in place.
    c.order.truncate(keep.max(1));
    c.order.sort_unstable_by_key(|&(_, i)| i);
    let mut next = 0;
    let mut w = 0;
    for r in 0..c.list.len() {
        if next < c.order.len() && c.order[next].1 as usize == r {
            c.list[w] = c.list[r];
            w += 1;
            next += 1;
        }
    }
    c.list.truncate(w);
    c.sorted = false;
    c.sort();
}

/// Divides the logits by `t` (> 0).
pub fn temperature(c: &mut Candidates, t: f32) {
    c.list.iter_mut().for_each(|x| x.1 /= t);
}

/// Draws a token from the softmax of the candidates with a uniform `u` in [0, 1), walking
/// the list in its order.
pub fn draw(c: &mut Candidates, u: f64) -> u32 {
    // Unnormalised weights against u scaled by their sum: one pass fewer.
    let (_, sum) = c.exp_weights();
    let mut u = u as f32 * sum;
    for (x, &p) in c.list.iter().zip(&c.probs) {
        if u < p {
            return x.0;
        }
        u -= p;
    }
    // Rounding left u just past the end: the last candidate with any mass.
    c.list
        .iter()
        .zip(&c.probs)
        .rev()
        .find(|(_, &p)| p > 0.0)
        .map_or(c.list[0].0, |(x, _)| x.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(c: &Candidates) -> Vec<u32> {
        c.ids().collect()
    }

    /// Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 for tokens 0..5.
    fn halving() -> Candidates {
        Candidates::sorted_from(&[
            0.5f32.ln(),
            0.25f32.ln(),
            0.125f32.ln(),
            0.0625f32.ln(),
            0.0625f32.ln(),
        ])
    }

    #[test]
    fn bias_and_penalties() {
        let mut l = vec![2.0, -2.0, 1.0, 0.0];
        logit_bias(&mut l, &[(3, 5.0), (99, 1.0)]);
        assert_eq!(l, [2.0, -2.0, 1.0, 5.0]);
        let mut l = vec![2.0, -2.0, 1.0, 0.5];
        penalties(&mut l, &mut [3, 1, 0, 1], 2.0, 0.1, 0.5);
        // token 0: 2/2 - 0.1 - 0.5; token 1: -2*2 - 0.2 - 0.5; token 2 unseen; token 3: 0.25 - 0.6
        let want = [0.4, -4.7, 1.0, -0.35];
        for (a, b) in l.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{l:?}");
        }
    }

    #[test]
    fn sorting_and_top_k() {
        let mut c = Candidates::sorted_from(&[1.0, 3.0, f32::NAN, 3.0, 2.0]);
        assert_eq!(ids(&c), [1, 3, 4, 0, 2]);
        top_k(&mut c, 2);
        assert_eq!(ids(&c), [1, 3]);
        top_k(&mut c, 0);
        assert_eq!(c.len(), 2);
        let l = [0.5, 3.0, -1.0, 3.0, 2.0, 7.0];
        let mut c = Candidates::default();
        c.fill(&l);
        top_k(&mut c, 3);
        assert_eq!(ids(&c), [5, 1, 3]);
        // Off: every token, in id order (no sort).
        c.fill(&l);
        top_k(&mut c, 0);
        assert_eq!(ids(&c), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn one_pass_top_k_keeps_what_fill_and_top_k_keep() {
        // Random vocabularies, one with many ties and NaN / ±∞ entries, one all −∞ and
        // NaN, one ascending (every block beats the bar: the worst case for the pass).
        let mut cases: Vec<Vec<f32>> = (0..4).map(|s| vocab(5_000 + 997 * s as usize, s)).collect();
        cases.push(
            (0..3_000)
                .map(|i| match i % 7 {
                    0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    2 if i % 1000 == 2 => f32::INFINITY,
                    _ => (i % 13) as f32,
                })
                .collect(),
        );
        cases.push(
            (0..700)
                .map(|i| {
                    if i % 2 == 0 {
                        f32::NAN
                    } else {
                        f32::NEG_INFINITY
                    }
                })
                .collect(),
        );
        cases.push((0..5_000).map(|i| i as f32 * 0.01).collect());
        for l in &cases {
            for k in [1, 2, 40, 63, 64, 65, 300, l.len() - 1] {
                let mut want = Candidates::default();
                want.fill(l);
                top_k(&mut want, k);
                let mut got = Candidates::default();
                got.fill_top_k(l, k);
                assert_eq!(ids(&got), ids(&want), "k {k}");
                assert!(got
                    .list
                    .iter()
                    .zip(&want.list)
                    .all(|(a, b)| a.1.to_bits() == b.1.to_bits()));
                assert!(got.sorted);
            }
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_nucleus() {
        let mut c = halving();
        top_p(&mut c, 0.7);
        assert_eq!(ids(&c), [0, 1]); // 0.5 < 0.7 <= 0.75
        let mut c = halving();
        top_p(&mut c, 0.74);
        assert_eq!(ids(&c), [0, 1]);
        let mut c = halving();
        top_p(&mut c, 0.76);
        assert_eq!(ids(&c), [0, 1, 2]);
        let mut c = halving();
        top_p(&mut c, 0.0);
        assert_eq!(ids(&c), [0]);
        let mut c = halving();
        top_p(&mut c, 1.0);
        assert_eq!(c.len(), 5);
    }

    #[test]
    fn min_p_is_relative_to_the_best() {
        let mut c = halving();
        min_p(&mut c, 0.25); // keeps p >= 0.125
        assert_eq!(ids(&c), [0, 1, 2]);
        let mut c = halving();
        min_p(&mut c, 0.9);
        assert_eq!(ids(&c), [0]);
    }

    #[test]
    fn typical_p_prefers_tokens_near_the_entropy() {
        // Entropy of halving() = 1.2997 nats; surprisals 0.693, 1.386, 2.079, 2.773, 2.773
        // are 0.607, 0.087, 0.780, 1.473, 1.473 away from it: token 1 first (mass 0.25 <
        // 0.3), then token 0 (0.75 >= 0.3).
        let mut c = halving();
        typical_p(&mut c, 0.3);
        assert_eq!(ids(&c), [0, 1]);
        let mut c = halving();
        typical_p(&mut c, 0.2);
        assert_eq!(ids(&c), [1]);
    }

    #[test]
    fn draw_follows_the_probabilities() {
        let mut c = halving();
        assert_eq!(draw(&mut c, 0.0), 0);
        assert_eq!(draw(&mut c, 0.49), 0);
        assert_eq!(draw(&mut c, 0.51), 1);
        assert_eq!(draw(&mut c, 0.76), 2);
        assert_eq!(draw(&mut c, 0.999), 4);
        let mut t = halving();
        temperature(&mut t, 0.5); // squares the probabilities, renormalised
        let p = t.probs();
        assert!((p[0] - 0.25 / (0.25 + 0.0625 + 0.015625 + 2.0 * 0.00390625)).abs() < 1e-6);
    }

    /// A vocabulary-sized list of logits with a few likely tokens and a long flat tail.
    fn vocab(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::sampling::Rng::new(seed);
        (0..n)
            .map(|_| {
                let u = rng.next_f64() as f32;
                if u > 0.999 {
                    8.0 + 4.0 * u
                } else {
                    10.0 * u - 5.0
                }
            })
            .collect()
    }

    #[test]
    fn unsorted_filters_keep_what_a_full_sort_keeps() {
        for seed in 0..6 {
            let l = vocab(20_000, seed);
            // The reference: sort everything, smallest prefix whose mass reaches p (f64).
            let all = Candidates::sorted_from(&l);
            let max = all.list[0].1;
            let e: Vec<f64> = all
                .list
                .iter()
                .map(|x| ((x.1 - max) as f64).exp())
                .collect();
            let total: f64 = e.iter().sum();
            for p in [0.0, 0.3, 0.9, 0.99, 0.999_9] {
                let mut fast = Candidates::default();
                fast.fill(&l);
                top_p(&mut fast, p);
                // The best tokens in order, and the smallest such set whose mass reaches
                // p (up to the rounding of a sum over 20,000 floats).
                let got = ids(&fast);
                let n = got.len();
                assert!(all.ids().take(n).eq(got.iter().copied()), "top_p {p}");
                let mass = |n: usize| e[..n].iter().sum::<f64>() / total;
                let p = p as f64;
                assert!(mass(n) >= p - 1e-6, "top_p {p}: {} short", p - mass(n));
                assert!(n == 1 || mass(n - 1) < p + 1e-6, "top_p {p}: one too many");
            }
            for p in [0.01, 0.2, 0.9] {
                let mut full = Candidates::sorted_from(&l);
                min_p(&mut full, p);
                let mut fast = Candidates::default();
                fast.fill(&l);
                min_p(&mut fast, p);
                let mut b = ids(&fast);
                b.sort_unstable_by(|x, y| l[*y as usize].total_cmp(&l[*x as usize]).then(x.cmp(y)));
                assert_eq!(ids(&full), b, "min_p {p}");
            }
        }
    }

    #[test]
    fn unsorted_draws_follow_the_same_distribution() {
        // 200 tokens, drawn from in id order and best first: both match the softmax.
        let l: Vec<f32> = (0..200).map(|i| 3.0 * (i as f32 * 0.37).sin()).collect();
        let mut want = Candidates::default();
        want.fill(&l);
        let p: Vec<f32> = want.probs().to_vec();
        let mut rng = crate::sampling::Rng::new(5);
        let n = 100_000;
        for sorted in [false, true] {
            let mut hits = vec![0u32; l.len()];
            let mut c = Candidates::default();
            for _ in 0..n {
                c.fill(&l);
                if sorted {
                    c.sort();
                }
                hits[draw(&mut c, rng.next_f64()) as usize] += 1;
            }
            // Total variation distance between the draws and the softmax.
            let tv: f32 = hits
                .iter()
                .zip(&p)
                .map(|(&h, &q)| (h as f32 / n as f32 - q).abs())
                .sum::<f32>()
                / 2.0;
            assert!(tv < 0.05, "sorted {sorted}: total variation {tv}");
        }
    }
}

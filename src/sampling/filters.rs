//! The samplers, each a small function over logits or a candidate list, composed in
//! `Sampler::sample` in llama.cpp's order: logit bias, penalties, top-k, typical-p,
//! top-p, min-p, temperature, then a draw.
//!
//! A candidate list holds `(token, logit)` pairs; the filters that need probabilities
//! compute the softmax of the list they are given. Every filter keeps at least one token.

/// `(token id, logit)` pairs still in the running.
pub type Candidates = Vec<(u32, f32)>;

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
/// subtracted for each token that occurs `count > 0` times.
pub fn penalties(logits: &mut [f32], recent: &[u32], repeat: f32, frequency: f32, presence: f32) {
    if recent.is_empty() || (repeat == 1.0 && frequency == 0.0 && presence == 0.0) {
        return;
    }
    let mut counts: Vec<(u32, u32)> = Vec::with_capacity(recent.len());
    let mut sorted = recent.to_vec();
    sorted.sort_unstable();
    for t in sorted {
        match counts.last_mut() {
            Some((id, c)) if *id == t => *c += 1,
            _ => counts.push((t, 1)),
        }
    }
    for (id, count) in counts {
        let Some(l) = logits.get_mut(id as usize) else {
            continue;
        };
        *l = if *l > 0.0 { *l / repeat } else { *l * repeat };
        *l -= count as f32 * frequency + presence;
    }
}

/// All tokens as candidates, best first. A NaN logit counts as `-inf`.
pub fn candidates(logits: &[f32]) -> Candidates {
    let mut c: Candidates = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, if l.is_nan() { f32::NEG_INFINITY } else { l }))
        .collect();
    sort(&mut c);
    c
}

/// Sorts by logit, best first; ties by lower id.
pub fn sort(c: &mut Candidates) {
    c.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// The `k` most likely tokens (all if `k` is 0), best first. Selecting before sorting
/// keeps this linear in the vocabulary size for small `k`.
pub fn top_k_candidates(logits: &[f32], k: usize) -> Candidates {
    if k == 0 || k >= logits.len() {
        return candidates(logits);
    }
    let mut c: Candidates = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, if l.is_nan() { f32::NEG_INFINITY } else { l }))
        .collect();
    c.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    c.truncate(k);
    sort(&mut c);
    c
}

/// Keeps the `k` most likely (0 keeps all). `c` must be sorted.
pub fn top_k(c: &mut Candidates, k: usize) {
    if k > 0 {
        c.truncate(k.max(1));
    }
}

/// Softmax of the candidates' logits, in their order.
pub fn probs(c: &Candidates) -> Vec<f32> {
    let max = c.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
    let mut p: Vec<f32> = c
        .iter()
        .map(|x| {
            if max.is_finite() {
                (x.1 - max).exp()
            } else {
                1.0
            }
        })
        .collect();
    let sum: f32 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= sum);
    p
}

/// Nucleus sampling (Holtzman et al. 2019): keeps the smallest prefix whose probability
/// mass reaches `p`. `c` must be sorted; `p >= 1` keeps all.
pub fn top_p(c: &mut Candidates, p: f32) {
    if p >= 1.0 {
        return;
    }
    let pr = probs(c);
    let mut cum = 0.0;
    let mut keep = c.len();
    for (i, &x) in pr.iter().enumerate() {
        cum += x;
        if cum >= p {
            keep = i + 1;
            break;
        }
    }
    c.truncate(keep.max(1));
}

/// Keeps tokens whose probability is at least `p` times the best one's. `c` must be
/// sorted; `p <= 0` keeps all.
pub fn min_p(c: &mut Candidates, p: f32) {
    if p <= 0.0 || c.is_empty() {
        return;
    }
    // p_i ≥ p · p_max  ⟺  logit_i ≥ logit_max + ln p.
    let threshold = c[0].1 + p.ln();
    let keep = c.iter().take_while(|x| x.1 >= threshold).count();
    c.truncate(keep.max(1));
}

/// Locally typical sampling (Meister et al. 2022): orders tokens by how far their
/// surprisal is from the distribution's entropy and keeps the closest ones until their
/// mass reaches `p`. The result is re-sorted by logit. `p >= 1` keeps all.
pub fn typical_p(c: &mut Candidates, p: f32) {
    if p >= 1.0 || c.len() <= 1 {
        return;
    }
    let pr = probs(c);
    let entropy: f32 = pr.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum();
    let mut order: Vec<(f32, usize)> = pr
        .iter()
        .enumerate()
        .map(|(i, &x)| ((-x.ln() - entropy).abs(), i))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut cum = 0.0;
    let mut keep = order.len();
    for (n, &(_, i)) in order.iter().enumerate() {
        cum += pr[i];
        if cum >= p {
            keep = n + 1;
            break;
        }
    }
    let mut kept: Candidates = order[..keep.max(1)].iter().map(|&(_, i)| c[i]).collect();
    sort(&mut kept);
    *c = kept;
}

/// Divides the logits by `t` (> 0).
pub fn temperature(c: &mut Candidates, t: f32) {
    c.iter_mut().for_each(|x| x.1 /= t);
}

/// Draws a token from the softmax of the candidates with a uniform `u` in [0, 1).
pub fn draw(c: &Candidates, u: f64) -> u32 {
    let pr = probs(c);
    let mut u = u as f32;
    for (x, &p) in c.iter().zip(&pr) {
        if u < p {
            return x.0;
        }
        u -= p;
    }
    // Rounding left u just past the end: the last candidate with any mass.
    c.iter()
        .zip(&pr)
        .rev()
        .find(|(_, &p)| p > 0.0)
        .map_or(c[0].0, |(x, _)| x.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(c: &Candidates) -> Vec<u32> {
        c.iter().map(|x| x.0).collect()
    }

    /// Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 for tokens 0..5.
    fn halving() -> Candidates {
        candidates(&[
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
        penalties(&mut l, &[0, 1, 1, 3], 2.0, 0.1, 0.5);
        // token 0: 2/2 - 0.1 - 0.5; token 1: -2*2 - 0.2 - 0.5; token 2 unseen; token 3: 0.25 - 0.6
        let want = [0.4, -4.7, 1.0, -0.35];
        for (a, b) in l.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{l:?}");
        }
    }

    #[test]
    fn sorting_and_top_k() {
        let mut c = candidates(&[1.0, 3.0, f32::NAN, 3.0, 2.0]);
        assert_eq!(ids(&c), [1, 3, 4, 0, 2]);
        top_k(&mut c, 2);
        assert_eq!(ids(&c), [1, 3]);
        top_k(&mut c, 0);
        assert_eq!(c.len(), 2);
        let l = [0.5, 3.0, -1.0, 3.0, 2.0, 7.0];
        assert_eq!(ids(&top_k_candidates(&l, 3)), [5, 1, 3]);
        assert_eq!(ids(&top_k_candidates(&l, 0)), [5, 1, 3, 4, 0, 2]);
    }

    #[test]
    fn top_p_keeps_the_smallest_nucleus() {
        let mut c = halving();
        top_p(&mut c, 0.7);
        assert_eq!(ids(&c), [0, 1]); // 0.5 < 0.7 <= 0.75
        let mut c = halving();
        top_p(&mut c, 0.75);
        assert_eq!(ids(&c), [0, 1]);
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
        let c = halving();
        assert_eq!(draw(&c, 0.0), 0);
        assert_eq!(draw(&c, 0.49), 0);
        assert_eq!(draw(&c, 0.51), 1);
        assert_eq!(draw(&c, 0.76), 2);
        assert_eq!(draw(&c, 0.999), 4);
        let mut t = halving();
        temperature(&mut t, 0.5); // squares the probabilities, renormalised
        let p = probs(&t);
        assert!((p[0] - 0.25 / (0.25 + 0.0625 + 0.015625 + 2.0 * 0.00390625)).abs() < 1e-6);
    }
}

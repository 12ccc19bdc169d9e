//! Register-tiled kernels of prefill attention: the scores of `RB` query rows against a
//! tile of `KT` keys stored transposed, and the rows' weighted sums of the tile's values.
//!
//! With the keys transposed (`(head_dim, KT)`), each step of the score kernel loads one
//! row of `KT` keys, broadcasts one value of each query row, and multiplies them into an
//! `RB × KT` tile of scores held in registers: no horizontal sums, and each key value
//! serves `RB` rows. The value kernel holds an `RB × 64` tile of outputs and streams the
//! value rows once for all `RB` rows. This is the GEMM's outer-product form (`gemm`) at
//! the size of one attention tile.

use crate::kernels::cpu::Isa;

/// Keys per tile.
pub const KT: usize = 64;
/// Query rows per tile.
pub const RB: usize = 4;

/// Whether `isa` (checked) has tiled kernels for heads of `head_dim`.
pub fn supported(isa: Isa, head_dim: usize) -> bool {
    matches!(isa.checked(), Isa::Avx512 | Isa::Avx2) && head_dim.is_multiple_of(16)
}

/// `kt (head_dim, KT)`: keys `(n, head_dim)` transposed, zero past key `n` (`n ≤ KT`).
pub fn pack_keys(keys: &[f32], n: usize, hd: usize, kt: &mut [f32]) {
    assert!(n <= KT && keys.len() >= n * hd && kt.len() >= hd * KT);
    for (t, key) in keys.chunks_exact(hd).take(n).enumerate() {
        for (d, &v) in key.iter().enumerate() {
            kt[d * KT + t] = v;
        }
    }
    for d in 0..hd {
        kt[d * KT + n..(d + 1) * KT].fill(0.0);
    }
}

/// `out (RB, KT)`: `out[r][t] = q[r] · key t`, from the transposed keys `kt (hd, KT)`.
pub fn scores(isa: Isa, q: [&[f32]; RB], kt: &[f32], out: &mut [f32; RB * KT]) {
    let hd = q[0].len();
    assert!(q.iter().all(|r| r.len() == hd) && kt.len() >= hd * KT);
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F; the shapes were checked above.
        Isa::Avx512 => unsafe { super::x86::scores_avx512(q, kt, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA; the shapes were checked above.
        Isa::Avx2 => unsafe { super::x86::scores_avx2(q, kt, out) },
        _ => scores_scalar(q, kt, out),
    }
}

/// The reference for `scores`.
pub fn scores_scalar(q: [&[f32]; RB], kt: &[f32], out: &mut [f32; RB * KT]) {
    out.fill(0.0);
    for (d, keys) in kt.chunks_exact(KT).take(q[0].len()).enumerate() {
        for (r, qr) in q.iter().enumerate() {
            for (o, &k) in out[r * KT..(r + 1) * KT].iter_mut().zip(keys) {
                *o += qr[d] * k;
            }
        }
    }
}

/// `out (RB, KT)`: `out[r][t] = q[r] · key t` for `t < n` (0 after), from keys stored as
/// rows (`(n, head_dim)`, as the cache holds them). Decode's few queries do not pay for
/// transposing a tile, nor do wide heads (a transposed tile past L1): each key row is
/// read once for all `RB` rows instead, with the sums finished horizontally.
pub fn scores_rows(isa: Isa, q: [&[f32]; RB], keys: &[f32], n: usize, out: &mut [f32; RB * KT]) {
    let hd = q[0].len();
    assert!(
        q.iter().all(|r| r.len() == hd) && n <= KT && keys.len() >= n * hd && hd.is_multiple_of(16),
        "attention tiles: shapes"
    );
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F and AVX2; the shapes were checked above.
        Isa::Avx512 => unsafe { super::x86::scores_rows_avx512(q, keys, n, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA; the shapes were checked above.
        Isa::Avx2 => unsafe { super::x86::scores_rows_avx2(q, keys, n, out) },
        _ => scores_rows_scalar(q, keys, n, out),
    }
}

/// The reference for `scores_rows`.
pub fn scores_rows_scalar(q: [&[f32]; RB], keys: &[f32], n: usize, out: &mut [f32; RB * KT]) {
    let hd = q[0].len();
    out.fill(0.0);
    for (t, key) in keys.chunks_exact(hd).take(n).enumerate() {
        for (r, qr) in q.iter().enumerate() {
            out[r * KT + t] = qr.iter().zip(key).map(|(a, b)| a * b).sum();
        }
    }
}

/// `acc (RB, hd) += p (RB, KT) · v (n, hd)`, over the first `n ≤ KT` keys.
pub fn values(isa: Isa, p: &[f32; RB * KT], v: &[f32], n: usize, acc: &mut [f32]) {
    let hd = acc.len() / RB;
    assert!(
        n <= KT && acc.len() == RB * hd && hd.is_multiple_of(16) && v.len() >= n * hd,
        "attention tiles: shapes"
    );
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F; the shapes were checked above.
        Isa::Avx512 => unsafe { super::x86::values_avx512(p, v, n, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA; the shapes were checked above.
        Isa::Avx2 => unsafe { super::x86::values_avx2(p, v, n, acc) },
        _ => values_scalar(p, v, n, acc),
    }
}

/// The reference for `values`.
pub fn values_scalar(p: &[f32; RB * KT], v: &[f32], n: usize, acc: &mut [f32]) {
    let hd = acc.len() / RB;
    for (r, a) in acc.chunks_exact_mut(hd).enumerate() {
        for (t, row) in v.chunks_exact(hd).take(n).enumerate() {
            let w = p[r * KT + t];
            for (x, &y) in a.iter_mut().zip(row) {
                *x += w * y;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;

    fn data(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.377).sin()).collect()
    }

    #[test]
    fn every_isa_matches_the_scalar_tiles() {
        for hd in [16, 48, 64, 256] {
            for n in [1, 2, 17, 63, 64] {
                let keys = data(n * hd, 1.0);
                let q = data(RB * hd, 2.0);
                let mut kt = vec![f32::NAN; hd * KT];
                pack_keys(&keys, n, hd, &mut kt);
                let rows: [&[f32]; RB] = std::array::from_fn(|r| &q[r * hd..(r + 1) * hd]);
                let mut want = [0.0; RB * KT];
                scores_scalar(rows, &kt, &mut want);
                for t in 0..KT {
                    let exact: f32 = if t < n {
                        rows[1]
                            .iter()
                            .zip(&keys[t * hd..][..hd])
                            .map(|(a, b)| a * b)
                            .sum()
                    } else {
                        0.0
                    };
                    assert!((want[KT + t] - exact).abs() < 1e-4, "scalar scores");
                }
                let p = data(RB * KT, 3.0);
                let p: &[f32; RB * KT] = p.as_slice().try_into().expect("RB × KT");
                let v = data(n * hd, 4.0);
                let acc0 = data(RB * hd, 5.0);
                let mut want_v = acc0.clone();
                values_scalar(p, &v, n, &mut want_v);
                let mut want_rows = [f32::NAN; RB * KT];
                scores_rows_scalar(rows, &keys, n, &mut want_rows);
                for (g, w) in want_rows.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-4, "scalar row scores");
                }
                for isa in supported_isas().into_iter().filter(|&i| supported(i, hd)) {
                    let mut got = [f32::NAN; RB * KT];
                    scores(isa, rows, &kt, &mut got);
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() < 1e-4, "{isa:?} scores hd {hd} n {n}");
                    }
                    let mut got = [f32::NAN; RB * KT];
                    scores_rows(isa, rows, &keys, n, &mut got);
                    for (g, w) in got.iter().zip(&want_rows) {
                        assert!((g - w).abs() < 1e-4, "{isa:?} row scores hd {hd} n {n}");
                    }
                    let mut got_v = acc0.clone();
                    values(isa, p, &v, n, &mut got_v);
                    for (g, w) in got_v.iter().zip(&want_v) {
                        assert!((g - w).abs() < 1e-4, "{isa:?} values hd {hd} n {n}");
                    }
                }
            }
        }
    }
}

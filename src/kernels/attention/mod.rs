//! Causal grouped-query attention over a KV cache, tiled with online softmax.
//!
//! The cache of one layer is laid out `(n_kv_heads, max_seq, head_dim)`, so the keys of
//! one KV head are contiguous rows. Query head `h` reads KV head `h / (n_heads /
//! n_kv_heads)` (GQA, Ainslie et al. 2023).
//!
//! Work is cut into tasks of (heads, tile of `Q_TILE` queries, chunk of keys). A task
//! walks its keys in tiles of `K_TILE`: the scores of each of its query heads against one
//! tile, then one online-softmax update per row (Milakov & Gimelshein 2018;
//! FlashAttention, Dao et al. 2022), so the score matrix never exists whole. In prefill a
//! task holds every query head of a KV group, so each cached K/V row is read once per
//! task for all of them. Decode (a few queries) splits the keys into chunks merged in
//! order (flash-decoding). With register tiles, a decode task holds a KV group's heads,
//! scored against the key rows as cached (`tiles::scores_rows`), and the chunks are sized
//! from the shapes to give `DECODE_TASKS` tasks (Gemma 3 has one KV head). Without them,
//! chunks are `DECODE_CHUNK` long and each query head gets its own task when the KV
//! heads are too few for the threads; a row's arithmetic is the same either way. Tile
//! and chunk boundaries never depend on the thread count, so neither do the results.

use std::cell::RefCell;

use half::f16;

use super::cpu::Isa;
use super::simd::{axpy, axpy_rows, dot_rows, exp_shift_sum};

pub mod tiles;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Queries per task in prefill.
const Q_TILE: usize = 16;
/// Keys scored before each softmax update: a 64 × 64 f32 tile of K (16 KB) stays in L1
/// while every row of the task reads it.
const K_TILE: usize = tiles::KT;
/// Keys per task when there are few queries (decode), at most.
const DECODE_CHUNK: usize = 256;
/// Head sizes from which prefill scores the key rows as cached (`tiles::scores_rows`)
/// rather than a transposed copy of each key tile (`tiles::scores`). At Gemma 3's 256 a
/// 64-key tile is 64 KB, past L1, and transposing it cost more than the rows' horizontal
/// sums. `cargo bench --bench attention -- gemma3/prefill`, alternating, medians of 5:
/// 102.4 → 129.8 GFLOP/s (AVX2), 135.9 → 146.6 (AVX-512). At SmolLM2's 64 the two
/// measured alike in `generate`, and the transposed tile stays.
const PACK_BELOW: usize = 128;
/// Tasks a decode step's tiled attention aims for, over all KV heads (at least a
/// key tile each).
const DECODE_TASKS: usize = 8;

/// One layer's cached keys or values, `(n_kv_heads, max_seq, head_dim)`: f32, or f16,
/// which halves the bytes a decode step streams from memory (llama.cpp's default cache
/// type). The kernels read f16 a key tile at a time, converted into an f32 copy on the
/// thread that uses it (`tile_rows`), so every kernel below runs on f32 either way, and
/// an f16 cache gives the bits of an f32 cache holding the same (rounded) values.
#[derive(Clone, Copy, Debug)]
pub enum Kv<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

impl<'a> Kv<'a> {
    /// Values held.
    pub fn len(&self) -> usize {
        match self {
            Kv::F32(x) => x.len(),
            Kv::F16(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values `start .. start + len`.
    fn sub(self, start: usize, len: usize) -> Kv<'a> {
        match self {
            Kv::F32(x) => Kv::F32(&x[start..][..len]),
            Kv::F16(x) => Kv::F16(&x[start..][..len]),
        }
    }

    /// Rows `t0 .. t1` (of `hd` values) as f32: the cache itself, or its f16 values
    /// converted into `buf` (which holds at least `(t1 − t0) · hd`).
    fn tile_rows<'b>(
        self,
        isa: Isa,
        hd: usize,
        (t0, t1): (usize, usize),
        buf: &'b mut [f32],
    ) -> &'b [f32]
    where
        'a: 'b,
    {
        match self {
            Kv::F32(x) => &x[t0 * hd..t1 * hd],
            Kv::F16(x) => {
                let out = &mut buf[..(t1 - t0) * hd];
                super::halfdot::widen(isa, &x[t0 * hd..t1 * hd], out);
                out
            }
        }
    }
}

thread_local! {
    /// This thread's f32 copies of one key tile and one value tile of an f16 cache,
    /// reused across calls.
    static TILES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A task's buffer for one converted key tile and one value tile (`(2, K_TILE, hd)`):
/// this thread's `TILES`, taken while the task runs (a nested call finds it empty and
/// allocates its own) and given back on drop; empty for an f32 cache, which is read in
/// place.
struct TileBufs(Vec<f32>);

impl TileBufs {
    fn take(kv: Kv, hd: usize) -> TileBufs {
        if let Kv::F32(_) = kv {
            return TileBufs(Vec::new());
        }
        let mut buf = TILES.with(|t| {
            t.try_borrow_mut()
                .map(|mut b| std::mem::take(&mut *b))
                .unwrap_or_default()
        });
        buf.resize(2 * K_TILE * hd, 0.0);
        TileBufs(buf)
    }

    /// The key tile's half and the value tile's.
    fn halves(&mut self) -> (&mut [f32], &mut [f32]) {
        let n = self.0.len() / 2;
        self.0.split_at_mut(n)
    }
}

impl Drop for TileBufs {
    fn drop(&mut self) {
        if self.0.capacity() > 0 {
            let buf = std::mem::take(&mut self.0);
            TILES.with(|t| {
                if let Ok(mut b) = t.try_borrow_mut() {
                    *b = buf;
                }
            });
        }
    }
}

/// Shapes of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Rows allocated per KV head in the cache.
    pub max_seq: usize,
    /// Multiplies the scores `q·k` (usually `1/sqrt(head_dim)`).
    pub scale: f32,
    /// Gemma 2's soft-cap: scaled scores become `cap * tanh(score / cap)`.
    pub softcap: Option<f32>,
    /// Sliding window: a query at position `p` sees keys `p + 1 - window ..= p` only.
    pub window: Option<usize>,
}

impl AttnShape {
    /// First key position a query at `pos` may see.
    fn first_key(&self, pos: usize) -> usize {
        self.window.map_or(0, |w| (pos + 1).saturating_sub(w))
    }
}

/// Online-softmax state of the rows of one task: running max, running sum of
/// exponentials and the unnormalised output, per (query, head) row; a view into
/// `AttnScratch`.
struct Partial<'a> {
    m: &'a mut [f32],   // (rows)
    l: &'a mut [f32],   // (rows)
    acc: &'a mut [f32], // (rows, head_dim)
}

impl<'a> Partial<'a> {
    /// Cuts one task's stretch of scratch into its `m`, `l` and `acc` for `rows` rows.
    fn new(buf: &'a mut [f32], rows: usize) -> Partial<'a> {
        let (m, rest) = buf.split_at_mut(rows);
        let (l, acc) = rest.split_at_mut(rows);
        Partial { m, l, acc }
    }

    /// Starts a task: rows `..rows` empty (max −∞, sum 0) and the first `acc_len`
    /// accumulator values 0.
    fn reset(&mut self, rows: usize, acc_len: usize) {
        self.m[..rows].fill(f32::NEG_INFINITY);
        self.l[..rows].fill(0.0);
        self.acc[..acc_len].fill(0.0);
    }
}

/// The tasks' partial results, owned by the caller (the session's workspace) and reused:
/// a warm call allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct AttnScratch {
    /// (tasks, Q_TILE · heads per task · (head_dim + 2)): each task's `m`, `l` and `acc`.
    partials: Vec<f32>,
}

/// Attention for `n_q` queries at positions `pos0 .. pos0 + n_q`, each attending to
/// cached positions `0 ..= its own` (or the last `window` of them).
///
/// - `q`: `(n_q, n_heads, head_dim)`
/// - `k_cache`, `v_cache`: `(n_kv_heads, max_seq, head_dim)`, filled up to `pos0 + n_q`
/// - `out`: `(n_q, n_heads, head_dim)`
#[allow(clippy::too_many_arguments)]
pub fn attention(
    isa: Isa,
    ws: &mut AttnScratch,
    q: &[f32],
    k_cache: Kv,
    v_cache: Kv,
    out: &mut [f32],
    pos0: usize,
    s: AttnShape,
) {
    let AttnShape {
        n_heads,
        n_kv_heads,
        head_dim: hd,
        max_seq,
        ..
    } = s;
    assert!(
        n_heads > 0 && hd > 0 && q.len().is_multiple_of(n_heads * hd),
        "attention: q must be (n_q, n_heads, head_dim)"
    );
    let n_q = q.len() / (n_heads * hd);
    assert_eq!(out.len(), q.len(), "attention: out must be shaped like q");
    assert!(pos0 + n_q <= max_seq, "attention: positions past the cache");
    let cache_len = super::prod(super::prod(n_kv_heads, max_seq), hd);
    assert!(
        k_cache.len() >= cache_len && v_cache.len() >= cache_len,
        "attention: cache too small"
    );
    assert!(n_kv_heads > 0 && n_heads % n_kv_heads == 0);
    assert!(s.window != Some(0), "attention: empty window");
    if n_q == 0 {
        return;
    }
    let group = n_heads / n_kv_heads;
    let n_ctx = pos0 + n_q;
    let decode = n_q <= 4;
    let n_tiles = n_q.div_ceil(Q_TILE);
    // Decode on ISAs with register tiles (`tiles`), when a task of a KV group's heads has
    // at least 3 rows: the rows in blocks of RB, scored against the key rows as cached.
    // With fewer rows a block would be mostly padding, and the row kernels run.
    let tiled_decode = decode && tiles::supported(isa, hd) && Q_TILE.min(n_q) * group >= 3;
    let chunk = if !decode {
        n_ctx
    } else if tiled_decode {
        // Chunks of whole key tiles, enough for DECODE_TASKS tasks over the KV heads:
        // the group's heads share each key row, and the chunks spread the threads
        // (Gemma 3 has one KV head). Chosen from the shapes alone, as results must not
        // depend on the thread count.
        let chunks = DECODE_TASKS.div_ceil(n_kv_heads);
        n_ctx
            .div_ceil(chunks)
            .next_multiple_of(K_TILE)
            .min(DECODE_CHUNK)
    } else {
        DECODE_CHUNK
    };
    let n_chunks = n_ctx.div_ceil(chunk);
    // Query heads per task: a KV group, whose heads then share each cached row from L1
    // (decode attention streams the cache from L2: one task per head made SmolLM2's
    // 128-deep decode attention 15% slower); with the row kernels, one head in decode
    // when the groups are too few to keep half the threads busy (Gemma 3's one KV head
    // ran on one thread). Each row's arithmetic is the same either way.
    let grouped = n_kv_heads * n_tiles * n_chunks;
    let heads = if decode && !tiled_decode && super::par::busy_share(grouped) <= 0.5 {
        1
    } else {
        group
    };
    let n_units = n_heads / heads;

    // Tasks in (unit of heads, query tile, key chunk) order, each with its own stretch of
    // the scratch for its partial result.
    let n_tasks = n_units * n_tiles * n_chunks;
    // Prefill on ISAs with register tiles: rows in blocks of RB, scored against a
    // transposed copy of each key tile (after the task's partial result) for heads
    // narrower than PACK_BELOW, against the key rows as cached for wider ones.
    let prefill_tiled = !decode && tiles::supported(isa, hd);
    let pack = prefill_tiled && hd < PACK_BELOW;
    let tiled = prefill_tiled || tiled_decode;
    let max_rows = if tiled {
        (Q_TILE.min(n_q) * heads).next_multiple_of(tiles::RB)
    } else {
        Q_TILE.min(n_q) * heads
    };
    let stride = max_rows * (hd + 2) + if pack { hd * K_TILE } else { 0 };
    ws.partials.resize(n_tasks * stride, 0.0);
    let task = |i: usize| {
        (
            i / (n_tiles * n_chunks),
            i / n_chunks % n_tiles,
            i % n_chunks,
        )
    };
    let run = |i: usize, buf: &mut [f32]| {
        let (u, t, c) = task(i);
        let g = u * heads / group;
        let (i0, i1) = (t * Q_TILE, ((t + 1) * Q_TILE).min(n_q));
        // Keys this tile can see at all, clipped to the chunk.
        let k0 = (c * chunk).max(s.first_key(pos0 + i0));
        let k1 = ((c + 1) * chunk).min(pos0 + i1);
        let keys = k_cache.sub(g * max_seq * hd, max_seq * hd);
        let vals = v_cache.sub(g * max_seq * hd, max_seq * hd);
        let job = Task {
            q,
            keys,
            vals,
            queries: (i0, i1),
            span: (k0, k1),
            h0: u * heads,
            heads,
            pos0,
            s,
        };
        let mut p = Partial::new(buf, max_rows);
        if tiled {
            let (acc, kt) = p.acc.split_at_mut(max_rows * hd);
            p.acc = acc;
            attend_tiled(isa, &job, p, pack.then_some(kt))
        } else {
            attend(isa, &job, p)
        }
    };
    let parts = &mut ws.partials[..n_tasks * stride];
    // Work: the cached keys and values the tasks read, in bytes.
    let work = 2 * n_kv_heads * n_ctx * hd * std::mem::size_of::<f32>();
    super::par::for_each_chunk_mut(parts, stride, work, run);

    // Merge each tile's chunks in order and normalise.
    for (first, block) in parts.chunks_mut(stride * n_chunks).enumerate() {
        let (u, t, _) = task(first * n_chunks);
        let (i0, i1) = (t * Q_TILE, ((t + 1) * Q_TILE).min(n_q));
        let rows = (i1 - i0) * heads;
        for r in 0..rows {
            let (i, h) = (i0 + r / heads, u * heads + r % heads);
            let o = &mut out[(i * n_heads + h) * hd..][..hd];
            let m = block
                .chunks_mut(stride)
                .map(|b| Partial::new(b, max_rows).m[r])
                .fold(f32::NEG_INFINITY, f32::max);
            o.fill(0.0);
            let mut l = 0.0;
            for b in block.chunks_mut(stride) {
                let p = Partial::new(b, max_rows);
                if p.l[r] == 0.0 {
                    continue; // a chunk wholly after this query
                }
                let w = (p.m[r] - m).exp();
                l += p.l[r] * w;
                axpy(isa, o, w, &p.acc[r * hd..(r + 1) * hd]);
            }
            let inv = 1.0 / l;
            o.iter_mut().for_each(|x| *x *= inv);
        }
    }
}

/// One row's online-softmax step over a tile: its raw scores `sc` are scaled (and
/// soft-capped), the running max `m`, sum `l` and output `acc` are rescaled if the max
/// grows, and `sc` becomes the weights `exp(score − m)`, whose sum joins `l`.
fn online_softmax(
    isa: Isa,
    s: &AttnShape,
    sc: &mut [f32],
    (m, l): (&mut f32, &mut f32),
    acc: &mut [f32],
) {
    sc.iter_mut().for_each(|x| *x *= s.scale);
    if let Some(cap) = s.softcap {
        super::ops::softcap(sc, cap);
    }
    let m_tile = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let m_new = m.max(m_tile);
    if *m > f32::NEG_INFINITY && m_new > *m {
        let w = (*m - m_new).exp();
        *l *= w;
        acc.iter_mut().for_each(|x| *x *= w);
    }
    *m = m_new;
    *l += exp_shift_sum(isa, sc, m_new);
}

/// One task's inputs: queries `queries.0 .. queries.1` (at positions from `pos0`) of
/// heads `h0 .. h0 + heads` (all of one KV group), against the group's cached keys and
/// values `span.0 .. span.1`. Row `r` of the task is query `queries.0 + r / heads` of
/// head `h0 + r % heads`.
#[derive(Clone, Copy)]
struct Task<'a> {
    q: &'a [f32], // (n_q, n_heads, head_dim)
    keys: Kv<'a>, // (max_seq, head_dim): this group's cache
    vals: Kv<'a>, // (max_seq, head_dim)
    queries: (usize, usize),
    span: (usize, usize),
    h0: usize,
    heads: usize,
    pos0: usize,
    s: AttnShape,
}

impl<'a> Task<'a> {
    fn rows(&self) -> usize {
        (self.queries.1 - self.queries.0) * self.heads
    }

    /// Row `r`'s query vector.
    fn query(&self, r: usize) -> &'a [f32] {
        let (i, h) = (self.queries.0 + r / self.heads, self.h0 + r % self.heads);
        let hd = self.s.head_dim;
        &self.q[(i * self.s.n_heads + h) * hd..][..hd]
    }

    /// The keys `first .. last` of `t0 .. t1` that row `r` sees (empty if `last ≤
    /// first`): causally up to its own position, and with a window none before
    /// `first_key`.
    fn keys_seen(&self, r: usize, (t0, t1): (usize, usize)) -> (usize, usize) {
        let pos = self.pos0 + self.queries.0 + r / self.heads;
        (self.s.first_key(pos).max(t0), (pos + 1).min(t1))
    }
}

/// One task with the row kernels (`dot_rows`, `axpy_rows`).
fn attend(isa: Isa, job: &Task, mut p: Partial) {
    let Task { keys, vals, s, .. } = *job;
    let (k0, k1) = job.span;
    let (hd, rows) = (s.head_dim, job.rows());
    p.reset(rows, rows * hd);
    let mut scores = [0.0f32; K_TILE];
    let mut bufs = TileBufs::take(keys, hd);
    let (kbuf, vbuf) = bufs.halves();
    let mut t0 = k0;
    while t0 < k1 {
        let t1 = (t0 + K_TILE).min(k1);
        let (kt, vt) = (
            keys.tile_rows(isa, hd, (t0, t1), kbuf),
            vals.tile_rows(isa, hd, (t0, t1), vbuf),
        );
        for r in 0..rows {
            let (first, last) = job.keys_seen(r, (t0, t1));
            if last <= first {
                continue;
            }
            let n = last - first;
            let sc = &mut scores[..n];
            let (a, b) = ((first - t0) * hd, (last - t0) * hd);
            dot_rows(isa, job.query(r), &kt[a..b], sc);
            let acc = &mut p.acc[r * hd..(r + 1) * hd];
            online_softmax(isa, &s, sc, (&mut p.m[r], &mut p.l[r]), acc);
            axpy_rows(isa, acc, sc, &vt[a..b]);
        }
        t0 = t1;
    }
}

/// `attend` with register tiles: per key tile, the keys transposed once when there is a
/// buffer for them (`kt`, `(hd, KT)`; prefill), then for each block of `RB` rows their
/// scores in one call (from `kt`, or from the key rows as cached), the online-softmax
/// update per row, and their weighted values in one call. Scores past a row's last key
/// (or before its window) get weight 0.
fn attend_tiled(isa: Isa, job: &Task, mut p: Partial, mut kt: Option<&mut [f32]>) {
    use tiles::RB;
    let Task { keys, vals, s, .. } = *job;
    let (k0, k1) = job.span;
    let (hd, rows) = (s.head_dim, job.rows());
    let padded = rows.next_multiple_of(RB);
    p.reset(rows, padded * hd);
    // Row r's query (rows past the last repeat it: their weights are all 0).
    let q_row = |r: usize| job.query(r.min(rows - 1));
    let mut sc = [0.0f32; RB * K_TILE]; // (RB, K_TILE)
    let mut bufs = TileBufs::take(keys, hd);
    let (kbuf, vbuf) = bufs.halves();
    let mut t0 = k0;
    while t0 < k1 {
        let t1 = (t0 + K_TILE).min(k1);
        let n = t1 - t0;
        // Keys of row r inside this tile, relative to t0 (empty if none).
        let range = |r: usize| -> (usize, usize) {
            if r >= rows {
                return (0, 0);
            }
            let (first, last) = job.keys_seen(r, (t0, t1));
            if last <= first {
                (0, 0)
            } else {
                (first - t0, last - t0)
            }
        };
        let tile = keys.tile_rows(isa, hd, (t0, t1), kbuf);
        let vtile = vals.tile_rows(isa, hd, (t0, t1), vbuf);
        if let Some(kt) = kt.as_deref_mut() {
            tiles::pack_keys(tile, n, hd, kt);
        }
        for b0 in (0..rows).step_by(RB) {
            let ranges: [(usize, usize); RB] = std::array::from_fn(|j| range(b0 + j));
            if ranges.iter().all(|&(lo, hi)| lo >= hi) {
                continue;
            }
            let q_rows = std::array::from_fn(|j| q_row(b0 + j));
            match kt.as_deref() {
                Some(kt) => tiles::scores(isa, q_rows, kt, &mut sc),
                None => tiles::scores_rows(isa, q_rows, tile, n, &mut sc),
            }
            for (j, &(lo, hi)) in ranges.iter().enumerate() {
                let row = &mut sc[j * K_TILE..(j + 1) * K_TILE];
                if lo >= hi {
                    row.fill(0.0);
                    continue;
                }
                let r = b0 + j;
                let acc = &mut p.acc[r * hd..(r + 1) * hd];
                online_softmax(isa, &s, &mut row[lo..hi], (&mut p.m[r], &mut p.l[r]), acc);
                row[..lo].fill(0.0);
                row[hi..].fill(0.0);
            }
            let acc = &mut p.acc[b0 * hd..(b0 + RB) * hd];
            tiles::values(isa, &sc, vtile, n, acc);
        }
        t0 = t1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;
    use crate::kernels::ops::softmax;

    /// Plain attention: full scores, softmax, weighted sum.
    fn reference(q: &[f32], k: &[f32], v: &[f32], pos0: usize, s: AttnShape) -> Vec<f32> {
        let hd = s.head_dim;
        let n_q = q.len() / (s.n_heads * hd);
        let mut out = vec![0.0; q.len()];
        for i in 0..n_q {
            for h in 0..s.n_heads {
                let g = h / (s.n_heads / s.n_kv_heads);
                let qv = &q[(i * s.n_heads + h) * hd..][..hd];
                let first = s.window.map_or(0, |w| (pos0 + i + 1).saturating_sub(w));
                let mut sc: Vec<f32> = (first..=pos0 + i)
                    .map(|t| {
                        qv.iter()
                            .zip(&k[(g * s.max_seq + t) * hd..][..hd])
                            .map(|(a, b)| a * b)
                            .sum::<f32>()
                            * s.scale
                    })
                    .map(|x| s.softcap.map_or(x, |c| c * (x / c).tanh()))
                    .collect();
                softmax(&mut sc);
                for (t, &p) in (first..).zip(&sc) {
                    for d in 0..hd {
                        out[(i * s.n_heads + h) * hd + d] += p * v[(g * s.max_seq + t) * hd + d];
                    }
                }
            }
        }
        out
    }

    fn data(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.377).sin()).collect()
    }

    #[test]
    fn tiled_matches_plain_attention() {
        // Shapes around the tile and chunk edges: decode at depth 0, 1, 255, 256, 600;
        // prefill of 1, 17, 70 queries after 0 or 130 cached positions.
        let cases = [
            (1, 0),
            (1, 1),
            (1, 255),
            (1, 256),
            (1, 600),
            (3, 300),
            (17, 0),
            (70, 0),
            (70, 130),
            (5, 64),
        ];
        // Windows: none, 1 (only itself), 7, 100 (inside and across tiles), 300 (across a
        // decode chunk).
        let windows = [None, Some(1), Some(7), Some(100), Some(300)];
        // Soft-caps: none, or 0.5, which bends nearly every score of this data.
        // Head sizes that are multiples of 16 run the register tiles in prefill: groups
        // of 2, 3 (rows not a multiple of RB) and 4 query heads per KV head; from 128
        // the tiles score the key rows as cached.
        let heads = [
            (4, 2, 16, None),
            (3, 1, 8, Some(0.5)),
            (2, 2, 5, Some(0.5)),
            (9, 3, 64, None),
            (4, 1, 48, Some(0.5)),
            (8, 2, 128, Some(0.5)),
        ];
        for ((n_heads, n_kv, hd, softcap), window) in
            heads.into_iter().flat_map(|h| windows.map(|w| (h, w)))
        {
            for &(n_q, pos0) in &cases {
                let s = AttnShape {
                    n_heads,
                    n_kv_heads: n_kv,
                    head_dim: hd,
                    max_seq: pos0 + n_q + 3,
                    scale: 0.7 / (hd as f32).sqrt(),
                    softcap,
                    window,
                };
                let q = data(n_q * n_heads * hd, 1.0);
                let k = data(n_kv * s.max_seq * hd, 2.0);
                let v = data(n_kv * s.max_seq * hd, 3.0);
                let want = reference(&q, &k, &v, pos0, s);
                // An f16 cache gives the bits of an f32 cache of its (rounded) values.
                let half = |x: &[f32]| x.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
                let (k16, v16) = (half(&k), half(&v));
                let wide = |x: &[f16]| x.iter().map(|x| x.to_f32()).collect::<Vec<_>>();
                let (kr, vr) = (wide(&k16), wide(&v16));
                for isa in supported_isas() {
                    let run = |k: Kv, v: Kv| {
                        let mut out = vec![f32::NAN; q.len()];
                        attention(
                            isa,
                            &mut AttnScratch::default(),
                            &q,
                            k,
                            v,
                            &mut out,
                            pos0,
                            s,
                        );
                        out
                    };
                    let out = run(Kv::F32(&k), Kv::F32(&v));
                    for (a, b) in out.iter().zip(&want) {
                        assert!((a - b).abs() < 1e-5, "{isa:?} heads {n_heads}/{n_kv} hd {hd} n_q {n_q} pos0 {pos0} window {window:?} cap {softcap:?}: {a} vs {b}");
                    }
                    let (rounded, from_f16) = (
                        run(Kv::F32(&kr), Kv::F32(&vr)),
                        run(Kv::F16(&k16), Kv::F16(&v16)),
                    );
                    assert_eq!(
                        rounded.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        from_f16.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        "{isa:?} f16 cache, heads {n_heads}/{n_kv} hd {hd} n_q {n_q} pos0 {pos0}"
                    );
                }
            }
        }
    }

    #[test]
    fn same_bits_with_one_and_two_threads() {
        // SmolLM2's heads, and Gemma 3's one KV head (whose decode, with the row kernels,
        // gives each query head its own task on two threads and one task for all four on
        // one).
        for (n_heads, n_kv, hd) in [(9, 3, 64), (4, 1, 256)] {
            let s = AttnShape {
                n_heads,
                n_kv_heads: n_kv,
                head_dim: hd,
                max_seq: 700,
                scale: 0.125,
                softcap: None,
                window: None,
            };
            for (n_q, pos0) in [(1, 100), (1, 600), (40, 200)] {
                let q = data(n_q * n_heads * hd, 1.0);
                let k = data(n_kv * 700 * hd, 2.0);
                let v = data(n_kv * 700 * hd, 3.0);
                let run = |threads| {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let mut out = vec![0.0; q.len()];
                    pool.install(|| {
                        attention(
                            crate::kernels::cpu::isa(),
                            &mut AttnScratch::default(),
                            &q,
                            Kv::F32(&k),
                            Kv::F32(&v),
                            &mut out,
                            pos0,
                            s,
                        )
                    });
                    out
                };
                assert_eq!(
                    run(1),
                    run(2),
                    "heads {n_heads}/{n_kv}, n_q {n_q}, pos0 {pos0}"
                );
            }
        }
    }
}

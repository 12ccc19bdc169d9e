//! This machine's ceilings, measured in about a second: how fast its cores multiply and
//! how fast they read memory, on the threads ingot's kernels use.
//!
//! - **Compute:** f32 FMA and 16-bit integer dot-product throughput for every instruction
//!   set the CPU supports (`kernels::peak`), on all threads at once.
//! - **Read bandwidth:** a streaming sum over buffers sized for L2, L3 and DRAM, each
//!   thread reading its own contiguous part, as a matvec's threads read their rows.
//! - **Parallel region:** the cost of one back-to-back region of the kernels' thread team
//!   (`kernels::par`), the overhead each matmul of a decode step pays.
//!
//! A decode step reads every weight once, so its speed limit is bytes per token over the
//! read bandwidth at that size; a prefill's is its multiply-adds over the compute peak.
//!
//! ```no_run
//! let roof = ingot::roofline::Roofline::measure();
//! println!("{roof}");
//! let limit = roof.read_bandwidth_at(92_000_000) / 92e6; // tokens per second
//! # let _ = limit;
//! ```

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::kernels::cpu::{self, Isa};
use crate::kernels::{par, peak};

/// Compute peaks of one instruction set, all threads together.
#[derive(Clone, Copy, Debug)]
pub struct ComputePeak {
    pub isa: Isa,
    /// f32 fused multiply-adds, in GFLOP/s (two per multiply-add).
    pub fma_gflops: f64,
    /// 16-bit integer dot products, the instructions of the quantized kernels, in GOP/s
    /// (two per multiply-add).
    pub int16_gops: f64,
}

/// Read bandwidth at one buffer size, all threads together.
#[derive(Clone, Copy, Debug)]
pub struct ReadBandwidth {
    /// Which level of the hierarchy the buffer is sized for ("L2", "L3", "DRAM", …).
    pub level: &'static str,
    pub bytes: usize,
    pub gb_per_s: f64,
}

/// The machine's measured ceilings.
#[derive(Clone, Debug)]
pub struct Roofline {
    pub threads: usize,
    /// The instruction set the kernels use (`INGOT_ISA` or the best).
    pub isa: Isa,
    /// Every supported instruction set, slowest first.
    pub compute: Vec<ComputePeak>,
    /// Smallest buffer first.
    pub bandwidth: Vec<ReadBandwidth>,
    /// One back-to-back parallel region on the kernels' thread team.
    pub region: Duration,
}

/// Per level: bytes per thread (L2: half of a 1–2 MB private L2), or in total.
const L2_PER_THREAD: usize = 512 << 10;
const L3_TOTAL: usize = 16 << 20;
const DRAM_TOTAL: usize = 512 << 20;

impl Roofline {
    /// Measures everything on rayon's thread count (~1 s, most of it filling the DRAM
    /// buffer).
    pub fn measure() -> Roofline {
        let threads = rayon::current_num_threads();
        let compute = cpu::supported_isas()
            .into_iter()
            .map(|isa| ComputePeak {
                isa,
                fma_gflops: compute_peak(|iters| peak::fma(isa, iters).1),
                int16_gops: compute_peak(|iters| peak::int16_dot(isa, iters).1),
            })
            .collect();
        let bandwidth = [
            ("L2", L2_PER_THREAD * threads),
            ("L3", L3_TOTAL),
            ("DRAM", DRAM_TOTAL),
        ]
        .into_iter()
        .map(|(level, bytes)| ReadBandwidth {
            level,
            bytes,
            gb_per_s: read_bandwidth(bytes),
        })
        .collect();
        Roofline {
            threads,
            isa: cpu::isa(),
            compute,
            bandwidth,
            region: region_cost(),
        }
    }

    /// The peaks of `isa`, if the CPU supports it.
    pub fn peak(&self, isa: Isa) -> Option<ComputePeak> {
        self.compute.iter().copied().find(|p| p.isa == isa)
    }

    /// The read bandwidth a working set of `bytes` gets: that of the smallest measured
    /// buffer at least as large (DRAM's beyond the largest).
    pub fn read_bandwidth_at(&self, bytes: usize) -> f64 {
        self.bandwidth
            .iter()
            .find(|b| b.bytes >= bytes)
            .or(self.bandwidth.last())
            .map_or(0.0, |b| b.gb_per_s)
    }
}

impl fmt::Display for Roofline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "threads: {}   kernels' isa: {}",
            self.threads,
            self.isa.name()
        )?;
        writeln!(
            f,
            "compute peak (all threads)     f32 FMA GFLOP/s   int16 dot GOP/s"
        )?;
        for p in &self.compute {
            writeln!(
                f,
                "  {:<28} {:>15.1} {:>17.1}",
                p.isa.name(),
                p.fma_gflops,
                p.int16_gops
            )?;
        }
        writeln!(f, "read bandwidth (all threads)   buffer            GB/s")?;
        for b in &self.bandwidth {
            let size = format!("{:.1} MB", b.bytes as f64 / 1e6);
            writeln!(f, "  {:<28} {:>10} {:>11.1}", b.level, size, b.gb_per_s)?;
        }
        write!(
            f,
            "parallel region (team, back to back): {:.2} µs",
            self.region.as_secs_f64() * 1e6
        )
    }
}

/// Best of 5 runs of `run(iters)` (which returns the work it did, linear in `iters`) on
/// every thread at once, with `iters` calibrated to ~20 ms per run; in units of 1e9 per
/// second.
fn compute_peak(run: impl Fn(usize) -> u64 + Sync) -> f64 {
    let threads = rayon::current_num_threads();
    let mut iters = 1 << 10;
    while time(|| run(iters)) < Duration::from_millis(5) && iters < 1 << 30 {
        iters *= 4;
    }
    let iters = iters * 4;
    let work = (run(1) * iters as u64 * threads as u64) as f64;
    let mut best = 0f64;
    for _ in 0..5 {
        let secs = time(|| {
            par::for_each_task(threads, usize::MAX, |_| {
                black_box(run(iters));
            })
        })
        .as_secs_f64();
        best = best.max(work / secs);
    }
    best / 1e9
}

fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

/// Read bandwidth in GB/s over a `bytes` buffer on all threads: each thread sums its own
/// contiguous part, as many times as takes ~20 ms; the best of 5 such regions.
pub fn read_bandwidth(bytes: usize) -> f64 {
    let threads = rayon::current_num_threads();
    let isa = cpu::isa();
    // Written (not just allocated), so that every page is real memory and not the shared
    // zero page.
    let buf = vec![1f32; bytes / 4]; // (bytes / 4,)
    let part = buf.len().div_ceil(threads);
    let pass = |t: usize| {
        let lo = (t * part).min(buf.len());
        black_box(peak::read_sum(isa, &buf[lo..(lo + part).min(buf.len())]));
    };
    par::for_each_task(threads, usize::MAX, pass); // warm the caches
    let one = time(|| par::for_each_task(threads, usize::MAX, pass));
    let passes = (Duration::from_millis(20).as_secs_f64() / one.as_secs_f64().max(1e-9))
        .ceil()
        .clamp(1.0, 10_000.0) as usize;
    let mut best = 0f64;
    for _ in 0..5 {
        let secs =
            time(|| par::for_each_task(threads, usize::MAX, |t| (0..passes).for_each(|_| pass(t))))
                .as_secs_f64();
        best = best.max((bytes * passes) as f64 / secs);
    }
    best / 1e9
}

/// Mean time of one empty region on all threads, back to back (10,000 of them).
fn region_cost() -> Duration {
    let threads = rayon::current_num_threads();
    let n = 10_000u32;
    for _ in 0..100 {
        par::for_each_task(threads, usize::MAX, |i| {
            black_box(i);
        });
    }
    time(|| {
        for _ in 0..n {
            par::for_each_task(threads, usize::MAX, |i| {
                black_box(i);
            });
        }
    }) / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_positive_ceilings() {
        let bw = read_bandwidth(1 << 20);
        assert!(bw.is_finite() && bw > 0.0);
        let p = compute_peak(|iters| peak::fma(Isa::Scalar, iters).1);
        assert!(p.is_finite() && p > 0.0);
    }
}

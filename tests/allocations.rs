//! The hot path allocates nothing: once a session and a sampler are warm, a decode step
//! (`Session::forward` of one token) and a draw (`Sampler::sample`) make no heap
//! allocation, on one thread and on two, for SmolLM2 (Q4_1 native, and f32) and Gemma 3
//! (Q4_K_M native: QK-norm, post-norms, sliding windows, GeGLU, K-quants), and neither
//! does a prefill of a length seen before. Counted by a global allocator wrapper in this
//! binary (allocations and reallocations).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ingot::{ComputeMode, LoadOptions, Model, Sampler, SamplerConfig};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count(f: impl FnOnce()) -> usize {
    let before = ALLOCS.load(Ordering::SeqCst);
    f();
    ALLOCS.load(Ordering::SeqCst) - before
}

#[test]
fn decoding_and_sampling_allocate_nothing() {
    let smollm2 = ingot::fetch::default_model().expect("default model");
    let gemma3 = ingot::fetch::gemma3_model().expect("Gemma 3");
    for (path, mode) in [
        (&smollm2, ComputeMode::Native),
        (&smollm2, ComputeMode::F32),
        (&gemma3, ComputeMode::Native),
    ] {
        let model = Model::load(path, LoadOptions { mode }).unwrap();
        let prompt = model.tokenizer().encode("The capital of France is", false);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut s = model.session(256).unwrap();
                let mut sampler = Sampler::new(SamplerConfig {
                    temperature: 0.8,
                    top_p: 0.95,
                    repeat_penalty: 1.1,
                    ..Default::default()
                })
                .unwrap();
                // Warm-up: the first prefill and decode size every buffer.
                s.forward(&prompt).unwrap();
                let mut tok = sampler.sample(s.forward(&[42]).unwrap()).unwrap();
                for step in 0..8 {
                    let n = count(|| {
                        let logits = s.forward(&[tok]).unwrap();
                        tok = sampler.sample(logits).unwrap();
                        sampler.accept(tok);
                    });
                    assert_eq!(
                        n, 0,
                        "{path:?} {mode:?}, {threads} threads, step {step}: {n} allocations"
                    );
                }
                // A second prefill of the same length reuses the first one's buffers.
                s.truncate(0);
                let n = count(|| {
                    s.forward(&prompt).unwrap();
                });
                assert_eq!(
                    n, 0,
                    "{path:?} {mode:?}, {threads} threads, prefill: {n} allocations"
                );
            });
        }
    }
}

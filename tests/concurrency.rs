//! One `Model` shared by many threads, each with its own `Session` and `Sampler`: every
//! thread must produce exactly what the same seed produces when run alone.

use std::sync::Arc;

use ingot::{GenerateOptions, LoadOptions, Model, Sampler, SamplerConfig};

fn generate(model: &Model, prompt: &str, seed: u64) -> (String, Vec<u32>) {
    let ids = model.tokenizer().encode(prompt, true);
    let mut session = model.session(128).unwrap();
    let mut sampler = Sampler::new(SamplerConfig {
        temperature: 0.8,
        top_k: 40,
        seed,
        ..Default::default()
    })
    .unwrap();
    let opts = GenerateOptions {
        max_tokens: 24,
        ignore_eos: true,
        ..Default::default()
    };
    let mut gen = session.generate(&ids, &mut sampler, opts);
    let text: String = gen.by_ref().map(|p| p.unwrap()).collect();
    (text, gen.tokens().to_vec())
}

#[test]
fn threads_sharing_a_model_generate_what_they_generate_alone() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Model>();
    let path = ingot::fetch::default_model().expect("default model");
    let model = Arc::new(Model::load(path, LoadOptions::default()).unwrap());
    let jobs: Vec<(&str, u64)> = vec![
        ("Once upon a time", 1),
        ("The capital of France is", 2),
        ("def fibonacci(n):", 3),
        ("Once upon a time", 4),
        ("1 + 1 = 2, 2 + 2 =", 5),
        ("The capital of France is", 2),
    ];
    let alone: Vec<_> = jobs.iter().map(|&(p, s)| generate(&model, p, s)).collect();
    // Twice, so that threads start at different moments relative to each other.
    for _ in 0..2 {
        let handles: Vec<_> = jobs
            .iter()
            .map(|&(p, s)| {
                let m = Arc::clone(&model);
                std::thread::spawn(move || generate(&m, p, s))
            })
            .collect();
        let together: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(together, alone);
    }
    // The same seed and prompt give the same text in any thread.
    assert_eq!(alone[1], alone[5]);
}

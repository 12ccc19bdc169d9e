//! Gemma 3 270M Q4_K_M, the second real model (253 MB, fetched on first use). Ignored by
//! default to keep CI small: run with `cargo test --release -- --ignored`.

use ingot::io::Gguf;
use ingot::DType;

#[test]
#[ignore = "fetches Gemma 3 270M (253 MB); run with --ignored"]
fn gemma3_gguf_parses_and_every_tensor_dequantizes() {
    let path = ingot::fetch::gemma3_model().expect("fetch Gemma 3");
    let g = Gguf::open(&path).unwrap();
    assert_eq!(
        g.get("general.architecture").and_then(|v| v.as_str()),
        Some("gemma3")
    );
    let mut seen = std::collections::BTreeSet::new();
    for t in g.tensor_infos() {
        seen.insert(format!("{:?}", t.dtype));
        let v = g.tensor(&t.name).unwrap().to_f32();
        assert!(
            v.iter().all(|x| x.is_finite()),
            "{} has non-finite values",
            t.name
        );
    }
    // Q4_K_M mixes these formats; each must decode.
    for d in [DType::Q4K, DType::Q6K, DType::Q5_0] {
        assert!(
            seen.contains(&format!("{d:?}")),
            "no {d:?} tensor in {seen:?}"
        );
    }
}

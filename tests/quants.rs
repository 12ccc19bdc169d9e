//! Every GGML block format ingot reads, dequantized like the reference: random blocks and
//! the values the `gguf` package (gguf-py, kept with llama.cpp) computes for them, from
//! `tests/reference/quants/make_quant_goldens.py`.

use ingot::io::bytes::FileBytes;
use ingot::kernels::formats::dequantize;
use ingot::DType;
use serde_json::Value;

#[test]
fn dequantization_matches_gguf_py() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/quants/quant_goldens.json"
    );
    let goldens: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let types = goldens["types"].as_array().unwrap();
    assert_eq!(types.len(), 24);
    for t in types {
        let name = t["name"].as_str().unwrap();
        let dtype = DType::from_ggml_id(t["ggml_id"].as_u64().unwrap() as u32)
            .unwrap_or_else(|| panic!("{name} unknown"));
        assert_eq!(
            dtype.block_size() as u64,
            t["block_size"].as_u64().unwrap(),
            "{name} block size"
        );
        assert_eq!(
            dtype.type_size() as u64,
            t["type_size"].as_u64().unwrap(),
            "{name} bytes per block"
        );
        let bytes: Vec<u8> = t["bytes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        let want: Vec<f32> = t["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        // An aligned copy, as a memory-mapped file would give.
        let aligned = FileBytes::from_vec(bytes);
        let mut got = vec![f32::NAN; want.len()];
        dequantize(dtype, aligned.as_bytes(), &mut got);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{name} value {i}: {g} vs {w}"
            );
        }
    }
}

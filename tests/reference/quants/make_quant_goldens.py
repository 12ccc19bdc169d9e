#!/usr/bin/env python3
"""Reference dequantization of random blocks of every GGML format ingot reads, by the
`gguf` package's numpy implementation (gguf-py, maintained with llama.cpp). gguf-py has no
Q1_0 or Q2_0 (new in llama.cpp); for those the reference is a numpy transcription of
ggml-quants.c's `dequantize_row_q1_0`/`q2_0` below.

Run from the repository root with a Python that has `gguf` and `numpy`:

    python tests/reference/quants/make_quant_goldens.py

For each type: 4 blocks of random bytes (fixed seed) whose f16 scale fields are
overwritten with small finite values, and their dequantized floats, into
tests/reference/quants/quant_goldens.json.
"""
import json
import os

import gguf
import numpy as np
from gguf.quants import dequantize

HERE = os.path.dirname(os.path.abspath(__file__))
T = gguf.GGMLQuantizationType
# type -> byte offsets of f16 fields (scales/mins) inside one block
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.IQ4_NL: [0], T.IQ4_XS: [0], T.IQ3_S: [0],
    T.IQ3_XXS: [0], T.IQ2_XXS: [0], T.IQ2_XS: [0], T.IQ2_S: [0], T.IQ1_S: [0],
    T.IQ1_M: [], T.TQ1_0: [52], T.TQ2_0: [64], T.MXFP4: [],
}
# Not in gguf-py: (ggml id, block size, type size, f16 fields, dequantize).
Q1_0, Q2_0 = 41, 42


def deq_q1_0(raw):
    b = raw.reshape(-1, 18)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    bits = np.unpackbits(b[:, 2:], axis=-1, bitorder="little").astype(np.float32)
    return np.where(bits == 1, d, -d).reshape(-1)


def deq_q2_0(raw):
    b = raw.reshape(-1, 18)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    q = (b[:, 2:, None] >> np.array([0, 2, 4, 6], dtype=np.uint8)) & 3
    return ((q.reshape(-1, 64).astype(np.float32) - 1) * d).reshape(-1)


EXTRA = {"Q1_0": (Q1_0, 128, 18, [0], deq_q1_0), "Q2_0": (Q2_0, 64, 18, [0], deq_q2_0)}


def main():
    rng = np.random.default_rng(20241123)
    out = {"generator": {"script": "tests/reference/quants/make_quant_goldens.py", "gguf": getattr(gguf, "__version__", "?"),
                         "numpy": np.__version__}, "types": []}
    cases = [(q.name, int(q), *gguf.GGML_QUANT_SIZES[q], f, lambda r, q=q: dequantize(r, q))
             for q, f in F16_FIELDS.items()]
    cases += [(name, *rest) for name, rest in EXTRA.items()]
    for name, ggml_id, block_size, type_size, fields, deq in cases:
        n_blocks = 4
        raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
        for b in range(n_blocks):
            for off in fields:
                raw[b, off:off + 2] = np.frombuffer(np.float16(rng.uniform(-2, 2)).tobytes(), dtype=np.uint8)
            if name == "IQ1_M":
                # The f16 scale is the top nibble of each of the four scale words (bytes 48..56).
                h = int(np.frombuffer(np.float16(rng.uniform(-2, 2)).tobytes(), dtype=np.uint16)[0])
                for k in range(4):
                    hi = 48 + 2 * k + 1
                    raw[b, hi] = (raw[b, hi] & 0x0F) | (((h >> (4 * k)) & 0xF) << 4)
            if name == "MXFP4":
                raw[b, 0] = rng.integers(110, 140)  # E8M0 exponents near 1
        values = np.asarray(deq(raw.reshape(-1))).astype(np.float32).reshape(-1)
        assert values.size == n_blocks * block_size and np.all(np.isfinite(values)), name
        out["types"].append({"name": name, "ggml_id": ggml_id, "block_size": block_size, "type_size": type_size,
                             "bytes": raw.reshape(-1).tolist(), "values": [float(v) for v in values]})
    with open(os.path.join(HERE, "quant_goldens.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", [t["name"] for t in out["types"]])


if __name__ == "__main__":
    main()

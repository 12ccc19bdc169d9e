#!/usr/bin/env python3
"""Reference dequantization of random blocks of every GGML format ingot reads, by the
`gguf` package's numpy implementation (gguf-py, maintained with llama.cpp).

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
}


def main():
    rng = np.random.default_rng(20241123)
    out = {"generator": {"script": "tests/reference/quants/make_quant_goldens.py", "gguf": getattr(gguf, "__version__", "?"),
                         "numpy": np.__version__}, "types": []}
    for qtype, fields in F16_FIELDS.items():
        block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
        n_blocks = 4
        raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
        for b in range(n_blocks):
            for off in fields:
                raw[b, off:off + 2] = np.frombuffer(np.float16(rng.uniform(-2, 2)).tobytes(), dtype=np.uint8)
        values = dequantize(raw.reshape(-1), qtype).astype(np.float32).reshape(-1)
        assert values.size == n_blocks * block_size and np.all(np.isfinite(values))
        out["types"].append({"name": qtype.name, "ggml_id": int(qtype), "block_size": block_size, "type_size": type_size,
                             "bytes": raw.reshape(-1).tolist(), "values": [float(v) for v in values]})
    with open(os.path.join(HERE, "quant_goldens.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", [t["name"] for t in out["types"]])


if __name__ == "__main__":
    main()

"""Fingerprints of every tensor of the files `benches/compare_quants.sh files` made, by
gguf-py's dequantization (Q1_0 and Q2_0, absent from gguf-py: the numpy transcription in
make_quant_goldens.py), for tests/quant_files.rs.

    python3 tests/reference/quants/fingerprint_quant_files.py [weights/quants]

For each `<name>.gguf` it writes `<name>.fingerprint.json`: per tensor its type, the
number of values, their sum and sum of squares (f64), and 256 values at evenly spaced
positions. The files are large and made on this machine, so neither they nor the
fingerprints are committed.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import refenv  # noqa: E402

PINS = ["gguf==0.19.0", "numpy==2.4.6"]
SAMPLES = 256


def know_q2_0():
    """gguf 0.19.0 predates Q2_0 (type 42), and its reader refuses a file that holds one.
    Registers the type with the block size llama.cpp's newer gguf-py gives it (64 values in
    18 bytes); its values come from the numpy transcription."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    if 42 in GGMLQuantizationType._value2member_map_:
        return
    q2_0 = int.__new__(GGMLQuantizationType, 42)
    q2_0._name_, q2_0._value_ = "Q2_0", 42
    GGMLQuantizationType._value2member_map_[42] = q2_0
    GGMLQuantizationType._member_map_["Q2_0"] = q2_0
    GGML_QUANT_SIZES[q2_0] = (64, 2 + 16)


def main():
    refenv.reexec(PINS, __file__)
    import numpy as np
    know_q2_0()
    from gguf import GGUFReader
    from gguf.quants import dequantize
    sys.path.insert(0, HERE)
    from make_quant_goldens import deq_q1_0, deq_q2_0

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "weights", "quants")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".gguf") or "imatrix" in name:
            continue
        path = os.path.join(folder, name)
        dest = path[:-len(".gguf")] + ".fingerprint.json"
        if os.path.exists(dest) and os.path.getmtime(dest) > os.path.getmtime(path):
            continue
        tensors = {}
        for t in GGUFReader(path).tensors:
            raw = np.asarray(t.data)
            if int(t.tensor_type) == 41:
                v = deq_q1_0(raw.view(np.uint8).reshape(-1))
            elif int(t.tensor_type) == 42:
                v = deq_q2_0(raw.view(np.uint8).reshape(-1))
            else:
                v = dequantize(raw, t.tensor_type)
            v = np.asarray(v, dtype=np.float32).reshape(-1)
            step = max(1, v.size // SAMPLES)
            tensors[t.name] = {
                "ggml_type": int(t.tensor_type),
                "n": int(v.size),
                "sum": float(v.astype(np.float64).sum()),
                "sum_sq": float((v.astype(np.float64) ** 2).sum()),
                "step": step,
                "samples": [float(x) for x in v[::step][:SAMPLES]],
            }
        with open(dest, "w") as f:
            json.dump({"file": name, "tensors": tensors}, f)
        print(name, len(tensors), "tensors")


if __name__ == "__main__":
    main()

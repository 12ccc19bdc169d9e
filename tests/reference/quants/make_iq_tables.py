#!/usr/bin/env python3
"""Writes src/kernels/formats/iq_tables.rs: the codebooks of ggml's i-quants (the grids
IQ1/IQ2/IQ3 index into) and the non-linear 4-bit values of IQ4_NL/IQ4_XS and MXFP4, read
from llama.cpp's ggml/src/ggml-common.h. They are part of the format definitions: a block
stores indices into them.

    python3 tests/reference/quants/make_iq_tables.py [path/to/ggml-common.h]

Default path: the llama-cpp-python 0.3.36 source the anchor script unpacks.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT = os.path.expanduser(
    "~/.cache/llama-cpp-anchor/src/llama_cpp_python-0.3.36/vendor/llama.cpp/ggml/src/ggml-common.h")

TABLES = [  # (C name, Rust name, Rust element type, expected length, per line)
    ("iq2xxs_grid", "IQ2XXS_GRID", "u64", 256, 6),
    ("iq2xs_grid", "IQ2XS_GRID", "u64", 512, 6),
    ("iq2s_grid", "IQ2S_GRID", "u64", 1024, 6),
    ("iq3xxs_grid", "IQ3XXS_GRID", "u32", 256, 10),
    ("iq3s_grid", "IQ3S_GRID", "u32", 512, 10),
    ("iq1s_grid", "IQ1S_GRID", "u64", 2048, 6),
    ("kvalues_iq4nl", "KVALUES_IQ4NL", "i8", 16, 16),
    ("kvalues_fp4", "KVALUES_MXFP4", "i8", 16, 16),
]


def table(src, name):
    m = re.search(r"GGML_TABLE_BEGIN\(\w+,\s*%s,\s*\w+\)(.*?)GGML_TABLE_END\(\)" % name, src, re.S)
    body = re.sub(r"//[^\n]*", "", m.group(1))
    return [int(v, 0) for v in re.findall(r"-?(?:0x[0-9a-fA-F]+|\d+)", body)]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    src = open(path).read()
    out = ["//! The codebooks of ggml's i-quants and the non-linear 4-bit value tables, from",
           "//! llama.cpp's `ggml/src/ggml-common.h` (written by",
           "//! `tests/reference/quants/make_iq_tables.py`; do not edit). A grid entry packs 8",
           "//! (IQ1, IQ2) or 4 (IQ3) bytes, value `j` in byte `j`; IQ1's are signed.",
           ""]
    for cname, rname, ty, n, per in TABLES:
        vals = table(src, cname)
        assert len(vals) == n, (cname, len(vals))
        out.append("#[rustfmt::skip]")
        out.append(f"pub(crate) static {rname}: [{ty}; {n}] = [")
        for i in range(0, n, per):
            if ty == "u64":
                row = ", ".join(f"0x{v & (2**64 - 1):016x}" for v in vals[i:i + per])
            elif ty == "u32":
                row = ", ".join(f"0x{v:08x}" for v in vals[i:i + per])
            else:
                row = ", ".join(str(v) for v in vals[i:i + per])
            out.append(f"    {row},")
        out.append("];")
        out.append("")
    dest = os.path.join(ROOT, "src", "kernels", "formats", "iq_tables.rs")
    with open(dest, "w") as f:
        f.write("\n".join(out))
    print("wrote", dest)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Convert the tiny Hugging Face models to GGUF with llama.cpp's own converter.

Run from the repository root, after make_tiny_models.py:

    python3 tests/reference/convert_tiny_gguf.py
    LLAMA_CPP_DIR=/path/to/llama.cpp python3 tests/reference/convert_tiny_gguf.py  # a checkout

The converter is `convert_hf_to_gguf.py` (with its `conversion/` package and `gguf-py`) from
the llama.cpp tree vendored in the PyPI sdist llama_cpp_python-0.3.36, the same package
`weights/fetch.sh llama-vocabs` takes the tokenizer test suite from. Unless LLAMA_CPP_DIR names
a llama.cpp tree, the sdist is downloaded from PyPI, checked against SDIST_SHA256 and unpacked
into a temporary directory. The converter runs in the reference venv (refenv.py: torch,
transformers, sentencepiece), with the sdist's own gguf-py first on the path.

Output: tests/reference/tiny/gguf/<name>.gguf for each model in MODELS, written exactly as
`convert_hf_to_gguf.py <folder> --outfile <name>.gguf --outtype <type>` writes it (the
stored dtype: f32, f16 or bf16; norms and other 1-D tensors stay f32, as the converter
decides). One step is not the stock command: for a byte-level BPE the converter names the
pre-tokenizer by hashing the tokens of a fixed text, and the hashes it knows are those of the
real vocabularies, not of these small ones trained with the same settings. The script
replaces that lookup (`TextModel.get_vocab_base_pre`) with the name the family's real
tokenizer hashes to (PRE below), so `tokenizer.ggml.pre` is what a real file of the family
carries. SentencePiece vocabularies (phi3, gemma2) do not go through it.

Gemma 3 is not converted: GGUF has no key for its query_pre_attn_scalar (24 here, not the
head size), so llama.cpp would run a different model; the real Gemma 3 GGUF covers it.
"""
import hashlib
import os
import runpy
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import json

import refenv

PINS = ["torch==2.15.0", "transformers==5.23.0", "tokenizers==0.23.3", "gguf==0.19.0",
        "accelerate==1.15.0", "numpy==2.4.6", "sentencepiece==0.2.3", "protobuf==7.36.2"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "tests", "reference", "tiny")
OUT = os.path.join(TINY, "gguf")
SDIST = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# name -> (outtype, tokenizer.ggml.pre for byte-level BPE vocabularies, else None)
MODELS = {
    "llama": ("f32", "gpt-2"),
    "llama3": ("bf16", "llama-bpe"),  # Llama 3.x's vocabulary and rope_freqs
    "mistral": ("f16", "gpt-2"),
    "qwen2": ("f32", "gpt-2"),
    "gpt2": ("f32", "gpt-2"),
    "qwen3": ("bf16", "qwen2"),  # what Qwen3's tokenizer hashes to
    "phi3": ("f16", None),
    "gemma2": ("bf16", None),
    "smollm3": ("bf16", "llama-bpe"),  # SmolLM3 ships Llama 3's tokenizer
}


def llama_cpp_tree(tmp):
    """A llama.cpp tree holding convert_hf_to_gguf.py: LLAMA_CPP_DIR, or the unpacked sdist."""
    given = os.environ.get("LLAMA_CPP_DIR")
    if given:
        return given
    tarball = os.path.join(tmp, SDIST)
    req = urllib.request.Request("https://pypi.org/simple/llama-cpp-python/",
                                 headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        url = next(f["url"] for f in json.load(r)["files"] if f["filename"] == SDIST)
    print(f"downloading {url}")
    with urllib.request.urlopen(url, timeout=600) as r, open(tarball, "wb") as f:
        shutil.copyfileobj(r, f)
    got = refenv.sha256(tarball)
    if got != SDIST_SHA256:
        sys.exit(f"{SDIST}: sha256 {got}, expected {SDIST_SHA256}")
    prefix = SDIST[:-len(".tar.gz")] + "/vendor/llama.cpp/"
    with tarfile.open(tarball) as t:
        members = [m for m in t.getmembers() if m.name.startswith(prefix) and (
            m.name == prefix + "convert_hf_to_gguf.py"
            or m.name.startswith(prefix + "conversion/")
            or m.name.startswith(prefix + "gguf-py/"))]
        t.extractall(tmp, members=members, filter="data")
    return os.path.join(tmp, prefix)


def convert_one(tree, folder, outfile, outtype, pre):
    """In this process: the converter's main() with the pre-tokenizer lookup replaced."""
    sys.path[:0] = [os.path.join(tree, "gguf-py"), tree]
    import conversion.base as base  # the tree's, imported before the script re-imports it
    if pre is not None:
        base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
    sys.argv = ["convert_hf_to_gguf.py", folder, "--outfile", outfile, "--outtype", outtype]
    runpy.run_path(os.path.join(tree, "convert_hf_to_gguf.py"), run_name="__main__")


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--one":
        _, _, tree, folder, outfile, outtype_pre = sys.argv
        outtype, pre = outtype_pre.split(":")
        convert_one(tree, folder, outfile, outtype, pre or None)
        return
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tree = llama_cpp_tree(tmp)
        for name, (outtype, pre) in MODELS.items():
            outfile = os.path.join(OUT, f"{name}.gguf")
            # One process per model: the converter keeps module-level state.
            subprocess.run([sys.executable, os.path.abspath(__file__), "--one", tree,
                            os.path.join(TINY, name), outfile, f"{outtype}:{pre or ''}"],
                           check=True)
            with open(outfile, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            print(f"{name}: {os.path.getsize(outfile)} bytes, sha256 {digest}")


if __name__ == "__main__":
    refenv.reexec(PINS, __file__)
    main()

#!/usr/bin/env python3
"""Goldens for ingot's hand-written Llama 3 and Qwen2 pre-tokenizer regexes.

Run from the repository root with a Python that has `tokenizers` (e.g. the venv of
tests/reference/make_goldens.py):

    python tests/reference/tokenizers/make_split_goldens.py

For every line of corpus.txt (split on "\\n" only), writes the pieces Hugging Face
`tokenizers` produces with `pre_tokenizers.Split(Regex(PATTERN), behavior="isolated")` for
Llama 3's and Qwen2's patterns (as in their tokenizer.json files) to split_goldens.json.
"""
import json
import os

import tokenizers
from tokenizers import Regex, pre_tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
PATTERNS = {
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}


def main():
    data = open(os.path.join(HERE, "corpus.txt"), "rb").read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = {"generator": {"script": "tests/reference/tokenizers/make_split_goldens.py", "tokenizers": tokenizers.__version__},
           "patterns": PATTERNS}
    for name, pattern in PATTERNS.items():
        split = pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)
        out[name] = [[piece for piece, _ in split.pre_tokenize_str(line)] for line in lines]
    with open(os.path.join(HERE, "split_goldens.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    print(f"{len(lines)} lines; wrote split_goldens.json")


if __name__ == "__main__":
    main()

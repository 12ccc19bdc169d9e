#!/usr/bin/env python3
"""Goldens for tokenizer.json options SmolLM2 does not use: `ignore_merges` (Llama 3),
added tokens with `lstrip`/`rstrip`, and Qwen2's layout (an NFC normalizer, its Split
regex, ByteLevel without a regex).

Takes smollm2_tokenizer.json, sets model.ignore_merges = true, gives <|im_end|> lstrip and
rstrip and <|im_start|> rstrip (the Rust test makes the same edits in memory), and writes
HF `tokenizers`' ids for every 8th corpus line plus a few cases around those tokens to
variant_goldens.json. Run from the repository root with a Python that has `tokenizers`.
"""
import json
import os

import tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))

j = json.load(open(os.path.join(HERE, "smollm2_tokenizer.json"), encoding="utf-8"))
j["model"]["ignore_merges"] = True
for t in j["added_tokens"]:
    if t["content"] == "<|im_end|>":
        t["lstrip"] = t["rstrip"] = True
    if t["content"] == "<|im_start|>":
        t["rstrip"] = True
tok = Tokenizer.from_str(json.dumps(j))
lines = open(os.path.join(HERE, "corpus.txt"), "rb").read().decode("utf-8").split("\n")[:-1][::8]
lines += ["hi  <|im_end|>  there", "<|im_start|>  user\n hello <|im_end|>\n", "\t<|im_end|>\t",
          " <|im_start|> <|im_end|> ", "helloworld tokenization internationalization"]
# Qwen2's layout on SmolLM2's vocabulary: ids differ from any real model, but every step
# of the pipeline (NFC, the Split regex, byte-level BPE) is exercised.
q = json.load(open(os.path.join(HERE, "smollm2_tokenizer.json"), encoding="utf-8"))
q["normalizer"] = {"type": "NFC"}
q["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"},
     "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
qtok = Tokenizer.from_str(json.dumps(q))
qlines = open(os.path.join(HERE, "corpus.txt"), "rb").read().decode("utf-8").split("\n")[:-1][::4]
qlines += ["cafe\u0301 re\u0301sume\u0301", "\u1100\u1161\u11a8", "Ａｌｐｈａ ﬁ ①②"]

out = {"generator": {"script": "tests/reference/tokenizers/make_variant_goldens.py", "tokenizers": tokenizers.__version__},
       "cases": [{"text": l, "ids": tok.encode(l, add_special_tokens=False).ids} for l in lines],
       "qwen2_layout": {"normalizer": q["normalizer"], "pre_tokenizer": q["pre_tokenizer"]},
       "qwen2_cases": [{"text": l, "ids": qtok.encode(l, add_special_tokens=False).ids} for l in qlines]}
json.dump(out, open(os.path.join(HERE, "variant_goldens.json"), "w", encoding="utf-8"), ensure_ascii=False, separators=(",", ":"))
print(len(lines), "cases,", len(qlines), "Qwen2-layout cases")

#!/usr/bin/env python3
"""Goldens for tokenizer.json options SmolLM2 does not use: `ignore_merges` (Llama 3) and
added tokens with `lstrip`/`rstrip`.

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
out = {"generator": {"script": "tests/reference/tokenizers/make_variant_goldens.py", "tokenizers": tokenizers.__version__},
       "cases": [{"text": l, "ids": tok.encode(l, add_special_tokens=False).ids} for l in lines]}
json.dump(out, open(os.path.join(HERE, "variant_goldens.json"), "w", encoding="utf-8"), ensure_ascii=False, separators=(",", ":"))
print(len(lines), "cases")

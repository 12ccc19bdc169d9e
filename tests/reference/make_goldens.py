#!/usr/bin/env python3
"""Produce the reference ("golden") outputs the ingot Rust tests compare against.

Run from the repository root:

    python3 tests/reference/make_goldens.py
    INGOT_REF_PYTHON=/path/to/python python3 tests/reference/make_goldens.py   # reuse an env

Unless INGOT_REF_PYTHON names an interpreter to use instead, the script creates a venv at
tests/reference/.venv, pip-installs the pinned versions below from PyPI and re-executes itself
inside it. If weights/SmolLM2-135M-Instruct.Q4_1.gguf is missing it runs weights/fetch.sh
first; the file's sha256 is checked either way.

Writes tests/reference/smollm2.json with
  tokenize    ids for ~40 tricky strings (add_special_tokens=False; special tokens such as
              <|im_start|> written in the text are recognised; SmolLM2 adds no BOS anyway)
  logits      last-position logits of 5 prompts: the top 64 [id, logit] (logit desc, ties by
              id asc), logsumexp (float64), and every 127th logit (ids 0, 127, 254, ...)
  greedy      32 greedy tokens per prompt: plain argmax of the raw logits with a KV cache,
              no EOS handling (generation continues past <|im_end|>)
  perplexity  over tests/reference/ppl_text.txt (input, not written here): the whole file as
              is (trailing newline included) is tokenized without BOS and cut into
              consecutive non-overlapping windows of 256 tokens (a last partial window is
              kept if it has >= 2 tokens); each window runs from an empty cache and every
              token after the window's first is scored. NLL = -log_softmax in float64 of the
              float32 logits; perplexity = exp(nll_sum / n_scored). The text is the whole of
              chapter 1 of Jane Austen's "Pride and Prejudice" (1813, public domain), typed
              from memory in plain ASCII, so it may differ from printed editions in detail.

Model: transformers loads the GGUF and dequantizes every tensor (Q4_1, Q8_0 embeddings) to
float32; the LM head is tied to the embeddings. Inference runs on CPU in float32 with the
"eager" attention implementation and one torch thread.

Tokenizer: the original SmolLM2 tokenizer.json pre-tokenizes with
Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]
(llama.cpp: tokenizer.ggml.pre = "smollm"). The tokenizer transformers builds from the GGUF
has only the ByteLevel step. "12345" still comes out as 5 tokens (the vocab has no
multi-digit tokens) but whitespace before digits and numeric characters such as "½" come out
differently ("a  2": [81, 256, 34] with Digits, [81, 216, 216, 34] without). So the goldens
use a tokenizer built here with the `tokenizers` library from the GGUF vocab and merges and
that exact pipeline (BPE, ByteLevel decoder, the 17 control tokens as special added tokens).
The script prints the strings where the two disagree.
"""
import json
import os

import refenv

PINS = ["torch==2.15.0", "transformers==5.23.0", "tokenizers==0.23.3", "gguf==0.19.0",
        "accelerate==1.15.0", "numpy==2.4.6"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "reference")
MODEL_DIR = os.path.join(ROOT, "weights")
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
ATTN = "eager"
TOP_K, STRIDE, N_GREEDY, PPL_CTX = 64, 127, 32, 256

CHAT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n")
PROMPTS = {"story": "Once upon a time, there was a little", "france": "The capital of France is",
           "code": "def fibonacci(n):\n    ", "digits": "1 + 1 = 2, 2 + 2 =", "chat": CHAT}
GREEDY = ["story", "france", "chat"]
TOKENIZE = [
    "Hello, world! This is a plain ASCII sentence.", "  leading spaces", "trailing spaces   ",
    " ", "", "a  b", "\n\n\n", "  \t x", "tabs\tand\t\ttabs", "line one\nline two\r\n",
    "12345", "3.14159", "year 2024", "a  2", "Total:   100\n\n42", "x ½ and x² and ①",
    "def add(a, b):\n    return a + b\n\n\nif __name__ == \"__main__\":\n    print(add(1, 2))\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
    "I'm, you're, it's, we'll, they'd, she's, I've", "I'M YOU'RE IT'S WE'LL", "don't 'quote' s",
    "!!!???...", "--- *** ### ~~~ <<< >>> ((()))", "naïve café, déjà vu, Ångström, straße",
    "你好，世界！今天天气很好。", "日本語のテキストとカタカナ、ひらがな。", "안녕하세요, 세계!",
    "Привет, мир! Как дела?", "Γειά σου Κόσμε, αβγδε", "مرحبا بالعالم", "नमस्ते दुनिया, हिन्दी भाषा",
    "👨‍👩‍👧‍👦 family", "🇫🇷🇯🇵", "👍🏽 ok 🙂", "<|im_start|>user\nHi<|im_end|>\n",
    "text<|endoftext|>more<repo_name>x<file_sep>", "<|im_start|>", "<|im_start",
    "https://example.com/path?q=1&r=two#frag", "email: someone@example.org, tel. +33 1 23 45 67 89",
]


def read_gguf(path):
    """Print the GGUF metadata of interest; return (tokens, merges, token types, template)."""
    import gguf
    reader = gguf.GGUFReader(path)
    f = reader.fields
    big = {"tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type",
           "tokenizer.ggml.scores", "tokenizer.chat_template"}
    for key in f:
        if key not in big and not key.startswith("GGUF."):
            print(f"  {key} = {f[key].contents()!r}")
    for t in reader.tensors:
        if not t.name.startswith("blk.") or t.name.startswith("blk.0."):
            print(f"  tensor {t.name}: {t.tensor_type.name} {[int(d) for d in t.shape]}")
    print(f"  {len(reader.tensors)} tensors; output.weight present:",
          any(t.name == "output.weight" for t in reader.tensors))
    template = f["tokenizer.chat_template"].contents() if "tokenizer.chat_template" in f else None
    print("  chat_template:", repr(template))
    return (f["tokenizer.ggml.tokens"].contents(), f["tokenizer.ggml.merges"].contents(),
            f["tokenizer.ggml.token_type"].contents(), template)


def build_tokenizer(tokens, merges, types):
    """SmolLM2's tokenizer.json pipeline, rebuilt from the GGUF vocab and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges],
                     fuse_unk=False, byte_fallback=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    control = [AddedToken(t, special=True, normalized=False)
               for t, ty in zip(tokens, types) if ty == 3]  # 3 = CONTROL
    tok.add_special_tokens(control)
    return tok


def main():
    import numpy as np
    import tokenizers
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    path = os.path.join(MODEL_DIR, MODEL_FILE)
    digest = refenv.sha256(path)
    assert digest == MODEL_SHA256, f"{path}: sha256 {digest}, want {MODEL_SHA256}"
    print("GGUF metadata:")
    tokens, merges, types, template = read_gguf(path)
    tok = build_tokenizer(tokens, merges, types)

    def encode(text):
        return tok.encode(text, add_special_tokens=False).ids

    # Compare with the tokenizer and chat template transformers derives from the GGUF.
    hf_tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    hf_pre = json.loads(hf_tok.backend_tokenizer.to_str())["pre_tokenizer"]
    print("transformers' GGUF tokenizer pre_tokenizer:", json.dumps(hf_pre))
    print("  '12345' ->", hf_tok.encode("12345", add_special_tokens=False), "(ours:", encode("12345"), ")")
    for text in TOKENIZE:
        hf_ids = hf_tok.encode(text, add_special_tokens=False)
        if hf_ids != encode(text):
            print(f"  differs on {text!r}: transformers {hf_ids} ours {encode(text)}")
    if template is not None:
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        rendered = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        print("chat template rendering matches the hard-coded chat prompt:", rendered == CHAT)
        if rendered != CHAT:
            print("  rendered:", repr(rendered))

    tokenize = []
    for text in TOKENIZE:
        ids = encode(text)
        assert tok.decode(ids, skip_special_tokens=False) == text, f"round trip fails: {text!r}"
        tokenize.append({"text": text, "ids": ids})

    model = AutoModelForCausalLM.from_pretrained(
        MODEL_DIR, gguf_file=MODEL_FILE, dtype=torch.float32, attn_implementation=ATTN)
    model.eval()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()

    def forward(ids, cache=None):
        with torch.no_grad():
            out = model(torch.tensor([ids]), past_key_values=cache, use_cache=True)
        return out.logits[0].float().numpy(), out.past_key_values

    logits = []
    for name, text in PROMPTS.items():
        ids = encode(text)
        last = forward(ids)[0][-1]
        order = sorted(range(len(last)), key=lambda i: (-last[i], i))[:TOP_K]
        x = last.astype(np.float64)
        lse = float(x.max() + np.log(np.exp(x - x.max()).sum()))
        logits.append({"name": name, "ids": ids,
                       "top_k": [[i, float(last[i])] for i in order], "logsumexp": lse,
                       "stride": STRIDE, "strided": [float(v) for v in last[::STRIDE]]})
        top = ", ".join(f"{tok.decode([i])!r} {float(last[i]):.3f}" for i in order[:5])
        print(f"logits {name}: {len(ids)} ids; top: {top}")

    greedy = []
    for name in GREEDY:
        ids = encode(PROMPTS[name])
        out, cache = forward(ids)
        cont, margins = [], []
        for _ in range(N_GREEDY):
            last = out[-1]
            nxt = int(np.argmax(last))
            two = np.sort(last)[-2:]
            margins.append(float(two[1] - two[0]))
            cont.append(nxt)
            out, cache = forward([nxt], cache)
        text = tok.decode(cont, skip_special_tokens=False)
        greedy.append({"name": name, "ids": ids, "continuation": cont, "text": text})
        print(f"greedy {name}: {text!r}\n  smallest top-1/top-2 margin {min(margins):.4f} "
              f"at step {margins.index(min(margins))}")

    ppl_rel = "tests/reference/ppl_text.txt"
    with open(os.path.join(ROOT, ppl_rel), encoding="utf-8", newline="") as f:
        ids = encode(f.read())
    windows = [ids[i:i + PPL_CTX] for i in range(0, len(ids), PPL_CTX)]
    windows = [w for w in windows if len(w) >= 2]
    nll_sum, n_scored = 0.0, 0
    for w in windows:
        lp = torch.log_softmax(torch.from_numpy(forward(w)[0]).double(), dim=-1)
        nll_sum += float(-lp[torch.arange(len(w) - 1), torch.tensor(w[1:])].sum())
        n_scored += len(w) - 1
    ppl = float(np.exp(nll_sum / n_scored))
    print(f"perplexity: {len(ids)} tokens, {len(windows)} windows, {n_scored} scored, ppl {ppl:.4f}")

    golden = {
        "model_file": MODEL_FILE, "model_sha256": MODEL_SHA256,
        "generator": {"script": "tests/reference/make_goldens.py",
                      "transformers": transformers.__version__,
                      "torch": torch.__version__.split("+")[0],
                      "tokenizers": tokenizers.__version__, "attn_implementation": ATTN},
        "tokenize": tokenize, "logits": logits, "greedy": greedy,
        "perplexity": {"file": ppl_rel, "ctx": PPL_CTX, "n_windows": len(windows),
                       "n_scored": n_scored, "nll_sum": nll_sum, "perplexity": ppl},
    }
    out_path = os.path.join(HERE, "smollm2.json")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(dump(golden) + "\n")
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


def dump(obj, depth=0):
    """JSON with objects and lists of objects spread over lines, everything else inline.
    Floats use Python's repr: the shortest text that reads back as the same double, so the
    float32 logits round-trip exactly."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dump(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        if depth >= 1:  # entries of tokenize/logits/greedy: one line per key is enough
            return "[\n" + ",\n".join(inner + dump_flat(o) for o in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def dump_flat(entry):
    if len(json.dumps(entry)) < 200:
        return json.dumps(entry, ensure_ascii=False, separators=(", ", ": "))
    return dump(entry, 2)


if __name__ == "__main__":
    refenv.fetch_model(MODEL_DIR, MODEL_FILE)
    refenv.reexec(PINS, __file__)
    main()

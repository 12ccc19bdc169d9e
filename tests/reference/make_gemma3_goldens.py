#!/usr/bin/env python3
"""Produce the reference ("golden") outputs for Gemma 3 270M that the ingot Rust tests compare
against. The companion of make_goldens.py (SmolLM2): same bootstrap, layout and dump format.

Run from the repository root:

    python3 tests/reference/make_gemma3_goldens.py
    INGOT_REF_PYTHON=/path/to/python python3 tests/reference/make_gemma3_goldens.py  # reuse an env

Unless INGOT_REF_PYTHON names an interpreter to use instead, the script creates a venv at
tests/reference/.venv, pip-installs the pinned versions below from PyPI and re-executes itself
inside it (the pins are make_goldens.py's plus sentencepiece and protobuf; the venv is reused
when its pins.txt already lists all of them). If weights/gemma-3-270m-q4_k_m.gguf is missing it
runs `weights/fetch.sh gemma3` first; the file's sha256 is checked either way. Deterministic:
no sampling, one torch thread; takes a few minutes.

Writes tests/reference/gemma3.json (same keys as smollm2.json) with
  tokenize    ids for ~50 tricky strings, add_special_tokens=False (so no BOS): whitespace
              runs, newlines, tabs, digits, unicode, emoji, CJK, byte fallback, control and
              user-defined tokens written in the text. Every entry decodes back to its text
              (decode(ids, skip_special_tokens=False)).
  logits      last-position logits of 6 prompts, each tokenized WITH the BOS (id 2) first
              (add_special_tokens=True; Gemma's tokenizer.ggml.add_bos_token is true): the top
              64 [id, logit] (logit desc, ties by id asc), logsumexp (float64), and every 509th
              logit (ids 0, 509, 1018, ...: 516 values; smollm2.json's stride of 127 would
              make 2065 per prompt here). Prompts: story, france, code, digits, chat (Gemma's
              turn format with <start_of_turn>/<end_of_turn> written in the text, matched as
              ids 105/106) and "long": the first 600 ids (BOS included) of
              [BOS] + tokens(ppl_text.txt), so its last position (599) sees all 600 positions in
              the 3 full-attention layers but only positions 88..599 in the 15 sliding ones
              (the script checks that lifting the window changes these logits).
  greedy      32 greedy tokens for story, france and code (BOS first): plain argmax of the
              raw logits with a KV cache, no EOS handling. The script prints the smallest
              top-1/top-2 margin of each.
  perplexity  over tests/reference/ppl_text.txt (input, not written here): the whole file as is
              (trailing newline included) is tokenized WITH the BOS at the start ([2] + ids,
              the BOS only once, at the very start of the stream) and cut into consecutive
              non-overlapping windows of 256 tokens (a last partial window is kept if it has
              >= 2 tokens; only the first window starts with BOS); each window runs from an
              empty cache and every token after the window's first is scored. NLL =
              -log_softmax in float64 of the float32 logits; perplexity = exp(nll_sum/n_scored).
              This is ingot's model::perplexity on tokenizer.encode(text, true). Gemma scores
              windows that do not start with BOS much worse, hence the high ctx-256 value.
  perplexity_1024  the same token stream cut into windows of 1024 tokens, so that windows
              longer than the 512-token sliding window are covered (same keys).
  model_config  the fields of transformers' Gemma3TextConfig that matter to a reimplementation.

And tests/reference/tokenizers/gemma3_goldens.json, in the layout of goldens.json
(make_tokenizer_goldens.py): meta, then "gemma3": {"file": the GGUF file name (the tokenizer
comes from weights/<file>; there is no tokenizer.json), "lines": one object per line of
corpus.txt (split on b"\\n" only) {"ids": encode(line, add_special_tokens=False),
"decoded": decode(ids, skip_special_tokens=False)}, "decode_cases": ~200 id sequences (fixed
seed) with their decode(ids, skip_special_tokens=False)}. With add_special_tokens=True every
line gives [2] + ids (checked here, not stored). meta.sentencepiece_disagreements lists the
corpus lines where the SentencePiece model below disagrees, with its ids.

Model: transformers 5.23 loads the GGUF (Gemma3ForCausalLM, config Gemma3TextConfig) and
dequantizes every tensor (Q4_K, Q5_0, Q6_K, Q8_0; token_embd Q8_0) to float32; the LM head is
tied to the embeddings (the GGUF has no output.weight). Inference runs on CPU in float32 with
the "eager" attention implementation and one torch thread. What transformers uses for this
GGUF (printed by the script; also in gemma3.json model_config):
  * 18 layers, hidden 640, 4 query heads and 1 KV head of head_dim 256, FFN 2048 with
    gelu_pytorch_tanh (tanh approximation) gating: down(gelu(gate(x)) * up(x)).
  * embeddings multiplied by sqrt(640) = 25.298221 (as a float32 tensor) before layer 0.
  * RMSNorm eps 1e-6 (GGUF: 9.999999974752427e-07), computed in float32 as
    x * rsqrt(mean(x^2) + eps) * (1 + w). Each layer: input_layernorm -> attention ->
    post_attention_layernorm -> residual add; pre_feedforward_layernorm -> MLP ->
    post_feedforward_layernorm -> residual add; final norm, then the tied LM head.
  * q_norm and k_norm: the same RMSNorm over each head's 256 dims, applied to q and k before
    RoPE. Attention scale query_pre_attn_scalar^-0.5 = 256^-0.5 = 0.0625.
  * Norm weights: llama.cpp's converter stores Gemma norm weights as (1 + w); transformers'
    GGUF loader (Gemma2TensorProcessor, used for gemma3) subtracts 1 from every tensor whose
    name contains "norm.weight" (attn_norm, post_attention_norm, ffn_norm, post_ffw_norm,
    attn_q_norm, attn_k_norm, output_norm) and the model adds it back. So a reimplementation
    multiplies by the GGUF norm weight as stored. (The script checks (w_hf + 1) == w_gguf.)
  * layer_types: layers 5, 11 and 17 (every 6th) are full attention, the other 15 use a
    sliding window of 512: query position q attends key positions k with q - 512 < k <= q
    (512 keys including itself).
  * RoPE, rotate-half ("NEOX") pairing of dims i and i + 128: theta 1,000,000 on the full
    attention layers (gemma3.rope.freq_base) and 10,000 on the sliding layers (not in the
    GGUF: transformers' Gemma3TextConfig default, = Gemma 3's rope_local_base_freq); no RoPE
    scaling for this model.
  * final_logit_softcapping null and attn_logit_softcapping null: no soft-capping at all.
  * vocab 262144 (from the GGUF token list), max_position_embeddings 32768.

Tokenizer. The GGUF says tokenizer.ggml.model = "llama" (SentencePiece BPE): 262144 tokens
with scores and types; no merges. Types: 6249 CONTROL (3): <pad> 0, <eos> 1, <bos> 2, <unk> 3,
<mask> 4, <unused0..98> 6..104, <start_of_turn> 105, <end_of_turn> 106, <unused99..6241>
256001..262143; 165 USER_DEFINED (4): [multimodal] 5, "\\n" x1..31 (107..137), runs of 2..31
spaces (138..167), 70 HTML tags 168..237 (<table> <tr> <td> <h1> <b> <i> <s> </s> <code> <a>
<div> ...), runs of 1..31 tabs (255968..255998), <start_of_image> 255999, <end_of_image>
256000; 256 BYTE (6) <0x00>..<0xFF> (238..493); the rest NORMAL (1). No UNKNOWN (2) token:
<unk> is typed CONTROL. Scores: -1000 for control/user-defined, 0 for bytes, and for normal
tokens minus their rank (494 "▁t" 0, 495 "in" -1, ...), so score order = id order.
The space-run tokens are stored with real spaces ("  "), not "▁▁" (llama.cpp's converter
writes user-defined pieces with ▁ turned back into spaces); every other piece uses ▁ for a
space.
add_bos_token true, add_eos_token false, add_space_prefix false, pre "default", no chat
template in this GGUF.

transformers builds (integrations/gguf/gguf_tokenizer_mapping.py: gemma_tokenizer) a
GemmaTokenizer: the space-run tokens respelled "▁▁".., merges derived from the vocabulary and
ranked by token id (lower id first), BPE(byte_fallback=True, fuse_unk=True, unk "<unk>");
normalizer Replace(" " -> "▁") (nothing else: no NFKC, no dummy prefix); pre_tokenizer
Split(" ", merged_with_previous), a no-op after that normalizer; decoder Sequence[Replace("▁"
-> " "), ByteFallback, Fuse] (no Strip); post-processor: BOS (2) first. Added tokens: every
CONTROL token as special (normalized=False), every USER_DEFINED one as non-special
(normalized=False) -- except the space runs, which transformers looks up with their GGUF
spelling ("  ") in the respelled vocabulary, fails to find and so does not add. Consequences:
  * CONTROL tokens written in the text ARE matched: "<start_of_turn>user" -> [105, 2364],
    likewise <bos> <eos> <pad> <unk> <mask> <unusedN>. (So does an HF tokenizer.json
    converted from Gemma's tokenizer.model; SentencePiece itself never matches control
    symbols in text, llama.cpp only when asked to parse special tokens.)
  * USER_DEFINED tokens are split off whole, leftmost-longest, before BPE: "\\n\\n" -> 108,
    "\\n" x35 -> [137 (31 newlines), 110 (4)], "\\t\\t" -> 255969, "<table>" -> 168, "<s>" -> 203.
  * Space runs are not added tokens but BPE merges: since the runs have the lowest ids of any
    mergeable token, runs of up to 31 spaces always become one token ("a  b" -> a, ▁▁, b;
    "  hi" -> ▁▁, hi), and a space run never merges with the next word ("   hi" -> ▁▁▁, hi).
    Longer runs are whatever BPE by merge rank makes of them: 32 spaces -> 16 + 16, 33 ->
    16 + 17, 40 -> 16 + 24, 63 -> 16 + 16 + 31, 64 -> 16 x 4.
  * Decoding: ▁ -> space in every token (added ones included), then ByteFallback: a run of
    consecutive <0xNN> tokens that is valid UTF-8 becomes its text, otherwise EVERY byte token
    of the run becomes U+FFFD (SentencePiece instead keeps the valid parts of the run and
    decodes <unk> as " ⁇ "); no leading space is stripped. Special tokens decode to their
    text with skip_special_tokens=False.
  * transformers' own conversion of a Gemma tokenizer.model (GemmaConverter, which adds the
    user-defined "▁▁".. tokens with normalized=False, so they never match raw spaces) gives
    the same ids as the GGUF-built tokenizer on every corpus line and test string here.
The goldens use the GGUF-built HF tokenizer (hf_tok.backend_tokenizer).

Cross-check with real SentencePiece (0.2.3): the script builds a ModelProto from the GGUF
vocabulary: model_type BPE, byte_fallback true, vocab_size 262144, pieces/scores/types as in
the GGUF except <unk> typed UNKNOWN (sentencepiece requires exactly one) and the space runs
respelled "▁▁".. (with the GGUF's real spaces they are never produced: the normalizer
matches the raw run and escapes it to ▁s, which then come out as single "▁" tokens, so
e.g. "    x" -> ▁ ▁ ▁ ▁x -- clearly not Gemma); normalizer "identity" with no charsmap,
add_dummy_prefix false, remove_extra_whitespaces false, escape_whitespaces true;
trainer_spec split_digits/split_by_whitespace/... true as in Gemma's (they do not affect
encoding). It agrees with the HF tokenizer everywhere except:
  * CONTROL tokens in text: SentencePiece spells them out ("<start_of_turn>" -> < start _ of
    _ turn >; "<unk>" -> < unk >), HF matches them (see above).
  * runs of more than 31 spaces: SentencePiece matches user-defined pieces greedily,
    longest first (32 spaces + "hi" -> ▁x31, ▁hi; 40 spaces -> 31 + 9), HF merges pairwise
    (16 + 16, hi). llama.cpp matches the (real-space) user-defined tokens in the raw text,
    longest first, like SentencePiece.
The script prints all disagreements on the test strings and the corpus. (That the original
tokenizer.model spells the runs "▁▁": llama.cpp's convert_hf_to_gguf.py replaces ▁ by a space
in non-special added tokens, "# pre-normalize user-defined spaces", noted as added for Gemma.)
"""
import hashlib
import json
import os
import random
import re
import sys

import refenv

PINS = ["torch==2.15.0", "transformers==5.23.0", "tokenizers==0.23.3", "gguf==0.19.0",
        "accelerate==1.15.0", "numpy==2.4.6", "sentencepiece==0.2.3", "protobuf==7.36.2"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "reference")
TOK_DIR = os.path.join(HERE, "tokenizers")
MODEL_DIR = os.path.join(ROOT, "weights")
MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
ATTN = "eager"
TOP_K, STRIDE, N_GREEDY, PPL_CTX, PPL_CTX_LONG, LONG_PROMPT = 64, 509, 32, 256, 1024, 600
SEED, N_DECODE_CASES = 20250301, 200
PPL_REL = "tests/reference/ppl_text.txt"

PROMPTS = {"story": "Once upon a time, there was a little", "france": "The capital of France is",
           "code": "def fibonacci(n):\n    ", "digits": "1 + 1 = 2, 2 + 2 =",
           "chat": "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n"
                   "<start_of_turn>model\n",
           "long": None}  # the first LONG_PROMPT ids of [BOS] + tokens(ppl_text.txt)
GREEDY = ["story", "france", "code"]
TOKENIZE = [
    "Hello, world! This is a plain ASCII sentence.", "  leading spaces", "trailing spaces   ",
    " ", "", "a  b", "\n\n\n", "  \t x", "tabs\tand\t\ttabs", "line one\nline two\r\n",
    "12345", "3.14159", "year 2024", "a  2", "Total:   100\n\n42", "x ½ and x² and ①",
    "def add(a, b):\n    return a + b\n\n\nif __name__ == \"__main__\":\n    print(add(1, 2))\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
    "I'm, you're, it's, we'll, they'd, she's, I've", "don't 'quote' s",
    "!!!???...", "--- *** ### ~~~ <<< >>> ((()))", "naïve café, déjà vu, Ångström, straße",
    "你好，世界！今天天气很好。", "日本語のテキストとカタカナ、ひらがな。", "안녕하세요, 세계!",
    "Привет, мир! Как дела?", "Γειά σου Κόσμε, αβγδε", "مرحبا بالعالم", "नमस्ते दुनिया, हिन्दी भाषा",
    "👨‍👩‍👧‍👦 family", "🇫🇷🇯🇵", "👍🏽 ok 🙂",
    "다람쥐 헌 쳇바퀴에 타고파", "\x00\x01\x7f and \ue000\U0010fffd", "a\u00a0b\u3000c\u200bd",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "text<eos>more<bos>x<pad>y<unk>z<mask>", "<start_of_turn>", "<start_of_turn", "<unused0><unused6241>",
    "<table><tr><td>cell</td></tr></table> <b>bold</b> <s>x</s>", "[multimodal]<start_of_image><end_of_image>",
    " " * 31 + "x", " " * 32 + "hi", " " * 40 + "x", "\n" * 35, "\t" * 33 + "end", " \n \n  \n",
    "https://example.com/path?q=1&r=two#frag", "email: someone@example.org, tel. +33 1 23 45 67 89",
]


def read_gguf(path):
    """Print the GGUF metadata of interest; return (reader, tokens, scores, token types)."""
    import collections

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
    print("  chat_template present:", "tokenizer.chat_template" in f)
    tokens = f["tokenizer.ggml.tokens"].contents()
    scores = f["tokenizer.ggml.scores"].contents()
    types = f["tokenizer.ggml.token_type"].contents()
    print("  token types:", dict(sorted(collections.Counter(types).items())))
    for ty, name in [(3, "CONTROL"), (4, "USER_DEFINED")]:
        ids = [i for i, t in enumerate(types) if t == ty]
        print(f"  {name}: {len(ids)}, e.g.", [(i, tokens[i]) for i in ids if i < 110 or i > 255960][:12],
              "...", [(i, tokens[i]) for i in ids[-3:]])
    return reader, tokens, scores, types


def build_sentencepiece(tokens, scores, types):
    """A SentencePiece BPE model from the GGUF vocabulary (see the module docstring)."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    m = pb.ModelProto()
    ts = m.trainer_spec
    ts.model_type = pb.TrainerSpec.BPE
    ts.vocab_size = len(tokens)
    ts.byte_fallback = True
    ts.unk_id, ts.bos_id, ts.eos_id, ts.pad_id = 3, 2, 1, 0
    ts.unk_piece, ts.bos_piece, ts.eos_piece, ts.pad_piece = "<unk>", "<bos>", "<eos>", "<pad>"
    ts.split_digits = ts.allow_whitespace_only_pieces = True
    ts.split_by_whitespace = ts.split_by_unicode_script = ts.split_by_number = True
    ns = m.normalizer_spec
    ns.name = "identity"
    ns.precompiled_charsmap = b""
    ns.add_dummy_prefix = ns.remove_extra_whitespaces = False
    ns.escape_whitespaces = True
    for i, (t, s, ty) in enumerate(zip(tokens, scores, types)):
        p = m.pieces.add()
        if ty == 4 and t and set(t) == {" "}:
            t = "\u2581" * len(t)
        p.piece, p.score, p.type = t, float(s), int(ty)
        if i == 3:
            p.type = pb.ModelProto.SentencePiece.UNKNOWN
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(m.SerializeToString())
    return sp


def check_norms(reader, model):
    """How transformers maps the GGUF norm weights: print max |(w_hf + 1) - w_gguf|."""
    import numpy as np
    names = {"attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
             "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}
    params = dict(model.named_parameters())
    worst, exact, n, lo, hi = 0.0, 0, 0, np.inf, -np.inf
    for t in reader.tensors:
        if t.name == "output_norm.weight":
            hf = "model.norm.weight"
        elif t.name.startswith("blk.") and t.name.split(".")[2] in names:
            hf = f"model.layers.{t.name.split('.')[1]}.{names[t.name.split('.')[2]]}.weight"
        else:
            continue
        g = np.array(t.data, dtype=np.float32).reshape(-1)
        w = params[hf].detach().numpy().reshape(-1)
        worst = max(worst, float(np.abs((w + np.float32(1)) - g).max()))
        exact += int(((w + np.float32(1)) == g).sum())
        n += g.size
        lo, hi = min(lo, float(g.min())), max(hi, float(g.max()))
    print(f"norm weights: GGUF values in [{lo:.4f}, {hi:.4f}]; max |(hf + 1) - gguf| = {worst:g}; "
          f"bit-identical after +1: {exact}/{n}")


def main():
    import numpy as np
    import sentencepiece
    import tokenizers
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    path = os.path.join(MODEL_DIR, MODEL_FILE)
    digest = refenv.sha256(path)
    assert digest == MODEL_SHA256, f"{path}: sha256 {digest}, want {MODEL_SHA256}"
    print("GGUF metadata:")
    reader, tokens, scores, types = read_gguf(path)

    hf_tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    tok = hf_tok.backend_tokenizer
    cfg = json.loads(tok.to_str())
    print("transformers' GGUF tokenizer:", type(hf_tok).__name__)
    for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
        print(f"  {key}: {json.dumps(cfg[key])}")
    print("  model:", {k: v for k, v in cfg["model"].items() if k not in ("vocab", "merges")},
          f"{len(cfg['model']['merges'])} merges")
    added = cfg["added_tokens"]
    print(f"  {len(added)} added tokens, {sum(a['special'] for a in added)} special;",
          "space runs added:", any(set(a["content"]) <= {" ", "\u2581"} for a in added))

    def encode(text):
        return tok.encode(text, add_special_tokens=False).ids

    def encode_bos(text):
        return tok.encode(text, add_special_tokens=True).ids

    def decode(ids):
        return tok.decode(ids, skip_special_tokens=False)

    sp = build_sentencepiece(tokens, scores, types)
    with open(os.path.join(TOK_DIR, "corpus.txt"), "rb") as f:
        corpus_bytes = f.read()
    lines = corpus_bytes.decode("utf-8").split("\n")[:-1]

    print("HF (GGUF-built) vs SentencePiece on the test strings:")
    for text in TOKENIZE:
        ids = encode(text)
        assert hf_tok.encode(text, add_special_tokens=False) == ids
        assert hf_tok.encode(text) == encode_bos(text) == [2] + ids
        if sp.encode(text) != ids:
            print(f"  differs on {text!r}:\n    HF {[tok.id_to_token(i) for i in ids]}"
                  f"\n    SP {[sp.id_to_piece(i) for i in sp.encode(text)]}")
    sp_diff = []
    for i, line in enumerate(lines):
        ids, sids = encode(line), sp.encode(line)
        if ids != sids:
            sp_diff.append({"line": i, "sentencepiece_ids": sids})
    print(f"HF vs SentencePiece on corpus.txt: {len(sp_diff)} of {len(lines)} lines differ")
    for d in sp_diff:
        line = lines[d["line"]]
        why = ("control token in text" if re.search(r"<(pad|eos|bos|unk|mask|start_of_turn|end_of_turn|unused\d+)>", line)
               else "space run > 31" if " " * 32 in line else "OTHER")
        print(f"  line {d['line']} ({why}): {line[:70]!r}")

    tokenize = []
    for text in TOKENIZE:
        ids = encode(text)
        assert decode(ids) == text, f"round trip fails: {text!r} -> {decode(ids)!r}"
        tokenize.append({"text": text, "ids": ids})

    write_tokenizer_goldens(tok, lines, corpus_bytes, sp, sp_diff, encode, encode_bos, decode)

    model = AutoModelForCausalLM.from_pretrained(
        MODEL_DIR, gguf_file=MODEL_FILE, dtype=torch.float32, attn_implementation=ATTN)
    model.eval()
    print("model.config:", model.config)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    print("embed_scale:", float(model.model.embed_tokens.embed_scale))
    check_norms(reader, model)
    c = model.config
    model_config = {k: getattr(c, k) for k in (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "hidden_activation", "rms_norm_eps", "query_pre_attn_scalar",
        "sliding_window", "layer_types", "rope_parameters", "final_logit_softcapping",
        "attn_logit_softcapping", "max_position_embeddings", "tie_word_embeddings")}
    model_config["embed_scale"] = float(model.model.embed_tokens.embed_scale)

    def forward(ids, cache=None):
        with torch.no_grad():
            out = model(torch.tensor([ids]), past_key_values=cache, use_cache=True)
        return out.logits[0].float().numpy(), out.past_key_values

    with open(os.path.join(ROOT, PPL_REL), encoding="utf-8", newline="") as f:
        ppl_ids = encode_bos(f.read())
    assert ppl_ids[0] == 2 and 2 not in ppl_ids[1:]

    def prompt_ids(name):
        return ppl_ids[:LONG_PROMPT] if PROMPTS[name] is None else encode_bos(PROMPTS[name])

    logits, lasts = [], {}
    for name in PROMPTS:
        ids = prompt_ids(name)
        last = lasts[name] = forward(ids)[0][-1]
        order = sorted(range(len(last)), key=lambda i: (-last[i], i))[:TOP_K]
        x = last.astype(np.float64)
        lse = float(x.max() + np.log(np.exp(x - x.max()).sum()))
        logits.append({"name": name, "ids": ids,
                       "top_k": [[i, float(last[i])] for i in order], "logsumexp": lse,
                       "stride": STRIDE, "strided": [float(v) for v in last[::STRIDE]]})
        top = ", ".join(f"{decode([i])!r} {float(last[i]):.3f}" for i in order[:5])
        print(f"logits {name}: {len(ids)} ids; top: {top}")

    # Does the sliding window matter for "long"? Rerun it with a window nobody reaches.
    saved = model.config.sliding_window
    model.config.sliding_window = 1 << 20
    nowin = forward(prompt_ids("long"))[0][-1]
    model.config.sliding_window = saved
    print(f"long prompt without the sliding window: max |diff| of the last logits "
          f"{float(np.abs(nowin - lasts['long']).max()):.4f}, "
          f"top-1 {int(np.argmax(nowin))} vs {int(np.argmax(lasts['long']))}")
    again = forward(prompt_ids("long"))[0][-1]
    assert np.array_equal(again, lasts["long"]), "the sliding window was not restored"

    greedy = []
    for name in GREEDY:
        ids = prompt_ids(name)
        out, cache = forward(ids)
        cont, margins = [], []
        for _ in range(N_GREEDY):
            last = out[-1]
            nxt = int(np.argmax(last))
            two = np.sort(last)[-2:]
            margins.append(float(two[1] - two[0]))
            cont.append(nxt)
            out, cache = forward([nxt], cache)
        text = decode(cont)
        greedy.append({"name": name, "ids": ids, "continuation": cont, "text": text})
        print(f"greedy {name}: {text!r}\n  smallest top-1/top-2 margin {min(margins):.4f} "
              f"at step {margins.index(min(margins))}; in the first 8 steps {min(margins[:8]):.4f}")

    def perplexity(ctx):
        windows = [ppl_ids[i:i + ctx] for i in range(0, len(ppl_ids), ctx)]
        windows = [w for w in windows if len(w) >= 2]
        nll_sum, n_scored = 0.0, 0
        for w in windows:
            lp = torch.log_softmax(torch.from_numpy(forward(w)[0]).double(), dim=-1)
            nll_sum += float(-lp[torch.arange(len(w) - 1), torch.tensor(w[1:])].sum())
            n_scored += len(w) - 1
            del lp
        ppl = float(np.exp(nll_sum / n_scored))
        print(f"perplexity ctx {ctx}: {len(ppl_ids)} tokens (BOS included), {len(windows)} windows "
              f"{[len(w) for w in windows]}, {n_scored} scored, ppl {ppl:.4f}")
        return {"file": PPL_REL, "bos": True, "ctx": ctx, "n_windows": len(windows),
                "n_scored": n_scored, "nll_sum": nll_sum, "perplexity": ppl}

    golden = {
        "model_file": MODEL_FILE, "model_sha256": MODEL_SHA256,
        "generator": {"script": "tests/reference/make_gemma3_goldens.py",
                      "transformers": transformers.__version__,
                      "torch": torch.__version__.split("+")[0],
                      "tokenizers": tokenizers.__version__, "sentencepiece": sentencepiece.__version__,
                      "attn_implementation": ATTN,
                      "tokenizer": "transformers' GGUF-built GemmaTokenizer (backend_tokenizer)"},
        "tokenize": tokenize, "logits": logits, "greedy": greedy,
        "perplexity": perplexity(PPL_CTX), "perplexity_1024": perplexity(PPL_CTX_LONG),
        "model_config": model_config,
    }
    out_path = os.path.join(HERE, "gemma3.json")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(dump(golden) + "\n")
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


# ---------------------------------------------------------------------------------------------
# tests/reference/tokenizers/gemma3_goldens.json

def decode_cases(tok, rng):
    """~200 id sequences stressing byte fallback, specials, user-defined and ▁ pieces."""
    vocab = tok.get_vocab()
    size = tok.get_vocab_size()
    byte_id = {int(t[3:5], 16): i for t, i in vocab.items() if re.fullmatch(r"<0x[0-9A-F]{2}>", t)}
    assert len(byte_id) == 256 and byte_id[0] == 238
    special = [vocab[s] for s in ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>",
                                  "<end_of_turn>", "<unused0>")]
    user = [vocab[s] for s in ("[multimodal]", "\n", "\n\n", "\u2581\u2581", "\u2581" * 31, "\t", "\t\t",
                               "<table>", "</s>", "<start_of_image>")]
    spaces = sorted(i for t, i in vocab.items() if t.startswith("\u2581"))
    only_sp = sorted(i for t, i in vocab.items() if t and set(t) == {"\u2581"})
    bytes_hi = [byte_id[b] for b in range(0x80, 0x100)]

    def enc(s):
        return [byte_id[b] for b in s.encode("utf-8")]
    fixed = [enc("é"), enc("é")[:1], enc("é")[1:], enc("日本"), enc("日")[:2], enc("😀"), enc("😀")[:3],
             [byte_id[0xC0], byte_id[0x80]], [byte_id[0xED], byte_id[0xA0], byte_id[0x80]], [byte_id[0xFF]],
             enc("日")[:1] + [vocab["<bos>"]] + enc("日")[1:], enc("é")[:1] + [vocab["\u2581"]] + enc("é")[1:],
             [vocab["\u2581"]], [vocab["\u2581"], vocab["\u2581"]], only_sp[:1] + enc("a"), enc(" ") + enc("x"),
             enc("A"), [byte_id[0x00]], enc("\t\n\r"), [vocab["<unk>"]], [vocab["<bos>"], vocab["\u2581"]],
             [vocab["<eos>"]], [vocab["<start_of_turn>"], vocab["user"], vocab["\n"]], enc("\u2581"),
             enc("\u2581") + enc("x"), [vocab["\u2581\u2581"], vocab["hi"]], [vocab["\n\n"], vocab["\u2581\u2581\u2581"]],
             enc("쳇"), enc("쳇")[:2] + [vocab["<table>"]] + enc("쳇")[2:], [vocab["\t\t"]] + enc("\t")]
    cases = [ids for ids in fixed]
    while len(cases) < N_DECODE_CASES:
        k = rng.randrange(1, 13)
        kind = len(cases) % 5
        if kind == 0:
            ids = [rng.randrange(size) for _ in range(k)]
        elif kind == 1:
            ids = [rng.choice(bytes_hi) for _ in range(k)]
        elif kind == 2:
            s = "".join(rng.choice(["é", "日", "😀", "a", " ", "€", "\U0010ffff", "ก", "쳇"]) for _ in range(k))
            ids = enc(s)
            a = rng.randrange(len(ids))
            ids = ids[a:a + rng.randrange(1, 13)]
        elif kind == 3:
            ids = [rng.choice([rng.choice(only_sp), rng.choice(spaces), rng.choice(user), rng.randrange(size)])
                   for _ in range(k)]
        else:
            ids = [rng.choice([rng.randrange(size), rng.choice(bytes_hi), rng.choice(special), rng.choice(user)])
                   for _ in range(k)]
        cases.append(ids)
    return [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)} for ids in cases]


def write_tokenizer_goldens(tok, lines, corpus_bytes, sp, sp_diff, encode, encode_bos, decode):
    import google.protobuf
    import gguf
    import sentencepiece
    import tokenizers
    import transformers
    entries, bad = [], []
    for i, line in enumerate(lines):
        ids = encode(line)
        assert encode_bos(line) == [2] + ids
        e = {"ids": ids, "decoded": decode(ids)}
        if e["decoded"] != line:
            bad.append(i)
        entries.append(e)
    print(f"gemma3: {len(bad)} corpus lines where decode(encode(line)) != line")
    for i in bad[:8]:
        print(f"   line {i}: {lines[i]!r} -> {entries[i]['decoded']!r}")
    cases = decode_cases(tok, random.Random(SEED))
    # SentencePiece decodes control tokens to "" and HF (skip_special_tokens=False) to their text:
    # compare only the cases without them.
    control = {i for i in range(tok.get_vocab_size()) if sp.IsControl(i)}
    same = [c for c in cases if not control & set(c["ids"])]
    n_bad = sum(sp.decode(c["ids"]) != c["decoded"] for c in same)
    print(f"decode cases: {len(cases)}; SentencePiece decodes {len(same) - n_bad} of the {len(same)} "
          "without control tokens the same")
    for c in [c for c in same if sp.decode(c["ids"]) != c["decoded"]][:6]:
        print(f"   {c['ids']}: HF {c['decoded']!r} SP {sp.decode(c['ids'])!r}")

    meta = {
        "generator": "tests/reference/make_gemma3_goldens.py",
        "versions": {"python": sys.version.split()[0], "tokenizers": tokenizers.__version__,
                     "transformers": transformers.__version__, "sentencepiece": sentencepiece.__version__,
                     "gguf": getattr(gguf, "__version__", "0.19.0"), "protobuf": google.protobuf.__version__},
        "seed": SEED,
        "corpus": {"file": "corpus.txt", "lines": len(lines), "bytes": len(corpus_bytes),
                   "sha256": hashlib.sha256(corpus_bytes).hexdigest(),
                   "split": "split the file on b'\\n' only and drop the empty piece after the final b'\\n'"},
        "gemma3": {"source": f"weights/{MODEL_FILE} (sha256 {MODEL_SHA256}) via transformers "
                             "AutoTokenizer.from_pretrained(weights, gguf_file=...).backend_tokenizer",
                   "add_special_tokens": "every line encodes to [2] + ids with add_special_tokens=True"},
        "entries": {"ids": "encode(line, add_special_tokens=False).ids",
                    "decoded": "decode(ids, skip_special_tokens=False)"},
        "roundtrip_failures": {"gemma3": bad},
        "sentencepiece_disagreements": sp_diff,
    }
    out = ["{", '"meta": ' + json.dumps(meta, ensure_ascii=False, indent=1) + ",", '"gemma3": {',
           f'"file": {dumps(MODEL_FILE)},']
    for key, rows in (("lines", entries), ("decode_cases", cases)):
        out.append(f"{dumps(key)}: [")
        out.append(",\n".join(dumps(e) for e in rows))
        out.append("]" + ("," if key == "lines" else ""))
    out += ["}", "}"]
    path = os.path.join(TOK_DIR, "gemma3_goldens.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def dumps(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


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
    refenv.fetch_model(MODEL_DIR, MODEL_FILE, "gemma3")
    refenv.reexec(PINS, __file__)
    main()

#!/usr/bin/env python3
"""Generate tiny random-weight Hugging Face model folders and their reference logits.

Run from the repository root:

    python3 tests/reference/make_tiny_models.py
    INGOT_REF_PYTHON=/path/to/python python3 tests/reference/make_tiny_models.py   # reuse an env

Unless INGOT_REF_PYTHON names an interpreter to use instead, the script creates (or reuses) the
venv at tests/reference/.venv with the same pinned versions as make_goldens.py and re-executes
itself inside it. Nothing is downloaded besides those pip packages. Torch runs on CPU with one
thread. Running the script twice gives byte-identical files.

Tokenizers. The first six models share one: a byte-level BPE trained here with the `tokenizers`
library on tests/reference/tokenizers/corpus.txt (input, not written here): vocab_size 320 = the
special tokens <|endoftext|> (id 0), <|im_start|> (1), <|im_end|> (2), the 256 ByteLevel byte
symbols (initial alphabet) and 61 merges. No normalizer, ByteLevel pre-tokenizer
(add_prefix_space=False, use_regex=True), no post-processor (no BOS is ever added), ByteLevel
decoder. The same tokenizer.json (tokenizers' own serialization) is copied into each of those
folders, replacing the one PreTrainedTokenizerFast.save_pretrained writes (which differs only by
a no-op TemplateProcessing post-processor); tokenizer_config.json is what save_pretrained writes
(bos <|im_start|>, eos <|im_end|>, pad <|endoftext|>; for gpt2 bos = eos = unk = <|endoftext|>).
The models in FAMILY (llama3, qwen3, phi3, gemma2, smollm3) get their family's own tokenizer
settings instead, trained on the same corpus by tiny_tokenizers.py (see there), with the chat
template of TEMPLATE (smollm3: the ChatML one). Each model's vocab_size is its tokenizer's size.

Models: the weights are drawn from a torch.Generator seeded
with SEED + the model's index in MODELS: every matrix (embeddings, projections, lm_head,
GPT-2 position embeddings) ~ N(0, 0.1^2), every bias ~ N(0, 0.1^2), every norm weight
~ 1 + N(0, 0.2^2) (Gemma stores w and multiplies by 1 + w, so there w ~ N(0, 0.2^2)), except
Gemma's (tied) embeddings ~ N(0, 0.15^2) so that its raw logits reach ~5 and the softcap bites.
Each folder is written by model.save_pretrained after casting to the stored dtype:
config.json, generation_config.json, model.safetensors (or shards + index), tokenizer.json,
tokenizer_config.json (+ chat_template.jinja, + tokenizer.model for SentencePiece families).
tests/reference/tiny/<name>/:
  llama    LlamaForCausalLM: hidden 64, 2 layers, 4 heads, 2 KV heads, intermediate 128,
           rms_norm_eps 1e-5, rope_theta 1e4, tied embeddings, float32; ChatML chat template
  llama3   as llama but rope_type llama3 (factor 8, low_freq_factor 1, high_freq_factor 4,
           original_max_position_embeddings 16), untied lm_head, bfloat16, Llama 3's tokenizer
           settings and Llama 3.2's chat template
  mistral  MistralForCausalLM: hidden 64, 4 heads of head_dim 24 (q_proj 64 -> 96), 2 KV
           heads, sliding_window 5 (a query attends to itself and the 4 tokens before it),
           untied, float16
  qwen2    Qwen2ForCausalLM (q/k/v biases): hidden 64, 2 layers, 4 heads, 2 KV heads,
           rope_theta 1e6, untied, float32, saved in shards of at most 100KB
           (model-0000N-of-0000M.safetensors + model.safetensors.index.json)
  gemma3   Gemma3ForCausalLM (model_type gemma3_text): hidden 64, 6 layers (5 sliding : 1
           full), sliding_window 5, 4 heads of head_dim 16, 2 KV heads, intermediate 96,
           query_pre_attn_scalar 24, rope_theta 1e4 (sliding) / 1e6 (full),
           final_logit_softcapping 5, no attention softcapping, gelu_pytorch_tanh, tied, float32
  gpt2     GPT2LMHeadModel: n_embd 64, 2 layers, 4 heads, n_positions = n_ctx 64, n_inner unset
           (256), gelu_new, tied, float32
  qwen3    Qwen3ForCausalLM (q/k RMSNorm per head, no biases): hidden 64, 2 layers, 4 heads of
           head_dim 24, 2 KV heads, rope_theta 1e6, tied, bfloat16; Qwen's tokenizer settings
  phi3     Phi3ForCausalLM (fused qkv_proj and gate_up_proj): hidden 64, 2 layers, 4 heads,
           2 KV heads, sliding_window 6, LongRoPE (PHI3_SHORT / PHI3_LONG, original context 8
           of 128, so attention factor sqrt(1 + ln 16 / ln 8)), untied, float16; a Llama-2-style
           SentencePiece vocabulary with Phi-3's chat tokens
  gemma2   Gemma2ForCausalLM: hidden 64, 4 layers (sliding, full, sliding, full), sliding_window
           5, 4 heads of head_dim 16, 2 KV heads, intermediate 96, query_pre_attn_scalar 16 (the
           head size, as in Gemma 2 2B and 9B: GGUF has no key for it), attention soft-cap 1.5,
           final soft-cap 5, tied, bfloat16; a Gemma-style SentencePiece vocabulary
  smollm3  SmolLM3ForCausalLM: hidden 64, 4 layers of which the 4th has no RoPE
           (no_rope_layer_interval 4), 4 heads, 2 KV heads, rope_theta 1e5, tied, bfloat16;
           Llama 3's tokenizer settings plus <|im_start|> <|im_end|>

Goldens, tests/reference/tiny/goldens.json: the three sequences in SEQUENCES (each model's
tokenizer's ids for the text, with its BOS where it adds one, truncated to 1, 7 and 16 ids) run
through every model reloaded from its folder with AutoModelForCausalLM.from_pretrained(
dtype=torch.float32, attn_implementation="eager") (stored bf16/fp16 weights are upcast exactly),
one full forward pass each, no cache, position ids 0..n-1. For each sequence the file holds the
full encoding, its ids and the logits at every position ([n][vocab], each rounded to 6
significant digits). Each model also has `tokenizer_cases`: the ids and decoded text of every
text in TOKENIZER_CASES, as the `tokenizers` library runs the folder's tokenizer.json (checked
against transformers' AutoTokenizer for the byte-level families and against SentencePiece itself
for phi3 and gemma2). The script also checks that each reload has exactly the weights written,
that prefilling the 16-id sequence with 10 ids and then decoding the other 6 one at a time
through the KV cache reproduces the full pass (max |diff| < 1e-4, stored as decode_check), and
prints for a few features (sliding window, rope scaling, softcapping, layers without RoPE, ...)
how far the logits move when the feature is switched off, to show it is exercised.

convert_tiny_gguf.py then converts the folders to GGUF with llama.cpp's own converter.
"""
import json
import os
import shutil

import refenv
import tiny_tokenizers

PINS = ["torch==2.15.0", "transformers==5.23.0", "tokenizers==0.23.3", "gguf==0.19.0",
        "accelerate==1.15.0", "numpy==2.4.6", "sentencepiece==0.2.3", "protobuf==7.36.2"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "reference")
OUT = os.path.join(HERE, "tiny")
CORPUS = os.path.join(HERE, "tokenizers", "corpus.txt")
ATTN = "eager"
SEED = 20250101
VOCAB = 320
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2
STD, BIAS_STD, NORM_STD = 0.1, 0.1, 0.2
GEMMA_EMBED_STD = 0.15  # tied embeddings x 1.5 -> logits up to ~5, so the softcap at 5 bites
PREFILL = 10
CHATML = ("{% for message in messages %}"
          "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
          "{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
# (name, text, length): ids = tokenizer(text)[:length]; the text must give at least `length` ids
SEQUENCES = [
    ("seq0", " the", 1),
    ("seq1", "Hello, world! How are you?", 7),
    ("seq2", "The quick brown fox jumps over the lazy dog near the river bank.", 16),
]
# Texts every model's tokenizer encodes for the goldens (with its special tokens, BOS included
# where the tokenizer adds one): digit runs, whitespace runs and newlines, accents in NFC and
# NFD form, CJK and emoji (byte fallback for the SentencePiece vocabularies), contractions, and
# special and added tokens inside text.
TOKENIZER_CASES = [
    "Hello, world! How are you?",
    "1 12 123 1234 12345 3.14159 2025-01-01",
    "  leading spaces and\ttabs\n\nnew   lines \r\n end  ",
    "caf\u00e9 vs cafe\u0301, na\u00efve \u00c5ngstr\u00f6m",
    "\u6211\u60f3\u5728apple\u5de5\u4f5c 1314 \U0001f680 (normal) \U0001f636\u200d\U0001f32b\ufe0f",
    "I've been 'told he's there, 'RE you sure? We'Ve a'lL",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nhmm\n</think>\n\nAnswer: 42",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<s><|user|>\nHi<|end|>\n<|assistant|>\n",
    "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "",
    " ",
    "\n",
]
MODELS = ["llama", "llama3", "mistral", "qwen2", "gemma3", "gpt2", "qwen3", "phi3", "gemma2",
          "smollm3"]
# The models with their family's own tokenizer (tiny_tokenizers.py), and the chat template
# (tests/reference/chat_templates/) they carry; the others share the gpt2-style one.
FAMILY = {"llama3": "llama3", "qwen3": "qwen2", "phi3": "phi3", "gemma2": "gemma",
          "smollm3": "smollm3"}
TEMPLATE = {"llama3": "llama3_2.jinja", "qwen3": "qwen3.jinja", "phi3": "phi3_5_mini.jinja",
            "gemma2": "gemma2.jinja"}
# Phi-3's LongRoPE divisors for the 8 frequencies of a 16-wide head: short below the original
# context of 8 positions, long beyond it.
PHI3_SHORT = [1.0, 1.05, 1.2, 1.5, 2.0, 2.6, 3.3, 4.0]
PHI3_LONG = [1.0, 1.4, 2.2, 3.5, 5.5, 8.0, 12.0, 16.0]


def train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([CORPUS], trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    assert [tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2]
    return tok


def make_config(name, vocab, tok):
    """The transformers config of each tiny model; `vocab` and the special ids of `tok` (the
    shared tokenizer: 320, ids 0/1/2 as in SPECIALS) come from its tokenizer."""
    import torch
    from transformers import (GPT2Config, Gemma2Config, Gemma3TextConfig, LlamaConfig,
                              MistralConfig, Phi3Config, Qwen2Config, Qwen3Config,
                              SmolLM3Config)
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
               pad_token_id=tok.pad_token_id)
    if name in FAMILY:
        shape = dict(vocab_size=vocab, hidden_size=64, num_attention_heads=4,
                     num_key_value_heads=2, max_position_embeddings=128, **ids)
    if name == "qwen3":
        cfg = Qwen3Config(**shape, num_hidden_layers=2, head_dim=24, intermediate_size=128,
                          rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                          rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
        return cfg, torch.bfloat16
    if name == "phi3":
        cfg = Phi3Config(**shape, num_hidden_layers=2, intermediate_size=128, rms_norm_eps=1e-5,
                         tie_word_embeddings=False, sliding_window=6,
                         original_max_position_embeddings=8, rope_parameters={
                             "rope_type": "longrope", "rope_theta": 10000.0,
                             "short_factor": PHI3_SHORT, "long_factor": PHI3_LONG,
                             "original_max_position_embeddings": 8})
        return cfg, torch.float16
    if name == "gemma2":
        cfg = Gemma2Config(**shape, num_hidden_layers=4, head_dim=16, intermediate_size=96,
                           rms_norm_eps=1e-6, query_pre_attn_scalar=16, sliding_window=5,
                           attn_logit_softcapping=1.5, final_logit_softcapping=5.0,
                           hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                           rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
        return cfg, torch.bfloat16
    if name == "smollm3":
        cfg = SmolLM3Config(**shape, num_hidden_layers=4, intermediate_size=128,
                            rms_norm_eps=1e-6, tie_word_embeddings=True, no_rope_layer_interval=4,
                            use_sliding_window=False,
                            rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
        return cfg, torch.bfloat16
    common = dict(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128,
                  rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if name == "llama":
        cfg = LlamaConfig(**common, tie_word_embeddings=True,
                          rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
        return cfg, torch.float32
    if name == "llama3":
        common.update(ids)
        cfg = LlamaConfig(**common, tie_word_embeddings=False, rope_parameters={
            "rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
        return cfg, torch.bfloat16
    if name == "mistral":
        cfg = MistralConfig(**common, head_dim=24, sliding_window=5, tie_word_embeddings=False,
                            rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
        return cfg, torch.float16
    if name == "qwen2":
        cfg = Qwen2Config(**common, tie_word_embeddings=False, use_sliding_window=False,
                          rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
        return cfg, torch.float32
    if name == "gemma3":
        cfg = Gemma3TextConfig(
            vocab_size=VOCAB, hidden_size=64, num_hidden_layers=6, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, intermediate_size=96, max_position_embeddings=128,
            rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0,
            layer_types=["sliding_attention"] * 5 + ["full_attention"], sliding_window=5,
            query_pre_attn_scalar=24, final_logit_softcapping=5.0, attn_logit_softcapping=None,
            hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
            rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                             "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}})
        return cfg, torch.float32
    if name == "gpt2":
        # n_ctx (= n_positions) as GPT-2's own config.json has it: llama.cpp's converter reads it.
        cfg = GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=4, n_positions=64, n_ctx=64,
                         activation_function="gelu_new", bos_token_id=0, eos_token_id=0,
                         tie_word_embeddings=True)
        return cfg, torch.float32
    raise ValueError(name)


def randomize(model, name, seed):
    """Overwrite every parameter (tied ones once) in name order from a seeded generator."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())  # tied weights appear once
    with torch.no_grad():
        for pname in sorted(params):
            p = params[pname]
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            is_norm = p.dim() == 1 and pname.endswith(".weight") and (
                "norm" in pname or ".ln_" in pname)
            if is_norm:
                value = NORM_STD * noise if name.startswith("gemma") else 1.0 + NORM_STD * noise
            elif p.dim() == 1:
                assert pname.endswith(".bias"), pname
                value = BIAS_STD * noise
            elif name.startswith("gemma") and pname == "model.embed_tokens.weight":
                value = GEMMA_EMBED_STD * noise
            else:
                value = STD * noise
            p.copy_(value)


def clean_tokenizer_config(folder):
    """Drops the keys of tokenizer_config.json that only describe this machine's load."""
    path = os.path.join(folder, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    for key in ("vocab_file", "is_local", "local_files_only"):
        cfg.pop(key, None)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def hf_tokenizer(tok, name):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    specials = (dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                     unk_token="<|endoftext|>") if name == "gpt2" else
                dict(bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"))
    hf = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tok.to_str()),
                                 model_max_length=64 if name == "gpt2" else 128, **specials)
    if name == "llama":
        hf.chat_template = CHATML
    return hf


def main():
    import tokenizers
    import torch
    import transformers
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tok = train_tokenizer()
    tok_json = tok.to_str(pretty=True)
    os.makedirs(OUT, exist_ok=True)
    golden = {
        "generator": {"script": "tests/reference/make_tiny_models.py",
                      "transformers": transformers.__version__,
                      "torch": torch.__version__.split("+")[0],
                      "tokenizers": tokenizers.__version__, "attn_implementation": ATTN,
                      "compute_dtype": "float32", "seed": SEED,
                      "logits_rounding": "6 significant digits"},
        "models": {},
    }
    for index, name in enumerate(MODELS):
        print(f"\n=== {name}")
        folder = os.path.join(OUT, name)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.makedirs(folder)
        if name in FAMILY:
            template = CHATML if name == "smollm3" else None
            if name in TEMPLATE:
                with open(os.path.join(HERE, "chat_templates", TEMPLATE[name]),
                          encoding="utf-8") as f:
                    template = f.read()
            own_tok = tiny_tokenizers.hf_tokenizer(FAMILY[name], CORPUS, folder, 128, template)
            clean_tokenizer_config(folder)
            vocab = len(own_tok)
        else:
            own_tok, vocab = hf_tokenizer(tok, name), VOCAB
        cfg, dtype = make_config(name, vocab, own_tok)
        torch.manual_seed(SEED + index)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
        randomize(model, name, SEED + index)
        model = model.to(dtype)
        shard = dict(max_shard_size="100KB") if name == "qwen2" else {}
        model.save_pretrained(folder, **shard)
        if name not in FAMILY:
            own_tok.save_pretrained(folder)
            with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
                f.write(tok_json)  # the very same file in every folder
        written = {k: v.detach().float().clone() for k, v in model.state_dict().items()}
        del model

        # The sequences, as the folder's tokenizer encodes them (with its BOS, if it adds one).
        hf_tok = AutoTokenizer.from_pretrained(folder)
        raw = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))

        def raw_encode(text):
            return raw.encode(text, add_special_tokens=True).ids

        seqs = []
        for sname, text, n in SEQUENCES:
            encoded = raw_encode(text)
            assert encoded == hf_tok(text)["input_ids"] or name == "phi3", (name, text)
            assert len(encoded) >= n, (text, encoded)
            seqs.append((sname, text, encoded[:n], encoded))
            print(f"  {sname}: {text!r} -> {encoded[:n]} "
                  f"{hf_tok.convert_ids_to_tokens(encoded[:n])}")

        # Reload the folder in float32, check the weights, and run the goldens.
        model, info = AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.float32, attn_implementation=ATTN, output_loading_info=True)
        model.eval()
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
        for k, v in model.state_dict().items():
            assert v.dtype == torch.float32, k
            assert torch.equal(v, written[k]), f"{name}: {k} differs after reload"

        def forward(m, ids):
            with torch.no_grad():
                return m(torch.tensor([ids]), use_cache=False).logits[0].float()

        entries = []
        for sname, text, ids, encoded in seqs:
            logits = forward(model, ids)
            assert logits.shape == (len(ids), vocab)
            rows = [[float(f"{x:.6g}") for x in row] for row in logits.tolist()]
            entries.append({"name": sname, "text": text, "encoded": encoded, "ids": ids,
                            "logits": rows})
            print(f"  {sname}: logits std {logits.std():.3f} max|.| {logits.abs().max():.3f}; "
                  f"argmax {logits.argmax(-1).tolist()}")

        # Prefill + single-token decode through the KV cache must reproduce the full pass.
        ids = seqs[-1][2]
        full = forward(model, ids)
        with torch.no_grad():
            out = model(torch.tensor([ids[:PREFILL]]), use_cache=True)
            steps = [out.logits[0].float()]
            cache = out.past_key_values
            for t in range(PREFILL, len(ids)):
                out = model(torch.tensor([[ids[t]]]), past_key_values=cache, use_cache=True)
                cache = out.past_key_values
                steps.append(out.logits[0].float())
        diff = float((torch.cat(steps) - full).abs().max())
        print(f"  prefill {PREFILL} + {len(ids) - PREFILL} decode steps vs full pass: "
              f"max |diff| {diff:.3g} (cache {type(cache).__name__})")
        assert diff < 1e-4, diff

        # How much the features under test move the logits (printed only).
        for label, change in ablations(name):
            alt_cfg = type(model.config).from_pretrained(folder)
            change(alt_cfg)
            alt = AutoModelForCausalLM.from_pretrained(
                folder, config=alt_cfg, dtype=torch.float32, attn_implementation=ATTN).eval()
            d = (forward(alt, ids) - full).abs().max(-1).values
            print(f"  without {label}: max |logit diff| per position "
                  f"{[round(float(x), 3) for x in d]}")

        # tokenizer.json as the `tokenizers` library runs it (ingot's contract for a folder).
        # For the shared tokenizer that is not what transformers 5 does: its AutoTokenizer
        # picks the class of the config's model_type (Qwen2Tokenizer adds NFC and Qwen's
        # regex), whatever the file says. The family tokenizers must agree with transformers
        # (byte-level BPE) or with SentencePiece itself (phi3, gemma2) on every case.
        cases = [{"text": t, "ids": raw_encode(t)} for t in TOKENIZER_CASES]
        for c in cases:
            c["decoded"] = raw.decode(c["ids"], skip_special_tokens=False)
        for c in cases:
            if name in ("phi3", "gemma2"):
                # Texts without special tokens: SentencePiece does not split them out.
                if "<" not in c["text"]:
                    assert tiny_tokenizers.spm_encode(folder, c["text"], True) == c["ids"], c
            elif name in FAMILY:
                assert hf_tok(c["text"])["input_ids"] == c["ids"], c
        files = sorted(os.listdir(folder))
        golden["models"][name] = {
            "dir": f"tests/reference/tiny/{name}",
            "architecture": model.config.architectures[0],
            "stored_dtype": str(dtype).replace("torch.", ""),
            "tokenizer": FAMILY.get(name, "shared gpt2-style"),
            "vocab_size": vocab,
            "files": files,
            "decode_check": {"prefill": PREFILL, "decode_steps": len(ids) - PREFILL,
                             "max_abs_diff": float(f"{diff:.3g}")},
            "sequences": entries,
            "tokenizer_cases": cases,
        }
        for fname in files:
            path = os.path.join(folder, fname)
            print(f"  {fname}: {os.path.getsize(path)} bytes")
            if fname.endswith(".safetensors"):
                with safe_open(path, "np") as f:
                    for key in f.keys():
                        sl = f.get_slice(key)
                        print(f"    {key}: {sl.get_dtype()} {sl.get_shape()}")
        del model

    path = os.path.join(OUT, "goldens.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(dump(golden) + "\n")
    print(f"\nwrote {path} ({os.path.getsize(path)} bytes)")


def ablations(name):
    """(label, config edit) pairs whose effect on the logits is printed."""
    def sliding_off(c):
        c.sliding_window = 10 ** 6

    def rope_plain(c):
        c.rope_parameters = {"rope_type": "default", "rope_theta": 10000.0}

    def softcap_off(c):
        c.final_logit_softcapping = None

    def scalar_head_dim(c):
        c.query_pre_attn_scalar = c.head_dim

    def swap_theta(c):
        rp = c.rope_parameters
        rp["sliding_attention"]["rope_theta"], rp["full_attention"]["rope_theta"] = (
            rp["full_attention"]["rope_theta"], rp["sliding_attention"]["rope_theta"])

    def longrope_off(c):
        c.rope_parameters = {"rope_type": "default", "rope_theta": 10000.0}

    def attn_softcap_off(c):
        c.attn_logit_softcapping = None

    def rope_everywhere(c):
        c.no_rope_layers = [1] * c.num_hidden_layers

    return {
        "phi3": [("longrope (plain rope)", longrope_off), ("sliding window", sliding_off)],
        "gemma2": [("attention logit softcapping", attn_softcap_off),
                   ("final logit softcapping", softcap_off), ("sliding window", sliding_off)],
        "smollm3": [("layers without rope (rope everywhere)", rope_everywhere)],
        "llama3": [("llama3 rope scaling", rope_plain)],
        "mistral": [("sliding window", sliding_off)],
        "gemma3": [("final logit softcapping", softcap_off),
                   ("sliding window", sliding_off),
                   ("query_pre_attn_scalar (= head_dim)", scalar_head_dim),
                   ("local/global rope theta (swapped)", swap_theta)],
    }.get(name, [])


def dump(obj, depth=0):
    """JSON with objects spread over lines and each list of numbers (one logits row) inline."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dump(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and isinstance(obj[0], (dict, list)):
        return "[\n" + ",\n".join(inner + dump(o, depth + 1) for o in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    refenv.reexec(PINS, __file__)
    main()

#!/usr/bin/env python3
"""Generate tiny random-weight Hugging Face model folders and their reference logits.

Run from the repository root:

    python3 tests/reference/make_tiny_models.py
    INGOT_REF_PYTHON=/path/to/python python3 tests/reference/make_tiny_models.py   # reuse an env

Unless INGOT_REF_PYTHON names an interpreter to use instead, the script creates (or reuses) the
venv at tests/reference/.venv with the same pinned versions as make_goldens.py and re-executes
itself inside it. Nothing is downloaded besides those pip packages. Torch runs on CPU with one
thread. Running the script twice gives byte-identical files.

Tokenizer (shared by every model): a byte-level BPE trained here with the `tokenizers` library
on tests/reference/tokenizers/corpus.txt (input, not written here): vocab_size 320 = the
special tokens <|endoftext|> (id 0), <|im_start|> (1), <|im_end|> (2), the 256 ByteLevel byte
symbols (initial alphabet) and 61 merges. No normalizer, ByteLevel pre-tokenizer
(add_prefix_space=False, use_regex=True), no post-processor (no BOS is ever added), ByteLevel
decoder. The same tokenizer.json (tokenizers' own serialization) is copied into every folder,
replacing the one PreTrainedTokenizerFast.save_pretrained writes (which differs only by a
no-op TemplateProcessing post-processor); tokenizer_config.json is what save_pretrained writes
(bos <|im_start|>, eos <|im_end|>, pad <|endoftext|>; for gpt2 bos = eos = unk = <|endoftext|>).

Models: every config has vocab_size 320; the weights are drawn from a torch.Generator seeded
with SEED + the model's index in MODELS: every matrix (embeddings, projections, lm_head,
GPT-2 position embeddings) ~ N(0, 0.1^2), every bias ~ N(0, 0.1^2), every norm weight
~ 1 + N(0, 0.2^2) (Gemma 3 stores w and multiplies by 1 + w, so there w ~ N(0, 0.2^2)), except
Gemma 3's (tied) embeddings ~ N(0, 0.15^2) so that its raw logits reach ~5 and the softcap bites.
Each folder is written by model.save_pretrained after casting to the stored dtype:
config.json, generation_config.json, model.safetensors (or shards + index), tokenizer.json,
tokenizer_config.json (+ chat_template.jinja for llama). tests/reference/tiny/<name>/:
  llama    LlamaForCausalLM: hidden 64, 2 layers, 4 heads, 2 KV heads, intermediate 128,
           rms_norm_eps 1e-5, rope_theta 1e4, tied embeddings, float32; ChatML chat template
  llama3   as llama but rope_type llama3 (factor 8, low_freq_factor 1, high_freq_factor 4,
           original_max_position_embeddings 16), untied lm_head, bfloat16
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
  gpt2     GPT2LMHeadModel: n_embd 64, 2 layers, 4 heads, n_positions 64, n_inner unset (256),
           gelu_new, tied, float32

Goldens, tests/reference/tiny/goldens.json: the three sequences in SEQUENCES (the tokenizer's
ids for the text, truncated to 1, 7 and 16 ids) run through every model reloaded from its
folder with AutoModelForCausalLM.from_pretrained(dtype=torch.float32,
attn_implementation="eager") (stored bf16/fp16 weights are upcast exactly), one full forward
pass each, no cache, position ids 0..n-1. For each sequence the file holds its ids and the
logits at every position ([n][320], each rounded to 6 significant digits). The script also
checks that each reload has exactly the weights written, that prefilling the 16-id sequence
with 10 ids and then decoding the other 6 one at a time through the KV cache reproduces the
full pass (max |diff| < 1e-4, stored as decode_check), and prints for a few features
(sliding window, rope scaling, softcapping, ...) how far the logits move when the feature is
switched off, to show it is exercised.
"""
import json
import os
import shutil

import refenv

PINS = ["torch==2.15.0", "transformers==5.23.0", "tokenizers==0.23.3", "gguf==0.19.0",
        "accelerate==1.15.0", "numpy==2.4.6"]
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
MODELS = ["llama", "llama3", "mistral", "qwen2", "gemma3", "gpt2"]


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


def make_config(name):
    """The transformers config of each tiny model (vocab 320, ids 0/1/2 as in SPECIALS)."""
    import torch
    from transformers import (GPT2Config, Gemma3TextConfig, LlamaConfig, MistralConfig,
                              Qwen2Config)
    common = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128,
                  rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if name == "llama":
        cfg = LlamaConfig(**common, tie_word_embeddings=True,
                          rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
        return cfg, torch.float32
    if name == "llama3":
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
        cfg = GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=4, n_positions=64,
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
                value = NORM_STD * noise if name == "gemma3" else 1.0 + NORM_STD * noise
            elif p.dim() == 1:
                assert pname.endswith(".bias"), pname
                value = BIAS_STD * noise
            elif name == "gemma3" and pname == "model.embed_tokens.weight":
                value = GEMMA_EMBED_STD * noise
            else:
                value = STD * noise
            p.copy_(value)


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
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tok = train_tokenizer()
    tok_json = tok.to_str(pretty=True)
    seqs = []
    for sname, text, n in SEQUENCES:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert len(ids) >= n, (text, ids)
        seqs.append((sname, text, ids[:n]))
        print(f"{sname}: {text!r} -> {ids[:n]} {[tok.id_to_token(i) for i in ids[:n]]}")

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
        cfg, dtype = make_config(name)
        torch.manual_seed(SEED + index)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
        randomize(model, name, SEED + index)
        model = model.to(dtype)
        shard = dict(max_shard_size="100KB") if name == "qwen2" else {}
        model.save_pretrained(folder, **shard)
        hf_tokenizer(tok, name).save_pretrained(folder)
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(tok_json)  # the very same file in every folder
        written = {k: v.detach().float().clone() for k, v in model.state_dict().items()}
        del model

        # Reload the folder in float32, check the weights, and run the goldens.
        hf_tok = AutoTokenizer.from_pretrained(folder)
        for _, text, ids in seqs:
            assert hf_tok.encode(text, add_special_tokens=False)[:len(ids)] == ids
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
        for sname, text, ids in seqs:
            logits = forward(model, ids)
            assert logits.shape == (len(ids), VOCAB)
            rows = [[float(f"{x:.6g}") for x in row] for row in logits.tolist()]
            entries.append({"name": sname, "text": text, "ids": ids, "logits": rows})
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

        files = sorted(os.listdir(folder))
        golden["models"][name] = {
            "dir": f"tests/reference/tiny/{name}",
            "architecture": model.config.architectures[0],
            "stored_dtype": str(dtype).replace("torch.", ""),
            "files": files,
            "decode_check": {"prefill": PREFILL, "decode_steps": len(ids) - PREFILL,
                             "max_abs_diff": float(f"{diff:.3g}")},
            "sequences": entries,
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

    return {
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

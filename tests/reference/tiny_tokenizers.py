"""Small tokenizers with each model family's real settings, for the tiny models.

Each is trained here on tests/reference/tokenizers/corpus.txt, so it is small (a few hundred
tokens) but built the way its family's tokenizer is: the same normalizer, pre-tokenizer regex,
model options, special tokens (appended after the learned vocabulary, as the real ones are, or
at Gemma's fixed low ids) and BOS rule. `make_tiny_models.py` saves them next to the weights and
`convert_tiny_gguf.py` turns them into GGUF vocabularies with llama.cpp's converter.

  gpt2    byte-level BPE, GPT-2 regex (ByteLevel use_regex), specials <|endoftext|> <|im_start|>
          <|im_end|> at ids 0-2, no BOS: the shared tokenizer of the first six tiny models
  llama3  Llama 3's: Split on its regex (digits in groups of up to 3), ByteLevel without regex,
          BPE with ignore_merges, Llama 3.1's first eleven special tokens after the vocabulary,
          <|begin_of_text|> prepended by a TemplateProcessing post-processor
  smollm3 the llama3 one plus <|im_start|> <|im_end|> (as SmolLM3 adds to Llama 3's)
  qwen2   Qwen 2/2.5/3's: NFC, Split on its regex (single digits), ByteLevel without regex,
          specials <|endoftext|> <|im_start|> <|im_end|> and the added, non-special <think>
          </think> after the vocabulary, no BOS
  phi3    a SentencePiece BPE model like Llama 2's (dummy prefix, byte fallback, split digits,
          identity normalization, <unk> <s> </s> at 0-2) with Phi-3's chat tokens appended
          (<|endoftext|> <|assistant|> <|end|> <|user|> <|system|>, all but the first with
          rstrip); HF converts tokenizer.model and the file keeps Phi-3's normalizer layout
  gemma   a SentencePiece BPE model like Gemma's (no dummy prefix, byte fallback, split digits,
          <pad> <eos> <bos> <unk> <mask> at 0-4, <start_of_turn> <end_of_turn> control pieces,
          "\\n" and "\\n\\n" user-defined pieces)
"""
import json
import os
import tempfile

# Pre-tokenizer regexes of llama.cpp's llama-vocab.cpp / the models' tokenizer.json files.
LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
              r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                   "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>", "<|system|>"]
GPT2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _byte_level(corpus, vocab, pattern, specials_first=(), nfc=False):
    """A byte-level BPE of `vocab` tokens (specials_first included) trained on `corpus`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers import trainers
    tok = Tokenizer(models.BPE(fuse_unk=False, byte_fallback=False))
    if pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False,
                                     use_regex=False)])
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=list(specials_first),
                                  show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([corpus], trainer)
    assert tok.get_vocab_size() == vocab, tok.get_vocab_size()
    return tok


def gpt2(corpus):
    tok = _byte_level(corpus, 320, None, GPT2_SPECIALS)
    assert [tok.token_to_id(t) for t in GPT2_SPECIALS] == [0, 1, 2]
    return tok


def llama3(corpus, chatml=False):
    """Llama 3's tokenizer settings; with `chatml`, SmolLM3's (plus <|im_start|>, <|im_end|>)."""
    from tokenizers import AddedToken, processors
    tok = _byte_level(corpus, 360, LLAMA3_PAT)
    tok.model.ignore_merges = True
    specials = LLAMA3_SPECIALS + (["<|im_start|>", "<|im_end|>"] if chatml else [])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    bos = "<|begin_of_text|>"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
        special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def qwen2(corpus):
    from tokenizers import AddedToken
    tok = _byte_level(corpus, 360, QWEN2_PAT, nfc=True)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in GPT2_SPECIALS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for t in ["<think>", "</think>"]])
    return tok


def sentencepiece_model(corpus, family, out_path):
    """Trains the phi3 or gemma SentencePiece model into `out_path` (tokenizer.model)."""
    import sentencepiece as spm
    common = dict(input=corpus, model_type="bpe", vocab_size=768, byte_fallback=True,
                  split_digits=True, remove_extra_whitespaces=False,
                  normalization_rule_name="identity", allow_whitespace_only_pieces=True,
                  character_coverage=0.98, num_threads=1, minloglevel=2,
                  max_sentence_length=100000, seed_sentencepiece_size=100000,
                  shuffle_input_sentence=False)
    if family == "phi3":
        opts = dict(add_dummy_prefix=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    elif family == "gemma":
        opts = dict(add_dummy_prefix=False, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
                    pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
                    control_symbols=["<mask>", "<start_of_turn>", "<end_of_turn>"],
                    user_defined_symbols=["\n", "\n\n"])
    else:
        raise ValueError(family)
    from sentencepiece import sentencepiece_model_pb2
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "sp")
        spm.SentencePieceTrainer.train(model_prefix=prefix, **common, **opts)
        # The trainer records its paths in the model: keep them machine-independent.
        proto = sentencepiece_model_pb2.ModelProto()
        with open(prefix + ".model", "rb") as f:
            proto.ParseFromString(f.read())
    proto.trainer_spec.model_prefix = "tokenizer"
    del proto.trainer_spec.input[:]
    proto.trainer_spec.input.append("tests/reference/tokenizers/corpus.txt")
    with open(out_path, "wb") as f:
        f.write(proto.SerializeToString())


def hf_tokenizer(family, corpus, folder, model_max_length, chat_template=None):
    """Writes the family's tokenizer files into `folder`; returns the HF tokenizer."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    if family in ("phi3", "gemma"):
        # As the real repositories: tokenizer.model, and the fast tokenizer HF converts it to.
        model = os.path.join(folder, "tokenizer.model")
        sentencepiece_model(corpus, family, model)
        if family == "phi3":
            cfg = dict(tokenizer_class="LlamaTokenizer", bos_token="<s>",
                       eos_token="<|endoftext|>", unk_token="<unk>", pad_token="<|endoftext|>",
                       add_bos_token=True, add_eos_token=False, legacy=False)
        else:
            cfg = dict(tokenizer_class="GemmaTokenizer", bos_token="<bos>", eos_token="<eos>",
                       unk_token="<unk>", pad_token="<pad>", add_bos_token=True,
                       add_eos_token=False)
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f)
        hf = AutoTokenizer.from_pretrained(folder)
        if family == "phi3":
            hf.add_special_tokens({"additional_special_tokens": PHI3_ADDED[1:]})
        hf.model_max_length = model_max_length
    else:
        tok = {"gpt2": gpt2, "llama3": llama3, "qwen2": qwen2,
               "smollm3": lambda c: llama3(c, chatml=True)}[family](corpus)
        specials = {
            "gpt2": dict(bos_token="<|im_start|>", eos_token="<|im_end|>",
                         pad_token="<|endoftext|>"),
            "llama3": dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"),
            "smollm3": dict(bos_token="<|begin_of_text|>", eos_token="<|im_end|>",
                            pad_token="<|finetune_right_pad_id|>"),
            "qwen2": dict(eos_token="<|im_end|>", pad_token="<|endoftext|>"),
        }[family]
        hf = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tok.to_str()),
                                     model_max_length=model_max_length, **specials)
    if chat_template is not None:
        hf.chat_template = chat_template
    hf.save_pretrained(folder)
    if family == "phi3":
        # Phi-3's tokenizer.json (written by transformers 4) spells the dummy prefix as
        # normalizers, which prepend "▁" to every text as SentencePiece and llama.cpp do;
        # transformers 5 writes a Metaspace pre-tokenizer instead, which skips the prefix when
        # the text starts with a space. Keep the real layout.
        path = os.path.join(folder, "tokenizer.json")
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        tj["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
        tj["pre_tokenizer"] = None
        # Phi-3's chat tokens (and </s>) swallow the whitespace after them (rstrip), which
        # llama.cpp reproduces for GGUF files named phi-3/phi3.
        for added in tj["added_tokens"]:
            if added["content"] in PHI3_ADDED[1:] + ["</s>"]:
                added["rstrip"] = True
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(tj, indent=2, ensure_ascii=False) + "\n")
    return hf


def spm_encode(folder, text, add_bos):
    """SentencePiece's own ids for `text` (the reference of the SentencePiece families)."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
    return ([sp.bos_id()] if add_bos else []) + sp.encode(text)

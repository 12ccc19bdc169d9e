"""Reference token ids of the whole tokenizer corpus for every llama.cpp test vocabulary.

llama.cpp's own vectors (models/ggml-vocab-*.gguf.inp/.out, checked by
tests/llama_vocabs.rs) cover 15 of its 19 vocabularies with about 46 short texts each.
This script adds a second, larger check: corpus.txt (2,856 lines of prose in many scripts,
code, white-space runs, special tokens, emoji, invalid-looking code points), encoded as
one text, for all 19 vocabularies.

The reference is llama.cpp's `llama-tokenize` (the anchor build of the same
llama-cpp-python 0.3.36 source), except where it is known to differ from the Hugging Face
tokenizer the vocabulary came from:
- qwen2: Qwen2's tokenizer.json puts text in NFC first and llama.cpp does not, so
  llama.cpp is given the NFC form of the corpus;
- bert-bge: llama.cpp's WordPiece normalizer treats a few characters unlike HF's
  BertNormalizer (vertical tab and other control characters, unassigned code points), so
  the reference is HF `tokenizers` itself: WordPiece over the GGUF vocabulary spelled back
  as HF spells it, BertNormalizer(lowercase) and BertPreTokenizer.

Output, tokenizers/llama_vocab_goldens.json, is small: per vocabulary the number of ids,
their first 16, and FNV-1a-64 hashes of every prefix of 1,000 ids (so a test can say
where two encodings part), computed over the ids as little-endian u32.

    python3 tests/reference/tokenizers/make_llama_vocab_goldens.py

It needs `llama-tokenize`: $LLAMA_TOKENIZE, else ../shared/tools/llama-cpp-anchor.sh.
"""
import json
import os
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))
import refenv  # noqa: E402

PINS = ["tokenizers==0.23.3", "gguf==0.19.0", "numpy==2.4.6"]
STEP = 1000


def fnv1a64(ids):
    h = 0xCBF29CE484222325
    out = []
    for i, x in enumerate(ids):
        for b in int(x).to_bytes(4, "little"):
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        if (i + 1) % STEP == 0:
            out.append(f"{h:016x}")
    return out, f"{h:016x}"


def llama_tokenize(tool, vocab, text):
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(tool))
    r = subprocess.run([tool, "-m", vocab, "--stdin", "--ids", "--no-bos", "--no-escape",
                        "--log-disable"], input=text.encode(), capture_output=True, env=env,
                       check=True)
    return json.loads(r.stdout)


def hf_bert(vocab_path, text):
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
    r = GGUFReader(vocab_path)
    f = r.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    tt = r.fields["tokenizer.ggml.token_type"]
    types = [int(tt.parts[i][0]) for i in tt.data]
    vocab = {}
    for i, (t, ty) in enumerate(zip(tokens, types)):
        # llama.cpp's converter writes word starts as "\u2581word" and continuations bare.
        h = t if ty == 3 else (t[1:] if t.startswith("\u2581") else "##" + t)
        vocab.setdefault(h, i)
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    return tok.encode(text, add_special_tokens=False).ids


def main():
    refenv.reexec(PINS, __file__)
    import tokenizers
    models = subprocess.run(["bash", os.path.join(ROOT, "weights", "fetch.sh"), "llama-vocabs"],
                            capture_output=True, text=True, check=True).stdout.strip()
    tool = os.environ.get("LLAMA_TOKENIZE") or subprocess.run(
        ["bash", os.path.join(ROOT, "..", "shared", "tools", "llama-cpp-anchor.sh"), "bin",
         "llama-tokenize"], capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(HERE, "corpus.txt"), newline="") as f:
        corpus = f.read()
    out = {"corpus": "corpus.txt", "step": STEP, "vocabs": {}}
    for name in sorted(os.listdir(models)):
        if not (name.startswith("ggml-vocab-") and name.endswith(".gguf")):
            continue
        path = os.path.join(models, name)
        vocab = name[len("ggml-vocab-"):-len(".gguf")]
        if vocab == "bert-bge":
            ids = hf_bert(path, corpus)
            ref = f"HF tokenizers {tokenizers.__version__} (WordPiece, BertNormalizer)"
        elif vocab == "qwen2":
            ids = llama_tokenize(tool, path, unicodedata.normalize("NFC", corpus))
            ref = "llama.cpp llama-tokenize (llama-cpp-python 0.3.36) on the NFC corpus"
        else:
            ids = llama_tokenize(tool, path, corpus)
            ref = "llama.cpp llama-tokenize (llama-cpp-python 0.3.36)"
        prefixes, full = fnv1a64(ids)
        out["vocabs"][vocab] = {"reference": ref, "n_ids": len(ids), "first": ids[:16],
                                "fnv1a64": full, "prefix_fnv1a64": prefixes}
        print(f"{vocab}: {len(ids)} ids ({ref})")
    with open(os.path.join(HERE, "llama_vocab_goldens.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Golden files proving ingot's tokenizers agree exactly with Hugging Face `tokenizers`.

Run from the repository root with the reference interpreter (tokenizers 0.23.3,
transformers 5.23.0, sentencepiece 0.2.3, gguf 0.19.0, protobuf; Python 3.11):

    /work/venv-ref/bin/python tests/reference/tokenizers/make_tokenizer_goldens.py

Everything is deterministic (fixed seed, fixed module/file lists, single-threaded
SentencePiece training); only the Python version can change the harvested stdlib text, so
it is recorded. Writes, next to this script:

corpus.txt
    The test strings, one per line, UTF-8. The file is the lines joined with b"\\n" plus a
    final b"\\n". Split on b"\\n" ONLY (drop the final empty piece): lines contain "\\r",
    "\\t", "\\x0b", "\\x0c", "\\x85", U+2028/U+2029, NUL and other controls, so Rust's
    str::lines() (which also eats a trailing "\\r") or Python's splitlines() would be
    wrong. Line 0 of the file is corpus line 0. Composition (category: count) is recorded in
    goldens.json meta.corpus_categories, in file order.

smollm2_tokenizer.json
    SmolLM2's tokenizer rebuilt from weights/SmolLM2-135M-Instruct.Q4_1.gguf by
    tests/reference/make_goldens.py::build_tokenizer (BPE from the GGUF vocab and merges,
    pre_tokenizer Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False,
    use_regex=True)], ByteLevel decoder, the 17 CONTROL tokens as special added tokens), plus
    the ByteLevel post-processor of the real SmolLM2 tokenizer.json (add_prefix_space=True,
    trim_offsets=False, use_regex=True; adds no ids).

sp.model, sp_tokenizer.json, sp_first_tokenizer.json
    A small Llama-2/TinyLlama-style SentencePiece BPE tokenizer. sp.model is trained here
    with sentencepiece (parameters: SP_TRAIN below, also in goldens.json meta) on the corpus
    lines plus stdlib docstring sentences and source lines (about SP_TEXT_BYTES bytes).
    transformers 5.23 converts it with `LlamaTokenizer.from_pretrained(dir holding
    tokenizer.model, add_bos_token=True)` (vocab, merges from
    tokenization_utils_base.generate_merges, added tokens, BOS TemplateProcessing):
      * sp_first_tokenizer.json is that result unchanged (legacy=False, the transformers 5
        default): no normalizer, pre_tokenizer Metaspace(prepend_scheme="first",
        split=False), model.unk_token null.
      * sp_tokenizer.json is the same vocab/merges/added tokens/decoder/post-processor with
        the *legacy* pipeline that Llama-2 and TinyLlama's published tokenizer.json files
        have (transformers 4.x LlamaConverter with legacy=True): normalizer
        Sequence[Prepend("▁"), Replace(" " -> "▁")], pre_tokenizer null, model.unk_token
        "<unk>". (transformers 5.23's own LlamaConverter crashes on BPE protos, and its
        legacy=True path yields Metaspace(prepend_scheme="always"), which differs from the
        Prepend normalizer on text starting with a space: " hi" -> "▁hi" vs "▁▁hi".)
    Both have decoder Sequence[Replace("▁" -> " "), ByteFallback, Fuse, Strip(" ", 1, 0)].

goldens.json
    meta: versions, seed, SentencePiece training parameters, corpus sha256/line count/
    categories, the round-trip failures found.
    smollm2 / sp / sp_first: {"file": tokenizer file name,
      "lines": one object per corpus line, in order:
          {"ids": tok.encode(line, add_special_tokens=False).ids,
           ["ids_with_special": tok.encode(line, add_special_tokens=True).ids,]  (sp, sp_first)
           "decoded": tok.decode(ids, skip_special_tokens=False)},
      "decode_cases": [{"ids": [...], "decoded": tok.decode(ids, skip_special_tokens=False)}]
          ~200 id sequences (length 1-12, fixed seed) stressing invalid UTF-8: lone
          continuation bytes, truncated/overlong/surrogate sequences, byte tokens around
          special tokens, <0xNN> byte-fallback tokens, leading "▁" pieces.}
    One JSON value per line for the per-line entries; nothing is pretty-printed inside them.
"""
import contextlib
import hashlib
import importlib
import inspect
import io
import json
import os
import random
import re
import shutil
import string
import sys
import tempfile
import unicodedata
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
GGUF = os.path.join(ROOT, "weights", "SmolLM2-135M-Instruct.Q4_1.gguf")
SEED = 20241123
SP_TEXT_BYTES = 3_000_000
N_DECODE_CASES = 200

SP_USER_SYMBOLS = ["<|user|>", "<|assistant|>", "<|system|>"]
SP_TRAIN = dict(
    model_type="bpe", vocab_size=4000, byte_fallback=True, character_coverage=0.9995,
    split_digits=True, add_dummy_prefix=True, normalization_rule_name="identity",
    remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
    split_by_unicode_script=True, split_by_number=True, split_by_whitespace=True,
    max_sentencepiece_length=16, max_sentence_length=4192, input_sentence_size=0,
    shuffle_input_sentence=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
    user_defined_symbols=SP_USER_SYMBOLS, num_threads=1, minloglevel=2,
)

SMOL_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>",
                 "<file_sep>", "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>",
                 "<issue_closed>", "<jupyter_start>", "<jupyter_text>", "<jupyter_code>",
                 "<jupyter_output>", "<jupyter_script>", "<empty_output>"]
SP_SPECIALS = ["<s>", "</s>", "<unk>"] + SP_USER_SYMBOLS

DOC_MODULES = [
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "bz2", "calendar", "cmd", "code",
    "codecs", "collections", "colorsys", "concurrent.futures", "configparser", "contextlib",
    "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "dis", "email",
    "email.message", "enum", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib",
    "functools", "getopt", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac", "html",
    "html.parser", "http.client", "http.server", "imaplib", "inspect", "io", "ipaddress",
    "itertools", "json", "keyword", "linecache", "locale", "logging", "lzma", "mailbox",
    "math", "mimetypes", "operator", "optparse", "os", "pathlib", "pickle", "pkgutil",
    "platform", "plistlib", "poplib", "pprint", "queue", "quopri", "random", "re", "reprlib",
    "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "signal", "smtplib",
    "socket", "sqlite3", "statistics", "string", "struct", "subprocess", "sys", "tarfile",
    "tempfile", "textwrap", "threading", "timeit", "token", "tokenize", "traceback", "types",
    "typing", "unittest", "urllib.parse", "urllib.request", "uuid", "warnings", "wave",
    "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "zipfile", "zlib",
]
SRC_MODULES = [
    "argparse", "ast", "calendar", "collections", "configparser", "csv", "dataclasses",
    "difflib", "email.message", "enum", "fractions", "functools", "gettext", "heapq",
    "html.parser", "inspect", "ipaddress", "json.decoder", "json.encoder", "logging",
    "pathlib", "pprint", "shlex", "statistics", "string", "tarfile", "textwrap", "tokenize",
    "typing", "urllib.parse", "uuid", "zipfile",
]

# ---------------------------------------------------------------------------------------------
# Hand-written material
# ---------------------------------------------------------------------------------------------
MULTILINGUAL = {
    "fr": ["Le renard brun rapide saute par-dessus le chien paresseux.",
           "Où est la bibliothèque ? Elle est fermée aujourd'hui.",
           "L'été dernier, nous sommes allés à la mer avec nos amis.",
           "C'est déjà l'heure de partir — dépêche-toi !",
           "« Bonjour », dit-elle, « comment ça va ? »",
           "Les élèves ont étudié l'œuvre de Molière pendant trois semaines."],
    "de": ["Die Straße ist heute sehr ruhig, weil alle im Urlaub sind.",
           "Größere Äpfel schmecken nicht unbedingt süßer.",
           "Ich hätte gern ein Stück Kuchen und einen Kaffee, bitte.",
           "Donaudampfschifffahrtsgesellschaftskapitän",
           "„Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.“",
           "Wir treffen uns um 14:30 Uhr vor dem Hauptbahnhof."],
    "es": ["¿Dónde está la estación de tren más cercana?",
           "El niño comió una manzana y después durmió la siesta.",
           "¡Qué día tan bonito hace hoy en Sevilla!",
           "Mañana será otro día, señor.",
           "El pingüino Wenceslao hizo kilómetros bajo exhaustiva lluvia y frío."],
    "ru": ["Съешь же ещё этих мягких французских булок, да выпей чаю.",
           "Москва — столица России, а Санкт-Петербург — северная столица.",
           "Я не знаю, что сказать.",
           "В чащах юга жил бы цитрус? Да, но фальшивый экземпляр!",
           "Привет, мир! Как дела?"],
    "el": ["Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
           "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
           "Καλημέρα! Τι κάνεις σήμερα;",
           "Γειά σου Κόσμε, αβγδε ΑΒΓΔΕ ςσΣ"],
    "ar": ["اللغة العربية جميلة جداً.",
           "أين تقع أقرب محطة قطار؟",
           "مرحبا بكم في موقعنا الإلكتروني",
           "صِفْ خَلْقَ خَوْدٍ كَمِثْلِ الشَّمْسِ إِذْ بَزَغَتْ",
           "عدد السكان ١٢٣٤٥٦ نسمة في عام ٢٠٢٤."],
    "he": ["שלום עולם, מה שלומך היום?",
           "ירושלים היא עיר עתיקה מאוד.",
           "עטלף אבק נס דרך מזגן שהתפוצץ כי חם",
           "בְּרֵאשִׁית בָּרָא אֱלֹהִים"],
    "hi": ["मैं आज बाज़ार जा रहा हूँ।",
           "भारत एक विशाल देश है जिसमें कई भाषाएँ बोली जाती हैं।",
           "नमस्ते, आप कैसे हैं?",
           "संख्या १२३ और ४५६ है।"],
    "zh": ["我们今天下午三点在图书馆见面吧。",
           "人工智能正在改变世界的许多方面。",
           "這是一個繁體中文的句子，包含標點符號。",
           "春眠不觉晓，处处闻啼鸟。",
           "他说：“你好！”然后离开了。",
           "价格是￥1,299元，比去年便宜了20%。"],
    "ja": ["今日はとても良い天気ですね。",
           "東京タワーは高さ333メートルです。",
           "ｶﾀｶﾅ（半角）とカタカナ（全角）の違い。",
           "吾輩は猫である。名前はまだ無い。",
           "「こんにちは」と彼女は言った。"],
    "ko": ["오늘 날씨가 정말 좋네요.",
           "한국어는 한글로 씁니다.",
           "다람쥐 헌 쳇바퀴에 타고파",
           "서울의 인구는 약 9,700,000명입니다."],
    "th": ["ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
           "สวัสดีครับ วันนี้อากาศดีมาก",
           "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า"],
    "vi": ["Tiếng Việt có nhiều dấu thanh điệu.",
           "Hôm nay trời đẹp quá, chúng ta đi dạo nhé!",
           "Con cáo nâu nhanh nhẹn nhảy qua con chó lười."],
    "misc": ["İstanbul'da ılık bir gün; Iğdır ve şehir.", "Zażółć gęślą jaźń.",
             "Příliš žluťoučký kůň úpěl ďábelské ódy.", "Árvíztűrő tükörfúrógép",
             "வணக்கம் உலகம்", "გამარჯობა მსოფლიო", "ሰላም ልዑል", "Բարեւ աշխարհ",
             "Ćao, kako si? Đorđe je ovde.", "Þetta er íslenska: ð, þ, æ.",
             "Hyvää huomenta! Mitä kuuluu?", "Jeg har en rød bil og en blå båd."],
}

EMOJI = ["👨‍👩‍👧‍👦", "🏳️‍🌈", "🏴‍☠️", "👩🏽‍💻", "👍🏽", "👍🏿", "👍🏻", "✌🏻", "🇫🇷", "🇯🇵",
         "🇺🇸", "🇩🇪", "🇫🇷🇯🇵", "1️⃣", "#️⃣", "*️⃣", "❤️", "♥", "☺️", "😀", "😂", "🤣", "🥲",
         "🧑‍🤝‍🧑", "👁️‍🗨️", "🐈‍⬛", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "©️", "™", "↔️", "🀄", "🃏", "🙂", "🎉", "🚀", "🔥",
         "💯", "🤖", "🐍", "🦀", "🌍", "⭐", "✅", "❌", "⚠️", "👋", "🙏", "💡", "📈", "🍕"]

CODE = [
    "fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); println!(\"{:?}\", v); }",
    "impl<'a, T: Clone + 'a> Iterator for Iter<'a, T> { type Item = &'a T; }",
    "    let mut map: HashMap<String, Vec<usize>> = HashMap::new();",
    "\tif (ptr != NULL && *ptr == '\\0') { return -1; }",
    "#include <stdio.h>",
    "int main(int argc, char **argv) { printf(\"%d\\n\", argc); return 0; }",
    "const add = (a, b) => a + b; // arrow function",
    "console.log(`Hello ${name}!`);",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name ASC LIMIT 10;",
    "x = [i ** 2 for i in range(10) if i % 2 == 0]",
    "def __init__(self, *args, **kwargs) -> None:",
    "        return {k: v for k, v in zip(keys, values)}",
    "lambda x: x if x else None",
    "a += 1; b -= 2; c *= 3; d /= 4; e //= 5; f **= 6; g %= 7; h |= 8; i &= 9; j ^= 10",
    "if a != b and c <= d or e >= f: pass",
    "<?php echo $var; ?>",
    "for (int i = 0; i < n; ++i) { sum += arr[i]; }",
    "    }",
    "        ]",
    "my_var_name = some_function_call(arg_one, arg_two)",
    "CamelCaseIdentifier snake_case_identifier SCREAMING_CASE kebab-case-id",
    "$ git commit -m \"fix: handle edge case\" && git push origin main",
    "sudo apt-get install -y build-essential libssl-dev",
    "std::vector<std::pair<int, double>> v{{1, 2.0}, {3, 4.5}};",
    "@decorator(arg=1)",
    "    # TODO(someone): refactor this later!!!",
    "// comment with trailing spaces   ",
    "/* block comment */ int x = 0x7fffffff;",
    "matrix[i][j] = matrix[i - 1][j - 1] + cost;",
    "regex = r'^(?P<name>[A-Za-z_]\\w*)\\s*=\\s*(?P<value>.+)$'",
]


def clean(s):
    return s.replace("\n", " ")


def harvest_docs():
    """Docstring sentences (whitespace-collapsed) and raw docstring lines of stdlib modules."""
    warnings.simplefilter("ignore")
    sentences, raw_lines = [], []
    for name in DOC_MODULES:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                mod = importlib.import_module(name)
        except Exception:
            continue
        objs = [mod] + [getattr(mod, a) for a in sorted(vars(mod)) if not a.startswith("_")]
        for obj in objs:
            doc = getattr(obj, "__doc__", None)
            if not isinstance(doc, str) or (obj is not mod and getattr(obj, "__module__", None) != mod.__name__):
                continue
            raw_lines.extend(l for l in doc.split("\n") if l.strip())
            for para in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
                para = " ".join(para.split())
                sentences.extend(re.split(r"(?<=[.!?])\s+(?=[A-Z])", para))
    sentences = list(dict.fromkeys(s for s in sentences if 20 <= len(s) <= 300))
    raw_lines = list(dict.fromkeys(l for l in raw_lines if 8 <= len(l) <= 200))
    return sentences, raw_lines


def harvest_source():
    lines = []
    for name in SRC_MODULES:
        mod = importlib.import_module(name)
        with open(inspect.getsourcefile(mod), encoding="utf-8") as f:
            lines.extend(l.rstrip("\n") for l in f)
    return list(dict.fromkeys(l for l in lines if l.strip() and len(l) <= 200 and "\r" not in l))


def sample(rng, items, k):
    """k items in their original order (deterministic)."""
    k = min(k, len(items))
    return [items[i] for i in sorted(rng.sample(range(len(items)), k))]


def numbers(rng):
    out = ["3.14159", "1,000,000", "0x1F", "0xDEADBEEF", "0b1010_1010", "0o755", "1e10", "-1.5e-10",
           "6.02214076e23", "2024-11-23", "2024-11-23T12:00:00Z", "1999-12-31 23:59:59.999",
           "12/25/2023", "25.12.2023", "+1 (555) 123-4567", "+33 1 23 45 67 89", "555-0100",
           "v1.2.3-beta.4+build.567", "192.168.0.1", "255.255.255.0/24", "$1,234.56", "€5,00",
           "£3.50", "¥10000", "99.9%", "-42", "+7", "007", "1.", ".5", "1_000_000", "3rd", "1st",
           "2nd", "21st century", "abc123def456", "a1b2c3", "x86_64", "utf-8", "HTTP/1.1 404",
           "½ ¼ ¾ ⅓ ⅞", "x² + y³ = z¹", "H₂O and CO₂", "① ② ③ ⑩", "Ⅰ Ⅱ Ⅻ ⅼ", "０１２３４５６７８９",
           "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳", "०१२३४५६७८९", "〇一二三四五", "𝟘𝟙𝟚𝟛 𝟎𝟏", "১২৩", "๑๒๓",
           "1,234,567.89", "1.234.567,89", "1 234 567", "10^9", "2^64 - 1 = 18446744073709551615",
           "3.141592653589793238462643383279502884197", "0.000000001", "1/3", "22/7", "a  2",
           "Total:   100", "year 2024", "12345", "9" * 60, "1-800-FLOWERS", "#42", "№ 5",
           "4:3", "16:9", "1080p", "60fps", "5km", "10kg", "37°C", "98.6°F", "45°N 12°E",
           "ISBN 978-3-16-148410-0", "CVE-2021-44228", "RFC 2616", "IPv4 10.0.0.1", "3 × 4 = 12",
           "10 ÷ 2 = 5", "7 ± 0.5", "∞", "−1 (minus sign)", "1–10 (en dash)", "1e-3 1E+3 1e3"]
    for _ in range(80):
        kind = rng.randrange(8)
        if kind == 0:
            out.append(str(rng.randrange(10 ** rng.randrange(1, 20))))
        elif kind == 1:
            out.append(f"{rng.uniform(-1e6, 1e6):.{rng.randrange(0, 8)}f}")
        elif kind == 2:
            out.append(f"{rng.randrange(10 ** 9):,}")
        elif kind == 3:
            out.append(f"{rng.randrange(1900, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
                       f"T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
                       + rng.choice(["Z", "+02:00", "-05:30", ".123Z", ""]))
        elif kind == 4:
            out.append(hex(rng.randrange(1 << 32)) + " " + hex(rng.randrange(1 << 64)).upper())
        elif kind == 5:
            out.append(f"({rng.randrange(100, 999)}) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}")
        elif kind == 6:
            out.append(" ".join(str(rng.randrange(1000)) for _ in range(rng.randrange(2, 12))))
        else:
            w = rng.choice(["item", "page", "v", "x", "Room", "line", "ID", "step"])
            out.append(f"{w}{rng.randrange(100)} {w} {rng.randrange(100)}{rng.choice(['', '.', ',', '%', 'th'])}")
    return out


def whitespace(rng):
    out = [" ", "  ", "   ", "\t", "\t\t", " \t ", "\r", "\r\r", " \r", "\t\r", "        ",
           "  leading spaces", "trailing spaces   ", "   both sides   ", "a  b", "a   b    c",
           "tabs\tand\t\ttabs", "\tindented with a tab", "\t\tdouble tab", "line ending\r",
           "carriage\rreturn", "mixed \t \t whitespace", "x \t\r y", "word\u00a0nbsp\u00a0word",
           "ideographic\u3000space", "em\u2003space and thin\u2009space", "vertical\x0btab",
           "form\x0cfeed", "next\x85line", "line\u2028separator", "para\u2029separator",
           "nul\x00byte", "ctrl\x04\x06\x13\x14\x16\x1d bytes", "a\x04b", "\x1d", "plane4 \U00040000 plane8 \U00080000 plane11 \U000bfffd", "bell\x07 and escape\x1b[31mred\x1b[0m", "del\x7fchar", "\x01\x02\x03",
           " hello", "  hello", "hello ", "hello  ", " 2", "  2", "a  2", "  \t x",
           "word1 \t\t word2", "end with tab\t", "end with space ", " a b c d e f g ",
           "   indented   text   with   gaps   ", "a\u2000b\u2001c\u2002d\u200ae", "\u00a0\u00a0",
           " !", "  !!", "a \tb", " \u00e9", "  é", "\t日本", "  日本 ", "x" + " " * 100 + "y",
           "\t" * 20 + "deep", "a\r\tb", "\r\n-less CRLF? no: \r only"]
    words = ["alpha", "beta", "gamma", "delta", "x", "42", "é", "日本", "!", "'s", "👍"]
    seps = [" ", "  ", "   ", "\t", " \t", "\t ", "\r", " \r ", "\u00a0", "    ", ""]
    for _ in range(90):
        parts = [rng.choice(seps)]
        for _ in range(rng.randrange(1, 6)):
            parts += [rng.choice(words), rng.choice(seps)]
        out.append("".join(parts))
    return out


def multilingual(rng):
    all_s = [s for v in MULTILINGUAL.values() for s in v]
    out = list(all_s)
    out += [unicodedata.normalize("NFD", s) for s in MULTILINGUAL["vi"] + MULTILINGUAL["fr"][:3]]
    out += [unicodedata.normalize("NFD", s) for s in MULTILINGUAL["ko"][:2]]
    frags = [f for s in all_s for f in re.split(r"(?<=[,.!?。，、！？;；])\s*", s) if f]
    for _ in range(180):
        k = rng.randrange(2, 5)
        sep = rng.choice([" ", ", ", " | ", "", "\t", " — ", " / "])
        line = sep.join(rng.choice(frags) for _ in range(k))
        if rng.random() < 0.2:
            line += " " + rng.choice(EMOJI)
        if rng.random() < 0.2:
            line = str(rng.randrange(1000)) + " " + line
        out.append(line)
    return out


def emoji_lines(rng):
    out = ["👨‍👩‍👧‍👦 family", "🏳️‍🌈 pride flag", "👍🏽 ok 🙂", "🇫🇷🇯🇵🇺🇸", "1️⃣2️⃣3️⃣", "I ❤️ NY",
           "emoji😀glued😂to🤣words", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland", "👩🏽‍💻 writes 🦀 code", "🔥🔥🔥",
           "a👍b", "👍 👍  👍   👍", "😀" * 30, ":-) :) ;-) :D <3 ^_^ ¯\\_(ツ)_/¯",
           "✅ done ❌ failed ⚠️ warning", "🇦🇧🇨", "🏻🏼🏽 lone modifiers", "\u200d lone ZWJ",
           "👨\u200d lone trailing ZWJ", "🇫 single regional indicator", "\ufe0f lone VS16"]
    for _ in range(70):
        n = rng.randrange(1, 6)
        parts = []
        for _ in range(n):
            parts.append(rng.choice(EMOJI))
            if rng.random() < 0.5:
                parts.append(rng.choice([" ", "", " and ", "!", "?", " x ", "日本", "é"]))
        out.append("".join(parts))
    return out


def unicode_misc(rng):
    zalgo = "".join(c + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(rng.randrange(1, 4)))
                    for c in "Zalgo text")
    out = ["e\u0301", "cafe\u0301 vs café", "a\u0308\u0304", "n\u0303o", "o\u0302\u0323", zalgo,
           "\u0301 leading combining mark", "zero\u200bwidth\u200bspace", "join\u200dme",
           "\ufeffBOM at start", "mid\ufeffBOM", "soft\u00adhyphen", "word\u2060joiner",
           "LRM\u200e RLM\u200f", "\u202eoverride\u202c", "ＡＢＣ　ｄｅｆ　１２３！？", "（全角括弧）と「かぎ括弧」",
           "ﬁ ﬂ ﬀ ligatures", "Ⅸ ℃ ℉ № ™ ℠ Å", "∀x∈ℝ: x²≥0", "∑_{i=1}^{n} i = n(n+1)/2",
           "∫₀^∞ e^{-x²} dx = √π/2", "α+β=γ, Δx→0", "≤ ≥ ≠ ≈ ≡ ∞ ∂ ∇ ⊂ ⊆ ∪ ∩ ⊕ ⊗ ℵ₀",
           "𝔸𝔹ℂ 𝐀𝐁𝐂 𝑥𝑦𝑧 𝓐𝓑", "⟨ψ|φ⟩ ⊗ |0⟩", "f: A → B, g ∘ f", "¬(p ∧ q) ⇔ ¬p ∨ ¬q",
           "mixedСкрипт tokens", "paypal vs pаypal (Cyrillic а)", "ABCΑΒΓАБВ", "日本語English混合",
           "한국어English섞기", "abc日本def", "Ελληνικάtext", "עבריתtext", "العربيةtext123",
           "\ue000\ue001 private use", "\ufffc\ufffd specials", "\uffff nonchar", "\U0010fffd plane 16",
           "\U0001f600\U0001f600 astral", "𠜎𠜱𠝹 CJK ext B", "a\u0000b", "﷽", "ﷺ",
           "┌──┬──┐ │ ║ ╔═╗", "░▒▓█", "♠♣♥♦ ♪♫ ☀☁☂", "←↑→↓ ⇐⇒", "•·…‰′″‴", "§¶†‡",
           "\u0e01\u0e34\u0e4a Thai stacked", "क्षत्रिय", "ﾊﾝｶｸ ｶﾀｶﾅ", "ǅ ǈ ǋ titlecase", "ß ẞ ŉ ǰ",
           "İ ı i I", "Ω Ω", "Å Å", "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ"]
    blocks = [(0x20, 0x7e), (0xa0, 0xff), (0x100, 0x17f), (0x370, 0x3ff), (0x400, 0x4ff),
              (0x590, 0x5ff), (0x600, 0x6ff), (0x900, 0x97f), (0xe00, 0xe7f), (0x2000, 0x206f),
              (0x2190, 0x22ff), (0x2500, 0x257f), (0x3040, 0x30ff), (0x4e00, 0x9fff),
              (0xac00, 0xd7a3), (0xff00, 0xffef), (0x1f300, 0x1f5ff), (0x1f600, 0x1f64f),
              (0x1d400, 0x1d7ff), (0x0, 0x1f)]
    for _ in range(60):
        line = []
        for _ in range(rng.randrange(1, 40)):
            lo, hi = rng.choice(blocks)
            c = rng.randrange(lo, hi + 1)
            if c != 0x0A:
                line.append(chr(c))
        out.append("".join(line))
    return out


def web(rng):
    out = ["https://example.com/path?q=1&r=two#frag",
           "https://www.example.com/path/to/page.html?query=value&lang=en#section-2",
           "http://localhost:8080/api/v1/users/42", "ftp://ftp.example.org/pub/file.tar.gz",
           "mailto:john.doe+tag@example.co.uk", "email: someone@example.org, tel. +33 1 23 45 67 89",
           "user_name123@sub.domain.io", "git@github.com:owner/repo.git",
           "C:\\Users\\Name\\Documents\\file.txt", "/usr/local/bin/python3", "~/.config/app/settings.json",
           "2001:db8::ff00:42:8329", "https://例え.jp/パス?キー=値", "www.EXAMPLE.com/ÜBER",
           "# Heading 1", "## Sub *emphasis* and **bold** and `code`", "- [ ] todo item", "- [x] done",
           "> quoted text", "| col1 | col2 |", "|---|:---:|", "![alt text](http://x.y/img.png \"Title\")",
           "```python", "```", "1. first\t2. second", "***bold italic*** ~~strike~~ __under__",
           "[link](https://a.b/c_(d)) and <https://auto.link>", "<div class=\"container\"><p>Hello &amp; welcome!</p></div>",
           "<!DOCTYPE html>", "<script>alert('x');</script>", "&lt;tag&gt; &nbsp; &#x1F600; &#39;",
           "<br/><hr />", "<a href='https://x.org'>link</a>", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
           "{\"key\": \"value\", \"n\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
           "{\"unicode\": \"\\u00e9\\u4e2d\", \"esc\": \"tab\\tnl\\n\"}", "[]", "{}", "[{},{}]",
           "key: value  # yaml comment", "[section]\nname = value".replace("\n", " "),
           "base64: SGVsbG8sIFdvcmxkIQ==", "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "uuid 123e4567-e89b-12d3-a456-426614174000", "@mention #hashtag $TICKER %20 ^caret"]
    keys = ["id", "name", "value", "items", "ok", "score", "tags", "über", "日本", "emoji"]
    vals = [1, -2.5, "text", True, None, "é", "👍", [1, 2], {"x": 0}, "a b  c", 1e-7, 12345678901234]
    for _ in range(60):
        obj = {rng.choice(keys): rng.choice(vals) for _ in range(rng.randrange(1, 5))}
        out.append(json.dumps(obj, ensure_ascii=rng.random() < 0.5,
                              separators=rng.choice([(",", ":"), (", ", ": ")])))
    hosts = ["example.com", "api.test.io", "sub.domain.co.uk", "localhost", "127.0.0.1:5000"]
    for _ in range(40):
        path = "/".join(rng.choice(["a", "docs", "v2", "users", "42", "file.txt", "index.html", "~x", "%E2%9C%93"])
                        for _ in range(rng.randrange(0, 5)))
        q = "&".join(f"{rng.choice(keys[:6])}={rng.randrange(100)}" for _ in range(rng.randrange(0, 3)))
        out.append(f"{rng.choice(['http', 'https'])}://{rng.choice(hosts)}/{path}" + (f"?{q}" if q else ""))
    for _ in range(20):
        tag = rng.choice(["p", "div", "span", "li", "td", "b", "code"])
        out.append(f"<{tag} id=\"n{rng.randrange(99)}\">{rng.choice(['Hi', 'x < y', 'a &amp; b', 'été'])}</{tag}>")
    return out


def long_lines(rng):
    word300 = "".join(rng.choice(string.ascii_lowercase) for _ in range(300))
    return [word300, "a" * 300, "A" * 257, "9" * 300, "ab" * 250, "x" + " " * 300 + "y",
            "\t" * 64, "-" * 200, "=" * 120, "😀" * 64, "日本語" * 70, "é" * 200,
            "supercalifragilisticexpialidocious" * 5,
            "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(400)) + "==",
            "".join(rng.choice("0123456789abcdef") for _ in range(256)),
            "https://example.com/" + "/".join("seg%d" % i for i in range(60)),
            " ".join(rng.choice(["the", "a", "of", "and", "to", "in", "is", "you", "that", "it"]) for _ in range(250)),
            "Pneumonoultramicroscopicsilicovolcanoconiosis" + "ähnlich" * 20,
            "ﾟ" * 100, "\u0301" * 50]


def punctuation(rng):
    out = ["!!!???...", "--- *** ### ~~~ <<< >>> ((()))", "!!!", "?!?!", "...", "…", "----", "====",
           "****", "~~~~", "____", "////", "\\\\\\\\", "''''", '""""', "((((", "))))", "<<<>>>",
           "#######", ";;;;", "::::", ",,,,", "!?", "??", "a...b", "end.", "(parenthetical)",
           "[bracketed]", "{braced}", "\"double\" 'single' `back`", "«guillemets» ‹single›",
           "„German“ ‚quotes‘", "“curly” ‘quotes’", "--flag=value -x -vvv", "a/b\\c|d", "@#$%^&*",
           "¡¿", "。、，！？：；", "·•◦", "—–-‒―", "...!!!???", ". . .", "! ! !"]
    chars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    for _ in range(40):
        out.append("".join(rng.choice(chars) * rng.randrange(1, 4) for _ in range(rng.randrange(1, 10))))
    return out


def apostrophes(rng):
    out = ["I'm, you're, it's, we'll, they'd, she's, I've", "I'M YOU'RE IT'S WE'LL", "don't 'quote' s",
           "can't won't shan't isn't aren't", "'s 't 're 've 'm 'll 'd", "'S 'T 'RE 'VE 'M 'LL 'D",
           "it’s don’t I’m we’re they’ve", "‘quoted’ and ’tis", "rock 'n' roll", "'tis the season",
           "o'clock", "the '90s", "James' book", "'s", "'", "''", "'''triple'''", "x's's",
           "'ll've", "y'all'd've", "ma'am", "O'Neil's", "l'homme d'affaires", "qu'il n'y a",
           "He said 'hello' and 'bye'.", "It'S mIxEd'Ll", "123's", "日本's", "émile's", "'s's's",
           " 's", "  'll", "I 'm", "don ' t", "`s", "´s", "ʼs (modifier letter apostrophe)"]
    words = ["I", "you", "we", "they", "he", "she", "it", "that", "there", "who", "John", "dog", "X", "é"]
    sfx = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D",
           "’s", "’ll", "'", "'x", "'ss"]
    for _ in range(60):
        n = rng.randrange(1, 6)
        parts = []
        for _ in range(n):
            w = rng.choice(words)
            w = w.upper() if rng.random() < 0.2 else w
            parts.append(w + rng.choice(sfx) + (rng.choice(sfx) if rng.random() < 0.15 else ""))
        out.append(rng.choice([" ", "  ", ", ", ""]).join(parts))
    return out


def special_tokens(rng):
    out = ["<|im_start|>user\tHi<|im_end|>", "<|im_start|>system You are a helpful assistant.<|im_end|>",
           "text<|endoftext|>more<repo_name>x<file_sep>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
           "<repo_name>", "<|im_start", "<|IM_END|>", "<|im_end", "im_start|>", "<||>", "<|>",
           "<|im_start|><|im_end|>", "<|im_start|> <|im_end|>", " <|im_start|> ", "  <|im_end|>  ",
           "<<|im_start|>>", "<|im_start|im_end|>", "<|endoftext|><|endoftext|><|endoftext|>",
           "a<|im_end|>b", "1<|im_end|>2", "é<|endoftext|>日本", "'s<|im_end|>'s", "<|im_start|>'s",
           "<s>", "</s>", "<unk>", "<s>Hello</s>", "<s> Hello </s>", "a<s>b", " <s>", "<s> ", "<S>", "< s>",
           "<|user|>", "<|assistant|>", "<|system|>", "<|user|>Hi<|assistant|>Hello!",
           "<|user|> spaced <|assistant|> out", "<|user|><|user|>", "<|USER|>", "<|user", "user|>",
           "<|system|>\tYou are terse.</s>", "<file_sep><filename>main.py<gh_stars>100",
           "<jupyter_start><jupyter_code>print(1)<jupyter_output>1<empty_output>",
           "<issue_start>Bug<issue_comment>Fixed<issue_closed>", "<reponame>x<repo_name>",
           "<|endoftext |>", "<| endoftext|>", "<|endoftext|", "|endoftext|>", "<|ENDOFTEXT|>"]
    pool = SMOL_SPECIALS + SP_SPECIALS + ["<|im_start", "<|IM_END|>", "im_end|>", "<|user", "<s", "s>"]
    fill = ["", " ", "user", "Hello world", "\t", "日本", "é", "12", "'s", "  x  ", "👍"]
    for _ in range(60):
        out.append("".join(rng.choice(fill) + rng.choice(pool) for _ in range(rng.randrange(1, 5)))
                   + rng.choice(fill))
    return out


def mixtures(rng, pools):
    out = []
    for _ in range(220):
        parts = [rng.choice(rng.choice(pools)) for _ in range(rng.randrange(2, 4))]
        out.append(rng.choice([" ", "  ", "\t", "", ", ", " | "]).join(p.strip() if rng.random() < 0.5 else p
                                                                          for p in parts))
    return [l[:400] for l in out]


def build_corpus():
    rng = random.Random(SEED)
    sentences, raw_doc = harvest_docs()
    src = harvest_source()
    cats = []
    cats.append(("docstring_sentences", sample(rng, sentences, 650)))
    cats.append(("docstring_raw_lines", sample(rng, raw_doc, 120)))
    code = sample(rng, src, 560)
    code = [re.sub(r"^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), l) if i % 9 == 0 else l
            for i, l in enumerate(code)]
    code = [l + "\r" if i % 23 == 0 else l for i, l in enumerate(code)]
    cats.append(("stdlib_source_lines", code))
    cats.append(("code_snippets", CODE))
    cats.append(("numbers", numbers(rng)))
    cats.append(("whitespace", whitespace(rng)))
    cats.append(("multilingual", multilingual(rng)))
    cats.append(("emoji", emoji_lines(rng)))
    cats.append(("unicode_misc", unicode_misc(rng)))
    cats.append(("web_markup_json", web(rng)))
    cats.append(("long_lines", long_lines(rng)))
    cats.append(("punctuation", punctuation(rng)))
    cats.append(("apostrophes", apostrophes(rng)))
    cats.append(("special_tokens", special_tokens(rng)))
    pools = [c[1] for c in cats]
    cats.append(("mixtures", mixtures(rng, pools)))
    lines, counts = [], []
    for name, items in cats:
        items = [clean(s) for s in items]
        lines.extend(items)
        counts.append([name, len(items)])
    return lines, counts, sentences, src


# ---------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------
def build_smollm2():
    sys.path.insert(0, os.path.dirname(HERE))
    import make_goldens  # tests/reference/make_goldens.py
    from tokenizers import processors
    with contextlib.redirect_stdout(io.StringIO()):
        tokens, merges, types, _ = make_goldens.read_gguf(GGUF)
    tok = make_goldens.build_tokenizer(tokens, merges, types)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    return tok


def train_sp(text_lines):
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text_lines), model_writer=model, **SP_TRAIN)
    return model.getvalue()


def build_sp(model_bytes):
    """(legacy sp, transformers-5 sp_first) tokenizers from the SentencePiece model."""
    from tokenizers import Tokenizer, normalizers
    from transformers import LlamaTokenizer
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "tokenizer.model"), "wb") as f:
            f.write(model_bytes)
        with contextlib.redirect_stderr(io.StringIO()):
            hf = LlamaTokenizer.from_pretrained(d, add_bos_token=True)
    first = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    cfg = json.loads(first.to_str())
    cfg["model"]["unk_token"] = "<unk>"
    legacy = Tokenizer.from_str(json.dumps(cfg))
    legacy.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    legacy.pre_tokenizer = None
    return legacy, first


# ---------------------------------------------------------------------------------------------
# Decode cases
# ---------------------------------------------------------------------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def decode_cases_smollm2(tok, rng):
    vocab = tok.get_vocab()
    size = tok.get_vocab_size()
    b2u = bytes_to_unicode()
    u2b = {c: b for b, c in b2u.items()}
    # SmolLM2 has no token for bytes 0x04 0x06 0x13 0x14 0x16 0x1D 0xC0 0xC1 0xF1 0xF2 0xF5-0xFF.
    byte_id = {b: vocab[c] for b, c in b2u.items() if c in vocab}
    invalid = sorted(i for t, i in vocab.items()
                     if all(ch in u2b for ch in t) and not _valid(bytes(u2b[ch] for ch in t)))
    special = [vocab[s] for s in SMOL_SPECIALS]
    cont = [byte_id[b] for b in range(0x80, 0xC0)]
    lead = [i for b, i in byte_id.items() if b >= 0xC0]

    def enc(s):
        return [byte_id[b] for b in s.encode("utf-8")]
    fixed = [enc("é")[:1], enc("é")[1:], enc("日")[:2], enc("日")[1:], enc("😀")[:3], enc("😀")[1:],
             [byte_id[0xED], byte_id[0xA0], byte_id[0x80]], [byte_id[0xF4], byte_id[0x90], byte_id[0x80], byte_id[0x80]],
             [byte_id[0xF3], byte_id[0x80]], [byte_id[0xF4]], [byte_id[0xF0], byte_id[0x9F], byte_id[0x98], byte_id[0xC3]],
             [byte_id[0xE0], byte_id[0x80], byte_id[0x80]], [byte_id[0xE0], byte_id[0xA0]], [byte_id[0xDF]] + enc("x"),
             [byte_id[0xF0], byte_id[0x80], byte_id[0x80], byte_id[0x80]], [byte_id[0xE2], byte_id[0x82]] + enc("A"),
             enc("日")[:1] + [vocab["<|im_start|>"]] + enc("日")[1:], enc("é")[:1] + enc(" ") + enc("é")[1:],
             enc("😀")[:2] + enc("😀"), [byte_id[0x80]] * 5, enc("a") + [byte_id[0xC3]], [byte_id[0x00]],
             enc("\r\n\t "), [vocab["<|endoftext|>"], byte_id[0xA9]], [byte_id[0xC3], vocab["<|im_end|>"], byte_id[0xA9]]]
    cases = [ids for ids in fixed]
    while len(cases) < N_DECODE_CASES:
        k = rng.randrange(1, 13)
        kind = len(cases) % 5
        if kind == 0:
            ids = [rng.randrange(size) for _ in range(k)]
        elif kind == 1:
            ids = [rng.choice(cont + lead) for _ in range(k)]
        elif kind == 2:
            ids = [rng.choice(invalid) for _ in range(k)]
        elif kind == 3:
            s = "".join(rng.choice(["é", "日", "😀", "👨‍👩‍👧", "a", " ", "ß", "€", "\U0010ffff"]) for _ in range(k))
            ids = enc(s)
            a = rng.randrange(len(ids))
            ids = ids[a:a + rng.randrange(1, 13)]
        else:
            ids = [rng.choice([rng.randrange(size), rng.choice(invalid), rng.choice(cont + lead), rng.choice(special)])
                   for _ in range(k)]
        cases.append(ids)
    return [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)} for ids in cases]


def decode_cases_sp(tok, rng):
    vocab = tok.get_vocab()
    size = tok.get_vocab_size()
    byte_id = {int(t[3:5], 16): i for t, i in vocab.items() if re.fullmatch(r"<0x[0-9A-F]{2}>", t)}
    assert len(byte_id) == 256
    special = [vocab[s] for s in SP_SPECIALS]
    spaces = sorted(i for t, i in vocab.items() if t.startswith("▁"))
    only_sp = sorted(i for t, i in vocab.items() if t and set(t) == {"▁"})
    bytes_hi = [byte_id[b] for b in range(0x80, 0x100)]

    def enc(s):
        return [byte_id[b] for b in s.encode("utf-8")]
    fixed = [enc("é"), enc("é")[:1], enc("é")[1:], enc("日本"), enc("日")[:2], enc("😀"), enc("😀")[:3],
             [byte_id[0xC0], byte_id[0x80]], [byte_id[0xED], byte_id[0xA0], byte_id[0x80]], [byte_id[0xFF]],
             enc("日")[:1] + [vocab["<s>"]] + enc("日")[1:], enc("é")[:1] + [vocab["▁"]] + enc("é")[1:],
             [vocab["▁"]], [vocab["▁"], vocab["▁"]], only_sp[:1] + enc("a"), enc(" ") + enc("x"), enc("A"),
             [byte_id[0x00]], enc("\t\n\r"), [vocab["<unk>"]], [vocab["<s>"], vocab["▁"]], [vocab["</s>"]],
             [vocab["<|user|>"], spaces[0]], enc("▁"), enc("▁") + enc("x")]
    cases = [ids for ids in fixed]
    while len(cases) < N_DECODE_CASES:
        k = rng.randrange(1, 13)
        kind = len(cases) % 5
        if kind == 0:
            ids = [rng.randrange(size) for _ in range(k)]
        elif kind == 1:
            ids = [rng.choice(bytes_hi) for _ in range(k)]
        elif kind == 2:
            s = "".join(rng.choice(["é", "日", "😀", "a", " ", "€", "\U0010ffff", "ก"]) for _ in range(k))
            ids = enc(s)
            a = rng.randrange(len(ids))
            ids = ids[a:a + rng.randrange(1, 13)]
        elif kind == 3:
            ids = [rng.choice([rng.choice(only_sp), rng.choice(spaces), rng.randrange(size)]) for _ in range(k)]
        else:
            ids = [rng.choice([rng.randrange(size), rng.choice(bytes_hi), rng.choice(special), rng.choice(only_sp)])
                   for _ in range(k)]
        cases.append(ids)
    return [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)} for ids in cases]


def _valid(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------------------------------------
def dumps(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def write_goldens(path, meta, sections):
    out = ["{", '"meta": ' + json.dumps(meta, ensure_ascii=False, indent=1) + ","]
    for n, (name, sec) in enumerate(sections.items()):
        out.append(f"{dumps(name)}: {{")
        out.append(f'"file": {dumps(sec["file"])},')
        for key in ("lines", "decode_cases"):
            out.append(f"{dumps(key)}: [")
            out.append(",\n".join(dumps(e) for e in sec[key]))
            out.append("]" + ("," if key == "lines" else ""))
        out.append("}" + ("," if n + 1 < len(sections) else ""))
    out.append("}")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out) + "\n")


def main():
    import gguf
    import google.protobuf
    import sentencepiece
    import tokenizers
    import transformers

    lines, counts, sentences, src = build_corpus()
    assert all("\n" not in l for l in lines)
    corpus_bytes = ("\n".join(lines) + "\n").encode("utf-8")
    with open(os.path.join(HERE, "corpus.txt"), "wb") as f:
        f.write(corpus_bytes)
    # Re-read exactly as a consumer must: split on b"\n" only.
    assert corpus_bytes.decode("utf-8").split("\n")[:-1] == lines
    print(f"corpus: {len(lines)} lines, {len(corpus_bytes)} bytes")
    for name, n in counts:
        print(f"  {name}: {n}")

    smol = build_smollm2()
    smol.save(os.path.join(HERE, "smollm2_tokenizer.json"))

    # SentencePiece training text: corpus + all harvested docstring sentences + source lines.
    text, total = [], 0
    for l in lines + sentences + src:
        if total + len(l.encode()) > SP_TEXT_BYTES:
            break
        text.append(l)
        total += len(l.encode()) + 1
    print(f"sentencepiece training text: {len(text)} lines, {total} bytes")
    model = train_sp(text)
    with open(os.path.join(HERE, "sp.model"), "wb") as f:
        f.write(model)
    sp, sp_first = build_sp(model)
    sp.save(os.path.join(HERE, "sp_tokenizer.json"))
    sp_first.save(os.path.join(HERE, "sp_first_tokenizer.json"))

    rng = random.Random(SEED + 1)
    sections, failures = {}, {}
    for name, tok, with_special in [("smollm2", smol, False), ("sp", sp, True), ("sp_first", sp_first, True)]:
        # Round-trip through the saved file, to be sure the goldens describe the file.
        tok = tokenizers.Tokenizer.from_file(os.path.join(HERE, f"{name}_tokenizer.json"))
        entries, bad = [], []
        for i, line in enumerate(lines):
            ids = tok.encode(line, add_special_tokens=False).ids
            e = {"ids": ids}
            if with_special:
                e["ids_with_special"] = tok.encode(line, add_special_tokens=True).ids
            e["decoded"] = tok.decode(ids, skip_special_tokens=False)
            if e["decoded"] != line:
                bad.append(i)
            entries.append(e)
        cases = (decode_cases_smollm2 if name == "smollm2" else decode_cases_sp)(tok, rng)
        sections[name] = {"file": f"{name}_tokenizer.json", "lines": entries, "decode_cases": cases}
        failures[name] = bad
        print(f"{name}: {len(bad)} lines where decode(encode(line)) != line")
        for i in bad[:12 if name == "smollm2" else 6]:
            print(f"   line {i}: {lines[i]!r} -> {entries[i]['decoded']!r}")

    meta = {
        "generator": "tests/reference/tokenizers/make_tokenizer_goldens.py",
        "versions": {"python": sys.version.split()[0], "tokenizers": tokenizers.__version__,
                     "transformers": transformers.__version__, "sentencepiece": sentencepiece.__version__,
                     "gguf": getattr(gguf, "__version__", "0.19.0"), "protobuf": google.protobuf.__version__},
        "seed": SEED,
        "corpus": {"file": "corpus.txt", "lines": len(lines), "bytes": len(corpus_bytes),
                   "sha256": hashlib.sha256(corpus_bytes).hexdigest(),
                   "split": "split the file on b'\\n' only and drop the empty piece after the final b'\\n'"},
        "corpus_categories": counts,
        "smollm2": {"source": "weights/SmolLM2-135M-Instruct.Q4_1.gguf via tests/reference/make_goldens.py::build_tokenizer",
                    "post_processor": "ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)"},
        "sp_training": {**{k: v for k, v in SP_TRAIN.items()}, "sentence_iterator_lines": len(text),
                        "sentence_iterator_bytes": total,
                        "text": "corpus lines, then stdlib docstring sentences, then stdlib source lines, "
                                "cut at %d bytes" % SP_TEXT_BYTES,
                        "model_sha256": hashlib.sha256(model).hexdigest()},
        "sp_conversion": {
            "sp_first": "transformers.LlamaTokenizer.from_pretrained(<dir with sp.model as tokenizer.model>, "
                        "add_bos_token=True).backend_tokenizer (legacy=False default)",
            "sp": "sp_first with normalizer Sequence[Prepend('▁'), Replace(' ', '▁')], pre_tokenizer null, "
                  "model.unk_token '<unk>' (the Llama-2/TinyLlama legacy tokenizer.json layout)"},
        "entries": {"ids": "encode(line, add_special_tokens=False).ids",
                    "ids_with_special": "encode(line, add_special_tokens=True).ids (sp, sp_first: BOS first)",
                    "decoded": "decode(ids, skip_special_tokens=False)"},
        "roundtrip_failures": failures,
    }
    write_goldens(os.path.join(HERE, "goldens.json"), meta, sections)
    for f in sorted(os.listdir(HERE)):
        print(f"  {f}: {os.path.getsize(os.path.join(HERE, f))} bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Produce chat-template goldens: Hugging Face's own rendering of real models' chat templates.

Run from anywhere with an interpreter that has transformers 5.x (which pulls in jinja2 >= 3.1.6,
tokenizers) and, for the SmolLM2 cross-check only, the `gguf` package:

    /work/venv-ref/bin/python tests/reference/make_chat_goldens.py

Inputs:  tests/reference/chat_templates/<name>.jinja  (the templates, byte-exact; see SOURCES.md)
Output:  tests/reference/chat_templates.json

How the goldens are rendered
----------------------------
Every case goes through `tokenizer.apply_chat_template(messages, tools=..., tokenize=False,
add_generation_prompt=..., **extra)` on a throwaway `PreTrainedTokenizerFast` that carries the
model's named special tokens (bos/eos/unk/pad as in the model's tokenizer_config.json) and the
template. apply_chat_template drops `None`-valued message keys, then calls
`transformers.utils.chat_template_utils.render_jinja_template`, which compiles the template with
`_compile_jinja_template` and renders it with

    messages, tools, documents, add_generation_prompt, **special_tokens_map, **extra

`tools` and `documents` are always passed (as None when not given), so `tools is defined` is true
in every HF render; `context` in the JSON therefore lists "tools" and "documents" too (null when
absent). The script also renders each case by calling `render_jinja_template` directly and asserts
the two agree.

HF's Jinja environment (transformers 5.23, `_cached_compile_jinja_template`):
  jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
      extensions=[AssistantTracker ({% generation %} tag), jinja2.ext.loopcontrols])
  autoescape off (default), undefined = jinja2.Undefined (default, lenient), keep_trailing_newline
  False (default: ONE trailing "\n" of the template source is dropped)
  filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=None, separators=None,
      sort_keys=False)   (replaces Jinja's HTML-escaping tojson)
  globals: raise_exception(msg) -> raises jinja2.exceptions.TemplateError(msg);
           strftime_now(fmt) -> datetime.now().strftime(fmt);
           dict (restricted dict constructor); namespace (jinja2 Namespace that rejects "_" names)

Deterministic dates: templates that call strftime_now (Llama 3.2) are rendered with the clock
frozen at FIXED_NOW (chat_template_utils.datetime is replaced by a datetime subclass whose now()
returns it). Cases that rely on it carry "fixed_date": strftime("%d %b %Y") of that instant,
i.e. what Llama's `strftime_now("%d %b %Y")` returns; the date is deliberately NOT the template's
fallback "26 Jul 2024", so a renderer that lacks strftime_now cannot pass by accident. Cases that
pass `date_string` explicitly have "fixed_date": null.

Errors: a case whose render raises records "output": null and "error": str(exception) (for
raise_exception that is exactly the template's message), plus "error_type" (the exception class).
"""

import datetime as _dt
import importlib.metadata as md
import json
import pathlib
import platform
import sys

HERE = pathlib.Path(__file__).resolve().parent
TPL_DIR = HERE / "chat_templates"
OUT = HERE / "chat_templates.json"
GGUF = HERE.parent.parent / "weights" / "SmolLM2-135M-Instruct.Q4_1.gguf"

FIXED_NOW = _dt.datetime(2025, 3, 2, 9, 30, 0)

# Named special tokens of each model, as in its tokenizer_config.json (only the non-null ones;
# transformers 5 passes exactly these named tokens to the template, not additional_special_tokens).
TEMPLATES = {
    "smollm2": {"model": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "special": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                            "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>"}},
    "llama3_2": {"model": "meta-llama/Llama-3.2-3B-Instruct",
                 "special": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}},
    "qwen2_5": {"model": "Qwen/Qwen2.5-7B-Instruct",
                "special": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}},
    "qwen3": {"model": "Qwen/Qwen3-0.6B",
              "special": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}},
    "mistral_v0_3": {"model": "mistralai/Mistral-7B-Instruct-v0.3",
                     "special": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}},
    "phi3_5_mini": {"model": "microsoft/Phi-3.5-mini-instruct",
                    "special": {"bos_token": "<s>", "eos_token": "<|endoftext|>",
                                "unk_token": "<unk>", "pad_token": "<|endoftext|>"}},
    "gemma2": {"model": "google/gemma-2-2b-it",
               "special": {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>",
                           "pad_token": "<pad>"}},
    "llama3_1": {"model": "meta-llama/Llama-3.1-8B-Instruct (Llama-3.3-70B-Instruct: same text)",
                 "special": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}},
    "deepseek_r1_qwen": {"model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
                         "special": {"bos_token": "<\uff5cbegin\u2581of\u2581sentence\uff5c>",
                                     "eos_token": "<\uff5cend\u2581of\u2581sentence\uff5c>",
                                     "pad_token": "<\uff5cend\u2581of\u2581sentence\uff5c>"}},
    "deepseek_r1_llama": {"model": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
                          "special": {"bos_token": "<\uff5cbegin\u2581of\u2581sentence\uff5c>",
                                      "eos_token": "<\uff5cend\u2581of\u2581sentence\uff5c>",
                                      "pad_token": "<\uff5cend\u2581of\u2581sentence\uff5c>"}},
}
DEEPSEEK = {"deepseek_r1_qwen", "deepseek_r1_llama"}
TOOL_TEMPLATES = {"llama3_2", "llama3_1", "qwen2_5", "qwen3", "mistral_v0_3"} | DEEPSEEK

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City and country, e.g. \"Paris, France\""},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}

# (id, messages, extra template kwargs, which templates: None = all)
CONVERSATIONS = [
    ("user_only", [{"role": "user", "content": "Hello!"}], {}, None),
    ("system_user", [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is 2+2?"},
    ], {}, None),
    ("multi_turn", [
        {"role": "user", "content": "Hi, who are you?"},
        {"role": "assistant", "content": "I am a helpful assistant."},
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another one, please."},
    ], {}, None),
    ("system_multi_turn", [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Good morning"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "Thank you"},
    ], {}, None),
    ("whitespace", [
        {"role": "user", "content": "  Leading and trailing spaces.\nSecond line\t \n"},
        {"role": "assistant", "content": "\n  Sure:\n\n- item  \n"},
        {"role": "user", "content": " \n  ok  "},
    ], {}, None),
    ("unicode_markup", [
        {"role": "user", "content": "Caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 <b>bold</b> & \"quotes\" {{ not_a_var }} {% raw %}"},
    ], {}, None),
    ("bad_two_users", [
        {"role": "user", "content": "First"},
        {"role": "user", "content": "Second"},
    ], {}, None),
    ("bad_assistant_first", [
        {"role": "assistant", "content": "I speak first."},
        {"role": "user", "content": "Hm."},
    ], {}, None),
    ("tools_user", [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "What's the weather in Paris?"},
    ], {"tools": [WEATHER_TOOL]}, TOOL_TEMPLATES),
    ("tools_roundtrip", [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call12345", "type": "function",
             "function": {"name": "get_weather",
                          "arguments": {"location": "Paris, France", "unit": "celsius",
                                        "note": "na\u00efve \"q\" <x>"}}}]},
        {"role": "tool", "tool_call_id": "call12345", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
    ], {"tools": [WEATHER_TOOL]}, TOOL_TEMPLATES),
    # As above but with content "" instead of a missing content: Qwen3's template tests
    # `'</think>' in message.content`, which raises on the undefined content of the previous case.
    ("tools_roundtrip_empty_content", [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call12345", "type": "function",
             "function": {"name": "get_weather", "arguments": {"location": "Paris, France"}}}]},
        {"role": "tool", "tool_call_id": "call12345", "content": "21 C, clear"},
    ], {"tools": [WEATHER_TOOL]}, {"qwen3", "qwen2_5"} | DEEPSEEK),
    # Llama-only variations
    ("system_user_date_string", [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is 2+2?"},
    ], {"date_string": "14 Feb 2023"}, {"llama3_2", "llama3_1"}),
    ("tools_in_system", [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "What's the weather in Paris?"},
    ], {"tools": [WEATHER_TOOL], "tools_in_user_message": False}, {"llama3_2", "llama3_1"}),
    ("tools_no_user", [
        {"role": "system", "content": "Only a system message."},
    ], {"tools": [WEATHER_TOOL]}, {"llama3_2", "llama3_1"}),
    ("two_tool_calls", [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "tool_calls": [
            {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"location": "Paris"}}},
            {"id": "call00002", "type": "function", "function": {"name": "get_weather", "arguments": {"location": "Rome"}}}]},
    ], {"tools": [WEATHER_TOOL]}, TOOL_TEMPLATES),
    # Reasoning models (thinking)
    ("think_history", [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nSimple sum.\n</think>\n\n4"},
        {"role": "user", "content": "3+3?"},
    ], {}, {"qwen3"} | DEEPSEEK),
    ("think_last_assistant", [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nSimple sum.\n</think>\n\n4"},
    ], {}, {"qwen3"} | DEEPSEEK),
    ("enable_thinking_false", [
        {"role": "user", "content": "Hello!"},
    ], {"enable_thinking": False}, {"qwen3"} | DEEPSEEK),
    ("enable_thinking_true", [
        {"role": "user", "content": "Hello!"},
    ], {"enable_thinking": True}, {"qwen3"} | DEEPSEEK),
    ("tool_outputs_two", [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}},
            {"id": "call00002", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\": \"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "call00001", "content": "21 C"},
        {"role": "tool", "tool_call_id": "call00002", "content": "25 C"},
        {"role": "assistant", "content": "Paris 21 C, Rome 25 C."},
    ], {"tools": [WEATHER_TOOL]}, {"qwen3", "qwen2_5", "llama3_1"} | DEEPSEEK),
]


def freeze_clock(ctu):
    class FrozenDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED_NOW if tz is None else FIXED_NOW.replace(tzinfo=tz)

    ctu.datetime = FrozenDatetime


def make_tokenizer(template, special):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=template, **special)


def render(tokenizer, template, special, messages, extra, agp):
    """Returns (output, error, error_type) via apply_chat_template, cross-checked with
    render_jinja_template."""
    from transformers.utils.chat_template_utils import render_jinja_template

    kwargs = dict(extra)
    tools = kwargs.pop("tools", None)
    assert tokenizer.special_tokens_map == special, (tokenizer.special_tokens_map, special)
    res = []
    for how in ("apply", "direct"):
        try:
            if how == "apply":
                out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                                    add_generation_prompt=agp, **kwargs)
            else:
                msgs = [{k: v for k, v in m.items() if v is not None} for m in messages]
                out = render_jinja_template(conversations=[msgs], tools=tools, chat_template=template,
                                            add_generation_prompt=agp, **special, **kwargs)[0][0]
            res.append((out, None, None))
        except Exception as e:  # noqa: BLE001 - recorded as the golden
            res.append((None, str(e), type(e).__module__ + "." + type(e).__qualname__))
    assert res[0] == res[1], f"apply_chat_template and render_jinja_template disagree: {res}"
    return res[0]


def check_smollm2(template):
    try:
        from gguf import GGUFReader
    except ImportError:
        print("note: gguf not installed; SmolLM2 template not re-checked against the GGUF")
        return
    if not GGUF.exists():
        print(f"note: {GGUF} missing; SmolLM2 template not re-checked against the GGUF")
        return
    r = GGUFReader(str(GGUF))
    assert r.fields["tokenizer.chat_template"].contents() == template, "smollm2.jinja != GGUF metadata"


def main():
    import jinja2
    import transformers
    from transformers.utils import chat_template_utils as ctu

    assert hasattr(ctu, "render_jinja_template") and hasattr(ctu, "_compile_jinja_template")
    freeze_clock(ctu)

    cases = []
    for name, info in TEMPLATES.items():
        template = (TPL_DIR / f"{name}.jinja").read_text(encoding="utf-8")
        if name == "smollm2":
            check_smollm2(template)
        tokenizer = make_tokenizer(template, info["special"])
        uses_clock = "strftime_now" in template
        for conv_id, messages, extra, only in CONVERSATIONS:
            if only is not None and name not in only:
                continue
            for agp in (False, True):
                out, err, err_type = render(tokenizer, template, info["special"], messages, extra, agp)
                context = {**info["special"], "tools": None, "documents": None, **extra}
                fixed = None
                if uses_clock and "date_string" not in extra:
                    fixed = FIXED_NOW.strftime("%d %b %Y")
                case = {
                    "template": name,
                    "conversation": conv_id,
                    "messages": messages,
                    "add_generation_prompt": agp,
                    "context": context,
                    "fixed_date": fixed,
                    "output": out,
                    "error": err,
                }
                if err is not None:
                    case["error_type"] = err_type
                cases.append(case)

    doc = {
        "generator": {
            "script": "tests/reference/make_chat_goldens.py",
            "python": platform.python_version(),
            "transformers": transformers.__version__,
            "jinja2": jinja2.__version__,
            "markupsafe": md.version("markupsafe"),
            "tokenizers": md.version("tokenizers"),
            "render_path": "PreTrainedTokenizerFast.apply_chat_template(tokenize=False) -> "
                           "transformers.utils.chat_template_utils.render_jinja_template -> "
                           "_compile_jinja_template (cross-checked by calling render_jinja_template directly)",
            "jinja_env": "ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, "
                         "extensions=[AssistantTracker, jinja2.ext.loopcontrols]); autoescape off; "
                         "keep_trailing_newline False; filters: tojson=json.dumps(x, ensure_ascii=False, "
                         "indent=None, separators=None, sort_keys=False); globals: raise_exception "
                         "(TemplateError(msg)), strftime_now (datetime.now().strftime(fmt)), dict, namespace",
            "fixed_now": FIXED_NOW.isoformat(),
            "fixed_date_note": "strftime_now() was evaluated at fixed_now for cases with a non-null "
                               "fixed_date; fixed_date = strftime('%d %b %Y') of it.",
            "none_keys_dropped": "apply_chat_template removes message keys whose value is None "
                                 "before rendering (messages here are shown as given).",
            "templates": {n: i["model"] for n, i in TEMPLATES.items()},
        },
        "cases": cases,
    }
    # One case per line: compact, yet diffs stay readable.
    head = json.dumps(doc["generator"], ensure_ascii=False, indent=1)
    body = ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases)
    text = '{"generator": ' + head + ',\n"cases": [\n' + body + "\n]}\n"
    assert json.loads(text) == doc
    OUT.write_text(text, encoding="utf-8")
    n_err = sum(c["error"] is not None for c in cases)
    print(f"wrote {OUT} ({len(text.encode())} bytes): {len(cases)} cases, {n_err} errors")


if __name__ == "__main__":
    sys.exit(main())

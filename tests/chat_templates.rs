//! Chat templates of real models rendered like Hugging Face's `apply_chat_template`.
//!
//! `tests/reference/chat_templates/*.jinja` are the templates of SmolLM2, Llama 3.1/3.3,
//! Llama 3.2, Qwen2.5, Qwen3, Mistral v0.3, Phi-3.5, Gemma 2 and the DeepSeek-R1 distills
//! (Qwen and Llama based; sources in SOURCES.md); `tests/reference/chat_templates.json`
//! holds transformers' rendering of 256 conversations through them (written by `tests/reference/make_chat_goldens.py`),
//! including the ones HF refuses (`raise_exception`, undefined attributes).

use ingot::tokenizer::chat::{ChatTemplate, RenderOptions};
use serde_json::Value;

fn month(name: &str) -> u32 {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    months.iter().position(|&m| m == name).expect("month") as u32 + 1
}

#[test]
fn real_templates_render_like_hugging_face() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference");
    let goldens: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/chat_templates.json")).unwrap(),
    )
    .unwrap();
    let cases = goldens["cases"].as_array().unwrap();
    assert!(cases.len() >= 256);
    let mut templates = std::collections::HashMap::new();
    let mut failures = Vec::new();
    let (mut rendered, mut refused) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let name = case["template"].as_str().unwrap();
        let template = templates.entry(name).or_insert_with(|| {
            let src =
                std::fs::read_to_string(format!("{dir}/chat_templates/{name}.jinja")).unwrap();
            ChatTemplate::new(&src).unwrap_or_else(|e| panic!("{name}: {e}"))
        });
        let mut opts = RenderOptions {
            add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
            ..Default::default()
        };
        opts.extra = case["context"].as_object().unwrap().clone();
        if let Some(d) = case["fixed_date"].as_str() {
            // "02 Mar 2025"
            let p: Vec<&str> = d.split(' ').collect();
            opts.date = Some((p[2].parse().unwrap(), month(p[1]), p[0].parse().unwrap()));
        }
        let got = template.render_json(&case["messages"], &opts);
        let what = format!(
            "case {i} ({name}, {}, add_generation_prompt={})",
            case["conversation"], opts.add_generation_prompt
        );
        match (case["output"].as_str(), got) {
            (Some(want), Ok(got)) if got == want => rendered += 1,
            (Some(want), Ok(got)) => {
                failures.push(format!("{what}: rendered\n{got:?}\nHF:\n{want:?}"))
            }
            (Some(_), Err(e)) => failures.push(format!("{what}: error {e}, HF rendered")),
            (None, Ok(got)) => failures.push(format!(
                "{what}: rendered {got:?}, HF raised {}",
                case["error"]
            )),
            (None, Err(e)) => {
                refused += 1;
                // raise_exception messages are the template's own words; jinja2's
                // UndefinedError wording is its own, so only the failure is compared.
                if case["error_type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("TemplateError"))
                {
                    let want = case["error"].as_str().unwrap();
                    if !e.to_string().contains(want) {
                        failures.push(format!("{what}: error {e:?}, HF: {want:?}"));
                    }
                }
            }
        }
    }
    eprintln!(
        "{rendered} conversations rendered identically, {refused} refused as HF refuses them"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    assert_eq!(rendered + refused, cases.len());
}

/// Templates that build huge values cheaply, recurse or loop forever: each must come back
/// as an error quickly, without the allocation it asks for. The first is the input the
/// chat_template fuzz target found (a lazily repeated 20M-item list concatenated into a
/// string), the others its relatives; each took gigabytes or minutes before the limits
/// in `src/tokenizer/chat_guard.rs`.
#[test]
fn hostile_templates_are_refused() {
    use ingot::tokenizer::chat::Message;
    let cases = [
        "  {{- o[55~6*messages*1111000+00000666666666.] }}e1}meJ\0\0\0",
        "{{ [1] * 100000000 }}",
        "{{ 'a' ~ [1] * 10000000 }}",
        "{{ ([1] * 50000000)|list|length }}",
        "{{ ([1] * 50000000)|sort|length }}",
        "{{ ([1] * 10000000)|join|length }}",
        "{{ ([1] * 10000000)|string|length }}",
        "{{ ', '.join([' '] * 90000000) }}",
        "{% set ns = namespace(l=[1]) %}{% for i in range(70) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
        "{% set ns = namespace(x=[1]) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}{{ ns.x|length }}",
        "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
        "{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x|length }}",
        "{% macro f(x, n) %}{% if n > 0 %}{{ f([x, x], n - 1) }}{% else %}{{ x }}{% endif %}{% endmacro %}{{ f([1], 60) }}",
        "{% macro f(x, n) %}{% if n > 0 %}{{ f([x, x], n - 1) }}{% else %}{{ x|tojson }}{% endif %}{% endmacro %}{{ f([1], 60) }}",
        "{% macro f(x, n) %}{% if n > 0 %}{{ f([x, x], n - 1) }}{% else %}{{ x|replace('a', 'b') }}{% endif %}{% endmacro %}{{ f([1], 40) }}",
        "{% macro f(x, n) %}{% if n > 0 %}{{ f(x + x, n - 1) }}{% else %}{{ x|length }}{% endif %}{% endmacro %}{{ f([1], 60) }}",
        "{% with a = [1] * 3000000 %}{% with b = [a, a] %}{% with c = [b, b] %}{{ c|replace('a', 'b') }}{% endwith %}{% endwith %}{% endwith %}",
        "{{ 'x' * 100000000 }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{{ 'y' * 100000 }}{% endfor %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    ];
    let msgs = [
        Message::new("user", "Hi"),
        Message::new("assistant", "Hello."),
    ];
    for src in cases {
        let t = std::time::Instant::now();
        let got = ChatTemplate::new(src).and_then(|c| c.render(&msgs, &RenderOptions::default()));
        let err = got.expect_err(src).to_string();
        eprintln!("{:>5.2}s {src:?}: {err}", t.elapsed().as_secs_f64());
    }
}

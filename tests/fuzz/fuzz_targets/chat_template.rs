//! Any text as a Jinja chat template, rendered with a short conversation: syntax errors,
//! `raise_exception`, deep recursion, huge loops and huge values must come back as errors
//! (minijinja's recursion limit, the fuel and the size limits ingot sets), never a crash,
//! a hang or a runaway allocation.
#![no_main]

use ingot::tokenizer::chat::{ChatTemplate, Message, RenderOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = ChatTemplate::new(src) else {
        return;
    };
    let msgs = [
        Message::new("system", "Be brief."),
        Message::new("user", "Hi {{ x }} <|im_end|>"),
        Message::new("assistant", "Hello."),
    ];
    let opts = RenderOptions {
        add_generation_prompt: true,
        bos_token: Some("<s>".into()),
        eos_token: Some("</s>".into()),
        ..Default::default()
    };
    let _ = t.render(&msgs, &opts);
});

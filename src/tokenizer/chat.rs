//! Chat prompt formatting.
//!
//! SmolLM2 is trained on ChatML. This renders one user turn the way its chat template
//! (`tokenizer.chat_template`) does with `add_generation_prompt=True`, including the
//! default system turn that the template adds when the conversation has none.

/// SmolLM2's default system message, from its chat template.
pub const SMOLLM2_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// `<|im_start|>{role}\n{content}<|im_end|>\n` for each message, then the assistant's
/// opening `<|im_start|>assistant\n`.
pub fn chatml(system: &str, user: &str) -> String {
    format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}

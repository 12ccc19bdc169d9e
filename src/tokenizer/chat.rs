//! Chat prompts from the model's own Jinja template (`tokenizer.chat_template` in GGUF,
//! or `tokenizer_config.json`), rendered with minijinja the way Hugging Face's
//! `apply_chat_template` renders them with jinja2:
//!
//! - `trim_blocks` and `lstrip_blocks` on, loop controls (`break`, `continue`) allowed;
//! - Python string/dict/list methods (`.strip()`, `.startswith()`, `.items()`, ...) via
//!   minijinja-contrib's `pycompat`;
//! - HF's globals: `raise_exception(msg)` (an error naming `msg`) and `strftime_now(fmt)`;
//! - HF's `tojson` filter: `json.dumps(x, ensure_ascii=False)` with Python's `", "` and
//!   `": "` separators (minijinja's own escapes HTML characters and is compact).
//!
//! A template is data from a downloaded file: rendering runs on a fuel budget, so a
//! template that loops forever is an error, not a hang, and under the size limits of
//! `chat_guard.rs`, so one that builds a huge value is an error, not a
//! runaway allocation.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Serde, Value};
use minijinja::{AutoEscape, Environment, ErrorKind};
use serde::Serialize;

use super::chat_guard::{self, CappedText, Limits};
use crate::error::{Error, Result};

/// ChatML (`<|im_start|>{role}\n{content}<|im_end|>\n` per message, then
/// `<|im_start|>assistant\n`), for models whose file has no template.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Instructions a render may execute before it is stopped (minijinja fuel; the bytes of
/// strings it builds and the items it copies count too). A chat template for a long
/// conversation with tools uses well under a million.
const FUEL: u64 = 20_000_000;

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// Everything a template sees besides the messages.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// Open an assistant turn at the end (for generation).
    pub add_generation_prompt: bool,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    /// Further variables (`tools`, `date_string`, `unk_token`, ...), a JSON object.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The date `strftime_now` formats, as (year, month 1-12, day 1-31); today (UTC) if
    /// `None`. Tests fix it to compare with goldens.
    pub date: Option<(i32, u32, u32)>,
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChatTemplate")
    }
}

impl ChatTemplate {
    /// Compiles `source`; a syntax error is `Error::Template` with minijinja's message.
    pub fn new(source: &str) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(template_error)?;
        env.set_syntax(syntax.clone());
        env.set_fuel(Some(FUEL));
        // An escaping mode of ingot's own: it escapes nothing, but it makes `~` format
        // its operands through ingot's formatter (see `chat_guard`).
        env.set_auto_escape_callback(|_| AutoEscape::Custom("ingot".into()));
        env.add_global(
            chat_guard::SAFE_EMPTY,
            Value::from_safe_string(String::new()),
        );
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template_owned("chat", chat_guard::rewrite(source, &syntax))
            .map_err(template_error)?;
        Ok(ChatTemplate { env })
    }

    /// Renders `messages` (any JSON array of message objects, e.g. with tool calls). Keys
    /// whose value is `null` are dropped first, as `apply_chat_template` drops `None`s.
    pub fn render_json(
        &self,
        messages: &serde_json::Value,
        opts: &RenderOptions,
    ) -> Result<String> {
        let mut ctx = opts.extra.clone();
        let mut messages = messages.clone();
        if let Some(list) = messages.as_array_mut() {
            for m in list.iter_mut().filter_map(|m| m.as_object_mut()) {
                m.retain(|_, v| !v.is_null());
            }
        }
        ctx.insert("messages".into(), messages);
        ctx.insert(
            "add_generation_prompt".into(),
            opts.add_generation_prompt.into(),
        );
        for (k, v) in [
            ("bos_token", &opts.bos_token),
            ("eos_token", &opts.eos_token),
        ] {
            if let Some(v) = v {
                ctx.insert(k.into(), v.clone().into());
            }
        }
        let (y, m, d) = opts.date.unwrap_or_else(today_utc);
        let mut env = self.env.clone();
        chat_guard::install(&mut env, &Limits::default());
        env.add_function(
            "strftime_now",
            move |fmt: String| -> std::result::Result<String, minijinja::Error> {
                strftime(&fmt, y, m, d)
            },
        );
        let tmpl = env.get_template("chat").map_err(template_error)?;
        let mut text = CappedText::default();
        let rendered = tmpl
            .render_captured_to(Value::from(Serde(&ctx)), &mut text)
            .map(drop);
        match rendered {
            Err(_) if text.overflowed => Err(Error::Template(format!(
                "rendered prompt is longer than {} MiB",
                chat_guard::MAX_RENDER_BYTES >> 20
            ))),
            Err(e) => Err(template_error(e)),
            Ok(_) => String::from_utf8(text.bytes)
                .map_err(|_| Error::Template("rendered prompt is not UTF-8".into())),
        }
    }

    /// Renders a plain conversation.
    pub fn render(&self, messages: &[Message], opts: &RenderOptions) -> Result<String> {
        let json = messages
            .iter()
            .map(|m| serde_json::json!({ "role": m.role, "content": m.content }))
            .collect();
        self.render_json(&serde_json::Value::Array(json), opts)
    }
}

fn template_error(e: minijinja::Error) -> Error {
    // `raise_exception` messages come through as the error's detail.
    let mut msg = match e.detail() {
        Some(d) if e.kind() == ErrorKind::InvalidOperation => d.to_string(),
        _ => e.to_string(),
    };
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (template line {line})"));
    }
    Error::Template(msg)
}

/// HF's `tojson`: `json.dumps(value, ensure_ascii=False, indent=indent)`.
pub(super) fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    let fmt = PyJson {
        indent,
        level: 0,
        has_value: false,
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    value
        .serialize(&mut ser)
        .map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    // JSON text is valid UTF-8 by construction.
    Ok(Value::from_safe_string(
        String::from_utf8(out).unwrap_or_default(),
    ))
}

/// serde_json formatter printing like Python's `json.dumps`: `", "` and `": "` without
/// indent; newlines, `indent` spaces per level and `","` / `": "` with it.
struct PyJson {
    indent: Option<usize>,
    level: usize,
    has_value: bool,
}

impl PyJson {
    fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        if let Some(n) = self.indent {
            w.write_all(b"\n")?;
            for _ in 0..n * self.level {
                w.write_all(b" ")?;
            }
        }
        Ok(())
    }
    fn separator<W: ?Sized + std::io::Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            w.write_all(if self.indent.is_some() { b"," } else { b", " })?;
        }
        self.newline(w)
    }
}

impl serde_json::ser::Formatter for PyJson {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        self.has_value = true;
        w.write_all(b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.separator(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        self.has_value = true;
        w.write_all(b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.separator(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Today's civil date in UTC.
fn today_utc() -> (i32, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_from_days((secs / 86_400) as i64)
}

/// (year, month, day) of a count of days since 1970-01-01 (Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((yoe + era * 400 + i64::from(m <= 2)) as i32, m, d)
}

/// The date directives of Python's `strftime` that chat templates use (`%d %b %Y` and
/// friends); the time of day is 00:00:00.
fn strftime(fmt: &str, y: i32, m: u32, d: u32) -> std::result::Result<String, minijinja::Error> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    // Day of the week from days since the epoch (1970-01-01 was a Thursday).
    let days = days_from_civil(y, m, d);
    let wd = (days + 3).rem_euclid(7) as usize;
    let month = MONTHS[(m - 1) as usize];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('-') if chars.clone().next() == Some('d') => {
                chars.next();
                out.push_str(&d.to_string());
            }
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('b') => out.push_str(&month[..3]),
            Some('B') => out.push_str(month),
            Some('a') => out.push_str(&DAYS[wd][..3]),
            Some('A') => out.push_str(DAYS[wd]),
            Some('H') | Some('M') | Some('S') => out.push_str("00"),
            Some('%') => out.push('%'),
            other => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "strftime_now: unsupported directive %{}",
                        other.map_or(String::new(), String::from)
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn smollm2_template_matches_chatml() {
        let t = ChatTemplate::new(SMOLLM2).unwrap();
        let opts = RenderOptions {
            add_generation_prompt: true,
            ..Default::default()
        };
        let out = t
            .render(
                &[Message::new("user", "What is the capital of France?")],
                &opts,
            )
            .unwrap();
        let want = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
        assert_eq!(out, want);
        let chatml = ChatTemplate::new(CHATML_TEMPLATE).unwrap();
        let msgs = [Message::new("system", "S"), Message::new("user", "U")];
        assert_eq!(chatml.render(&msgs, &opts).unwrap(), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn python_isms_and_hf_globals() {
        let t = ChatTemplate::new("{{ messages[0].content.strip() }}|{{ messages[0].content.startswith(' hi') }}|{{ {'a': [1, 'é']} | tojson }}|{{ strftime_now('%d %b %Y, %A') }}").unwrap();
        let opts = RenderOptions {
            date: Some((2024, 7, 26)),
            ..Default::default()
        };
        let out = t
            .render(&[Message::new("user", " hi there ")], &opts)
            .unwrap();
        assert_eq!(out, "hi there|True|{\"a\": [1, \"é\"]}|26 Jul 2024, Friday");
        let t = ChatTemplate::new("{{ raise_exception('roles must alternate') }}").unwrap();
        let e = t
            .render(&[], &RenderOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("roles must alternate"), "{e}");
    }

    #[test]
    fn hostile_templates_are_errors() {
        assert!(ChatTemplate::new("{% for x in %}").is_err());
        let t = ChatTemplate::new(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        )
        .unwrap();
        assert!(t.render(&[], &RenderOptions::default()).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_930), (2024, 7, 26));
        assert_eq!(days_from_civil(2024, 7, 26), 19_930);
        assert_eq!(
            strftime("%Y-%m-%d %-d %B %a %%", 2000, 2, 29).unwrap(),
            "2000-02-29 29 February Tue %"
        );
    }
}

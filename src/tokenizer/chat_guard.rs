//! Size limits for rendering an untrusted chat template.
//!
//! minijinja's fuel counts instructions (and the bytes of strings it builds), but a few
//! values cost almost nothing to make and a great deal to print: `[1] * 100000000` is a
//! lazy 100M-item list, `{% set x = [x, x] %}` in a loop doubles a shared structure, and
//! `'a' ~ that` or `{{ that }}` would format it into gigabytes. So every place a value
//! becomes text, or is kept for later, first measures it:
//!
//! - `{{ value }}` and `~` go through ingot's formatter. For `~`, the source is rewritten
//!   from `a ~ b` to `a ~ __ingot_safe ~ b`: concatenating with a safe (empty) string
//!   makes minijinja format each operand through the environment's formatter, which an
//!   auto-escape mode of ingot's own routes to [`Limits::format`] (no escaping is done);
//! - `{% set x = expr %}` is rewritten to `{% set x = (expr)|__ingot_bound %}`, so a value
//!   carried round a loop cannot grow past the limit;
//! - the filters that print or copy a whole value (`string`, `pprint`, `join`, `list`,
//!   `tojson`) and Python-style methods check their arguments first.
//!
//! Measuring walks the value ([`Limits::check`]) and stops as soon as it passes
//! [`MAX_VALUE_COST`]; the walks of one render share a budget ([`MAX_CHECK_WORK`]), so
//! checking cannot itself become the hang. The rendered text is capped too
//! ([`MAX_RENDER_BYTES`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use minijinja::machinery::{tokenize, Token};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Error as JinjaError, ErrorKind, Output, State};

/// Largest value (bytes of text, plus 2 per container item) that may be printed,
/// concatenated, bound with `set` or passed to a filter that copies it.
pub(super) const MAX_VALUE_COST: usize = 8 << 20;
/// Deepest nesting of lists and maps such a value may have.
pub(super) const MAX_VALUE_DEPTH: usize = 64;
/// Values (list items, map entries, strings) the checks of one render may visit.
pub(super) const MAX_CHECK_WORK: usize = 64 << 20;
/// Longest rendered prompt, in bytes.
pub(super) const MAX_RENDER_BYTES: usize = 16 << 20;

/// Name of the safe empty string inserted around `~`.
pub(super) const SAFE_EMPTY: &str = "__ingot_safe";
/// Name of the filter inserted into `set`.
pub(super) const BOUND_FILTER: &str = "__ingot_bound";

/// The statement whose tokens [`rewrite`] is reading.
#[derive(Clone, Copy, PartialEq)]
enum Stmt {
    Other,
    /// `{% set targets = value %}`; `open` once the value's `(` is written.
    Set {
        open: bool,
    },
    /// `{% with a = x, b = y %}`.
    With {
        open: bool,
    },
    /// `{% macro name(params) %}`; `expect_param` right after `(` or a `,` at depth 1.
    Macro {
        expect_param: bool,
    },
}

/// Rewrites `source` as described in the module docs, plus one more bound: each macro
/// parameter is re-bound through `__ingot_bound` on entry, so values passed down a
/// recursion cannot grow either. Inserts text only at token boundaries and never a
/// newline, so template line numbers in errors stay right. A source the lexer rejects
/// is returned unchanged: compiling it reports the error.
pub(super) fn rewrite(source: &str, syntax: &SyntaxConfig) -> String {
    // (byte offset, bytes to drop there, text to insert)
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let bound = format!(")|{BOUND_FILTER}");
    let mut after_block_start = false;
    let mut stmt = Stmt::Other;
    let mut params: Vec<&str> = Vec::new();
    let mut depth = 0usize; // open brackets of any kind
    for item in tokenize(source, false, syntax.clone()) {
        let Ok((token, span)) = item else {
            return source.to_string();
        };
        let (start, end) = (span.start_offset as usize, span.end_offset as usize);
        let is_block_start = matches!(token, Token::BlockStart);
        match (token, &mut stmt) {
            (Token::Tilde, _) => edits.push((start, end - start, format!("~ {SAFE_EMPTY} ~"))),
            (Token::Ident("set"), _) if after_block_start => stmt = Stmt::Set { open: false },
            (Token::Ident("with"), _) if after_block_start => stmt = Stmt::With { open: false },
            (Token::Ident("macro"), _) if after_block_start => {
                stmt = Stmt::Macro {
                    expect_param: false,
                };
                params.clear();
            }
            (Token::Ident(name), Stmt::Macro { expect_param }) if *expect_param => {
                params.push(name);
                *expect_param = false;
            }
            (Token::ParenOpen, Stmt::Macro { expect_param }) if depth == 0 => {
                depth = 1;
                *expect_param = true;
            }
            (Token::Comma, Stmt::Macro { expect_param }) if depth == 1 => *expect_param = true,
            (Token::Assign, Stmt::Set { open } | Stmt::With { open }) if depth == 0 && !*open => {
                edits.push((end, 0, "(".to_string()));
                *open = true;
            }
            (Token::Comma, Stmt::With { open }) if depth == 0 && *open => {
                edits.push((start, 0, bound.clone()));
                *open = false;
            }
            (Token::ParenOpen | Token::BracketOpen | Token::BraceOpen, _) => depth += 1,
            (Token::ParenClose | Token::BracketClose | Token::BraceClose, _) => {
                depth = depth.saturating_sub(1)
            }
            (Token::BlockEnd, _) => {
                match stmt {
                    Stmt::Set { open: true } | Stmt::With { open: true } => {
                        edits.push((start, 0, bound.clone()))
                    }
                    Stmt::Macro { .. } => {
                        // After the tag, with the tag's own ending (`%}`, `-%}`, `+%}`) so
                        // whitespace around it is trimmed exactly as before.
                        let close = &source[start..end];
                        for p in &params {
                            edits.push((end, 0, format!("{{% set {p} = ({p}{bound} {close}")));
                        }
                    }
                    _ => {}
                }
                stmt = Stmt::Other;
                depth = 0;
            }
            _ => {}
        }
        after_block_start = is_block_start;
    }
    let mut out = String::with_capacity(source.len() + 32 * edits.len());
    let mut at = 0;
    for (offset, drop, text) in edits {
        out.push_str(&source[at..offset]);
        out.push_str(&text);
        at = offset + drop;
    }
    out.push_str(&source[at..]);
    out
}

/// The size budget of one render, shared by everything registered for it.
#[derive(Clone, Default)]
pub(super) struct Limits {
    /// Values visited by checks so far in this render.
    work: Arc<AtomicUsize>,
}

fn too_large(what: &str) -> JinjaError {
    JinjaError::new(ErrorKind::InvalidOperation, what.to_string())
}

impl Limits {
    /// Fails if `value` would print to more than [`MAX_VALUE_COST`] bytes, nests deeper
    /// than [`MAX_VALUE_DEPTH`], or the render's checking budget is spent.
    pub(super) fn check(&self, value: &Value) -> Result<(), JinjaError> {
        let mut cost = 0usize;
        self.walk(value, 0, &mut cost)
    }

    fn walk(&self, value: &Value, depth: usize, cost: &mut usize) -> Result<(), JinjaError> {
        if self.work.fetch_add(1, Ordering::Relaxed) >= MAX_CHECK_WORK {
            return Err(too_large(
                "does too much work (the size checks of one render are over budget)",
            ));
        }
        if depth > MAX_VALUE_DEPTH {
            return Err(too_large(&format!(
                "builds a value nested more than {MAX_VALUE_DEPTH} deep"
            )));
        }
        let own = match value.kind() {
            ValueKind::String => value.as_str().map_or(0, str::len),
            ValueKind::Bytes => value.as_bytes().map_or(0, <[u8]>::len),
            ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
                // A container without a length prints as a placeholder, not its items.
                let Some(len) = value.len() else {
                    return Ok(());
                };
                len.saturating_mul(2)
            }
            _ => 8,
        };
        *cost = cost.saturating_add(own);
        if *cost > MAX_VALUE_COST {
            return Err(too_large(&format!(
                "builds a value over {} MiB when printed",
                MAX_VALUE_COST >> 20
            )));
        }
        if matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
            for item in value.try_iter()? {
                self.walk(&item, depth + 1, cost)?;
            }
        } else if value.kind() == ValueKind::Map {
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                self.walk(&key, depth + 1, cost)?;
                self.walk(&item, depth + 1, cost)?;
            }
        }
        Ok(())
    }

    /// The environment's formatter: strings as they are (never escaped), anything else
    /// checked, then printed the way minijinja prints it.
    pub(super) fn format(
        &self,
        out: &mut Output,
        _state: &mut State,
        value: &Value,
    ) -> Result<(), JinjaError> {
        if let Some(s) = value.as_str() {
            return out.write_str(s).map_err(JinjaError::from);
        }
        self.check(value)?;

        write!(out, "{value}").map_err(JinjaError::from)
    }
}

/// An `io::Write` into memory that refuses to grow past [`MAX_RENDER_BYTES`].
#[derive(Default)]
pub(super) struct CappedText {
    pub(super) bytes: Vec<u8>,
    pub(super) overflowed: bool,
}

impl std::io::Write for CappedText {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDER_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("rendered prompt too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// HTML escaping for `|e` / `|escape`, as jinja2 does it (`&`, `<`, `>`, `"`, `'`).
/// ingot's auto-escape mode escapes nothing on its own, so this filter does it itself.
pub(super) fn html_escape(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Registers the per-render half of the guard on `env`: the formatter, the `set` bound,
/// and checked versions of the filters that print or copy a whole value.
pub(super) fn install(env: &mut minijinja::Environment<'static>, limits: &Limits) {
    use minijinja::filters as f;
    let l = limits.clone();
    env.set_formatter(move |out, state, value| l.format(out, state, value));
    let l = limits.clone();
    env.add_filter(
        BOUND_FILTER,
        move |value: Value| -> Result<Value, JinjaError> {
            l.check(&value)?;
            Ok(value)
        },
    );
    let l = limits.clone();
    let escape = move |value: Value| -> Result<Value, JinjaError> {
        l.check(&value)?;
        Ok(Value::from_safe_string(html_escape(&value)))
    };
    env.add_filter("escape", escape.clone());
    env.add_filter("e", escape);
    let builtins = [
        ("string", Value::from_function(f::string)),
        ("pprint", Value::from_function(f::pprint)),
        ("join", Value::from_function(f::join)),
        ("list", Value::from_function(f::list)),
        ("sort", Value::from_function(f::sort)),
        ("unique", Value::from_function(f::unique)),
        ("batch", Value::from_function(f::batch)),
        ("slice", Value::from_function(f::slice)),
        ("sum", Value::from_function(f::sum)),
        ("min", Value::from_function(f::min)),
        ("max", Value::from_function(f::max)),
        ("format", Value::from_function(f::format)),
        ("trim", Value::from_function(f::trim)),
        ("split", Value::from_function(f::split)),
        ("lines", Value::from_function(f::lines)),
        ("upper", Value::from_function(f::upper)),
        ("lower", Value::from_function(f::lower)),
        ("title", Value::from_function(f::title)),
        ("capitalize", Value::from_function(f::capitalize)),
        ("tojson", Value::from_function(super::chat::tojson)),
    ];
    for (name, builtin) in builtins {
        let l = limits.clone();
        env.add_filter(name, move |state: &mut State, args: Rest<ValueOrKwargs>| {
            let args = args.into_values();
            for arg in &args {
                l.check(arg)?;
            }
            builtin.call(state, &args)
        });
    }
    let l = limits.clone();
    env.set_unknown_method_callback(move |state, value, method, args| {
        l.check(value)?;
        for arg in args {
            l.check(arg)?;
        }
        minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax() -> SyntaxConfig {
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .unwrap()
    }

    #[test]
    fn rewrite_bounds_concat_set_with_and_macro_params() {
        let cases = [
            (
                "{{ a ~ b ~ '~' }}~",
                "{{ a ~ __ingot_safe ~ b ~ __ingot_safe ~ '~' }}~",
            ),
            (
                "{%- set a, b = f(x=1), [2] -%}",
                "{%- set a, b =( f(x=1), [2] )|__ingot_bound-%}",
            ),
            ("{% set ns.x %}y{% endset %}", "{% set ns.x %}y{% endset %}"),
            (
                "{% with a = 1, b = g(1, 2) %}",
                "{% with a =( 1)|__ingot_bound, b =( g(1, 2) )|__ingot_bound%}",
            ),
            (
                "{% macro m(x, y=[1, z]) -%}\n{{ x }}",
                "{% macro m(x, y=[1, z]) -%}{% set x = (x)|__ingot_bound -%}\
                 {% set y = (y)|__ingot_bound -%}\n{{ x }}",
            ),
            (
                "{% raw %}{{ a ~ b }}{% endraw %}",
                "{% raw %}{{ a ~ b }}{% endraw %}",
            ),
            ("{{ 'unterminated }}", "{{ 'unterminated }}"),
        ];
        for (src, want) in cases {
            assert_eq!(rewrite(src, &syntax()), want, "{src}");
        }
    }

    #[test]
    fn check_measures_printed_size_and_depth() {
        let limits = Limits::default();
        assert!(limits.check(&Value::from("x".repeat(1000))).is_ok());
        let big = Value::from(vec![Value::from("y".repeat(1 << 20)); 9]);
        assert!(limits.check(&big).is_err());
        let mut deep = Value::from(1);
        for _ in 0..MAX_VALUE_DEPTH {
            deep = Value::from(vec![deep]);
        }
        assert!(limits.check(&deep).is_ok());
        assert!(limits.check(&Value::from(vec![deep])).is_err());
    }
}

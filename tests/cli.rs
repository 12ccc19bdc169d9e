//! Bad use of the examples: every mistake is an error message naming it and a non-zero
//! exit status (1; 2 for flags clap rejects), never a panic. The examples are the ones
//! `cargo test` built next to this test's binary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/cli-HASH -> target/<profile>/examples/NAME
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

fn run(name: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(example(name));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or(b"")).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Runs `name args`, expecting exit status `code` and `phrase` in stderr.
fn expect(name: &str, args: &[&str], stdin: Option<&[u8]>, code: i32, phrase: &str) {
    let out = run(name, args, stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{name} {args:?}: {err}");
    assert!(
        err.contains(phrase),
        "{name} {args:?}: {err:?} lacks {phrase:?}"
    );
    assert!(!err.contains("panicked"), "{name} {args:?} panicked: {err}");
}

#[test]
fn bad_flags_and_inputs_are_errors() {
    let model = ingot::fetch::default_model().expect("default model");
    let m = model.to_str().unwrap();
    let tmp = std::env::temp_dir().join(format!("ingot-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bad_utf8 = tmp.join("bad.txt");
    std::fs::write(&bad_utf8, b"\xff\xfe not text").unwrap();
    let not_model = tmp.join("notes.txt");
    std::fs::write(&not_model, "just some notes").unwrap();
    let (bad, notes, dir) = (
        bad_utf8.to_str().unwrap(),
        not_model.to_str().unwrap(),
        tmp.to_str().unwrap(),
    );
    let g = |args: &[&str], code, phrase| {
        let mut all = vec!["--model", m];
        all.extend_from_slice(args);
        expect("generate", &all, None, code, phrase)
    };
    g(&["--threads", "0"], 1, "--threads 0");
    g(&["--threads", "10000"], 1, "--threads 10000");
    g(&["--temperature", "-1"], 1, "temperature -1");
    g(&["--top-p", "1.5"], 1, "top_p 1.5");
    g(&["--min-p", "-0.1"], 1, "min_p");
    g(&["--bogus"], 2, "--bogus");
    g(&["--max-tokens", "many"], 2, "many");
    g(&["--prompt", ""], 1, "empty");
    g(&["--prompt-file", bad], 1, "not valid UTF-8");
    g(&["--prompt-file", dir], 1, dir);
    g(
        &[
            "--ctx",
            "4",
            "--prompt",
            "a prompt of far more than four tokens",
        ],
        1,
        "do not fit",
    );
    g(&["--ctx", "100000000"], 1, "context length 100000000");
    expect("generate", &["--model", dir], None, 1, "config.json");
    expect("generate", &["--model", notes], None, 1, "not a GGUF file");
    expect(
        "generate",
        &["--model", "/nonexistent/model.gguf"],
        None,
        1,
        "/nonexistent/model.gguf",
    );
    // Filling the context stops with a note; --context-shift goes on.
    g(
        &[
            "--ctx",
            "16",
            "--prompt",
            "Once upon a time",
            "--max-tokens",
            "40",
            "--ignore-eos",
        ],
        0,
        "context window of 16 tokens is full",
    );
    let out = run(
        "generate",
        &[
            "--model",
            m,
            "--ctx",
            "16",
            "--prompt",
            "Once upon a time",
            "--max-tokens",
            "40",
            "--ignore-eos",
            "--context-shift",
            "--keep",
            "2",
            "--seed",
            "1",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("decode: 40 tok"), "{err}");
    // tokenize and perplexity.
    expect(
        "tokenize",
        &["--model", m],
        Some(b"\xc3\x28 broken"),
        1,
        "not valid UTF-8",
    );
    expect(
        "perplexity",
        &["--model", m, "--file", bad],
        None,
        1,
        "UTF-8",
    );
    expect(
        "perplexity",
        &["--model", m, "--file", notes, "--ctx", "1"],
        None,
        1,
        "at least 2",
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

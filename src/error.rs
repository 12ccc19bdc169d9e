//! The one error type of the crate.
//!
//! Every variant says what failed and names the key, tensor, file or token involved, so a
//! user holding a broken download can tell what is wrong without a debugger.

use std::fmt;
use std::path::PathBuf;

/// Result alias used across ingot.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in ingot.
#[derive(Debug)]
pub enum Error {
    /// An operating-system error while opening or mapping a file.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A model file is malformed: truncated, corrupted, or inconsistent with itself.
    /// `what` names the structure (header, metadata key, tensor) and the problem.
    Format { what: String },
    /// A metadata key the model needs is missing or has the wrong type.
    Metadata { key: String, problem: String },
    /// A tensor the model needs is missing or has the wrong shape or type.
    Tensor { name: String, problem: String },
    /// The file uses a tensor type (GGML type id) that ingot does not support.
    UnsupportedDType { type_id: u32, tensor: String },
    /// The model declares an architecture ingot does not implement.
    UnsupportedArchitecture(String),
    /// The tokenizer could not be built or used (unknown pre-tokenizer, bad vocab, ...).
    Tokenizer(String),
    /// A chat template failed to compile or render (syntax error, `raise_exception`, ...).
    Template(String),
    /// A token id outside the vocabulary.
    TokenOutOfRange { id: u32, vocab_size: usize },
    /// The prompt plus requested tokens would not fit in the context window.
    ContextOverflow { needed: usize, context: usize },
    /// A caller passed an invalid argument (empty prompt, bad sampling setting, ...).
    InvalidArgument(String),
    /// The default model could not be fetched by `weights/fetch.sh`.
    Fetch(String),
}

impl Error {
    pub(crate) fn format(what: impl Into<String>) -> Self {
        Error::Format { what: what.into() }
    }
    pub(crate) fn metadata(key: &str, problem: impl Into<String>) -> Self {
        Error::Metadata {
            key: key.to_string(),
            problem: problem.into(),
        }
    }
    pub(crate) fn tensor(name: &str, problem: impl Into<String>) -> Self {
        Error::Tensor {
            name: name.to_string(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format { what } => write!(f, "malformed model file: {what}"),
            Error::Metadata { key, problem } => write!(f, "metadata key '{key}': {problem}"),
            Error::Tensor { name, problem } => write!(f, "tensor '{name}': {problem}"),
            Error::UnsupportedDType { type_id, tensor } => {
                write!(
                    f,
                    "tensor '{tensor}' has unsupported GGML type id {type_id}"
                )
            }
            Error::UnsupportedArchitecture(a) => write!(f, "unsupported architecture '{a}'"),
            Error::Tokenizer(m) => write!(f, "tokenizer: {m}"),
            Error::Template(m) => write!(f, "chat template: {m}"),
            Error::TokenOutOfRange { id, vocab_size } => {
                write!(
                    f,
                    "token id {id} is outside the vocabulary (size {vocab_size})"
                )
            }
            Error::ContextOverflow { needed, context } => write!(
                f,
                "{needed} tokens do not fit in the context window of {context} tokens"
            ),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Fetch(m) => write!(f, "fetching the model failed: {m}"),
        }
    }
}

impl Error {
    /// The variant's name (`"Format"`, `"Tensor"`, ...): what kind of problem, for callers
    /// and tests that branch on it without matching fields.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "Io",
            Error::Format { .. } => "Format",
            Error::Metadata { .. } => "Metadata",
            Error::Tensor { .. } => "Tensor",
            Error::UnsupportedDType { .. } => "UnsupportedDType",
            Error::UnsupportedArchitecture(_) => "UnsupportedArchitecture",
            Error::Tokenizer(_) => "Tokenizer",
            Error::Template(_) => "Template",
            Error::TokenOutOfRange { .. } => "TokenOutOfRange",
            Error::ContextOverflow { .. } => "ContextOverflow",
            Error::InvalidArgument(_) => "InvalidArgument",
            Error::Fetch(_) => "Fetch",
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

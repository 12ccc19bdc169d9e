//! Turning files into named tensors plus metadata. `io` never builds model structs: the
//! model asks it for tensors by name.

pub mod bytes;
pub mod gguf;
pub mod gguf_write;
pub mod safetensors;

pub use gguf::{Gguf, TensorInfo, Value};
pub use gguf_write::GgufBuilder;

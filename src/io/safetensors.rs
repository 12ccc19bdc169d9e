//! Hugging Face checkpoints: `.safetensors` files (an 8-byte header length, a JSON header
//! of `name → {dtype, shape, data_offsets}`, then the data), memory-mapped, one file or
//! several shards listed by `model.safetensors.index.json`.
//!
//! F32 tensors are zero-copy views into the mapping; F16 and BF16 are views too and are
//! widened to f32 by the model loader (through `half`). The header is parsed and checked
//! (offsets inside the file, sizes matching shapes, no overlaps) by the `safetensors`
//! crate before any tensor is handed out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use safetensors::tensor::{Dtype, SafeTensors};

use super::bytes::FileBytes;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// One tensor's place in its file.
struct Entry {
    dtype: DType,
    shape: Vec<usize>,
    /// Byte offset of the data from the start of the file.
    offset: usize,
}

/// One mapped `.safetensors` file.
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Arc<FileBytes>,
    tensors: HashMap<String, Entry>,
}

impl SafetensorsFile {
    /// Maps and parses `path`. Tensor data is not read until used.
    pub fn open(path: &Path) -> Result<SafetensorsFile> {
        SafetensorsFile::parse(Arc::new(FileBytes::map(path)?), path)
    }

    /// Parses a safetensors image held in `bytes`; `path` names it in errors.
    pub fn parse(bytes: Arc<FileBytes>, path: &Path) -> Result<SafetensorsFile> {
        let bad = |what: String| Error::format(format!("{}: {what}", path.display()));
        let (header_len, meta) = SafeTensors::read_metadata(bytes.as_bytes())
            .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
        let data_start = 8 + header_len;
        let mut tensors = HashMap::new();
        for (name, info) in meta.tensors() {
            let dtype = match info.dtype {
                Dtype::F32 => DType::F32,
                Dtype::F16 => DType::F16,
                Dtype::BF16 => DType::BF16,
                other => {
                    return Err(Error::tensor(
                        &name,
                        format!(
                            "in {}: dtype {other:?} is not supported (F32, F16 and BF16 are)",
                            path.display()
                        ),
                    ))
                }
            };
            tensors.insert(
                name,
                Entry {
                    dtype,
                    shape: info.shape.clone(),
                    offset: data_start + info.data_offsets.0,
                },
            );
        }
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            bytes,
            tensors,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of the tensors in the file.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name`: a view of the mapped bytes, or, when the file places it at an
    /// offset misaligned for its type, an f32 copy.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let e = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::tensor(name, format!("missing from {}", self.path.display())))?;
        let align = if e.dtype == DType::F32 { 4 } else { 2 };
        if e.offset.is_multiple_of(align) {
            return Tensor::view(name, e.dtype, e.shape.clone(), self.bytes.clone(), e.offset);
        }
        let n = crate::tensor::numel(name, &e.shape)?;
        let size = e.dtype.type_size();
        let raw = &self.bytes.as_bytes()[e.offset..e.offset + n * size];
        let values = raw
            .chunks_exact(size)
            .map(|b| match e.dtype {
                DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                DType::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
                _ => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            })
            .collect();
        Tensor::from_f32(name, e.shape.clone(), values)
    }
}

/// A checkpoint: `model.safetensors`, or the shards `model.safetensors.index.json` lists.
pub struct Checkpoint {
    files: Vec<SafetensorsFile>,
    /// Tensor name → index into `files`.
    by_name: HashMap<String, usize>,
}

impl Checkpoint {
    /// Opens the checkpoint in folder `dir`.
    pub fn open_dir(dir: &Path) -> Result<Checkpoint> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files = if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(|source| Error::Io {
                path: index.clone(),
                source,
            })?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::format(format!("{}: {e}", index.display())))?;
            let map = json["weight_map"].as_object().ok_or_else(|| {
                Error::format(format!("{}: no \"weight_map\" object", index.display()))
            })?;
            let mut shards: Vec<&str> = Vec::new();
            for (name, file) in map {
                let file = file
                    .as_str()
                    .filter(|f| is_plain_file_name(f))
                    .ok_or_else(|| {
                        Error::format(format!(
                            "{}: tensor '{name}' maps to {file}, not a file name in the folder",
                            index.display()
                        ))
                    })?;
                if !shards.contains(&file) {
                    shards.push(file);
                }
            }
            shards.sort_unstable();
            let mut files = Vec::with_capacity(shards.len());
            for shard in shards {
                let path = dir.join(shard);
                if !path.is_file() {
                    return Err(Error::format(format!(
                        "{}: shard {shard} is missing from the folder",
                        index.display()
                    )));
                }
                files.push(SafetensorsFile::open(&path)?);
            }
            // Every tensor the index names must be in the shard it names.
            for (name, file) in map {
                let f = files
                    .iter()
                    .find(|f| f.path.ends_with(file.as_str().unwrap()));
                if !f.is_some_and(|f| f.has_tensor(name)) {
                    return Err(Error::tensor(
                        name,
                        format!("listed in {} but missing from {file}", index.display()),
                    ));
                }
            }
            files
        } else if single.is_file() {
            vec![SafetensorsFile::open(&single)?]
        } else {
            return Err(Error::InvalidArgument(format!(
                "{} has neither model.safetensors nor model.safetensors.index.json",
                dir.display()
            )));
        };
        Checkpoint::from_files(files)
    }

    /// A checkpoint made of already opened files; a tensor in two of them is an error.
    pub fn from_files(files: Vec<SafetensorsFile>) -> Result<Checkpoint> {
        let mut by_name = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            for name in f.names() {
                if let Some(j) = by_name.insert(name.to_string(), i) {
                    return Err(Error::tensor(
                        name,
                        format!(
                            "in both {} and {}",
                            files[j].path.display(),
                            f.path.display()
                        ),
                    ));
                }
            }
        }
        Ok(Checkpoint { files, by_name })
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        match self.by_name.get(name) {
            Some(&i) => self.files[i].tensor(name),
            None => Err(Error::tensor(name, "missing from the checkpoint")),
        }
    }

    /// The files of the checkpoint.
    pub fn files(&self) -> &[SafetensorsFile] {
        &self.files
    }
}

/// A bare file name (no directories, no `..`), as an index may name a shard.
fn is_plain_file_name(f: &str) -> bool {
    !f.is_empty() && f != ".." && f != "." && !f.contains(['/', '\\'])
}

//! GGUF reader (spec: ggml `docs/gguf.md`, versions 2 and 3).
//!
//! Layout: header (magic `GGUF`, version, tensor count, metadata count), metadata
//! key/value pairs, tensor infos, padding to `general.alignment`, tensor data. All
//! integers are little-endian.
//!
//! Model files come from strangers, so every count, length and offset is checked against
//! the bytes that remain and against a cap before anything is allocated; a bad file gives
//! `Error::Format` naming the structure, never a panic or a huge allocation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::bytes::FileBytes;
use crate::tensor::{self, DType, Tensor};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Caps on declared sizes. Real files stay far below them (a 256k-token vocabulary is an
/// array of 256k strings; the longest strings are chat templates of a few tens of KB).
const MAX_STRING_LEN: u64 = 64 << 20;
const MAX_ARRAY_LEN: u64 = 1 << 26;
const MAX_TENSORS: u64 = 1 << 20;
const MAX_KVS: u64 = 1 << 20;
const MAX_DIMS: u32 = 4;
const MAX_ARRAY_NESTING: u32 = 4;
/// Array elements in the whole file: each becomes a 32-byte `Value`, so this bounds the
/// metadata's memory (512 MiB) whatever the file claims. Real vocabularies use ~1M.
const MAX_TOTAL_ELEMENTS: u64 = 1 << 24;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Where one tensor's data lies, as declared in the file.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    /// Outermost first (GGUF's `ne` reversed).
    pub shape: Vec<usize>,
    /// Absolute byte offset in the file.
    pub offset: usize,
    pub len: usize,
}

/// A parsed GGUF file: metadata plus zero-copy access to its tensors.
pub struct Gguf {
    pub version: u32,
    metadata: HashMap<String, Value>,
    /// Keys in file order, for listing.
    keys: Vec<String>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    bytes: Arc<FileBytes>,
}

impl Gguf {
    /// Memory-maps and parses `path`. Tensor data is not read until used.
    pub fn open(path: &Path) -> Result<Gguf> {
        let bytes = FileBytes::map(path)?;
        Gguf::parse(Arc::new(bytes)).map_err(|e| match e {
            Error::Format { what } => Error::format(format!("{}: {what}", path.display())),
            other => other,
        })
    }

    /// Parses a GGUF image held in `bytes`.
    pub fn parse(bytes: Arc<FileBytes>) -> Result<Gguf> {
        let data = bytes.as_bytes();
        let mut r = Reader {
            data,
            pos: 0,
            elements: 0,
        };
        let magic = r.take(4, "magic")?;
        if magic != MAGIC {
            return Err(Error::format(format!(
                "bad magic {magic:02x?}: not a GGUF file (expected \"GGUF\")"
            )));
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(Error::format(format!(
                "unsupported GGUF version {version} (ingot reads 2 and 3)"
            )));
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;
        // Each kv takes at least 8 (key len) + 4 (type) + 1 bytes; each tensor info at
        // least 8 + 4 + 4 + 8 bytes.
        r.check_count(n_kv, 13, MAX_KVS, "metadata count")?;
        r.check_count(n_tensors, 24, MAX_TENSORS, "tensor count")?;

        let mut metadata = HashMap::new();
        let mut keys = Vec::new();
        for i in 0..n_kv {
            let key = r.string(&format!("metadata key #{i}"))?;
            let ty = r.u32(&format!("type of metadata '{key}'"))?;
            let value = r.value(ty, &key, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(Error::format(format!("metadata key '{key}' appears twice")));
            }
            keys.push(key);
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() && a <= 1 << 16 => a,
                _ => {
                    return Err(Error::format(format!(
                        "general.alignment {v:?} is not a power of two ≤ 65536"
                    )))
                }
            },
        };

        let mut infos = Vec::new();
        for i in 0..n_tensors {
            let name = r.string(&format!("name of tensor #{i}"))?;
            let n_dims = r.u32(&format!("n_dims of tensor '{name}'"))?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(Error::format(format!(
                    "tensor '{name}' has {n_dims} dimensions (1..={MAX_DIMS} allowed)"
                )));
            }
            let mut shape = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                let d = r.u64(&format!("dimension of tensor '{name}'"))?;
                let d = usize::try_from(d)
                    .ok()
                    .filter(|&d| d > 0 && d as u64 <= data.len() as u64 * 2)
                    .ok_or_else(|| {
                        Error::format(format!(
                            "tensor '{name}' has dimension {d}, impossible for a {}-byte file",
                            data.len()
                        ))
                    })?;
                shape.push(d);
            }
            shape.reverse();
            let type_id = r.u32(&format!("type of tensor '{name}'"))?;
            let dtype = DType::from_ggml_id(type_id).ok_or_else(|| Error::UnsupportedDType {
                type_id,
                tensor: name.clone(),
            })?;
            let offset = r.u64(&format!("offset of tensor '{name}'"))?;
            if offset % alignment != 0 {
                return Err(Error::format(format!("tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}")));
            }
            let len =
                tensor::byte_len(&name, dtype, &shape).map_err(|e| Error::format(e.to_string()))?;
            infos.push((name, dtype, shape, offset, len));
        }

        let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
        let mut tensors = Vec::with_capacity(infos.len());
        let mut by_name = HashMap::new();
        for (name, dtype, shape, offset, len) in infos {
            let start = data_start
                .checked_add(offset)
                .filter(|&s| s <= data.len() as u64);
            let end = start
                .and_then(|s| s.checked_add(len as u64))
                .filter(|&e| e <= data.len() as u64);
            let (Some(start), Some(_)) = (start, end) else {
                return Err(Error::format(format!(
                    "tensor '{name}' data (offset {offset}, {len} bytes) lies past the end of the file ({} bytes)",
                    data.len()
                )));
            };
            if by_name.insert(name.clone(), tensors.len()).is_some() {
                return Err(Error::format(format!("tensor '{name}' appears twice")));
            }
            tensors.push(TensorInfo {
                name,
                dtype,
                shape,
                offset: start as usize,
                len,
            });
        }
        check_overlaps(&tensors)?;
        Ok(Gguf {
            version,
            metadata,
            keys,
            tensors,
            by_name,
            bytes,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// Metadata keys in file order.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub fn tensor_infos(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// A zero-copy view of the tensor `name`.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self
            .by_name
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| Error::tensor(name, "missing from the model file"))?;
        Tensor::view(
            name,
            info.dtype,
            info.shape.clone(),
            self.bytes.clone(),
            info.offset,
        )
    }

    /// Size of the whole file in bytes.
    pub fn file_len(&self) -> usize {
        self.bytes.len()
    }
}

fn check_overlaps(tensors: &[TensorInfo]) -> Result<()> {
    let mut spans: Vec<(usize, usize, &str)> = tensors
        .iter()
        .map(|t| (t.offset, t.offset + t.len, t.name.as_str()))
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(Error::format(format!(
                "tensors '{}' and '{}' overlap",
                w[0].2, w[1].2
            )));
        }
    }
    Ok(())
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Array elements read so far (see `MAX_TOTAL_ELEMENTS`).
    elements: u64,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::format(format!(
                "truncated: {what} needs {n} bytes at offset {} but the file ends at {}",
                self.pos,
                self.data.len()
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Rejects a declared element count that cannot fit in the rest of the file (each
    /// element needs at least `min_size` bytes) or exceeds `cap`.
    fn check_count(&self, n: u64, min_size: u64, cap: u64, what: &str) -> Result<()> {
        if n > cap || n.saturating_mul(min_size) > self.remaining() as u64 {
            return Err(Error::format(format!(
                "{what} {n} is impossible: only {} bytes remain at offset {} (cap {cap})",
                self.remaining(),
                self.pos
            )));
        }
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        if len > MAX_STRING_LEN || len > self.remaining() as u64 {
            return Err(Error::format(format!(
                "{what}: string length {len} runs past the end of the file (offset {}, {} bytes left)",
                self.pos,
                self.remaining()
            )));
        }
        let bytes = self.take(len as usize, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::format(format!("{what}: string is not valid UTF-8")))
    }

    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value> {
        let what = || format!("value of metadata '{key}'");
        Ok(match ty {
            0 => Value::U8(self.array::<1>(&what())?[0]),
            1 => Value::I8(self.array::<1>(&what())?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(&what())?)),
            3 => Value::I16(i16::from_le_bytes(self.array(&what())?)),
            4 => Value::U32(self.u32(&what())?),
            5 => Value::I32(i32::from_le_bytes(self.array(&what())?)),
            6 => Value::F32(f32::from_le_bytes(self.array(&what())?)),
            7 => match self.array::<1>(&what())?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(Error::format(format!(
                        "metadata '{key}': bool byte {b} is neither 0 nor 1"
                    )))
                }
            },
            8 => Value::String(self.string(&what())?),
            9 => {
                if depth >= MAX_ARRAY_NESTING {
                    return Err(Error::format(format!(
                        "metadata '{key}': arrays nested deeper than {MAX_ARRAY_NESTING}"
                    )));
                }
                let elem_ty = self.u32(&what())?;
                let n = self.u64(&what())?;
                let min_size = match elem_ty {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    t => {
                        return Err(Error::format(format!(
                            "metadata '{key}': unknown array element type {t}"
                        )))
                    }
                };
                self.check_count(
                    n,
                    min_size,
                    MAX_ARRAY_LEN,
                    &format!("metadata '{key}': array length"),
                )?;
                self.elements += n;
                if self.elements > MAX_TOTAL_ELEMENTS {
                    return Err(Error::format(format!("metadata '{key}': more than {MAX_TOTAL_ELEMENTS} array elements in the file")));
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(elem_ty, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(&what())?),
            11 => Value::I64(i64::from_le_bytes(self.array(&what())?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what())?)),
            t => {
                return Err(Error::format(format!(
                    "metadata '{key}': unknown value type {t}"
                )))
            }
        })
    }
}

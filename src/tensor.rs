//! `Tensor`: a shape, a dtype and storage that is either owned or a zero-copy view into a
//! model file.
//!
//! Shapes are written outermost first, as in PyTorch: a weight matrix that maps `dim`
//! inputs to `n` outputs has shape `[n, dim]` and its rows (of `dim` values) are
//! contiguous. GGUF lists dimensions innermost first (`ne[0]` = row length); the reader
//! reverses them.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::bytes::FileBytes;
use crate::kernels::formats;
pub use crate::kernels::formats::DType;

/// Where a tensor's bytes live.
#[derive(Clone)]
pub enum Storage {
    /// Values owned by the tensor, e.g. weights dequantized at load time.
    F32(Arc<Vec<f32>>),
    /// A zero-copy view of `len` bytes at `offset` in a model file.
    View {
        file: Arc<FileBytes>,
        offset: usize,
        len: usize,
    },
}

/// A named n-dimensional array.
#[derive(Clone)]
pub struct Tensor {
    name: String,
    dtype: DType,
    /// Outermost dimension first; the last dimension is contiguous.
    shape: Vec<usize>,
    storage: Storage,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {:?}, {:?})",
            self.name, self.dtype, self.shape
        )
    }
}

impl Tensor {
    /// A view into `file`. Checks that the byte range lies inside the file and matches the
    /// shape and dtype, and that the start is aligned for the dtype's blocks.
    pub fn view(
        name: &str,
        dtype: DType,
        shape: Vec<usize>,
        file: Arc<FileBytes>,
        offset: usize,
    ) -> Result<Tensor> {
        let len = byte_len(name, dtype, &shape)?;
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= file.len())
            .ok_or_else(|| {
                Error::tensor(
                    name,
                    format!(
                        "data [{offset}, +{len}) lies past the end of the file ({} bytes)",
                        file.len()
                    ),
                )
            })?;
        let align = match dtype {
            DType::F32 => 4,
            _ => 2,
        };
        if !offset.is_multiple_of(align) {
            return Err(Error::tensor(
                name,
                format!("data offset {offset} is not {align}-byte aligned"),
            ));
        }
        debug_assert!(end <= file.len());
        Ok(Tensor {
            name: name.to_string(),
            dtype,
            shape,
            storage: Storage::View { file, offset, len },
        })
    }

    /// An owned f32 tensor.
    pub fn from_f32(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Result<Tensor> {
        let n = numel(name, &shape)?;
        if n != data.len() {
            return Err(Error::tensor(
                name,
                format!("shape {shape:?} needs {n} values, got {}", data.len()),
            ));
        }
        Ok(Tensor {
            name: name.to_string(),
            dtype: DType::F32,
            shape,
            storage: Storage::F32(Arc::new(data)),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The raw bytes, in the dtype's block layout.
    pub fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::F32(v) => bytemuck::cast_slice(v.as_slice()),
            Storage::View { file, offset, len } => &file.as_bytes()[*offset..*offset + *len],
        }
    }

    /// For a view into a mapped file: lets the OS drop its pages from memory (they are
    /// read again from the file if used). For weights that were copied into another
    /// layout at load.
    pub fn release_pages(&self) {
        if let Storage::View { file, offset, len } = &self.storage {
            file.release(*offset, *len);
        }
    }

    /// True when the data is a view into the model file (no copy was made).
    pub fn is_view(&self) -> bool {
        matches!(self.storage, Storage::View { .. })
    }

    /// Rows `r0 .. r0 + n` of a 2-D tensor: a view of the same file bytes, or a copy of
    /// owned values.
    pub fn rows(&self, r0: usize, n: usize) -> Result<Tensor> {
        let [rows, cols] = self.shape[..] else {
            return Err(Error::tensor(
                &self.name,
                "row range of a tensor that is not 2-D",
            ));
        };
        if r0.checked_add(n).is_none_or(|end| end > rows) {
            return Err(Error::tensor(
                &self.name,
                format!("rows {r0}..+{n} of {rows}"),
            ));
        }
        let row_bytes = byte_len(&self.name, self.dtype, &[cols])?;
        let storage = match &self.storage {
            Storage::F32(v) => Storage::F32(Arc::new(v[r0 * cols..(r0 + n) * cols].to_vec())),
            Storage::View { file, offset, .. } => Storage::View {
                file: file.clone(),
                offset: offset + r0 * row_bytes,
                len: n * row_bytes,
            },
        };
        Ok(Tensor {
            name: self.name.clone(),
            dtype: self.dtype,
            shape: vec![n, cols],
            storage,
        })
    }

    /// Dequantizes (or converts) the whole tensor to f32.
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.numel()];
        formats::dequantize(self.dtype, self.bytes(), &mut out);
        out
    }

    /// This tensor with every value converted to f32 and owned.
    pub fn to_f32_tensor(&self) -> Tensor {
        if let Storage::F32(_) = self.storage {
            return self.clone();
        }
        Tensor {
            name: self.name.clone(),
            dtype: DType::F32,
            shape: self.shape.clone(),
            storage: Storage::F32(Arc::new(self.to_f32())),
        }
    }
}

/// Number of elements of `shape`, with overflow checked.
pub fn numel(name: &str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::tensor(name, format!("shape {shape:?} overflows")))
}

/// Bytes taken by a tensor of `shape` in `dtype`; rows must be whole blocks.
pub fn byte_len(name: &str, dtype: DType, shape: &[usize]) -> Result<usize> {
    let n = numel(name, shape)?;
    let row = shape.last().copied().unwrap_or(1);
    if row % dtype.block_size() != 0 {
        return Err(Error::tensor(
            name,
            format!(
                "row length {row} is not a multiple of the {dtype:?} block size {}",
                dtype.block_size()
            ),
        ));
    }
    (n / dtype.block_size())
        .checked_mul(dtype.type_size())
        .ok_or_else(|| Error::tensor(name, format!("byte size of shape {shape:?} overflows")))
}

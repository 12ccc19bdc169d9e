//! The bytes behind a model file: a read-only memory map, or an aligned heap buffer
//! (for files built in memory by tests and tools).
//!
//! This is one of the two places where ingot uses `unsafe` (the other is the SIMD
//! kernels): mapping a file is unsafe because another process could change it under us.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{Error, Result};

/// Immutable bytes of a whole model file, shared by every tensor view into it.
pub enum FileBytes {
    /// A read-only mapping of a file on disk; pages are read on first touch.
    Mapped(Mmap),
    /// Bytes on the heap, stored as `u64` words so that every view is 8-byte aligned
    /// (as a page-aligned mapping would be); `len` is the byte length.
    Heap { words: Vec<u64>, len: usize },
}

impl FileBytes {
    /// Maps `path` read-only.
    pub fn map(path: &Path) -> Result<Self> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "{} is a directory, not a model file",
                path.display()
            )));
        }
        if meta.len() == 0 {
            return Err(Error::format(format!("{} is empty", path.display())));
        }
        // The one hazard of a read-only private map is another process truncating or
        // rewriting the file meanwhile, which memmap2 cannot rule out.

        // SAFETY: model files are treated as immutable while loaded (as llama.cpp and
        // candle do), as documented on `Model::load`.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err)?;
        Ok(FileBytes::Mapped(map))
    }

    /// Copies `bytes` into an 8-byte-aligned heap buffer.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let len = bytes.len();
        let mut words = vec![0u64; len.div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..len].copy_from_slice(&bytes);
        FileBytes::Heap { words, len }
    }

    /// All the bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Heap { words, len } => &bytemuck::cast_slice(words)[..*len],
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Tells the OS that bytes `offset .. offset + len` will not be read again soon (a
    /// tensor copied into another layout at load): their pages leave this process's
    /// resident set, and a later read brings them back from the file. A no-op for heap
    /// bytes, and where the OS refuses.
    pub fn release(&self, offset: usize, len: usize) {
        #[cfg(unix)]
        if let FileBytes::Mapped(m) = self {
            // Whole pages inside the range only: others may hold bytes still in use.
            const PAGE: usize = 4096;
            let (start, end) = (offset.next_multiple_of(PAGE), (offset + len) / PAGE * PAGE);
            if start < end && end <= m.len() {
                // SAFETY: the map is read-only and private and never written, so dropping
                // its pages cannot lose data: a later access reads the file again. Tensor
                // views stay valid (the mapping itself is untouched).
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
                };
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

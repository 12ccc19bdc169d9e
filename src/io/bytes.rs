//! The bytes behind a model file: a read-only memory map, or an aligned heap buffer
//! (for files built in memory by tests and tools).
//!
//! This is one of the two places where ingot uses `unsafe` (the other is the SIMD
//! kernels): mapping a file is unsafe because another process could change it under us.

use std::fs::File;
use std::path::Path;

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use memmap2::{Mmap, MmapMut};

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

/// Zeroed memory for a large buffer that lives as long as a model (weights in a layout
/// made at load), mapped anonymously and, on Linux, with transparent huge pages requested
/// (`MADV_HUGEPAGE`).
///
/// Decode streams hundreds of megabytes per token through 4 KB pages: the TLB misses
/// every few kilobytes, and the hardware prefetchers stop at every page boundary. Many
/// distributions grant huge pages only to memory that asks (`madvise` mode), which a
/// `Vec` never does. The pages still arrive on first touch, 2 MB at a time.
pub struct HugeBuf<T> {
    /// `None` when empty (a mapping cannot be).
    map: Option<MmapMut>,
    len: usize,
    _values: PhantomData<T>,
}

impl<T: bytemuck::Pod> HugeBuf<T> {
    /// `len` zeroed values. The error names the size when the OS refuses the mapping.
    pub fn zeroed(len: usize) -> Result<Self> {
        let size = std::mem::size_of::<T>();
        let too_big = || {
            Error::InvalidArgument(format!(
                "a buffer of {len} values of {size} bytes does not fit in memory"
            ))
        };
        let bytes = len.checked_mul(size).ok_or_else(too_big)?;
        let map = if bytes == 0 {
            None
        } else {
            let map = MmapMut::map_anon(bytes).map_err(|e| {
                Error::InvalidArgument(format!(
                    "could not map {:.1} MiB of memory: {e}",
                    bytes as f64 / (1 << 20) as f64
                ))
            })?;
            // Advice only: where it is refused the buffer works as well, on small pages.
            #[cfg(target_os = "linux")]
            let _ = map.advise(memmap2::Advice::HugePage);
            Some(map)
        };
        Ok(HugeBuf {
            map,
            len,
            _values: PhantomData,
        })
    }
}

impl<T: bytemuck::Pod> Deref for HugeBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // A mapping starts on a page boundary, so it is aligned for any `T`.
        self.map.as_deref().map_or(&[], bytemuck::cast_slice)
    }
}

impl<T: bytemuck::Pod> DerefMut for HugeBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.map
            .as_deref_mut()
            .map_or(&mut [], bytemuck::cast_slice_mut)
    }
}

impl<T> std::fmt::Debug for HugeBuf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HugeBuf({} values)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_buffers_are_zeroed_writable_and_refuse_impossible_sizes() {
        // 3 MB: at least one whole 2 MB huge page inside, where the OS grants them.
        let mut b = HugeBuf::<f32>::zeroed(3 << 18).unwrap();
        assert_eq!(b.len(), 3 << 18);
        assert!(b.iter().all(|&x| x == 0.0));
        b[12345] = 1.5;
        let last = b.len() - 1;
        b[last] = -2.0;
        assert_eq!((b[12345], b[last]), (1.5, -2.0));
        assert_eq!(b.as_ptr() as usize % 4096, 0, "page-aligned");
        let mut e = HugeBuf::<u16>::zeroed(0).unwrap();
        assert!(e.is_empty() && e.iter_mut().next().is_none());
        let err = HugeBuf::<u64>::zeroed(usize::MAX / 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not fit"), "{err}");
    }
}

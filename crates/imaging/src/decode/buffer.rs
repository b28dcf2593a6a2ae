//! Pixel buffers for whole images.

use crate::ImageError;

/// A zero-filled buffer of `len` bytes, or an out-of-memory error instead of an abort.
///
/// Taken from the allocator already zeroed (`calloc`): buffers this large come straight from
/// the kernel as zero pages, so nothing is written twice (a `resize(len, 0)` would write all
/// 34 MB of a microscope image once before the decoder writes them again).
pub(crate) fn zeroed(len: usize) -> Result<Vec<u8>, ImageError> {
    let oom = || {
        ImageError::Io(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("could not allocate {len} bytes for the pixels"),
        ))
    };
    if len == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len).map_err(|_| oom())?;
    // SAFETY: the layout has a non-zero size; the pointer, if not null, is a fresh allocation
    // of exactly `len` initialised (zero) bytes with the global allocator and u8's alignment,
    // which is what Vec::from_raw_parts requires for a Vec<u8> of length and capacity `len`.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout);
        if ptr.is_null() {
            return Err(oom());
        }
        huge_pages(ptr, len);
        Ok(Vec::from_raw_parts(ptr, len, len))
    }
}

/// Asks the kernel to back a large, not yet touched buffer with transparent huge pages (where
/// the system allows them on request, Debian's default): the decoder's first writes then take
/// one page fault per 2 MiB instead of one per 4 KiB (about 8 300 for a 34 MB image, most of
/// the decoding time before this). Only a hint: nothing changes where it is refused.
fn huge_pages(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        if len < 4 << 20 {
            return;
        }
        let start = (ptr as usize).next_multiple_of(PAGE);
        let end = (ptr as usize + len) / PAGE * PAGE;
        if end > start {
            // SAFETY: the range lies inside the allocation just made; MADV_HUGEPAGE changes
            // how pages are backed, never their contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

#[cfg(test)]
mod tests {
    use super::zeroed;

    #[test]
    fn buffers_are_zero_and_of_the_length_asked() {
        for len in [0, 1, 4095, 1 << 20, 34_000_000] {
            let v = zeroed(len).unwrap();
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn an_impossible_size_is_an_error_not_an_abort() {
        assert!(zeroed(usize::MAX / 2).is_err());
    }
}

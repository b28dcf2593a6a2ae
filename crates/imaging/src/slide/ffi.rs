//! OpenSlide, loaded at run time (as ONNX Runtime is): the binary starts without it, and a
//! slide then gets one message naming the package to install.

use libloading::Library;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::OnceLock;

/// Where to look, in order: `HISTOSCORE_OPENSLIDE_LIB` (a full path), then the names the
/// distributions install (OpenSlide 3.4 is `.so.0`, 4.x is `.so.1`).
const NAMES: [&str; 4] = [
    "libopenslide.so.0",
    "libopenslide.so.1",
    "libopenslide.so",
    "libopenslide.1.dylib",
];

/// What to tell a person when the library is missing.
pub const INSTALL_HINT: &str = "install OpenSlide (Debian/Ubuntu: apt-get install libopenslide0; \
     macOS: brew install openslide) and restart Histoscore, or point HISTOSCORE_OPENSLIDE_LIB at \
     libopenslide";

type Open = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type Close = unsafe extern "C" fn(*mut c_void);
type GetError = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type LevelCount = unsafe extern "C" fn(*mut c_void) -> i32;
type LevelDims = unsafe extern "C" fn(*mut c_void, i32, *mut i64, *mut i64);
type LevelDownsample = unsafe extern "C" fn(*mut c_void, i32) -> f64;
type ReadRegion = unsafe extern "C" fn(*mut c_void, *mut u32, i64, i64, i32, i64, i64);
type PropertyValue = unsafe extern "C" fn(*mut c_void, *const c_char) -> *const c_char;
type DetectVendor = unsafe extern "C" fn(*const c_char) -> *const c_char;

pub(crate) struct Api {
    open: Open,
    close: Close,
    get_error: GetError,
    level_count: LevelCount,
    level_dims: LevelDims,
    level_downsample: LevelDownsample,
    read_region: ReadRegion,
    property_value: PropertyValue,
    detect_vendor: DetectVendor,
    /// Which file was loaded (for logs and `--version`-style reports).
    pub path: String,
    // Keeps the symbols above valid; never unloaded.
    _lib: Library,
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

/// The loaded library, or why it could not be loaded.
pub(crate) fn api() -> Result<&'static Api, String> {
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Api, String> {
    let mut tried = Vec::new();
    let candidates: Vec<String> = std::env::var("HISTOSCORE_OPENSLIDE_LIB")
        .ok()
        .filter(|p| !p.is_empty())
        .into_iter()
        .chain(NAMES.iter().map(|s| s.to_string()))
        .collect();
    for name in candidates {
        // SAFETY: loading OpenSlide runs its library initialisers (glib, libtiff, libjpeg),
        // which have no preconditions.
        match unsafe { Library::new(&name) } {
            Ok(lib) => return bind(lib, name),
            Err(e) => tried.push(format!("{name}: {e}")),
        }
    }
    Err(format!(
        "OpenSlide is not installed ({}); {INSTALL_HINT}",
        tried.join("; ")
    ))
}

fn bind(lib: Library, path: String) -> Result<Api, String> {
    macro_rules! sym {
        ($name:literal, $ty:ty) => {{
            // SAFETY: the symbol's type is OpenSlide's documented C signature (openslide.h,
            // unchanged from 3.4 to 4.0).
            let s: libloading::Symbol<$ty> = unsafe { lib.get($name) }
                .map_err(|e| format!("{path} is not a usable OpenSlide: {e}; {INSTALL_HINT}"))?;
            *s
        }};
    }
    Ok(Api {
        open: sym!(b"openslide_open\0", Open),
        close: sym!(b"openslide_close\0", Close),
        get_error: sym!(b"openslide_get_error\0", GetError),
        level_count: sym!(b"openslide_get_level_count\0", LevelCount),
        level_dims: sym!(b"openslide_get_level_dimensions\0", LevelDims),
        level_downsample: sym!(b"openslide_get_level_downsample\0", LevelDownsample),
        read_region: sym!(b"openslide_read_region\0", ReadRegion),
        property_value: sym!(b"openslide_get_property_value\0", PropertyValue),
        detect_vendor: sym!(b"openslide_detect_vendor\0", DetectVendor),
        path,
        _lib: lib,
    })
}

fn c_path(path: &std::path::Path) -> Result<CString, String> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| "the file name contains a NUL byte".to_string())
}

unsafe fn owned(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: OpenSlide returns NUL-terminated strings it owns for the handle's lifetime.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

impl Api {
    /// The vendor OpenSlide recognises the file as ("aperio", "hamamatsu", "generic-tiff", …).
    pub fn detect_vendor(&self, path: &std::path::Path) -> Option<String> {
        let c = c_path(path).ok()?;
        // SAFETY: `c` is a valid C string; the result is a static string or NULL.
        unsafe { owned((self.detect_vendor)(c.as_ptr())) }
    }
}

/// An open OpenSlide handle. OpenSlide's reads are thread-safe on one handle.
pub(crate) struct Handle {
    api: &'static Api,
    ptr: *mut c_void,
}

// SAFETY: OpenSlide documents its handles as thread-safe (all reads take internal locks).
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Handle {
    /// Opens a file; `Ok(None)` when OpenSlide does not recognise it.
    pub fn open(api: &'static Api, path: &std::path::Path) -> Result<Option<Handle>, String> {
        let c = c_path(path)?;
        // SAFETY: valid C string; a NULL result means "not a slide".
        let ptr = unsafe { (api.open)(c.as_ptr()) };
        if ptr.is_null() {
            return Ok(None);
        }
        let h = Handle { api, ptr };
        match h.error() {
            Some(e) => Err(e),
            None => Ok(Some(h)),
        }
    }

    /// The handle's error; once set, every later call on this handle fails (OpenSlide's
    /// errors are sticky), so the caller reopens.
    pub fn error(&self) -> Option<String> {
        // SAFETY: `ptr` is a live handle.
        unsafe { owned((self.api.get_error)(self.ptr)) }
    }

    pub fn level_count(&self) -> i32 {
        // SAFETY: live handle.
        unsafe { (self.api.level_count)(self.ptr) }
    }

    pub fn level_dimensions(&self, level: i32) -> (i64, i64) {
        let (mut w, mut h) = (-1i64, -1i64);
        // SAFETY: live handle, valid out pointers.
        unsafe { (self.api.level_dims)(self.ptr, level, &mut w, &mut h) };
        (w, h)
    }

    pub fn level_downsample(&self, level: i32) -> f64 {
        // SAFETY: live handle.
        unsafe { (self.api.level_downsample)(self.ptr, level) }
    }

    pub fn property(&self, name: &str) -> Option<String> {
        let c = CString::new(name).ok()?;
        // SAFETY: live handle, valid C string; the value lives as long as the handle.
        unsafe { owned((self.api.property_value)(self.ptr, c.as_ptr())) }
    }

    /// Premultiplied ARGB pixels of a region; `x`, `y` in level-0 coordinates.
    pub fn read_region(
        &self,
        dest: &mut [u32],
        x: i64,
        y: i64,
        level: i32,
        w: i64,
        h: i64,
    ) -> Result<(), String> {
        assert!(
            w >= 0 && h >= 0 && dest.len() as i64 >= w * h,
            "read_region buffer too small"
        );
        // SAFETY: live handle; `dest` holds at least w × h pixels (checked above).
        unsafe { (self.api.read_region)(self.ptr, dest.as_mut_ptr(), x, y, level, w, h) };
        match self.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: closed exactly once, here.
        unsafe { (self.api.close)(self.ptr) }
    }
}

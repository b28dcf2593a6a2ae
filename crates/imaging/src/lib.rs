//! Histoscore imaging: turning a microscope file into the exact tensor the model saw in the
//! original system.
//!
//! - [`decode`]: any supported file → 8-bit RGB (Pillow's `convert('RGB')` semantics), with
//!   bounded memory and clear refusals.
//! - [`resample`]: Pillow's separable fixed-point resampling (bicubic, bilinear), byte-exact.
//! - [`preprocess`]: the original's transform chain up to the normalised input tensor.
//! - [`slide`]: whole-slide images through OpenSlide (loaded at run time), tissue and fields.

pub mod decode;
pub mod deconvolution;
#[doc(hidden)]
pub mod fuzzing;
pub mod preprocess;
pub mod resample;
pub mod slide;

pub use decode::{decode_bytes, decode_file, DecodeOptions, DecodedImage, ImageError};
pub use preprocess::{preprocess, Preprocessed, INPUT_SIZE};

//! Histoscore's domain layer: what a score is, how a raw network output becomes one, how a
//! microscope file name maps to a sample, and how well raters agree. Pure data and rules, no I/O.

pub mod agreement;
pub mod comparison;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod reading;
pub mod schema;
pub mod serial;
pub mod slide;

pub use agreement::{BlandAltman, IccRow, IccTable, Interval, KappaWeights, PairAgreement, Stat};
pub use schema::{Metric, Schema, SchemaError, Scores};
pub use serial::{SerialInfo, SerialParser};

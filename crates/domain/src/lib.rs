//! Histoscore's domain layer: what a score is, how a raw network output becomes one, and how a
//! microscope file name maps to a sample. Pure data and rules, no I/O.

pub mod export;
pub mod schema;
pub mod serial;

pub use schema::{Metric, Schema, SchemaError, Scores};
pub use serial::{SerialInfo, SerialParser};

//! Command implementations of the `instrument-meter` binary.

pub mod analyze;
pub mod batch;
pub mod info;
pub mod inputs;
pub mod outputs;

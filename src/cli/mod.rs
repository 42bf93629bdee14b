//! Command implementations of the `instrument-meter` binary.

pub mod analyze;
pub mod info;

//! Command implementations of the `instrument-meter` binary.

pub mod analyze;
pub mod bench;
pub mod info;

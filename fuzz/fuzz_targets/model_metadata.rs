//! The model contract's metadata parser and validator (`ModelInfo::from_metadata`) on arbitrary
//! key/value tables (`key=value` lines).
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| oracles::model_metadata(data));

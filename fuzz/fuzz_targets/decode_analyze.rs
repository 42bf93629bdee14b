//! Bytes → symphonia demux/decode → the offline analysis path (downmix, resample, windows,
//! silence floor, normalisation, batching) → the tiny fixture model → clip scores.
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

use std::sync::Mutex;

use instrument_meter::offline::OfflineAnalyzer;
use libfuzzer_sys::fuzz_target;

static ANALYZER: Mutex<Option<OfflineAnalyzer>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut guard = ANALYZER.lock().unwrap();
    oracles::decode_analyze(guard.get_or_insert_with(oracles::fixture_analyzer), data);
});

//! Replays the fuzz targets' seed corpora (fuzz/seeds/) and every input that once crashed a
//! target (tests/fixtures/fuzz/<target>/, each named for its bug) through the same checks
//! (fuzz/oracles.rs), so a fixed crash stays fixed without cargo-fuzz.
mod common;

#[path = "../fuzz/oracles.rs"]
mod oracles;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = [
        root.join("fuzz/seeds").join(target),
        common::fixture("fuzz").join(target),
    ]
    .iter()
    .filter_map(|d| std::fs::read_dir(d).ok())
    .flatten()
    .map(|e| e.unwrap().path())
    .collect();
    files.sort();
    files
}

#[test]
fn decode_analyze_inputs() {
    let files = inputs("decode_analyze");
    assert!(files.len() > 10, "seeds and regressions found: {files:?}");
    let mut offline = oracles::fixture_analyzer();
    for f in files {
        println!("{}", f.display());
        oracles::decode_analyze(&mut offline, &std::fs::read(&f).unwrap());
    }
}

#[test]
fn model_metadata_inputs() {
    let files = inputs("model_metadata");
    assert!(files.len() >= 5, "seeds found: {files:?}");
    for f in files {
        println!("{}", f.display());
        oracles::model_metadata(&std::fs::read(&f).unwrap());
    }
}

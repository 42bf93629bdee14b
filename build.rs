// Embeds assets/model.onnx as the default model when the file exists (cfg `has_default_model`).
// The trained model is produced by training/; until it exists the build still works and the CLI
// asks for --model. Hands the ONNX Runtime version of the file `onnxruntime-version` (read by
// scripts/setup.sh and the xtask as well) to src/runtime.rs.
use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_default_model)");
    // Re-run when the model appears, changes or disappears.
    println!("cargo:rerun-if-changed=assets/model.onnx");
    println!("cargo:rerun-if-changed=assets");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/model.onnx");
    if model.is_file() && model.metadata().map(|m| m.len() > 0).unwrap_or(false) {
        println!("cargo:rustc-cfg=has_default_model");
    }
    println!("cargo:rerun-if-changed=onnxruntime-version");
    let version =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("onnxruntime-version"))
            .expect("the file onnxruntime-version names the ONNX Runtime version");
    println!(
        "cargo:rustc-env=INSTRUMENT_METER_ORT_VERSION={}",
        version.trim()
    );
}

// Embeds assets/model.onnx as the default model when the file exists (cfg `has_default_model`).
// The trained model is produced by training/; until it exists the build still works and the CLI
// asks for --model.
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
}

//! `cargo xtask bundle instrument-meter --release` builds the CLAP and VST3 bundles
//! (nice-plug-xtask), then copies the ONNX Runtime library into them so that a user installs the
//! plugin by copying the bundle: `libonnxruntime.so.<version>` (the version in the file
//! `onnxruntime-version`) beside the `.clap` and inside the VST3's
//! `Contents/<arch>-linux/`, where the plugin finds it from its own location (dladdr).
//! `cargo xtask bundle-ort` only does the copy.
//! `cargo xtask stress [--valgrind]` runs the plugin's whole fault matrix and load tests
//! (docs/plugin.md, "Stress tests").

use std::path::{Path, PathBuf};

mod stress;

/// The runtime library the project ships: its version is in `onnxruntime-version`, the one place
/// it is written (scripts/setup.sh puts the library in .setup/onnxruntime/).
fn ort_file(root: &Path) -> nice_plug_xtask::Result<String> {
    let path = root.join("onnxruntime-version");
    let version = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(format!("libonnxruntime.so.{}", version.trim()))
}

fn main() -> nice_plug_xtask::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bundle-ort") => return copy_onnxruntime(),
        Some("stress") => return stress::run(args.iter().any(|a| a == "--valgrind")),
        Some("bundle") => {
            nice_plug_xtask::main()?;
            copy_onnxruntime()?;
        }
        _ => nice_plug_xtask::main()?,
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Copies the ONNX Runtime library next to every plugin binary in `target/bundled/`.
fn copy_onnxruntime() -> nice_plug_xtask::Result<()> {
    if !cfg!(target_os = "linux") {
        eprintln!("bundle-ort: only Linux bundles carry the runtime so far; skipped");
        return Ok(());
    }
    let root = workspace_root();
    let ort_file = ort_file(&root)?;
    let source = match std::env::var_os("ORT_DYLIB_PATH").filter(|s| !s.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => root.join(".setup/onnxruntime").join(&ort_file),
    };
    if !source.is_file() {
        anyhow::bail!(
            "ONNX Runtime library not found at {}; run scripts/setup.sh (or set ORT_DYLIB_PATH)",
            source.display()
        );
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bundled = target.join("bundled");
    let arch = format!("{}-linux", std::env::consts::ARCH);
    let entries = std::fs::read_dir(&bundled)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", bundled.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let dest_dir = match path.extension().and_then(|e| e.to_str()) {
            Some("clap") => bundled.clone(),
            Some("vst3") => path.join("Contents").join(&arch),
            _ => continue,
        };
        let dest = dest_dir.join(&ort_file);
        std::fs::copy(&source, &dest).map_err(|e| {
            anyhow::anyhow!(
                "cannot copy {} to {}: {e}",
                source.display(),
                dest.display()
            )
        })?;
        eprintln!("Copied ONNX Runtime into {}", dest.display());
    }
    Ok(())
}

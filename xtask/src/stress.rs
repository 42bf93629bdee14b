//! `cargo xtask stress [--valgrind]`: the plugin's reliability run, longer than CI's.
//!
//! 1. bundles the plugin (release);
//! 2. `tests/plugin_stress.rs` with `INSTRUMENT_METER_STRESS=full` (the whole fault matrix: 7 rates
//!    × 7 block plans × mono/stereo × 8 signals), the allocation guard on, under Xvfb when there is
//!    no display;
//! 3. the fault matrix again through the bundled `.clap` (dlopen, as a host loads it) and 20
//!    unload/reload cycles of it;
//! 4. the VST3 bundle's fault pass in pedalboard (`tests/vst3_pedalboard.py --stress`);
//! 5. with `--valgrind`: the unload/reload test under valgrind's leak checker (definite leaks
//!    fail the run).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

const TEST: [&str; 7] = [
    "test",
    "--release",
    "--locked",
    "--features",
    "assert_process_allocs,test-hooks",
    "--test",
    "plugin_stress",
];

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn check(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    eprintln!("\n== {what}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start: {cmd:?}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// `program args…`, under `xvfb-run -a` when there is no display and xvfb-run exists.
fn with_display(program: &str, args: &[&str]) -> Command {
    let xvfb = std::env::var_os("DISPLAY").is_none()
        && Command::new("xvfb-run").arg("--help").output().is_ok();
    let mut cmd = if xvfb {
        let mut c = Command::new("xvfb-run");
        c.arg("-a").arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args);
    cmd
}

pub fn run(valgrind: bool) -> anyhow::Result<()> {
    let root = super::workspace_root();
    std::env::set_current_dir(&root)?;
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    check(
        cargo().args(["xtask", "bundle", "instrument-meter", "--release"]),
        "bundle the plugin",
    )?;
    let clap = root.join("target/bundled/Instrument Meter.clap");
    let mut args: Vec<&str> = TEST.to_vec();
    args.extend(["--", "--nocapture", "--test-threads=1"]);
    check(
        with_display(&cargo_bin, &args).env("INSTRUMENT_METER_STRESS", "full"),
        "full fault matrix, lifecycle and load (in-process plugin, allocation guard)",
    )?;
    let mut args: Vec<&str> = TEST.to_vec();
    args.extend([
        "--",
        "--nocapture",
        "--test-threads=1",
        "fault_matrix",
        "plugin_library_unloads_and_reloads",
    ]);
    check(
        cargo()
            .args(&args)
            .env("INSTRUMENT_METER_STRESS", "full")
            .env("INSTRUMENT_METER_RELOAD_CYCLES", "20")
            .env("INSTRUMENT_METER_CLAP", &clap),
        "full fault matrix and 20 unload/reload cycles through the bundled .clap",
    )?;
    check(
        Command::new(root.join(".venv/bin/python")).args(["tests/vst3_pedalboard.py", "--stress"]),
        "VST3 fault pass in pedalboard",
    )?;
    if valgrind {
        valgrind_reload(&root, &clap)?;
    }
    eprintln!("\nstress: all passed");
    Ok(())
}

/// The unload/reload test under valgrind (3 cycles: valgrind runs ONNX Runtime ~50× slower).
fn valgrind_reload(root: &Path, clap: &Path) -> anyhow::Result<()> {
    let mut args: Vec<&str> = TEST.to_vec();
    args.push("--no-run");
    let out = cargo().args(&args).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "Executable tests/plugin_stress.rs (target/release/deps/plugin_stress-…)"
    let Some(binary) = stderr
        .lines()
        .filter(|l| l.contains("plugin_stress"))
        .find_map(|l| Some(l.rsplit_once('(')?.1.trim_end_matches(')').to_string()))
    else {
        bail!("cannot find the plugin_stress test binary in:\n{stderr}");
    };
    check(
        Command::new("valgrind")
            .args([
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--error-exitcode=99",
                "--num-callers=30",
            ])
            .arg(format!(
                "--suppressions={}",
                root.join("scripts/valgrind.supp").display()
            ))
            .arg(root.join(binary))
            .args([
                "plugin_library_unloads_and_reloads",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("INSTRUMENT_METER_CLAP", clap)
            .env("INSTRUMENT_METER_RELOAD_CYCLES", "3"),
        "unload/reload under valgrind (definite leaks and memory errors fail)",
    )
}

//! Finding, loading and initialising the ONNX Runtime shared library (once per process).
//!
//! `ort` is built with `load-dynamic`: the library is the one shipped in the PyPI wheel
//! `onnxruntime` of the version in the file `onnxruntime-version` (the one place it is written;
//! build.rs hands it to this code), fetched by `scripts/setup.sh`.
//! Lookup order (no path of the build machine is compiled in):
//! 1. `ORT_DYLIB_PATH` (a file). When set it is authoritative: no silent fallback.
//! 2. Next to the module that contains this code (the plugin's shared library, or the binary),
//!    found with `dladdr`, then next to the running executable.
//! 3. The per-user folder [`user_dir`] (`$XDG_DATA_HOME/instrument-meter/onnxruntime/`, by
//!    default `~/.local/share/instrument-meter/onnxruntime/`), which `scripts/setup.sh` fills.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

/// The ONNX Runtime version the project ships and tests against (from `onnxruntime-version`).
pub const SHIPPED_ORT_VERSION: &str = env!("INSTRUMENT_METER_ORT_VERSION");
/// Oldest runtime minor version `ort` 2.0.0-rc.15 can drive with our API level.
pub const MIN_ORT_MINOR: u32 = ort::MINOR_VERSION;

/// Why the runtime could not be started. Cloneable so that every caller sees the same cached error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RuntimeError {
    message: String,
}

/// One candidate location and what happened there.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub path: PathBuf,
    pub outcome: String,
}

/// The loaded runtime: the shared environment plus where it came from.
#[derive(Debug)]
pub struct Runtime {
    pub environment: Environment,
    pub library_path: PathBuf,
    pub version: String,
}

static RUNTIME: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

/// The process-wide runtime, loading it on first use. Never panics; a failure is cached.
pub fn runtime() -> Result<&'static Runtime, RuntimeError> {
    RUNTIME.get_or_init(init).as_ref().map_err(Clone::clone)
}

/// Library file names to look for in a directory, most specific first.
fn library_names() -> Vec<String> {
    let (prefix, suffix) = (std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    if cfg!(target_os = "linux") {
        vec![
            format!("{prefix}onnxruntime{suffix}.{SHIPPED_ORT_VERSION}"),
            format!("{prefix}onnxruntime{suffix}"),
        ]
    } else if cfg!(target_os = "macos") {
        vec![
            format!("{prefix}onnxruntime.{SHIPPED_ORT_VERSION}{suffix}"),
            format!("{prefix}onnxruntime{suffix}"),
        ]
    } else {
        vec![format!("{prefix}onnxruntime{suffix}")]
    }
}

/// The file of the loaded module (shared library or executable) that contains this function.
fn this_module_path() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = this_module_path as *const libc::c_void;
        // SAFETY: dladdr only reads the address and fills `info`; dli_fname points into the loader's
        // tables and stays valid while the module is loaded (we copy it out immediately).
        let ok = unsafe { libc::dladdr(addr, &mut info) };
        if ok != 0 && !info.dli_fname.is_null() {
            let name = unsafe { CStr::from_ptr(info.dli_fname) };
            let path = PathBuf::from(name.to_string_lossy().into_owned());
            return Some(std::fs::canonicalize(&path).unwrap_or(path));
        }
        None
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Candidate directories after `ORT_DYLIB_PATH`, in order, without duplicates.
pub fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut push = |d: PathBuf| {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    };
    if let Some(dir) = this_module_path().and_then(|p| p.parent().map(Path::to_path_buf)) {
        push(dir.clone());
        // Plugin bundles keep libraries beside the binary or in a sibling `lib` folder.
        push(dir.join("lib"));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        push(dir);
    }
    if let Some(dir) = user_dir() {
        push(dir);
    }
    dirs
}

/// The per-user runtime folder: `$XDG_DATA_HOME/instrument-meter/onnxruntime` (default
/// `~/.local/share/…`) on Linux, `~/Library/Application Support/instrument-meter/onnxruntime` on
/// macOS, `%LOCALAPPDATA%\instrument-meter\onnxruntime` on Windows.
pub fn user_dir() -> Option<PathBuf> {
    let env_dir = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(target_os = "windows") {
        env_dir("LOCALAPPDATA")?
    } else if cfg!(target_os = "macos") {
        env_dir("HOME")?.join("Library/Application Support")
    } else {
        env_dir("XDG_DATA_HOME").or_else(|| Some(env_dir("HOME")?.join(".local/share")))?
    };
    Some(base.join("instrument-meter").join("onnxruntime"))
}

fn init() -> Result<Runtime, RuntimeError> {
    let mut attempts: Vec<Attempt> = Vec::new();
    let explicit = std::env::var_os("ORT_DYLIB_PATH").filter(|s| !s.is_empty());
    let candidates: Vec<PathBuf> = match &explicit {
        Some(p) => vec![PathBuf::from(p)],
        None => candidate_dirs()
            .into_iter()
            .flat_map(|d| library_names().into_iter().map(move |n| d.join(n)))
            .collect(),
    };
    for path in candidates {
        if !path.is_file() {
            attempts.push(Attempt {
                path,
                outcome: "not found".into(),
            });
            continue;
        }
        match try_load(&path) {
            Ok(rt) => return Ok(rt),
            Err(outcome) => attempts.push(Attempt { path, outcome }),
        }
    }
    Err(describe_failure(explicit.is_some(), &attempts))
}

fn describe_failure(explicit: bool, attempts: &[Attempt]) -> RuntimeError {
    let mut message = String::from("could not load the ONNX Runtime library");
    if explicit {
        message.push_str(" from ORT_DYLIB_PATH");
    }
    message.push_str(". Tried:\n");
    for a in attempts {
        message.push_str(&format!("  {}: {}\n", a.path.display(), a.outcome));
    }
    message.push_str(&format!(
        "Fix: run `scripts/setup.sh` in the project (it fetches ONNX Runtime {SHIPPED_ORT_VERSION} from the PyPI \
         wheel and installs it in the per-user folder), or set ORT_DYLIB_PATH to a libonnxruntime {SHIPPED_ORT_VERSION} file, \
         or put the library next to the program."
    ));
    RuntimeError { message }
}

/// Reads and checks the version and API table of a candidate library without giving it to `ort`,
/// so that a wrong library is reported by us and not left registered in `ort`'s global state.
fn library_version(path: &Path) -> Result<String, String> {
    // SAFETY: loading a shared library runs its initialisers; this is the library the user pointed us
    // at (or our own setup folder). OrtGetApiBase/GetVersionString are plain C getters.
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| format!("cannot be loaded: {e}"))?;
        type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
        let get: libloading::Symbol<GetApiBase> = lib
            .get(b"OrtGetApiBase\0")
            .map_err(|_| "is not an ONNX Runtime library (no OrtGetApiBase symbol)".to_string())?;
        let base = get();
        if base.is_null() {
            return Err("OrtGetApiBase returned null".into());
        }
        let v = ((*base).GetVersionString)();
        if v.is_null() {
            return Err("reports no version".into());
        }
        let version = CStr::from_ptr(v).to_string_lossy().into_owned();
        check_version(&version)?;
        // ort panics when the library has no API table for its API level (a damaged or stub
        // library that claims a good version); ask first so the user gets a reason, not a panic.
        if ((*base).GetApi)(ort::sys::ORT_API_VERSION).is_null() {
            return Err(format!(
                "claims ONNX Runtime {version} but provides no API version {}; the library is damaged or not a real ONNX Runtime",
                ort::sys::ORT_API_VERSION
            ));
        }
        Ok(version)
    }
}

fn check_version(version: &str) -> Result<(), String> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(1), Some(minor)) if minor >= MIN_ORT_MINOR => Ok(()),
        _ => Err(format!(
            "is ONNX Runtime {version}; need 1.{MIN_ORT_MINOR} or newer ({SHIPPED_ORT_VERSION} is the tested one)"
        )),
    }
}

fn try_load(path: &Path) -> Result<Runtime, String> {
    let version = library_version(path)?;
    // ort may panic inside the loader on a broken library; keep that from crossing into the caller.
    let built = catch_unwind(AssertUnwindSafe(|| {
        let builder = ort::init_from(path).map_err(|e| format!("ort could not load it: {e}"))?;
        builder
            .with_name("instrument-meter")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("environment creation failed: {e}"))
    }));
    match built {
        Ok(Ok(environment)) => Ok(Runtime {
            environment,
            library_path: path.to_path_buf(),
            version,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("loading panicked inside ort".into()),
    }
}

/// Sets flush-to-zero and denormals-are-zero on the current thread while alive.
///
/// ONNX Runtime's `session.set_denormal_as_zero` only covers its pool threads; with one intra-op
/// thread the model runs on the caller's thread, so we set the flags there too. Denormals from
/// decaying audio tails can otherwise make a window many times slower.
pub(crate) struct DenormalGuard {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
    #[cfg(target_arch = "aarch64")]
    saved: u64,
}

impl DenormalGuard {
    pub(crate) fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut saved: u32 = 0;
            // SAFETY: reading/writing MXCSR only changes floating-point modes of this thread.
            unsafe {
                std::arch::asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack));
                let new = saved | 0x8040; // FTZ (bit 15) | DAZ (bit 6)
                std::arch::asm!("ldmxcsr [{}]", in(reg) &new, options(nostack));
            }
            DenormalGuard { saved }
        }
        #[cfg(target_arch = "aarch64")]
        {
            let saved: u64;
            // SAFETY: FPCR.FZ (bit 24) only changes floating-point modes of this thread.
            unsafe {
                std::arch::asm!("mrs {}, fpcr", out(reg) saved);
                std::arch::asm!("msr fpcr, {}", in(reg) saved | (1 << 24));
            }
            DenormalGuard { saved }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            DenormalGuard {}
        }
    }
}

impl Drop for DenormalGuard {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &self.saved, options(nostack));
        }
        #[cfg(target_arch = "aarch64")]
        unsafe {
            std::arch::asm!("msr fpcr, {}", in(reg) self.saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_check_accepts_shipped_and_rejects_old() {
        assert!(check_version("1.31.1").is_ok());
        assert!(check_version(&format!("1.{MIN_ORT_MINOR}.0")).is_ok());
        assert!(check_version("1.10.0").is_err());
        assert!(check_version("2.0.0").is_err());
        assert!(check_version("garbage").is_err());
    }

    #[test]
    fn the_training_package_pins_the_same_runtime() {
        let pyproject = include_str!("../training/pyproject.toml");
        let pin = format!("\"onnxruntime=={SHIPPED_ORT_VERSION}\"");
        assert!(
            pyproject.contains(&pin),
            "training/pyproject.toml lacks {pin}"
        );
    }

    #[test]
    fn per_user_folder_is_the_last_candidate_and_no_build_path_is() {
        let dirs = candidate_dirs();
        assert_eq!(dirs.last(), user_dir().as_ref());
        // Every other candidate is derived at run time from where the binary or plugin is (the
        // test binary may well sit inside the checkout, under target/), never compiled in.
        let exe_dir = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let module_dir = this_module_path().and_then(|p| p.parent().map(Path::to_path_buf));
        for d in &dirs[..dirs.len() - 1] {
            let from_binary =
                d.starts_with(&exe_dir) || module_dir.as_ref().is_some_and(|m| d.starts_with(m));
            assert!(
                from_binary,
                "{d:?} is not beside the running binary: {dirs:?}"
            );
        }
        assert!(
            !dirs.iter().any(|d| d.ends_with(".setup/onnxruntime")),
            "{dirs:?}"
        );
    }

    #[test]
    fn denormal_guard_flushes_and_restores() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        {
            let _g = DenormalGuard::new();
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            assert_eq!(std::hint::black_box(tiny) / 4.0, 0.0);
        }
        assert!(std::hint::black_box(tiny) / 4.0 > 0.0);
    }
}

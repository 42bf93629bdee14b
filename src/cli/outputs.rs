//! Result files: what `--export` asks for, where each goes, and writing them so that a file with
//! the final name is always complete (`--skip-existing` trusts exactly those).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A kind of result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The JSON object `--format json` prints.
    Json,
    /// Standard MIDI File: activation CC lanes (and note gates).
    Midi,
    /// Audacity label track.
    Audacity,
    /// Timeline picture.
    Png,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Json, Kind::Midi, Kind::Audacity, Kind::Png];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Json => "json",
            Kind::Midi => "midi",
            Kind::Audacity => "audacity",
            Kind::Png => "png",
        }
    }

    /// Appended to the input's file name under `--output-dir`.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Json => "json",
            Kind::Midi => "mid",
            Kind::Audacity => "txt",
            Kind::Png => "png",
        }
    }
}

/// One `--export KIND[=PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub kind: Kind,
    pub path: Option<PathBuf>,
}

/// clap value parser for `--export`.
pub fn parse_export(s: &str) -> Result<ExportSpec, String> {
    let (name, path) = match s.split_once('=') {
        Some((n, p)) if !p.is_empty() => (n, Some(PathBuf::from(p))),
        Some((n, _)) => return Err(format!("{n}=: the path is empty")),
        None => (s, None),
    };
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| format!("unknown export {name:?} (json, midi, audacity, png)"))?;
    Ok(ExportSpec { kind, path })
}

/// `dir/<rel>.<ext>`: the extension is appended, so `a.flac` and `a.mp3` do not collide.
pub fn target(dir: &Path, rel: &Path, kind: Kind) -> PathBuf {
    let mut name = dir.join(rel).into_os_string();
    name.push(".");
    name.push(kind.extension());
    PathBuf::from(name)
}

/// Creates `dir` and proves a file can be written in it, before any analysis starts; `what` names
/// the option that asked for it in the error.
pub fn check_writable(dir: &Path, what: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{what}: cannot write in {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".instrument-meter-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

/// Writes `bytes` to a temporary name beside `path`, then renames it into place: an interrupted
/// run leaves at most a hidden `.name.part-PID` file, never a truncated `name`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: cannot write: {e}", path.display());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(format!(".part-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

/// A temporary file [`write_atomic`] leaves when its run is killed between writing and renaming:
/// `.NAME.EXT.part-PID`, EXT a result file's extension. Returns the writer's PID.
fn part_file_pid(name: &str) -> Option<u32> {
    let (target, pid) = name.strip_prefix('.')?.rsplit_once(".part-")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ext = target.rsplit_once('.')?.1;
    if !Kind::ALL.iter().any(|k| k.extension() == ext) {
        return None;
    }
    pid.parse().ok()
}

/// A temporary file untouched this long is no live writer's: `write_atomic` writes and renames
/// in one go (milliseconds), so this holds for a run on another machine sharing the folder too.
const STALE_PART: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether process `pid` runs on this machine.
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return true;
        }
        std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// Removes the temporary result files that interrupted runs left under `dir` (a later run's
/// results are never read from them: `--skip-existing` looks at final names only). A file is
/// removed only when its writer is not running on this machine and it has not been touched for
/// a minute, so a concurrent run's file in the middle of its write is left alone. Returns how
/// many were removed.
pub fn remove_stale_parts(dir: &Path) -> usize {
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(pid) = entry.file_name().to_str().and_then(part_file_pid) else {
            continue;
        };
        let old = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= STALE_PART);
        if old && !process_alive(pid) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_specs() {
        assert_eq!(
            parse_export("midi=out/a.mid"),
            Ok(ExportSpec {
                kind: Kind::Midi,
                path: Some("out/a.mid".into())
            })
        );
        assert_eq!(parse_export("png").unwrap().path, None);
        assert!(parse_export("pdf").is_err());
        assert!(parse_export("midi=").is_err());
    }

    #[test]
    fn targets_append_the_extension() {
        assert_eq!(
            target(Path::new("out"), Path::new("a/b.flac"), Kind::Audacity),
            PathBuf::from("out/a/b.flac.txt")
        );
    }

    #[test]
    fn part_file_names() {
        assert_eq!(part_file_pid(".a.flac.json.part-123"), Some(123));
        assert_eq!(part_file_pid(".b.wav.mid.part-7"), Some(7));
        assert_eq!(part_file_pid(".x.png.part-"), None);
        assert_eq!(part_file_pid(".x.png.part-12a"), None);
        assert_eq!(part_file_pid("x.json.part-12"), None);
        assert_eq!(part_file_pid(".notes.doc.part-12"), None);
        assert!(process_alive(std::process::id()));
    }

    #[test]
    fn atomic_write_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x/y.json");
        write_atomic(&p, b"{}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        let names: Vec<_> = std::fs::read_dir(d.path().join("x")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}

//! Which files `analyze` reads: the paths given, folders searched recursively for audio files,
//! and lists of paths (`--files-from FILE|-`), each paired with the relative path its results
//! take under `--output-dir`.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Component, Path, PathBuf};

/// File extensions searched for in folders (lower case). Files given by name are read whatever
/// their extension: the decoder says what is wrong with them.
pub const AUDIO_EXTENSIONS: [&str; 6] = ["wav", "wave", "flac", "mp3", "ogg", "oga"];

/// One file to analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    /// Where its results go under `--output-dir`: the path inside the folder it was found in, or
    /// the path as given for files named directly (without root, `.` and `..` parts).
    pub rel: PathBuf,
}

/// The inputs found, and the problems met while looking (each names its path and the cause).
#[derive(Debug, Default)]
pub struct Inputs {
    pub files: Vec<Input>,
    pub errors: Vec<String>,
    /// Non-fatal notes (symbolic link loops skipped).
    pub warnings: Vec<String>,
}

pub fn is_audio_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `rel` for a file named directly.
fn relative_as_given(path: &Path) -> PathBuf {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some("__".into()),
            _ => None,
        })
        .collect()
}

/// Reads one path per line from a list file, or from standard input for `-`. Blank lines are
/// skipped; a trailing `\r` is dropped.
pub fn read_list(list: &Path) -> Result<Vec<PathBuf>, String> {
    let read = |r: &mut dyn BufRead| -> std::io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for line in r.lines() {
            let line = line?;
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if !line.is_empty() {
                out.push(PathBuf::from(line));
            }
        }
        Ok(out)
    };
    let result = if list == Path::new("-") {
        read(&mut std::io::stdin().lock())
    } else {
        std::fs::File::open(list).and_then(|f| read(&mut std::io::BufReader::new(f)))
    };
    result.map_err(|e| format!("--files-from {}: {e}", list.display()))
}

/// Expands `paths` (files and folders) into the files to analyse, in the order given, folders
/// in file-name order. Symbolic links are followed; a link back into a folder being searched is
/// skipped with a warning, and a file reached twice is analysed once.
pub fn collect(paths: &[PathBuf]) -> Inputs {
    let mut found = Inputs::default();
    let mut seen = HashSet::new();
    let mut add = |found: &mut Inputs, path: PathBuf, rel: PathBuf| {
        // Two names for one file (a link, a folder given twice): the first wins.
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.insert(key) {
            found.files.push(Input { path, rel });
        }
    };
    for arg in paths {
        if !arg.is_dir() {
            // Missing or unreadable files are reported by the decoder, with the cause.
            add(&mut found, arg.clone(), relative_as_given(arg));
            continue;
        }
        let walk = walkdir::WalkDir::new(arg)
            .follow_links(true)
            .sort_by_file_name();
        for entry in walk {
            match entry {
                Ok(e) if e.file_type().is_file() && is_audio_name(e.path()) => {
                    let rel = e.path().strip_prefix(arg).unwrap_or(e.path()).to_path_buf();
                    add(&mut found, e.path().to_path_buf(), rel);
                }
                Ok(_) => {}
                Err(e) if e.loop_ancestor().is_some() => found.warnings.push(format!(
                    "{}: symbolic link loop, skipped",
                    e.path().unwrap_or(arg).display()
                )),
                Err(e) => {
                    let path = e.path().unwrap_or(arg).display().to_string();
                    let cause = e
                        .io_error()
                        .map_or_else(|| e.to_string(), |io| io.to_string());
                    found.errors.push(format!("{path}: cannot read: {cause}"));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_drop_roots_and_escape_parents() {
        assert_eq!(
            relative_as_given(Path::new("/music/./a/../b.wav")),
            PathBuf::from("music/a/__/b.wav")
        );
        assert_eq!(
            relative_as_given(Path::new("x.flac")),
            PathBuf::from("x.flac")
        );
    }

    #[test]
    fn audio_names() {
        assert!(is_audio_name(Path::new("a/B.FLAC")));
        assert!(is_audio_name(Path::new("song.ogg")));
        assert!(!is_audio_name(Path::new("cover.jpg")));
        assert!(!is_audio_name(Path::new("README")));
    }

    #[cfg(unix)]
    #[test]
    fn folders_recurse_loops_are_skipped_and_duplicates_dropped() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        for f in ["a/1.wav", "a/b/2.FLAC", "a/cover.jpg", "top.mp3"] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink(root.join("a"), root.join("a/b/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("top.mp3"), root.join("a/link.mp3")).unwrap();
        let found = collect(&[root.to_path_buf(), root.join("top.mp3")]);
        let rels: Vec<_> = found.files.iter().map(|i| i.rel.clone()).collect();
        assert_eq!(
            rels,
            ["a/1.wav", "a/b/2.FLAC", "a/link.mp3"].map(PathBuf::from),
            "{found:?}"
        );
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
        assert!(found.warnings[0].contains("loop"));
    }
}

//! `analyze` over folders and lists: recursion, bad files among good ones, `--jobs`,
//! `--output-dir` mirroring the tree, `--skip-existing`, `--files-from`, and an unwritable output
//! folder. Real fixture audio through the embedded default model.
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{analyze, fixture, json_lines, stderr, stdout};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small library: good files in every format in nested folders, plus files that must be
/// reported (non-audio content, an empty file, a dangling link) or ignored (a picture, a link
/// loop).
fn library(root: &Path) -> Vec<PathBuf> {
    let good = [
        ("a/cello.wav", "audio/cello.wav"),
        ("a/deeper/cello.flac", "audio/cello.flac"),
        ("b/cello.mp3", "audio/cello.mp3"),
        ("b/cello.ogg", "audio/cello.ogg"),
    ];
    for (rel, fix) in good {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(fixture(fix), &p).unwrap();
    }
    std::fs::write(root.join("a/notes.wav"), "this is not audio\n").unwrap();
    std::fs::write(root.join("b/empty.flac"), b"").unwrap();
    std::fs::write(root.join("b/cover.jpg"), b"\xff\xd8\xff").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.join("missing.ogg"), root.join("b/dangling.ogg")).unwrap();
        std::os::unix::fs::symlink(root, root.join("a/deeper/loop")).unwrap();
    }
    good.iter().map(|(rel, _)| root.join(rel)).collect()
}

#[test]
fn folders_recurse_bad_files_are_reported_and_results_mirror_the_tree() {
    let d = tempfile::tempdir().unwrap();
    let lib = d.path().join("lib");
    let good = library(&lib);
    let out = d.path().join("out");
    let o = analyze(&[
        s(&lib),
        "--format",
        "json",
        "--jobs",
        "2",
        "--output-dir",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(1), "bad files make the exit non-zero");
    let err = stderr(&o);
    for (name, cause) in [
        ("notes.wav", "not a supported audio file"),
        ("empty.flac", "empty"),
        #[cfg(unix)]
        ("dangling.ogg", "no such file"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{err}"));
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.to_lowercase().contains(cause), "{name}: {line}");
    }
    assert!(
        !err.contains("cover.jpg"),
        "non-audio names are not searched"
    );
    #[cfg(unix)]
    assert!(err.contains("symbolic link loop"), "{err}");

    // JSON Lines: one object per good file, in the folder's name order.
    let lines = json_lines(&o);
    let files: Vec<&str> = lines.iter().map(|v| v["file"].as_str().unwrap()).collect();
    let want: Vec<&str> = good.iter().map(|p| s(p)).collect();
    assert_eq!(files, want);
    for (v, p) in lines.iter().zip(&good) {
        let rel = p.strip_prefix(&lib).unwrap();
        let written = out.join(format!("{}.json", rel.display()));
        let text = std::fs::read_to_string(&written)
            .unwrap_or_else(|e| panic!("{}: {e}", written.display()));
        let from_file: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(&from_file, v, "the file holds the streamed object");
        assert!(v["segments"].is_array());
    }
    // Nothing else written: no temporaries, no results for bad files.
    let mut all = Vec::new();
    for e in walk(&out) {
        all.push(e.strip_prefix(&out).unwrap().display().to_string());
    }
    all.sort();
    assert_eq!(
        all,
        [
            "a/cello.wav.json",
            "a/deeper/cello.flac.json",
            "b/cello.mp3.json",
            "b/cello.ogg.json"
        ]
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn jobs_do_not_change_results_or_their_order() {
    let files: Vec<PathBuf> = ["wav", "flac", "mp3", "ogg", "wav", "flac"]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if i < 4 {
                fixture(&format!("audio/cello.{e}"))
            } else {
                fixture(&format!(
                    "audio/{}",
                    ["parity.flac", "plugin_cello.flac"][i - 4]
                ))
            }
        })
        .collect();
    let mut args: Vec<&str> = files.iter().map(|p| s(p)).collect();
    args.extend(["--format", "json", "--jobs"]);
    let one = analyze(&[args.as_slice(), &["1"]].concat());
    let three = analyze(&[args.as_slice(), &["3"]].concat());
    assert!(
        one.status.success() && three.status.success(),
        "{}",
        stderr(&three)
    );
    assert_eq!(json_lines(&one).len(), files.len());
    assert_eq!(stdout(&one), stdout(&three), "same bytes, same order");
}

#[test]
fn files_from_a_list_or_stdin() {
    let d = tempfile::tempdir().unwrap();
    let a = fixture("audio/cello.flac");
    let b = fixture("audio/cello.ogg");
    let list = d.path().join("list.txt");
    // A CRLF line and a blank line, as lists made on other systems have.
    std::fs::write(&list, format!("{}\r\n\n{}\n", s(&a), s(&b))).unwrap();
    let o = analyze(&["--files-from", s(&list), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files: Vec<String> = json_lines(&o)
        .iter()
        .map(|v| v["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(files, [s(&a), s(&b)]);

    let mut child = Command::new(env!("CARGO_BIN_EXE_instrument-meter"))
        .args(["analyze", "--files-from", "-", "--format", "json", s(&b)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", s(&a)).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let files: Vec<String> = json_lines(&o)
        .iter()
        .map(|v| v["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(files, [s(&b), s(&a)], "arguments first, then the list");

    let missing = analyze(&["--files-from", s(&d.path().join("nope.txt"))]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("nope.txt"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn skip_existing_resumes_and_trusts_only_complete_results() {
    let d = tempfile::tempdir().unwrap();
    let lib = d.path().join("lib");
    for (rel, fix) in [
        ("x/1.flac", "audio/cello.flac"),
        ("x/2.ogg", "audio/cello.ogg"),
        ("3.wav", "audio/cello.wav"),
    ] {
        let p = lib.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(fixture(fix), p).unwrap();
    }
    let out = d.path().join("out");
    let args = [
        s(&lib),
        "--output-dir",
        s(&out),
        "--format",
        "json",
        "--skip-existing",
    ];
    let first = analyze(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(json_lines(&first).len(), 3);

    // Everything done: nothing analysed again.
    let again = analyze(&args);
    assert!(again.status.success());
    assert_eq!(stdout(&again), "");
    assert!(
        stderr(&again).contains("skipped 3 of 3"),
        "{}",
        stderr(&again)
    );

    // An interrupted run leaves only a temporary beside a missing result: that file is redone.
    std::fs::remove_file(out.join("x/2.ogg.json")).unwrap();
    std::fs::write(out.join("x/.2.ogg.json.part-999"), "{\"file\":").unwrap();
    let resumed = analyze(&args);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let lines = json_lines(&resumed);
    assert_eq!(lines.len(), 1);
    assert!(lines[0]["file"].as_str().unwrap().ends_with("2.ogg"));
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("x/2.ogg.json")).unwrap()).unwrap();
    assert_eq!(v, lines[0]);

    // A killed run's temporaries: an old one of a dead process is removed, a fresh one (a run
    // writing right now) is left alone, and neither is taken as a result.
    let stale = out.join("x/.1.flac.json.part-999999999");
    let fresh = out.join(format!(".3.wav.json.part-{}", std::process::id()));
    let unrelated = out.join(".notes.part-1");
    for p in [&stale, &fresh, &unrelated] {
        std::fs::write(p, "{\"file\":").unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    std::fs::remove_file(out.join("x/1.flac.json")).unwrap();
    let cleaned = analyze(&args);
    assert!(cleaned.status.success(), "{}", stderr(&cleaned));
    assert!(
        stderr(&cleaned).contains("removed 1 temporary files"),
        "{}",
        stderr(&cleaned)
    );
    assert!(!stale.exists() && fresh.exists() && unrelated.exists());
    let lines = json_lines(&cleaned);
    assert_eq!(lines.len(), 1, "only the missing result is redone");
    assert!(lines[0]["file"].as_str().unwrap().ends_with("1.flac"));
    std::fs::remove_file(&fresh).unwrap();

    // Asking for another export redoes the files that lack it.
    let more = analyze(&[&args[..], &["--export", "json", "--export", "audacity"]].concat());
    assert!(more.status.success(), "{}", stderr(&more));
    assert_eq!(json_lines(&more).len(), 3);
    assert!(out.join("3.wav.txt").is_file());
}

#[test]
fn an_unwritable_output_dir_fails_before_any_analysis() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let wav = fixture("audio/cello.wav");
    for dir in [file.clone(), file.join("sub")] {
        let o = analyze(&[s(&wav), "--format", "json", "--output-dir", s(&dir)]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert_eq!(stdout(&o), "", "nothing analysed");
        assert!(stderr(&o).contains("--output-dir"), "{}", stderr(&o));
        // an explicit export path in a folder that cannot exist fails the same way
        let png = format!("png={}", s(&dir.join("t.png")));
        let o = analyze(&[s(&wav), "--format", "json", "--export", &png]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert_eq!(stdout(&o), "", "nothing analysed");
        assert!(stderr(&o).contains("--export png="), "{}", stderr(&o));
    }
}

#[test]
fn usage_errors_are_caught_before_analysis() {
    let d = tempfile::tempdir().unwrap();
    let wav = fixture("audio/cello.wav");
    let flac = fixture("audio/cello.flac");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![s(&wav), "--export", "midi"], "needs a path"),
        (
            vec![s(&wav), s(&flac), "--export", "midi=x.mid"],
            "one input",
        ),
        (vec![s(&wav), "--skip-existing"], "--output-dir"),
        (
            vec![
                s(&wav),
                "--output-dir",
                s(d.path()),
                "--export",
                "png=x.png",
            ],
            "without a path",
        ),
    ];
    for (args, msg) in cases {
        let o = analyze(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
    // The same relative path from two folders would overwrite one result with the other.
    for sub in ["p", "q"] {
        std::fs::create_dir_all(d.path().join(sub)).unwrap();
        std::fs::copy(&wav, d.path().join(sub).join("x.wav")).unwrap();
    }
    let (p, q, out) = (d.path().join("p"), d.path().join("q"), d.path().join("out"));
    let o = analyze(&[s(&p), s(&q), "--output-dir", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("same results"), "{}", stderr(&o));
}

//! The standalone app starts with the dummy audio backend (no display: no editor) and exits
//! cleanly on SIGINT. Needs the `standalone` feature:
//!
//!     cargo test --features standalone --test plugin_standalone
#![cfg(feature = "standalone")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn standalone_starts_with_dummy_backend_and_exits_cleanly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_instrument-meter-standalone"))
        .args(["--backend", "dummy"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the standalone app");
    // Let it activate the plugin (model, worker thread) and run the dummy backend for a while.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the standalone app exited on its own"
    );
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("the standalone app did not exit within 15 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
}

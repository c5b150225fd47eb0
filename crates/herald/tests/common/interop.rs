//! Running programs Herald did not write (stomp.py, Node scripts, Chromium, schemathesis) from
//! tests. `scripts/test` installs them and sets `HERALD_INTEROP=required`; a plain `cargo test`
//! without them skips those tests, saying so.

use std::path::PathBuf;
use std::time::Duration;

pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

pub fn required() -> bool {
    std::env::var("HERALD_INTEROP").is_ok_and(|v| v == "required")
}

/// Runs a client script to completion; panics with its output unless it exits 0.
pub async fn run(program: &str, args: &[String]) {
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(interop_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), child)
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in 90 s"))
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprint!("{stdout}");
}

/// The Python with stomp.py that `scripts/test` prepared, or `None` (the test is skipped).
pub fn python() -> Option<String> {
    let python = std::env::var("HERALD_INTEROP_PYTHON").ok();
    if python.is_none() {
        assert!(
            !required(),
            "HERALD_INTEROP_PYTHON is not set; run ./scripts/test"
        );
        eprintln!("skipped: HERALD_INTEROP_PYTHON is not set (./scripts/test sets it)");
    }
    python
}

/// Whether every path (absolute, or relative to the repository) exists. When one is missing the
/// test is skipped, saying so, unless `./scripts/test` required the interop tests to run.
pub fn available(paths: &[&str]) -> bool {
    let root = interop_dir().join("../..");
    let missing: Vec<&&str> = paths.iter().filter(|p| !root.join(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !required(),
        "{missing:?} missing; run ./scripts/test, which installs them"
    );
    eprintln!("skipped: {missing:?} missing (./scripts/test installs them)");
    false
}

/// Where a browser test saves its screenshot: `docs/img/<name>` when
/// `HERALD_UPDATE_SCREENSHOT=1` refreshes the pictures in the docs, otherwise a scratch file, so
/// a test run leaves the work tree as it was. Any old file is removed first.
pub fn screenshot_path(name: &str) -> PathBuf {
    let path = if std::env::var("HERALD_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/img");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
    };
    let _ = std::fs::remove_file(&path);
    path
}

//! Shared helpers for Flagstone's integration tests.
//!
//! Golden files live under `tests/data/`; run the tests with
//! `UPDATE_GOLDEN=1` to rewrite them, then review the diff.

use std::path::{Path, PathBuf};

/// The `tests/data` directory.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Compares `actual` with the golden file at `path`, or rewrites it when
/// `UPDATE_GOLDEN=1`.
///
/// # Panics
/// When the file is missing or differs (this is a test helper).
#[expect(clippy::panic, reason = "a test helper reports a mismatch by panicking")]
pub fn check_golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        if let Err(e) = std::fs::write(path, actual) {
            panic!("cannot write {}: {e}", path.display());
        }
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read golden file {} ({e}); run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "golden file {} differs (run with UPDATE_GOLDEN=1 and review the diff)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

/// The files in `dir` with extension `ext`, sorted by name.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Running the `flagstone` binary in tests, with golden files for its output.
///
/// The binary's path is only known inside the cli package
/// (`env!("CARGO_BIN_EXE_flagstone")`), so callers pass it in.
pub mod cli {
    use std::path::Path;
    use std::process::Command;

    /// What a run printed and how it exited.
    #[derive(Debug)]
    pub struct Run {
        /// The exit code (-1 when killed by a signal).
        pub code: i32,
        /// Standard output.
        pub stdout: String,
        /// Standard error.
        pub stderr: String,
    }

    /// Runs `bin` with `args` in the workspace root.
    ///
    /// # Panics
    /// When the binary cannot be started.
    #[expect(clippy::panic, reason = "a test helper reports failure by panicking")]
    pub fn run(bin: &str, args: &[&str]) -> Run {
        let out = Command::new(bin)
            .args(args)
            .current_dir(super::workspace_root())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Compares `actual` with `tests/data/golden/{rel}` (rewritten under `UPDATE_GOLDEN=1`).
    pub fn golden(rel: &str, actual: &str) {
        let path = super::data_dir().join("golden").join(rel);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        super::check_golden(Path::new(&path), actual);
    }

    /// Runs a command that must succeed and checks its stdout against `rel`.
    ///
    /// # Panics
    /// When it fails or its output differs.
    #[expect(clippy::panic, reason = "a test helper reports failure by panicking")]
    pub fn check_ok(bin: &str, args: &[&str], rel: &str) -> String {
        let r = run(bin, args);
        if r.code != 0 {
            panic!("{args:?} exited {}: {}", r.code, r.stderr);
        }
        golden(rel, &r.stdout);
        r.stdout
    }

    /// Runs a command that must fail as bad input (exit 2, nothing on stdout)
    /// and checks its stderr against `rel`.
    ///
    /// # Panics
    /// When it does not fail that way or its message differs.
    #[expect(clippy::panic, reason = "a test helper reports failure by panicking")]
    pub fn check_bad_input(bin: &str, args: &[&str], rel: &str) {
        let r = run(bin, args);
        if r.code != 2 || !r.stdout.is_empty() {
            panic!(
                "{args:?}: expected exit 2 and no stdout, got {} with stdout {:?} and stderr {:?}",
                r.code, r.stdout, r.stderr
            );
        }
        golden(rel, &r.stderr);
    }
}

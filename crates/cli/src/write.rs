//! Writing a file so that a crash never leaves it half-written.
//!
//! The new contents go to a temporary file in the same directory (so the
//! rename stays on one file system), are flushed to disk with `fsync`, and
//! then replace the old file with one `rename`, which is atomic on POSIX file
//! systems: a reader sees the old file or the new one, never a mix. The
//! directory is synced afterwards so that the rename itself survives a power
//! loss. A symlink is followed: the file it points to is replaced.

use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replaces the file at `path` with `contents`, atomically.
///
/// The file keeps its permissions. On failure the old file is untouched and
/// the temporary file is removed.
///
/// # Errors
/// Any I/O failure, naming the file (exit code 1: not the user's input).
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp_path, mut tmp) = create_temp(&dir, &target)
        .with_context(|| format!("{}: cannot create a temporary file", target.display()))?;
    let result = fill(&mut tmp, &target, contents).and_then(|()| {
        drop(tmp);
        std::fs::rename(&tmp_path, &target)
            .with_context(|| format!("{}: cannot replace the file", target.display()))
    });
    if result.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = std::fs::remove_file(&tmp_path);
        return result;
    }
    sync_dir(&dir);
    Ok(())
}

/// Writes and syncs the temporary file, copying the target's permissions.
fn fill(tmp: &mut File, target: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let context = || format!("{}: cannot write the new contents", target.display());
    if let Ok(meta) = std::fs::metadata(target) {
        tmp.set_permissions(meta.permissions()).with_context(context)?;
    }
    tmp.write_all(contents).with_context(context)?;
    tmp.sync_all().with_context(context)
}

/// Creates `.{name}.tmp-{pid}-{n}` next to the target, never reusing a file.
fn create_temp(dir: &Path, target: &Path) -> std::io::Result<(PathBuf, File)> {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let pid = std::process::id();
    let mut attempt = 0u32;
    loop {
        let candidate = dir.join(format!(".{name}.tmp-{pid}-{attempt}"));
        match OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Syncs a directory so that a rename in it is durable. Not every platform
/// can open a directory for syncing; the rename has happened either way.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "flagstone-write-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_contents_and_leaves_no_temporary_file() {
        let dir = scratch("replace");
        let file = dir.join("config.json");
        std::fs::write(&file, "old").unwrap();
        write_atomic(&file, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        let names: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["config.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn creates_a_missing_file_and_fails_in_a_missing_directory() {
        let dir = scratch("create");
        let file = dir.join("new.json");
        write_atomic(&file, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");
        let err = write_atomic(&dir.join("missing/x.json"), b"{}").unwrap_err();
        assert!(format!("{err:#}").contains("cannot create a temporary file"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

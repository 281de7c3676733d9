//! Saving an edited config: validate the whole result, then show or write it.
//!
//! Edits (`allocate --write`, lifecycle moves) rewrite the config in its
//! canonical form: pretty-printed JSON with two-space indentation, fields in
//! the model's order, defaults left out, and a final newline. Previews diff
//! the canonical form of the file as read against the result, so they show
//! only what the edit changes, not formatting.

use crate::diff::unified;
use crate::exit::bad_input;
use crate::write::write_atomic;
use flagstone_model::{Config, validate};
use std::path::Path;

/// Whether to write the edit or only show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Print the unified diff on stdout; write nothing.
    Preview,
    /// Replace the file atomically.
    Write,
}

/// The canonical text of a config.
///
/// # Errors
/// Serialisation failures (not expected for a parsed config).
pub fn canonical(config: &Config) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(config)?;
    text.push('\n');
    Ok(text)
}

/// Validates `after` and previews or writes it over `file`.
///
/// Validation errors are printed to stderr, one per line with its path, and
/// nothing is written.
///
/// # Errors
/// Bad input (exit 2) when the edited config does not validate; an I/O
/// failure (exit 1) when the file cannot be replaced.
pub fn save(file: &Path, before: &Config, after: &Config, mode: Mode) -> anyhow::Result<()> {
    let report = validate(after);
    if !report.is_ok() {
        for error in &report.errors {
            eprintln!("{error}");
        }
        let n = report.errors.len();
        return Err(bad_input(format!(
            "{}: the result has {n} validation error{}; nothing written",
            file.display(),
            if n == 1 { "" } else { "s" }
        )));
    }
    let text = canonical(after)?;
    match mode {
        Mode::Preview => {
            let label = file.display().to_string();
            print!("{}", unified(&canonical(before)?, &text, &label, &format!("{label} (after)")));
            Ok(())
        }
        Mode::Write => write_atomic(file, text.as_bytes()),
    }
}

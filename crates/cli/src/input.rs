//! Reading the user's files: every failure is bad input (exit 2) naming the file.

use crate::exit::bad_input;
use flagstone_model::{Config, ParseError, parse_config};
use std::path::Path;

/// Reads a whole file as UTF-8, naming the file in the error.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("{}: cannot read: {e}", path.display())))
}

/// Reads and parses a config file (shape only; see `validate`).
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = read_text(path)?;
    parse_config(&text).map_err(|e| parse_failure(path, &e))
}

/// Names the file, and for JSON errors the path, line and column.
pub fn parse_failure(path: &Path, err: &ParseError) -> anyhow::Error {
    bad_input(format!("{}: {err}", path.display()))
}

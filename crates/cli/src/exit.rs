//! Exit codes and error reporting shared by every subcommand.

use crate::input::InputError;
use std::fmt;
use std::process::ExitCode;

/// Marks an error as caused by the user's input (exit code 2).
///
/// Wrap the message that names the file, the place and what was expected:
/// `return Err(bad_input(format!("{path}: ...")))`.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Builds an [`anyhow::Error`] that exits with code 2.
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(message.into()))
}

/// Prints a failure to stderr and maps it to the process exit code: 2 when a [`BadInput`] or
/// an [`InputError`] is in its chain, else 1.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.chain().any(|cause| cause.is::<BadInput>() || cause.is::<InputError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

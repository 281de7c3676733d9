//! Exit codes and error reporting shared by every subcommand.

pub use crate::input::{BadInput, bad_input};

use crate::input::InputError;
use std::process::ExitCode;

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

//! Why an aggregation failed: every error names the place (file, line, JSON path).

use std::fmt;

/// Where an input problem is: a file (or an in-memory source such as `exposures`) and,
/// for one record, its line (1-based; the record's position for in-memory input).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The file's path as given, or the name of an in-memory source.
    pub source: String,
    /// The line (or record position, from 1) when the problem is in one record.
    pub line: Option<usize>,
}

impl Place {
    /// A whole source.
    pub fn source(source: impl Into<String>) -> Self {
        Place { source: source.into(), line: None }
    }

    /// One line of a source.
    pub fn line(source: impl Into<String>, line: usize) -> Self {
        Place { source: source.into(), line: Some(line) }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.source),
            None => f.write_str(&self.source),
        }
    }
}

/// Why exposures and events could not be aggregated. All of them are caused by the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// A file could not be opened or read, or is not UTF-8.
    #[error("{place}: cannot read: {source}")]
    Read {
        /// The file, and the line being read.
        place: Place,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A JSON-lines line is longer than [`crate::MAX_LINE_BYTES`].
    #[error("{place}: line longer than {} bytes", crate::MAX_LINE_BYTES)]
    LineTooLong {
        /// The file and line.
        place: Place,
    },
    /// A line is not JSON, or not of the expected shape.
    #[error("{place}: {path}: {source}")]
    Json {
        /// The file and line.
        place: Place,
        /// The JSON path of the problem; `(root)` for the line itself.
        path: String,
        /// The parser's message, with the column.
        source: serde_json::Error,
    },
    /// A `time` that is not an RFC 3339 timestamp.
    #[error("{place}: time: expected an RFC 3339 timestamp, got {text:?} ({reason})")]
    Time {
        /// The file and line.
        place: Place,
        /// The text found.
        text: String,
        /// Why it does not parse.
        reason: String,
    },
    /// An event value that is NaN or infinite.
    #[error("{place}: value: expected a finite number")]
    NotFinite {
        /// The file and line.
        place: Place,
    },
    /// The exposures hold several flags and none was chosen.
    #[error("{place}: exposures hold several flags ({}); choose one with --flag", flags.join(", "))]
    SeveralFlags {
        /// The exposures.
        place: Place,
        /// The flags, in name order.
        flags: Vec<String>,
    },
    /// Fewer than two variants were exposed (in the window, for the flag).
    #[error("{place}: expected exposures to at least two variants, found {found}")]
    TooFewVariants {
        /// The exposures.
        place: Place,
        /// How many variants were found.
        found: usize,
    },
    /// The window ends before it starts.
    #[error("window: expected the start ({start}) before the end ({end})")]
    EmptyWindow {
        /// The start.
        start: jiff::Timestamp,
        /// The end.
        end: jiff::Timestamp,
    },
}

//! Reading the user's files: every failure is bad input (exit 2) naming the file.
//!
//! JSON goes through two helpers: [`parse_json`] for a whole document (a file or an
//! argument) and [`jsonl`] for a JSON-lines file, streamed one line at a time. Their
//! [`InputError`]s name the file (or argument), the line for JSON lines, and the JSON
//! path of the problem: `events.jsonl:3: value: invalid type: string "x", expected f64 ...`.

use flagstone_model::{Config, ParseError, parse_config};
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

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

/// The longest JSON-lines line accepted, in bytes, its line break included (16 MiB).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

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

/// Where a whole JSON document comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A file, read whole.
    File(&'a Path),
    /// JSON given as an argument; `name` (such as `--context`) says where in errors.
    Text {
        /// What errors call it.
        name: &'a str,
        /// The JSON.
        text: &'a str,
    },
}

impl<'a> Source<'a> {
    /// An argument that is inline JSON, or `@FILE` to read the JSON from a file.
    pub fn arg(name: &'a str, value: &'a str) -> Self {
        match value.strip_prefix('@') {
            Some(file) => Source::File(Path::new(file)),
            None => Source::Text { name, text: value },
        }
    }

    /// The name errors give it: the file's path, or the argument's name.
    pub fn name(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Text { name, .. } => (*name).to_owned(),
        }
    }
}

/// Reads and parses one JSON document (nothing but whitespace may follow it).
///
/// # Errors
/// [`InputError`] naming the source and, for a document of the wrong shape, the JSON path.
pub fn parse_json<T: DeserializeOwned>(source: Source<'_>) -> Result<T, InputError> {
    let text = match source {
        Source::File(path) => Cow::Owned(
            std::fs::read_to_string(path)
                .map_err(|e| InputError::new(source.name(), None, Problem::Read(e)))?,
        ),
        Source::Text { text, .. } => Cow::Borrowed(text),
    };
    from_json(&text).map_err(|problem| InputError::new(source.name(), None, problem))
}

/// Opens a JSON-lines file: one `T` per non-blank line, read lazily in constant memory.
///
/// # Errors
/// [`InputError`] when the file cannot be opened; the lines' own errors come from the iterator.
pub fn jsonl<T: DeserializeOwned>(path: &Path) -> Result<JsonLines<T>, InputError> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::new(path.display().to_string(), None, Problem::Read(e)))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(JsonLines {
        path: path.to_path_buf(),
        reader: BufReader::new(file),
        buffer: String::new(),
        line: 0,
        bytes: 0,
        size,
        done: false,
        item: PhantomData,
    })
}

/// One line of a JSON-lines file, parsed.
#[derive(Debug)]
pub struct Line<T> {
    /// The line number, from 1.
    pub number: usize,
    /// What the line holds.
    pub value: T,
}

/// The lines of a JSON-lines file, from [`jsonl`]. Blank lines are skipped; a line that is
/// not a `T` gives an error and reading goes on; a read error or a line longer than
/// [`MAX_LINE_BYTES`] gives an error and ends the iteration.
#[derive(Debug)]
pub struct JsonLines<T> {
    path: PathBuf,
    reader: BufReader<std::fs::File>,
    buffer: String,
    line: usize,
    bytes: u64,
    size: u64,
    done: bool,
    item: PhantomData<fn() -> T>,
}

impl<T> JsonLines<T> {
    /// How many lines were read so far, blank ones included.
    pub fn lines_read(&self) -> usize {
        self.line
    }

    /// How many bytes were read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The file's size when it was opened (0 when unknown).
    pub fn size(&self) -> u64 {
        self.size
    }

    fn fail(&mut self, line: usize, problem: Problem) -> InputError {
        self.done = true;
        InputError::new(self.path.display().to_string(), Some(line), problem)
    }
}

impl<T: DeserializeOwned> Iterator for JsonLines<T> {
    type Item = Result<Line<T>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            let n = match self.reader.by_ref().take(limit).read_line(&mut self.buffer) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(n) => n,
                Err(e) => return Some(Err(self.fail(self.line + 1, Problem::Read(e)))),
            };
            self.line += 1;
            self.bytes += n as u64;
            if n > MAX_LINE_BYTES {
                return Some(Err(self.fail(self.line, Problem::LineTooLong)));
            }
            if self.buffer.trim().is_empty() {
                continue;
            }
            let number = self.line;
            // Without its line break, so that the parser's columns are those of the line.
            let text = self.buffer.strip_suffix('\n').unwrap_or(&self.buffer);
            let text = text.strip_suffix('\r').unwrap_or(text);
            return Some(match from_json(text) {
                Ok(value) => Ok(Line { number, value }),
                Err(problem) => {
                    Err(InputError::new(self.path.display().to_string(), Some(number), problem))
                }
            });
        }
        None
    }
}

/// Parses one JSON text into a `T`, tracking the JSON path of the first problem.
fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { ROOT.to_owned() } else { path };
        Problem::Json { path, error: e.into_inner() }
    })?;
    de.end().map_err(|error| Problem::Json { path: ROOT.to_owned(), error })?;
    Ok(value)
}

/// How errors name the document itself.
const ROOT: &str = "(root)";

/// A JSON input that could not be read: where, and what went wrong.
///
/// Displays as `{file}[:{line}]: {problem}`; it is bad input (exit 2).
#[derive(Debug)]
pub struct InputError {
    origin: String,
    line: Option<usize>,
    problem: Problem,
}

impl InputError {
    fn new(origin: String, line: Option<usize>, problem: Problem) -> Self {
        InputError { origin, line, problem }
    }

    /// Where: the file (or argument), then `:{line}` for a JSON-lines line.
    pub fn location(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.origin),
            None => self.origin.clone(),
        }
    }

    /// What went wrong.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.problem)
    }
}

/// The problem's message is part of the display, so there is no separate source.
impl std::error::Error for InputError {}

/// What went wrong with a JSON input.
#[derive(Debug)]
pub enum Problem {
    /// The file could not be opened or read, or is not UTF-8.
    Read(std::io::Error),
    /// A JSON-lines line is longer than [`MAX_LINE_BYTES`].
    LineTooLong,
    /// The text is not JSON, or not of the expected shape.
    Json {
        /// The JSON path of the problem; `(root)` for the document itself.
        path: String,
        /// The parser's message, with the line and column.
        error: serde_json::Error,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Read(e) => write!(f, "cannot read: {e}"),
            Problem::LineTooLong => write!(f, "line longer than {MAX_LINE_BYTES} bytes"),
            Problem::Json { path, error } => write!(f, "{path}: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::io::Write;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        n: u32,
    }

    fn temp_file(name: &str, text: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flagstone-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::File::create(&path).unwrap().write_all(text).unwrap();
        path
    }

    #[test]
    fn json_lines_skip_blank_lines_and_name_file_line_and_path() {
        let path = temp_file("items.jsonl", b"{\"n\": 1}\n\n  \n{\"n\": \"two\"}\n{\"n\": 3}");
        let shown = path.display().to_string();
        let items: Vec<_> = jsonl::<Item>(&path).unwrap().collect();
        assert_eq!(items.len(), 3);
        let first = items[0].as_ref().unwrap();
        assert_eq!((first.number, &first.value), (1, &Item { n: 1 }));
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(err.location(), format!("{shown}:4"));
        assert!(err.to_string().starts_with(&format!("{shown}:4: n: invalid type")), "{err}");
        // Reading goes on after a line of the wrong shape.
        assert_eq!(items[2].as_ref().unwrap().number, 5);
    }

    #[test]
    fn json_lines_report_columns_of_the_line() {
        let path = temp_file("columns.jsonl", b"{\"n\": 1}\r\n  {\"n\": \r\n");
        let items: Vec<_> = jsonl::<Item>(&path).unwrap().collect();
        assert!(items[0].is_ok());
        let err = items[1].as_ref().unwrap_err();
        assert!(
            err.to_string().ends_with(":2: n: EOF while parsing a value at line 1 column 8"),
            "{err}"
        );
    }

    #[test]
    fn json_lines_reject_trailing_text_and_count_bytes() {
        let path = temp_file("trailing.jsonl", b"{\"n\": 1} {\"n\": 2}\n");
        let mut lines = jsonl::<Item>(&path).unwrap();
        assert_eq!(lines.size(), 18);
        let err = lines.next().unwrap().unwrap_err();
        assert!(err.to_string().contains(":1: (root): trailing characters"), "{err}");
        assert!(lines.next().is_none());
        assert_eq!((lines.lines_read(), lines.bytes_read()), (1, 18));
    }

    #[test]
    fn invalid_utf8_ends_the_lines() {
        let path = temp_file("latin1.jsonl", b"{\"n\": 1}\n{\"s\": \"\xe9\"}\n{\"n\": 3}\n");
        let mut lines = jsonl::<Item>(&path).unwrap();
        assert!(lines.next().unwrap().is_ok());
        let err = lines.next().unwrap().unwrap_err();
        assert!(matches!(err.problem(), Problem::Read(_)), "{err}");
        assert!(err.to_string().contains(":2: cannot read: "), "{err}");
        assert!(lines.next().is_none());
    }

    #[test]
    fn documents_from_files_and_arguments() {
        let path = temp_file("item.json", b"{\"n\": 7}\n");
        let arg = format!("@{}", path.display());
        assert_eq!(parse_json::<Item>(Source::arg("--item", &arg)).unwrap(), Item { n: 7 });
        let err = parse_json::<Item>(Source::arg("--item", "{\"m\": 1}")).unwrap_err();
        assert!(err.to_string().starts_with("--item: m: unknown field `m`"), "{err}");
        let err = parse_json::<Item>(Source::arg("--item", "{\"n\": 1} x")).unwrap_err();
        assert!(err.to_string().starts_with("--item: (root): trailing characters"), "{err}");
        let err = parse_json::<Item>(Source::File(Path::new("no/such.json"))).unwrap_err();
        assert!(err.to_string().starts_with("no/such.json: cannot read: "), "{err}");
    }
}

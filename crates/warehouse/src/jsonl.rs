//! Reading JSON-lines files one line at a time, in constant memory.

use crate::error::{AggregateError, Place};
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::Path;

/// The longest JSON-lines line accepted, in bytes, its line break included (16 MiB).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The lines of a JSON-lines file: blank lines are skipped; a line that is not a `T` is an
/// error naming the file, the line and the JSON path.
pub(crate) struct JsonLines<T> {
    source: String,
    reader: Option<BufReader<std::fs::File>>,
    buffer: String,
    line: usize,
    bytes: u64,
    size: u64,
    item: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonLines<T> {
    /// Opens `path`; with `missing_is_empty`, a file that does not exist has no lines.
    pub(crate) fn open(path: &Path, missing_is_empty: bool) -> Result<Self, AggregateError> {
        let source = path.display().to_string();
        let mut size = 0;
        let reader = match std::fs::File::open(path) {
            Ok(file) => {
                size = file.metadata().map(|m| m.len()).unwrap_or(0);
                Some(BufReader::new(file))
            }
            Err(e) if missing_is_empty && e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AggregateError::Read { place: Place::source(source), source: e }),
        };
        Ok(JsonLines {
            source,
            reader,
            buffer: String::new(),
            line: 0,
            bytes: 0,
            size,
            item: PhantomData,
        })
    }

    /// Lines and bytes read so far, and the file's size when it was opened.
    pub(crate) fn position(&self) -> (usize, u64, u64) {
        (self.line, self.bytes, self.size)
    }

    /// The file's name as errors give it.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

impl<T: DeserializeOwned> Iterator for JsonLines<T> {
    type Item = Result<(usize, T), AggregateError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let reader = self.reader.as_mut()?;
            self.buffer.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            let n = match reader.by_ref().take(limit).read_line(&mut self.buffer) {
                Ok(0) => {
                    self.reader = None;
                    return None;
                }
                Ok(n) => n,
                Err(e) => {
                    self.reader = None;
                    let place = Place::line(self.source.clone(), self.line + 1);
                    return Some(Err(AggregateError::Read { place, source: e }));
                }
            };
            self.line += 1;
            self.bytes += n as u64;
            if n > MAX_LINE_BYTES {
                self.reader = None;
                let place = Place::line(self.source.clone(), self.line);
                return Some(Err(AggregateError::LineTooLong { place }));
            }
            if self.buffer.trim().is_empty() {
                continue;
            }
            let text = self.buffer.strip_suffix('\n').unwrap_or(&self.buffer);
            let text = text.strip_suffix('\r').unwrap_or(text);
            let place = || Place::line(self.source.clone(), self.line);
            return Some(
                from_json(text).map(|v| (self.line, v)).map_err(|(path, source)| {
                    AggregateError::Json { place: place(), path, source }
                }),
            );
        }
    }
}

/// Parses one JSON text, with the JSON path of the first problem.
fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, (String, serde_json::Error)> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { ROOT.to_owned() } else { path };
        (path, e.into_inner())
    })?;
    de.end().map_err(|error| (ROOT.to_owned(), error))?;
    Ok(value)
}

/// How errors name the line itself.
const ROOT: &str = "(root)";

//! A buffered JSON-lines exposure writer.

use flagstone_core::exposure::{Exposure, ExposureSink, SinkError};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Writes one JSON object per line; flushes when the buffer passes
/// `max_buffer_bytes`, when the oldest buffered line is older than
/// `max_delay`, on [`ExposureSink::flush`], and on drop.
///
/// The age is checked when an exposure arrives: a sink that receives
/// nothing more keeps its lines until flushed or dropped.
#[derive(Debug)]
pub struct JsonLinesSink<W: Write + Send> {
    state: Mutex<State<W>>,
    max_buffer_bytes: usize,
    max_delay: Duration,
}

#[derive(Debug)]
struct State<W> {
    out: W,
    buffer: Vec<u8>,
    oldest: Option<Instant>,
    written: u64,
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// A writer with a 64 KiB buffer and a one-second delay.
    pub fn new(out: W) -> Self {
        JsonLinesSink::with_thresholds(out, 64 * 1024, Duration::from_secs(1))
    }

    /// A writer with explicit thresholds.
    pub fn with_thresholds(out: W, max_buffer_bytes: usize, max_delay: Duration) -> Self {
        JsonLinesSink {
            state: Mutex::new(State { out, buffer: Vec::new(), oldest: None, written: 0 }),
            max_buffer_bytes,
            max_delay,
        }
    }

    /// How many exposures were written to the destination so far.
    pub fn written(&self) -> u64 {
        self.state.lock().map(|s| s.written).unwrap_or(0)
    }
}

impl<W> State<W>
where
    W: Write,
{
    fn flush(&mut self) -> Result<(), SinkError> {
        if !self.buffer.is_empty() {
            self.out.write_all(&self.buffer).map_err(|e| SinkError::new(format!("write: {e}")))?;
            self.written += self.buffer.iter().filter(|&&b| b == b'\n').count() as u64;
            self.buffer.clear();
        }
        self.oldest = None;
        self.out.flush().map_err(|e| SinkError::new(format!("flush: {e}")))
    }
}

impl<W: Write + Send> ExposureSink for JsonLinesSink<W> {
    fn record(&self, exposure: Exposure) -> Result<(), SinkError> {
        let mut state = self.state.lock().map_err(|_| SinkError::new("writer poisoned"))?;
        serde_json::to_writer(&mut state.buffer, &exposure)
            .map_err(|e| SinkError::new(format!("encode: {e}")))?;
        state.buffer.push(b'\n');
        let oldest = *state.oldest.get_or_insert_with(Instant::now);
        if state.buffer.len() >= self.max_buffer_bytes || oldest.elapsed() >= self.max_delay {
            state.flush()?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        self.state.lock().map_err(|_| SinkError::new("writer poisoned"))?.flush()
    }
}

impl<W: Write + Send> Drop for JsonLinesSink<W> {
    fn drop(&mut self) {
        // Nothing to report to from a destructor; callers who must know call `flush` first.
        if let Ok(state) = self.state.get_mut() {
            let _ = state.flush();
        }
    }
}

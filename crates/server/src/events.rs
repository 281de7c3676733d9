//! The namespace's exposure log and metric event log, JSON lines under the data directory.
//!
//! Exposures leave the request path through the engine's bounded
//! [`ChannelSink`] (never blocks; drops and counts when full) and are written
//! by one thread per namespace with the store crate's [`JsonLinesSink`].
//! Metric events are appended by the request that brings them.

use crate::names::NamespaceName;
use flagstone_core::exposure::{ChannelSink, Exposure, ExposureSink};
use flagstone_store::JsonLinesSink;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Exposures in flight per namespace before new ones are dropped.
pub const EXPOSURE_QUEUE: usize = 65_536;

fn open_append(
    dir: &Path,
    folder: &str,
    name: &NamespaceName,
) -> Result<(PathBuf, File), (PathBuf, std::io::Error)> {
    let parent = dir.join(folder).join(name.project());
    let path = parent.join(format!("{}.jsonl", name.environment()));
    std::fs::create_dir_all(&parent).map_err(|e| (parent.clone(), e))?;
    let file =
        OpenOptions::new().create(true).append(true).open(&path).map_err(|e| (path.clone(), e))?;
    Ok((path, file))
}

/// How long the writer waits for an exposure before it flushes what it holds.
const WRITER_POLL: Duration = Duration::from_millis(200);
/// The longest [`ExposureLog::flush`] waits for the writer.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// The handshake of [`ExposureLog::flush`]: callers take a ticket, the
/// writer drains its queue, flushes, and marks the tickets done.
#[derive(Debug, Default)]
struct Flushes {
    requested: AtomicU64,
    done: AtomicU64,
    /// How many exposures the writer had received when it last flushed.
    flushed: AtomicU64,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Flushes {
    /// The ticket the writer should serve now, if one is waiting.
    fn pending(&self) -> Option<u64> {
        let wanted = self.requested.load(Ordering::Acquire);
        (wanted > self.done.load(Ordering::Acquire)).then_some(wanted)
    }

    fn served(&self, ticket: u64) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.done.fetch_max(ticket, Ordering::AcqRel);
        self.wake.notify_all();
    }
}

/// A namespace's exposures: `DIR/exposures/{project}/{environment}.jsonl`.
#[derive(Debug)]
pub struct ExposureLog {
    path: PathBuf,
    channel: ChannelSink,
    /// Exposures handed to the channel (dropped ones included).
    recorded: AtomicU64,
    stop: Arc<AtomicBool>,
    flushes: Arc<Flushes>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl ExposureLog {
    pub(crate) fn open(
        dir: &Path,
        name: &NamespaceName,
    ) -> Result<Self, (PathBuf, std::io::Error)> {
        let (path, file) = open_append(dir, "exposures", name)?;
        let (channel, receiver) = ChannelSink::bounded(EXPOSURE_QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let flushes = Arc::new(Flushes::default());
        let asked = flushes.clone();
        let shown = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("flagstone-exposures".into())
            .spawn(move || {
                let sink = JsonLinesSink::new(file);
                let report = |result: Result<(), flagstone_core::exposure::SinkError>| {
                    if let Err(e) = result {
                        tracing::error!(file = %shown, error = %e, "exposure log");
                    }
                };
                let received = std::cell::Cell::new(0_u64);
                let write = |exposure: Exposure| {
                    received.set(received.get() + 1);
                    report(sink.record(exposure));
                };
                // Flushes the file and notes how many exposures it holds.
                let flush = || match sink.flush() {
                    Ok(()) => asked.flushed.store(received.get(), Ordering::Release),
                    Err(e) => report(Err(e)),
                };
                loop {
                    match receiver.recv_timeout(WRITER_POLL) {
                        Ok(exposure) => write(exposure),
                        Err(RecvTimeoutError::Timeout) => {
                            flush();
                            if stopping.load(Ordering::Acquire) {
                                break;
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if let Some(ticket) = asked.pending() {
                        // Everything queued before the ticket was taken is in the channel now.
                        while let Ok(exposure) = receiver.try_recv() {
                            write(exposure);
                        }
                        flush();
                        asked.served(ticket);
                    }
                }
                while let Ok(exposure) = receiver.try_recv() {
                    write(exposure);
                }
                flush();
                asked.served(u64::MAX);
            })
            .map_err(|e| (path.clone(), e))?;
        Ok(ExposureLog {
            path,
            channel,
            recorded: AtomicU64::new(0),
            stop,
            flushes,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Waits until every exposure recorded before the call is in the file
    /// (blocking; at most about two writer polls, 200 ms each; at once when
    /// the writer has flushed every exposure recorded so far). Returns
    /// whether it got there within two seconds.
    pub fn flush(&self) -> bool {
        let flushes = &self.flushes;
        // The channel is first in, first out: once the writer has flushed as
        // many as were recorded, every one recorded before now is in the
        // file. (After a dropped exposure the counts never meet again and
        // every flush takes the handshake below.)
        if flushes.flushed.load(Ordering::Acquire) >= self.recorded.load(Ordering::SeqCst) {
            return true;
        }
        let ticket = flushes.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let guard = flushes.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (_guard, waited) = flushes
            .wake
            .wait_timeout_while(guard, FLUSH_WAIT, |()| {
                flushes.done.load(Ordering::Acquire) < ticket
            })
            .unwrap_or_else(PoisonError::into_inner);
        !waited.timed_out()
    }

    /// Hands one exposure to the writer; never blocks.
    pub fn record(&self, exposure: Exposure) {
        self.recorded.fetch_add(1, Ordering::SeqCst);
        // ChannelSink never fails: a full queue is counted in `dropped`.
        let _ = self.channel.record(exposure);
    }

    /// Exposures dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.channel.dropped()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes out what is queued and stops the writer.
    pub(crate) fn close(&self) {
        self.stop.store(true, Ordering::Release);
        let handle = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// One metric event, as `flagstone aggregate` reads them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The unit (the targeting key the exposures carry).
    pub unit: String,
    /// The metric.
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// When, RFC 3339 (the server's clock when absent).
    #[serde(default)]
    pub time: String,
}

/// The longest unit, as for targeting keys.
pub const MAX_UNIT_CHARS: usize = 100;
/// The longest metric name.
pub const MAX_METRIC_CHARS: usize = 256;

impl Event {
    /// Every problem of this event, with paths under `prefix`.
    pub fn problems(&mut self, prefix: &str, now: &str) -> Vec<crate::write::Problem> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(crate::write::Problem::new(format!("{prefix}.{field}"), message));
        };
        if self.unit.is_empty() || self.unit.chars().count() > MAX_UNIT_CHARS {
            problem("unit", format!("expected 1 to {MAX_UNIT_CHARS} characters"));
        }
        if self.metric.is_empty() || self.metric.chars().count() > MAX_METRIC_CHARS {
            problem("metric", format!("expected 1 to {MAX_METRIC_CHARS} characters"));
        }
        if !self.value.is_finite() {
            problem("value", "expected a finite number".into());
        }
        if self.time.is_empty() {
            self.time = now.to_owned();
        } else if self.time.parse::<jiff::Timestamp>().is_err() {
            problem("time", format!("expected an RFC 3339 time, got {:?}", self.time));
        }
        problems
    }
}

/// A namespace's metric events: `DIR/events/{project}/{environment}.jsonl`.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    out: Mutex<Option<BufWriter<File>>>,
}

impl EventLog {
    pub(crate) fn open(
        dir: &Path,
        name: &NamespaceName,
    ) -> Result<Self, (PathBuf, std::io::Error)> {
        let (path, file) = open_append(dir, "events", name)?;
        Ok(EventLog { path, out: Mutex::new(Some(BufWriter::new(file))) })
    }

    /// Appends events, one line each, and hands them to the OS (blocking).
    ///
    /// # Errors
    /// The I/O error, with the file's path first.
    pub fn append(&self, events: &[Event]) -> Result<(), String> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(out) = out.as_mut() else {
            return Err(format!("{}: closed", self.path.display()));
        };
        let fail = |e: std::io::Error| format!("{}: {e}", self.path.display());
        for event in events {
            serde_json::to_writer(&mut *out, event).map_err(|e| fail(e.into()))?;
            out.write_all(b"\n").map_err(fail)?;
        }
        out.flush().map_err(fail)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn close(&self) {
        if let Some(mut out) = self.out.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_writes_what_was_recorded_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let name = NamespaceName::new("p", "e").unwrap();
        let log = ExposureLog::open(dir.path(), &name).unwrap();
        let exposure = |unit: &str| Exposure {
            flag: "flags/f".into(),
            variant: Some("flags/f/variants/on".into()),
            rule: "flags/f/rules/r".into(),
            segment: "segments/s".into(),
            assignment_id: Some("on".into()),
            unit: unit.into(),
            targeting_key_selector: "targeting_key".into(),
            time: "2026-01-01T00:00:00Z".into(),
        };
        for i in 0..100 {
            log.record(exposure(&format!("u{i}")));
        }
        assert!(log.flush());
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 100);
        // Nothing new: the flush returns without the writer; something new: it waits for it.
        assert!(log.flush());
        for i in 0..20 {
            log.record(exposure(&format!("v{i}")));
            assert!(log.flush());
            let text = std::fs::read_to_string(log.path()).unwrap();
            assert_eq!(text.lines().count(), 101 + i);
            assert!(log.flush());
        }
        log.close();
        // After close the writer is gone and a flush returns at once.
        assert!(log.flush());
    }
}

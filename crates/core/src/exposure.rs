//! Exposures: which unit saw which variant through which rule, and when (spec §2.8).
//!
//! Offline analysis joins exposures with metric events per unit. An exposure
//! is made from a resolution that a rule decided ([`Exposure::from_resolution`]);
//! sinks receive them. [`ChannelSink`] hands them to another thread without
//! ever blocking the request path: when its bounded queue is full it drops
//! the exposure and counts it. Writers that do I/O live in `flagstone-store`.

use crate::context::{EvaluationContext, Unit};
use crate::resolution::Resolution;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// One unit exposed to one flag's variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exposure {
    /// The flag.
    pub flag: String,
    /// The variant (absent for a client-default assignment).
    pub variant: Option<String>,
    /// The rule that decided.
    pub rule: String,
    /// The rule's segment.
    pub segment: String,
    /// The assignment that decided (absent for a stored sticky assignment).
    pub assignment_id: Option<String>,
    /// The unit.
    pub unit: String,
    /// Where the unit was read in the context.
    pub targeting_key_selector: String,
    /// When, RFC 3339.
    pub time: String,
}

impl Exposure {
    /// The exposure of a resolution that a rule decided; `None` otherwise
    /// (no rule matched, flag archived or unknown, or no unit to record).
    pub fn from_resolution(
        r: &Resolution<'_>,
        ctx: &EvaluationContext<'_>,
        time: jiff::Timestamp,
    ) -> Option<Exposure> {
        let (rule, segment, selector) = (r.rule?, r.segment?, r.targeting_key_selector?);
        let unit = Unit::read(ctx.get(selector)).ok()??;
        Some(Exposure {
            flag: r.flag.to_owned(),
            variant: r.variant.map(str::to_owned),
            rule: rule.to_owned(),
            segment: segment.to_owned(),
            assignment_id: r.assignment_id.map(str::to_owned),
            unit: unit.as_str().to_owned(),
            targeting_key_selector: selector.to_owned(),
            time: time.to_string(),
        })
    }
}

/// Why a sink could not take an exposure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("exposure sink: {message}")]
#[non_exhaustive]
pub struct SinkError {
    /// What went wrong.
    pub message: String,
}

impl SinkError {
    /// A sink error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        SinkError { message: message.into() }
    }
}

/// Receives exposures. Shared between request threads, so it takes `&self`.
pub trait ExposureSink: Send + Sync {
    /// Takes one exposure.
    ///
    /// # Errors
    /// [`SinkError`] when the exposure cannot be taken (a writer's I/O error).
    fn record(&self, exposure: Exposure) -> Result<(), SinkError>;

    /// Pushes buffered exposures to their destination.
    ///
    /// # Errors
    /// [`SinkError`] when they cannot be written.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A bounded, non-blocking hand-off to a consumer thread.
#[derive(Debug)]
pub struct ChannelSink {
    sender: SyncSender<Exposure>,
    dropped: AtomicU64,
}

impl ChannelSink {
    /// A sink holding at most `capacity` exposures in flight, and the receiver to drain.
    pub fn bounded(capacity: usize) -> (ChannelSink, Receiver<Exposure>) {
        let (sender, receiver) = sync_channel(capacity);
        (ChannelSink { sender, dropped: AtomicU64::new(0) }, receiver)
    }

    /// How many exposures were dropped because the queue was full or the receiver gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl ExposureSink for ChannelSink {
    /// Never blocks: a full queue drops the exposure and counts it.
    fn record(&self, exposure: Exposure) -> Result<(), SinkError> {
        match self.sender.try_send(exposure) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(i: u32) -> Exposure {
        Exposure {
            flag: "flags/f".into(),
            variant: Some("flags/f/variants/on".into()),
            rule: "flags/f/rules/r".into(),
            segment: "segments/s".into(),
            assignment_id: Some("a".into()),
            unit: format!("u{i}"),
            targeting_key_selector: "targeting_key".into(),
            time: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_full_channel_drops_and_counts_without_blocking() {
        let (sink, receiver) = ChannelSink::bounded(2);
        for i in 0..5 {
            sink.record(exposure(i)).unwrap();
        }
        assert_eq!(sink.dropped(), 3);
        assert_eq!(receiver.try_iter().map(|e| e.unit).collect::<Vec<_>>(), ["u0", "u1"]);
        drop(receiver);
        sink.record(exposure(9)).unwrap();
        assert_eq!(sink.dropped(), 4);
    }

    #[test]
    fn exposures_serialise_camel_case() {
        let json = serde_json::to_value(exposure(1)).unwrap();
        assert_eq!(json["assignmentId"], "a");
        assert_eq!(json["targetingKeySelector"], "targeting_key");
    }
}

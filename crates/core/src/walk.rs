//! The state of one walk and its observer.
//!
//! [`Walk`] is what one call of [`Engine::evaluate`](crate::Engine::evaluate),
//! [`Engine::explain`](crate::Engine::explain) or
//! [`Engine::evaluate_sticky`](crate::Engine::evaluate_sticky) carries through the
//! rules: the dependency memo, the clock read once, the reference depth and, for a
//! sticky evaluation, the prefetched materializations ([`StickyView`]). A
//! [`Recorder`] observes the walk; the no-op one compiles away.

use crate::compiled::{Span, VariantIdx};
use crate::context::UnitError;
use crate::matcher::Outcome;
use crate::resolution::FlagId;
use crate::sticky::{Materialization, MaterializationKey, MaterializationWrite};
use jiff::Timestamp;

use flagstone_model::limits::MAX_REFERENCE_DEPTH;

/// Why a rule did not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    Disabled,
    NoUnit,
    BadUnit(UnitError),
    Targeting,
    Allocation,
    NoAssignment,
    Fallthrough,
    NotMaterialized,
}

/// Observes the walk. Every method defaults to nothing, so the no-op recorder compiles away.
pub(crate) trait Recorder {
    fn rule(&mut self, _rule_idx: usize) {}
    fn skip(&mut self, _why: Skip) {}
    fn unit(&mut self, _unit: &str) {}
    fn criterion(&mut self, _criterion_idx: usize, _outcome: Outcome) {}
    fn targeting(&mut self, _matched: bool) {}
    fn allocation(&mut self, _bucket: Option<u32>, _inside: bool) {}
    fn assignment(&mut self, _bucket: Option<u32>, _span: Option<Span>) {}
}

/// The recorder of plain evaluation.
pub(crate) struct NoRecorder;

impl Recorder for NoRecorder {}

/// Per-call state: dependency memo (inline, no allocation) and the clock read once.
pub(crate) struct Walk {
    memo: [(FlagId, Option<VariantIdx>); 8],
    n_memo: usize,
    now: Option<Timestamp>,
    depth: usize,
    /// Prefetched materializations; `None` on the plain path, which never touches a store.
    sticky: Option<StickyView>,
}

impl Walk {
    /// The walk of a plain evaluation, which never touches a store.
    pub(crate) fn new(now: Option<Timestamp>) -> Self {
        Walk { memo: [(FlagId(0), None); 8], n_memo: 0, now, depth: 0, sticky: None }
    }

    /// The walk of a sticky evaluation, over what the store held for its keys.
    pub(crate) fn sticky(
        now: Option<Timestamp>,
        stored: Vec<(MaterializationKey, Materialization)>,
    ) -> Self {
        Walk { sticky: Some(StickyView { stored, writes: Vec::new() }), ..Walk::new(now) }
    }

    /// The evaluation time: the caller's, else the system clock read once per call.
    pub(crate) fn now(&mut self) -> Timestamp {
        *self.now.get_or_insert_with(Timestamp::now)
    }

    /// The variant `flag` resolved to earlier in this call, if it is memoised.
    #[inline]
    pub(crate) fn memoised(&self, flag: FlagId) -> Option<Option<VariantIdx>> {
        let memo = self.memo.get(..self.n_memo).unwrap_or_default();
        memo.iter().find(|(f, _)| *f == flag).map(|&(_, v)| v)
    }

    /// Memoises what `flag` resolved to; past the memo's 8 flags, it is evaluated again.
    #[inline]
    pub(crate) fn remember(&mut self, flag: FlagId, variant: Option<VariantIdx>) {
        if let Some(slot) = self.memo.get_mut(self.n_memo) {
            *slot = (flag, variant);
            self.n_memo += 1;
        }
    }

    /// Steps one reference deeper; `false`, staying put, at [`MAX_REFERENCE_DEPTH`].
    #[inline]
    pub(crate) fn descend(&mut self) -> bool {
        if self.depth >= MAX_REFERENCE_DEPTH {
            // Validation rejects deeper chains; this is a safe fallback, never reached.
            debug_assert!(false, "dependency chain deeper than validation allows");
            return false;
        }
        self.depth += 1;
        true
    }

    /// Steps back from a [`Walk::descend`].
    #[inline]
    pub(crate) fn ascend(&mut self) {
        self.depth -= 1;
    }

    /// The stored variant name of `rule` for `unit` in `materialization`; `None` on the
    /// plain path.
    pub(crate) fn stored(&self, materialization: &str, unit: &str, rule: &str) -> Option<&str> {
        self.sticky.as_ref()?.stored(materialization, unit, rule)
    }

    /// Records a new assignment to store; nothing on the plain path.
    pub(crate) fn write(&mut self, materialization: &str, unit: &str, rule: &str, variant: &str) {
        if let Some(view) = &mut self.sticky {
            view.write(materialization, unit, rule, variant);
        }
    }

    /// The new assignments of a sticky evaluation, to store.
    pub(crate) fn into_writes(self) -> Vec<MaterializationWrite> {
        self.sticky.map(|s| s.writes).unwrap_or_default()
    }
}

/// The prefetched materializations of one sticky evaluation and the writes it makes.
///
/// A context needs one key per distinct (materialization, unit): a handful,
/// so a vector searched by `&str` beats hashing owned keys.
struct StickyView {
    stored: Vec<(MaterializationKey, Materialization)>,
    writes: Vec<MaterializationWrite>,
}

impl StickyView {
    fn stored(&self, materialization: &str, unit: &str, rule: &str) -> Option<&str> {
        let (_, m) = self
            .stored
            .iter()
            .find(|(k, _)| k.materialization == materialization && k.unit == unit)?;
        m.rules.get(rule).map(String::as_str)
    }

    fn write(&mut self, materialization: &str, unit: &str, rule: &str, variant: &str) {
        self.writes.push(MaterializationWrite {
            key: MaterializationKey {
                materialization: materialization.to_owned(),
                unit: unit.to_owned(),
            },
            rule: rule.to_owned(),
            variant: variant.to_owned(),
        });
    }
}

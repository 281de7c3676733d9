//! Regexes as evaluation runs them: a small DFA table when the pattern has one.
//!
//! `regex::Regex::is_match` is fast on long haystacks, but on an attribute of
//! twenty bytes most of its time is setup: it takes a cache from a pool,
//! builds an `Input`, picks a strategy and runs a lazy DFA that checks its
//! cache on every transition. A fully built DFA needs none of that: the match
//! is one table lookup per byte from a start state fixed at compile time, and
//! it stops at the first match or in the dead state.
//!
//! The DFA is built by `regex-automata` from the same pattern text with the
//! same syntax options as the `Regex` that validation built (Unicode, UTF-8,
//! the rule's case folding), so the two accept the same strings; it is then
//! copied into a [`Table`] whose states are renumbered so that one comparison
//! per byte finds both "matched" and "cannot match". Building it can fail:
//! the pattern uses a Unicode word boundary, which a DFA cannot express, or
//! its table would pass [`DFA_SIZE_LIMIT`] (large Unicode classes, long
//! alternations). Then evaluation keeps using the `Regex`.
//!
//! A pattern anchored at its end but not its start (`@acme\.com$`) is walked
//! backwards from the last byte, anchored: it then rejects most strings that do
//! not match within the first few bytes it reads, where a forward walk would
//! have to read them all.

use regex::Regex;
use regex_automata::Anchored;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use std::collections::HashMap;
use std::sync::Arc;

/// The largest DFA a pattern gets, in bytes of the DFA `regex-automata` builds
/// (Unicode `\w+` needs about 170 KiB, `\d{3}` about 90 KiB, an email pattern
/// with ASCII classes 4 KiB); past it, the pattern runs on its `Regex`.
pub(crate) const DFA_SIZE_LIMIT: usize = 256 * 1024;

/// The DFA bytes one engine may hold over all its patterns; once they are spent,
/// further patterns run on their `Regex`.
pub(crate) const DFA_BUDGET: usize = 8 * 1024 * 1024;

/// The working memory determinization may use for one pattern, which bounds the
/// compile time a pattern can cost before it falls back.
const DETERMINIZE_LIMIT: usize = 1024 * 1024;

/// A compiled regex: the `Regex` validation built and, when it fits, its DFA table.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    table: Option<Arc<Table>>,
    regex: Regex,
}

impl Pattern {
    /// Pairs `regex` (built from `pattern` with `case_insensitive`) with a DFA table of
    /// the same pattern, when one can be built within [`DFA_SIZE_LIMIT`] and what is
    /// left of `budget` (bytes, reduced by the table's size).
    pub(crate) fn new(
        regex: Regex,
        pattern: &str,
        case_insensitive: bool,
        budget: &mut usize,
    ) -> Pattern {
        let table = Table::build(pattern, case_insensitive, DFA_SIZE_LIMIT.min(*budget));
        if let Some(t) = &table {
            let pairs = t.pairs.as_ref().map_or(0, |p| p.next.len());
            *budget = budget.saturating_sub((t.next.len() + pairs) * 4);
        }
        Pattern { table: table.map(Arc::new), regex }
    }

    /// Whether the pattern matches anywhere in `text`.
    #[inline]
    pub(crate) fn is_match(&self, text: &str) -> bool {
        match &self.table {
            Some(table) => table.is_match(text.as_bytes()),
            None => self.regex.is_match(text),
        }
    }

    /// Whether evaluation runs this pattern on a DFA table, and whether backwards (tests).
    #[cfg(test)]
    pub(crate) fn walk(&self) -> Option<bool> {
        self.table.as_ref().map(|t| t.reverse)
    }

    /// Whether the DFA table also has its two-bytes-a-step table (tests).
    #[cfg(test)]
    pub(crate) fn has_pairs(&self) -> bool {
        self.table.as_ref().is_some_and(|t| t.pairs.is_some())
    }
}

/// A DFA as a flat table of `u32` offsets.
///
/// A state is the offset of its row: `stride` entries, one per byte class and, last,
/// the end of input. Row 0 is the dead state and row 1 the match state (a search
/// that reaches any match state has its answer), so every state below `2 * stride`
/// ends the walk. The end-of-input entry of a row is the dead or the match state.
#[derive(Debug)]
struct Table {
    classes: [u8; 256],
    stride: u32,
    start: u32,
    next: Box<[u32]>,
    /// The same DFA two bytes per step, when that table is small (see [`Pairs`]).
    pairs: Option<Pairs>,
    /// Walk the text from its last byte.
    reverse: bool,
}

/// Two bytes per transition: a walk is a chain of dependent loads, and this halves it.
///
/// A state is the offset of its row of `width` entries: one per pair of byte classes
/// (`first · classes + second`) and, last, the state's offset in [`Table::next`], for
/// the odd byte and the end of input. Rows 0 and 1 are again dead and match; the pair
/// of a walk that ends on the first byte of a pair ends on that state.
#[derive(Debug)]
struct Pairs {
    width: u32,
    n_classes: u32,
    start: u32,
    next: Box<[u32]>,
}

/// The largest pair table a pattern gets (bytes): past it, the table would fall out of
/// the first-level cache and the walk gain nothing from the shorter chain.
const PAIRS_SIZE_LIMIT: usize = 48 * 1024;

const DEAD: u32 = 0;

impl Table {
    fn build(pattern: &str, case_insensitive: bool, limit: usize) -> Option<Table> {
        // Captures only name groups; a DFA cannot report them and `is_match` needs none.
        let nfa = |reverse: bool| {
            thompson::Compiler::new()
                .syntax(syntax::Config::new().case_insensitive(case_insensitive))
                .configure(
                    thompson::Config::new()
                        .reverse(reverse)
                        .which_captures(WhichCaptures::None)
                        .nfa_size_limit(Some(DETERMINIZE_LIMIT)),
                )
                .build(pattern)
                .ok()
        };
        let forward = nfa(false)?;
        // Anchored at the end only: walked backwards, anchored, when that fits.
        if !forward.is_always_start_anchored()
            && let Some(backward) = nfa(true).filter(thompson::NFA::is_always_start_anchored)
            && let Some(table) = Table::from_nfa(&backward, limit, true)
        {
            return Some(table);
        }
        Table::from_nfa(&forward, limit, false)
    }

    /// The table of an NFA's DFA, searched anchored where the NFA is (at the
    /// pattern's start, or at its end for a reverse NFA): such a walk dies on the
    /// first byte that cannot continue a match instead of scanning on.
    fn from_nfa(nfa: &thompson::NFA, limit: usize, reverse: bool) -> Option<Table> {
        let anchored = nfa.is_always_start_anchored();
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(if anchored { StartKind::Anchored } else { StartKind::Unanchored })
                    .dfa_size_limit(Some(limit))
                    .determinize_size_limit(Some(DETERMINIZE_LIMIT)),
            )
            .build_from_nfa(nfa)
            .ok()?;
        let mode = if anchored { Anchored::Yes } else { Anchored::No };
        // No look-around past the text: every search covers the whole attribute.
        let start = dfa.start_state(&start::Config::new().anchored(mode)).ok()?;
        Table::from_dfa(&dfa, start, reverse)
    }

    /// Copies the states reachable from `start` into a table; `None` if one is a quit
    /// state (these DFAs have no quit bytes) or the table would not fit `u32` offsets.
    fn from_dfa(dfa: &dense::DFA<Vec<u32>>, start: StateID, reverse: bool) -> Option<Table> {
        let mut classes = [0u8; 256];
        let mut representatives: Vec<u8> = Vec::new();
        for (b, class) in (0..=255u8).zip(classes.iter_mut()) {
            *class = dfa.byte_classes().get(b);
            if usize::from(*class) == representatives.len() {
                representatives.push(b);
            }
        }
        let stride = u32::try_from(representatives.len() + 1).ok()?;
        let match_state = stride;
        let mut ids: HashMap<StateID, u32> = HashMap::new();
        let mut queue: Vec<StateID> = Vec::new();
        let mut next: Vec<u32> = vec![DEAD; 2 * usize::try_from(stride).ok()?];
        let offset_of = |s: StateID,
                         ids: &mut HashMap<StateID, u32>,
                         next: &mut Vec<u32>,
                         queue: &mut Vec<StateID>| {
            if dfa.is_dead_state(s) {
                return Some(DEAD);
            }
            if dfa.is_match_state(s) {
                return Some(match_state);
            }
            if dfa.is_quit_state(s) {
                return None;
            }
            if let Some(&at) = ids.get(&s) {
                return Some(at);
            }
            let at = u32::try_from(next.len()).ok()?;
            next.resize(next.len() + usize::try_from(stride).ok()?, DEAD);
            ids.insert(s, at);
            queue.push(s);
            Some(at)
        };
        let start_offset = offset_of(start, &mut ids, &mut next, &mut queue)?;
        while let Some(s) = queue.pop() {
            let row = usize::try_from(*ids.get(&s)?).ok()?;
            for (i, &b) in representatives.iter().enumerate() {
                let to = offset_of(dfa.next_state(s, b), &mut ids, &mut next, &mut queue)?;
                *next.get_mut(row + i)? = to;
            }
            let at_end = dfa.is_match_state(dfa.next_eoi_state(s));
            *next.get_mut(row + representatives.len())? = if at_end { match_state } else { DEAD };
        }
        let mut table = Table {
            classes,
            stride,
            start: start_offset,
            next: next.into_boxed_slice(),
            pairs: None,
            reverse,
        };
        table.pairs = table.pairs();
        Some(table)
    }

    /// The pair table of this table, if it fits [`PAIRS_SIZE_LIMIT`].
    fn pairs(&self) -> Option<Pairs> {
        let stride = usize::try_from(self.stride).ok()?;
        let n_classes = stride - 1;
        let width = n_classes * n_classes + 1;
        let n_states = self.next.len() / stride;
        if n_states * width * 4 > PAIRS_SIZE_LIMIT || self.start < 2 * self.stride {
            return None;
        }
        // A state's pair row offset from its offset in `next`; dead and match stay put.
        let row = |single: u32| -> Option<u32> {
            let i = usize::try_from(single).ok()? / stride;
            u32::try_from(i * width).ok()
        };
        let mut next = vec![DEAD; n_states * width];
        for i in 2..n_states {
            let base = i * width;
            for c1 in 0..n_classes {
                let t1 = *self.next.get(i * stride + c1)?;
                for c2 in 0..n_classes {
                    let t2 = if t1 < 2 * self.stride {
                        t1
                    } else {
                        *self.next.get(usize::try_from(t1).ok()? + c2)?
                    };
                    *next.get_mut(base + c1 * n_classes + c2)? = row(t2)?;
                }
            }
            *next.get_mut(base + width - 1)? = u32::try_from(i * stride).ok()?;
        }
        Some(Pairs {
            width: u32::try_from(width).ok()?,
            n_classes: u32::try_from(n_classes).ok()?,
            start: row(self.start)?,
            next: next.into_boxed_slice(),
        })
    }

    #[inline]
    fn is_match(&self, text: &[u8]) -> bool {
        if let Some(pairs) = &self.pairs {
            return self.walk_pairs(pairs, text);
        }
        if self.reverse {
            self.walk(self.start, text.iter().rev())
        } else {
            self.walk(self.start, text.iter())
        }
    }

    /// Two bytes a step, then the odd byte and the end of input on [`Table::next`].
    #[inline]
    fn walk_pairs(&self, pairs: &Pairs, text: &[u8]) -> bool {
        let class = |b: u8| u32::from(self.classes[usize::from(b)]);
        let end = pairs.width;
        let mut state = pairs.start;
        let mut step = |first: u8, second: u8| -> Option<bool> {
            let i = class(first) * pairs.n_classes + class(second);
            let next = pairs.next.get((state + i) as usize).copied().unwrap_or(DEAD);
            // As in `walk`: assigned only when it changed, so self-loops do not chain.
            if next != state {
                state = next;
                if state < 2 * end {
                    return Some(state != DEAD);
                }
            }
            None
        };
        let single = if self.reverse {
            let mut chunks = text.rchunks_exact(2);
            for pair in &mut chunks {
                if let [a, b] = *pair
                    && let Some(found) = step(b, a)
                {
                    return found;
                }
            }
            chunks.remainder()
        } else {
            let mut chunks = text.chunks_exact(2);
            for pair in &mut chunks {
                if let [a, b] = *pair
                    && let Some(found) = step(a, b)
                {
                    return found;
                }
            }
            chunks.remainder()
        };
        let at = pairs.next.get((state + end - 1) as usize).copied().unwrap_or(DEAD);
        self.walk(at, single.iter())
    }

    #[inline(always)]
    fn walk<'t>(&self, start: u32, bytes: impl Iterator<Item = &'t u8>) -> bool {
        let stride = self.stride;
        let mut state = start;
        // The start state is a dead or match state only for patterns that decide
        // before reading (none do: matches are reported a byte late), but the walk
        // does not rely on it.
        if state < 2 * stride {
            return state != DEAD;
        }
        for &b in bytes {
            let class = u32::from(self.classes[usize::from(b)]);
            let next = self.next.get((state + class) as usize).copied().unwrap_or(DEAD);
            // A walk is a chain of loads, each needing the state the one before read.
            // Only assigning a state that changed breaks the chain in the states that
            // loop on themselves (`[a-z.]+`, `.*`): the branch predicts "same", and the
            // next load's address is known before this one returns.
            if next != state {
                state = next;
                if state < 2 * stride {
                    return state != DEAD;
                }
            }
        }
        self.next.get((state + stride - 1) as usize).is_some_and(|&s| s != DEAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn both(pattern: &str, case_insensitive: bool) -> Pattern {
        let regex = regex::RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .build()
            .unwrap_or_else(|e| unreachable!("{pattern}: {e}"));
        Pattern::new(regex, pattern, case_insensitive, &mut DFA_BUDGET.clone())
    }

    const PATTERNS: [(&str, bool); 14] = [
        (r"^[a-z.]+@(acme|example)\.(com|example)$", false),
        (r"^[a-z.]+@(acme|example)\.(com|example)$", true),
        (r"@acme\.com$", false),
        (r"acme", false),
        (r"^(?:se|no|dk)$", true),
        (r"^(?:straße)$", true),
        (r"^$", false),
        (r"", false),
        (r"a*", false),
        (r"^\d{3}-\d{4}", false),
        (r"(?m)^b", false),
        (r"\bword\b", false),
        (r"é+$", true),
        (r"^.{2,4}$", false),
    ];

    #[test]
    fn small_patterns_get_a_dfa() {
        // Anchored at the start: forwards; at the end only: backwards.
        assert_eq!(both(r"^[a-z.]+@(acme|example)\.(com|example)$", false).walk(), Some(false));
        assert_eq!(both(r"@acme\.com$", false).walk(), Some(true));
        // Small DFAs step two bytes at a time; Unicode classes are too wide for that.
        assert!(both(r"^[a-z.]+@(acme|example)\.(com|example)$", false).has_pairs());
        assert!(both(r"@acme\.com$", false).has_pairs());
        assert!(!both(r"^\d{3}-\d{4}", false).has_pairs());
        assert_eq!(both(r"^(?:se|no|dk)$", true).walk(), Some(false));
        assert_eq!(both(r"^\d{3}-\d{4}", false).walk(), Some(false));
        // Unicode `\w+` backwards does not fit (270 KiB), forwards it does (180 KiB).
        assert_eq!(both(r"\w+@acme\.com$", false).walk(), Some(false));
        assert_eq!(both(r"acme", false).walk(), Some(false));
        // A Unicode word boundary has no DFA: the regex runs it.
        let p = both(r"\bword\b", false);
        assert_eq!(p.walk(), None);
        // Nor does a pattern past what is left of the budget.
        let regex = regex::Regex::new("acme").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(Pattern::new(regex.clone(), "acme", false, &mut 100).walk(), None);
        let mut budget = DFA_BUDGET;
        assert_eq!(Pattern::new(regex, "acme", false, &mut budget).walk(), Some(false));
        assert!(budget < DFA_BUDGET);
        assert!(p.is_match("a word here"));
        assert!(!p.is_match("swordfish"));
    }

    #[test]
    fn dfa_and_regex_agree_on_edge_cases() {
        let texts = [
            "",
            "a",
            "b",
            "ab\nb",
            "ana@acme.com",
            "ana.b@example.example",
            "ANA@ACME.COM",
            "ana@acme.com.evil",
            "x@acme.com",
            "SE",
            "se",
            "sE",
            "STRASSE",
            "straße",
            "STRAẞE",
            "123-4567",
            "12-34567",
            "é",
            "ÉÉ",
            "xé",
            "ab",
            "abcd",
            "abcde",
            "äö",
            "a word",
        ];
        for (pattern, ci) in PATTERNS {
            let p = both(pattern, ci);
            for text in texts {
                assert_eq!(
                    p.is_match(text),
                    p.regex.is_match(text),
                    "{pattern:?} ci={ci} on {text:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn dfa_and_regex_agree_on_any_text(text in "[a-zA-Z.@é\\-0-9ß\n ]{0,24}", which in 0usize..14) {
            let (pattern, ci) = PATTERNS[which];
            let p = both(pattern, ci);
            prop_assert_eq!(p.is_match(&text), p.regex.is_match(&text));
        }
    }
}

//! The sticky rules each flag's evaluation can reach through segment references and
//! dependencies (the depth and cost of those references are bounded by validation).

use super::index_u32;
use crate::engine::{CCriterion, CFlag, CSegment};

/// `(flag, rule)` of every rule that reads a materialization.
pub(super) fn sticky_rules(flags: &[CFlag]) -> Box<[(u32, u32)]> {
    flags
        .iter()
        .enumerate()
        .flat_map(|(f, flag)| {
            flag.rules.iter().enumerate().filter_map(move |(r, rule)| {
                rule.materialization.as_ref()?.read.as_ref()?;
                Some((index_u32(f), index_u32(r)))
            })
        })
        .collect()
}

/// For each flag, the indices into `sticky_rules` its evaluation can reach (breadth-first
/// over flags, then segments, so no recursion on input).
pub(super) fn sticky_reach(
    flags: &[CFlag],
    segments: &[CSegment],
    sticky_rules: &[(u32, u32)],
) -> Box<[Box<[u32]>]> {
    if sticky_rules.is_empty() {
        return Box::default();
    }
    let n_flags = flags.len();
    // Nodes: flags first, then segments.
    let successors = |v: usize| -> Vec<usize> {
        if let Some(flag) = flags.get(v) {
            flag.rules.iter().map(|r| n_flags + r.segment as usize).collect()
        } else if let Some(segment) = v.checked_sub(n_flags).and_then(|s| segments.get(s)) {
            segment
                .targeting
                .criteria
                .iter()
                .filter_map(|c| match c {
                    CCriterion::Segment(t) => Some(n_flags + *t as usize),
                    CCriterion::Dependency(flag, _) => Some(flag.index()),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        }
    };
    (0..n_flags)
        .map(|start| {
            let mut seen = vec![false; n_flags + segments.len()];
            let mut queue = std::collections::VecDeque::from([start]);
            let mut reached_flags = Vec::new();
            while let Some(v) = queue.pop_front() {
                match seen.get_mut(v) {
                    Some(slot) if !*slot => *slot = true,
                    _ => continue,
                }
                if v < n_flags {
                    reached_flags.push(v);
                }
                queue.extend(successors(v));
            }
            sticky_rules
                .iter()
                .enumerate()
                .filter(|(_, (f, _))| reached_flags.contains(&(*f as usize)))
                .map(|(i, _)| index_u32(i))
                .collect()
        })
        .collect()
}

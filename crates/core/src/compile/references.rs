//! The sticky rules each flag's evaluation can reach through segment references and
//! dependencies (the depth and cost of those references are bounded by validation).

use crate::compiled::{self, StickyRule};

/// For each flag, every rule with a materialization (read, write or both) and
/// that its evaluation can reach, in config order (breadth-first over flags, then
/// segments, so no recursion on input); empty when no rule reads one.
pub(super) fn sticky_reach(
    flags: &[compiled::Flag],
    segments: &[compiled::Segment],
) -> Box<[Box<[StickyRule]>]> {
    // Every rule that reads or writes a materialization, with the position of its flag.
    let sticky_rules: Vec<(usize, StickyRule)> = flags
        .iter()
        .enumerate()
        .flat_map(|(f, flag)| {
            flag.rules.iter().enumerate().filter_map(move |(r, rule)| {
                let m = rule.materialization.as_ref()?;
                if m.read.is_none() && m.write.is_none() {
                    return None;
                }
                Some((f, StickyRule { flag: flag.id, rule_idx: r }))
            })
        })
        .collect();
    if sticky_rules.is_empty() {
        return Box::default();
    }
    let n_flags = flags.len();
    // Nodes: flags first, then segments.
    let successors = |v: usize| -> Vec<usize> {
        if let Some(flag) = flags.get(v) {
            flag.rules.iter().map(|r| n_flags + r.segment.index()).collect()
        } else if let Some(segment) = v.checked_sub(n_flags).and_then(|s| segments.get(s)) {
            segment
                .targeting
                .criteria
                .iter()
                .filter_map(|c| match c {
                    compiled::Criterion::Segment(t) => Some(n_flags + t.index()),
                    compiled::Criterion::Dependency(flag, _) => Some(flag.index()),
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
                .filter(|(f, _)| reached_flags.contains(f))
                .map(|&(_, rule)| rule)
                .collect()
        })
        .collect()
}

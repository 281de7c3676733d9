//! The depth and cost of reference chains, in the lowered config.
//!
//! A flag's rules refer to segments; a segment's criteria refer to other segments and
//! (through dependencies) to flags. Cycles are rejected by the name checks; this part
//! bounds what is left: no chain passes more than [`MAX_REFERENCE_DEPTH`] flags and
//! segments, and no flag's worst-case evaluation visits more than
//! [`MAX_EVALUATION_COST`] criteria (diamonds of references multiply: a segment that
//! refers twice to one that refers twice to the next …). Both are properties of the
//! config, so evaluation time and recursion depth are bounded here, never by input.

use super::{ErrorKind, Validator};
use crate::flag::Flag;
use crate::graph;
use crate::limits::{MAX_EVALUATION_COST, MAX_REFERENCE_DEPTH};
use crate::lower::Lowered;
use crate::names::Collection;
use crate::segment::Segment;
use crate::targeting::Criterion;
use std::collections::HashMap;

/// A node with no successor on its deepest chain.
const END: usize = usize::MAX;

impl Validator<'_> {
    /// Reports the first flag whose reference chain is too deep or too costly.
    ///
    /// Runs on a config whose names all resolve and whose graph has no cycle.
    pub(super) fn reference_limits(&mut self, lowered: &Lowered) {
        let graph = ReferenceGraph::new(self.config, lowered);
        let Ok(order) = graph::dependency_order(&graph.edges) else {
            // Cycles were reported by the name checks, which ran first.
            debug_assert!(false, "reference cycle after the cycle check");
            return;
        };
        let n = graph.names.len();
        let mut depth = vec![0usize; n];
        let mut cost = vec![0u64; n];
        let mut next = vec![END; n];
        for &v in &order {
            let children = graph.edges.get(v).map(Vec::as_slice).unwrap_or_default();
            let deepest =
                children.iter().copied().max_by_key(|&w| depth.get(w).copied().unwrap_or(0));
            let below = deepest.and_then(|w| depth.get(w)).copied().unwrap_or(0);
            let total = children.iter().fold(graph.own.get(v).copied().unwrap_or(0), |acc, &w| {
                acc.saturating_add(cost.get(w).copied().unwrap_or(0))
            });
            if let (Some(d), Some(c), Some(nx)) =
                (depth.get_mut(v), cost.get_mut(v), next.get_mut(v))
            {
                *d = below + 1;
                *c = total;
                *nx = deepest.unwrap_or(END);
            }
        }
        let name = |v: usize| graph.names.get(v).map(|s| (*s).to_owned()).unwrap_or_default();
        for (f, path) in graph.flag_paths.iter().enumerate() {
            let d = depth.get(f).copied().unwrap_or(0);
            if d > MAX_REFERENCE_DEPTH {
                let mut chain = vec![name(f)];
                let mut at = next.get(f).copied().unwrap_or(END);
                while at != END {
                    chain.push(name(at));
                    at = next.get(at).copied().unwrap_or(END);
                }
                let kind =
                    ErrorKind::ReferenceDepth { depth: d, limit: MAX_REFERENCE_DEPTH, chain };
                self.error(path.clone(), kind);
                // One report names the problem; the flags above it in the chain add nothing.
                return;
            }
            let c = cost.get(f).copied().unwrap_or(0);
            if c > MAX_EVALUATION_COST {
                self.error(
                    path.clone(),
                    ErrorKind::EvaluationCost { cost: c, limit: MAX_EVALUATION_COST },
                );
                return;
            }
        }
    }
}

/// Flags (first) and segments (after them) as nodes, in the order compile numbers them:
/// the config's own, then the lowered ones.
struct ReferenceGraph<'c> {
    names: Vec<&'c str>,
    /// The path of each flag node (`flags[3]`, `experiments[0]`).
    flag_paths: Vec<String>,
    /// Edges with multiplicity: a segment referred to twice costs twice.
    edges: Vec<Vec<usize>>,
    /// The criteria (segments) or rules (flags) each node evaluates itself.
    own: Vec<u64>,
}

impl<'c> ReferenceGraph<'c> {
    fn new(config: &'c crate::Config, lowered: &'c Lowered) -> Self {
        let mut flags: Vec<(&Flag, String, Vec<&crate::flag::Rule>)> = config
            .flags
            .iter()
            .enumerate()
            .map(|(i, f)| (f, format!("flags[{i}]"), f.rules.iter().collect()))
            .collect();
        flags.extend(lowered.flags.iter().map(|(f, own, path)| {
            (f, path.clone(), own.iter().map(|l| &l.rule).collect::<Vec<_>>())
        }));
        for (flag, _, rules) in &mut flags {
            if let Some(workflow_rules) = lowered.rules.get(flag.name.as_str()) {
                rules.extend(workflow_rules.iter().map(|l| &l.rule));
            }
        }
        let segments: Vec<&Segment> =
            config.segments.iter().chain(lowered.segments.iter().map(|(s, _)| s)).collect();
        let n_flags = flags.len();
        let flag_index: HashMap<&str, usize> =
            flags.iter().enumerate().map(|(i, (f, _, _))| (f.name.as_str(), i)).collect();
        let segment_index: HashMap<&str, usize> =
            segments.iter().enumerate().map(|(i, s)| (s.name.as_str(), n_flags + i)).collect();
        let segment_node = |name: &str| {
            let found = segment_index.get(Collection::Segments.full_name(name).as_ref()).copied();
            debug_assert!(found.is_some(), "unresolved segment {name} after validation");
            found
        };
        let mut graph = ReferenceGraph {
            names: Vec::with_capacity(n_flags + segments.len()),
            flag_paths: Vec::with_capacity(n_flags),
            edges: Vec::with_capacity(n_flags + segments.len()),
            own: Vec::with_capacity(n_flags + segments.len()),
        };
        for (flag, path, rules) in &flags {
            graph.names.push(&flag.name);
            graph.flag_paths.push(path.clone());
            graph.edges.push(rules.iter().filter_map(|r| segment_node(&r.segment)).collect());
            graph.own.push(rules.len() as u64);
        }
        for segment in &segments {
            graph.names.push(&segment.name);
            let criteria = &segment.targeting.criteria;
            let edges = criteria
                .values()
                .filter_map(|c| match c {
                    Criterion::Segment(s) => segment_node(&s.segment),
                    Criterion::Dependency(d) => {
                        let found =
                            flag_index.get(Collection::Flags.full_name(&d.flag).as_ref()).copied();
                        debug_assert!(
                            found.is_some(),
                            "unresolved flag {} after validation",
                            d.flag
                        );
                        found
                    }
                    _ => None,
                })
                .collect();
            graph.edges.push(edges);
            graph.own.push(criteria.len() as u64);
        }
        graph
    }
}

//! Names and references: every name registered once, every reference resolved, and the
//! reference graph checked for cycles.

use super::path::{At, Key, Root};
use super::{ErrorKind, Validator};
use crate::experiment::variant_id_for_value;
use crate::graph;
use crate::names::{Collection, is_valid_id, variant_full_name, variant_id};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// A node of the reference graph: a flag or a segment, by full name.
#[derive(Default)]
pub(super) struct Graph {
    pub(super) names: Vec<String>,
    pub(super) paths: Vec<String>,
    pub(super) index: HashMap<String, usize>,
    pub(super) edges: Vec<Vec<usize>>,
}

impl Graph {
    pub(super) fn node(&mut self, name: &str, path: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.to_owned());
        self.paths.push(path.to_owned());
        self.index.insert(name.to_owned(), i);
        self.edges.push(Vec::new());
        i
    }

    pub(super) fn edge(&mut self, from: &str, to: &str) {
        if let (Some(&f), Some(&t)) = (self.index.get(from), self.index.get(to))
            && let Some(list) = self.edges.get_mut(f)
            && !list.contains(&t)
        {
            list.push(t);
        }
    }
}

impl Validator<'_> {
    /// Registers every name, reporting malformed and duplicate names.
    pub(super) fn collect_names(&mut self) {
        let c = self.config;
        for (i, flag) in c.flags.iter().enumerate() {
            let path = Root("flags", i);
            self.name(&format_args!("{path}.name"), &flag.name, Collection::Flags);
            let mut variants = BTreeSet::new();
            for (j, variant) in flag.variants.iter().enumerate() {
                let variant_at = At(&path, "variants", j);
                let vpath = Key(&variant_at, "name");
                match variant_id(&flag.name, &variant.name) {
                    Some(id) if !variants.insert(id.to_owned()) => {
                        let first =
                            flag.variants.iter().position(|v| v.name == variant.name).unwrap_or(0);
                        self.error(
                            vpath,
                            ErrorKind::Duplicate {
                                name: variant.name.clone(),
                                first: format!("{path}.variants[{first}]"),
                            },
                        );
                    }
                    Some(_) => {}
                    None => self.error(
                        vpath,
                        ErrorKind::InvalidName {
                            name: variant.name.clone(),
                            expected: format!("{}/variants/{{id}}", flag.name),
                        },
                    ),
                }
            }
            self.register_flag(&path, &flag.name, variants);
        }
        for (i, e) in c.experiments.iter().enumerate() {
            let path = Root("experiments", i);
            if !is_valid_id(&e.flag) {
                self.error(
                    format_args!("{path}.flag"),
                    ErrorKind::InvalidName {
                        name: e.flag.clone(),
                        expected: "a flag id without '/'".into(),
                    },
                );
            }
            let variants = e.values().iter().map(variant_id_for_value).collect();
            self.register_flag(&path, &e.flag_name(), variants);
        }
        for (i, s) in c.segments.iter().enumerate() {
            let path = Root("segments", i);
            self.name(&format_args!("{path}.name"), &s.name, Collection::Segments);
            self.register_segment(&path, &s.name);
        }
        for (i, g) in c.target_groups.iter().enumerate() {
            let path = Root("targetGroups", i);
            self.name(&format_args!("{path}.name"), &g.name, Collection::TargetGroups);
            if let Some(first) = self.groups.insert(g.name.clone(), path.to_string()) {
                self.error(
                    format_args!("{path}.name"),
                    ErrorKind::Duplicate { name: g.name.clone(), first },
                );
            }
        }
        let mut workflows: HashMap<String, String> = HashMap::new();
        let rollouts = c
            .rollouts
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("rollouts[{i}]"), &r.name, Collection::Rollouts));
        let abtests = c
            .abtests
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("abtests[{i}]"), &t.name, Collection::AbTests));
        for (path, name, collection) in rollouts.chain(abtests).collect::<Vec<_>>() {
            self.name(&format_args!("{path}.name"), name, collection);
            if let Some(first) = workflows.insert(name.clone(), path.clone()) {
                self.error(
                    format_args!("{path}.name"),
                    ErrorKind::Duplicate { name: name.clone(), first },
                );
            }
            // Each workflow lowers to a segment of the same id (spec §2.5).
            if let Some(id) = collection.id_of(name) {
                self.register_segment(&path, &format!("segments/{id}"));
            }
        }
    }

    pub(super) fn register_flag(
        &mut self,
        path: &dyn fmt::Display,
        name: &str,
        variants: BTreeSet<String>,
    ) {
        if let Some((first, _)) = self.flags.get(name) {
            let first = first.clone();
            self.error(
                format_args!("{path}.name"),
                ErrorKind::Duplicate { name: name.to_owned(), first },
            );
            return;
        }
        let path = path.to_string();
        self.graph.node(name, &path);
        self.flags.insert(name.to_owned(), (path, variants));
    }

    pub(super) fn register_segment(&mut self, path: &dyn fmt::Display, name: &str) {
        if let Some(first) = self.segments.get(name) {
            let first = first.clone();
            self.error(
                format_args!("{path}.name"),
                ErrorKind::Duplicate { name: name.to_owned(), first },
            );
            return;
        }
        let path = path.to_string();
        self.graph.node(name, &path);
        self.segments.insert(name.to_owned(), path);
    }

    pub(super) fn name(&mut self, path: &dyn fmt::Display, name: &str, collection: Collection) {
        if collection.id_of(name).is_none() {
            self.error(
                path,
                ErrorKind::InvalidName {
                    name: name.to_owned(),
                    expected: format!("{}{{id}}", collection.prefix()),
                },
            );
        }
    }

    pub(super) fn path_name(&mut self, path: &dyn fmt::Display, name: &str) {
        if name.is_empty() {
            self.error(path, ErrorKind::EmptyPath);
        }
    }

    /// Resolves a flag reference to its full name, reporting an unknown one.
    pub(super) fn flag_ref(&mut self, path: &dyn fmt::Display, reference: &str) -> Option<String> {
        let full = Collection::Flags.full_name(reference).into_owned();
        if self.flags.contains_key(&full) {
            return Some(full);
        }
        self.error(path, ErrorKind::UnknownReference { noun: "flag", name: reference.to_owned() });
        None
    }

    pub(super) fn segment_ref(
        &mut self,
        path: &dyn fmt::Display,
        reference: &str,
    ) -> Option<String> {
        let full = Collection::Segments.full_name(reference).into_owned();
        if self.segments.contains_key(&full) {
            return Some(full);
        }
        self.error(
            path,
            ErrorKind::UnknownReference { noun: "segment", name: reference.to_owned() },
        );
        None
    }

    pub(super) fn variant_ref(&mut self, path: &dyn fmt::Display, flag: &str, reference: &str) {
        let full = variant_full_name(flag, reference);
        let known = variant_id(flag, &full).is_some_and(|id| {
            self.flags.get(flag).is_some_and(|(_, variants)| variants.contains(id))
        });
        if !known {
            self.error(
                path,
                ErrorKind::UnknownVariant { flag: flag.to_owned(), variant: reference.to_owned() },
            );
        }
    }

    pub(super) fn link(&mut self, to: &str) {
        if let Some(from) = self.current.clone() {
            self.graph.edge(&from, to);
        }
    }

    pub(super) fn cycles(&mut self) {
        for cycle in graph::cycles(&self.graph.edges) {
            let names: Vec<String> =
                cycle.iter().filter_map(|&n| self.graph.names.get(n).cloned()).collect();
            let path =
                cycle.first().and_then(|&n| self.graph.paths.get(n)).cloned().unwrap_or_default();
            self.error(path, ErrorKind::Cycle { cycle: names });
        }
    }
}

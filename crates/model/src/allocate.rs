//! Allocation and mutual exclusivity (spec §2.6): placing segments and A/B
//! tests in the 1,000,000 allocation buckets so that exclusive ones never
//! share a unit.
//!
//! A unit's allocation bucket is `bucket("{allocationSalt}|{unit}", 1_000_000)`
//! (computed by the engine). An allocation that has `allocatedRanges` holds
//! the units whose bucket falls in them; one without ranges holds the buckets
//! below `proportion · 1,000,000`. [`allocate`] writes ranges so that no two
//! exclusive allocations overlap.
//!
//! # Who holds what
//! - A segment in state `ARCHIVED` holds nothing (it matches nobody).
//! - A segment in state `UNALLOCATED` is placed; ranges it may already carry
//!   are not final (that is what the state says) and are replaced.
//! - Any other segment holds its `allocatedRanges`, or when it has none the
//!   buckets below its proportion (what the engine serves). It never moves.
//! - An A/B test with `allocatedRanges` holds them and never moves.
//! - An A/B test without `allocatedRanges` is placed, in any state but
//!   `ENDED`: a `DRAFT` test reserves its space before launch.
//! - An `ENDED` A/B test serves nothing, so it neither is placed nor holds
//!   space: its units are free for the next test.
//!
//! An A/B test keeps its lifecycle `state`; having `allocatedRanges` is its
//! allocation state. A placed segment becomes `ALLOCATED`.
//!
//! # Placement policy
//! Items are placed one at a time in document order: segments first, then A/B
//! tests. Each gets `proportion · 1,000,000` buckets (rounded to the nearest
//! bucket, [`Fraction::buckets_of`]) by first fit over the gaps left free by
//! every item it is exclusive with ([`Allocation::is_exclusive_with`]) that
//! holds space, including the ones placed earlier in the same run. First fit
//! fills the lowest free buckets first, possibly across several gaps, so a
//! test that conflicts with nothing gets `[0, proportion · 1,000,000)`, the
//! very buckets it held before it had ranges. The result depends only on the
//! config: the same document always gives the same ranges.
//!
//! [`allocate`] is all or nothing: on error the config is left untouched.
//!
//! # Examples
//! ```
//! use flagstone_model::allocate::allocate;
//!
//! let mut config = flagstone_model::parse_config(r#"{
//!   "segments": [
//!     {"name": "segments/a", "state": "UNALLOCATED",
//!      "allocation": {"proportion": "0.4", "exclusivityTags": ["checkout"], "exclusiveTo": ["checkout"]}},
//!     {"name": "segments/b", "state": "UNALLOCATED",
//!      "allocation": {"proportion": "0.5", "exclusivityTags": ["checkout"], "exclusiveTo": ["checkout"]}}
//!   ]
//! }"#)?;
//! let report = allocate(&mut config)?;
//! assert_eq!(report.placements.len(), 2);
//! let b = &config.segments[1];
//! assert_eq!((b.allocated_ranges[0].lower, b.allocated_ranges[0].upper), (400_000, 900_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::config::Config;
use crate::flag::BucketRange;
use crate::fraction::Fraction;
use crate::segment::{ALLOCATION_BUCKETS, Allocation, SegmentState};
use crate::workflow::WorkflowState;
use serde::Serialize;
use std::fmt;

/// How many holders an out-of-space error names before summarising the rest.
pub const MAX_HOLDERS_NAMED: usize = 10;

/// What [`allocate`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationReport {
    /// The items that got ranges, in the order they were placed.
    pub placements: Vec<Placement>,
    /// The number of items that kept the space they held.
    pub n_unchanged: usize,
}

/// Ranges given to one segment or A/B test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// JSON path of the resource: `segments[3]`, `abtests[0]`.
    pub path: String,
    /// Its name.
    pub name: String,
    /// The number of allocation buckets it holds now.
    pub n_buckets: u32,
    /// Its new `allocatedRanges`, ascending and disjoint.
    pub ranges: Vec<BucketRange>,
}

/// An item that holds space another one needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its name.
    pub name: String,
    /// The number of allocation buckets it holds.
    pub n_buckets: u32,
}

/// Why allocation failed. The config is unchanged.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocateError {
    /// Not enough buckets are free of the items this one is exclusive with.
    #[error(
        "{path}: needs {needed} allocation buckets but only {free} are free of {}",
        HolderList(holders)
    )]
    NoSpace {
        /// JSON path of the item: `abtests[1]`.
        path: String,
        /// Its name.
        name: String,
        /// The buckets it needs.
        needed: u32,
        /// The buckets free of every item it is exclusive with.
        free: u32,
        /// The exclusive items that hold space, in document order.
        holders: Vec<Holder>,
    },
    /// A proportion outside `[0, 1]` cannot be placed.
    #[error("{path}: proportion {value} outside [0, 1]")]
    Proportion {
        /// JSON path of the proportion.
        path: String,
        /// The value.
        value: f64,
    },
}

/// Formats holders as `segments/a (400000), abtests/b (400000)`, naming at
/// most [`MAX_HOLDERS_NAMED`].
struct HolderList<'a>(&'a [Holder]);

impl fmt::Display for HolderList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, h) in self.0.iter().take(MAX_HOLDERS_NAMED).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} ({})", h.name, h.n_buckets)?;
        }
        let rest = self.0.get(MAX_HOLDERS_NAMED..).unwrap_or_default();
        if !rest.is_empty() {
            let n_buckets: u64 = rest.iter().map(|h| u64::from(h.n_buckets)).sum();
            write!(f, " and {} more ({n_buckets})", rest.len())?;
        }
        Ok(())
    }
}

/// A segment or A/B test, by its index in the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllocationTarget {
    /// `segments[i]`.
    Segment(usize),
    /// `abtests[i]`.
    AbTest(usize),
}

/// What an item does during allocation.
#[derive(Clone, Debug)]
enum Role {
    /// Holds these ranges (clipped, sorted, merged) and never moves.
    Holds(Vec<BucketRange>),
    /// Needs this many buckets.
    Place(u32),
    /// Neither holds nor needs space.
    Idle,
}

struct Item<'a> {
    target: AllocationTarget,
    name: &'a str,
    allocation: &'a Allocation,
    role: Role,
}

impl Item<'_> {
    fn path(&self) -> String {
        match self.target {
            AllocationTarget::Segment(i) => format!("segments[{i}]"),
            AllocationTarget::AbTest(i) => format!("abtests[{i}]"),
        }
    }
}

/// Gives every `UNALLOCATED` segment and every A/B test without
/// `allocatedRanges` its share of the allocation buckets, disjoint from every
/// item it is exclusive with (see the [module docs](self) for the policy).
///
/// Placed segments become `ALLOCATED`. Items that already hold space never
/// move. All or nothing: on error the config is unchanged.
///
/// # Errors
/// [`AllocateError::NoSpace`] when an item needs more buckets than are free of
/// the items it is exclusive with; [`AllocateError::Proportion`] when an item
/// to place has a proportion outside `[0, 1]`.
pub fn allocate(config: &mut Config) -> Result<AllocationReport, AllocateError> {
    let mut items = items(config)?;
    let n_unchanged = items.iter().filter(|i| matches!(i.role, Role::Holds(_))).count();
    let mut placed = Vec::new();
    for k in 0..items.len() {
        let Some(item) = items.get(k) else { continue };
        let Role::Place(needed) = item.role else { continue };
        let occupied = occupied_by_exclusive(&items, k, &[]);
        let ranges = first_fit(&occupied, needed).ok_or_else(|| no_space(&items, k, needed))?;
        placed.push((item.target, item.path(), item.name.to_owned(), ranges.clone()));
        if let Some(item) = items.get_mut(k) {
            item.role = Role::Holds(ranges);
        }
    }
    drop(items);
    let mut report = AllocationReport { placements: Vec::new(), n_unchanged };
    for (target, path, name, ranges) in placed {
        write_ranges(config, target, ranges.clone(), true);
        report.placements.push(Placement { path, name, n_buckets: total(&ranges), ranges });
    }
    Ok(report)
}

/// Brings an allocated item's ranges to its current proportion without
/// moving the units it keeps: the way to change the share of a running test.
///
/// The listed order of the ranges is the order in which buckets were given:
/// a larger share keeps every range and appends the lowest buckets free of
/// the item itself and of every item it is exclusive with; a smaller one
/// keeps the ranges in their listed order and trims from the end, so the
/// units added last leave first (as with a rollout's reach). Items without ranges
/// (their proportion applies directly), items still to be placed and items
/// that hold nothing are left alone. Returns the new ranges when they changed.
///
/// # Errors
/// [`AllocateError::NoSpace`] when the larger share does not fit;
/// [`AllocateError::Proportion`] for a proportion outside `[0, 1]`. The
/// config is unchanged on error.
pub fn resize(
    config: &mut Config,
    target: AllocationTarget,
) -> Result<Option<Placement>, AllocateError> {
    let items = items(config)?;
    let Some(k) = items.iter().position(|i| i.target == target) else { return Ok(None) };
    let Some(item) = items.get(k) else { return Ok(None) };
    let own = match (&item.role, target) {
        (Role::Holds(_), AllocationTarget::Segment(i)) => {
            config.segments.get(i).map(|s| &s.allocated_ranges)
        }
        (Role::Holds(_), AllocationTarget::AbTest(i)) => {
            config.abtests.get(i).map(|t| &t.allocated_ranges)
        }
        _ => None,
    };
    let Some(own) = own.filter(|r| !r.is_empty()) else { return Ok(None) };
    let own = clip(own);
    let needed = checked_buckets(item.allocation.proportion, || {
        format!("{}.allocation.proportion", item.path())
    })?;
    let held = total(&own);
    let ranges = if needed < held {
        trim(&own, needed)
    } else if needed > held {
        let occupied = occupied_by_exclusive(&items, k, &own);
        let extra =
            first_fit(&occupied, needed - held).ok_or_else(|| no_space(&items, k, needed))?;
        append(own, extra)
    } else {
        return Ok(None);
    };
    let placement = Placement {
        path: item.path(),
        name: item.name.to_owned(),
        n_buckets: total(&ranges),
        ranges: ranges.clone(),
    };
    drop(items);
    write_ranges(config, target, ranges, false);
    Ok(Some(placement))
}

/// Every segment and A/B test with its role, in document order.
fn items(config: &Config) -> Result<Vec<Item<'_>>, AllocateError> {
    let mut items = Vec::with_capacity(config.segments.len() + config.abtests.len());
    for (i, s) in config.segments.iter().enumerate() {
        let role = match s.state {
            SegmentState::Archived => Role::Idle,
            SegmentState::Unallocated => {
                Role::Place(checked_buckets(s.allocation.proportion, || {
                    format!("segments[{i}].allocation.proportion")
                })?)
            }
            SegmentState::Ok | SegmentState::Allocated => {
                Role::Holds(held(&s.allocated_ranges, s.allocation.proportion))
            }
        };
        let target = AllocationTarget::Segment(i);
        items.push(Item { target, name: &s.name, allocation: &s.allocation, role });
    }
    for (i, t) in config.abtests.iter().enumerate() {
        let role = if t.state == WorkflowState::Ended {
            Role::Idle
        } else if !t.allocated_ranges.is_empty() {
            Role::Holds(held(&t.allocated_ranges, t.allocation.proportion))
        } else {
            Role::Place(checked_buckets(t.allocation.proportion, || {
                format!("abtests[{i}].allocation.proportion")
            })?)
        };
        let target = AllocationTarget::AbTest(i);
        items.push(Item { target, name: &t.name, allocation: &t.allocation, role });
    }
    Ok(items)
}

/// The buckets a share needs, refusing shares outside `[0, 1]`.
fn checked_buckets(
    proportion: Fraction,
    path: impl FnOnce() -> String,
) -> Result<u32, AllocateError> {
    if proportion.is_unit_interval() {
        Ok(proportion.buckets_of(ALLOCATION_BUCKETS))
    } else {
        Err(AllocateError::Proportion { path: path(), value: proportion.get() })
    }
}

/// What an item that never moves holds, as the engine serves it: its ranges,
/// or the buckets below its proportion.
fn held(ranges: &[BucketRange], proportion: Fraction) -> Vec<BucketRange> {
    if ranges.is_empty() {
        let upper = if proportion.get() >= 1.0 {
            ALLOCATION_BUCKETS
        } else {
            proportion.buckets_of(ALLOCATION_BUCKETS)
        };
        merge(vec![BucketRange { lower: 0, upper }])
    } else {
        merge(clip(ranges))
    }
}

/// The ranges inside `[0, ALLOCATION_BUCKETS)`, empty ones dropped, order kept.
fn clip(ranges: &[BucketRange]) -> Vec<BucketRange> {
    ranges
        .iter()
        .map(|r| BucketRange { lower: r.lower, upper: r.upper.min(ALLOCATION_BUCKETS) })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge(mut ranges: Vec<BucketRange>) -> Vec<BucketRange> {
    ranges.retain(|r| !r.is_empty());
    ranges.sort_unstable();
    let mut out: Vec<BucketRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.lower <= last.upper => last.upper = last.upper.max(r.upper),
            _ => out.push(r),
        }
    }
    out
}

fn total(ranges: &[BucketRange]) -> u32 {
    ranges.iter().map(|r| r.len()).sum()
}

/// The first `n` buckets of `ranges` in their listed order.
fn trim(ranges: &[BucketRange], mut n: u32) -> Vec<BucketRange> {
    let mut out = Vec::new();
    for r in ranges {
        if n == 0 {
            break;
        }
        let take = r.len().min(n);
        out.push(BucketRange { lower: r.lower, upper: r.lower + take });
        n -= take;
    }
    out
}

/// `extra` after `ranges`, joining a range to the one before it when adjacent.
fn append(mut ranges: Vec<BucketRange>, extra: Vec<BucketRange>) -> Vec<BucketRange> {
    for r in extra {
        match ranges.last_mut() {
            Some(last) if last.upper == r.lower => last.upper = r.upper,
            _ => ranges.push(r),
        }
    }
    ranges
}

/// The merged space held by items exclusive with item `k`, plus `also`.
fn occupied_by_exclusive(items: &[Item<'_>], k: usize, also: &[BucketRange]) -> Vec<BucketRange> {
    let Some(me) = items.get(k) else { return also.to_vec() };
    let mut occupied = also.to_vec();
    for (j, other) in items.iter().enumerate() {
        if let (true, Role::Holds(ranges)) = (j != k, &other.role)
            && me.allocation.is_exclusive_with(other.allocation)
        {
            occupied.extend_from_slice(ranges);
        }
    }
    merge(occupied)
}

/// The lowest `n` buckets outside `occupied` (sorted, merged), or `None` when
/// fewer are free.
fn first_fit(occupied: &[BucketRange], n: u32) -> Option<Vec<BucketRange>> {
    let mut out = Vec::new();
    let mut remaining = n;
    let mut cursor = 0;
    let gaps = occupied
        .iter()
        .map(|r| r.lower)
        .chain([ALLOCATION_BUCKETS])
        .zip(occupied.iter().map(|r| r.upper).chain([ALLOCATION_BUCKETS]));
    for (gap_end, next_cursor) in gaps {
        if remaining == 0 {
            break;
        }
        if gap_end > cursor {
            let take = (gap_end - cursor).min(remaining);
            out.push(BucketRange { lower: cursor, upper: cursor + take });
            remaining -= take;
        }
        cursor = cursor.max(next_cursor);
    }
    (remaining == 0).then_some(out)
}

fn no_space(items: &[Item<'_>], k: usize, needed: u32) -> AllocateError {
    let (path, name) = items.get(k).map(|i| (i.path(), i.name.to_owned())).unwrap_or_default();
    let holders: Vec<Holder> = items
        .iter()
        .enumerate()
        .filter_map(|(j, other)| {
            let me = items.get(k)?;
            let Role::Holds(ranges) = &other.role else { return None };
            let exclusive = j != k && me.allocation.is_exclusive_with(other.allocation);
            (exclusive && !ranges.is_empty())
                .then(|| Holder { name: other.name.to_owned(), n_buckets: total(ranges) })
        })
        .collect();
    let free = ALLOCATION_BUCKETS - total(&occupied_by_exclusive(items, k, &[]));
    AllocateError::NoSpace { path, name, needed, free, holders }
}

fn write_ranges(
    config: &mut Config,
    target: AllocationTarget,
    ranges: Vec<BucketRange>,
    mark_allocated: bool,
) {
    match target {
        AllocationTarget::Segment(i) => {
            if let Some(s) = config.segments.get_mut(i) {
                s.allocated_ranges = ranges;
                if mark_allocated {
                    s.state = SegmentState::Allocated;
                }
            }
        }
        AllocationTarget::AbTest(i) => {
            if let Some(t) = config.abtests.get_mut(i) {
                t.allocated_ranges = ranges;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_config;
    use proptest::prelude::*;

    fn r(lower: u32, upper: u32) -> BucketRange {
        BucketRange { lower, upper }
    }

    fn config(json: serde_json::Value) -> Config {
        parse_config(&json.to_string()).unwrap()
    }

    /// A segment in `layer` (exclusive with its layer), or in none.
    fn segment(id: &str, proportion: &str, layer: Option<&str>, state: &str) -> serde_json::Value {
        let tags: Vec<&str> = layer.into_iter().collect();
        serde_json::json!({
            "name": format!("segments/{id}"), "state": state,
            "allocation": {"proportion": proportion, "exclusivityTags": tags, "exclusiveTo": tags}
        })
    }

    fn abtest(id: &str, proportion: &str, layer: &str) -> serde_json::Value {
        serde_json::json!({
            "name": format!("abtests/{id}"), "flag": "flags/f", "state": "LIVE",
            "treatments": [{"variant": "a", "baseline": true}, {"variant": "b"}],
            "allocation": {"proportion": proportion, "exclusivityTags": [layer], "exclusiveTo": [layer]}
        })
    }

    fn ranges_of(config: &Config) -> Vec<Vec<BucketRange>> {
        config
            .segments
            .iter()
            .map(|s| s.allocated_ranges.clone())
            .chain(config.abtests.iter().map(|t| t.allocated_ranges.clone()))
            .collect()
    }

    #[test]
    fn exclusive_segments_get_disjoint_ranges_in_document_order() {
        let mut c = config(serde_json::json!({"segments": [
            segment("a", "0.4", Some("x"), "UNALLOCATED"),
            segment("b", "0.5", Some("x"), "UNALLOCATED"),
            segment("c", "0.3", Some("y"), "UNALLOCATED"),
        ]}));
        let report = allocate(&mut c).unwrap();
        assert_eq!(
            ranges_of(&c),
            [vec![r(0, 400_000)], vec![r(400_000, 900_000)], vec![r(0, 300_000)]]
        );
        assert!(c.segments.iter().all(|s| s.state == SegmentState::Allocated));
        assert_eq!(report.n_unchanged, 0);
        let placed: Vec<(&str, u32)> =
            report.placements.iter().map(|p| (p.path.as_str(), p.n_buckets)).collect();
        assert_eq!(
            placed,
            [("segments[0]", 400_000), ("segments[1]", 500_000), ("segments[2]", 300_000)]
        );
    }

    #[test]
    fn first_fit_spans_gaps_around_fixed_segments() {
        let mut c = config(serde_json::json!({"segments": [
            {"name": "segments/fixed", "state": "ALLOCATED", "allocatedRanges": [{"lower": 100_000, "upper": 200_000}],
             "allocation": {"proportion": "0.1", "exclusivityTags": ["x"]}},
            {"name": "segments/new", "state": "UNALLOCATED",
             "allocation": {"proportion": "0.25", "exclusiveTo": ["x"]}},
        ]}));
        allocate(&mut c).unwrap();
        assert_eq!(c.segments[0].allocated_ranges, [r(100_000, 200_000)]);
        assert_eq!(c.segments[1].allocated_ranges, [r(0, 100_000), r(200_000, 350_000)]);
    }

    #[test]
    fn ok_segments_without_ranges_hold_the_buckets_below_their_proportion() {
        let mut c = config(serde_json::json!({"segments": [
            segment("old", "0.2", Some("x"), "OK"),
            segment("new", "0.2", Some("x"), "UNALLOCATED"),
        ]}));
        let report = allocate(&mut c).unwrap();
        assert_eq!(report.n_unchanged, 1);
        assert!(c.segments[0].allocated_ranges.is_empty());
        assert_eq!(c.segments[1].allocated_ranges, [r(200_000, 400_000)]);
    }

    #[test]
    fn abtests_are_placed_on_the_resource_and_keep_their_state() {
        let mut c = config(serde_json::json!({
            "segments": [segment("a", "0.5", Some("x"), "UNALLOCATED")],
            "abtests": [abtest("t", "0.3", "x"), abtest("other-layer", "0.3", "y")],
        }));
        allocate(&mut c).unwrap();
        assert_eq!(c.abtests[0].allocated_ranges, [r(500_000, 800_000)]);
        assert_eq!(c.abtests[1].allocated_ranges, [r(0, 300_000)]);
        assert_eq!(c.abtests[0].state, WorkflowState::Live);
    }

    #[test]
    fn archived_segments_and_ended_tests_hold_nothing() {
        let mut ended = abtest("ended", "0.9", "x");
        ended["state"] = "ENDED".into();
        ended["allocatedRanges"] = serde_json::json!([{"lower": 0, "upper": 900_000}]);
        let mut c = config(serde_json::json!({
            "segments": [segment("gone", "1", Some("x"), "ARCHIVED")],
            "abtests": [ended, abtest("new", "0.5", "x")],
        }));
        allocate(&mut c).unwrap();
        assert_eq!(c.abtests[1].allocated_ranges, [r(0, 500_000)]);
        assert_eq!(c.segments[0].state, SegmentState::Archived);
    }

    #[test]
    fn rounding_and_zero_proportion() {
        let mut c = config(serde_json::json!({"segments": [
            segment("tiny", "0.0000005", Some("x"), "UNALLOCATED"),
            segment("none", "0", Some("x"), "UNALLOCATED"),
        ]}));
        allocate(&mut c).unwrap();
        assert_eq!(c.segments[0].allocated_ranges, [r(0, 1)]);
        assert!(c.segments[1].allocated_ranges.is_empty());
        assert_eq!(c.segments[1].state, SegmentState::Allocated);
    }

    #[test]
    fn error_when_full_names_holders_and_changes_nothing() {
        let mut c = config(serde_json::json!({
            "segments": [segment("a", "0.4", Some("x"), "ALLOCATED")],
            "abtests": [abtest("checkout-redesign", "0.4", "x"), abtest("late", "0.3", "x")],
        }));
        c.segments[0].allocated_ranges = vec![r(0, 400_000)];
        let before = c.clone();
        let err = allocate(&mut c).unwrap_err();
        assert_eq!(
            err.to_string(),
            "abtests[1]: needs 300000 allocation buckets but only 200000 are free of \
             segments/a (400000), abtests/checkout-redesign (400000)"
        );
        assert_eq!(c, before);
    }

    #[test]
    fn error_lists_at_most_ten_holders() {
        let mut segments: Vec<_> =
            (0..12).map(|i| segment(&format!("s{i}"), "0.08", Some("x"), "UNALLOCATED")).collect();
        segments.push(segment("big", "0.1", Some("x"), "UNALLOCATED"));
        let mut c = config(serde_json::json!({"segments": segments}));
        let err = allocate(&mut c).unwrap_err().to_string();
        assert!(err.starts_with("segments[12]: needs 100000 allocation buckets but only 40000 are free of segments/s0 (80000), "), "{err}");
        assert!(err.ends_with("segments/s9 (80000) and 2 more (160000)"), "{err}");
    }

    #[test]
    fn proportion_outside_the_unit_interval_is_refused() {
        let mut c =
            config(serde_json::json!({"segments": [segment("a", "1.5", None, "UNALLOCATED")]}));
        let err = allocate(&mut c).unwrap_err();
        assert_eq!(
            err.to_string(),
            "segments[0].allocation.proportion: proportion 1.5 outside [0, 1]"
        );
    }

    #[test]
    fn unallocated_segments_with_stale_ranges_are_placed_again() {
        let mut c = config(serde_json::json!({"segments": [
            segment("a", "0.1", Some("x"), "ALLOCATED"),
            segment("b", "0.1", Some("x"), "UNALLOCATED"),
        ]}));
        c.segments[0].allocated_ranges = vec![r(0, 100_000)];
        c.segments[1].allocated_ranges = vec![r(50_000, 150_000)];
        allocate(&mut c).unwrap();
        assert_eq!(c.segments[1].allocated_ranges, [r(100_000, 200_000)]);
    }

    #[test]
    fn resize_grows_without_moving_and_shrinks_from_the_end() {
        let mut c = config(serde_json::json!({
            "abtests": [abtest("a", "0.2", "x"), abtest("b", "0.2", "x")],
        }));
        allocate(&mut c).unwrap();
        assert_eq!(ranges_of(&c), [vec![r(0, 200_000)], vec![r(200_000, 400_000)]]);
        c.abtests[0].allocation.proportion = Fraction::new(0.5).unwrap();
        let placed = resize(&mut c, AllocationTarget::AbTest(0)).unwrap().unwrap();
        assert_eq!(placed.n_buckets, 500_000);
        assert_eq!(c.abtests[0].allocated_ranges, [r(0, 200_000), r(400_000, 700_000)]);
        c.abtests[0].allocation.proportion = Fraction::new(0.3).unwrap();
        resize(&mut c, AllocationTarget::AbTest(0)).unwrap();
        assert_eq!(c.abtests[0].allocated_ranges, [r(0, 200_000), r(400_000, 500_000)]);
        assert_eq!(resize(&mut c, AllocationTarget::AbTest(0)).unwrap(), None);
        c.abtests[0].allocation.proportion = Fraction::new(0.9).unwrap();
        let before = c.clone();
        let err = resize(&mut c, AllocationTarget::AbTest(0)).unwrap_err();
        assert!(err.to_string().starts_with("abtests[0]: needs 900000 allocation buckets but only 800000 are free of abtests/b (200000)"), "{err}");
        assert_eq!(c, before);
    }

    #[test]
    fn resize_gives_back_the_latest_buckets_first() {
        let mut c = config(serde_json::json!({"abtests": [abtest("a", "0.2", "x")]}));
        c.abtests[0].allocated_ranges = vec![r(500_000, 600_000)];
        resize(&mut c, AllocationTarget::AbTest(0)).unwrap();
        assert_eq!(c.abtests[0].allocated_ranges, [r(500_000, 600_000), r(0, 100_000)]);
        c.abtests[0].allocation.proportion = Fraction::new(0.25).unwrap();
        resize(&mut c, AllocationTarget::AbTest(0)).unwrap();
        assert_eq!(c.abtests[0].allocated_ranges, [r(500_000, 600_000), r(0, 150_000)]);
        c.abtests[0].allocation.proportion = Fraction::new(0.05).unwrap();
        resize(&mut c, AllocationTarget::AbTest(0)).unwrap();
        assert_eq!(c.abtests[0].allocated_ranges, [r(500_000, 550_000)]);
    }

    #[test]
    fn resize_leaves_items_without_ranges_alone() {
        let mut c = config(serde_json::json!({"abtests": [abtest("a", "0.2", "x")]}));
        assert_eq!(resize(&mut c, AllocationTarget::AbTest(0)).unwrap(), None);
        assert_eq!(resize(&mut c, AllocationTarget::AbTest(7)).unwrap(), None);
    }

    #[test]
    fn first_fit_and_merge_helpers() {
        assert_eq!(first_fit(&[], 10), Some(vec![r(0, 10)]));
        assert_eq!(first_fit(&[r(0, 5)], 0), Some(vec![]));
        assert_eq!(first_fit(&[r(0, ALLOCATION_BUCKETS)], 1), None);
        assert_eq!(
            first_fit(&[r(1, 3), r(4, ALLOCATION_BUCKETS - 1)], 3),
            Some(vec![r(0, 1), r(3, 4), r(ALLOCATION_BUCKETS - 1, ALLOCATION_BUCKETS)])
        );
        assert_eq!(first_fit(&[r(1, 3), r(4, ALLOCATION_BUCKETS - 1)], 4), None);
        assert_eq!(merge(vec![r(5, 9), r(0, 5), r(7, 8), r(3, 3)]), [r(0, 9)]);
    }

    /// A random layered config: `(layer, proportion in thousandths)` per segment.
    fn layered(specs: &[(u8, u32)]) -> Config {
        let segments: Vec<_> = specs
            .iter()
            .enumerate()
            .map(|(i, &(layer, milli))| {
                segment(
                    &format!("s{i}"),
                    &format!("0.{milli:03}"),
                    Some(&format!("layer-{layer}")),
                    "UNALLOCATED",
                )
            })
            .collect();
        config(serde_json::json!({"segments": segments}))
    }

    fn overlap(a: &[BucketRange], b: &[BucketRange]) -> bool {
        a.iter().any(|x| b.iter().any(|y| x.lower < y.upper && y.lower < x.upper))
    }

    proptest! {
        #[test]
        fn exclusive_allocations_are_disjoint_and_sized(
            specs in proptest::collection::vec((0u8..3, 0u32..400), 1..12)
        ) {
            let mut c = layered(&specs);
            if allocate(&mut c).is_ok() {
                for (i, a) in c.segments.iter().enumerate() {
                    let want = a.allocation.proportion.buckets_of(ALLOCATION_BUCKETS);
                    prop_assert_eq!(total(&a.allocated_ranges), want);
                    for b in c.segments.iter().skip(i + 1) {
                        if a.allocation.is_exclusive_with(&b.allocation) {
                            prop_assert!(!overlap(&a.allocated_ranges, &b.allocated_ranges));
                        }
                    }
                }
            }
        }

        #[test]
        fn adding_a_segment_never_moves_existing_ranges(
            specs in proptest::collection::vec((0u8..3, 0u32..300), 1..10),
            layer in 0u8..3, milli in 0u32..300,
        ) {
            let mut c = layered(&specs);
            prop_assume!(allocate(&mut c).is_ok());
            let before = ranges_of(&c);
            c.segments.push(config(serde_json::json!({"segments": [segment(
                "late", &format!("0.{milli:03}"), Some(&format!("layer-{layer}")), "UNALLOCATED",
            )]})).segments.remove(0));
            let again = c.clone();
            match allocate(&mut c) {
                Ok(report) => {
                    prop_assert_eq!(report.placements.len(), 1);
                    let after = ranges_of(&c);
                    prop_assert_eq!(&after[..before.len()], &before[..]);
                }
                Err(AllocateError::NoSpace { needed, free, .. }) => {
                    prop_assert!(free < needed);
                    prop_assert_eq!(c, again);
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}

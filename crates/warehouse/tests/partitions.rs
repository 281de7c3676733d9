//! Daily partial sums merge into the whole (DESIGN §3.1): for random data, the rows per day of
//! first exposure, summed, equal the rows of one pass; and merging is insensitive to how the
//! daily rows are split into batches and in which order they come.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use flagstone_warehouse::reference::reference_rows;
use flagstone_warehouse::rows::{self, Row};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn daily_partitions_merge_into_one_pass(
        units in 1_u64..120,
        seed in any::<u64>(),
        cuped in any::<bool>(),
        batches in 1_usize..5,
        shuffle in any::<u64>(),
    ) {
        let (exposures, events) = common::data(units, seed);
        let whole = reference_rows(exposures.clone(), events.clone(), &common::definition(false, cuped)).unwrap();
        let daily = reference_rows(exposures, events, &common::definition(true, cuped)).unwrap();
        // Split the daily rows into random batches (as incremental runs would produce them),
        // merge each batch, then merge the batches.
        let mut rng = common::Rng(shuffle);
        let mut parts: Vec<Vec<Row>> = vec![Vec::new(); batches];
        for row in daily {
            parts[(rng.next() % batches as u64) as usize].push(row);
        }
        let partial: Vec<Row> = parts.iter().rev().flat_map(|p| rows::merge(p)).collect();
        let merged = rows::merge(&partial);
        common::assert_rows_match("merged days", &rows::merge(&whole), &merged);
    }
}

//! Bucketing benches (spec §2.4): the `murmur3` crate's reader API against Flagstone's streaming
//! MurmurHash3 behind `bucket_of`, both over the same 40-byte key `"{salt}|{unit}"`.
//!
//! The streaming hasher is internal to `flagstone_core::bucket`; it is measured through
//! `bucket_of`, which is the hasher's three chained updates and one remainder.
//!
//! Measured when the hasher was written, before it became internal (one hash of this key, minimum
//! of 41 interleaved runs on a shared 2-core machine; criterion medians under load agreed in ratio):
//!
//! | bench | what | time |
//! | --- | --- | --- |
//! | `bucket/murmur3` | the crate, a `Cursor` over the whole key | 16.5 ns |
//! | `bucket/murmur3_chain` | the crate, `Read::chain` over the parts | 35.0 ns |
//! | — | the streaming hasher alone, chained over the parts | 11.2 ns |
//! | — | the same through a slice of parts, inlined | 11.0 ns |
//! | `bucket/bucket_of` | the streaming hasher and the remainder | 11.5 ns |
//!
//! The crate costs about 1.5 times as much over the whole key and 3 times as much over chained
//! readers. How the parts are fed matters as much: on this key in three parts, a chain of updates
//! took 11 ns, a `fold` over a slice of parts 23 ns and a generic helper taking the update function
//! as a closure 21 ns (both keep the hasher state in memory, not in registers), which is why
//! `bucket::fold_parts!` unrolls up to three parts into a chain and the slice functions are
//! `#[inline(always)]` (21 ns when such a call is not inlined). Rejected designs, same harness: a
//! `[u8; 16]` pending buffer filled by `copy_from_slice` (calls to `memcpy`) 33 ns; copying the
//! parts into a stack buffer and hashing that 14 to 23 ns (store-forwarding stalls).

use std::hint::black_box;
use std::io::{Cursor, Read};
use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use flagstone_core::bucket::bucket_of;

/// 24 bytes of salt, the separator and a 15-byte unit: a 40-byte key.
const SALT: &str = "MegaSalt-confidence-test";
const UNIT: &str = "user-1234567890";
const KEY: &str = "MegaSalt-confidence-test|user-1234567890";

fn bucket(c: &mut Criterion) {
    debug_assert_eq!(KEY.len(), 40);
    debug_assert_eq!(KEY, format!("{SALT}|{UNIT}"));
    let n_buckets = NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MAX);
    let mut group = c.benchmark_group("bucket");

    // The crate's reader API over the whole key, as a caller that already holds the string would use
    // it (building the string would add an allocation on top).
    group.bench_function("murmur3", |b| {
        b.iter(|| murmur3::murmur3_x64_128(&mut Cursor::new(black_box(KEY).as_bytes()), 0).ok())
    });
    // The crate's reader API over the parts, chained: also allocation-free.
    group.bench_function("murmur3_chain", |b| {
        b.iter(|| {
            let mut reader =
                black_box(SALT).as_bytes().chain(&b"|"[..]).chain(black_box(UNIT).as_bytes());
            murmur3::murmur3_x64_128(&mut reader, 0).ok()
        })
    });
    // Flagstone's streaming MurmurHash3 over the three parts, and the remainder.
    group.bench_function("bucket_of", |b| {
        b.iter(|| bucket_of(black_box(SALT), black_box(UNIT), black_box(n_buckets)))
    });
    group.finish();
}

criterion_group!(benches, bucket);
criterion_main!(benches);

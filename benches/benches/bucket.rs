//! Bucketing benches (spec §2.4): the `murmur3` crate's reader API against Flagstone's streaming
//! MurmurHash3, both over the same 40-byte key `"{salt}|{unit}"`.

use std::hint::black_box;
use std::io::{Cursor, Read};
use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use flagstone_core::bucket::{Murmur3X64, bucket_of, hash_parts};

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
    // Flagstone's streaming MurmurHash3 over the three parts, chained as `bucket_of` does it.
    group.bench_function("murmur3_parts", |b| {
        b.iter(|| {
            Murmur3X64::new(0)
                .update(black_box(SALT).as_bytes())
                .update(b"|")
                .update(black_box(UNIT).as_bytes())
                .finish()
        })
    });
    // The same through the slice-of-parts API.
    group.bench_function("murmur3_parts_slice", |b| {
        b.iter(|| hash_parts(&[black_box(SALT).as_bytes(), b"|", black_box(UNIT).as_bytes()]))
    });
    group.bench_function("bucket_of", |b| {
        b.iter(|| bucket_of(black_box(SALT), black_box(UNIT), black_box(n_buckets)))
    });
    group.finish();
}

criterion_group!(benches, bucket);
criterion_main!(benches);

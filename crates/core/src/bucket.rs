//! Bucketing: stable hashing of units into buckets.
//!
//! Flagstone's own scheme (spec §2.4) hashes `"{salt}|{unit}"` with MurmurHash3 x64 128-bit, seed 0,
//! keeps the first 64-bit half (`h1` of the reference algorithm), and takes `(h1 >> 4) % n_buckets`.
//! [`bucket_of`] does exactly that.
//!
//! The compatibility schemes of issue #8 let a team that moves from Unleash or flagd keep every unit in
//! the bucket it had there: [`unleash_normalized`] (with [`unleash_rollout_bucket`] and
//! [`unleash_variant_bucket`]) and [`flagd_bucket`] (with the older [`flagd_bucket_v1`]), all built on
//! [`murmur3_x86_32`].
//!
//! # Hashing in parts
//!
//! The hashers [`Murmur3X64`] and [`Murmur3X86`] take their input in pieces and hash the
//! concatenation without building it: the bytes of a block that straddles two pieces are assembled
//! in a register, full blocks are read in place. `bucket_of("salt", "unit", n)` therefore never
//! allocates, whatever the lengths. The slice functions ([`hash_parts`], [`murmur3_x64_128`],
//! [`murmur3_x86_32`]) fold the same hashers over a list of pieces.
//!
//! The `murmur3` crate gives the same values (the tests check it on random inputs of every length
//! split at random places) but only through `std::io::Read`, which costs about 1.5 times as much for
//! a 40-byte key, and 3 times as much over chained readers (benches `bucket/*`). It is only a test
//! oracle.
//!
//! # Input safety
//!
//! All functions are total: any input, including empty parts and non-ASCII text, gives a value, and a
//! bucket is always below its bucket count (the count is a [`NonZeroU32`], so there is no division by
//! zero).

use std::num::NonZeroU32;

/// Feeds `$parts` (a slice of `AsRef<[u8]>`) to `$hasher` in order and evaluates to the hasher.
///
/// Up to three parts are fed by a straight chain of calls. Measured on a 40-byte key in three parts,
/// the chain takes 11 ns, a `fold` over the slice 23 ns and a generic helper taking the update
/// function as a closure 21 ns: both keep the hasher state in memory. A macro keeps the chain, and
/// the slice functions that use it are `#[inline(always)]` so that a slice of known length (the usual
/// `&[a, b, c]`) selects its arm at compile time (21 ns when the call is not inlined).
macro_rules! fold_parts {
    ($hasher:expr, $parts:expr) => {{
        let hasher = $hasher;
        match $parts {
            [] => hasher,
            [a] => hasher.update(a.as_ref()),
            [a, b] => hasher.update(a.as_ref()).update(b.as_ref()),
            [a, b, c] => hasher.update(a.as_ref()).update(b.as_ref()).update(c.as_ref()),
            parts => parts.iter().fold(hasher, |hasher, part| hasher.update(part.as_ref())),
        }
    }};
}

/// Flagstone's bucket of `unit_key` under `salt` (spec §2.4): `(h1 >> 4) % n_buckets`, where `h1` is
/// [`hash_parts`] of the UTF-8 bytes of `"{salt}|{unit_key}"`.
///
/// The string is hashed in three pieces with [`Murmur3X64`], so nothing is allocated. The result is always below
/// `n_buckets` and depends only on the inputs (stable across runs, platforms and versions).
///
/// # Examples
///
/// ```
/// use std::num::NonZeroU32;
/// use flagstone_core::bucket::bucket_of;
///
/// let n_buckets = NonZeroU32::new(1_000_000).ok_or("zero buckets")?;
/// assert_eq!(bucket_of("MegaSalt-confidence-test", "roug", n_buckets), 567_493);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
#[must_use]
pub fn bucket_of(salt: &str, unit_key: &str, n_buckets: NonZeroU32) -> u32 {
    // A chain of updates rather than `hash_parts`: no array of parts is built, and the state stays in
    // registers.
    let h1 = Murmur3X64::new(0)
        .update(salt.as_bytes())
        .update(b"|")
        .update(unit_key.as_bytes())
        .finish() as u64;
    // The remainder is below `n_buckets`, which fits in a u32, so the cast is lossless.
    ((h1 >> 4) % u64::from(n_buckets.get())) as u32
}

/// Flagstone's hash (spec §2.4): the first 64-bit half (`h1`) of MurmurHash3 x64 128-bit with seed 0
/// over the concatenation of `parts`.
///
/// This is the low 64 bits of [`murmur3_x64_128`] and of the `murmur3` crate's `murmur3_x64_128`, and
/// the first half that Python's `mmh3.hash128` prints. How the input is split into parts never changes
/// the result.
///
/// # Examples
///
/// ```
/// use flagstone_core::bucket::hash_parts;
///
/// assert_eq!(hash_parts(&[b"ab", b"", b"c"]), hash_parts(&[b"abc"]));
/// ```
#[inline(always)]
#[must_use]
pub fn hash_parts(parts: &[&[u8]]) -> u64 {
    // The low half of the 128-bit value is `h1`.
    murmur3_x64_128(parts, 0) as u64
}

/// MurmurHash3 x64 128-bit (Austin Appleby's `MurmurHash3_x64_128`) of the concatenation of `parts`,
/// as `(h2 << 64) | h1`, the layout of the `murmur3` crate.
///
/// # Examples
///
/// ```
/// use flagstone_core::bucket::murmur3_x64_128;
///
/// assert_eq!(murmur3_x64_128(&[], 0), 0);
/// assert_eq!(murmur3_x64_128(&[b"hello", b" ", b"world"], 0), murmur3_x64_128(&[b"hello world"], 0));
/// ```
#[inline(always)]
#[must_use]
pub fn murmur3_x64_128(parts: &[&[u8]], seed: u32) -> u128 {
    fold_parts!(Murmur3X64::new(seed), parts).finish()
}

/// MurmurHash3 x86 32-bit (Austin Appleby's `MurmurHash3_x86_32`) of the concatenation of `parts`.
///
/// This is the hash of Unleash and flagd (and of the `murmur3` crate's `murmur3_32`).
///
/// # Examples
///
/// ```
/// use flagstone_core::bucket::murmur3_x86_32;
///
/// assert_eq!(murmur3_x86_32(&[b"AB12A", b":", b"123"], 0), 1_954_468_150);
/// ```
#[inline(always)]
#[must_use]
pub fn murmur3_x86_32(parts: &[&[u8]], seed: u32) -> u32 {
    fold_parts!(Murmur3X86::new(seed), parts).finish()
}

/// The seed Unleash uses to hash for variants (`VARIANT_HASH_SEED` in the Unleash SDKs).
pub const UNLEASH_VARIANT_SEED: u32 = 86_028_157;

/// Unleash's `normalizedHash`: `murmur3_x86_32("{group}:{unit}", seed) % modulus + 1`, in
/// `1..=modulus`.
///
/// Rollouts use seed 0 and modulus 100 ([`unleash_rollout_bucket`]); variants use
/// [`UNLEASH_VARIANT_SEED`] and the sum of the variant weights ([`unleash_variant_bucket`]).
///
/// # Examples
///
/// ```
/// use std::num::NonZeroU32;
/// use flagstone_core::bucket::unleash_normalized;
///
/// let modulus = NonZeroU32::new(100).ok_or("zero modulus")?;
/// assert_eq!(unleash_normalized("AB12A", "122", 0, modulus), 23);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
#[must_use]
pub fn unleash_normalized(group: &str, unit: &str, seed: u32, modulus: NonZeroU32) -> u32 {
    let h = Murmur3X86::new(seed)
        .update(group.as_bytes())
        .update(b":")
        .update(unit.as_bytes())
        .finish();
    // `h % modulus < modulus <= u32::MAX`, so adding 1 cannot overflow.
    h % modulus.get() + 1
}

/// Unleash's rollout bucket of `unit` in `group` (the toggle name unless the strategy sets `groupId`),
/// in `1..=100`: the unit is in a rollout of `p` percent when `p > 0` and the bucket is at most `p`.
///
/// # Examples
///
/// ```
/// use flagstone_core::bucket::unleash_rollout_bucket;
///
/// assert_eq!(unleash_rollout_bucket("Feature.flexibleRollout.10", "174"), 10);
/// ```
#[inline]
#[must_use]
pub fn unleash_rollout_bucket(group: &str, unit: &str) -> u32 {
    unleash_normalized(group, unit, 0, NonZeroU32::MIN.saturating_add(99))
}

/// Unleash's variant bucket of `unit` in `group`, in `1..=total_weight`: the unit gets the first variant
/// whose running weight sum is at least the bucket.
///
/// # Examples
///
/// ```
/// use std::num::NonZeroU32;
/// use flagstone_core::bucket::unleash_variant_bucket;
///
/// let total_weight = NonZeroU32::new(2).ok_or("zero weight")?;
/// assert_eq!(unleash_variant_bucket("Feature.Variants.B", "2", total_weight), 2);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
#[must_use]
pub fn unleash_variant_bucket(group: &str, unit: &str, total_weight: NonZeroU32) -> u32 {
    unleash_normalized(group, unit, UNLEASH_VARIANT_SEED, total_weight)
}

/// flagd's `fractional` bucket (v2, flagd-testbed `@fractional-v2`) of the concatenation of
/// `key_parts`, in `0..total_weight`: `(murmur3_x86_32(key, 0) as u64 * total_weight) >> 32`.
///
/// The unit gets the first variant whose running weight sum is above the bucket. flagd's implicit key
/// is the flag key followed by the targeting key, so pass `&[flag_key, targeting_key]`.
///
/// # Examples
///
/// ```
/// use std::num::NonZeroU32;
/// use flagstone_core::bucket::flagd_bucket;
///
/// let total_weight = NonZeroU32::new(100).ok_or("zero weight")?;
/// assert_eq!(flagd_bucket(&["fractional-flag", "jack"], total_weight), 62);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
#[must_use]
pub fn flagd_bucket(key_parts: &[&str], total_weight: NonZeroU32) -> u32 {
    let h = fold_parts!(Murmur3X86::new(0), key_parts).finish();
    // `h < 2^32`, so the product is below `total_weight * 2^32` and the shift leaves a value below
    // `total_weight`: the cast is lossless.
    ((u64::from(h) * u64::from(total_weight.get())) >> 32) as u32
}

/// flagd's older `fractional` bucket (v1, flagd-testbed `@fractional-v1`) of the concatenation of
/// `key_parts`, in `0..=100`: `int(|h as i32| / (2^31 - 1) * 100)`.
///
/// flagd v1 then walks the variants adding `weight * 100 / total_weight` (as a float) and picks the
/// first whose running sum is above the bucket. Prefer [`flagd_bucket`]; this one only exists so that
/// units bucketed by old flagd versions can be reproduced.
///
/// # Examples
///
/// ```
/// use flagstone_core::bucket::flagd_bucket_v1;
///
/// assert_eq!(flagd_bucket_v1(&["fractional-flag", "jack"]), 75);
/// ```
#[inline]
#[must_use]
pub fn flagd_bucket_v1(key_parts: &[&str]) -> u32 {
    let h = fold_parts!(Murmur3X86::new(0), key_parts).finish();
    // flagd reads the hash as an i32; `unsigned_abs` keeps `i32::MIN` representable (bucket 100).
    let magnitude = (h as i32).unsigned_abs();
    // The ratio is at most 2^31 / (2^31 - 1), so the product is in [0, 100.00000005) and the
    // truncating cast gives 0..=100 like flagd's `int(...)`.
    (f64::from(magnitude) / f64::from(i32::MAX) * 100.0) as u32
}

/// An incremental MurmurHash3 x64 128-bit hasher (Austin Appleby's `MurmurHash3_x64_128`): feed it
/// byte slices with [`update`](Self::update), in as many pieces as convenient, and
/// [`finish`](Self::finish) gives the hash of their concatenation.
///
/// Nothing is buffered on the heap: the state is four words and a partial block of at most 15 bytes,
/// kept in a `u128`. The hasher is `Copy` and `update` takes and returns it by value, so a chain of
/// calls compiles to straight-line code with the state in registers; this is how [`bucket_of`] hashes
/// `"{salt}|{unit}"` without building the string.
///
/// # Examples
///
/// ```
/// use flagstone_core::bucket::{Murmur3X64, murmur3_x64_128};
///
/// let h = Murmur3X64::new(0).update(b"MegaSalt-confidence-test").update(b"|").update(b"roug");
/// assert_eq!(h.finish(), murmur3_x64_128(&[b"MegaSalt-confidence-test|roug"], 0));
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Murmur3X64 {
    h1: u64,
    h2: u64,
    /// The bytes of the current partial block, little-endian in the low `8 * n_pending` bits.
    pending: u128,
    /// How many bytes `pending` holds, always below 16.
    n_pending: usize,
    /// Bytes fed so far (the reference mixes the length in modulo 2^64).
    n_total: u64,
}

impl Murmur3X64 {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;

    /// A hasher with this seed and no input yet.
    #[inline]
    pub const fn new(seed: u32) -> Self {
        Murmur3X64 { h1: seed as u64, h2: seed as u64, pending: 0, n_pending: 0, n_total: 0 }
    }

    /// Feeds `bytes`; the result is the same however the input is split.
    #[inline(always)]
    pub fn update(mut self, bytes: &[u8]) -> Self {
        self.n_total = self.n_total.wrapping_add(bytes.len() as u64);
        let mut rest = bytes;
        if self.n_pending > 0 {
            // Complete the block that earlier input started, in registers.
            let n_take = (16 - self.n_pending).min(rest.len());
            let (head, tail) = rest.split_at_checked(n_take).unwrap_or((rest, &[]));
            // `n_pending < 16`, so the shift is below 128.
            self.pending |= load_le_u128(head).checked_shl(8 * self.n_pending as u32).unwrap_or(0);
            self.n_pending += head.len();
            if self.n_pending < 16 {
                return self;
            }
            self.mix_block(self.pending);
            rest = tail;
        }
        let (blocks, tail) = rest.as_chunks::<16>();
        for block in blocks {
            self.mix_block(u128::from_le_bytes(*block));
        }
        self.pending = load_le_u128(tail);
        self.n_pending = tail.len();
        self
    }

    /// The hash of everything fed, as `(h2 << 64) | h1`, the layout of the `murmur3` crate; `h1`, the
    /// low half, is the first half that Python's `mmh3.hash128` prints.
    #[inline(always)]
    #[must_use]
    pub fn finish(self) -> u128 {
        let Murmur3X64 { mut h1, mut h2, pending, n_total, .. } = self;
        // The reference mixes the tail words only when they hold bytes; mixing a zero word is a no-op
        // (0 * c = 0, rotate 0 = 0, h ^ 0 = h), so the zero-extended tail is mixed unconditionally.
        h2 ^= Self::mix_k2((pending >> 64) as u64);
        h1 ^= Self::mix_k1(pending as u64);

        h1 ^= n_total;
        h2 ^= n_total;
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        h1 = fmix64(h1);
        h2 = fmix64(h2);
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        (u128::from(h2) << 64) | u128::from(h1)
    }

    #[inline(always)]
    fn mix_k1(k1: u64) -> u64 {
        k1.wrapping_mul(Self::C1).rotate_left(31).wrapping_mul(Self::C2)
    }

    #[inline(always)]
    fn mix_k2(k2: u64) -> u64 {
        k2.wrapping_mul(Self::C2).rotate_left(33).wrapping_mul(Self::C1)
    }

    /// One 16-byte block, as a little-endian `u128` (its low word is the reference's `k1`).
    #[inline(always)]
    fn mix_block(&mut self, block: u128) {
        let (k1, k2) = (block as u64, (block >> 64) as u64);
        self.h1 ^= Self::mix_k1(k1);
        self.h1 =
            self.h1.rotate_left(27).wrapping_add(self.h2).wrapping_mul(5).wrapping_add(0x52dc_e729);
        self.h2 ^= Self::mix_k2(k2);
        self.h2 =
            self.h2.rotate_left(31).wrapping_add(self.h1).wrapping_mul(5).wrapping_add(0x3849_5ab5);
    }
}

/// An incremental MurmurHash3 x86 32-bit hasher (Austin Appleby's `MurmurHash3_x86_32`), the hash of
/// Unleash and flagd; it works like [`Murmur3X64`].
///
/// # Examples
///
/// ```
/// use flagstone_core::bucket::Murmur3X86;
///
/// let h = Murmur3X86::new(0).update(b"AB12A").update(b":").update(b"123");
/// assert_eq!(h.finish(), 1_954_468_150);
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Murmur3X86 {
    h: u32,
    /// The bytes of the current partial block, little-endian in the low `8 * n_pending` bits.
    pending: u32,
    /// How many bytes `pending` holds, always below 4.
    n_pending: usize,
    /// Bytes fed so far (the reference mixes the length in modulo 2^32).
    n_total: u32,
}

impl Murmur3X86 {
    /// A hasher with this seed and no input yet.
    #[inline]
    pub const fn new(seed: u32) -> Self {
        Murmur3X86 { h: seed, pending: 0, n_pending: 0, n_total: 0 }
    }

    /// Feeds `bytes`; the result is the same however the input is split.
    #[inline(always)]
    pub fn update(mut self, bytes: &[u8]) -> Self {
        // The reference mixes in the length as a 32-bit integer, so counting modulo 2^32 is exact.
        self.n_total = self.n_total.wrapping_add(bytes.len() as u32);
        let mut rest = bytes;
        if self.n_pending > 0 {
            let n_take = (4 - self.n_pending).min(rest.len());
            let (head, tail) = rest.split_at_checked(n_take).unwrap_or((rest, &[]));
            // `n_pending < 4`, so the shift is below 32.
            self.pending |=
                (load_le_u64(head) as u32).checked_shl(8 * self.n_pending as u32).unwrap_or(0);
            self.n_pending += head.len();
            if self.n_pending < 4 {
                return self;
            }
            self.mix_block(self.pending);
            rest = tail;
        }
        let (blocks, tail) = rest.as_chunks::<4>();
        for block in blocks {
            self.mix_block(u32::from_le_bytes(*block));
        }
        // `tail` is at most 3 bytes.
        self.pending = load_le_u64(tail) as u32;
        self.n_pending = tail.len();
        self
    }

    /// The hash of everything fed.
    #[inline(always)]
    #[must_use]
    pub fn finish(self) -> u32 {
        // As in `Murmur3X64::finish`, mixing an all-zero tail is a no-op.
        let mut h = self.h ^ Self::mix_k(self.pending);
        h ^= self.n_total;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^= h >> 16;
        h
    }

    #[inline(always)]
    fn mix_k(k: u32) -> u32 {
        k.wrapping_mul(0xcc9e_2d51).rotate_left(15).wrapping_mul(0x1b87_3593)
    }

    #[inline(always)]
    fn mix_block(&mut self, block: u32) {
        self.h ^= Self::mix_k(block);
        self.h = self.h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
}

/// MurmurHash3's 64-bit finaliser.
#[inline(always)]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The first 16 bytes of `bytes` as a little-endian `u128`, zero-extended when there are fewer.
///
/// Built from at most four fixed-size loads, without a copy loop or a call to `memcpy`.
#[inline(always)]
fn load_le_u128(bytes: &[u8]) -> u128 {
    if let Some(block) = bytes.first_chunk::<16>() {
        return u128::from_le_bytes(*block);
    }
    let (low, high) = bytes.split_at(bytes.len().min(8));
    u128::from(load_le_u64(low)) | (u128::from(load_le_u64(high)) << 64)
}

/// The first 8 bytes of `bytes` as a little-endian `u64`, zero-extended when there are fewer.
///
/// Short inputs are read with two overlapping loads (4 to 7 bytes) or three single bytes (1 to 3),
/// a standard trick that avoids a loop; overlapping bytes are equal, so OR-ing them is exact.
#[inline(always)]
fn load_le_u64(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if let Some(word) = bytes.first_chunk::<8>() {
        u64::from_le_bytes(*word)
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        // 4 <= n < 8: `last` holds bytes n - 4 .. n.
        u64::from(u32::from_le_bytes(*first))
            | (u64::from(u32::from_le_bytes(*last)) << (8 * (n - 4)))
    } else {
        // 0 <= n < 4: bytes 0, n / 2 and n - 1 cover every byte.
        let byte_at = |idx: usize| u64::from(bytes.get(idx).copied().unwrap_or(0)) << (8 * idx);
        byte_at(0) | byte_at(n / 2) | byte_at(n.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use std::io::Cursor;

    fn n(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).unwrap()
    }

    /// The `murmur3` crate's x64 128-bit hash of `bytes`: the oracle.
    fn oracle_x64_128(bytes: &[u8], seed: u32) -> u128 {
        murmur3::murmur3_x64_128(&mut Cursor::new(bytes), seed).unwrap()
    }

    /// The `murmur3` crate's x86 32-bit hash of `bytes`: the oracle.
    fn oracle_x86_32(bytes: &[u8], seed: u32) -> u32 {
        murmur3::murmur3_32(&mut Cursor::new(bytes), seed).unwrap()
    }

    /// Splits `bytes` at `cuts` (any positions, in any order, repeats allowed: empty parts).
    fn split_at_cuts<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
        let mut positions: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
        positions.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for position in positions {
            parts.push(&bytes[start..position]);
            start = position;
        }
        parts.push(&bytes[start..]);
        parts
    }

    #[test]
    fn design_test_vector() {
        // spec §2.4 and issue #3.
        assert_eq!(bucket_of("MegaSalt-confidence-test", "roug", n(1_000_000)), 567_493);
    }

    #[test]
    fn known_values() {
        // Reference values of MurmurHash3_x64_128 (seed 0) as Python's `mmh3.hash64(s, signed=False)`
        // prints them, and of MurmurHash3_x86_32 (the SMHasher verification inputs).
        assert_eq!(murmur3_x64_128(&[], 0), 0);
        assert_eq!(hash_parts(&[b"hello"]), 0xcbd8_a7b3_41bd_9b02);
        assert_eq!(murmur3_x86_32(&[], 0), 0);
        assert_eq!(murmur3_x86_32(&[], 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(&[b"hello"], 0), 0x248b_fa47);
        assert_eq!(
            murmur3_x86_32(&[b"The quick brown fox jumps over the lazy dog"], 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn every_length_matches_the_crate() {
        // Every tail length and block count for both block sizes, whole and byte by byte.
        let bytes: Vec<u8> = (0..=255_u8).collect();
        for len in 0..=bytes.len() {
            let input = &bytes[..len];
            let byte_parts: Vec<&[u8]> = input.chunks(1).collect();
            for seed in [0, 1, UNLEASH_VARIANT_SEED, u32::MAX] {
                assert_eq!(murmur3_x64_128(&[input], seed), oracle_x64_128(input, seed), "{len}");
                assert_eq!(
                    murmur3_x64_128(&byte_parts, seed),
                    oracle_x64_128(input, seed),
                    "{len}"
                );
                assert_eq!(murmur3_x86_32(&[input], seed), oracle_x86_32(input, seed), "{len}");
                assert_eq!(murmur3_x86_32(&byte_parts, seed), oracle_x86_32(input, seed), "{len}");
            }
        }
    }

    #[test]
    fn bucket_edges() {
        assert_eq!(bucket_of("", "", NonZeroU32::MIN), 0);
        assert!(bucket_of("salt", "unit", NonZeroU32::MAX) < u32::MAX);
        assert_eq!(flagd_bucket(&[], NonZeroU32::MIN), 0);
        assert_eq!(unleash_rollout_bucket("", ""), murmur3_x86_32(&[b":"], 0) % 100 + 1);
    }

    proptest! {
        #[test]
        fn x64_128_in_parts_equals_the_crate(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            seed in prop_oneof![Just(0_u32), any::<u32>()],
        ) {
            let parts = split_at_cuts(&bytes, &cuts);
            prop_assert_eq!(murmur3_x64_128(&parts, seed), oracle_x64_128(&bytes, seed));
            prop_assert_eq!(murmur3_x64_128(&parts, seed), murmur3_x64_128(&[&bytes], seed));
            if seed == 0 {
                prop_assert_eq!(hash_parts(&parts), oracle_x64_128(&bytes, 0) as u64);
            }
        }

        #[test]
        fn x86_32_in_parts_equals_the_crate(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            seed in prop_oneof![Just(0_u32), Just(UNLEASH_VARIANT_SEED), any::<u32>()],
        ) {
            let parts = split_at_cuts(&bytes, &cuts);
            prop_assert_eq!(murmur3_x86_32(&parts, seed), oracle_x86_32(&bytes, seed));
            prop_assert_eq!(murmur3_x86_32(&parts, seed), murmur3_x86_32(&[&bytes], seed));
        }

        #[test]
        fn text_in_parts_equals_the_crate(
            // Any Unicode scalar values (multi-byte UTF-8 included), split inside code points too.
            text in "\\PC{0,60}",
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let bytes = text.as_bytes();
            let parts = split_at_cuts(bytes, &cuts);
            prop_assert_eq!(murmur3_x64_128(&parts, 0), oracle_x64_128(bytes, 0));
            prop_assert_eq!(murmur3_x86_32(&parts, 0), oracle_x86_32(bytes, 0));
        }

        #[test]
        fn bucket_of_equals_the_concatenated_key(
            salt in "\\PC{0,40}",
            unit in "\\PC{0,100}",
            n_buckets in 1_u32..,
        ) {
            let key = format!("{salt}|{unit}");
            let h1 = oracle_x64_128(key.as_bytes(), 0) as u64;
            let bucket = bucket_of(&salt, &unit, n(n_buckets));
            prop_assert_eq!(u64::from(bucket), (h1 >> 4) % u64::from(n_buckets));
            prop_assert!(bucket < n_buckets);
        }

        #[test]
        fn compat_buckets_stay_in_range(
            group in "\\PC{0,30}",
            unit in "\\PC{0,30}",
            total_weight in 1_u32..,
        ) {
            prop_assert!((1..=100).contains(&unleash_rollout_bucket(&group, &unit)));
            prop_assert!((1..=total_weight).contains(&unleash_variant_bucket(&group, &unit, n(total_weight))));
            let key = format!("{group}:{unit}");
            prop_assert_eq!(
                unleash_variant_bucket(&group, &unit, n(total_weight)),
                oracle_x86_32(key.as_bytes(), UNLEASH_VARIANT_SEED) % total_weight + 1
            );
            prop_assert!(flagd_bucket(&[&group, &unit], n(total_weight)) < total_weight);
            prop_assert!(flagd_bucket_v1(&[&group, &unit]) <= 100);
        }
    }

    /// splitmix64's output function: a bijection on u64 (Steele, Lea, Flood 2014).
    fn splitmix64(mut x: u64) -> u64 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    /// Pearson's chi-square statistic of `counts` against equal expected counts.
    fn chi_square_uniform(counts: &[u64]) -> f64 {
        let n_total: u64 = counts.iter().sum();
        let expected = n_total as f64 / counts.len() as f64;
        counts.iter().map(|&observed| (observed as f64 - expected).powi(2) / expected).sum()
    }

    #[test]
    fn buckets_are_uniform() {
        // Upper 0.001 critical value of the chi-square distribution with 100 - 1 = 99 degrees of
        // freedom: 148.230 (NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.6.7.4, "Critical
        // Values of the Chi-Square Distribution"). A statistic below it means p > 0.001.
        const CRITICAL_99_DOF_P_0_001: f64 = 148.230;
        const N_UNITS: usize = 100_000;
        const N_BUCKETS: u32 = 100;

        // A fixed RNG seed keeps the test deterministic: a uniform hash fails a test at p = 0.001 once
        // in a thousand draws, and CI must not flake on that.
        let config = Config {
            cases: 4,
            failure_persistence: None,
            max_shrink_iters: 0,
            ..Config::default()
        };
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let strategy = ("[A-Za-z0-9-]{1,32}", any::<u64>()).prop_map(|(salt, seed)| {
            // Units are distinct, as user ids are (a repeated unit lands in the same bucket again and
            // inflates the statistic without any fault of the hash): splitmix64 is a bijection of the
            // counter, so its outputs, and the units, never repeat.
            const PREFIXES: [&str; 5] = ["", "user-", "ü", "用户", "🦀"];
            let units: Vec<String> = (0..N_UNITS as u64)
                .map(|idx| {
                    let x = splitmix64(seed.wrapping_add(idx));
                    format!("{}{x:x}", PREFIXES[(x % 5) as usize])
                })
                .collect();
            (salt, units)
        });
        let result = runner.run(&strategy, |(salt, units)| {
            let mut counts = vec![0_u64; N_BUCKETS as usize];
            for unit in &units {
                counts[bucket_of(&salt, unit, n(N_BUCKETS)) as usize] += 1;
            }
            let statistic = chi_square_uniform(&counts);
            prop_assert!(
                statistic < CRITICAL_99_DOF_P_0_001,
                "salt {salt:?}: chi-square {statistic:.2} >= {CRITICAL_99_DOF_P_0_001}"
            );
            Ok(())
        });
        // Report the reason only: the failing input is 100,000 strings long.
        if let Err(proptest::test_runner::TestError::Fail(reason, _)) = &result {
            panic!("{reason}");
        }
        assert!(result.is_ok(), "{:?}", result.err().map(|err| err.to_string()));
    }

    /// One case of `bucketing.jsonl` for an algorithm built on `murmur3_x86_32`.
    #[derive(serde::Deserialize)]
    struct BucketingCase {
        id: String,
        algorithm: String,
        seed: u32,
        input_string: String,
        expected_hash: u32,
        expected_bucket: u32,
        #[serde(default)]
        modulus: Option<u32>,
        #[serde(default)]
        rollout_percentage: Option<u32>,
        #[serde(default)]
        expected_in_rollout: Option<bool>,
        #[serde(default)]
        weights: Vec<(String, u32)>,
        #[serde(default)]
        expected_variant: Option<String>,
    }

    /// The third-party conformance corpus, `tests/data/conformance` of the repository.
    fn conformance_path(file: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/conformance")
            .join(file)
    }

    fn read_conformance(file: &str) -> String {
        let path = conformance_path(file);
        std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "cannot read the conformance corpus at {}: {err}; it is part of the repository, \
                 and this test must not pass without it",
                path.display()
            )
        })
    }

    /// Checks one case; returns the algorithm when it is one this module implements.
    fn check_bucketing_case(case: &BucketingCase) -> Option<&'static str> {
        let id = &case.id;
        let input = &case.input_string;
        match case.algorithm.as_str() {
            "unleash_normalized_hash" | "unleash_variant" => {
                let (group, unit) = input.split_once(':').unwrap();
                let modulus = case.modulus.unwrap();
                let expected_seed =
                    if case.algorithm == "unleash_variant" { UNLEASH_VARIANT_SEED } else { 0 };
                assert_eq!(case.seed, expected_seed, "{id}: seed");
                assert_eq!(
                    murmur3_x86_32(&[input.as_bytes()], case.seed),
                    case.expected_hash,
                    "{id}"
                );
                let bucket = unleash_normalized(group, unit, case.seed, n(modulus));
                assert_eq!(bucket, case.expected_bucket, "{id}: bucket");
                if case.algorithm == "unleash_normalized_hash" {
                    assert_eq!(modulus, 100, "{id}: modulus");
                    assert_eq!(unleash_rollout_bucket(group, unit), case.expected_bucket, "{id}");
                    let percentage = case.rollout_percentage.unwrap();
                    let in_rollout = percentage > 0 && bucket <= percentage;
                    assert_eq!(Some(in_rollout), case.expected_in_rollout, "{id}: in rollout");
                    Some("unleash_normalized_hash")
                } else {
                    let total_weight: u32 = case.weights.iter().map(|(_, weight)| weight).sum();
                    assert_eq!(total_weight, modulus, "{id}: modulus is the total weight");
                    assert_eq!(
                        unleash_variant_bucket(group, unit, n(total_weight)),
                        bucket,
                        "{id}"
                    );
                    let mut running = 0;
                    let variant = case.weights.iter().find_map(|(name, weight)| {
                        running += weight;
                        (running >= bucket).then_some(name)
                    });
                    assert_eq!(variant, case.expected_variant.as_ref(), "{id}: variant");
                    Some("unleash_variant")
                }
            }
            "flagd_fractional_v2" => {
                assert_eq!(case.seed, 0, "{id}: seed");
                assert_eq!(murmur3_x86_32(&[input.as_bytes()], 0), case.expected_hash, "{id}");
                let total_weight: u32 = case.weights.iter().map(|(_, weight)| weight).sum();
                let bucket = flagd_bucket(&[input], n(total_weight));
                assert_eq!(bucket, case.expected_bucket, "{id}: bucket");
                let mut running = 0;
                let variant = case.weights.iter().find_map(|(name, weight)| {
                    running += weight;
                    (bucket < running).then_some(name)
                });
                assert_eq!(variant, case.expected_variant.as_ref(), "{id}: variant");
                Some("flagd_fractional_v2")
            }
            "flagd_fractional_v1" => {
                assert_eq!(case.seed, 0, "{id}: seed");
                assert_eq!(murmur3_x86_32(&[input.as_bytes()], 0), case.expected_hash, "{id}");
                let bucket = flagd_bucket_v1(&[input]);
                assert_eq!(bucket, case.expected_bucket, "{id}: bucket");
                let total_weight: u32 = case.weights.iter().map(|(_, weight)| weight).sum();
                let mut running = 0.0;
                let variant = case.weights.iter().find_map(|(name, weight)| {
                    running += f64::from(*weight) * 100.0 / f64::from(total_weight);
                    (f64::from(bucket) < running).then_some(name)
                });
                assert_eq!(variant, case.expected_variant.as_ref(), "{id}: variant");
                Some("flagd_fractional_v1")
            }
            _ => None,
        }
    }

    #[test]
    fn conformance_bucketing_vectors() {
        const ALGORITHMS: [&str; 4] = [
            "unleash_normalized_hash",
            "unleash_variant",
            "flagd_fractional_v1",
            "flagd_fractional_v2",
        ];
        let mut n_checked = std::collections::BTreeMap::<&str, u64>::new();
        for (line_idx, line) in read_conformance("bucketing.jsonl").lines().enumerate() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("bucketing.jsonl:{}: {err}", line_idx + 1));
            let algorithm = value["algorithm"].as_str().unwrap_or_default();
            if !ALGORITHMS.contains(&algorithm) {
                continue;
            }
            let case: BucketingCase = serde_json::from_value(value)
                .unwrap_or_else(|err| panic!("bucketing.jsonl:{}: {err}", line_idx + 1));
            let checked = check_bucketing_case(&case).unwrap();
            *n_checked.entry(checked).or_default() += 1;
        }

        // Every case that the corpus says it holds was checked (none silently skipped).
        let counts: serde_json::Value =
            serde_json::from_str(&read_conformance("counts.json")).unwrap();
        for algorithm in ALGORITHMS {
            let n_expected: u64 = counts
                .as_object()
                .unwrap()
                .values()
                .filter_map(|source| source["bucketing_by_algorithm"][algorithm].as_u64())
                .sum();
            assert!(n_expected > 0, "counts.json lists no {algorithm} cases");
            assert_eq!(n_checked.get(algorithm).copied(), Some(n_expected), "{algorithm}");
        }
    }
}

//! MurmurHash3 (Austin Appleby's reference `MurmurHash3_x64_128` and `MurmurHash3_x86_32`),
//! streaming: the hashes under every bucketing scheme.
//!
//! The hashers [`Murmur3X64`] and [`Murmur3X86`] take their input in pieces and hash the
//! concatenation without building it: the bytes of a block that straddles two pieces are assembled
//! in a register, full blocks are read in place. `bucket_of("salt", "unit", n)` therefore never
//! allocates, whatever the lengths. The slice functions ([`hash_parts`], [`murmur3_x64_128`],
//! [`murmur3_x86_32`]) fold the same hashers over a list of pieces; only the tests use them.
//!
//! The `murmur3` crate gives the same values (the tests check it on random inputs of every length
//! split at random places) but only through `std::io::Read`, which is slower (benches `bucket/*`).
//! It is only a test oracle.

/// Flagstone's hash (spec §2.4): the first 64-bit half (`h1`) of MurmurHash3 x64 128-bit with seed 0
/// over the concatenation of `parts`.
///
/// This is the low 64 bits of [`murmur3_x64_128`] and of the `murmur3` crate's `murmur3_x64_128`, and
/// the first half that Python's `mmh3.hash128` prints. How the input is split into parts never changes
/// the result.
#[cfg(test)]
#[inline(always)]
#[must_use]
pub(crate) fn hash_parts(parts: &[&[u8]]) -> u64 {
    // The low half of the 128-bit value is `h1`.
    murmur3_x64_128(parts, 0) as u64
}

/// MurmurHash3 x64 128-bit (Austin Appleby's `MurmurHash3_x64_128`) of the concatenation of `parts`,
/// as `(h2 << 64) | h1`, the layout of the `murmur3` crate.
#[cfg(test)]
#[inline(always)]
#[must_use]
pub(crate) fn murmur3_x64_128(parts: &[&[u8]], seed: u32) -> u128 {
    fold_parts!(Murmur3X64::new(seed), parts).finish()
}

/// MurmurHash3 x86 32-bit (Austin Appleby's `MurmurHash3_x86_32`) of the concatenation of `parts`.
///
/// This is the hash of Unleash and flagd (and of the `murmur3` crate's `murmur3_32`).
#[cfg(test)]
#[inline(always)]
#[must_use]
pub(crate) fn murmur3_x86_32(parts: &[&[u8]], seed: u32) -> u32 {
    fold_parts!(Murmur3X86::new(seed), parts).finish()
}

/// An incremental MurmurHash3 x64 128-bit hasher (Austin Appleby's `MurmurHash3_x64_128`): feed it
/// byte slices with [`update`](Self::update), in as many pieces as convenient, and
/// [`finish`](Self::finish) gives the hash of their concatenation.
///
/// Nothing is buffered on the heap: the state is four words and a partial block of at most 15 bytes,
/// kept in a `u128`. The hasher is `Copy` and `update` takes and returns it by value, so a chain of
/// calls compiles to straight-line code with the state in registers; this is how
/// [`bucket_of`](super::bucket_of) hashes `"{salt}|{unit}"` without building the string.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub(crate) struct Murmur3X64 {
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
    pub(crate) const fn new(seed: u32) -> Self {
        Murmur3X64 { h1: seed as u64, h2: seed as u64, pending: 0, n_pending: 0, n_total: 0 }
    }

    /// Feeds `bytes`; the result is the same however the input is split.
    #[inline(always)]
    pub(crate) fn update(mut self, bytes: &[u8]) -> Self {
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
    pub(crate) fn finish(self) -> u128 {
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
#[derive(Debug, Clone, Copy)]
#[must_use]
pub(crate) struct Murmur3X86 {
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
    pub(crate) const fn new(seed: u32) -> Self {
        Murmur3X86 { h: seed, pending: 0, n_pending: 0, n_total: 0 }
    }

    /// Feeds `bytes`; the result is the same however the input is split.
    #[inline(always)]
    pub(crate) fn update(mut self, bytes: &[u8]) -> Self {
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
    pub(crate) fn finish(self) -> u32 {
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
pub(super) mod tests {
    use super::*;
    use crate::bucket::UNLEASH_VARIANT_SEED;
    use proptest::prelude::*;
    use std::io::Cursor;

    /// The `murmur3` crate's x64 128-bit hash of `bytes`: the oracle.
    pub(in crate::bucket) fn oracle_x64_128(bytes: &[u8], seed: u32) -> u128 {
        ::murmur3::murmur3_x64_128(&mut Cursor::new(bytes), seed).unwrap()
    }

    /// The `murmur3` crate's x86 32-bit hash of `bytes`: the oracle.
    pub(in crate::bucket) fn oracle_x86_32(bytes: &[u8], seed: u32) -> u32 {
        ::murmur3::murmur3_32(&mut Cursor::new(bytes), seed).unwrap()
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
    fn parts_hash_as_their_concatenation() {
        assert_eq!(hash_parts(&[b"ab", b"", b"c"]), hash_parts(&[b"abc"]));
        assert_eq!(
            murmur3_x64_128(&[b"hello", b" ", b"world"], 0),
            murmur3_x64_128(&[b"hello world"], 0)
        );
        let h = Murmur3X64::new(0).update(b"MegaSalt-confidence-test").update(b"|").update(b"roug");
        assert_eq!(h.finish(), murmur3_x64_128(&[b"MegaSalt-confidence-test|roug"], 0));
        // docs/spec/bucketing.md: the x86 32-bit test vector.
        assert_eq!(murmur3_x86_32(&[b"AB12A", b":", b"123"], 0), 1_954_468_150);
        let h = Murmur3X86::new(0).update(b"AB12A").update(b":").update(b"123");
        assert_eq!(h.finish(), 1_954_468_150);
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
    }
}

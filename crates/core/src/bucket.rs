//! Bucketing: stable hashing of units into buckets.
//!
//! Flagstone's own scheme (spec §2.4) hashes `"{salt}|{unit}"` with MurmurHash3 x64 128-bit, seed 0,
//! keeps the first 64-bit half (`h1` of the reference algorithm), and takes `(h1 >> 4) % n_buckets`.
//! [`bucket_of`] does exactly that.
//!
//! The compatibility schemes (`docs/spec/bucketing.md`) let a team that moves from Unleash or flagd
//! keep every unit in the bucket it had there: [`unleash_normalized`] (with
//! [`unleash_rollout_bucket`] and [`unleash_variant_bucket`]) and [`flagd_bucket`], all built on
//! MurmurHash3 x86 32-bit.
//!
//! The hashes are the crate's own streaming MurmurHash3: it hashes the parts of a key (salt,
//! separator, unit) without building the key, so bucketing never allocates, whatever the lengths.
//!
//! # Input safety
//!
//! All functions are total: any input, including empty parts and non-ASCII text, gives a value, and a
//! bucket is always below its bucket count (the count is a [`NonZeroU32`], so there is no division by
//! zero).

use std::num::NonZeroU32;

/// Feeds `$parts` (a slice of `AsRef<[u8]>`) to `$hasher` in order and evaluates to the hasher.
///
/// Up to three parts are fed by a straight chain of calls, which keeps the hasher state in
/// registers; a `fold` over the slice, or a generic helper taking the update function as a
/// closure, keeps it in memory and is slower (measured in `benches/benches/bucket.rs`). The
/// functions that use the macro are inlined so that a slice of known length (the usual
/// `&[a, b, c]`) selects its arm at compile time.
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

mod murmur3;

use murmur3::{Murmur3X64, Murmur3X86};

/// Flagstone's bucket of `unit_key` under `salt` (spec §2.4): `(h1 >> 4) % n_buckets`, where `h1` is
/// the first 64-bit half of MurmurHash3 x64 128-bit, seed 0, of the UTF-8 bytes of
/// `"{salt}|{unit_key}"`.
///
/// The string is hashed in three pieces, so nothing is allocated. The result is always below
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
    // A chain of updates: no array of parts is built, and the state stays in registers.
    let h1 = Murmur3X64::new(0)
        .update(salt.as_bytes())
        .update(b"|")
        .update(unit_key.as_bytes())
        .finish() as u64;
    // The remainder is below `n_buckets`, which fits in a u32, so the cast is lossless.
    ((h1 >> 4) % u64::from(n_buckets.get())) as u32
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

#[cfg(test)]
mod tests {
    use super::murmur3::murmur3_x86_32;
    use super::murmur3::tests::{oracle_x64_128, oracle_x86_32};
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    fn n(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).unwrap()
    }

    #[test]
    fn design_test_vector() {
        // spec §2.4: the design's test vector.
        assert_eq!(bucket_of("MegaSalt-confidence-test", "roug", n(1_000_000)), 567_493);
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
                // No scheme buckets as flagd v1 did; its vectors still pin the x86 32-bit hash.
                assert_eq!(case.seed, 0, "{id}: seed");
                assert_eq!(murmur3_x86_32(&[input.as_bytes()], 0), case.expected_hash, "{id}");
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

//! The 1,024 contexts every engine evaluates: deterministic, from a fixed seed.

use serde_json::{Value, json};

/// How many contexts each round evaluates.
pub const N_CONTEXTS: usize = 1024;

/// The seed of the context generator; changing it changes every context.
const SEED: u64 = 0x5eed_f1a6_0000_0001;

/// SplitMix64: a small, well-mixed generator, so the contexts need no `rand` dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The countries of the criterion's set.
pub const NORDIC: [&str; 4] = ["SE", "NO", "DK", "FI"];
const ELSEWHERE: [&str; 6] = ["FR", "DE", "US", "GB", "se", "ES"];
const OTHER_PLANS: [&str; 4] = ["free", "team", "Pro", "enterprise"];
const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const DOMAINS: [&str; 8] = [
    "acme.com",
    "example.com",
    "acme.example",
    "example.example",
    "gmail.com",
    "example.org",
    "ACME.com",
    "acme.com.evil",
];
const PRE_RELEASES: [&str; 5] = ["alpha", "beta.2", "rc.1", "rc.10", "0"];

/// One context: the five attributes every scenario reads from.
pub struct Ctx {
    pub key: String,
    pub country: String,
    pub plan: String,
    pub email: String,
    pub app_version: String,
}

impl Ctx {
    /// The context as an app holding JSON would pass it to Flagstone.
    pub fn to_json(&self) -> Value {
        json!({
            "targeting_key": self.key,
            "country": self.country,
            "plan": self.plan,
            "email": self.email,
            "app_version": self.app_version,
        })
    }
}

/// The contexts: about a quarter match the two criteria, about half the semver
/// rule and about a third the email pattern.
pub fn generate() -> Vec<Ctx> {
    let mut rng = SplitMix64(SEED);
    (0..N_CONTEXTS)
        .map(|_| {
            let key = format!("user-{:016x}-{:04x}", rng.next(), rng.next() & 0xffff);
            let country = if rng.below(2) == 0 { rng.pick(&NORDIC) } else { rng.pick(&ELSEWHERE) };
            let plan = if rng.below(2) == 0 { "pro" } else { rng.pick(&OTHER_PLANS) };
            let name_len = 3 + rng.below(10);
            let mut name: String = (0..name_len)
                .map(|_| char::from(NAME_CHARS[rng.below(NAME_CHARS.len())]))
                .collect();
            match rng.below(4) {
                0 => name.insert(name_len / 2, '.'),
                1 => name.push_str(&rng.below(100).to_string()),
                _ => {}
            }
            let email = format!("{name}@{}", rng.pick(&DOMAINS));
            let mut app_version =
                format!("{}.{}.{}", 2 + rng.below(3), rng.below(12), rng.below(12));
            if rng.below(5) == 0 {
                app_version = format!("3.0.{}", rng.below(3));
            }
            if rng.below(6) == 0 {
                app_version.push('-');
                app_version.push_str(rng.pick(&PRE_RELEASES));
            }
            Ctx { key, country: country.to_owned(), plan: plan.to_owned(), email, app_version }
        })
        .collect()
}

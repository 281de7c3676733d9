//! Bucketing: stable hashing of units into buckets.

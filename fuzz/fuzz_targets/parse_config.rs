//! libFuzzer target `parse_config`: see `flagstone_fuzz::parse_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flagstone_fuzz::parse_config(data));

//! libFuzzer target `analyze_request`: see `flagstone_fuzz::analyze_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flagstone_fuzz::analyze_request(data));

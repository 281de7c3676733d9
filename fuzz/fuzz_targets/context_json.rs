//! libFuzzer target `context_json`: see `flagstone_fuzz::context_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flagstone_fuzz::context_json(data));

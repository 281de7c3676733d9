//! libFuzzer target `compile_evaluate`: see `flagstone_fuzz::compile_evaluate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flagstone_fuzz::compile_evaluate(data));

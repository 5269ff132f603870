//! The host's frame decoder on arbitrary bytes (see `npu_tests::fuzz_checks`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| npu_tests::fuzz_checks::frame_decoder(data));

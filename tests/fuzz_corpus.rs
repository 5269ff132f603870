//! The inputs cargo fuzz found interesting (`fuzz/corpus/`), replayed
//! through the same checks as the fuzz targets: what once mattered stays
//! tested without the fuzzer.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        check(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 10, "{}: only {n} inputs", dir.display());
}

#[test]
fn frame_decoder_corpus() {
    replay("frame_decoder", npu_tests::fuzz_checks::frame_decoder);
}

#[test]
fn npy_reader_corpus() {
    replay("npy_reader", npu_tests::fuzz_checks::npy_reader);
}

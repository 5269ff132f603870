//! The properties the fuzz targets check (`fuzz/`), as plain functions, so
//! the corpus the fuzzer kept runs as regression tests in every CI run.

use npu_host::npy::{encode, parse_i8_matrix};
use npu_spec::protocol::{encode_frame, FrameDecoder, FRAME_HEAD, FRAME_TAIL};

/// The host's frame decoder on arbitrary bytes in two pieces (the first
/// byte sets the cut and the payload limit): no panic, at most one frame's
/// worth of bytes held, and every frame returned re-encodes to itself.
pub fn frame_decoder(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else { return };
    let max = 1 + usize::from(split) * 4;
    let mut d = FrameDecoder::with_max_payload(max);
    let cut = rest.len() * usize::from(split) / 256;
    for piece in [&rest[..cut], &rest[cut..]] {
        for frame in d.push(piece).into_iter().flatten() {
            assert!(!frame.is_empty() && frame.len() <= max);
            let mut again = FrameDecoder::with_max_payload(max);
            assert_eq!(again.push(&encode_frame(&frame)), vec![Ok(frame.clone())]);
        }
        assert!(d.pending() < FRAME_HEAD + max + FRAME_TAIL);
    }
}

/// The `.npy` reader on arbitrary bytes: a matrix or an error, never a
/// panic; a matrix it reads writes back to a file it reads the same.
pub fn npy_reader(data: &[u8]) {
    if let Ok(m) = parse_i8_matrix(data, "fuzz.npy") {
        let bytes = encode(&m).expect("a matrix encodes");
        assert_eq!(parse_i8_matrix(&bytes, "again.npy").expect("its own encoding reads"), m);
    }
}

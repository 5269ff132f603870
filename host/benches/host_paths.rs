//! The host's hot paths: planning a GEMM's tiles, framing and unframing
//! requests, and `.npy` encoding and decoding. `cargo bench -p npu-host`.

use criterion::{criterion_group, criterion_main, Criterion};
use npu_host::npy::{encode, parse_i8_matrix};
use npu_host::plan::{GemmPlan, Geometry};
use npu_spec::protocol::{encode_frame, FrameDecoder};
use npu_spec::Matrix;
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let g = Geometry { rows: 4, cols: 4, a_depth: 512, b_depth: 512, acc_depth: 256 };
    c.bench_function("plan 1024^3 GEMM and list its groups", |b| b.iter(|| GemmPlan::new(g, black_box(1024), 1024, 1024).groups().len()));
    let payload: Vec<u8> = (0..1024u32).map(|i| i as u8).collect();
    c.bench_function("encode a 1024-byte frame", |b| b.iter(|| encode_frame(black_box(&payload))));
    let stream: Vec<u8> = (0..64).flat_map(|_| encode_frame(&payload)).collect();
    c.bench_function("decode 64 frames of 1024 bytes", |b| {
        b.iter(|| {
            let mut d = FrameDecoder::new();
            d.push(black_box(&stream)).len()
        })
    });
    let m = Matrix::from_fn(256, 256, |i, j| (i * 31 + j) as i8);
    let bytes = encode(&m).unwrap();
    c.bench_function("encode a 256x256 int8 .npy", |b| b.iter(|| encode(black_box(&m)).unwrap().len()));
    c.bench_function("parse a 256x256 int8 .npy", |b| b.iter(|| parse_i8_matrix(black_box(&bytes), "m.npy").unwrap().rows()));
}

criterion_group!(host, benches);
criterion_main!(host);

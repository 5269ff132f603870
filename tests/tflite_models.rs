//! The shared int8 TensorFlow Lite models against TFLite's reference
//! interpreter: expected outputs made by `scripts/tflite-reference`
//! (ai-edge-litert's BUILTIN_REF kernels) and committed in `tests/tflite/`.
//! Every output is compared exactly: first with every layer on the host's
//! reference kernels, then with the GEMM layers on the Verilated NPU.

use npu_host::tflite::model::Model;
use npu_host::tflite::report::Place;
use npu_host::tflite::runtime::{Runtime, Values};
use npu_host::transport::SimTransport;
use npu_host::{Cluster, Npu};
use npu_spec::tools::VERILATOR;
use npu_tests::{link_test_config, require};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A model, its first `count` committed inputs and their expected outputs.
fn case(name: &str, count: usize) -> (Model, Values, Values, usize) {
    let model = Model::load(&repo(&format!("models/{name}.tflite"))).expect("the model reads");
    let (shape, x) = npu_host::npy::read_array(&repo(&format!("tests/tflite/{name}.input.npy"))).unwrap();
    let (_, y) = npu_host::npy::read_array(&repo(&format!("tests/tflite/{name}.expected.npy"))).unwrap();
    let count = count.min(shape[0]);
    let (Values::Int8(x), Values::Int8(y)) = (x, y) else { panic!("int8 models") };
    let (xi, yi) = (x.len() / shape[0], y.len() / shape[0]);
    (model, Values::Int8(x[..count * xi].to_vec()), Values::Int8(y[..count * yi].to_vec()), count)
}

fn assert_items_equal(name: &str, got: &Values, want: &Values, count: usize) {
    let (Values::Int8(g), Values::Int8(w)) = (got, want) else { panic!("int8 outputs") };
    let per = w.len() / count;
    for i in 0..count {
        assert_eq!(g[i * per..(i + 1) * per], w[i * per..(i + 1) * per], "{name}: item {i} differs from TFLite's reference");
    }
}

#[test]
fn host_reference_kernels_equal_tflite_on_both_models() {
    for name in ["micro_speech", "resnet8_cifar10"] {
        let (model, x, want, count) = case(name, 20);
        let (got, _) = Runtime::reference().run(&model, x, count).unwrap();
        assert_items_equal(name, &got, &want, count);
    }
}

/// The default memories and array, with a quick link (8 clocks a bit,
/// as the iCEBreaker's 6 Mbaud at 48 MHz).
fn npu_cluster() -> Cluster {
    let c = link_test_config(4, 16384, 16384, 256);
    Cluster::new(vec![Npu::open(Box::new(SimTransport::new(&c).expect("Verilated NPU")), c.link.baud).expect("INFO")])
}

fn on_the_npu(name: &str, count: usize) {
    if require(&VERILATOR).is_none() {
        return;
    }
    let (model, x, want, count) = case(name, count);
    let mut cluster = npu_cluster();
    let (got, report) = Runtime::new(&mut cluster).run(&model, x, count).unwrap();
    assert_items_equal(name, &got, &want, count);
    let npu_layers = report.layers.iter().filter(|l| l.place != Place::Host).count();
    assert!(npu_layers >= 2, "{name}: the GEMM layers ran on the NPU");
    assert_eq!(report.totals.npu_mac_share, 1.0, "{name}: every MAC is a CONV_2D's or FULLY_CONNECTED's");
}

#[test]
fn micro_speech_on_the_npu_equals_tflite() {
    on_the_npu("micro_speech", 20);
}

#[test]
fn resnet8_on_the_npu_equals_tflite() {
    on_the_npu("resnet8_cifar10", 3);
}

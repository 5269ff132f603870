//! The shared int8 TensorFlow Lite models against TFLite's reference
//! interpreter: expected outputs made by `scripts/tflite-reference`
//! (ai-edge-litert's BUILTIN_REF kernels) and committed in `tests/tflite/`.
//! Every output is compared exactly: first with every layer on the host's
//! reference kernels, then with the GEMM layers on the Verilated NPU.

use npu_host::tflite::model::Model;
use npu_host::tflite::report::{Place, Report};
use npu_host::tflite::runtime::{Runtime, Values};
use npu_host::transport::SimTransport;
use npu_host::{Cluster, Npu};
use npu_spec::tools::VERILATOR;
use npu_spec::NpuConfig;
use npu_tests::{link_test_config, require};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The project's own models, one per operator and edge case
/// (`npu_host::tflite::builder::test_models`), committed in tests/tflite/models.
const OWN_MODELS: [&str; 6] = ["conv_same_stride2_relu6", "conv_valid_relu", "depthwise_maxpool", "add_scales_avgpool", "float_interface", "residual_blocks"];

fn model_path(name: &str) -> PathBuf {
    let shared = repo(&format!("models/{name}.tflite"));
    if shared.exists() {
        shared
    } else {
        repo(&format!("tests/tflite/models/{name}.tflite"))
    }
}

fn first(v: Values, items: usize, count: usize) -> Values {
    let per = v.len() / items;
    match v {
        Values::Int8(x) => Values::Int8(x[..count * per].to_vec()),
        Values::Float32(x) => Values::Float32(x[..count * per].to_vec()),
    }
}

/// A model, its first `count` committed inputs and their expected outputs.
fn case(name: &str, count: usize) -> (Model, Values, Values, usize) {
    let model = Model::load(&model_path(name)).expect("the model reads");
    let (shape, x) = npu_host::npy::read_array(&repo(&format!("tests/tflite/{name}.input.npy"))).unwrap();
    let (_, y) = npu_host::npy::read_array(&repo(&format!("tests/tflite/{name}.expected.npy"))).unwrap();
    let count = count.min(shape[0]);
    (model, first(x, shape[0], count), first(y, shape[0], count), count)
}

/// Item by item, exactly (floats bit for bit).
fn assert_items_equal(name: &str, got: &Values, want: &Values, count: usize) {
    let bits = |v: &Values| -> Vec<u32> {
        match v {
            Values::Int8(x) => x.iter().map(|&b| b as u8 as u32).collect(),
            Values::Float32(x) => x.iter().map(|f| f.to_bits()).collect(),
        }
    };
    assert_eq!(got.dtype(), want.dtype(), "{name}");
    let (g, w) = (bits(got), bits(want));
    assert_eq!(g.len(), w.len(), "{name}");
    let per = w.len() / count;
    for i in 0..count {
        assert_eq!(g[i * per..(i + 1) * per], w[i * per..(i + 1) * per], "{name}: item {i} differs from TFLite's reference");
    }
}

#[test]
fn the_committed_own_models_are_the_builders() {
    let built = npu_host::tflite::builder::test_models();
    assert_eq!(built.iter().map(|m| m.0).collect::<Vec<_>>(), OWN_MODELS);
    for (name, bytes) in built {
        let committed = std::fs::read(model_path(name)).unwrap();
        assert!(committed == bytes, "{name}: rerun `cargo run -p npu-host --example write_test_models` and scripts/tflite-reference (see the example)");
    }
}

#[test]
fn own_models_equal_tflite_on_the_host_and_the_npu() {
    for name in OWN_MODELS {
        let (model, x, want, count) = case(name, 8);
        let (got, _) = Runtime::reference().run(&model, x.clone(), count).unwrap();
        assert_items_equal(name, &got, &want, count);
        if require(&VERILATOR).is_some() {
            let mut cluster = npu_cluster();
            let (got, _) = Runtime::new(&mut cluster).run(&model, x, count).unwrap();
            assert_items_equal(name, &got, &want, count);
        }
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

/// The default memories and array, with a quick link (4 clocks a bit,
/// as the iCEBreaker's 12 Mbaud at 48 MHz).
fn npu_cluster() -> Cluster {
    cluster_of(&link_test_config(4, 16384, 16384, 256))
}

/// One Verilated NPU of `c`.
fn cluster_of(c: &NpuConfig) -> Cluster {
    Cluster::new(vec![Npu::open(Box::new(SimTransport::new(c).expect("Verilated NPU")), c.link.baud).expect("INFO")])
}

/// `npu_cluster`'s config with the mover.
fn with_the_mover() -> NpuConfig {
    let mut c = link_test_config(4, 16384, 16384, 256);
    c.memory.mover = true;
    c
}

fn on_the_npu(name: &str, count: usize) {
    if require(&VERILATOR).is_none() {
        return;
    }
    let (model, x, want, count) = case(name, count);
    let mut cluster = npu_cluster();
    let (got, report) = Runtime::new(&mut cluster).run(&model, x, count).unwrap();
    assert_items_equal(name, &got, &want, count);
    // Every CONV_2D requantized by the hardware, per channel.
    for l in report.layers.iter().filter(|l| l.op == "CONV_2D") {
        assert_eq!(l.place, Place::Npu, "{name}: layer {}", l.index);
    }
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

/// With the mover, every CONV_2D's im2col operand is built on chip from
/// its map (`npu_host::conv_on_chip`), and a layer read by the next alone
/// leaves its output on chip for it (`npu_host::tflite::chain`): still
/// equal to TFLite.
#[test]
fn with_the_mover_convolutions_build_their_operand_on_chip_and_chain() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut cluster = cluster_of(&with_the_mover());
    // ResNet-8 at 1 input and at 2: every block chains, the last one's
    // weights kept in B (its first map from the host in A); the second item
    // of a chain finds its maps' padding from the first.
    for (name, count) in [("conv_same_stride2_relu6", 4), ("conv_valid_relu", 4), ("micro_speech", 3), ("resnet8_cifar10", 1), ("resnet8_cifar10", 2)] {
        let (model, x, want, count) = case(name, count);
        let (got, report) = Runtime::new(&mut cluster).run(&model, x, count).unwrap();
        assert_items_equal(name, &got, &want, count);
        // Chained on chip: micro_speech's convolution (by taps: its 10
        // kernel rows are 10 GEMMs a group, fewer device cycles than its
        // im2col operand's MOVEs), RESHAPE and FULLY_CONNECTED; ResNet-8's
        // two convolutions of each block, and its stem (also back to the
        // host for the ADD).
        let chained: &[usize] = match name {
            "micro_speech" => &[0, 1, 2],
            "resnet8_cifar10" => &[0, 1, 2, 4, 5, 8, 9],
            _ => &[],
        };
        for l in &report.layers {
            if name == "micro_speech" && l.index == 0 {
                assert_eq!(l.place, Place::NpuByTaps, "{name}: layer 0");
            } else if chained.contains(&l.index) {
                assert_eq!(l.place, Place::NpuChained, "{name}: layer {}", l.index);
            } else if l.op == "CONV_2D" {
                // ResNet-8's shortcuts (1x1, stride 2) read a quarter of
                // their map: the host's im2col is fewer bytes.
                let want = if name == "resnet8_cifar10" && [6, 10].contains(&l.index) { Place::Npu } else { Place::NpuOnChip };
                assert_eq!(l.place, want, "{name}: layer {}", l.index);
            }
        }
        assert!(report.totals.cycles.data_movement > 0.0, "{name}: the MOVEs' time is counted");
    }
}

/// With ADD's tables as well, ResNet-8's first two blocks end on chip: the
/// first keeps its stem's output in B rather than sending it back, the
/// second its second convolution's, and the shortcut reads the block's
/// first map; each ADD runs right after the block's last convolution's
/// REQUANT (two table lookups into ACC, then a REQUANT to the ADD's
/// scale). The third block's weights leave B too little room for it: that
/// block runs without its ADD. Still equal to TFLite, at 1 input and at 2
/// (the tables and the kept tensor's region stay).
#[test]
fn with_add_tables_a_residual_blocks_add_runs_on_chip() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut c = with_the_mover();
    c.memory.add_tables = 2;
    let place = |layer| match layer {
        0..=9 => Some(Place::NpuChained),
        10 => Some(Place::Npu),
        11 => Some(Place::Host),
        _ => None,
    };
    resnet8_at_one_and_two(&c, place, |_, _| {});
}

/// ResNet-8 at 1 input and at 2 on a Verilated NPU of `c`: equal to
/// TFLite, each layer where `place` says (`None`: anywhere), and `check`
/// for what else the report must show (given the batch).
fn resnet8_at_one_and_two(c: &NpuConfig, place: impl Fn(usize) -> Option<Place>, check: impl Fn(&Report, usize)) {
    let mut cluster = cluster_of(c);
    for count in [1, 2] {
        let (model, x, want, count) = case("resnet8_cifar10", count);
        let (got, report) = Runtime::new(&mut cluster).run(&model, x, count).unwrap();
        assert_items_equal("resnet8_cifar10", &got, &want, count);
        for l in &report.layers {
            if let Some(want) = place(l.index) {
                assert_eq!(l.place, want, "layer {} ({})", l.index, l.op);
            }
        }
        check(&report, count);
    }
}

/// With memories that hold all of ResNet-8 (128 KB scratchpads) and six
/// tables, its three residual blocks run as one chain: each block's ADD
/// goes on chip into the next block's map (its first convolution's and its
/// shortcut's), the last one's into the global pool (a GEMM by 2s), whose
/// output is the FULLY_CONNECTED's operand. Only the stem's input and the
/// FULLY_CONNECTED's sums cross the link. With four tables the first two
/// blocks join (the longest join that fits) and the third runs alone. Still
/// equal to TFLite, at 1 input and at 2.
#[test]
fn with_memory_for_all_three_blocks_resnet8_runs_as_one_chain() {
    if require(&VERILATOR).is_none() {
        return;
    }
    for tables in [8, 4] {
        let mut c = link_test_config(4, 32768, 32768, 256);
        c.memory.mover = true;
        c.memory.add_tables = tables;
        let place = |layer| Some(if layer <= 14 { Place::NpuChained } else { Place::Host });
        resnet8_at_one_and_two(&c, place, |report, count| {
            // The second item: the second and third blocks' first
            // convolutions send less than their input map (33 x 33 x 16 and
            // 17 x 17 x 32 bytes, which they take from the host when each
            // block is a chain of its own) when it came from the block
            // before on chip.
            for (layer, map) in [(4, 33 * 33 * 16), (8, 17 * 17 * 32)].into_iter().filter(|_| count == 2) {
                let sent = report.layers.iter().find(|l| l.index == layer).map_or(0.0, |l| l.link_bytes_last);
                let joined = layer == 4 || tables == 8;
                assert_eq!(sent < map as f64, joined, "{tables} tables, layer {layer}: {sent} link bytes, its map is {map}");
            }
        });
    }
}

/// The project's own two-block model (channel counts of 6 and 10, which no
/// side of the 4x4 divides; a 16-pixel global pool) in the default
/// memories with the mover: with 8 tables its two blocks join and every
/// layer runs on chip, the pool too; with 2 each block is a chain of its
/// own (its ADD and, for the second, the pool on chip), the first block's
/// output going back to the host. Equal to TFLite both ways.
#[test]
fn the_own_residual_model_runs_as_one_chain_or_block_by_block() {
    if require(&VERILATOR).is_none() {
        return;
    }
    for tables in [8, 2] {
        let mut c = with_the_mover();
        c.memory.add_tables = tables;
        c.memory.program_bytes = 8192;
        let mut cluster = cluster_of(&c);
        let (model, x, want, count) = case("residual_blocks", 3);
        let (got, report) = Runtime::new(&mut cluster).run(&model, x, count).unwrap();
        assert_items_equal("residual_blocks", &got, &want, count);
        // Joined or block by block, its commands (9 KB as program records
        // joined) cost less stored than the im2col operands' bytes: its
        // convolutions run by taps.
        for l in &report.layers {
            let want = if l.op == "CONV_2D" { Place::NpuByTaps } else { Place::NpuChained };
            assert_eq!(l.place, want, "{tables} tables: layer {} ({})", l.index, l.op);
        }
        // The last item, its commands stored: joined, block 2's first
        // convolution takes its map on chip (38 bytes: RUNs); block by
        // block, the host sends the map's 8 x 8 x 6 bytes inside the padding.
        let sent = report.layers[4].link_bytes_last;
        assert_eq!(sent < (8 * 8 * 6) as f64, tables == 8, "{tables} tables: layer 4 sent {sent} bytes");
    }
}

/// ResNet-8 on the ULX3S 16x16 (128 KB scratchpads, 32 KB of program)
/// with 8 ADD tables: one chain from the stem to the FULLY_CONNECTED, every
/// convolution by taps (`npu_host::tap_map`: a GEMM a kernel tap over its
/// input map laid out in A, no im2col operand), its maps placed where no
/// other lives at the same time. Equal to TFLite at 2 inputs (the second
/// finds the maps' padding, and refills what another map took).
#[test]
fn resnet8_by_taps_on_the_16x16_equals_tflite() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let c = NpuConfig::load(&repo("configs/ulx3s-16x16.toml")).unwrap();
    assert_eq!(c.memory.add_tables, 8, "the shipped 16x16 holds ResNet-8's six ADD tables");
    let mut cluster = cluster_of(&c);
    let (model, x, want, count) = case("resnet8_cifar10", 2);
    let (got, report) = Runtime::new(&mut cluster).run(&model, x, count).unwrap();
    assert_items_equal("resnet8_cifar10", &got, &want, count);
    for l in &report.layers {
        let want = match l.op {
            "CONV_2D" => Place::NpuByTaps,
            "SOFTMAX" => Place::Host,
            _ => Place::NpuChained,
        };
        assert_eq!(l.place, want, "layer {} ({})", l.index, l.op);
    }
}

/// With program memory as well, each stretch of a layer's commands is
/// stored once (PROGRAM) and run by a RUN (`npu_host::program`): still
/// equal to TFLite, and micro_speech's last inference, its weights and
/// program on chip, sends little more than its input and output (issue
/// 21's bound: 1.1 x their bytes + 64).
#[test]
fn with_programs_an_inference_sends_its_input_and_output() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut c = with_the_mover();
    c.memory.program_bytes = 8192;
    let mut cluster = cluster_of(&c);
    // (micro_speech at 4: a stretch is stored the second time it comes,
    // so from its third item on, after the first, an item runs stored.)
    for (name, count) in [("micro_speech", 4), ("resnet8_cifar10", 2)] {
        let (model, x, want, count) = case(name, count);
        let (got, report) = Runtime::new(&mut cluster).run(&model, x, count).unwrap();
        assert_items_equal(name, &got, &want, count);
        if name == "micro_speech" {
            let io = (model.input().item_len() + model.output().item_len()) as f64;
            let last = report.totals.link_bytes_last_inference;
            assert!(last <= 1.1 * io + 64.0, "{name}: {last} link bytes for {io} bytes of input and output");
        }
    }
}

//! The host driver on the Verilated NPU: GEMMs of any shape through the
//! command link equal the reference, in process, over a virtual board's
//! pseudo-terminal, and shared across two devices.

use npu_host::transport::{SerialTransport, SimTransport, Transport, VIRTUAL_BOARD_SLOWDOWN};
use npu_host::{Cluster, Npu, Requant};
use npu_sim::virtual_board;
use npu_spec::requant::{requantize, RequantParams};
use npu_spec::tools::VERILATOR;
use npu_spec::{gemm_reference, Matrix, NpuConfig};
use npu_tests::{link_test_config, require, xorshift};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

fn random(rows: usize, cols: usize, seed: u64) -> Matrix<i8> {
    let mut next = xorshift(seed);
    Matrix::from_fn(rows, cols, |_, _| match next() % 10 {
        0 => i8::MIN,
        1 => i8::MAX,
        _ => next() as i8,
    })
}

fn sim_npu(c: &NpuConfig) -> Npu {
    Npu::open(Box::new(SimTransport::new(c).expect("Verilated NPU")), c.link.baud).expect("INFO")
}

/// The default memories with a quick link (8 clocks per bit).
fn quick_default() -> NpuConfig {
    link_test_config(4, 512, 512, 256)
}

#[test]
fn any_shape_equals_the_reference_in_process() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut npu = sim_npu(&quick_default());
    for (n, (m, k, nn)) in [(1, 1, 1), (37, 29, 41), (5, 1100, 6), (4, 4, 4), (3, 7, 2), (9, 64, 13)].into_iter().enumerate() {
        let a = random(m, k, 2 * n as u64 + 1);
        let b = random(k, nn, 2 * n as u64 + 2);
        let got = npu.gemm(&a, &b).unwrap_or_else(|e| panic!("{m}x{k}x{nn}: {e}"));
        assert_eq!(got, gemm_reference(&a, &b).unwrap(), "{m}x{k}x{nn}");
    }
}

#[test]
fn small_scratchpads_split_k_and_tile_everything() {
    if require(&VERILATOR).is_none() {
        return;
    }
    // 16-entry memories: K = 50 is 4 chunks, every group holds one block.
    let c = link_test_config(3, 16, 16, 16);
    let mut npu = sim_npu(&c);
    let mut next = xorshift(77);
    for case in 0..6 {
        let (m, k, nn) = (1 + next() as usize % 11, 1 + next() as usize % 50, 1 + next() as usize % 11);
        let a = random(m, k, 100 + case);
        let b = random(k, nn, 200 + case);
        assert_eq!(npu.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap(), "{m}x{k}x{nn}");
    }
}

#[test]
fn requantized_gemm_equals_the_reference() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut npu = sim_npu(&quick_default());
    let (m, k, n) = (11, 70, 9);
    let a = random(m, k, 5);
    let b = random(k, n, 6);
    let wide = gemm_reference(&a, &b).unwrap();
    for (params, bias) in [
        (RequantParams { multiplier: 1_518_500_250, shift: 12, zero_point: -3, min: -128, max: 127 }, Some((0..n as i32).map(|j| j * 1000 - 4000).collect::<Vec<_>>())),
        (RequantParams { multiplier: i32::MAX, shift: 0, zero_point: 0, min: 0, max: 127 }, None),
    ] {
        let q = Requant { params, bias: bias.clone(), channels: None, residual: None };
        let got = npu.gemm_requant(&a, &b, &q).unwrap();
        let want = Matrix::from_fn(m, n, |i, j| requantize(wide.get(i, j), bias.as_ref().map_or(0, |b| b[j]), &params));
        assert_eq!(got, want);
    }
}

#[test]
fn operands_on_chip_are_not_sent_again_and_counters_count() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut npu = sim_npu(&quick_default());
    let b = random(32, 8, 9);
    let a1 = random(8, 32, 10);
    npu.clear_counters().unwrap();
    npu.gemm(&a1, &b).unwrap();
    let counters = npu.counters().unwrap();
    assert_eq!(counters.macs, 8 * 32 * 8);
    assert_eq!(counters.tiles, 4);
    let util = npu.utilization(&counters);
    assert!(util.mac_while_busy > 0.0 && util.mac_while_busy <= 1.0, "{util:?}");
    let sent_before = npu.link_stats().bytes_sent;
    // Same B, new A: only A's 8 x 32 bytes (and command frames) go out.
    let a2 = random(8, 32, 11);
    assert_eq!(npu.gemm(&a2, &b).unwrap(), gemm_reference(&a2, &b).unwrap());
    let sent = npu.link_stats().bytes_sent - sent_before;
    assert!(sent < 8 * 32 + 32 * 8, "{sent} bytes sent for a GEMM whose B was on chip");
}

#[test]
fn one_gemm_shared_across_two_devices() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let c = quick_default();
    let mut cluster = Cluster::new(vec![sim_npu(&c), sim_npu(&c)]);
    assert_eq!(cluster.split(10), vec![0..8, 8..10]);
    let a = random(13, 40, 1);
    let b = random(40, 21, 2);
    assert_eq!(cluster.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap());
    let q = Requant { params: RequantParams { multiplier: 1 << 30, shift: 8, zero_point: 5, min: -100, max: 100 }, bias: Some((0..21).collect()), channels: None, residual: None };
    let wide = gemm_reference(&a, &b).unwrap();
    let want = Matrix::from_fn(13, 21, |i, j| requantize(wide.get(i, j), j as i32, &q.params));
    assert_eq!(cluster.gemm_requant(&a, &b, &q).unwrap(), want);
}

/// A virtual board served from a thread: its pty path, and the stop flag.
fn virtual_board(c: &NpuConfig) -> (String, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let (c2, stop2) = (c.clone(), stop.clone());
    let handle = std::thread::spawn(move || {
        virtual_board::serve(&c2, &stop2, |p| tx.send(p.to_string_lossy().into_owned()).unwrap()).expect("virtual board");
    });
    (rx.recv().expect("the board's pty"), stop, handle)
}

#[test]
fn gemms_over_virtual_boards_on_ptys() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let c = quick_default();
    let boards: Vec<_> = (0..2).map(|_| virtual_board(&c)).collect();
    let open = |path: &str| Npu::open(Box::new(SerialTransport::open(path, c.link.baud).unwrap()), c.link.baud).unwrap();
    let mut one = open(&boards[0].0);
    assert_eq!(one.info().rows, 4);
    let a = random(37, 29, 3);
    let b = random(29, 41, 4);
    assert_eq!(one.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap());
    let mut cluster = Cluster::new(vec![one, open(&boards[1].0)]);
    assert_eq!(cluster.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap());
    for (_, stop, handle) in boards {
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
    }
}

#[test]
fn a_silent_port_times_out_naming_the_command() {
    // A pty nobody serves: the request goes out, no answer comes back.
    let pty = virtual_board::Pty::open().unwrap();
    let t = SerialTransport::open(pty.path.to_str().unwrap(), 1_000_000).unwrap();
    let err = Npu::open(Box::new(t), 1_000_000).err().expect("no answer");
    let msg = err.to_string();
    assert!(msg.contains("INFO") && msg.contains("no answer"), "{msg}");
}

#[test]
fn a_pseudo_terminal_is_waited_for_as_a_virtual_board() {
    // A virtual board simulates the NPU slower than real time: the link
    // stretches its waits on a pty, and on nothing else.
    let pty = virtual_board::Pty::open().unwrap();
    let t = SerialTransport::open(pty.path.to_str().unwrap(), 1_000_000).unwrap();
    assert_eq!(t.slowdown(), VIRTUAL_BOARD_SLOWDOWN);
}

/// The VTA-sized ULX3S config (16x16, the pipelined requantizer, at its own
/// clock and link rate) on its Verilated model: GEMMs of shapes off the
/// array's multiples, and a requantized GEMM with per-channel scales.
#[test]
fn the_16x16_ulx3s_config_computes_any_shape_exactly() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let c = NpuConfig::load(&root.join("configs/ulx3s-16x16.toml")).unwrap();
    let mut npu = sim_npu(&c);
    for (n, (m, k, nn)) in [(1, 1, 1), (17, 33, 15), (40, 300, 21), (16, 16, 16)].into_iter().enumerate() {
        let a = random(m, k, 300 + n as u64);
        let b = random(k, nn, 400 + n as u64);
        assert_eq!(npu.gemm(&a, &b).unwrap_or_else(|e| panic!("{m}x{k}x{nn}: {e}")), gemm_reference(&a, &b).unwrap(), "{m}x{k}x{nn}");
    }
    let (m, k, n) = (19, 90, 23);
    let a = random(m, k, 7);
    let b = random(k, n, 8);
    let wide = gemm_reference(&a, &b).unwrap();
    let params = RequantParams { multiplier: 1_518_500_250, shift: 9, zero_point: 4, min: -128, max: 127 };
    let bias: Vec<i32> = (0..n as i32).map(|j| 733 * j - 9000).collect();
    let channels: Vec<(i32, u8)> = (0..n).map(|j| (1_100_000_000 + 37_000_000 * j as i32, (5 + j % 9) as u8)).collect();
    let scales = channels.iter().map(|&(multiplier, shift)| npu_host::driver::ChannelScale { multiplier, shift }).collect();
    let q = Requant { params, bias: Some(bias.clone()), channels: Some(scales), residual: None };
    let got = npu.gemm_requant(&a, &b, &q).unwrap();
    let want = Matrix::from_fn(m, n, |i, j| {
        let p = RequantParams { multiplier: channels[j].0, shift: channels[j].1, ..params };
        requantize(wide.get(i, j), bias[j], &p)
    });
    assert_eq!(got, want);
}

/// Held commands (`Npu::hold`) go in order, in one pipeline: MOVEs of
/// several calls, each reading what the one before wrote, then a READ,
/// equal the same calls sent one by one. A MOVE the device refuses among
/// held ones fails where they are sent (the release), and holding ends
/// there.
#[test]
fn held_commands_go_in_order_and_a_refusal_shows_where_they_are_sent() {
    use npu_spec::protocol::{Bank, Move, Place, Request};
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut c = quick_default();
    (c.memory.mover, c.memory.program_bytes) = (true, 1024);
    let data: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(7) + 1).collect();
    // Entry k of A to B, and back into entry k + 1 of A, shifted a lane.
    let moves = |k: u16| [Move::run(Bank::A, Place::new(k, 0), Bank::B, Place::new(k, 1), 3), Move::run(Bank::B, Place::new(k, 1), Bank::A, Place::new(k + 1, 0), 3)];
    let mut reads = vec![];
    for hold in [false, true] {
        let mut npu = sim_npu(&c);
        npu.command(&Request::Write { bank: Bank::A, entry: 0, data: data.clone() }, 0, 100).unwrap();
        if hold {
            npu.hold();
        }
        for k in 0..6 {
            npu.move_all(&moves(k)).unwrap();
        }
        reads.push(npu.command(&Request::Read { bank: Bank::A, entry: 0, count: 8 }, 32, 100).unwrap());
        npu.release().unwrap();
    }
    assert_eq!(reads[0], reads[1], "held and sent one by one");
    assert_ne!(reads[0], data, "the MOVEs moved bytes");
    let mut npu = sim_npu(&c);
    let past_b = Move::run(Bank::A, Place::new(0, 0), Bank::B, Place::new(511, 3), 5);
    npu.hold();
    npu.move_all(&[past_b]).expect("held: nothing sent yet");
    let err = npu.release().expect_err("refused when sent").to_string();
    assert!(err.contains("MOVE") || err.contains("range"), "{err}");
    assert!(npu.move_all(&[past_b]).is_err(), "no longer held: refused at once");
}

/// A mark at the end of each of several held calls (`Npu::mark`) gives
/// each call's own cost though they went as one pipeline: its bytes are
/// those of the same call sent alone (its frames and answers), its time
/// is its own (more than nothing), and the held calls take less time in
/// all than one by one, which waits for each call's last answer.
#[test]
fn marks_measure_each_held_call_as_sent_alone() {
    use npu_spec::protocol::{Bank, Move, Place, Request};
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut c = quick_default();
    c.memory.mover = true;
    let moves = |k: u16| [Move::run(Bank::A, Place::new(k, 0), Bank::B, Place::new(k, 1), 3), Move::run(Bank::B, Place::new(k, 1), Bank::A, Place::new(k + 1, 0), 3)];
    let mut parts = vec![];
    for hold in [false, true] {
        let mut npu = sim_npu(&c);
        npu.command(&Request::Write { bank: Bank::A, entry: 0, data: vec![5; 32] }, 0, 100).unwrap();
        npu.mark();
        if hold {
            npu.hold();
        }
        for k in 0..4 {
            npu.move_all(&moves(k)).unwrap();
            npu.mark();
        }
        npu.release().unwrap();
        let marks = npu.take_marks();
        assert_eq!(marks.len(), 5, "held: {hold}");
        let part: Vec<(u64, std::time::Duration)> = marks.windows(2).map(|w| (w[1].bytes_sent + w[1].bytes_received - w[0].bytes_sent - w[0].bytes_received, w[1].time.total() - w[0].time.total())).collect();
        assert!(part.iter().all(|&(bytes, time)| bytes > 0 && !time.is_zero()), "held: {hold}: {part:?}");
        parts.push(part);
    }
    let bytes = |p: &[(u64, std::time::Duration)]| p.iter().map(|x| x.0).collect::<Vec<_>>();
    assert_eq!(bytes(&parts[0]), bytes(&parts[1]), "each call's bytes, held or not");
    let time = |p: &[(u64, std::time::Duration)]| p.iter().map(|x| x.1).sum::<std::time::Duration>();
    assert!(time(&parts[1]) < time(&parts[0]), "held {:?}, one by one {:?}", time(&parts[1]), time(&parts[0]));
}

//! The NPU top level in rust-hdl's simulator, through its UART pins at the
//! bit level: every command, against the device model.

use npu_sim::npu_sim::NpuSim;
use npu_spec::protocol::{Bank, Info, Opcode, Request, Status};
use npu_spec::NpuConfig;

/// A small, fast NPU: 2x2, 8 clocks per bit, 16-entry memories.
pub fn small_config() -> NpuConfig {
    npu_tests::link_test_config(2, 16, 16, 16)
}

const WAIT: u64 = 200_000;

#[test]
fn info_answers_the_config() {
    let c = small_config();
    let mut npu = NpuSim::new(&c);
    let p = npu.request(&Request::Info, WAIT).expect("an answer").expect("a good frame");
    assert_eq!(p[0], Status::Ok as u8, "{p:?}");
    assert_eq!(p[1], Opcode::Info as u8);
    assert_eq!(Info::decode(&p[2..]), Some(Info::of(&c)));
}

#[test]
fn write_then_read_round_trips() {
    write_then_read_round_trip(&small_config());
}

/// The ECP5's way to the banks (each lane's read data registered on its way
/// to READ's lane multiplexers): the same answers.
#[test]
fn write_then_read_round_trips_with_the_read_data_registered() {
    let mut c = small_config();
    c.memory.read_data_register = true;
    write_then_read_round_trip(&c);
}

fn write_then_read_round_trip(c: &NpuConfig) {
    let mut npu = NpuSim::new(c);
    let data: Vec<u8> = (0..12).map(|i| 0x30 + i).collect();
    let p = npu.request(&Request::Write { bank: Bank::Bias, entry: 0, data: data[..8].to_vec() }, WAIT).unwrap().unwrap();
    assert_eq!(&p[..2], &[Status::Ok as u8, Opcode::Write as u8]);
    assert_eq!(npu.peek(Bank::Bias, 0, 0), u32::from_le_bytes([0x30, 0x31, 0x32, 0x33]));
    let p = npu.request(&Request::Read { bank: Bank::Bias, entry: 0, count: 1 }, WAIT).unwrap().unwrap();
    assert_eq!(&p[..2], &[Status::Ok as u8, Opcode::Read as u8]);
    assert_eq!(&p[2..], &data[..8]);
    // ACC and OUT hold results: READ reads them, WRITE is refused.
    npu.poke(Bank::Acc, 3, 1, 0x1234_5678);
    let p = npu.request(&Request::Read { bank: Bank::Acc, entry: 3, count: 1 }, WAIT).unwrap().unwrap();
    assert_eq!(&p[2..], &[0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12]);
    for bank in [Bank::Acc, Bank::Out] {
        let p = npu.request(&Request::Write { bank, entry: 3, data: data[..8].to_vec() }, WAIT).unwrap().unwrap();
        assert_eq!(&p[..2], &[Status::BadBank as u8, Opcode::Write as u8], "{bank:?}");
    }
    assert_eq!(npu.peek(Bank::Acc, 3, 0), 0);
    let p = npu.request(&Request::Write { bank: Bank::A, entry: 15, data: vec![7, 9] }, WAIT).unwrap().unwrap();
    assert_eq!(p[0], Status::Ok as u8);
    let p = npu.request(&Request::Read { bank: Bank::A, entry: 15, count: 1 }, WAIT).unwrap().unwrap();
    assert_eq!(&p[2..], &[7, 9]);
    // Several entries of each byte bank, every lane a different byte, so
    // that a byte a cycle early or late, or from the wrong lane, shows.
    let bytes: Vec<u8> = (0..6).map(|i| 0xA0 + 7 * i).collect();
    for bank in [Bank::A, Bank::B] {
        expect(&mut npu, &Request::Write { bank, entry: 4, data: bytes.clone() }, Status::Ok);
        assert_eq!(expect(&mut npu, &Request::Read { bank, entry: 4, count: 3 }, Status::Ok), bytes, "{bank:?}");
    }
    for (i, b) in bytes.iter().enumerate() {
        npu.poke(Bank::Out, 6 + i / 2, i % 2, u32::from(*b));
    }
    assert_eq!(expect(&mut npu, &Request::Read { bank: Bank::Out, entry: 6, count: 3 }, Status::Ok), bytes);
}

use npu_spec::device_model::DeviceModel;
use npu_spec::protocol::{Counters, GemmTile, FRAME_HEAD, SYNC};
use npu_spec::requant::{RequantOutput, RequantParams};
use proptest::prelude::*;

/// The answer's data after checking its status and opcode.
fn expect(npu: &mut NpuSim, r: &Request, status: Status) -> Vec<u8> {
    let p = npu.request(r, WAIT).unwrap_or_else(|| panic!("no answer to {r:?}")).unwrap_or_else(|e| panic!("{e} for {r:?}"));
    assert_eq!((p[0], p[1]), (status as u8, r.opcode() as u8), "answer to {r:?}: {p:?}");
    p[2..].to_vec()
}

/// Every bank of the simulated NPU equals the model.
fn assert_memory_equals(npu: &NpuSim, m: &DeviceModel) {
    for (e, lanes) in m.a.iter().enumerate() {
        for (i, v) in lanes.iter().enumerate() {
            assert_eq!(npu.peek(Bank::A, e, i) as u8 as i8, *v, "A[{e}][{i}]");
        }
    }
    for (e, lanes) in m.b.iter().enumerate() {
        for (j, v) in lanes.iter().enumerate() {
            assert_eq!(npu.peek(Bank::B, e, j) as u8 as i8, *v, "B[{e}][{j}]");
        }
    }
    for (e, lanes) in m.acc.iter().enumerate() {
        for (j, v) in lanes.iter().enumerate() {
            assert_eq!(npu.peek(Bank::Acc, e, j) as i32, *v, "ACC[{e}][{j}]");
        }
    }
    for (e, lanes) in m.out.iter().enumerate() {
        for (j, v) in lanes.iter().enumerate() {
            assert_eq!(npu.peek(Bank::Out, e, j) as u8 as i8, *v, "OUT[{e}][{j}]");
        }
    }
    for (j, v) in m.bias.iter().enumerate() {
        assert_eq!(npu.peek(Bank::Bias, 0, j) as i32, *v, "BIAS[{j}]");
    }
    for (e, v) in m.table.iter().enumerate() {
        assert_eq!(npu.peek(Bank::Table, e, 0) as i32, *v, "TABLE[{e}]");
    }
}

fn write_a(npu: &mut NpuSim, m: &mut DeviceModel, entry: usize, rows: &[Vec<i8>]) {
    let data: Vec<u8> = rows.iter().flatten().map(|&v| v as u8).collect();
    expect(npu, &Request::Write { bank: Bank::A, entry: entry as u16, data }, Status::Ok);
    m.a[entry..entry + rows.len()].clone_from_slice(rows);
}

fn write_b(npu: &mut NpuSim, m: &mut DeviceModel, entry: usize, rows: &[Vec<i8>]) {
    let data: Vec<u8> = rows.iter().flatten().map(|&v| v as u8).collect();
    expect(npu, &Request::Write { bank: Bank::B, entry: entry as u16, data }, Status::Ok);
    m.b[entry..entry + rows.len()].clone_from_slice(rows);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Random operands written over the link, a random GEMM descriptor, the
    /// accumulators read back: equal to the device model, and nothing else
    /// changed; with and without `memory.read_data_register`.
    #[test]
    fn gemm_over_the_link_equals_the_model(
        a in proptest::collection::vec(proptest::collection::vec(npu_tests::operand(), 2), 16),
        b in proptest::collection::vec(proptest::collection::vec(npu_tests::operand(), 2), 16),
        acc0 in proptest::collection::vec(any::<i32>(), 8),
        m in 1u8..=2, n in 1u8..=2, k in 1u16..=6, tiles in 1u16..=2, accumulate in any::<bool>(),
        a0 in 0u16..4, b0 in 0u16..4, c0 in 0u16..4, registered in any::<bool>(),
    ) {
        // With the read data registered, the scratchpads also take a copy
        // of their address per memory, from the next cycle's address.
        let mut c = small_config();
        c.memory.read_data_register = registered;
        let mut npu = NpuSim::new(&c);
        let mut model = DeviceModel::new(&c);
        write_a(&mut npu, &mut model, 0, &a);
        write_b(&mut npu, &mut model, 0, &b);
        // (ACC is not writable over the link: the test sets it in the simulator.)
        for (i, v) in acc0.iter().enumerate() {
            npu.poke(Bank::Acc, 4 + i / 2, i % 2, *v as u32);
            model.acc[4 + i / 2][i % 2] = *v;
        }
        let t = GemmTile { a_entry: a0, b_entry: b0, acc_entry: c0, m, n, k, accumulate, tiles, a_step: k, b_step: k, acc_step: u16::from(m) };
        let want = model.gemm(&t);
        expect(&mut npu, &Request::Gemm(t), want);
        let got = expect(&mut npu, &Request::Read { bank: Bank::Acc, entry: 0, count: 16 }, Status::Ok);
        let want_bytes: Vec<u8> = model.acc.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        prop_assert_eq!(got, want_bytes);
        assert_memory_equals(&npu, &model);
    }
}

#[test]
fn requant_over_the_link_equals_the_model() {
    requant_over_the_link(&small_config());
}

/// The ECP5's way to the accumulators (the pipelined unit, each lane's read
/// data registered rather than the address): the same cycles, the same answers.
#[test]
fn requant_over_the_link_with_the_read_data_registered() {
    let mut c = small_config();
    c.requant.unit = npu_spec::config::RequantUnit::Pipelined;
    c.memory.read_data_register = true;
    requant_over_the_link(&c);
}

/// The serial unit behind registered read data, which a config may ask for:
/// its next-cycle ACC address feeds the accumulators' address copies too.
#[test]
fn requant_over_the_link_serial_with_the_read_data_registered() {
    let mut c = small_config();
    c.memory.read_data_register = true;
    requant_over_the_link(&c);
}

fn requant_over_the_link(c: &NpuConfig) {
    let mut npu = NpuSim::new(c);
    let mut model = DeviceModel::new(c);
    let acc: Vec<i32> = vec![i32::MIN, i32::MAX, -1, 0, 1000, -1000, 123_456, -7];
    for (i, v) in acc.iter().enumerate() {
        npu.poke(Bank::Acc, 2 + i / 2, i % 2, *v as u32);
        model.acc[2 + i / 2][i % 2] = *v;
    }
    let bias = [-5i32, i32::MAX];
    let bias_bytes: Vec<u8> = bias.iter().flat_map(|v| v.to_le_bytes()).collect();
    expect(&mut npu, &Request::Write { bank: Bank::Bias, entry: 0, data: bias_bytes }, Status::Ok);
    model.bias = bias.to_vec();
    for (params, use_bias) in [
        (RequantParams { multiplier: 1 << 30, shift: 4, zero_point: -2, min: -128, max: 127 }, true),
        (RequantParams { multiplier: i32::MAX, shift: 31, zero_point: 0, min: 0, max: 127 }, false),
        (RequantParams { multiplier: i32::MIN, shift: 0, zero_point: 3, min: -10, max: 10 }, false),
    ] {
        expect(&mut npu, &Request::Write { bank: Bank::Bias, entry: 1, data: params.scale_entries(2) }, Status::Ok);
        model.set_scale(&params);
        let r = Request::Requant { src: 2, dst: 5, count: 4, output: params.output(), bias: use_bias };
        let want = model.requant(2, 5, 4, &params.output(), use_bias);
        expect(&mut npu, &r, want);
        let got = expect(&mut npu, &Request::Read { bank: Bank::Out, entry: 5, count: 4 }, Status::Ok);
        let want_bytes: Vec<u8> = model.out[5..9].iter().flatten().map(|&v| v as u8).collect();
        assert_eq!(got, want_bytes, "{params:?}");
    }
    let bad = RequantOutput { zero_point: 0, min: 1, max: 0 };
    expect(&mut npu, &Request::Requant { src: 0, dst: 0, count: 1, output: bad, bias: false }, Status::BadParam);
    let got = expect(&mut npu, &Request::Read { bank: Bank::Acc, entry: 2, count: 4 }, Status::Ok);
    let want_acc: Vec<u8> = model.acc[2..6].iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(got, want_acc);
    assert_memory_equals(&npu, &model);
}

#[test]
fn counters_add_up() {
    counters_add_up_in(&small_config());
}

/// With the read data registered: the GEMM engine's stage before its
/// adders and the counter bank's hold stage, the same counts.
#[test]
fn counters_add_up_with_the_read_data_registered() {
    let mut c = small_config();
    c.memory.read_data_register = true;
    counters_add_up_in(&c);
}

fn counters_add_up_in(c: &NpuConfig) {
    let c = c.clone();
    let mut npu = NpuSim::new(&c);
    let mut model = DeviceModel::new(&c);
    write_a(&mut npu, &mut model, 0, &vec![vec![3, -4]; 5]);
    write_b(&mut npu, &mut model, 0, &vec![vec![-128, 127]; 5]);
    expect(&mut npu, &Request::ClearCounters, Status::Ok);
    let t = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 2, n: 1, k: 5, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 };
    expect(&mut npu, &Request::Gemm(t), Status::Ok);
    let counters = Counters::decode(&expect(&mut npu, &Request::Counters, Status::Ok)).unwrap();
    assert_eq!(counters.macs, 2 * 5,  "MACs = M*N*K: {counters:?}");
    assert_eq!(counters.mac_cycles, 5);
    assert_eq!(counters.tiles, 1);
    // Since the clear: its answer, the GEMM request and answer, the COUNTERS request.
    let frame = |payload: usize| (FRAME_HEAD + payload + 2) as u64;
    assert_eq!(counters.bytes_in, frame(Opcode::Gemm.request_len()) + frame(1), "{counters:?}");
    assert!(counters.bytes_out >= frame(2) * 2, "{counters:?}");
    assert!(counters.busy > counters.mac_cycles + counters.stall && counters.cycles > counters.busy, "{counters:?}");
    model.gemm(&t);
    assert_memory_equals(&npu, &model);
    let status = expect(&mut npu, &Request::Status, Status::Ok);
    // Two WRITEs, CLEAR, GEMM, COUNTERS; STATUS itself counts once answered.
    assert_eq!(u32::from_le_bytes(status[0..4].try_into().unwrap()), 5, "five requests answered OK: {status:?}");
}

/// After each bad input: the right answer (or none), memory unchanged, and
/// the next good request answered.
#[test]
fn bad_frames_change_nothing_and_the_link_recovers() {
    let c = small_config();
    let mut npu = NpuSim::new(&c);
    let mut model = DeviceModel::new(&c);
    write_a(&mut npu, &mut model, 0, &vec![vec![1, 2]; 16]);
    let healthy = |npu: &mut NpuSim| {
        expect(npu, &Request::Info, Status::Ok);
    };
    let answer_to = |npu: &mut NpuSim, bytes: &[u8]| -> Option<Vec<u8>> {
        npu.send(bytes);
        npu.drain_line(0);
        npu.next_frame(npu_spec::protocol::IDLE_TIMEOUT_BITS * 8 * 3 + 2000).map(|f| f.expect("device frames are well formed"))
    };
    // Garbage with SYNC bytes in it, then silence: nothing or errors, never a hang.
    let garbage = [0x00, SYNC, 0x03, 0x00, 0x55, SYNC, 0xFF, 0x12, 0x99];
    let mut answer = answer_to(&mut npu, &garbage);
    while let Some(p) = answer {
        assert_ne!(p[0], Status::Ok as u8, "garbage is never OK: {p:?}");
        answer = npu.next_frame(npu_spec::protocol::IDLE_TIMEOUT_BITS * 8 * 3 + 2000).map(|f| f.unwrap());
    }
    healthy(&mut npu);
    // A truncated WRITE: dropped after the idle time-out.
    let w = Request::Write { bank: Bank::A, entry: 0, data: vec![9; 8] }.frame();
    assert_eq!(answer_to(&mut npu, &w[..w.len() - 3]), None);
    healthy(&mut npu);
    // A flipped bit in a WRITE: BAD_CRC.
    let mut flipped = w.clone();
    flipped[6] ^= 0x04;
    let p = answer_to(&mut npu, &flipped).expect("an answer");
    assert_eq!(p[0], Status::BadCrc as u8);
    healthy(&mut npu);
    // Lengths 0 and above the limit that stop short: one BAD_LENGTH each,
    // with opcode 0, after the idle time-out.
    let p = answer_to(&mut npu, &[SYNC, 0, 0]).expect("an answer");
    assert_eq!(p[..2], [Status::BadLength as u8, 0]);
    assert_eq!(npu.next_frame(WAIT), None, "one answer only");
    healthy(&mut npu);
    let p = answer_to(&mut npu, &[SYNC, 0x01, 0x04]).expect("an answer");
    assert_eq!(p[..2], [Status::BadLength as u8, 0]);
    assert_eq!(npu.next_frame(WAIT), None, "one answer only");
    healthy(&mut npu);
    // Good frames with bad contents.
    let unknown = npu_spec::protocol::encode_frame(&[0x42]);
    assert_eq!(answer_to(&mut npu, &unknown).unwrap()[..2], [Status::UnknownCommand as u8, 0x42]);
    let long_info = npu_spec::protocol::encode_frame(&[Opcode::Info as u8, 0]);
    assert_eq!(answer_to(&mut npu, &long_info).unwrap()[0], Status::BadLength as u8);
    for (r, status) in [
        (Request::Write { bank: Bank::A, entry: 15, data: vec![1, 2, 3, 4] }, Status::OutOfRange),
        (Request::Write { bank: Bank::A, entry: 0, data: vec![1, 2, 3] }, Status::BadLength),
        (Request::Write { bank: Bank::Bias, entry: 0, data: vec![1, 2, 3, 4] }, Status::BadLength),
        (Request::Write { bank: Bank::Acc, entry: 0, data: vec![1, 2, 3, 4] }, Status::BadBank),
        (Request::Write { bank: Bank::Out, entry: 0, data: vec![1, 2] }, Status::BadBank),
        (Request::Read { bank: Bank::B, entry: 10, count: 7 }, Status::OutOfRange),
        (Request::Read { bank: Bank::B, entry: 0, count: 0 }, Status::OutOfRange),
        (Request::Read { bank: Bank::Bias, entry: 3, count: 1 }, Status::OutOfRange),
        (Request::Gemm(GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 3, n: 1, k: 1, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 }), Status::BadTile),
        (Request::Gemm(GemmTile { a_entry: 14, b_entry: 0, acc_entry: 0, m: 1, n: 1, k: 3, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 }), Status::OutOfRange),
    ] {
        expect(&mut npu, &r, status);
        assert_memory_equals(&npu, &model);
    }
    let mut bad_bank = Request::Read { bank: Bank::A, entry: 0, count: 1 }.payload();
    bad_bank[1] = 9;
    let p = answer_to(&mut npu, &npu_spec::protocol::encode_frame(&bad_bank)).unwrap();
    assert_eq!(p[0], Status::BadBank as u8);
    // A break on the line, then a good frame.
    npu.send_break(20);
    healthy(&mut npu);
    assert_memory_equals(&npu, &model);
}

/// A frame whose length is refused is skipped whole, however its payload
/// looks: exactly one BAD_LENGTH answer, nothing in its payload is taken
/// for a frame, and the next request is answered as usual.
#[test]
fn a_refused_length_is_skipped_whole_and_answered_once() {
    let c = small_config();
    let mut npu = NpuSim::new(&c);
    let mut model = DeviceModel::new(&c);
    write_a(&mut npu, &mut model, 0, &vec![vec![3, 4]; 16]);
    let write = Request::Write { bank: Bank::A, entry: 0, data: vec![7; 8] }.frame();
    // An over-long frame (1025 bytes) whose payload is full of frames that
    // would change memory, a SYNC with a small length first; an empty
    // frame with its CRC.
    let mut long = vec![SYNC, 0x01, 0x04];
    let mut payload = vec![SYNC, 0x02, 0x00];
    while payload.len() + write.len() <= 1025 {
        payload.extend_from_slice(&write);
    }
    payload.resize(1025, SYNC);
    long.extend_from_slice(&payload);
    long.extend_from_slice(&[0x12, 0x34]);
    let crc = npu_spec::protocol::crc16(&[0, 0]).to_le_bytes();
    let empty = vec![SYNC, 0, 0, crc[0], crc[1]];
    for refused in [long, empty] {
        npu.send(&refused);
        let first = npu.next_frame(WAIT).expect("an answer").expect("a good frame");
        assert_eq!(first[..2], [Status::BadLength as u8, 0], "{} bytes refused", refused.len());
        assert_eq!(npu.next_frame(WAIT), None, "one answer only");
        expect(&mut npu, &Request::Status, Status::Ok);
        assert_memory_equals(&npu, &model);
    }
}

#[test]
fn a_baud_two_percent_off_works_at_four_clocks_a_bit_and_three_at_eight() {
    // 4 clocks a bit is the default's (12 Mbaud at 48 MHz): the start edge
    // is found to a quarter of a bit, which leaves 2.5% (uart_rx's tests).
    let at_eight = NpuConfig { link: npu_spec::config::LinkConfig { baud: 1_000_000 }, ..small_config() };
    for (c, skews) in [(small_config(), [-20i64, 20]), (at_eight, [-30, 30])] {
        for skew in skews {
            let mut npu = NpuSim::new(&c);
            npu.send_skewed(&Request::Info.frame(), skew);
            let p = npu.next_frame(WAIT).unwrap_or_else(|| panic!("no answer at skew {skew}")).expect("a good frame");
            assert_eq!(p[0], Status::Ok as u8, "skew {skew}");
            eprintln!("{} clocks a bit, skew {skew}: ok", c.clocks_per_bit());
        }
    }
}

#[test]
fn a_k64_gemm_command_on_the_default_array() {
    // The default config (4x4 at 48 clocks per bit): the whole command from
    // the request's first bit to the answer's last, and the array's utilization.
    let c = NpuConfig::default();
    let mut npu = NpuSim::new(&c);
    let mut model = DeviceModel::new(&c);
    let a: Vec<Vec<i8>> = (0..64).map(|k| (0..4).map(|i| (k * 7 + i * 13) as i8).collect()).collect();
    let b: Vec<Vec<i8>> = (0..64).map(|k| (0..4).map(|j| (k * 5 - j * 29) as i8).collect()).collect();
    write_a(&mut npu, &mut model, 0, &a);
    write_b(&mut npu, &mut model, 0, &b);
    expect(&mut npu, &Request::ClearCounters, Status::Ok);
    let t = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 4, n: 4, k: 64, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 };
    let start = npu.cycles();
    expect(&mut npu, &Request::Gemm(t), Status::Ok);
    let command_cycles = npu.cycles() - start;
    let counters = Counters::decode(&expect(&mut npu, &Request::Counters, Status::Ok)).unwrap();
    model.gemm(&t);
    assert_memory_equals(&npu, &model);
    let compute = counters.mac_cycles + counters.stall;
    eprintln!(
        "GEMM K=64 on 4x4: command {command_cycles} cycles frame in to frame out; array {} steps in {} engine cycles: utilization {:.1}%",
        counters.mac_cycles,
        compute,
        100.0 * counters.mac_cycles as f64 / compute as f64
    );
    assert_eq!(counters.macs, 4 * 4 * 64);
}

/// The device takes one request ahead: a request sent before the last one
/// is answered arrives in the other frame slot while the first executes and
/// answers, and is answered after it, in order; a READ's answer and the next
/// WRITE cross on the line. A second request ahead, sent while both slots
/// are taken, is dropped whole (no answer, nothing changed).
#[test]
fn one_request_ahead_is_answered_in_order_and_a_second_ahead_is_dropped() {
    let c = small_config();
    let mut npu = NpuSim::new(&c);
    let mut model = DeviceModel::new(&c);
    let next = |npu: &mut NpuSim| npu.next_frame(WAIT).expect("an answer").expect("a good frame");
    // Two WRITEs back to back, then a GEMM and the READ of its sums.
    let a: Vec<u8> = (0..32).map(|i| (i * 7 + 3) as u8).collect();
    let b: Vec<u8> = (0..32).map(|i| (i * 5 + 250) as u8).collect();
    let tile = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 2, n: 2, k: 16, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 };
    let read = Request::Read { bank: Bank::Acc, entry: 0, count: 2 };
    npu.send(&Request::Write { bank: Bank::A, entry: 0, data: a.clone() }.frame());
    npu.send(&Request::Write { bank: Bank::B, entry: 0, data: b.clone() }.frame());
    for r in 0..16 {
        model.a[r] = a[2 * r..2 * r + 2].iter().map(|&v| v as i8).collect();
        model.b[r] = b[2 * r..2 * r + 2].iter().map(|&v| v as i8).collect();
    }
    assert_eq!(next(&mut npu)[..2], [Status::Ok as u8, Opcode::Write as u8]);
    npu.send(&Request::Gemm(tile).frame());
    assert_eq!(next(&mut npu)[..2], [Status::Ok as u8, Opcode::Write as u8]);
    npu.send(&read.frame());
    model.gemm(&tile);
    assert_eq!(next(&mut npu)[..2], [Status::Ok as u8, Opcode::Gemm as u8]);
    // The READ's answer goes out while the next WRITE comes in.
    npu.send(&Request::Write { bank: Bank::A, entry: 3, data: vec![1, 2] }.frame());
    let sums = next(&mut npu);
    assert_eq!(sums[..2], [Status::Ok as u8, Opcode::Read as u8]);
    let expected: Vec<u8> = model.acc[..2].iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(sums[2..], expected[..]);
    assert_eq!(next(&mut npu)[..2], [Status::Ok as u8, Opcode::Write as u8]);
    model.a[3] = vec![1, 2];
    assert_memory_equals(&npu, &model);
    // Three requests back to back: the first is in hand, the second waits,
    // the third finds no slot and is dropped.
    let writes: Vec<Request> = (0..3).map(|i| Request::Write { bank: Bank::A, entry: 8, data: vec![10 * i + 1, 10 * i + 2] }).collect();
    npu.send(&Request::Info.frame());
    npu.send(&writes[0].frame());
    npu.send(&writes[1].frame());
    assert_eq!(next(&mut npu)[..2], [Status::Ok as u8, Opcode::Info as u8]);
    assert_eq!(next(&mut npu)[..2], [Status::Ok as u8, Opcode::Write as u8]);
    assert_eq!(npu.next_frame(WAIT), None, "the second request ahead gets no answer");
    model.a[8] = vec![1, 2];
    assert_memory_equals(&npu, &model);
    expect(&mut npu, &Request::Status, Status::Ok);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Random MOVEs between random banks: the status and every bank equal
    /// the device model's (a refused MOVE changes nothing); with and
    /// without `memory.read_data_register`.
    #[test]
    fn move_over_the_link_equals_the_model(
        moves in proptest::collection::vec(npu_tests::move_descriptor(&small_config()), 3),
        seed in any::<u64>(), registered in any::<bool>(),
    ) {
        let mut c = small_config();
        c.memory.read_data_register = registered;
        c.memory.mover = true;
        let (mut npu, mut model, _) = random_device(&c, seed);
        for m in &moves {
            let want = model.move_bytes(m);
            expect(&mut npu, &Request::Move(*m), want);
            assert_memory_equals(&npu, &model);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// ADD's tables written over the link (TABLE WRITEs, some past the
    /// bank), then random ADDs, most in range: the status and every bank
    /// equal the device model's (a refused ADD changes nothing); with and
    /// without `memory.read_data_register`.
    #[test]
    fn add_over_the_link_equals_the_model(seed in any::<u64>(), registered in any::<bool>()) {
        use npu_spec::protocol::TableAdd;
        let mut c = small_config();
        c.memory.read_data_register = registered;
        c.memory.add_tables = 2;
        let (mut npu, mut model, mut next) = random_device(&c, seed);
        // The tables, set in place (the link is slow in this simulator), a
        // few of their words written over it (and some past the end).
        for e in 0..model.table.len() {
            model.table[e] = next() as i32;
            npu.poke(Bank::Table, e, 0, model.table[e] as u32);
        }
        let words: Vec<u8> = (0..6).flat_map(|_| (next() as i32).to_le_bytes()).collect();
        for entry in [253u16, 0, 509] {
            let want = model.write(Bank::Table as u8, entry, &words);
            expect(&mut npu, &Request::Write { bank: Bank::Table, entry, data: words.clone() }, want);
        }
        assert_eq!(expect(&mut npu, &Request::Read { bank: Bank::Table, entry: 255, count: 2 }, Status::Ok), model.read(Bank::Table as u8, 255, 2).unwrap());
        let depth = c.memory.acc_depth as u64;
        for _ in 0..4 {
            let mut pick = |n: u64| next() % n;
            let a = TableAdd {
                src1: pick(depth) as u16,
                src2: pick(c.memory.b_depth as u64) as u16,
                dst: pick(depth) as u16,
                count: pick(6) as u16,
                table1: pick(3) as u8,
                table2: pick(2) as u8,
            };
            let want = model.add(&a);
            expect(&mut npu, &Request::Add(a), want);
            assert_memory_equals(&npu, &model);
        }
    }
}

/// Without `memory.add_tables` ADD is no command and TABLE no bank.
#[test]
fn add_without_tables_is_an_unknown_command() {
    use npu_spec::protocol::TableAdd;
    let c = small_config();
    let mut npu = NpuSim::new(&c);
    let a = TableAdd { src1: 0, src2: 0, dst: 0, count: 1, table1: 0, table2: 0 };
    expect(&mut npu, &Request::Add(a), Status::UnknownCommand);
    expect(&mut npu, &Request::Write { bank: Bank::Table, entry: 0, data: vec![0; 4] }, Status::BadBank);
    expect(&mut npu, &Request::Read { bank: Bank::Table, entry: 0, count: 1 }, Status::BadBank);
    assert_eq!(npu.peek(Bank::Acc, 0, 0), 0);
}

/// An NPU of `c` and its model with random A, B, ACC and OUT (A and B
/// written over the link, ACC and OUT, which the link only reads, set in
/// place), and the random source for more.
fn random_device(c: &NpuConfig, seed: u64) -> (NpuSim, DeviceModel, impl FnMut() -> u64) {
    let mut npu = NpuSim::new(c);
    let mut model = npu_tests::random_model(c, seed);
    let mut next = npu_tests::xorshift(seed ^ 1);
    model.out.iter_mut().flatten().for_each(|v| *v = next() as i8);
    for (bank, lanes) in [(Bank::A, &model.a), (Bank::B, &model.b)] {
        let data: Vec<u8> = lanes.iter().flatten().map(|&v| v as u8).collect();
        expect(&mut npu, &Request::Write { bank, entry: 0, data }, Status::Ok);
    }
    for (e, lanes) in model.out.iter().enumerate() {
        for (j, v) in lanes.iter().enumerate() {
            npu.poke(Bank::Out, e, j, *v as u8 as u32);
        }
    }
    for (e, lanes) in model.acc.iter().enumerate() {
        for (j, v) in lanes.iter().enumerate() {
            npu.poke(Bank::Acc, e, j, *v as u32);
        }
    }
    (npu, model, next)
}

/// Without `memory.mover` MOVE is no command: UNKNOWN_COMMAND, nothing
/// moves, and the next request is served.
#[test]
fn move_without_the_mover_is_an_unknown_command() {
    use npu_spec::protocol::{Move, Place};
    let c = small_config();
    assert!(!c.memory.mover);
    let mut npu = NpuSim::new(&c);
    expect(&mut npu, &Request::Write { bank: Bank::A, entry: 0, data: vec![1, 2] }, Status::Ok);
    let m = Move::run(Bank::A, Place::new(0, 0), Bank::B, Place::new(0, 0), 2);
    expect(&mut npu, &Request::Move(m), Status::UnknownCommand);
    assert_eq!(expect(&mut npu, &Request::Read { bank: Bank::B, entry: 0, count: 1 }, Status::Ok), vec![0, 0]);
}


/// A stored program in rust-hdl's simulator: PROGRAM writes WRITE, GEMM,
/// REQUANT and MOVE records, RUN runs them as requests and answers once with the
/// records run, every bank then equal to the model's; a RUN stops at its
/// first refused record (the records before it ran, none after), and STATUS
/// counts each PROGRAM and RUN as one frame, not its records.
#[test]
fn a_stored_program_runs_as_its_requests_would() {
    use npu_spec::protocol::{GemmTile, LinkHealth, Move, Place};
    use npu_spec::requant::RequantOutput;
    let mut c = small_config();
    c.memory.mover = true;
    c.memory.program_bytes = 256;
    let mut npu = NpuSim::new(&c);
    let mut model = npu_tests::random_model(&c, 5);
    model.acc.iter_mut().flatten().for_each(|v| *v = 0);
    model.bias = (0..c.array.cols as i32).map(|j| 100 * j - 70).collect();
    model.multipliers = vec![1_518_500_250; c.array.cols];
    model.shifts = vec![3; c.array.cols];
    for (bank, lanes) in [(Bank::A, &model.a), (Bank::B, &model.b)] {
        let data: Vec<u8> = lanes.iter().flatten().map(|&v| v as u8).collect();
        expect(&mut npu, &Request::Write { bank, entry: 0, data }, Status::Ok);
    }
    let scale: Vec<u8> = [model.bias.clone(), model.multipliers.clone(), model.shifts.clone()].concat().iter().flat_map(|v| v.to_le_bytes()).collect();
    expect(&mut npu, &Request::Write { bank: Bank::Bias, entry: 0, data: scale }, Status::Ok);
    let health = |npu: &mut NpuSim| LinkHealth::decode(&expect(npu, &Request::Status, Status::Ok)).unwrap();
    let before = health(&mut npu);
    let gemm = GemmTile { a_entry: 0, b_entry: 1, acc_entry: 0, m: 2, n: 2, k: 3, accumulate: false, tiles: 2, a_step: 2, b_step: 1, acc_step: 2 };
    let requant = Request::Requant { src: 0, dst: 1, count: 4, output: RequantOutput { zero_point: 3, min: -100, max: 90 }, bias: true };
    let mut place = Move::run(Bank::Out, Place::new(1, 0), Bank::A, Place::new(6, 0), 4);
    place.src_step = Place::new(1, 0);
    let refused = Move { count: 0, ..place };
    let bias: Vec<u8> = (0..c.array.cols as i32).flat_map(|j| (40 - 30 * j).to_le_bytes()).collect();
    let records = [Request::Gemm(gemm), Request::Write { bank: Bank::Bias, entry: 0, data: bias }, requant, Request::Move(place), Request::Move(refused), Request::Gemm(gemm)];
    let program: Vec<u8> = records.iter().flat_map(Request::record).collect();
    expect(&mut npu, &Request::Program { at: 7, data: program.clone() }, Status::Ok);
    assert_eq!(model.program(7, &program), Status::Ok);
    for r in &records[..4] {
        match r {
            Request::Write { bank, entry, data } => assert_eq!(model.write(*bank as u8, *entry, data), Status::Ok),
            Request::Gemm(t) => assert_eq!(model.gemm(t), Status::Ok),
            Request::Requant { src, dst, count, output, bias } => assert_eq!(model.requant(*src, *dst, *count, output, *bias), Status::Ok),
            Request::Move(m) => assert_eq!(model.move_bytes(m), Status::Ok),
            _ => unreachable!(),
        }
    }
    assert_eq!(expect(&mut npu, &Request::Run { at: 7, records: 4 }, Status::Ok), 4u16.to_le_bytes());
    assert_memory_equals(&npu, &model);
    // All six: the fifth is refused, the sixth does not run.
    assert_eq!(model.run(7, 6), (Status::OutOfRange, 4));
    assert_eq!(expect(&mut npu, &Request::Run { at: 7, records: 6 }, Status::OutOfRange), 4u16.to_le_bytes());
    assert_memory_equals(&npu, &model);
    let after = health(&mut npu);
    // Counted: the first STATUS, PROGRAM and RUN OK; the second RUN an error.
    assert_eq!((after.frames_ok - before.frames_ok, after.frames_bad - before.frames_bad, after.last_error), (3, 1, Status::OutOfRange as u8));
    // PROGRAM's own refusals, and a RUN of no records.
    expect(&mut npu, &Request::Program { at: 255, data: vec![1, 2] }, Status::OutOfRange);
    expect(&mut npu, &Request::Program { at: 0, data: vec![] }, Status::BadLength);
    assert_eq!(expect(&mut npu, &Request::Run { at: 7, records: 0 }, Status::OutOfRange), [0, 0]);
    // A record of length 0, and one a program may not hold.
    expect(&mut npu, &Request::Program { at: 0, data: vec![0, 1, Opcode::Info as u8] }, Status::Ok);
    assert_eq!(expect(&mut npu, &Request::Run { at: 0, records: 1 }, Status::BadLength), [0, 0]);
    assert_eq!(expect(&mut npu, &Request::Run { at: 1, records: 1 }, Status::UnknownCommand), [0, 0]);
    assert_memory_equals(&npu, &model);
    // The next record is read while one runs: one of length 0, or one past
    // the memory's end, is refused all the same, after the record before.
    let g = Request::Gemm(gemm).record();
    let end = c.memory.program_bytes;
    for (at, tail) in [(0, vec![0u8]), (end - g.len() - 2, vec![5, Opcode::Gemm as u8])] {
        let program = [g.clone(), tail].concat();
        expect(&mut npu, &Request::Program { at: at as u16, data: program.clone() }, Status::Ok);
        assert_eq!(model.program(at as u16, &program), Status::Ok);
        let (status, done) = model.run(at as u16, 2);
        assert_eq!(done, 1);
        assert_eq!(expect(&mut npu, &Request::Run { at: at as u16, records: 2 }, status), done.to_le_bytes());
    }
    assert_memory_equals(&npu, &model);
}

/// Without `memory.program_bytes` PROGRAM and RUN are no commands.
#[test]
fn without_program_memory_program_and_run_are_unknown_commands() {
    let c = small_config();
    assert_eq!(c.memory.program_bytes, 0);
    let mut npu = NpuSim::new(&c);
    expect(&mut npu, &Request::Program { at: 0, data: vec![1, 2] }, Status::UnknownCommand);
    expect(&mut npu, &Request::Run { at: 0, records: 1 }, Status::UnknownCommand);
    expect(&mut npu, &Request::Info, Status::Ok);
}

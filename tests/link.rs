//! The NPU top level in rust-hdl's simulator, through its UART pins at the
//! bit level: every command, against the device model.

use npu_sim::npu_sim::NpuSim;
use npu_spec::protocol::{Bank, Info, Opcode, Request, Status};
use npu_spec::NpuConfig;

/// A small, fast NPU: 2x2, 8 clocks per bit, 16-entry memories.
pub fn small_config() -> NpuConfig {
    let mut c = NpuConfig::default();
    c.array.rows = 2;
    c.array.cols = 2;
    c.memory.a_depth = 16;
    c.memory.b_depth = 16;
    c.memory.acc_depth = 16;
    c.clock.core_hz = 8_000_000;
    c.link.baud = 1_000_000;
    c.validate().unwrap();
    c
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
    let c = small_config();
    let mut npu = NpuSim::new(&c);
    let data: Vec<u8> = (0..12).map(|i| 0x30 + i).collect();
    let p = npu.request(&Request::Write { bank: Bank::Acc, entry: 3, data: data[..8].to_vec() }, WAIT).unwrap().unwrap();
    assert_eq!(&p[..2], &[Status::Ok as u8, Opcode::Write as u8]);
    assert_eq!(npu.peek(Bank::Acc, 3, 0), u32::from_le_bytes([0x30, 0x31, 0x32, 0x33]));
    let p = npu.request(&Request::Read { bank: Bank::Acc, entry: 3, count: 1 }, WAIT).unwrap().unwrap();
    assert_eq!(&p[..2], &[Status::Ok as u8, Opcode::Read as u8]);
    assert_eq!(&p[2..], &data[..8]);
    let p = npu.request(&Request::Write { bank: Bank::A, entry: 15, data: vec![7, 9] }, WAIT).unwrap().unwrap();
    assert_eq!(p[0], Status::Ok as u8);
    let p = npu.request(&Request::Read { bank: Bank::A, entry: 15, count: 1 }, WAIT).unwrap().unwrap();
    assert_eq!(&p[2..], &[7, 9]);
}

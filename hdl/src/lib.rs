//! The NPU hardware, written in rust-hdl.
//!
//! - [`MultiplierPair`]: two INT8 x INT8 products, registered: one iCE40 DSP, or two signed Verilog multiplies;
//! - [`AccumulatorAdder`]: `load ? product : acc + product`, one iCE40 logic cell a bit;
//! - [`ProcessingElement`]: one multiply-accumulate cell of the array;
//! - [`DelayLine`]: the shift registers that skew the operands at the array's edges;
//! - [`SystolicArray`]: the output-stationary R x C grid, sized from an
//!   [`NpuConfig`](npu_spec::NpuConfig) at elaboration time;
//! - [`Scratchpad`]: an operand bank, lanes paired behind one address (SPRAM-shaped);
//! - [`CounterBank`]: the performance counters, high parts in block RAM, read as snapshots;
//! - [`FrameReceiver`](frame_receiver::FrameReceiver), [`Executor`](executor::Executor),
//!   [`ResponseSender`](response_sender::ResponseSender): the command link's three
//!   processes, which [`Npu`] composes with the memories and the units, the
//!   receiver's frames kept in [`RequestSlots`](request_slots::RequestSlots)
//!   (the request in hand and the next);
//! - [`Mover`](mover::Mover) and its two [`PlaceWalker`](place_walker::PlaceWalker)s: MOVE's checks
//!   and the places of each byte it copies on chip (with `memory.mover`), each sum of a place
//!   and a stride a [`PlaceAdder`](place_adder::PlaceAdder);
//! - [`ProgramStore`](program_store::ProgramStore): the program memory, PROGRAM and RUN, which
//!   runs a stored command list's records through the executor (with `memory.program_bytes`);
//! - [`KeptRegister`](kept_register::KeptRegister): a register that synthesis does not merge with its copies;
//! - [`WordRam`]: block RAM of 32-bit words written a byte at a time (the ACC and bias banks);
//! - [`verilog`]: Verilog text of any of them under a chosen module name.

pub mod accumulator_adder;
pub mod adder;
pub mod counter_bank;
pub mod crc16;
pub mod delay_line;
pub mod ecp5_dsp;
pub mod executor;
pub mod frame_receiver;
pub mod kept_register;
pub mod gemm_engine;
pub mod multiplier;
pub mod multiplier18;
pub mod move_pipe;
pub mod mover;
pub mod npu;
pub mod pe;
pub mod program_store;
pub mod place_adder;
pub mod place_walker;
pub mod ram;
pub mod request_slots;
pub mod requant_bench;
pub mod requant_lane;
pub mod requant_pipeline;
pub mod requant_unit;
pub mod requantizer;
pub mod response_sender;
pub mod scratchpad;
pub mod systolic_array;
pub mod uart_rx;
pub mod uart_tx;
mod vecs;
pub mod verilog;
pub mod word_ram;

pub use accumulator_adder::AccumulatorAdder;
pub use counter_bank::CounterBank;
pub use delay_line::DelayLine;
pub use gemm_engine::{GemmBench, GemmEngine};
pub use multiplier::MultiplierPair;
pub use npu::Npu;
pub use pe::ProcessingElement;
pub use ram::Ram;
pub use requant_bench::RequantBench;
pub use requantizer::Requantizer;
pub use scratchpad::Scratchpad;
pub use systolic_array::SystolicArray;
pub use uart_rx::UartRx;
pub use uart_tx::UartTx;
pub use word_ram::WordRam;

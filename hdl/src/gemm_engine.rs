//! The GEMM engine: runs a tile descriptor through the systolic array.
//!
//! Given a descriptor (see `GEMM` in `docs/protocol.md`) and `start`, it
//!
//! 1. checks the tile against the array (`BAD_TILE`) and every tile's entry
//!    ranges against the memories (`OUT_OF_RANGE`), adding the steps up one
//!    tile per cycle (no multiplier), and meanwhile computes m * n, the useful
//!    MACs per step, by repeated addition;
//! 2. streams the tiles back to back: one A entry and one B entry per cycle
//!    from the scratchpads into the array, holding a tile's final step only as
//!    long as the array's spacing rule requires, so the drain of one tile
//!    overlaps the steps of the next;
//! 3. drains every tile's sums into the accumulator memory, one output row per
//!    cycle, adding them to the entry's old value when `accumulate` is set
//!    (the old value is read one cycle ahead, through the memory's read port);
//! 4. pulses `done` with `error` (a protocol status code, 0 when all ran).
//!
//! A tile's drain is scheduled when its final step enters the array; at most
//! two drains are ever outstanding (the one running and the next), so two
//! slots hold them.
//!
//! The descriptor inputs must hold from the cycle before `start` until
//! `done` (the NPU wires them to its request register, which holds the
//! request from its arrival until it is answered): the engine keeps no copy
//! of them, which saves about a hundred logic cells on the iCE40, and tests
//! them into flip-flops every cycle, so that `start` finds the verdict ready.

use crate::accumulator_adder::AccumulatorAdder;
use crate::kept_register::KeptRegister;
use crate::systolic_array::SystolicArray;
use npu_spec::protocol::Status;
use npu_spec::NpuConfig;
use crate::vecs::signals;
use rust_hdl::prelude::*;

/// The engine's states. The registers' work reads one-hot copies of the
/// state (`running`, `checking`, `verdict`, `streaming`); the transitions
/// read the state. Idle is 0, the flip-flops' power-up value.
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum GemmState {
    Idle,
    Verdict,
    Check,
    Stream,
    Finish,
    Flush,
}

#[derive(LogicBlock)]
pub struct GemmEngine {
    pub clock: Signal<In, Clock>,
    /// Take the descriptor on the inputs below and run it.
    pub start: Signal<In, Bit>,
    pub a_entry: Signal<In, Bits<16>>,
    pub b_entry: Signal<In, Bits<16>>,
    pub acc_entry: Signal<In, Bits<16>>,
    pub m: Signal<In, Bits<8>>,
    pub n: Signal<In, Bits<8>>,
    pub k: Signal<In, Bits<16>>,
    pub accumulate: Signal<In, Bit>,
    pub tiles: Signal<In, Bits<16>>,
    pub a_step: Signal<In, Bits<16>>,
    pub b_step: Signal<In, Bits<16>>,
    pub acc_step: Signal<In, Bits<16>>,
    /// Running a descriptor.
    pub busy: Signal<Out, Bit>,
    /// Next cycle's `busy`, `a_address` and `b_address`, for copies of the
    /// scratchpads' address registered beside their memories (the NPU's,
    /// with `memory.read_data_register`).
    pub busy_next: Signal<Out, Bit>,
    pub a_address_next: Signal<Out, Bits<16>>,
    pub b_address_next: Signal<Out, Bits<16>>,
    /// One cycle: the descriptor has finished; `error` says how.
    pub done: Signal<Out, Bit>,
    /// Protocol status code of the last descriptor (0 = OK).
    pub error: Signal<Out, Bits<8>>,
    /// Scratchpad read ports: the entry to read, and every lane's byte a cycle later.
    pub a_address: Signal<Out, Bits<16>>,
    pub a_data: Vec<Signal<In, Bits<8>>>,
    pub b_address: Signal<Out, Bits<16>>,
    pub b_data: Vec<Signal<In, Bits<8>>>,
    /// Accumulator memory: read port (for accumulate) and write port, per lane.
    pub acc_read_address: Signal<Out, Bits<16>>,
    /// The read address to show while idle.
    pub acc_read_idle: Signal<In, Bits<16>>,
    /// Next cycle's `acc_read_idle` and `acc_read_address`, for copies of
    /// the accumulators' read address registered beside each memory (the
    /// NPU's, with `memory.read_data_register`).
    pub acc_read_idle_next: Signal<In, Bits<16>>,
    pub acc_read_address_next: Signal<Out, Bits<16>>,
    pub acc_read_data: Vec<Signal<In, Bits<32>>>,
    pub acc_write_address: Signal<Out, Bits<16>>,
    pub acc_write_data: Vec<Signal<Out, Bits<32>>>,
    pub acc_write_enable: Vec<Signal<Out, Bit>>,
    /// Counter strobes: the array took a step; a GEMM cycle without a step;
    /// a tile's last row reached the accumulators; MACs per step (m * n).
    pub step: Signal<Out, Bit>,
    pub stall: Signal<Out, Bit>,
    pub tile_done: Signal<Out, Bit>,
    pub macs_per_step: Signal<Out, Bits<16>>,
    // Hardware limits, from the config.
    /// `v > rows`, `v > cols` for v below 64 (sides are at most 32), and
    /// `v > j` for lane j at bit `64 j + v` (see `vecs::above`): the shape
    /// tests without carry chains.
    above_rows: Constant<Bits<64>>,
    above_last_row: Constant<Bits<64>>,
    above_cols: Constant<Bits<64>>,
    above_lanes: Constant<Bits<2048>>,
    last_row: Constant<Bits<8>>,
    a_depth: Constant<Bits<18>>,
    b_depth: Constant<Bits<18>>,
    acc_depth: Constant<Bits<18>>,
    /// log2 of each depth (all powers of two).
    a_depth_log: Constant<Bits<18>>,
    b_depth_log: Constant<Bits<18>>,
    acc_depth_log: Constant<Bits<18>>,
    /// The fewest cycles between two final steps, less one.
    spacing_less_one: Constant<Bits<8>>,
    /// Short tiles can have a third drain due while both slots wait (a
    /// small array whose sums come out late, after a long multiplier: a
    /// tile's last row drains `latency + rows` cycles after its final step,
    /// two spacings being fewer): then a final step also waits for slot 1.
    /// Else the spacing alone keeps it free, and the test is left out.
    slot_bound: Constant<Bit>,
    drain_wait: Constant<Bits<8>>,
    /// The bits the drain waits and the spacing countdown use (their
    /// counts never pass drain_wait and spacing_less_one, and never wrap:
    /// the mask lets synthesis drop the rest).
    wait_mask: Constant<Bits<8>>,
    bad_tile: Constant<Bits<8>>,
    out_of_range: Constant<Bits<8>>,
    array: SystolicArray,
    /// Per lane: the drained sum, plus the old value when accumulating.
    acc_adders: Vec<AccumulatorAdder>,
    /// The accumulator write, a register after the adders (each sum's
    /// flip-flop shares the adder bit's logic cell): the sums, the entry, and
    /// which lanes write. The memory's read-to-write path is then the adder
    /// alone, and a write lands a cycle after its row drained.
    write_sum: Vec<DFF<Bits<32>>>,
    write_entry: DFF<Bits<16>>,
    write_lane: Vec<DFF<Bit>>,
    /// With `memory.read_data_register` (else empty): a register stage
    /// before the adders, so that the accumulator block RAM's slow output
    /// ends at a flip-flop rather than running through a 32-bit carry chain
    /// (on an ECP5 8x8 at 100 MHz, 5.6 ns of clock-to-output, 4.5 of wire
    /// and the chain were the slowest path). Per lane: the old value, the
    /// drained sum and whether the lane writes; and the row's entry (one or
    /// none). A write then lands two cycles after its row drained, so tiles
    /// are spaced at least 4 cycles apart, and Flush waits a cycle more
    /// (`flush_more`, one or none: set in Flush's second cycle).
    acc_old: Vec<DFF<Bits<32>>>,
    result_held: Vec<DFF<Bits<32>>>,
    lane_held: Vec<DFF<Bit>>,
    entry_held: Vec<DFF<Bits<16>>>,
    flush_more: Vec<DFF<Bit>>,
    /// With `memory.read_data_register` (else empty): the array's inputs
    /// registered at its edge, A's and B's bytes with the step's `valid`
    /// and `last`, so that each scratchpad block RAM's output ends at a
    /// flip-flop rather than crossing the die to the skew lines (on the
    /// ECP5 16x16, 9.7 ns of wire from an A block RAM). The sums are a
    /// cycle later (`latency` counts it).
    a_stage: Vec<DFF<Bits<8>>>,
    b_stage: Vec<DFF<Bits<8>>>,
    valid_stage: Vec<DFF<Bit>>,
    last_stage: Vec<DFF<Bit>>,
    state: DFF<GemmState>,
    /// The state the engine goes to, and one-hot copies of `state` for the
    /// states whose work is on the fast paths (not Idle; Check; Verdict;
    /// Stream): each register's enable is then a LUT or two, not a state
    /// decode followed by the state's conditions.
    next_state: Signal<Local, GemmState>,
    running: DFF<Bit>,
    checking: DFF<Bit>,
    verdict: DFF<Bit>,
    streaming: DFF<Bit>,
    /// With `memory.read_data_register` (else empty): `verdict` again,
    /// kept apart for the scratchpad pointers alone. The flag has over a
    /// hundred loads, and on the ECP5 16x16 its wire to the pointers'
    /// multiplexers (on the way to the scratchpads' address copies across
    /// the die) took 8 ns. `pointers_at_verdict` is the one they read.
    pointers_verdict: Vec<KeptRegister<Bit>>,
    pointers_at_verdict: Signal<Local, Bit>,
    /// Stream: the step taken this cycle is the tile's final one; a step is
    /// taken (from flip-flops: `at_final`, `gap_busy`, `streaming`).
    final_go: Signal<Local, Bit>,
    /// The final step must wait: the spacing, or both drain slots taken.
    hold_final: Signal<Local, Bit>,
    step_go: Signal<Local, Bit>,
    /// Check: the end of the last tile's entries (the first tile's first
    /// entry plus k, or plus m, then plus a step per further tile; a sum
    /// past 2^17 is beyond every memory, and `over` keeps that once seen, so
    /// 18 bits serve any descriptor). Stream: the current tile's first
    /// entries, advancing tile by tile. One register and one adder serve both.
    a_base: DFF<Bits<18>>,
    b_base: DFF<Bits<18>>,
    acc_base: DFF<Bits<18>>,
    /// Check: some end passed 2^17 (beyond every memory), kept once seen.
    over: DFF<Bit>,
    /// Check: m * n by repeated addition.
    mn: DFF<Bits<16>>,
    error_reg: DFF<Bits<8>>,
    /// Some tile's entries lie beyond a memory.
    beyond: DFF<Bit>,
    /// `done`, a cycle after the engine went idle.
    done_reg: DFF<Bit>,
    // Stream: the step's scratchpad entries, the steps left in the tile after
    // this one, the tiles left after this one, and the cycles left before a
    // final step may enter (the array's spacing rule). All count down to
    // zero tests, so that no adder lies on the path that decides a step.
    // In Check, `left` counts the n's still to add to m * n and `tiles_left`
    // the tiles whose steps are still to add to the ends.
    a_ptr: DFF<Bits<16>>,
    b_ptr: DFF<Bits<16>>,
    left: DFF<Bits<16>>,
    tiles_left: DFF<Bits<16>>,
    /// `tiles_left != 0`, registered with its counter, so that no 16-bit zero
    /// test lies before the state's decisions.
    tiles_more: DFF<Bit>,
    /// Per lane: `n > j`, the descriptor uses the lane (registered every
    /// cycle: n holds from before `start`, long before the first drain).
    lane_used: Vec<DFF<Bit>>,
    /// The descriptor's shape does not suit the array (m, n, k or tiles 0,
    /// m or n too large), its three parts likewise registered every cycle
    /// (the inputs hold from before `start`), ORed when `start` comes.
    bad_m: DFF<Bit>,
    bad_n: DFF<Bit>,
    bad_k_or_tiles: DFF<Bit>,
    bad_shape: Signal<Local, Bit>,
    /// `left != 0` in Check, registered with `left` (like `tiles_more`).
    left_more: DFF<Bit>,
    gap: DFF<Bits<8>>,
    /// `left == 0` and `gap > 0`, each registered with its counter.
    at_final: DFF<Bit>,
    gap_busy: DFF<Bit>,
    // The step entering the array (one cycle after its address, like the data).
    step_valid: DFF<Bit>,
    step_last: DFF<Bit>,
    // Drain slots: 0 runs first. `wait` counts down to the first drain cycle,
    // `row` is the output row the drain shows and `entry` its accumulator
    // entry (`wait_one`: `wait == 1`, registered). A slot 1 always starts at
    // the bottom row.
    s0_pending: DFF<Bit>,
    s0_wait: DFF<Bits<8>>,
    s0_wait_one: DFF<Bit>,
    s0_row: DFF<Bits<8>>,
    /// Slot 0 drains this cycle; its row is row 0; its row is below m (the
    /// tile has it). Registered where `s0_wait`, `s0_row` change.
    drain_reg: DFF<Bit>,
    on_last_row: DFF<Bit>,
    row_used: DFF<Bit>,
    s0_entry: DFF<Bits<16>>,
    s1_pending: DFF<Bit>,
    s1_wait: DFF<Bits<8>>,
    s1_wait_one: DFF<Bit>,
    s1_entry: DFF<Bits<16>>,
    /// Each base plus its step.
    a_next: Signal<Local, Bits<18>>,
    b_next: Signal<Local, Bits<18>>,
    acc_next: Signal<Local, Bits<18>>,
    /// The current tile's bottom row's accumulator entry.
    acc_bottom: Signal<Local, Bits<16>>,
    /// This step is the tile's final one.
    final_step: Signal<Local, Bit>,
    /// Slot 0 drains this cycle.
    draining: Signal<Local, Bit>,
    /// Slot 0 drains its last row this cycle.
    finishing: Signal<Local, Bit>,
}

impl GemmEngine {
    pub fn new(config: &NpuConfig) -> Self {
        let (rows, cols) = (config.array.rows, config.array.cols);
        let array = SystolicArray::from_config(config);
        let staged = config.memory.read_data_register;
        let latency = array.result_latency() + usize::from(staged);
        // At least 3: a tile that accumulates onto the previous tile's rows
        // must read them after they were written (a row is written the
        // cycle after it drains, and read the cycle before), not in the
        // same cycle. With the stage before the adders a row is written two
        // cycles after it drains: at least 4.
        let spacing = array.min_tile_spacing().max(if staged { 4 } else { 3 });
        let stage = |n: usize| if staged { n } else { 0 };
        let c8 = |v: usize| Constant::new(bits::<8>(v as u64));
        let c18 = |v: usize| Constant::new(bits::<18>(v as u64));
        let m = &config.memory;
        assert!([m.a_depth, m.b_depth, m.acc_depth].iter().all(|d| d.is_power_of_two()), "memory depths are powers of two");
        assert!(spacing < 256 && latency < 256, "the array's timing fits 8-bit counters");
        Self {
            clock: Default::default(),
            start: Default::default(),
            a_entry: Default::default(),
            b_entry: Default::default(),
            acc_entry: Default::default(),
            m: Default::default(),
            n: Default::default(),
            k: Default::default(),
            accumulate: Default::default(),
            tiles: Default::default(),
            a_step: Default::default(),
            b_step: Default::default(),
            acc_step: Default::default(),
            busy: Default::default(),
            busy_next: Default::default(),
            a_address_next: Default::default(),
            b_address_next: Default::default(),
            done: Default::default(),
            error: Default::default(),
            a_address: Default::default(),
            a_data: signals(rows),
            b_address: Default::default(),
            b_data: signals(cols),
            acc_read_address: Default::default(),
            acc_read_idle: Default::default(),
            acc_read_idle_next: Default::default(),
            acc_read_address_next: Default::default(),
            acc_read_data: signals(cols),
            acc_write_address: Default::default(),
            acc_write_data: signals(cols),
            acc_write_enable: signals(cols),
            step: Default::default(),
            stall: Default::default(),
            tile_done: Default::default(),
            macs_per_step: Default::default(),
            above_rows: crate::vecs::above(rows),
            above_last_row: crate::vecs::above(rows - 1),
            above_cols: crate::vecs::above(cols),
            above_lanes: {
                let mut t = Bits::<2048>::default();
                for j in 0..cols {
                    t = t | (bit_cast::<2048, 64>(crate::vecs::above::<64>(j).val()) << (64 * j as u64));
                }
                Constant::new(t)
            },
            last_row: c8(rows - 1),
            a_depth: c18(config.memory.a_depth),
            b_depth: c18(config.memory.b_depth),
            acc_depth: c18(config.memory.acc_depth),
            a_depth_log: c18(config.memory.a_depth.trailing_zeros() as usize),
            b_depth_log: c18(config.memory.b_depth.trailing_zeros() as usize),
            acc_depth_log: c18(config.memory.acc_depth.trailing_zeros() as usize),
            spacing_less_one: c8(spacing - 1),
            slot_bound: Constant::new(latency + rows + 2 > 2 * spacing),
            drain_wait: c8(latency - 1),
            wait_mask: c8(latency.max(spacing).next_power_of_two() - 1),
            bad_tile: c8(Status::BadTile as usize),
            out_of_range: c8(Status::OutOfRange as usize),
            array,
            acc_adders: (0..cols).map(|_| AccumulatorAdder::default()).collect(),
            write_sum: crate::vecs::dffs(cols),
            write_entry: Default::default(),
            write_lane: crate::vecs::dffs(cols),
            acc_old: crate::vecs::dffs(stage(cols)),
            result_held: crate::vecs::dffs(stage(cols)),
            lane_held: crate::vecs::dffs(stage(cols)),
            entry_held: crate::vecs::dffs(stage(1)),
            flush_more: crate::vecs::dffs(stage(1)),
            a_stage: crate::vecs::dffs(stage(rows)),
            b_stage: crate::vecs::dffs(stage(cols)),
            valid_stage: crate::vecs::dffs(stage(1)),
            last_stage: crate::vecs::dffs(stage(1)),
            state: Default::default(),
            next_state: Default::default(),
            running: Default::default(),
            checking: Default::default(),
            verdict: Default::default(),
            streaming: Default::default(),
            pointers_verdict: (0..usize::from(staged)).map(|_| KeptRegister::default()).collect(),
            pointers_at_verdict: Default::default(),
            final_go: Default::default(),
            hold_final: Default::default(),
            step_go: Default::default(),
            a_base: Default::default(),
            b_base: Default::default(),
            acc_base: Default::default(),
            over: Default::default(),
            mn: Default::default(),
            error_reg: Default::default(),
            beyond: Default::default(),
            done_reg: Default::default(),
            a_ptr: Default::default(),
            b_ptr: Default::default(),
            left: Default::default(),
            tiles_left: Default::default(),
            tiles_more: Default::default(),
            lane_used: crate::vecs::dffs(cols),
            bad_m: Default::default(),
            bad_n: Default::default(),
            bad_k_or_tiles: Default::default(),
            bad_shape: Default::default(),
            left_more: Default::default(),
            gap: Default::default(),
            at_final: Default::default(),
            gap_busy: Default::default(),
            step_valid: Default::default(),
            step_last: Default::default(),
            s0_pending: Default::default(),
            s0_wait: Default::default(),
            s0_wait_one: Default::default(),
            s0_row: Default::default(),
            drain_reg: Default::default(),
            on_last_row: Default::default(),
            row_used: Default::default(),
            s0_entry: Default::default(),
            s1_pending: Default::default(),
            s1_wait: Default::default(),
            s1_wait_one: Default::default(),
            s1_entry: Default::default(),
            a_next: Default::default(),
            b_next: Default::default(),
            acc_next: Default::default(),
            acc_bottom: Default::default(),
            final_step: Default::default(),
            draining: Default::default(),
            finishing: Default::default(),
        }
    }

    pub fn rows(&self) -> usize {
        self.a_data.len()
    }

    pub fn cols(&self) -> usize {
        self.b_data.len()
    }
}

impl Logic for GemmEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, running, checking, verdict, streaming, a_base, b_base, acc_base, over, mn, error_reg, beyond, done_reg, write_entry,
            a_ptr, b_ptr, left, tiles_left, tiles_more, left_more, bad_m, bad_n, bad_k_or_tiles, gap, at_final, gap_busy, step_valid, step_last, s0_pending, s0_wait, s0_wait_one, s0_row, drain_reg, on_last_row, row_used, s0_entry,
            s1_pending, s1_wait, s1_wait_one, s1_entry
        );
        self.array.clock.next = self.clock.val();
        // Outputs that hold between events.
        // (`running` is `state != Idle` as a flip-flop: the memories'
        // address multiplexers select on it.)
        self.busy.next = self.running.q.val();
        self.error.next = self.error_reg.q.val();
        self.macs_per_step.next = self.mn.q.val();
        self.done.next = self.done_reg.q.val();
        self.done_reg.d.next = false;
        self.step.next = false;
        self.stall.next = false;
        self.tile_done.next = false;
        // Scratchpad addresses of the current step; the data enters the array
        // one cycle later, together with the step's control.
        self.a_address.next = self.a_ptr.q.val();
        self.b_address.next = self.b_ptr.q.val();
        self.step_valid.d.next = false;
        self.step_last.d.next = false;
        self.array.valid.next = self.step_valid.q.val();
        self.array.last.next = self.step_last.q.val();
        for i in 0..self.rows() {
            self.array.a_in[i].next = self.a_data[i].val();
        }
        for j in 0..self.cols() {
            self.array.b_in[j].next = self.b_data[j].val();
        }
        for e in 0..self.valid_stage.len() {
            self.valid_stage[e].clock.next = self.clock.val();
            self.last_stage[e].clock.next = self.clock.val();
            self.valid_stage[e].d.next = self.step_valid.q.val();
            self.last_stage[e].d.next = self.step_last.q.val();
            self.array.valid.next = self.valid_stage[e].q.val();
            self.array.last.next = self.last_stage[e].q.val();
        }
        for i in 0..self.a_stage.len() {
            self.a_stage[i].clock.next = self.clock.val();
            self.a_stage[i].d.next = self.a_data[i].val();
            self.array.a_in[i].next = self.a_stage[i].q.val();
        }
        for j in 0..self.b_stage.len() {
            self.b_stage[j].clock.next = self.clock.val();
            self.b_stage[j].d.next = self.b_data[j].val();
            self.array.b_in[j].next = self.b_stage[j].q.val();
        }
        self.final_step.next = self.at_final.q.val();
        self.a_next.next = self.a_base.q.val() + bit_cast::<18, 16>(self.a_step.val());
        self.b_next.next = self.b_base.q.val() + bit_cast::<18, 16>(self.b_step.val());
        self.acc_next.next = self.acc_base.q.val() + bit_cast::<18, 16>(self.acc_step.val());
        // Slot 0 drains a row this cycle; the last row (row 0) finishes it.
        // Both from flip-flops: drain_reg is `s0_pending & s0_wait == 0` and
        // on_last_row is `s0_row == 0`, each worked out a cycle ahead.
        self.draining.next = self.drain_reg.q.val();
        self.finishing.next = self.drain_reg.q.val() & self.on_last_row.q.val();
        self.drain_reg.d.next = (self.draining.val() & !self.finishing.val())
            | (self.finishing.val() & self.s1_pending.q.val() & self.s1_wait_one.q.val())
            | (self.s0_pending.q.val() & !self.draining.val() & self.s0_wait_one.q.val());

        self.bad_m.d.next = (self.m.val() == 0) | ((self.m.val() >> 6) != 0) | self.above_rows.val().get_bit(self.m.val().get_bits::<6>(0).index());
        self.bad_n.d.next = (self.n.val() == 0) | ((self.n.val() >> 6) != 0) | self.above_cols.val().get_bit(self.n.val().get_bits::<6>(0).index());
        self.bad_k_or_tiles.d.next = (self.k.val() == 0) | (self.tiles.val() == 0);
        self.bad_shape.next = self.bad_m.q.val() | self.bad_n.q.val() | self.bad_k_or_tiles.q.val();
        // The state's work on the descriptor's registers, by the one-hot
        // flags; the transitions follow, by the state.
        self.hold_final.next = self.gap_busy.q.val() | (self.slot_bound.val() & self.s1_pending.q.val());
        self.step_go.next = self.streaming.q.val() & !(self.final_step.val() & self.hold_final.val());
        self.final_go.next = self.streaming.q.val() & self.final_step.val() & !self.hold_final.val();
        // Each register below has one enable and at most three sources, in
        // one if/else chain (the flags are exclusive; a chain per register
        // keeps its multiplexer two LUTs deep).
        //
        // The ends / bases: Idle takes the first tile's ends (whether or not
        // a run starts: nothing reads them in Idle, so the enable need not
        // wait for `start`); Check adds a tile's steps per cycle (`over`
        // remembers a sum that passed 2^17); Verdict goes back to the
        // first tile; a final step moves on to the next tile (acc_base a
        // cycle later, when the final step enters the array).
        if !self.running.q.val() {
            self.a_base.d.next = bit_cast::<18, 16>(self.a_entry.val()) + bit_cast::<18, 16>(self.k.val());
        } else if self.verdict.q.val() {
            self.a_base.d.next = bit_cast::<18, 16>(self.a_entry.val());
        } else if (self.checking.q.val() & self.tiles_more.q.val()) | self.final_go.val() {
            self.a_base.d.next = self.a_next.val();
        }
        if !self.running.q.val() {
            self.b_base.d.next = bit_cast::<18, 16>(self.b_entry.val()) + bit_cast::<18, 16>(self.k.val());
        } else if self.verdict.q.val() {
            self.b_base.d.next = bit_cast::<18, 16>(self.b_entry.val());
        } else if (self.checking.q.val() & self.tiles_more.q.val()) | self.final_go.val() {
            self.b_base.d.next = self.b_next.val();
        }
        if !self.running.q.val() {
            self.acc_base.d.next = bit_cast::<18, 16>(self.acc_entry.val()) + bit_cast::<18, 8>(self.m.val());
        } else if self.verdict.q.val() {
            self.acc_base.d.next = bit_cast::<18, 16>(self.acc_entry.val());
        } else if (self.checking.q.val() & self.tiles_more.q.val()) | self.step_last.q.val() {
            self.acc_base.d.next = self.acc_next.val();
        }
        // Tiles left after this one: all of them but one in Idle and
        // Verdict, one fewer per Check cycle and per final step.
        if !self.running.q.val() | self.verdict.q.val() {
            self.tiles_left.d.next = self.tiles.val() - 1;
            self.tiles_more.d.next = self.tiles.val() != 1;
        } else if (self.checking.q.val() & self.tiles_more.q.val()) | self.final_go.val() {
            self.tiles_left.d.next = self.tiles_left.q.val() - 1;
            self.tiles_more.d.next = self.tiles_left.q.val() != 1;
        }
        // `left`: Check counts the n's to add to m * n (from m); Stream the
        // steps left in the tile (from k - 1 at Verdict and each final step).
        if !self.running.q.val() {
            self.left.d.next = bit_cast::<16, 8>(self.m.val());
            self.left_more.d.next = self.m.val() != 0;
        } else if self.verdict.q.val() | self.final_go.val() {
            self.left.d.next = self.k.val() - 1;
        } else if (self.checking.q.val() & self.left_more.q.val()) | self.step_go.val() {
            self.left.d.next = self.left.q.val() - 1;
            self.left_more.d.next = self.left.q.val() != 1;
        }
        if self.verdict.q.val() | self.final_go.val() {
            self.at_final.d.next = self.k.val() == 1;
        } else if self.step_go.val() {
            self.at_final.d.next = self.left.q.val() == 1;
        }
        if !self.running.q.val() {
            self.mn.d.next = 0.into();
        } else if self.checking.q.val() & self.left_more.q.val() {
            self.mn.d.next = self.mn.q.val() + bit_cast::<16, 8>(self.n.val());
        }
        // The scratchpad pointers: the first tile's entries, one entry per
        // step, the next tile's at a final step.
        // (By the kept copy of `verdict`, where there is one.)
        self.pointers_at_verdict.next = self.verdict.q.val();
        for e in 0..self.pointers_verdict.len() {
            self.pointers_at_verdict.next = self.pointers_verdict[e].q.val();
        }
        if self.pointers_at_verdict.val() {
            self.a_ptr.d.next = self.a_entry.val();
            self.b_ptr.d.next = self.b_entry.val();
        } else if self.final_go.val() {
            self.a_ptr.d.next = self.a_next.val().get_bits::<16>(0);
            self.b_ptr.d.next = self.b_next.val().get_bits::<16>(0);
        } else if self.step_go.val() {
            self.a_ptr.d.next = self.a_ptr.q.val() + 1;
            self.b_ptr.d.next = self.b_ptr.q.val() + 1;
        }
        // The spacing rule's countdown.
        if self.verdict.q.val() {
            self.gap.d.next = 0.into();
            self.gap_busy.d.next = false;
        } else if self.final_go.val() {
            self.gap.d.next = self.spacing_less_one.val();
            self.gap_busy.d.next = true;
        } else if self.gap_busy.q.val() {
            // (`gap_busy` is `gap != 0`: the spacing is 3 or more.)
            self.gap.d.next = (self.gap.q.val() - 1) & self.wait_mask.val();
            self.gap_busy.d.next = (self.gap.q.val() >> 1) != 0;
        }
        if self.step_go.val() {
            // A step enters the array (a final step held back by the
            // previous tile's drain is a stall: see Stream below).
            self.step.next = true;
            self.step_valid.d.next = true;
            self.step_last.d.next = self.final_go.val();
        }
        self.next_state.next = self.state.q.val();
        match self.state.q.val() {
            GemmState::Idle => {
                self.over.d.next = false;
                if self.start.val() {
                    self.error_reg.d.next = 0.into();
                    self.next_state.next = GemmState::Check;
                    if self.bad_shape.val() {
                        self.error_reg.d.next = self.bad_tile.val();
                        self.next_state.next = GemmState::Finish;
                    }
                }
            }
            GemmState::Check => {
                // A sum past 2^17 shows in bit 17 the cycle after its add
                // (a step is below 2^16, so it cannot wrap in one add), and
                // Check always lasts a cycle past its last add: `over` sees
                // every one. Past that bit a sum may wrap; `over` keeps it.
                self.over.d.next = self.over.q.val()
                    | self.a_base.q.val().get_bit(17)
                    | self.b_base.q.val().get_bit(17)
                    | self.acc_base.q.val().get_bit(17);
                if !self.tiles_more.q.val() & !self.left_more.q.val() {
                    self.next_state.next = GemmState::Verdict;
                }
                // The ranges' test, registered for Verdict (the ends are
                // final in the cycle Check ends).
                // The depths are powers of two, 2^d: `x > 2^d` is `x >> d != 0
                // and x != 2^d`, plain logic (a comparison would take a
                // carry chain, a logic cell a bit, on the iCE40).
                self.beyond.d.next = self.over.q.val()
                    | (((self.a_base.q.val() >> self.a_depth_log.val()) != 0)
                    & (self.a_base.q.val() != self.a_depth.val()))
                    | (((self.b_base.q.val() >> self.b_depth_log.val()) != 0) & (self.b_base.q.val() != self.b_depth.val()))
                    | (((self.acc_base.q.val() >> self.acc_depth_log.val()) != 0)
                        & (self.acc_base.q.val() != self.acc_depth.val()));
            }
            GemmState::Verdict => {
                self.next_state.next = GemmState::Stream;
                if self.beyond.q.val() {
                    self.error_reg.d.next = self.out_of_range.val();
                    self.next_state.next = GemmState::Finish;
                }
            }
            GemmState::Stream => {
                if self.final_step.val() & self.hold_final.val() {
                    // The previous tile is still draining too close (or both
                    // drain slots are taken): hold the final step.
                    self.stall.next = true;
                }
                if self.final_go.val() & !self.tiles_more.q.val() {
                    self.next_state.next = GemmState::Finish;
                }
            }
            GemmState::Finish => {
                if self.error_reg.q.val() == 0 {
                    self.stall.next = true;
                }
                // Flush follows the cycle the last row drains (the row is
                // written at Flush's edge), then Idle, with `done` from a
                // register.
                if (!self.s0_pending.q.val() | self.finishing.val()) & !self.s1_pending.q.val() & !self.step_valid.q.val() {
                    self.stall.next = false;
                    self.next_state.next = GemmState::Flush;
                }
            }
            GemmState::Flush => {
                self.done_reg.d.next = true;
                self.next_state.next = GemmState::Idle;
                // (With the stage before the adders: a second Flush cycle.)
                for e in 0..self.flush_more.len() {
                    if !self.flush_more[e].q.val() {
                        self.done_reg.d.next = false;
                        self.next_state.next = GemmState::Flush;
                    }
                }
            }
            _ => {
                self.next_state.next = GemmState::Idle;
            }
        }
        self.state.d.next = self.next_state.val();
        self.running.d.next = self.next_state.val() != GemmState::Idle;
        self.checking.d.next = self.next_state.val() == GemmState::Check;
        self.verdict.d.next = self.next_state.val() == GemmState::Verdict;
        for e in 0..self.pointers_verdict.len() {
            self.pointers_verdict[e].clock.next = self.clock.val();
            self.pointers_verdict[e].d.next = self.next_state.val() == GemmState::Verdict;
        }
        self.streaming.d.next = self.next_state.val() == GemmState::Stream;

        // Drains. Slot 0 drains once its wait is over, one row per cycle from
        // the bottom row up.
        // (Wherever a wait changes, its `== 1` flag gets the new value's test.)
        if self.s0_pending.q.val() & (self.s0_wait.q.val() != 0) {
            self.s0_wait.d.next = (self.s0_wait.q.val() - 1) & self.wait_mask.val();
            self.s0_wait_one.d.next = self.s0_wait.q.val() == 2;
        }
        if self.s1_pending.q.val() & (self.s1_wait.q.val() != 0) {
            self.s1_wait.d.next = (self.s1_wait.q.val() - 1) & self.wait_mask.val();
            self.s1_wait_one.d.next = self.s1_wait.q.val() == 2;
        }
        if self.draining.val() {
            self.s0_row.d.next = self.s0_row.q.val() - 1;
            self.on_last_row.d.next = self.s0_row.q.val() == 1;
            self.row_used.d.next = self.s0_row.q.val() <= self.m.val();
            self.s0_entry.d.next = self.s0_entry.q.val() - 1;
        }
        // The accumulator read port fetches the old value of the row that
        // drains in the next cycle. When no row is next, it reads an entry
        // other than the one being written (the memory is built
        // never_colliding, and the simulator checks every cycle).
        // Idle, the port shows `acc_read_idle` (the user's own reads). The
        // next row of a draining slot is tested last, so that its
        // subtraction is one LUT from the memory.
        self.acc_read_address.next = self.acc_read_idle.val();
        if self.running.q.val() {
            self.acc_read_address.next = self.write_entry.q.val() ^ 1;
        }
        if self.s0_wait_one.q.val() {
            self.acc_read_address.next = self.s0_entry.q.val();
        }
        if self.s1_pending.q.val() & self.s1_wait_one.q.val() {
            self.acc_read_address.next = self.s1_entry.q.val();
        }
        if self.draining.val() & !self.s0_wait_one.q.val() & !(self.s1_pending.q.val() & self.s1_wait_one.q.val()) {
            self.acc_read_address.next = self.s0_entry.q.val() - 1;
        }
        self.write_entry.d.next = self.s0_entry.q.val();
        self.acc_write_address.next = self.write_entry.q.val();
        for j in 0..self.cols() {
            self.lane_used[j].clock.next = self.clock.val();
            self.lane_used[j].d.next = ((self.n.val() >> 6) != 0) | self.above_lanes.val().get_bit(j * 64 + self.n.val().get_bits::<6>(0).index());
            self.write_lane[j].clock.next = self.clock.val();
            self.write_lane[j].d.next = self.draining.val() & self.lane_used[j].q.val() & self.row_used.q.val();
            self.acc_write_enable[j].next = self.write_lane[j].q.val();
            // result + old value when accumulating, one logic cell a bit.
            self.acc_adders[j].load.next = !self.accumulate.val();
            self.acc_adders[j].acc.next = self.acc_read_data[j].val();
            self.acc_adders[j].product.next = self.array.result[j].val();
            self.write_sum[j].clock.next = self.clock.val();
            self.write_sum[j].d.next = self.acc_adders[j].sum.val();
            self.acc_write_data[j].next = self.write_sum[j].q.val();
        }
        // The stage before the adders, when there is one: the adders and
        // the write take the registered row a cycle later.
        for j in 0..self.acc_old.len() {
            self.acc_old[j].clock.next = self.clock.val();
            self.result_held[j].clock.next = self.clock.val();
            self.lane_held[j].clock.next = self.clock.val();
            self.acc_old[j].d.next = self.acc_read_data[j].val();
            self.result_held[j].d.next = self.array.result[j].val();
            self.lane_held[j].d.next = self.draining.val() & self.lane_used[j].q.val() & self.row_used.q.val();
            self.acc_adders[j].acc.next = self.acc_old[j].q.val();
            self.acc_adders[j].product.next = self.result_held[j].q.val();
            self.write_lane[j].d.next = self.lane_held[j].q.val();
        }
        for e in 0..self.entry_held.len() {
            self.entry_held[e].clock.next = self.clock.val();
            self.entry_held[e].d.next = self.s0_entry.q.val();
            self.write_entry.d.next = self.entry_held[e].q.val();
            self.flush_more[e].clock.next = self.clock.val();
            self.flush_more[e].d.next = self.state.q.val() == GemmState::Flush;
        }
        // Slot 0 done: slot 1 (if any) moves up.
        if self.finishing.val() {
            self.tile_done.next = true;
            self.s0_pending.d.next = false;
            if self.s1_pending.q.val() {
                self.s0_pending.d.next = true;
                self.s0_wait.d.next = (self.s1_wait.q.val() - 1) & self.wait_mask.val();
                self.s0_wait_one.d.next = self.s1_wait.q.val() == 2;
                self.s0_row.d.next = self.last_row.val();
                self.on_last_row.d.next = self.last_row.val() == 0;
                self.row_used.d.next = ((self.m.val() >> 6) != 0) | self.above_last_row.val().get_bit(self.m.val().get_bits::<6>(0).index());
                self.s0_entry.d.next = self.s1_entry.q.val();
                self.s1_pending.d.next = false;
            }
        }
        // A final step enters the array: schedule its drain, at the tile's
        // bottom row, and only now move acc_base on to the next tile (a
        // next final step is at least two cycles away).
        self.acc_bottom.next = self.acc_base.q.val().get_bits::<16>(0) + bit_cast::<16, 8>(self.last_row.val());
        if self.step_last.q.val() {
            if (self.s0_pending.q.val() & !self.finishing.val()) | (self.finishing.val() & self.s1_pending.q.val()) {
                self.s1_pending.d.next = true;
                self.s1_wait.d.next = self.drain_wait.val();
                self.s1_wait_one.d.next = self.drain_wait.val() == 1;
                self.s1_entry.d.next = self.acc_bottom.val();
            } else {
                self.s0_pending.d.next = true;
                self.s0_wait.d.next = self.drain_wait.val();
                self.s0_wait_one.d.next = self.drain_wait.val() == 1;
                self.s0_row.d.next = self.last_row.val();
                self.on_last_row.d.next = self.last_row.val() == 0;
                self.row_used.d.next = ((self.m.val() >> 6) != 0) | self.above_last_row.val().get_bit(self.m.val().get_bits::<6>(0).index());
                self.s0_entry.d.next = self.acc_bottom.val();
            }
        }
        // Next cycle's busy and addresses: the flip-flops' inputs, read after
        // every assignment to them above.
        self.busy_next.next = self.running.d.val();
        self.a_address_next.next = self.a_ptr.d.val();
        self.b_address_next.next = self.b_ptr.d.val();
        // The accumulator read address's choice above, on the inputs of
        // the flip-flops it reads (`draining` is `drain_reg`).
        self.acc_read_address_next.next = self.acc_read_idle_next.val();
        if self.running.d.val() {
            self.acc_read_address_next.next = self.write_entry.d.val() ^ 1;
        }
        if self.s0_wait_one.d.val() {
            self.acc_read_address_next.next = self.s0_entry.d.val();
        }
        if self.s1_pending.d.val() & self.s1_wait_one.d.val() {
            self.acc_read_address_next.next = self.s1_entry.d.val();
        }
        if self.drain_reg.d.val() & !self.s0_wait_one.d.val() & !(self.s1_pending.d.val() & self.s1_wait_one.d.val()) {
            self.acc_read_address_next.next = self.s0_entry.d.val() - 1;
        }
        // The array registers the drain beside each column: it takes the
        // input of `drain_reg`, so its copies are `draining`.
        self.array.drain_next.next = self.drain_reg.d.val();
    }
}

/// The engine wired to its memories, for tests: the scratchpads are preloaded
/// and the accumulators read back through the simulator.
#[derive(LogicBlock)]
pub struct GemmBench {
    pub clock: Signal<In, Clock>,
    pub engine: GemmEngine,
    pub a_mem: Vec<crate::Ram<Bits<8>>>,
    pub b_mem: Vec<crate::Ram<Bits<8>>>,
    pub acc_mem: Vec<crate::Ram<Bits<32>>>,
}

impl GemmBench {
    pub fn new(config: &NpuConfig) -> Self {
        let m = &config.memory;
        Self {
            clock: Default::default(),
            engine: GemmEngine::new(config),
            a_mem: (0..config.array.rows).map(|_| crate::Ram::new(m.a_depth)).collect(),
            b_mem: (0..config.array.cols).map(|_| crate::Ram::new(m.b_depth)).collect(),
            // As in the NPU: the engine never reads the entry it writes.
            acc_mem: (0..config.array.cols).map(|_| crate::Ram::never_colliding(m.acc_depth)).collect(),
        }
    }
}

impl Logic for GemmBench {
    #[hdl_gen]
    fn update(&mut self) {
        self.engine.clock.next = self.clock.val();
        for i in 0..self.a_mem.len() {
            self.a_mem[i].clock.next = self.clock.val();
            self.a_mem[i].read_address.next = self.engine.a_address.val();
            self.a_mem[i].write_address.next = 0.into();
            self.a_mem[i].write_data.next = 0.into();
            self.a_mem[i].write_enable.next = false;
            self.engine.a_data[i].next = self.a_mem[i].read_data.val();
        }
        for j in 0..self.b_mem.len() {
            self.b_mem[j].clock.next = self.clock.val();
            self.b_mem[j].read_address.next = self.engine.b_address.val();
            self.b_mem[j].write_address.next = 0.into();
            self.b_mem[j].write_data.next = 0.into();
            self.b_mem[j].write_enable.next = false;
            self.engine.b_data[j].next = self.b_mem[j].read_data.val();
            self.acc_mem[j].clock.next = self.clock.val();
            self.acc_mem[j].read_address.next = self.engine.acc_read_address.val();
            self.engine.acc_read_idle.next = 0.into();
            self.engine.acc_read_idle_next.next = 0.into();
            self.acc_mem[j].write_address.next = self.engine.acc_write_address.val();
            self.acc_mem[j].write_data.next = self.engine.acc_write_data[j].val();
            self.acc_mem[j].write_enable.next = self.engine.acc_write_enable[j].val();
            self.engine.acc_read_data[j].next = self.acc_mem[j].read_data.val();
        }
    }
}

//! What a run cost, per layer and in total: a table for people (stderr) and
//! JSON for scripts (`--report FILE.json`). Figures are per inference (the
//! batch's, divided by its size). Device time is on the device's clock:
//! simulated time on `--sim`, which is what a board at the config's clock
//! and link rate takes.

use super::model::{Layer, Model};
use crate::link::DeviceTime;
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// Where a layer ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// GEMM and requantization on the NPU.
    Npu,
    /// The same, its im2col operand built on chip from the map (MOVE).
    NpuOnChip,
    /// On the NPU, chained: its input came from the layer before, or its
    /// output went to the layer after, on chip (see `tflite::chain`).
    NpuChained,
    /// Chained, a convolution by taps: a GEMM a kernel row over its input
    /// map laid out in A (see `tap_map`), no im2col operand.
    NpuByTaps,
    /// GEMM on the NPU, its INT32 sums requantized on the host (a scale
    /// above one, which the hardware's right shift cannot express).
    NpuHostRequant,
    Host,
}

impl Place {
    pub fn name(self) -> &'static str {
        match self {
            Place::Npu => "NPU",
            Place::NpuOnChip => "NPU, on chip",
            Place::NpuChained => "NPU, chained",
            Place::NpuByTaps => "NPU, by taps",
            Place::NpuHostRequant => "NPU+host rq",
            Place::Host => "host",
        }
    }
}

/// Device cycles by what the device was doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CycleSplit {
    /// GEMM commands: the array, with its fill and drain.
    pub array: f64,
    pub requantizer: f64,
    /// MOVE commands: operands built on chip.
    pub data_movement: f64,
    /// Request and answer bytes on the line.
    pub link: f64,
    /// The other commands' work (WRITE, READ into and out of the memories).
    pub other: f64,
}

impl CycleSplit {
    fn of(t: &DeviceTime, core_hz: u64, per: f64) -> Self {
        let c = |d: Duration| d.as_secs_f64() * core_hz as f64 / per;
        Self { array: c(t.gemm), requantizer: c(t.requant), data_movement: c(t.moves), link: c(t.link), other: c(t.other) }
    }

    pub fn total(&self) -> f64 {
        self.array + self.requantizer + self.data_movement + self.link + self.other
    }

    fn add(&mut self, o: &CycleSplit) {
        self.array += o.array;
        self.requantizer += o.requantizer;
        self.data_movement += o.data_movement;
        self.link += o.link;
        self.other += o.other;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub index: usize,
    pub op: &'static str,
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shape: Vec<usize>,
    pub place: Place,
    /// Per inference.
    pub macs: u64,
    pub device_cycles: f64,
    pub cycles: CycleSplit,
    pub host_ms: f64,
    pub link_bytes: f64,
    /// The batch's last inference's link bytes, where the layer runs item
    /// by item (chained), else `link_bytes`.
    pub link_bytes_last: f64,
    /// The batch's last inference's device time (ms), likewise.
    pub device_ms_last: f64,
    #[serde(skip)]
    device_time: DeviceTime,
}

impl LayerReport {
    pub fn new(model: &Model, layer: &Layer, place: Place, batch: usize, device: DeviceTime, host: Duration, link_bytes: u64) -> Self {
        let shape = |i: usize| model.tensors[i].as_ref().map(|t| t.shape.clone()).unwrap_or_default();
        Self {
            index: layer.index,
            op: layer.op.name(),
            input_shapes: layer.inputs.iter().map(|&i| shape(i)).collect(),
            output_shape: shape(layer.output),
            place,
            macs: layer.op.macs(),
            device_cycles: 0.0,
            cycles: CycleSplit::default(),
            host_ms: host.as_secs_f64() * 1e3 / batch as f64,
            link_bytes: link_bytes as f64 / batch as f64,
            link_bytes_last: link_bytes as f64 / batch as f64,
            device_ms_last: device.total().as_secs_f64() * 1e3 / batch as f64,
            device_time: device,
        }
    }

    /// The last item's link bytes and device time, for a layer run item by item.
    pub fn with_last_item(self, bytes: u64, device: &DeviceTime) -> Self {
        Self { link_bytes_last: bytes as f64, device_ms_last: device.total().as_secs_f64() * 1e3, ..self }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub batch: usize,
    pub macs_per_inference: u64,
    /// Share of the MACs that ran on the NPU.
    pub npu_mac_share: f64,
    pub device_ms_per_inference: f64,
    pub device_cycles_per_inference: f64,
    pub cycles: CycleSplit,
    /// The host's kernels, on this machine.
    pub host_ms_per_inference: f64,
    pub link_bytes_per_inference: f64,
    /// The batch's last inference's link bytes: once weights and program
    /// are on chip, when its layers run item by item (chained), as with
    /// the mover; a layer run for the whole batch at once counts its
    /// average. Issue 21's target is this figure.
    pub link_bytes_last_inference: f64,
    /// 1 / (device time + host kernel time): what a board with this host takes.
    pub inferences_per_second: f64,
    pub core_hz: u64,
    /// The model's input and output bytes on the line at the link rate:
    /// what an inference must move whatever else stays on chip.
    pub transfer_ms: f64,
    /// MLPerf Tiny's latency, with the input already on the device: device
    /// and host kernel time, less `transfer_ms` (every other byte on the
    /// line, weights and layers' operands and results, counts).
    pub inference_ms: f64,
    /// `inference_ms` of the batch's last inference alone: once weights and
    /// program are on chip (as MLPerf Tiny's runs, the model loaded), where
    /// layers run item by item (chained); else the batch's average.
    pub inference_ms_last: f64,
    /// The NPU's MACs over what its PEs could do in `inference_ms`.
    pub mac_utilization: f64,
    /// This run's wall-clock time (simulation included).
    pub wall_seconds: f64,
    /// Where `cycles` comes from: "device counters" (one device: its
    /// COUNTERS read before and after the run, so the split is measured:
    /// GEMM, requantizer and MOVE cycles, the rest of the busy cycles as
    /// other, and the idle cycles, waiting on the line, as link), or "link
    /// accounting" (each request's time, its bytes at the line rate as
    /// link and the rest as its command's work; a RUN's split by its
    /// commands' estimated cycles).
    pub cycles_from: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub layers: Vec<LayerReport>,
    pub totals: Totals,
}

/// What a report needs of the device and the model beyond the layers.
#[derive(Debug, Clone, Copy)]
pub struct RunFacts {
    pub core_hz: u64,
    /// The array's PEs (0 without a device).
    pub pes: usize,
    pub baud: u32,
    /// The model's input and output bytes per inference.
    pub io_bytes: usize,
}

impl Report {
    pub fn new(mut layers: Vec<LayerReport>, batch: usize, wall: Duration, facts: RunFacts) -> Self {
        let core_hz = facts.core_hz;
        let per = batch as f64;
        let mut cycles = CycleSplit::default();
        let mut device = Duration::ZERO;
        for l in &mut layers {
            l.cycles = CycleSplit::of(&l.device_time, core_hz, per);
            l.device_cycles = l.cycles.total();
            cycles.add(&l.cycles);
            device += l.device_time.total();
        }
        let macs: u64 = layers.iter().map(|l| l.macs).sum();
        let npu_macs: u64 = layers.iter().filter(|l| l.place != Place::Host).map(|l| l.macs).sum();
        let device_ms = device.as_secs_f64() * 1e3 / per;
        let host_ms: f64 = layers.iter().map(|l| l.host_ms).sum();
        let transfer_ms = if facts.pes == 0 { 0.0 } else { facts.io_bytes as f64 * 10.0 / f64::from(facts.baud.max(1)) * 1e3 };
        let inference_ms = (device_ms + host_ms - transfer_ms).max(0.0);
        let inference_ms_last = (layers.iter().map(|l| l.device_ms_last).sum::<f64>() + host_ms - transfer_ms).max(0.0);
        let pe_cycles = facts.pes as f64 * inference_ms * 1e-3 * core_hz as f64;
        let totals = Totals {
            batch,
            macs_per_inference: macs,
            npu_mac_share: if macs == 0 { 0.0 } else { npu_macs as f64 / macs as f64 },
            device_ms_per_inference: device_ms,
            device_cycles_per_inference: cycles.total(),
            cycles,
            host_ms_per_inference: host_ms,
            link_bytes_per_inference: layers.iter().map(|l| l.link_bytes).sum(),
            link_bytes_last_inference: layers.iter().map(|l| l.link_bytes_last).sum(),
            inferences_per_second: 1e3 / (device_ms + host_ms).max(1e-9),
            core_hz,
            transfer_ms,
            inference_ms,
            inference_ms_last,
            mac_utilization: if pe_cycles > 0.0 { npu_macs as f64 / pe_cycles } else { 0.0 },
            wall_seconds: wall.as_secs_f64(),
            cycles_from: "link accounting",
        };
        Self { layers, totals }
    }

    /// The totals' cycle split from the device's counters over the run
    /// (`c`: what they counted, for `batch` inferences).
    pub fn with_counted_cycles(mut self, c: &npu_spec::protocol::Counters) -> Self {
        let per = self.totals.batch as f64;
        let array = (c.mac_cycles + c.stall) as f64;
        let (requantizer, data_movement) = (c.requant_cycles as f64, c.move_cycles as f64);
        let busy = c.busy as f64;
        self.totals.cycles = CycleSplit {
            array: array / per,
            requantizer: requantizer / per,
            data_movement: data_movement / per,
            link: c.cycles.saturating_sub(c.busy) as f64 / per,
            other: (busy - array - requantizer - data_movement).max(0.0) / per,
        };
        self.totals.cycles_from = "device counters";
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes")
    }

    /// The table for people.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let shapes = |v: &[Vec<usize>]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" + ");
        let _ = writeln!(s, "{:>3}  {:<17} {:<30} {:<16} {:<12} {:>10} {:>12} {:>10}", "#", "operator", "input", "output", "ran on", "MACs", "dev. cycles", "link B");
        for l in &self.layers {
            let _ = writeln!(
                s,
                "{:>3}  {:<17} {:<30} {:<16} {:<12} {:>10} {:>12.0} {:>10.0}",
                l.index,
                l.op,
                shapes(&l.input_shapes),
                format!("{:?}", l.output_shape),
                l.place.name(),
                l.macs,
                l.device_cycles,
                l.link_bytes
            );
        }
        let t = &self.totals;
        let c = &t.cycles;
        let pct = |x: f64| if c.total() > 0.0 { 100.0 * x / c.total() } else { 0.0 };
        let _ = writeln!(
            s,
            "per inference (batch {}): {} MACs, {:.1}% on the NPU; device {:.3} ms ({:.0} cycles at {:.0} MHz: array {:.1}%, requantizer {:.1}%, data movement {:.1}%, link {:.1}%, other {:.1}%); host kernels {:.3} ms; {:.0} link bytes ({:.0} for the last); {:.1} inferences/s\ninference {:.3} ms with the input on the device ({:.3} ms the last, weights and program on chip; transfer of input and output {:.3} ms); MAC utilization {:.2}%",
            t.batch,
            t.macs_per_inference,
            100.0 * t.npu_mac_share,
            t.device_ms_per_inference,
            t.device_cycles_per_inference,
            t.core_hz as f64 / 1e6,
            pct(c.array),
            pct(c.requantizer),
            pct(c.data_movement),
            pct(c.link),
            pct(c.other),
            t.host_ms_per_inference,
            t.link_bytes_per_inference,
            t.link_bytes_last_inference,
            t.inferences_per_second,
            t.inference_ms,
            t.inference_ms_last,
            t.transfer_ms,
            100.0 * t.mac_utilization
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_last_inference_counts_a_chained_layers_last_item_and_the_others_average() {
        let model = Model::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/micro_speech.tflite")).unwrap();
        let ms = |m: u64| DeviceTime { link: Duration::from_millis(m), ..DeviceTime::default() };
        // A batch of 4: a chained layer (40 ms in all, its last item 4 ms,
        // 100 bytes of 1,000) and one run for the whole batch (20 ms).
        let chained = LayerReport::new(&model, &model.layers[0], Place::NpuChained, 4, ms(40), Duration::ZERO, 1_000).with_last_item(100, &ms(4));
        let whole = LayerReport::new(&model, &model.layers[2], Place::Npu, 4, ms(20), Duration::ZERO, 400);
        let facts = RunFacts { core_hz: 1_000_000, pes: 16, baud: 1_000_000, io_bytes: 100 };
        let t = Report::new(vec![chained, whole], 4, Duration::ZERO, facts).totals;
        // Input and output: 100 bytes at 10 bits a byte, 1 ms.
        assert!((t.transfer_ms - 1.0).abs() < 1e-9);
        assert!((t.inference_ms - (10.0 + 5.0 - 1.0)).abs() < 1e-9, "{}", t.inference_ms);
        assert!((t.inference_ms_last - (4.0 + 5.0 - 1.0)).abs() < 1e-9, "{}", t.inference_ms_last);
        assert_eq!((t.link_bytes_per_inference, t.link_bytes_last_inference), (350.0, 200.0));
    }
}

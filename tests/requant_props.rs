//! The requantization unit (rust-hdl's simulator) against the gemmlowp
//! reference, bit for bit: edge values (INT32 min and max, shift 0 and 31,
//! multiplier 2^31 - 1 and INT32 min), random parameters and bias, and
//! parameters the command must refuse.

use npu_sim::requant_bench::RequantBenchSim;
use npu_spec::device_model::DeviceModel;
use npu_spec::requant::RequantParams;
use npu_spec::config::RequantUnit;
use npu_spec::NpuConfig;
use proptest::prelude::*;

fn config(unit: RequantUnit) -> NpuConfig {
    let mut c = NpuConfig::default();
    c.requant.unit = unit;
    c.array.rows = 2;
    c.array.cols = 3;
    c.memory.acc_depth = 16;
    c.validate().unwrap();
    c
}

fn check(acc: &[i32], bias: [i32; 3], p: RequantParams, use_bias: bool, src: u16, dst: u16, count: u16) -> Result<(), TestCaseError> {
    check_with(acc, bias, None, p, use_bias, src, dst, count)
}

/// With `channels`, each column's multiplier and shift (REQUANT per channel).
#[allow(clippy::too_many_arguments)]
fn check_with(acc: &[i32], bias: [i32; 3], channels: Option<[(i32, u8); 3]>, p: RequantParams, use_bias: bool, src: u16, dst: u16, count: u16) -> Result<(), TestCaseError> {
    for unit in [RequantUnit::Serial, RequantUnit::Pipelined] {
        check_unit(unit, acc, bias, channels, p, use_bias, src, dst, count)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_unit(
    unit: RequantUnit,
    acc: &[i32],
    bias: [i32; 3],
    channels: Option<[(i32, u8); 3]>,
    p: RequantParams,
    use_bias: bool,
    src: u16,
    dst: u16,
    count: u16,
) -> Result<(), TestCaseError> {
    let c = config(unit);
    let mut model = DeviceModel::new(&c);
    model.set_scale(&p);
    if let Some(ch) = channels {
        model.multipliers = ch.iter().map(|c| c.0).collect();
        model.shifts = ch.iter().map(|c| i32::from(c.1)).collect();
    }
    for (i, v) in acc.iter().enumerate() {
        model.acc[i / 3][i % 3] = *v;
    }
    model.bias = bias.to_vec();
    for (e, row) in model.out.iter_mut().enumerate() {
        row.iter_mut().enumerate().for_each(|(j, v)| *v = (e * 3 + j) as i8);
    }
    let mut sim = RequantBenchSim::new(&c);
    sim.load(&model);
    let want = model.requant(src, dst, count, &p.output(), use_bias);
    let (got, cycles) = sim.run(src, dst, count, &p.output(), use_bias);
    prop_assert_eq!(got, want, "{} unit: {:?}", unit, p);
    // The drivers bound their wait by MAX_CYCLES_PER_ELEMENT (plus the
    // checks); the pipelined unit takes exactly its load, one cycle an
    // element and its stages.
    let bound = match unit {
        RequantUnit::Serial => u64::from(count) * 3 * npu_hdl::requantizer::MAX_CYCLES_PER_ELEMENT + 8,
        RequantUnit::Pipelined if got == npu_spec::protocol::Status::Ok => npu_hdl::requant_pipeline::RequantPipeline::cycles(3, count.into(), use_bias) as u64,
        RequantUnit::Pipelined => 4,
    };
    prop_assert!(cycles <= bound, "{} elements took {} cycles, over {}", u64::from(count) * 3, cycles, bound);
    prop_assert_eq!(sim.out(), model.out.clone(), "{} unit: OUT after {:?} bias {}", unit, p, use_bias);
    Ok(())
}

const EDGES: [i32; 9] = [i32::MIN, i32::MIN + 1, -65536, -1, 0, 1, 65535, i32::MAX - 1, i32::MAX];

#[test]
fn edge_values_equal_the_reference() {
    let acc: Vec<i32> = EDGES.iter().copied().cycle().take(48).collect();
    for multiplier in [i32::MAX, i32::MIN, 1 << 30, 1, -1, 0, 1_518_500_250] {
        for shift in [0u8, 1, 7, 31] {
            let p = RequantParams { multiplier, shift, zero_point: -3, min: -128, max: 127 };
            check(&acc, [0; 3], p, false, 0, 0, 16).unwrap();
        }
    }
    // A ReLU and a narrow clamp, with a bias that wraps.
    let relu = RequantParams { multiplier: 1 << 30, shift: 2, zero_point: 5, min: 5, max: 127 };
    check(&acc, [i32::MAX, -7, 100], relu, true, 0, 0, 16).unwrap();
}

#[test]
fn bad_parameters_and_ranges_change_nothing() {
    let acc = vec![1000; 48];
    let ok = RequantParams { multiplier: 1 << 30, shift: 3, zero_point: 0, min: -128, max: 127 };
    check(&acc, [0; 3], RequantParams { min: 10, max: -10, ..ok }, false, 0, 0, 1).unwrap();
    check(&acc, [0; 3], ok, false, 0, 0, 0).unwrap();
    check(&acc, [0; 3], ok, false, 10, 0, 7).unwrap();
    check(&acc, [0; 3], ok, false, 0, 15, 2).unwrap();
    check(&acc, [0; 3], ok, false, 15, 15, 1).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_parameters_equal_the_reference(
        acc in proptest::collection::vec(any::<i32>(), 48),
        bias in any::<[i32; 3]>(),
        multiplier in any::<i32>(),
        shift in 0u8..=31,
        zero_point in any::<i8>(),
        (min, max) in (any::<i8>(), any::<i8>()).prop_map(|(a, b)| (a.min(b), a.max(b))),
        use_bias in any::<bool>(),
        src in 0u16..12,
        dst in 0u16..8,
    ) {
        // Every one of the 16 entries differs, so a wrong ACC address shows.
        let p = RequantParams { multiplier, shift, zero_point, min, max };
        check(&acc, bias, p, use_bias, src, dst, 4)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A real layer's case: small accumulators of both signs, a normalised
    /// multiplier, moderate shifts; results land inside the clamp, so every
    /// rounding bit shows.
    #[test]
    fn layer_like_parameters_equal_the_reference(
        acc in proptest::collection::vec(-200_000i32..200_000, 12),
        bias in proptest::array::uniform3(-5_000i32..5_000),
        multiplier in prop_oneof![(1i32 << 30)..i32::MAX, i32::MIN..-(1i32 << 30)],
        shift in 0u8..=20,
        zero_point in any::<i8>(),
        use_bias in any::<bool>(),
    ) {
        let p = RequantParams { multiplier, shift, zero_point, min: -128, max: 127 };
        check(&acc, bias, p, use_bias, 0, 0, 4)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Quotients around 512, where the hardware caps the magnitude before the
    /// zero point and the clamp (its last step is 12 bits wide): the cap must
    /// never change a result, whatever the zero point and clamp.
    #[test]
    fn quotients_near_the_cap_equal_the_reference(
        acc in proptest::collection::vec(-1_400i32..1_400, 12),
        multiplier in prop_oneof![Just(i32::MAX), Just(i32::MIN), Just(-i32::MAX)],
        shift in 0u8..=1,
        zero_point in any::<i8>(),
        (min, max) in (any::<i8>(), any::<i8>()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ) {
        let p = RequantParams { multiplier, shift, zero_point, min, max };
        check(&acc, [0; 3], p, false, 0, 0, 4)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Per channel (TFLite's per-channel weights): each column its own
    /// multiplier and shift.
    #[test]
    fn per_channel_parameters_equal_the_reference(
        acc in proptest::collection::vec(-300_000i32..300_000, 12),
        bias in proptest::array::uniform3(-5_000i32..5_000),
        multipliers in proptest::array::uniform3(prop_oneof![(1i32 << 30)..i32::MAX, any::<i32>()]),
        shifts in proptest::array::uniform3(0u8..=31),
        zero_point in any::<i8>(),
        use_bias in any::<bool>(),
    ) {
        let p = RequantParams { multiplier: 0, shift: 0, zero_point, min: -128, max: 127 };
        let channels = [(multipliers[0], shifts[0]), (multipliers[1], shifts[1]), (multipliers[2], shifts[2])];
        check_with(&acc, bias, Some(channels), p, use_bias, 0, 0, 4)?;
    }
}

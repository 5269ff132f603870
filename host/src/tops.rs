//! TOPS in context: the NPUs people compare, as their vendors state them,
//! and this machine's CPU measured on the same INT8 GEMM as the NPU.
//!
//! Every figure is 2 x MACs per second (one MAC is a multiply and an add),
//! INT8 inputs. For the NPU that is 2 x MACs per cycle x clock at peak, and
//! 2 x MACs done / time taken when measured.

use rten_gemm::{GemmExecutor, GemmInputA, GemmInputB, GemmOptions, QuantParams};
use rten_tensor::{AsView, NdTensor};
use npu_spec::Matrix;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// An NPU's INT8 peak as its vendor states it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VendorPeak {
    pub name: String,
    pub tops: f64,
    /// Where the vendor states it.
    pub source: String,
}

/// The NPUs people compare, by their vendors' INT8 peaks: name, TOPS, source.
const VENDOR_PEAKS: [(&str, f64, &str); 6] = [
    ("Google Coral Edge TPU", 4.0, "Coral USB Accelerator datasheet (coral.ai): 4 TOPS (int8)"),
    ("Hailo-8L (Raspberry Pi AI Kit)", 13.0, "Raspberry Pi AI Kit product brief (raspberrypi.com), Hailo-8L: 13 TOPS"),
    ("Apple M4 Neural Engine", 38.0, "Apple Newsroom, 'Apple introduces M4 chip', May 2024: 38 trillion operations per second"),
    ("Microsoft Copilot+ PC threshold", 40.0, "Microsoft, Copilot+ PC requirements, May 2024: an NPU of 40+ TOPS"),
    ("Qualcomm Snapdragon X Elite", 45.0, "Qualcomm Snapdragon X Elite product brief: Hexagon NPU, 45 TOPS (INT8)"),
    ("AMD Ryzen AI 300", 50.0, "AMD Ryzen AI 300 series announcement, Computex June 2024: XDNA 2 NPU, 50 TOPS (INT8)"),
];

/// The NPUs people compare, by their vendors' INT8 peaks.
pub fn vendor_peaks() -> Vec<VendorPeak> {
    VENDOR_PEAKS.iter().map(|&(name, tops, source)| VendorPeak { name: name.into(), tops, source: source.into() }).collect()
}

/// One measurement of the CPU's INT8 GEMM.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuGemm {
    /// M = N = K.
    pub size: usize,
    pub threads: usize,
    /// The library and its kernel for this CPU.
    pub library: String,
    /// The fastest of the timed runs (after one warm-up run).
    pub seconds: f64,
    pub runs: usize,
    pub tops: f64,
    /// Every element equal to the reference GEMM's.
    pub exact: bool,
}

/// The square INT8 GEMM `a x b` on the CPU with `threads` threads, timed,
/// and compared with `want` (the reference GEMM's product, computed once by
/// the caller for every thread count): rten-gemm (RTen's GEMM, the one its
/// ONNX runtime uses), whose int8 kernels take u8 x i8 -> i32. `a` goes in
/// as `a + 128` with zero point 128, which is exactly `a`'s products: the
/// same INT8 x INT8 -> INT32 arithmetic as the NPU, nothing rounded.
///
/// Where that is not exact (rten-gemm's AVX2 kernel, without VNNI, sums
/// pairs of u8 x i8 products in 16 bits, which saturate at the extremes),
/// `a + 128` is split into a 7-bit half and a 1-bit half, `2h + l`, each
/// GEMM of which cannot saturate, and the product is twice the first plus
/// the second: two GEMMs timed as one, the library named "split".
pub fn cpu_int8_gemm(a: &Matrix<i8>, b: &Matrix<i8>, want: &Matrix<i32>, threads: usize, runs: usize) -> anyhow::Result<CpuGemm> {
    let size = a.rows();
    anyhow::ensure!([a.cols(), b.rows(), b.cols()].iter().all(|&d| d == size), "cpu_int8_gemm: operands are not both {size} x {size}");
    let executor = GemmExecutor::<u8, i8, i32>::default();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let b_t = NdTensor::from_data([size, size], b.as_slice().to_vec());
    // One GEMM of `a_u8` (zero point `zero`) by `b` into `c`.
    let gemm = |a_u8: &NdTensor<u8, 2>, zero: u8, c: &mut Vec<i32>| -> anyhow::Result<()> {
        let zero_a = vec![zero; size];
        let zero_b = vec![0i8; size];
        let options = GemmOptions { a_quant: Some(QuantParams { zero_point: &zero_a }), b_quant: Some(QuantParams { zero_point: &zero_b }), ..Default::default() };
        executor.gemm(c, GemmInputA::Unpacked(a_u8.view()), GemmInputB::Unpacked(b_t.view()), options).map_err(|e| anyhow::anyhow!("rten-gemm: {e:?}"))
    };
    let shifted: Vec<u8> = a.as_slice().iter().map(|&v| (i16::from(v) + 128) as u8).collect();
    let whole = NdTensor::from_data([size, size], shifted.clone());
    // a = 2h + l - 128 = 2 (h - 64) + l: h with zero point 64, l with 0.
    let high = NdTensor::from_data([size, size], shifted.iter().map(|&v| v >> 1).collect::<Vec<u8>>());
    let low = NdTensor::from_data([size, size], shifted.iter().map(|&v| v & 1).collect::<Vec<u8>>());
    let mut c = vec![0i32; size * size];
    let mut c_low = vec![0i32; size * size];
    let time = |split: bool, c: &mut Vec<i32>, c_low: &mut Vec<i32>| -> anyhow::Result<f64> {
        let mut best = f64::MAX;
        pool.install(|| -> anyhow::Result<()> {
            for run in 0..=runs {
                let started = Instant::now();
                if split {
                    gemm(&high, 64, c)?;
                    gemm(&low, 0, c_low)?;
                    for (v, l) in c.iter_mut().zip(c_low.iter()) {
                        *v = v.wrapping_mul(2).wrapping_add(*l);
                    }
                } else {
                    gemm(&whole, 128, c)?;
                }
                if run > 0 {
                    best = best.min(started.elapsed().as_secs_f64());
                }
            }
            Ok(())
        })?;
        Ok(best)
    };
    let mut best = time(false, &mut c, &mut c_low)?;
    let mut library = format!("rten-gemm 0.27 ({})", executor.kernel_name());
    if c != want.as_slice() {
        best = time(true, &mut c, &mut c_low)?;
        library = format!("rten-gemm 0.27 ({}, split: 7-bit and 1-bit halves)", executor.kernel_name());
    }
    let macs = (size * size * size) as f64;
    Ok(CpuGemm { size, threads, library, seconds: best, runs, tops: 2.0 * macs / best / 1e12, exact: c == want.as_slice() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use npu_spec::gemm_reference;

    #[test]
    fn cpu_gemm_is_exact_at_the_extremes() {
        // -128 x -128 sums are where a kernel that saturates 16-bit pairs fails.
        let size = 64;
        let a = Matrix::from_fn(size, size, |i, j| if (i * size + j) % 3 == 0 { -128 } else { ((i * size + j) * 7) as i8 });
        let b = Matrix::from_fn(size, size, |i, j| if (i * size + j) % 5 == 0 { -128 } else { ((i * size + j) * 13) as i8 });
        let want = gemm_reference(&a, &b).unwrap();
        let g = cpu_int8_gemm(&a, &b, &want, 1, 1).unwrap();
        // (rten-gemm's AVX2 kernel, without VNNI, saturates here: then the
        // GEMM is split in two that do not.)
        assert!(g.exact, "{g:?}");
        assert!(g.tops > 0.0 && g.library.starts_with("rten-gemm"));
    }
}

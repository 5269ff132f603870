//! One GEMM shared across several NPUs: the columns of B (and of the result)
//! are split into contiguous slices, one per device, in proportion to each
//! device's array width, run in parallel threads and joined. With identical
//! devices the time is that of the largest slice.

use crate::conv_on_chip::ConvOnChip;
use crate::driver::{DriverError, Npu, Requant};
use npu_spec::Matrix;

pub struct Cluster {
    devices: Vec<Npu>,
}

impl Cluster {
    pub fn new(devices: Vec<Npu>) -> Self {
        assert!(!devices.is_empty(), "a cluster needs a device");
        Self { devices }
    }

    pub fn devices(&mut self) -> &mut [Npu] {
        &mut self.devices
    }

    /// The column ranges of an `n`-column result, one per device: whole
    /// array widths, shared out as evenly as the devices' PE counts allow.
    pub fn split(&self, n: usize) -> Vec<std::ops::Range<usize>> {
        let weights: Vec<usize> = self.devices.iter().map(|d| d.info().rows * d.info().cols).collect();
        let total: usize = weights.iter().sum();
        let mut out = vec![];
        let mut start = 0;
        let mut weight_so_far = 0;
        for (i, (w, d)) in weights.iter().zip(&self.devices).enumerate() {
            weight_so_far += w;
            let end = if i + 1 == weights.len() {
                n
            } else {
                let ideal = n * weight_so_far / total;
                let width = d.info().cols;
                (ideal.div_ceil(width) * width).clamp(start, n)
            };
            out.push(start..end);
            start = end;
        }
        out
    }

    pub fn gemm(&mut self, a: &Matrix<i8>, b: &Matrix<i8>) -> Result<Matrix<i32>, DriverError> {
        self.shared(a, b, |npu, a, b, _| npu.gemm(a, b), None)
    }

    pub fn gemm_requant(&mut self, a: &Matrix<i8>, b: &Matrix<i8>, q: &Requant) -> Result<Matrix<i8>, DriverError> {
        self.shared(a, b, |npu, a, b, q| npu.gemm_requant(a, b, q.expect("given")), Some(q))
    }

    fn shared<T: Copy + Default + Send>(
        &mut self,
        a: &Matrix<i8>,
        b: &Matrix<i8>,
        run: impl Fn(&mut Npu, &Matrix<i8>, &Matrix<i8>, Option<&Requant>) -> Result<Matrix<T>, DriverError> + Sync,
        q: Option<&Requant>,
    ) -> Result<Matrix<T>, DriverError> {
        if b.rows() != a.cols() {
            return Err(DriverError::Shape(format!("A is {}x{}, so B must have {} rows, but it is {}x{}", a.rows(), a.cols(), a.cols(), b.rows(), b.cols())));
        }
        let out = self.by_columns(b, q, a.rows(), |npu, part, q| run(npu, a, part, q).map(Some))?;
        Ok(out.expect("every device answers"))
    }

    /// One item of a convolution with its operand built on chip (see
    /// [`Npu::conv_requant`]), its output channels shared out as a GEMM's
    /// columns are. `Ok(None)` when a device cannot: nothing was computed.
    pub fn conv_requant(&mut self, conv: &ConvOnChip, q: &Requant) -> Result<Option<Matrix<i8>>, DriverError> {
        let pixels = conv.window.out_h * conv.window.out_w;
        self.by_columns(conv.weights, Some(q), pixels, |npu, part, q| npu.conv_requant(&ConvOnChip { weights: part, ..*conv }, q.expect("given")))
    }

    /// `run` on each device with its slice of `b`'s columns (and of `q`'s),
    /// in parallel threads; the slices of the `rows`-row result joined, or
    /// `None` when a device answers `None`. A device with no columns is
    /// left idle.
    fn by_columns<T: Copy + Default + Send>(
        &mut self,
        b: &Matrix<i8>,
        q: Option<&Requant>,
        rows: usize,
        run: impl Fn(&mut Npu, &Matrix<i8>, Option<&Requant>) -> Result<Option<Matrix<T>>, DriverError> + Sync,
    ) -> Result<Option<Matrix<T>>, DriverError> {
        let ranges = self.split(b.cols());
        let results: Vec<Result<Option<Matrix<T>>, DriverError>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .devices
                .iter_mut()
                .zip(&ranges)
                .filter(|(_, cols)| !cols.is_empty())
                .map(|(npu, cols)| {
                    let run = &run;
                    let cols = cols.clone();
                    s.spawn(move || {
                        let part = Matrix::from_fn(b.rows(), cols.len(), |k, j| b.get(k, cols.start + j));
                        let q = q.map(|q| q.columns(cols));
                        run(npu, &part, q.as_ref())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a device thread panicked")).collect()
        });
        let mut out = Matrix::<T>::zeros(rows, b.cols());
        for (part, cols) in results.into_iter().zip(ranges.into_iter().filter(|c| !c.is_empty())) {
            let Some(part) = part? else { return Ok(None) };
            for i in 0..rows {
                for (j, col) in cols.clone().enumerate() {
                    out.set(i, col, part.get(i, j));
                }
            }
        }
        Ok(Some(out))
    }

    /// Whether every device builds operands on chip (MOVE).
    pub fn has_mover(&mut self) -> bool {
        self.devices.iter().all(|d| d.info().mover)
    }
}

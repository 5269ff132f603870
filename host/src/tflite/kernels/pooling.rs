//! AVERAGE_POOL_2D and MAX_POOL_2D, int8: TFLite's
//! `reference_integer_ops::AveragePool` and `MaxPool`. Only the taps inside
//! the image count: the average divides by how many there were.

use super::window::Axis;
use super::{ActivationRange, Nhwc};

#[derive(Debug, Clone)]
pub struct Pool2d {
    pub input: Nhwc,
    pub rows: Axis,
    pub cols: Axis,
    pub range: ActivationRange,
}

impl Pool2d {
    pub fn output(&self) -> Nhwc {
        Nhwc { n: self.input.n, h: self.rows.output, w: self.cols.output, c: self.input.c }
    }

    /// AVERAGE_POOL_2D: the sum, divided by the count rounding half away from zero.
    pub fn average(&self, input: &[i8]) -> Vec<i8> {
        self.each(input, |taps| {
            let count = taps.len() as i32;
            let sum: i32 = taps.iter().map(|&v| i32::from(v)).sum();
            if sum > 0 {
                (sum + count / 2) / count
            } else {
                (sum - count / 2) / count
            }
        })
    }

    /// MAX_POOL_2D.
    pub fn max(&self, input: &[i8]) -> Vec<i8> {
        self.each(input, |taps| taps.iter().map(|&v| i32::from(v)).max().unwrap_or(i32::from(i8::MIN)))
    }

    fn each(&self, input: &[i8], reduce: impl Fn(&[i8]) -> i32) -> Vec<i8> {
        let out = self.output();
        let mut result = vec![0i8; out.len()];
        let mut taps = Vec::with_capacity(self.rows.filter * self.cols.filter);
        for n in 0..out.n {
            for y in 0..out.h {
                for x in 0..out.w {
                    for c in 0..out.c {
                        taps.clear();
                        for fy in 0..self.rows.filter {
                            let Some(iy) = self.rows.source(y, fy) else { continue };
                            for fx in 0..self.cols.filter {
                                let Some(ix) = self.cols.source(x, fx) else { continue };
                                taps.push(input[self.input.at(n, iy, ix, c)]);
                            }
                        }
                        result[out.at(n, y, x, c)] = self.range.clamp(reduce(&taps));
                    }
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::window::Padding;
    use super::*;

    fn pool(padding: Padding) -> Pool2d {
        let input = Nhwc { n: 1, h: 3, w: 3, c: 1 };
        Pool2d { input, rows: Axis::new(3, 2, 2, 1, padding), cols: Axis::new(3, 2, 2, 1, padding), range: ActivationRange { min: -128, max: 127 } }
    }

    #[test]
    fn edges_count_only_inside_taps() {
        let x = [1, 2, 3, 4, 5, 6, 7, 8, -9];
        // SAME, 2x2 stride 2 on 3x3: windows {1,2,4,5} {3,6} {7,8} {-9}.
        assert_eq!(pool(Padding::Same).average(&x), vec![3, 5, 8, -9]); // 12/4, 9/2 -> 4.5 -> 5, 7.5 -> 8
        assert_eq!(pool(Padding::Same).max(&x), vec![5, 6, 8, -9]);
        assert_eq!(pool(Padding::Valid).average(&x), vec![3]);
        // Negative halves round away from zero: -5/2 = -2.5 -> -3.
        let neg = Pool2d { input: Nhwc { n: 1, h: 1, w: 2, c: 1 }, rows: Axis::new(1, 1, 1, 1, Padding::Valid), cols: Axis::new(2, 2, 1, 1, Padding::Valid), range: ActivationRange { min: -128, max: 127 } };
        assert_eq!(neg.average(&[-2, -3]), vec![-3]);
    }
}

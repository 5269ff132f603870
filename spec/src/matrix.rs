//! A small dense row-major matrix: the unit of data the toolkit moves between
//! the host, the simulators and the reference.

use std::fmt;

/// A `rows x cols` matrix stored row by row.
#[derive(Clone, PartialEq, Eq)]
pub struct Matrix<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

/// Two operands whose shapes do not fit together, or data of the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("A is {a_rows}x{a_cols} and B is {b_rows}x{b_cols}: A's columns must equal B's rows")]
    Inner {
        a_rows: usize,
        a_cols: usize,
        b_rows: usize,
        b_cols: usize,
    },
    #[error("a {rows}x{cols} matrix needs {} values, got {len}", rows * cols)]
    Length { rows: usize, cols: usize, len: usize },
}

impl<T: Copy + Default> Matrix<T> {
    /// A matrix of default values (zeros for numbers).
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: vec![T::default(); rows * cols] }
    }
}

impl<T: Copy> Matrix<T> {
    /// A matrix whose element `(i, j)` is `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> T) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Self { rows, cols, data }
    }

    /// A matrix over row-major `data`, which must hold `rows * cols` values.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<T>) -> Result<Self, ShapeError> {
        if data.len() != rows * cols {
            return Err(ShapeError::Length { rows, cols, len: data.len() });
        }
        Ok(Self { rows, cols, data })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Element `(i, j)`; panics outside the matrix like slice indexing does.
    pub fn get(&self, i: usize, j: usize) -> T {
        assert!(i < self.rows && j < self.cols, "({i}, {j}) is outside a {}x{} matrix", self.rows, self.cols);
        self.data[i * self.cols + j]
    }

    pub fn set(&mut self, i: usize, j: usize, value: T) {
        assert!(i < self.rows && j < self.cols, "({i}, {j}) is outside a {}x{} matrix", self.rows, self.cols);
        self.data[i * self.cols + j] = value;
    }

    /// The values row by row.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

impl<T: Copy + fmt::Display> fmt::Debug for Matrix<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Matrix {}x{} [", self.rows, self.cols)?;
        for i in 0..self.rows {
            write!(f, "   ")?;
            for v in self.row(i) {
                write!(f, " {v:>7}")?;
            }
            writeln!(f)?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_checks_the_length() {
        assert!(Matrix::from_vec(2, 3, vec![0i8; 6]).is_ok());
        let e = Matrix::from_vec(2, 3, vec![0i8; 5]).unwrap_err();
        assert_eq!(e.to_string(), "a 2x3 matrix needs 6 values, got 5");
    }

    #[test]
    fn is_row_major() {
        let m = Matrix::from_fn(2, 3, |i, j| (10 * i + j) as i32);
        assert_eq!(m.as_slice(), &[0, 1, 2, 10, 11, 12]);
        assert_eq!(m.row(1), &[10, 11, 12]);
        assert_eq!(m.get(1, 2), 12);
    }
}

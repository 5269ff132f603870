//! NumPy `.npy` files in and out (through the `npyz` crate): INT8 matrices
//! in, INT32 or INT8 matrices out, with every dtype and shape checked first.

use anyhow::{bail, Context, Result};
use npu_spec::Matrix;
use std::path::Path;

/// A 2-D `int8` array from `path`.
pub fn read_i8_matrix(path: &Path) -> Result<Matrix<i8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{} is not a NumPy .npy file", path.display()))?;
    let descr = npy.dtype().descr();
    if descr != "'|i1'" && descr != "'<i1'" && descr != "'>i1'" {
        bail!(
            "{} holds dtype {descr}, not int8: convert it first, e.g. np.save(path, a.astype(np.int8)) after quantizing",
            path.display()
        );
    }
    let shape: Vec<u64> = npy.shape().to_vec();
    if shape.len() != 2 {
        bail!("{} has shape {shape:?}: a matrix (2 dimensions) is needed", path.display());
    }
    let (rows, cols) = (shape[0] as usize, shape[1] as usize);
    let fortran = npy.order() == npyz::Order::Fortran;
    let data: Vec<i8> = npy.into_vec().with_context(|| format!("{} is cut short", path.display()))?;
    if data.len() != rows * cols {
        bail!("{} holds {} values for shape {rows}x{cols}", path.display(), data.len());
    }
    Ok(if fortran { Matrix::from_fn(rows, cols, |i, j| data[j * rows + i]) } else { Matrix::from_vec(rows, cols, data)? })
}

/// The bytes of a `.npy` file holding `m` (C order, the element type's
/// default little-endian dtype).
pub fn encode<T: npyz::AutoSerialize + Copy>(m: &Matrix<T>) -> Result<Vec<u8>> {
    let mut out = vec![];
    {
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[m.rows() as u64, m.cols() as u64])
            .writer(&mut out)
            .begin_nd()?;
        w.extend(m.as_slice().iter().copied())?;
        w.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_round_trip_and_dtype_errors() {
        let dir = tempfile::tempdir().unwrap();
        let m = Matrix::from_fn(3, 5, |i, j| (i * 5 + j) as i8 - 7);
        let p = dir.path().join("a.npy");
        std::fs::write(&p, encode(&m).unwrap()).unwrap();
        assert_eq!(read_i8_matrix(&p).unwrap(), m);
        let wide = Matrix::from_fn(2, 2, |i, j| (i + j) as i32);
        std::fs::write(&p, encode(&wide).unwrap()).unwrap();
        let e = read_i8_matrix(&p).unwrap_err().to_string();
        assert!(e.contains("not int8") && e.contains("<i4"), "{e}");
        std::fs::write(&p, b"not numpy").unwrap();
        assert!(read_i8_matrix(&p).unwrap_err().to_string().contains("not a NumPy"));
    }
}

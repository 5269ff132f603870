//! NumPy `.npy` files in and out (through the `npyz` crate): INT8 matrices
//! in, INT32 or INT8 matrices out, with every dtype and shape checked first.

use anyhow::{bail, Context, Result};
use npu_spec::Matrix;
use std::path::Path;

/// A 2-D `int8` array from `path`.
pub fn read_i8_matrix(path: &Path) -> Result<Matrix<i8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_i8_matrix(&bytes, &path.display().to_string())
}

/// A 2-D `int8` array from the bytes of a `.npy` file called `name` in messages.
pub fn parse_i8_matrix(bytes: &[u8], name: &str) -> Result<Matrix<i8>> {
    let path = std::path::Path::new(name);
    check_header_length(bytes).with_context(|| format!("{} is not a NumPy .npy file", path.display()))?;
    let npy = npyz::NpyFile::new(bytes).with_context(|| format!("{} is not a NumPy .npy file", path.display()))?;
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
    let (rows, cols) = (usize::try_from(shape[0])?, usize::try_from(shape[1])?);
    // The data must be there before anything is allocated for it.
    let header_and_data = rows.checked_mul(cols).filter(|&n| n <= bytes.len());
    if header_and_data.is_none() {
        bail!("{} has shape {rows}x{cols} but only {} bytes", path.display(), bytes.len());
    }
    let fortran = npy.order() == npyz::Order::Fortran;
    let data: Vec<i8> = npy.into_vec().with_context(|| format!("{} is cut short", path.display()))?;
    if data.len() != rows * cols {
        bail!("{} holds {} values for shape {rows}x{cols}", path.display(), data.len());
    }
    Ok(if fortran { Matrix::from_fn(rows, cols, |i, j| data[j * rows + i]) } else { Matrix::from_vec(rows, cols, data)? })
}

/// A 1-D (or 1 x n) `int32` array of `n` values from `path`: a bias vector.
pub fn read_i32_vector(path: &Path, n: usize) -> Result<Vec<i32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    check_header_length(&bytes).with_context(|| format!("{} is not a NumPy .npy file", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{} is not a NumPy .npy file", path.display()))?;
    let descr = npy.dtype().descr();
    if descr != "'<i4'" {
        bail!("{} holds dtype {descr}: the bias must be int32 ('<i4')", path.display());
    }
    let shape = npy.shape().to_vec();
    let len: u64 = shape.iter().product();
    if !(shape.len() == 1 || (shape.len() == 2 && shape[0] == 1)) || len as usize != n {
        bail!("{} has shape {shape:?}: the bias needs {n} values (one per output column), as shape ({n},)", path.display());
    }
    Ok(npy.into_vec::<i32>()?)
}

/// The header's length field must fit in the file: npyz allocates what the
/// field says before reading, so a 30-byte file claiming a 2 GB header would
/// exhaust memory (found by `cargo fuzz`, kept in `fuzz/corpus/npy_reader`).
fn check_header_length(bytes: &[u8]) -> Result<()> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        bail!("it does not start with the .npy magic bytes");
    }
    let (header_len, fixed) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => bail!("format version {v} is not one this reader knows (1, 2, 3)"),
    };
    if fixed + header_len > bytes.len() {
        bail!("its header claims {header_len} bytes but the file has {}", bytes.len());
    }
    // A plain array's header is one dict with one shape tuple. npyz's parser
    // takes exponential time on deeply nested brackets (found by cargo fuzz:
    // a 200-byte file hung it), so anything else stops here.
    let header = &bytes[fixed..fixed + header_len];
    let count = |c: u8| header.iter().filter(|&&b| b == c).count();
    if !header.is_ascii() || count(b'{') != 1 || count(b'}') != 1 || count(b'(') != 1 || count(b')') != 1 || count(b'[') > 0 {
        bail!("its header is not that of a plain array (one dict with descr, fortran_order and shape)");
    }
    // The shape's element count must fit in the file (npyz multiplies the
    // dimensions without checking for overflow).
    let text = std::str::from_utf8(header).expect("ASCII");
    let open = text.find('(').expect("counted");
    let Some(close) = text[open..].find(')').map(|c| open + c) else {
        bail!("its header's shape is not a tuple");
    };
    let inside = &text[open + 1..close];
    let mut elements: u64 = 1;
    for dim in inside.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let dim: u64 = dim.parse().map_err(|_| anyhow::anyhow!("its shape has a dimension {dim:?} that is not a number"))?;
        elements = elements.checked_mul(dim).filter(|&n| n <= bytes.len() as u64).ok_or_else(|| anyhow::anyhow!("its shape ({inside}) holds more values than the file has bytes"))?;
    }
    Ok(())
}

/// An `int8` or `float32` array of any shape from `path`: a model's input.
pub fn read_array(path: &Path) -> Result<(Vec<usize>, crate::tflite::runtime::Values)> {
    use crate::tflite::runtime::Values;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    check_header_length(&bytes).with_context(|| format!("{} is not a NumPy .npy file", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{} is not a NumPy .npy file", path.display()))?;
    if npy.order() == npyz::Order::Fortran {
        bail!("{} is in Fortran order: save it in C order (np.ascontiguousarray)", path.display());
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>()?;
    let descr = npy.dtype().descr();
    let cut = || format!("{} is cut short", path.display());
    let values = match descr.as_str() {
        "'|i1'" | "'<i1'" | "'>i1'" => Values::Int8(npy.into_vec().with_context(cut)?),
        "'<f4'" => Values::Float32(npy.into_vec().with_context(cut)?),
        other => bail!("{} holds dtype {other}; a model's input is int8 (|i1) or float32 (<f4)", path.display()),
    };
    if values.len() != shape.iter().product::<usize>() {
        bail!("{} holds {} values for shape {shape:?}", path.display(), values.len());
    }
    Ok((shape, values))
}

/// The bytes of a `.npy` file of `shape` holding `values` (C order).
pub fn encode_array(shape: &[usize], values: &crate::tflite::runtime::Values) -> Result<Vec<u8>> {
    use crate::tflite::runtime::Values;
    use npyz::WriterBuilder;
    let mut out = vec![];
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    match values {
        Values::Int8(v) => {
            let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(&mut out).begin_nd()?;
            w.extend(v.iter().copied())?;
            w.finish()?;
        }
        Values::Float32(v) => {
            let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(&mut out).begin_nd()?;
            w.extend(v.iter().copied())?;
            w.finish()?;
        }
    }
    Ok(out)
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

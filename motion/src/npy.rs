//! `.npy` in and out. Inputs may be float32 or float64, C or Fortran order; outputs are float32,
//! C order, written atomically (architecture.md "Outputs and files").

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// Reads a float32 or float64 `.npy` into a float64 CPU tensor of the file's shape.
pub fn read_tensor(path: &Path) -> Result<Tensor> {
    let array = read_f64(path)?;
    let shape: Vec<i64> = array.shape().iter().map(|&d| d as i64).collect();
    let data: Vec<f64> = array.iter().copied().collect(); // logical (C) order whatever the file's order
    Ok(Tensor::from_slice(&data).reshape(shape))
}

/// Reads a float32 or float64 `.npy` as a float64 array.
pub fn read_f64(path: &Path) -> Result<ArrayD<f64>> {
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| Error::file(path, format!("cannot open: {e}")))
    };
    match ArrayD::<f64>::read_npy(open()?) {
        Ok(a) => Ok(a),
        Err(ReadNpyError::WrongDescriptor(_)) => match ArrayD::<f32>::read_npy(open()?) {
            Ok(a) => Ok(a.mapv(f64::from)),
            Err(ReadNpyError::WrongDescriptor(d)) => Err(Error::file(
                path,
                format!("unsupported dtype {d}; expected float32 or float64"),
            )),
            Err(e) => Err(npy_error(path, e)),
        },
        Err(e) => Err(npy_error(path, e)),
    }
}

fn npy_error(path: &Path, e: ReadNpyError) -> Error {
    let msg = match e {
        ReadNpyError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated or empty .npy file".to_string()
        }
        ReadNpyError::MissingData => {
            "truncated .npy file (fewer values than its header promises)".to_string()
        }
        other => format!("not a valid .npy file ({other})"),
    };
    Error::file(path, msg)
}

/// Writes `t` as float32, C order, atomically.
pub fn write_tensor(path: &Path, t: &Tensor) -> Result<()> {
    let t = t
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = Vec::<f32>::try_from(t.flatten(0, -1))?;
    let array = ArrayD::from_shape_vec(IxDyn(&shape), data)
        .expect("shape matches the tensor's element count");
    write_array(path, &array)
}

/// Writes an f32 array as `.npy`, atomically.
pub fn write_array(path: &Path, array: &ArrayD<f32>) -> Result<()> {
    let mut bytes = Vec::new();
    array
        .write_npy(&mut bytes)
        .map_err(|e| Error::file(path, format!("cannot encode .npy: {e}")))?;
    Ok(train::write_atomic(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_accepts_f64_and_fortran_order() {
        use ndarray::ShapeBuilder;
        let dir = tempfile::tempdir().unwrap();
        let t = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape([2, 3]);
        let p = dir.path().join("a.npy");
        write_tensor(&p, &t).unwrap();
        let back = read_tensor(&p).unwrap();
        assert_eq!(back.size(), vec![2, 3]);
        assert_eq!(
            Vec::<f64>::try_from(back.flatten(0, -1)).unwrap(),
            vec![1., 2., 3., 4., 5., 6.]
        );

        // float64, Fortran order: the logical layout must survive.
        let f = ndarray::Array2::from_shape_vec((2, 3).f(), vec![1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0])
            .unwrap();
        let p64 = dir.path().join("f.npy");
        let mut bytes = Vec::new();
        f.write_npy(&mut bytes).unwrap();
        std::fs::write(&p64, bytes).unwrap();
        let back = read_tensor(&p64).unwrap();
        assert_eq!(
            Vec::<f64>::try_from(back.flatten(0, -1)).unwrap(),
            vec![1., 2., 3., 4., 5., 6.]
        );
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.npy");
        std::fs::write(&empty, b"").unwrap();
        let e = read_tensor(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.npy") && e.contains("truncated or empty"),
            "{e}"
        );

        let full = dir.path().join("full.npy");
        write_tensor(
            &full,
            &Tensor::ones([10, 263], (Kind::Float, tch::Device::Cpu)),
        )
        .unwrap();
        let bytes = std::fs::read(&full).unwrap();
        let cut = dir.path().join("cut.npy");
        std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
        let e = read_tensor(&cut).unwrap_err().to_string();
        assert!(e.contains("cut.npy") && e.contains("truncated"), "{e}");

        let ints = dir.path().join("ints.npy");
        let mut b = Vec::new();
        ndarray::Array1::from_vec(vec![1i32, 2])
            .write_npy(&mut b)
            .unwrap();
        std::fs::write(&ints, b).unwrap();
        let e = read_tensor(&ints).unwrap_err().to_string();
        assert!(e.contains("unsupported dtype"), "{e}");

        let e = read_tensor(&dir.path().join("missing.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing.npy") && e.contains("cannot open"),
            "{e}"
        );
    }
}

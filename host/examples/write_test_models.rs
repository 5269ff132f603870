//! Writes the project's own test models (`npu_host::tflite::builder::test_models`)
//! into tests/tflite/models/, for scripts/tflite-reference to give their
//! expected outputs:
//!
//! ```text
//! cargo run -p npu-host --example write_test_models
//! scripts/tflite-reference --out tests/tflite --count 8 tests/tflite/models/*.tflite
//! ```

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tflite/models");
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in npu_host::tflite::builder::test_models() {
        let path = dir.join(format!("{name}.tflite"));
        std::fs::write(&path, bytes)?;
        println!("{}", path.display());
    }
    Ok(())
}

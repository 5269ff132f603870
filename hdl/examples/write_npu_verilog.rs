//! Writes the default NPU's Verilog to the path given (for quick synthesis
//! experiments: `cargo run -p npu-hdl --release --example write_npu_verilog -- npu.v`).
fn main() {
    let path = std::env::args().nth(1).expect("usage: write_npu_verilog OUT.v");
    std::fs::write(&path, npu_hdl::verilog::npu_verilog(&npu_spec::NpuConfig::default())).expect("write");
}

fn main() {
    let mut c = npu_spec::NpuConfig::default();
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    c.array.rows = a[0]; c.array.cols = a[1];
    print!("{}", npu_hdl::verilog::array_verilog(&c));
}

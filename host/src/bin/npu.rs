//! `npu`: a thin entry point over [`npu_host::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    npu_host::cli::main()
}

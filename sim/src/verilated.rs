//! Verilator from Rust: build a Verilated model of any generated Verilog into
//! a shared library, cache it by content, load it, and drive its ports.
//!
//! The route (see `sim/README.md`): `verilator --cc --exe --build` compiles the
//! model with a small C++ shim generated for the design's top-level ports and
//! links it `-shared`; `libloading` opens the library and the shim's
//! `extern "C"` functions (create, free, set, get, eval, tick, VCD) are called
//! through function pointers. Nothing else is needed at run time.

use npu_spec::tools::{ToolMissing, VERILATOR};
use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A top-level port of the Verilog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub width: usize,
    pub input: bool,
}

/// Why a model could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Missing(#[from] ToolMissing),
    #[error("the Verilog has no module {0} with ports this binding understands")]
    NoTop(String),
    #[error("port {name} is {width} bits wide; the binding handles up to 64")]
    WidePort { name: String, width: usize },
    #[error("could not use the model cache {path}: {error}")]
    Cache { path: PathBuf, error: std::io::Error },
    #[error("verilator could not build the model ({status}); the end of its log {log}:\n{tail}")]
    Build { status: String, log: PathBuf, tail: String },
    #[error("could not load the model library {path}: {error}")]
    Load { path: PathBuf, error: String },
    #[error("the model has no port named {0}")]
    NoPort(String),
    #[error("{0}")]
    Setup(String),
}

/// How a model was obtained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildInfo {
    /// Whether it came from the cache.
    pub cached: bool,
    /// Seconds spent building or finding it, and loading it.
    pub seconds: f64,
}

type NewFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type SetFn = unsafe extern "C" fn(*mut c_void, u32, u64);
type GetFn = unsafe extern "C" fn(*mut c_void, u32) -> u64;
type TickFn = unsafe extern "C" fn(*mut c_void, u64);
type EvalFn = unsafe extern "C" fn(*mut c_void);

/// A loaded, running Verilated model.
pub struct VerilatedModel {
    handle: *mut c_void,
    free: FreeFn,
    set: SetFn,
    get: GetFn,
    tick: TickFn,
    eval: EvalFn,
    ports: Vec<Port>,
    cycles: u64,
    info: BuildInfo,
    // Declared last: dropped after the model is freed.
    _lib: libloading::Library,
}

// The model is owned by one thread at a time; Verilator models may move
// between threads when not evaluating.
unsafe impl Send for VerilatedModel {}

/// What a model is built from.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// (file name, Verilog text), compiled in this order.
    pub sources: Vec<(String, String)>,
    pub top: String,
    /// The top module's ports (the shim reads and drives these).
    pub ports: Vec<Port>,
    /// Extra Verilator flags, such as `-DNAME` or `--no-timing`.
    pub flags: Vec<String>,
}

/// An index of a port, resolved once by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortId(u32);

impl VerilatedModel {
    /// Builds (or finds in the cache) and loads a model of `verilog` with top
    /// module `top`, clocked by its `clock` port. With `vcd`, every cycle is
    /// traced to that file.
    pub fn new(verilog: &str, top: &str, vcd: Option<&Path>) -> Result<Self, ModelError> {
        let ports = top_ports(verilog, top)?;
        Self::build(&ModelSpec { sources: vec![(format!("{top}.v"), verilog.to_string())], top: top.to_string(), ports, flags: vec![] }, vcd)
    }

    /// Builds (or finds in the cache) and loads a model from several sources
    /// with extra Verilator flags (defines, `--no-timing` for cell libraries).
    pub fn build(spec: &ModelSpec, vcd: Option<&Path>) -> Result<Self, ModelError> {
        let started = Instant::now();
        let top = spec.top.as_str();
        let ports = spec.ports.clone();
        if let Some(p) = ports.iter().find(|p| p.width > 64) {
            return Err(ModelError::WidePort { name: p.name.clone(), width: p.width });
        }
        if !ports.iter().any(|p| p.name == "clock" && p.input) {
            return Err(ModelError::NoTop(top.into()));
        }
        let traced = vcd.is_some();
        let shim = shim_source(top, &ports, traced);
        let (library, cached) = build_cached(spec, &shim, traced)?;
        let lib = unsafe { libloading::Library::new(&library) }
            .map_err(|e| ModelError::Load { path: library.clone(), error: e.to_string() })?;
        let sym = |name: &str| -> Result<*const c_void, ModelError> {
            unsafe { lib.get::<*const c_void>(name.as_bytes()) }
                .map(|s| *s)
                .map_err(|e| ModelError::Load { path: library.clone(), error: e.to_string() })
        };
        let (new, free, set, get, tick, eval) = unsafe {
            (
                std::mem::transmute::<*const c_void, NewFn>(sym("npu_model_new")?),
                std::mem::transmute::<*const c_void, FreeFn>(sym("npu_model_free")?),
                std::mem::transmute::<*const c_void, SetFn>(sym("npu_model_set")?),
                std::mem::transmute::<*const c_void, GetFn>(sym("npu_model_get")?),
                std::mem::transmute::<*const c_void, TickFn>(sym("npu_model_tick")?),
                std::mem::transmute::<*const c_void, EvalFn>(sym("npu_model_eval")?),
            )
        };
        let vcd_path = vcd.map(|p| CString::new(p.display().to_string()).expect("a path without NUL"));
        let handle = unsafe { new(vcd_path.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())) };
        let info = BuildInfo { cached, seconds: started.elapsed().as_secs_f64() };
        let mut model = Self { handle, free, set, get, tick, eval, ports, cycles: 0, info, _lib: lib };
        model.eval_now();
        Ok(model)
    }

    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    pub fn build_info(&self) -> BuildInfo {
        self.info
    }

    /// The id of the port called `name`.
    pub fn port(&self, name: &str) -> Result<PortId, ModelError> {
        self.ports.iter().position(|p| p.name == name).map(|i| PortId(i as u32)).ok_or_else(|| ModelError::NoPort(name.into()))
    }

    /// Drives an input (taken at the next edge).
    pub fn set(&mut self, port: PortId, value: u64) {
        unsafe { (self.set)(self.handle, port.0, value) }
    }

    /// Reads a port as of the last evaluation.
    pub fn get(&self, port: PortId) -> u64 {
        unsafe { (self.get)(self.handle, port.0) }
    }

    /// Evaluates the combinational logic after inputs changed.
    pub fn eval_now(&mut self) {
        unsafe { (self.eval)(self.handle) }
    }

    /// `n` clock cycles: rising edge, then falling edge, each evaluated.
    pub fn tick(&mut self, n: u64) {
        unsafe { (self.tick)(self.handle, n) }
        self.cycles += n;
    }

    pub fn cycles(&self) -> u64 {
        self.cycles
    }
}

impl Drop for VerilatedModel {
    fn drop(&mut self) {
        unsafe { (self.free)(self.handle) }
    }
}

/// The ports of module `top` as rust-hdl writes them
/// (`input wire [7:0] a_in$0;` under `// Module arguments`).
pub fn top_ports(verilog: &str, top: &str) -> Result<Vec<Port>, ModelError> {
    let header = format!("module {top}(");
    let start = verilog.find(&header).ok_or_else(|| ModelError::NoTop(top.into()))?;
    let mut ports = vec![];
    for line in verilog[start..].lines().skip(1) {
        let line = line.trim();
        if line.starts_with("// Stub signals") || line.starts_with("// Update code") || line.starts_with("endmodule") {
            break;
        }
        let input = line.starts_with("input ");
        if !input && !line.starts_with("output ") {
            continue;
        }
        let words: Vec<&str> = line.trim_end_matches(';').split_whitespace().collect();
        let name = words.last().copied().unwrap_or_default().to_string();
        let width = words
            .iter()
            .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(":0]")).and_then(|msb| msb.parse::<usize>().ok()))
            .map_or(1, |msb| msb + 1);
        ports.push(Port { name, width, input });
    }
    if ports.is_empty() {
        return Err(ModelError::NoTop(top.into()));
    }
    Ok(ports)
}

/// Verilator's C++ name of a Verilog identifier (`$` becomes `__024`).
fn cpp_name(name: &str) -> String {
    name.replace('$', "__024")
}

/// The `extern "C"` shim for a design's ports.
fn shim_source(top: &str, ports: &[Port], traced: bool) -> String {
    let class = format!("V{top}");
    let mut set_cases = String::new();
    let mut get_cases = String::new();
    for (i, p) in ports.iter().enumerate() {
        let member = cpp_name(&p.name);
        if p.input {
            set_cases.push_str(&format!("    case {i}: m->top->{member} = value; break;\n"));
        }
        get_cases.push_str(&format!("    case {i}: return m->top->{member};\n"));
    }
    let (trace_include, trace_member, trace_open, trace_dump, trace_close) = if traced {
        (
            "#include \"verilated_vcd_c.h\"\n",
            "    VerilatedVcdC* vcd = nullptr;\n",
            "    if (vcd_path) { m->ctx->traceEverOn(true); m->vcd = new VerilatedVcdC; m->top->trace(m->vcd, 99); m->vcd->open(vcd_path); }\n",
            "    if (m->vcd) m->vcd->dump(m->time);\n",
            "    if (m->vcd) { m->vcd->close(); delete m->vcd; }\n",
        )
    } else {
        ("", "", "    (void)vcd_path;\n", "", "")
    };
    format!(
        r#"// Generated by npu-sim for module {top}: the C ABI of its Verilated model.
#include "{class}.h"
#include "verilated.h"
{trace_include}#include <cstdint>

struct Model {{
    VerilatedContext* ctx;
    {class}* top;
    uint64_t time = 0;
{trace_member}}};

extern "C" {{
void* npu_model_new(const char* vcd_path) {{
    Model* m = new Model;
    m->ctx = new VerilatedContext;
    m->top = new {class}{{m->ctx}};
{trace_open}    return m;
}}

void npu_model_free(void* p) {{
    Model* m = static_cast<Model*>(p);
    m->top->final();
{trace_close}    delete m->top;
    delete m->ctx;
    delete m;
}}

void npu_model_set(void* p, uint32_t port, uint64_t value) {{
    Model* m = static_cast<Model*>(p);
    switch (port) {{
{set_cases}    default: break;
    }}
}}

uint64_t npu_model_get(void* p, uint32_t port) {{
    Model* m = static_cast<Model*>(p);
    switch (port) {{
{get_cases}    default: return 0;
    }}
}}

void npu_model_eval(void* p) {{
    Model* m = static_cast<Model*>(p);
    m->top->eval();
{trace_dump}}}

void npu_model_tick(void* p, uint64_t cycles) {{
    Model* m = static_cast<Model*>(p);
    for (uint64_t i = 0; i < cycles; i++) {{
        m->top->clock = 1;
        m->top->eval();
        m->time++;
{trace_dump}        m->top->clock = 0;
        m->top->eval();
        m->time++;
{trace_dump}    }}
}}
}}
"#
    )
}

/// Where built models are kept: `$NPU_CACHE_DIR`, else `$XDG_CACHE_HOME/npu`,
/// else `~/.cache/npu`, else the system's temporary folder.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("NPU_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("npu");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("npu");
    }
    std::env::temp_dir().join("npu-cache")
}

/// FNV-1a: a stable content hash for cache keys.
fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The model library for this Verilog and shim, built unless cached.
fn build_cached(spec: &ModelSpec, shim: &str, traced: bool) -> Result<(PathBuf, bool), ModelError> {
    let verilator = VERILATOR.find()?;
    let top = spec.top.as_str();
    let mut parts: Vec<&[u8]> = vec![shim.as_bytes(), top.as_bytes(), if traced { b"traced" } else { b"plain" }];
    let flags = BUILD_FLAGS.join(" ") + " " + &spec.flags.join(" ");
    parts.push(flags.as_bytes());
    for (name, text) in &spec.sources {
        parts.push(name.as_bytes());
        parts.push(text.as_bytes());
    }
    let key = fnv64(&parts);
    let root = cache_root().join("verilator");
    let dir = root.join(format!("{top}-{key:016x}"));
    let library = dir.join("libmodel.so");
    if library.is_file() {
        return Ok((library, true));
    }
    let cache_err = |path: &Path, error| ModelError::Cache { path: path.to_owned(), error };
    std::fs::create_dir_all(&root).map_err(|e| cache_err(&root, e))?;
    // Built in a scratch folder and renamed into place whole, so a failed or
    // concurrent build never leaves a half-built model in the cache.
    let work = tempfile::Builder::new().prefix(".build-").tempdir_in(&root).map_err(|e| cache_err(&root, e))?;
    for (name, text) in &spec.sources {
        let path = work.path().join(name);
        std::fs::write(&path, text).map_err(|e| cache_err(&path, e))?;
    }
    std::fs::write(work.path().join("shim.cpp"), shim).map_err(|e| cache_err(work.path(), e))?;
    let log = work.path().join("verilator.log");
    let mut cmd = Command::new(verilator);
    cmd.current_dir(work.path())
        .args(BUILD_FLAGS)
        .args(["--top-module", top, "--Mdir", "obj", "-o", "libmodel.so"])
        .args(if traced { &["--trace"][..] } else { &[][..] })
        .args(&spec.flags)
        .args(spec.sources.iter().map(|(name, _)| name))
        .arg("shim.cpp");
    let out = cmd.output().map_err(|e| cache_err(work.path(), e))?;
    let mut text = out.stdout;
    text.extend_from_slice(&out.stderr);
    let built = work.path().join("obj").join("libmodel.so");
    if !out.status.success() || !built.is_file() {
        let kept = root.join(format!("failed-{top}-{key:016x}.log"));
        let _ = std::fs::write(&kept, &text);
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(ModelError::Build { status: out.status.to_string(), log: kept, tail });
    }
    let _ = std::fs::write(&log, &text);
    let staged = work.path().join("model");
    std::fs::create_dir(&staged).map_err(|e| cache_err(&staged, e))?;
    std::fs::rename(&built, staged.join("libmodel.so")).map_err(|e| cache_err(&staged, e))?;
    let _ = std::fs::rename(&log, staged.join("verilator.log"));
    for (name, _) in &spec.sources {
        let _ = std::fs::rename(work.path().join(name), staged.join(name));
    }
    match std::fs::rename(&staged, &dir) {
        Ok(()) => {}
        // Another process finished the same model first: use that one.
        Err(_) if library.is_file() => {}
        Err(e) => return Err(cache_err(&dir, e)),
    }
    Ok((library, false))
}

/// Flags of every model build: C++ from the Verilog, optimised, linked as a
/// shared library with position-independent code; warnings are the lint
/// test's business, not the build's.
const BUILD_FLAGS: &[&str] = &[
    "--cc",
    "--exe",
    "--build",
    "-j",
    "2",
    "-O3",
    "-Wno-fatal",
    "-Wno-lint",
    "-Wno-style",
    "-CFLAGS",
    "-fPIC -O2",
    "-LDFLAGS",
    "-shared",
];

/// The systolic array as a Verilated model, behind [`crate::array::ArrayBackend`].
pub struct VerilatedArray {
    model: VerilatedModel,
    a_in: Vec<PortId>,
    b_in: Vec<PortId>,
    valid: PortId,
    last: PortId,
    drain_next: PortId,
    result: Vec<PortId>,
}

impl VerilatedArray {
    /// Builds (or finds cached) and loads the `rows x cols` array.
    pub fn new(rows: usize, cols: usize, vcd: Option<&Path>) -> Result<Self, ModelError> {
        let mut array = npu_hdl::SystolicArray::new(rows, cols);
        let top = npu_hdl::verilog::ARRAY_TOP;
        let verilog = npu_hdl::verilog::block_verilog(&mut array, top);
        let model = VerilatedModel::new(&verilog, top, vcd)?;
        let ids = |prefix: &str, n: usize| (0..n).map(|i| model.port(&format!("{prefix}${i}"))).collect::<Result<Vec<_>, _>>();
        Ok(Self {
            a_in: ids("a_in", rows)?,
            b_in: ids("b_in", cols)?,
            valid: model.port("valid")?,
            last: model.port("last")?,
            drain_next: model.port("drain_next")?,
            result: ids("result", cols)?,
            model,
        })
    }

    pub fn model(&self) -> &VerilatedModel {
        &self.model
    }
}

impl crate::array::ArrayBackend for VerilatedArray {
    fn drive(&mut self, step: Option<(&[i8], &[i8], bool)>, drain_next: bool) {
        match step {
            Some((a, b, last)) => {
                for (i, &v) in a.iter().enumerate() {
                    self.model.set(self.a_in[i], u64::from(v as u8));
                }
                for (j, &v) in b.iter().enumerate() {
                    self.model.set(self.b_in[j], u64::from(v as u8));
                }
                self.model.set(self.valid, 1);
                self.model.set(self.last, u64::from(last));
            }
            None => {
                self.model.set(self.valid, 0);
                self.model.set(self.last, 0);
            }
        }
        self.model.set(self.drain_next, u64::from(drain_next));
    }

    fn result(&self, j: usize) -> i32 {
        self.model.get(self.result[j]) as u32 as i32
    }

    fn tick(&mut self) {
        self.model.tick(1);
    }

    fn cycles(&self) -> u64 {
        self.model.cycles()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rust_hdl_port_declarations() {
        let v = "module top(clock,a$0,r);\n    // Module arguments\n    input wire  clock;\n    input wire  [7:0] a$0;\n    output reg  [31:0] r;\n    // Stub signals\n    reg x;\nendmodule\n";
        let ports = top_ports(v, "top").unwrap();
        assert_eq!(
            ports,
            vec![
                Port { name: "clock".into(), width: 1, input: true },
                Port { name: "a$0".into(), width: 8, input: true },
                Port { name: "r".into(), width: 32, input: false },
            ]
        );
        assert_eq!(cpp_name("a$0"), "a__0240");
        assert!(matches!(top_ports(v, "other"), Err(ModelError::NoTop(_))));
    }
}

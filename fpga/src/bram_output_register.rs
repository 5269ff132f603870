//! The ECP5 block RAM's output register, from the flip-flops that follow it.
//!
//! A DP16KD read without its output register (`REGMODE NOREG`, the only
//! form yosys 0.70 infers) takes 5.6 ns from the clock to the data on speed
//! grade 6; with it (`OUTREG`) 0.97 ns (measured on one DP16KD between
//! registers with `nextpnr-ecp5 --speed 6 --sdf`). A register written in
//! the HDL right after the read does not give that back: the placer puts it
//! anywhere, and the read's 5.6 ns then start a wire across the die.
//!
//! So the flow folds such registers into the block RAM, in the netlist
//! yosys wrote: a DP16KD port whose every used data output drives exactly
//! one plain flip-flop (clocked by the port's clock, no clock enable, no
//! reset, starting at zero) gets `REGMODE OUTREG` and drives those
//! flip-flops' outputs itself; the flip-flops go. The output register
//! updates every cycle (`OCE` high) and starts at zero, as they did, so the
//! netlist computes the same values cycle for cycle. The netlist check
//! simulates the folded netlist (see npu_sim::ecp5_cells).

use serde_json::Value;
use std::collections::HashMap;

/// What a fold changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    /// Block RAM ports now with their output register.
    pub ports: usize,
    /// Flip-flops removed (each now a block RAM output register bit).
    pub registers: usize,
}

/// A net bit of a yosys JSON netlist: a number, or a constant ("0", "1", "x").
fn bit(v: &Value) -> Option<u64> {
    v.as_u64()
}

fn is_const(bits: Option<&Value>, value: &str) -> bool {
    matches!(bits.and_then(Value::as_array).map(Vec::as_slice), Some([Value::String(s)]) if s == value)
}

/// A parameter's text (yosys marks a string that could read as bits with a
/// trailing space).
fn text<'a>(cell: &'a Value, name: &str) -> &'a str {
    cell["parameters"][name].as_str().unwrap_or("").trim_end()
}

/// A parameter written as binary digits, as a number.
fn number(cell: &Value, name: &str) -> Option<u64> {
    u64::from_str_radix(text(cell, name), 2).ok()
}

/// Whether `cell` is a flip-flop that only delays its input by a cycle of
/// `clock`, starting at zero.
fn plain_register(cell: &Value, clock: u64) -> bool {
    let connections = &cell["connections"];
    let keep = cell["attributes"].get("keep").and_then(Value::as_str).is_some_and(|k| k.contains('1'));
    cell["type"] == "TRELLIS_FF"
        && !keep
        && text(cell, "CLKMUX") == "CLK"
        && connections["CLK"].get(0).and_then(bit) == Some(clock)
        && (text(cell, "CEMUX") == "1" || (text(cell, "CEMUX") == "CE" && is_const(connections.get("CE"), "1")))
        && text(cell, "LSRMUX") == "LSR"
        && (connections.get("LSR").is_none() || is_const(connections.get("LSR"), "0"))
        && text(cell, "REGSET") == "RESET"
}

/// Folds the registers after block RAM reads into the block RAMs, in every
/// module of a yosys JSON netlist.
pub fn fold(netlist: &mut Value) -> Folded {
    let mut folded = Folded::default();
    let Some(modules) = netlist.get_mut("modules").and_then(Value::as_object_mut) else { return folded };
    for module in modules.values_mut() {
        let f = fold_module(module);
        folded.ports += f.ports;
        folded.registers += f.registers;
    }
    folded
}

/// A port to fold: its block RAM, its letter, and each output pin with the
/// register it drives.
type Fold = (String, char, Vec<(String, String)>);

fn fold_module(module: &mut Value) -> Folded {
    let mut folded = Folded::default();
    // Every reader of each net bit: (cell, port), or None for a module port.
    let mut readers: HashMap<u64, Vec<Option<(String, String)>>> = HashMap::new();
    if let Some(ports) = module["ports"].as_object() {
        for port in ports.values() {
            if port["direction"] != "input" {
                for b in port["bits"].as_array().into_iter().flatten().filter_map(bit) {
                    readers.entry(b).or_default().push(None);
                }
            }
        }
    }
    let Some(cells) = module["cells"].as_object() else { return folded };
    for (name, cell) in cells {
        let directions = &cell["port_directions"];
        for (port, bits) in cell["connections"].as_object().into_iter().flatten() {
            if directions[port.as_str()] != "output" {
                for b in bits.as_array().into_iter().flatten().filter_map(bit) {
                    readers.entry(b).or_default().push(Some((name.clone(), port.clone())));
                }
            }
        }
    }
    let mut plans: Vec<Fold> = Vec::new();
    for (name, cell) in cells {
        // The 36-bit form reads port B onto both ports' pins: left alone.
        if cell["type"] != "DP16KD" || number(cell, "DATA_WIDTH_A") == Some(36) || number(cell, "DATA_WIDTH_B") == Some(36) {
            continue;
        }
        let connections = &cell["connections"];
        for letter in ['A', 'B'] {
            let Some(clock) = connections[format!("CLK{letter}")].get(0).and_then(bit) else { continue };
            if text(cell, &format!("REGMODE_{letter}")) != "NOREG"
                || text(cell, &format!("CLK{letter}MUX")) != format!("CLK{letter}")
                || !is_const(connections.get(format!("OCE{letter}")), "1")
                || !is_const(connections.get(format!("RST{letter}")), "0")
            {
                continue;
            }
            let mut pins = Vec::new();
            let mut foldable = true;
            for i in 0..18 {
                let pin = format!("DO{letter}{i}");
                let Some(b) = connections.get(&pin).and_then(|v| v.get(0)).and_then(bit) else { continue };
                match readers.get(&b).map(Vec::as_slice) {
                    None | Some([]) => {}
                    Some([Some((reader, port))]) if port == "DI" && plain_register(&cells[reader], clock) => pins.push((pin, reader.clone())),
                    _ => foldable = false,
                }
            }
            if foldable && !pins.is_empty() {
                plans.push((name.clone(), letter, pins));
            }
        }
    }
    let cells = module["cells"].as_object_mut().expect("checked above");
    for (ram, letter, pins) in plans {
        for (pin, register) in &pins {
            let q = cells[register]["connections"]["Q"].clone();
            cells[&ram]["connections"][pin.as_str()] = q;
            cells.remove(register);
        }
        cells[&ram]["parameters"][format!("REGMODE_{letter}")] = Value::String("OUTREG".into());
        folded.ports += 1;
        folded.registers += pins.len();
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ff(clock: Value, d: u64, q: u64) -> Value {
        json!({
            "type": "TRELLIS_FF",
            "parameters": {"CEMUX": "1 ", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET"},
            "attributes": {},
            "port_directions": {"CLK": "input", "DI": "input", "LSR": "input", "Q": "output"},
            "connections": {"CLK": [clock], "DI": [d], "LSR": ["0"], "Q": [q]}
        })
    }

    /// A DP16KD reading on port B (pins 10, 11) into two registers (Q 20,
    /// 21), clocked by net 2.
    fn netlist() -> Value {
        json!({"modules": {"top": {
            "attributes": {"top": "1"},
            "ports": {"q": {"direction": "output", "bits": [20, 21]}},
            "cells": {
                "ram": {
                    "type": "DP16KD",
                    "parameters": {"DATA_WIDTH_A": "10", "DATA_WIDTH_B": "10", "REGMODE_A": "NOREG", "REGMODE_B": "NOREG", "CLKAMUX": "CLKA", "CLKBMUX": "CLKB"},
                    "attributes": {},
                    "port_directions": {"CLKA": "input", "CLKB": "input", "OCEA": "input", "OCEB": "input", "RSTA": "input", "RSTB": "input", "DOB0": "output", "DOB1": "output", "DOB2": "output", "DOA0": "output"},
                    "connections": {"CLKA": [2], "CLKB": [2], "OCEA": ["1"], "OCEB": ["1"], "RSTA": ["0"], "RSTB": ["0"], "DOB0": [10], "DOB1": [11], "DOB2": [12], "DOA0": [13]}
                },
                "r0": ff(json!(2), 10, 20),
                "r1": ff(json!(2), 11, 21)
            },
            "netnames": {}
        }}})
    }

    #[test]
    fn registers_after_a_read_go_into_the_block_ram() {
        let mut n = netlist();
        assert_eq!(fold(&mut n), Folded { ports: 1, registers: 2 });
        let m = &n["modules"]["top"];
        assert_eq!(m["cells"]["ram"]["parameters"]["REGMODE_B"], "OUTREG");
        assert_eq!(m["cells"]["ram"]["parameters"]["REGMODE_A"], "NOREG");
        assert_eq!(m["cells"]["ram"]["connections"]["DOB0"], json!([20]));
        assert_eq!(m["cells"]["ram"]["connections"]["DOB1"], json!([21]));
        assert!(m["cells"].get("r0").is_none() && m["cells"].get("r1").is_none());
        // Nothing left to fold.
        assert_eq!(fold(&mut n), Folded::default());
    }

    #[test]
    fn a_read_that_anything_else_sees_stays_as_it_is() {
        type Change = fn(&mut Value);
        let cases: Vec<(&str, Change)> = vec![
            ("another reader", |m| m["ports"]["p"] = json!({"direction": "output", "bits": [11]})),
            ("a register on another clock", |m| m["cells"]["r1"]["connections"]["CLK"] = json!([3])),
            ("a clock enable", |m| {
                m["cells"]["r1"]["parameters"]["CEMUX"] = json!("CE");
                m["cells"]["r1"]["connections"]["CE"] = json!([4]);
            }),
            ("a reset", |m| m["cells"]["r1"]["connections"]["LSR"] = json!([4])),
            ("starting at one", |m| m["cells"]["r1"]["parameters"]["REGSET"] = json!("SET")),
            ("a kept register", |m| m["cells"]["r1"]["attributes"]["keep"] = json!("00000000000000000000000000000001")),
            ("an output enable", |m| m["cells"]["ram"]["connections"]["OCEB"] = json!([4])),
            ("a port reset", |m| m["cells"]["ram"]["connections"]["RSTB"] = json!([4])),
            ("the 36-bit form", |m| m["cells"]["ram"]["parameters"]["DATA_WIDTH_B"] = json!("100100")),
        ];
        for (what, change) in cases {
            let mut n = netlist();
            change(&mut n["modules"]["top"]);
            let before = n.clone();
            assert_eq!(fold(&mut n), Folded::default(), "{what}");
            assert_eq!(n, before, "{what}");
        }
    }
}

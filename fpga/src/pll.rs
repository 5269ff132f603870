//! PLL settings for the core clock, computed as Lattice's and the open
//! tools' calculators (icepll, ecppll) do, and checked: the UART divider and
//! every figure in the reports assume the core runs at exactly `core_hz`.

/// iCE40 SB_PLL40 settings (simple feedback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ice40Pll {
    pub divr: u8,
    pub divf: u8,
    pub divq: u8,
    pub filter_range: u8,
    pub out_hz: u64,
}

/// ECP5 EHXPLLL settings (feedback from CLKOP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ecp5Pll {
    pub clki_div: u32,
    pub clkfb_div: u32,
    pub clkop_div: u32,
    pub out_hz: u64,
}

/// The settings whose output is nearest `want` (iCE40 limits: PFD 10-133 MHz,
/// VCO 533-1066 MHz, DIVR 0-15, DIVF 0-127, DIVQ 1-6); an error when none
/// gives `want` exactly, naming the nearest.
pub fn ice40(input_hz: u64, want: u64) -> Result<Ice40Pll, String> {
    let mut best: Option<Ice40Pll> = None;
    for divr in 0..=15u8 {
        let pfd = input_hz as f64 / f64::from(divr + 1);
        if !(10e6..=133e6).contains(&pfd) {
            continue;
        }
        for divf in 0..=127u8 {
            let vco = pfd * f64::from(u16::from(divf) + 1);
            if !(533e6..=1066e6).contains(&vco) {
                continue;
            }
            for divq in 1..=6u8 {
                let num = input_hz * (u64::from(divf) + 1);
                let den = (u64::from(divr) + 1) << divq;
                let out_hz = if num.is_multiple_of(den) { num / den } else { (num as f64 / den as f64).round() as u64 };
                let exact = num.is_multiple_of(den);
                let filter_range = match pfd {
                    p if p < 17e6 => 1,
                    p if p < 26e6 => 2,
                    p if p < 44e6 => 3,
                    p if p < 66e6 => 4,
                    p if p < 101e6 => 5,
                    _ => 6,
                };
                let cand = Ice40Pll { divr, divf, divq, filter_range, out_hz: if exact { out_hz } else { u64::MAX / 2 } };
                let better = best.is_none_or(|b| out_hz.abs_diff(want) < b.out_hz.abs_diff(want));
                if better {
                    best = Some(Ice40Pll { out_hz, ..cand });
                }
                if exact && out_hz == want {
                    return Ok(cand);
                }
            }
        }
    }
    match best {
        Some(b) => Err(format!("the iCE40 PLL cannot make exactly {} Hz from {} Hz; the nearest is {} Hz: set clock.core_hz to a frequency it can make", want, input_hz, b.out_hz)),
        None => Err(format!("the iCE40 PLL cannot run from a {input_hz} Hz input")),
    }
}

/// The settings for `want` on ECP5 (PFD 3.125-400 MHz, VCO 400-800 MHz).
pub fn ecp5(input_hz: u64, want: u64) -> Result<Ecp5Pll, String> {
    let mut nearest: Option<u64> = None;
    for clki_div in 1..=128u32 {
        if !input_hz.is_multiple_of(u64::from(clki_div)) {
            continue;
        }
        let pfd = input_hz / u64::from(clki_div);
        if !(3_125_000..=400_000_000).contains(&pfd) {
            continue;
        }
        for clkfb_div in 1..=80u32 {
            let out_hz = pfd * u64::from(clkfb_div);
            if nearest.is_none_or(|n| out_hz.abs_diff(want) < n.abs_diff(want)) {
                nearest = Some(out_hz);
            }
            if out_hz != want {
                continue;
            }
            for clkop_div in 1..=128u32 {
                let vco = out_hz * u64::from(clkop_div);
                if (400_000_000..=800_000_000).contains(&vco) {
                    return Ok(Ecp5Pll { clki_div, clkfb_div, clkop_div, out_hz });
                }
            }
        }
    }
    Err(format!(
        "the ECP5 PLL cannot make exactly {want} Hz from {input_hz} Hz{}: set clock.core_hz to a frequency it can make",
        nearest.map(|n| format!("; the nearest is {n} Hz")).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icebreaker_48_mhz_is_what_icepll_gives() {
        // icepll -i 12 -o 48: DIVR 0, DIVF 63, DIVQ 4, FILTER_RANGE 1.
        assert_eq!(ice40(12_000_000, 48_000_000), Ok(Ice40Pll { divr: 0, divf: 63, divq: 4, filter_range: 1, out_hz: 48_000_000 }));
        let e = ice40(12_000_000, 47_000_001).unwrap_err();
        assert!(e.contains("nearest"), "{e}");
    }

    #[test]
    fn ulx3s_50_mhz() {
        let p = ecp5(25_000_000, 50_000_000).unwrap();
        assert_eq!(p.out_hz, 50_000_000);
        assert_eq!(25_000_000 / u64::from(p.clki_div) * u64::from(p.clkfb_div), 50_000_000);
        let vco = p.out_hz * u64::from(p.clkop_div);
        assert!((400_000_000..=800_000_000).contains(&vco));
        assert!(ecp5(25_000_000, 48_000_000).unwrap_err().contains("nearest"));
    }
}

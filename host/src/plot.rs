//! SVG charts for the benchmark report (plotters).
//!
//! Every chart has a title (what it measures) and a subtitle (the config and
//! the machine). Axes are linear or logarithmic, with ticks at round values
//! only (0, 20, 40 ...; 1, 2, 4, 8 ...; 0.001, 0.01, 0.1 ...), because
//! plotters' own choice on a transformed axis lands on values such as 74, 84
//! and 97. Legends sit in a panel beside the plot, never on the data.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use std::path::Path;

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// From 0 (or the smallest value, if negative) in steps of 1, 2 or 5 x 10^n.
    Linear,
    /// Powers of two: for sizes such as K, PEs or an array's side.
    Log2,
    /// Decades: for values that span orders of magnitude.
    Log10,
}

/// An axis: its label (with the unit) and its scale.
#[derive(Debug, Clone, Copy)]
pub struct Axis<'a> {
    pub label: &'a str,
    pub scale: Scale,
}

/// The two title lines of a chart.
pub struct Titles {
    /// What the chart measures.
    pub title: String,
    /// The config and the machine it was measured on.
    pub subtitle: String,
}

/// The value's position on the drawn axis (log scales are drawn linearly in
/// the exponent).
fn to_axis(scale: Scale, v: f64) -> f64 {
    match scale {
        Scale::Linear => v,
        Scale::Log2 => v.max(f64::MIN_POSITIVE).log2(),
        Scale::Log10 => v.max(f64::MIN_POSITIVE).log10(),
    }
}

fn from_axis(scale: Scale, a: f64) -> f64 {
    match scale {
        Scale::Linear => a,
        Scale::Log2 => 2f64.powf(a),
        Scale::Log10 => 10f64.powf(a),
    }
}

/// The ticks (in data units) for values from `lo` to `hi`, and the drawn
/// axis range (in axis units) that holds them all.
pub fn ticks(scale: Scale, lo: f64, hi: f64) -> (Vec<f64>, std::ops::Range<f64>) {
    match scale {
        Scale::Linear => {
            let start = if lo >= 0.0 { 0.0 } else { lo };
            let span = (hi - start).max(f64::MIN_POSITIVE);
            // 1, 2 or 5 x 10^n, giving 4 to 10 intervals.
            let raw = span / 5.0;
            let decade = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * decade).find(|s| span / s <= 10.0 && *s >= raw * 0.999).unwrap_or(10.0 * decade);
            let first = (start / step).floor();
            let last = (hi / step).ceil().max(first + 1.0);
            let ticks: Vec<f64> = (0..=(last - first) as i64).map(|i| round_to_step((first + i as f64) * step, step)).collect();
            (ticks, first * step..last * step)
        }
        Scale::Log2 | Scale::Log10 => {
            let (a, b) = (to_axis(scale, lo).floor(), to_axis(scale, hi).ceil());
            let (a, b) = if b > a { (a, b) } else { (a - 1.0, b + 1.0) };
            // At most 12 labels: every power, or every other one.
            let stride = ((b - a) / 12.0).ceil().max(1.0) as i64;
            let ticks = (0..=(b - a) as i64).step_by(stride as usize).map(|i| from_axis(scale, a + i as f64)).collect();
            // A little room past the end ticks, so end markers are whole.
            (ticks, a - 0.15..b + 0.15)
        }
    }
}

/// A multiple of `step`, without the float noise of the multiplication.
fn round_to_step(v: f64, step: f64) -> f64 {
    let decimals = (-step.log10().floor()).max(0.0) as i32 + 1;
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

/// A tick's label: plain digits down to 0.0001, `1e-6` style below.
pub fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1.0 && (v - v.round()).abs() < 1e-9 {
        return format!("{v:.0}");
    }
    if v.abs() >= 1e-4 {
        let s = format!("{v:.6}");
        return s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let e = v.abs().log10().floor() as i32;
    let m = v / 10f64.powi(e);
    if (m - m.round()).abs() < 1e-6 {
        format!("{}e{e}", m.round())
    } else {
        format!("{m:.1}e{e}")
    }
}

/// A linear axis from `lo` to `hi` whose ticks are exactly `ticks`.
struct TickAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl TickAxis {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        TickAxis { lo: range.start, hi: range.end, ticks }
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Grid lines and labels at the ticks only, no light lines between.
        if hint.weight().allow_light_points() {
            vec![]
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

const WIDTH: u32 = 920;
const LEGEND_WIDTH: u32 = 250;

fn color(i: usize) -> RGBColor {
    // Colour-blind-safe (Okabe and Ito).
    const C: [RGBColor; 6] = [RGBColor(0, 114, 178), RGBColor(213, 94, 0), RGBColor(0, 158, 115), RGBColor(204, 121, 167), RGBColor(230, 159, 0), RGBColor(86, 180, 233)];
    C[i % C.len()]
}

/// The subtitle's lines: words wrapped to the chart's width.
fn subtitle_lines(subtitle: &str) -> Vec<String> {
    const CHARS: usize = 135;
    let mut lines: Vec<String> = vec![];
    for word in subtitle.split(' ') {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= CHARS => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The height of the title area: the title and the subtitle's lines.
fn title_height(titles: &Titles) -> u32 {
    40 + 17 * subtitle_lines(&titles.subtitle).len() as u32
}

fn draw_titles<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, titles: &Titles) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.draw(&Text::new(titles.title.clone(), (14, 10), ("sans-serif", 19).into_font().color(&BLACK)))?;
    for (i, line) in subtitle_lines(&titles.subtitle).into_iter().enumerate() {
        area.draw(&Text::new(line, (14, 36 + 17 * i as i32), ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80))))?;
    }
    Ok(())
}

/// A legend: one row per entry, a swatch then the name.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, entries: &[(String, RGBColor, u32)], bars: bool) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    for (i, (name, c, width)) in entries.iter().enumerate() {
        let y = 24 + 24 * i as i32;
        if bars {
            area.draw(&Rectangle::new([(6, y - 7), (26, y + 7)], c.filled()))?;
        } else {
            area.draw(&PathElement::new(vec![(4, y), (28, y)], c.stroke_width(*width)))?;
            area.draw(&Circle::new((16, y), 3, c.filled()))?;
        }
        area.draw(&Text::new(name.clone(), (34, y - 7), ("sans-serif", 13).into_font().color(&BLACK)))?;
    }
    Ok(())
}

/// A line chart with markers.
pub fn line_chart(path: &Path, titles: &Titles, x: Axis, y: Axis, series: &[Series]) -> anyhow::Result<()> {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().copied()).collect();
    if all.is_empty() {
        anyhow::bail!("{}: nothing to plot", titles.title);
    }
    let bounds = |f: fn(&(f64, f64)) -> f64| all.iter().map(f).fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (x_lo, x_hi) = bounds(|p| p.0);
    let (y_lo, y_hi) = bounds(|p| p.1);
    let (x_ticks, x_range) = ticks(x.scale, x_lo, x_hi);
    let (y_ticks, y_range) = ticks(y.scale, y_lo, y_hi);

    let root = SVGBackend::new(path, (WIDTH, 420 + title_height(titles))).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(title_height(titles));
    draw_titles(&top, titles)?;
    let (plot, legend) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            TickAxis::new(x_range, x_ticks.iter().map(|v| to_axis(x.scale, *v)).collect()),
            TickAxis::new(y_range, y_ticks.iter().map(|v| to_axis(y.scale, *v)).collect()),
        )?;
    let (xs, ys) = (x.scale, y.scale);
    chart
        .configure_mesh()
        .x_desc(x.label)
        .y_desc(y.label)
        .x_label_formatter(&|a| tick_label(from_axis(xs, *a)))
        .y_label_formatter(&|a| tick_label(from_axis(ys, *a)))
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 13))
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    let mut entries = vec![];
    for (i, s) in series.iter().enumerate() {
        let c = color(i);
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (to_axis(xs, p.0), to_axis(ys, p.1))).collect();
        // The first series is drawn wide, so that a later one on top of it
        // (on-chip GOPS a hair under the peak) leaves it visible.
        let width = if i == 0 && series.len() > 1 { 4 } else { 2 };
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(width)))?;
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
        entries.push((s.name.clone(), c, width));
    }
    draw_legend(&legend, &entries, false)?;
    root.present()?;
    Ok(())
}

/// One bar of [`bar_chart`].
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Index into the chart's groups: the bar's colour and legend entry.
    pub group: usize,
}

/// Horizontal bars, first at the top, on a log10 value axis (values must be
/// positive), each with its value written past its end.
pub fn bar_chart(path: &Path, titles: &Titles, value_label: &str, bars: &[Bar], groups: &[&str]) -> anyhow::Result<()> {
    if bars.is_empty() || bars.iter().any(|b| b.value <= 0.0 || !b.value.is_finite()) {
        anyhow::bail!("{}: a bar chart on a log axis needs positive values", titles.title);
    }
    let (lo, hi) = bars.iter().fold((f64::MAX, f64::MIN), |(a, b), bar| (a.min(bar.value), b.max(bar.value)));
    // One more decade on the right for the values written past the bars.
    let (x_ticks, x_range) = ticks(Scale::Log10, lo, hi * 10.0);
    let x_start = x_range.start;
    let n = bars.len();
    let height = title_height(titles) + 70 + 28 * n as u32 + 24 * groups.len() as u32 + 16;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(title_height(titles));
    draw_titles(&top, titles)?;
    let (plot, legend) = body.split_vertically(body.dim_in_pixel().1 - 24 * groups.len() as u32 - 16);
    let label_of = |a: f64| -> String {
        let i = n as f64 - a - 0.5;
        if (i - i.round()).abs() < 1e-6 && i >= 0.0 && (i as usize) < n { bars[i.round() as usize].label.clone() } else { String::new() }
    };
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(330)
        .build_cartesian_2d(TickAxis::new(x_range, x_ticks.iter().map(|v| v.log10()).collect()), TickAxis::new(0.0..n as f64, (0..n).map(|i| i as f64 + 0.5).collect()))?;
    chart
        .configure_mesh()
        .x_desc(value_label)
        .x_label_formatter(&|a| tick_label(10f64.powf(*a)))
        .y_label_formatter(&|a| label_of(*a))
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 13))
        .disable_y_mesh()
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    for (i, bar) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let end = bar.value.log10();
        chart.draw_series(std::iter::once(Rectangle::new([(x_start, y + 0.18), (end, y + 0.82)], color(bar.group).filled())))?;
        chart.draw_series(std::iter::once(Text::new(value_text(bar.value), (end + 0.06, y + 0.72), ("sans-serif", 12).into_font().color(&BLACK))))?;
    }
    let entries: Vec<(String, RGBColor, u32)> = groups.iter().enumerate().map(|(i, g)| (g.to_string(), color(i), 0)).collect();
    let (_, legend) = legend.split_horizontally(330);
    draw_legend(&legend, &entries, true)?;
    root.present()?;
    Ok(())
}

/// A value with three significant digits, in plain digits.
pub fn value_text(v: f64) -> String {
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round() {
        let (t, r) = ticks(Scale::Linear, 9.1, 99.9);
        assert_eq!(t, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(r, 0.0..100.0);
        let (t, _) = ticks(Scale::Linear, 41.0, 95.7);
        assert_eq!(t, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let (t, _) = ticks(Scale::Linear, 0.0, 0.3);
        assert_eq!(t, vec![0.0, 0.1, 0.2, 0.3]);
    }

    #[test]
    fn log_ticks_are_powers() {
        let (t, _) = ticks(Scale::Log2, 1.0, 1024.0);
        assert_eq!(t, (0..=10).map(|e| 2f64.powi(e)).collect::<Vec<_>>());
        let (t, _) = ticks(Scale::Log2, 64.0, 256.0);
        assert_eq!(t, vec![64.0, 128.0, 256.0]);
        let (t, r) = ticks(Scale::Log10, 0.002, 1.536);
        assert_eq!(t.iter().map(|v| tick_label(*v)).collect::<Vec<_>>(), vec!["0.001", "0.01", "0.1", "1", "10"]);
        assert!(r.start < -3.0 && r.end > 1.0);
        // A single value still gets an axis around it.
        let (t, _) = ticks(Scale::Log10, 5.0, 5.0);
        assert_eq!(t, vec![1.0, 10.0]);
        let (t, _) = ticks(Scale::Log2, 8.0, 8.0);
        assert_eq!(t, vec![4.0, 8.0, 16.0]);
    }

    #[test]
    fn long_subtitles_wrap() {
        let long = "word ".repeat(60);
        let lines = subtitle_lines(long.trim());
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.len() <= 135));
        assert_eq!(lines.join(" "), long.trim());
    }

    #[test]
    fn labels() {
        assert_eq!(tick_label(1024.0), "1024");
        assert_eq!(tick_label(0.0001), "0.0001");
        assert_eq!(tick_label(1e-6), "1e-6");
        assert_eq!(tick_label(0.5), "0.5");
        assert_eq!(value_text(0.001536), "0.00154");
        assert_eq!(value_text(38.0), "38.0");
        assert_eq!(value_text(190.4), "190");
    }

    #[test]
    fn writes_svgs() {
        let dir = tempfile::tempdir().unwrap();
        let titles = Titles { title: "t".into(), subtitle: "s".into() };
        let p = dir.path().join("c.svg");
        let s = Series { name: "a".into(), points: vec![(1.0, 0.5), (4.0, 0.9), (64.0, 0.99)] };
        line_chart(&p, &titles, Axis { label: "K", scale: Scale::Log2 }, Axis { label: "u", scale: Scale::Linear }, &[s]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("<svg") && text.contains("polyline"), "{}", &text[..200.min(text.len())]);
        let p = dir.path().join("b.svg");
        let bars = [Bar { label: "x".into(), value: 0.0015, group: 0 }, Bar { label: "y".into(), value: 4.0, group: 1 }];
        bar_chart(&p, &titles, "TOPS", &bars, &["ours", "theirs"]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("0.00150") && text.contains("4.00") && text.contains("theirs"));
        assert!(bar_chart(&p, &titles, "TOPS", &[Bar { label: "z".into(), value: 0.0, group: 0 }], &["g"]).is_err());
    }
}

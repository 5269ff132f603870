//! SVG line charts for the benchmark report (plotters).

use plotters::prelude::*;
use std::path::Path;

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart with markers; `log_x` puts x on a log2 scale.
pub fn line_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series], log_x: bool) -> anyhow::Result<()> {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().copied()).collect();
    if all.is_empty() {
        anyhow::bail!("{title}: nothing to plot");
    }
    let fx = |x: f64| if log_x { x.max(1e-9).log2() } else { x };
    let (x0, x1) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(fx(p.0)), b.max(fx(p.0))));
    let y1 = all.iter().fold(0f64, |m, p| m.max(p.1)) * 1.1;
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 - 1.0, x1 + 1.0) };
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, 0f64..y1.max(1e-9))?;
    let x_desc = if log_x { format!("{x_label} (log2)") } else { x_label.to_string() };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_label)
        .x_label_formatter(&|v| if log_x { format!("{:.0}", 2f64.powf(*v)) } else { format!("{v:.0}") })
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (fx(p.0), p.1)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::LowerRight).draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.svg");
        let s = Series { name: "a".into(), points: vec![(1.0, 0.5), (4.0, 0.9), (64.0, 0.99)] };
        line_chart(&p, "t", "K", "utilization", &[s], true).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("<svg") && text.contains("polyline"), "{}", &text[..200.min(text.len())]);
    }
}

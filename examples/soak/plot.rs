//! The soak's SVG: resident memory per second on top, the per-second p99
//! of lookup+output and of the churn calls below (log scale), the end of the
//! warm-up marked on both. `plotters` with its SVG backend only (no fonts:
//! text is left to the SVG viewer). Owns drawing only.

use crate::report::{mib, Row};
use plotters::prelude::*;

type Failure = Box<dyn std::error::Error>;

/// Write the plot of `rows` to `path`.
pub fn write(path: &str, rows: &[Row], warmup: u64) -> Result<(), Failure> {
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(330);
    let t_end = rows.last().map_or(1, |r| r.t).max(1);

    let rss: Vec<(u64, f64)> = rows.iter().map(|r| (r.t, mib(r.rss))).collect();
    let lo = rss.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = rss.iter().map(|p| p.1).fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    // At least 2% of the value either way, so a flat line stays readable.
    let pad = ((hi - lo) * 0.1).max(hi * 0.02).max(1.0);
    let mut c = ChartBuilder::on(&top)
        .caption("resident set (VmRSS)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0..t_end, (lo - pad).max(0.0)..hi + pad)?;
    c.configure_mesh().x_desc("s").y_desc("MiB").draw()?;
    c.draw_series(LineSeries::new(rss, BLUE.stroke_width(2)))?
        .label("RSS")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    c.draw_series(LineSeries::new(
        vec![(warmup, (lo - pad).max(0.0)), (warmup, hi + pad)],
        BLACK.mix(0.6),
    ))?
    .label("end of warm-up")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
    c.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;

    let us = |ns: u64| (ns as f64 / 1e3).max(0.01);
    let pkt: Vec<(u64, f64)> = rows.iter().map(|r| (r.t, us(r.pkt_p99))).collect();
    let churn: Vec<(u64, f64)> = rows.iter().map(|r| (r.t, us(r.churn_p99))).collect();
    let max = pkt.iter().chain(&churn).map(|p| p.1).fold(1.0, f64::max) * 2.0;
    let min = pkt.iter().chain(&churn).map(|p| p.1).fold(max, f64::min) / 2.0;
    let mut c = ChartBuilder::on(&bottom)
        .caption("p99 per second", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0..t_end, (min..max).log_scale())?;
    c.configure_mesh().x_desc("s").y_desc("us").draw()?;
    c.draw_series(LineSeries::new(pkt, RED.stroke_width(2)))?
        .label("lookup_noref + output")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    c.draw_series(LineSeries::new(churn, GREEN.stroke_width(2)))?
        .label("create / update / remove")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
    c.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

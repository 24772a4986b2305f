//! Time-sequence graphs in the style of tcptrace, drawn with `plotters` (SVG backend): per
//! connection, sequence number over time (data segments as vertical bars, retransmissions in
//! crimson with a cross, the ACK line, the receive window line, SACK blocks), and below it
//! cwnd and ssthresh (bytes) and srtt (ms, right axis) over time.
use plotters::prelude::*;

use crate::events::ConnPlot;

/// Colour used only for retransmission marks (tests look for it).
pub const RETX: RGBColor = RGBColor(0xDC, 0x14, 0x3C);
const DATA: RGBColor = RGBColor(0x1f, 0x3f, 0xbf);
const ACK: RGBColor = RGBColor(0x1a, 0x9a, 0x3a);
const WINDOW: RGBColor = RGBColor(0xd9, 0x8c, 0x00);
const SACK: RGBColor = RGBColor(0x8e, 0x44, 0xad);
const SRTT: RGBColor = RGBColor(0x55, 0x55, 0x55);

pub const WIDTH: u32 = 1100;
pub const HEIGHT: u32 = 760;

type Err = Box<dyn std::error::Error>;

fn step(points: &[(f64, f64)], tmax: f64) -> Vec<(f64, f64)> {
    let mut v = Vec::with_capacity(points.len() * 2 + 1);
    let mut last: Option<f64> = None;
    for &(t, y) in points {
        if let Some(l) = last {
            v.push((t, l));
        }
        v.push((t, y));
        last = Some(y);
    }
    if let Some(l) = last {
        v.push((tmax, l));
    }
    v
}

fn fmt_bytes(b: f64) -> String {
    if b >= 1048576.0 {
        format!("{:.1} MiB", b / 1048576.0)
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

/// Draws `conns` one below the other into an SVG document.
pub fn svg(conns: &[ConnPlot]) -> Result<String, Err> {
    let mut s = String::new();
    {
        let n = conns.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT * n)).into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly((n as usize, 1));
        for (c, area) in conns.iter().zip(areas.iter()) {
            draw(c, area)?;
        }
        root.present()?;
    }
    Ok(s)
}

fn draw<DB: DrawingBackend>(c: &ConnPlot, area: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), Err>
where
    DB::ErrorType: 'static,
{
    let (top, bottom) = area.split_vertically(HEIGHT * 62 / 100);
    let (tmin, tmax) = c.window_t.unwrap_or((0.0, c.duration.max(c.data.last().map_or(0.0, |d| d.t)).max(1e-3) * 1.02));
    let ys = || c.data.iter().map(|d| d.end).chain(c.window.iter().map(|w| w.1)).chain(c.acks.iter().map(|a| a.1));
    let ymax = ys().fold(1.0f64, f64::max);
    let ymin = if c.window_t.is_some() {
        c.data.iter().map(|d| d.start).chain(c.acks.iter().map(|a| a.1)).fold(ymax, f64::min)
    } else {
        0.0
    };
    let pad = (ymax - ymin).max(1.0) * 0.03;
    let (ymin, ymax) = ((ymin - pad).max(0.0), ymax + pad);
    let title = format!(
        "{}  data {} ({}), {} segments, {} retransmitted, {:.3} s",
        c.name,
        c.dir,
        fmt_bytes(c.bytes as f64),
        c.data.len(),
        c.retransmissions,
        c.duration
    );
    let mut ch = ChartBuilder::on(&top)
        .caption(&title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(80)
        .build_cartesian_2d(tmin..tmax, ymin..ymax)?;
    ch.configure_mesh()
        .x_desc("time (s)")
        .y_desc("sequence number (bytes from ISN)")
        .y_label_formatter(&|y| fmt_bytes(*y))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    ch.draw_series(LineSeries::new(step(&c.window, tmax), WINDOW.stroke_width(1)))?
        .label("receive window (ack + win)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], WINDOW));
    ch.draw_series(LineSeries::new(step(&c.acks, tmax), ACK.stroke_width(1)))?
        .label("ACK")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ACK));
    ch.draw_series(c.sacks.iter().map(|&(t, l, r)| PathElement::new(vec![(t, l), (t, r)], SACK.stroke_width(3))))?
        .label("SACK block")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], SACK.stroke_width(3)));
    ch.draw_series(
        c.data
            .iter()
            .filter(|d| !d.retransmission)
            .map(|d| PathElement::new(vec![(d.t, d.start), (d.t, d.end)], DATA.stroke_width(1))),
    )?
    .label("data segment")
    .legend(|(x, y)| PathElement::new(vec![(x + 9, y - 6), (x + 9, y + 6)], DATA));
    let retx: Vec<_> = c.data.iter().filter(|d| d.retransmission).collect();
    ch.draw_series(retx.iter().map(|d| PathElement::new(vec![(d.t, d.start), (d.t, d.end)], RETX.stroke_width(2))))?
        .label("retransmission")
        .legend(|(x, y)| Cross::new((x + 9, y), 5, RETX.stroke_width(2)));
    ch.draw_series(retx.iter().map(|d| Cross::new((d.t, d.start), 5, RETX.stroke_width(2))))?;
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    // cwnd / ssthresh (bytes) and srtt (ms).
    let cmax = c.cc.iter().map(|x| x.1.max(x.2.unwrap_or(0.0))).fold(1.0f64, f64::max) * 1.1;
    let rmax = c.cc.iter().map(|x| x.3).fold(0.1f64, f64::max) * 1.1;
    let mut ch = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(80)
        .right_y_label_area_size(60)
        .build_cartesian_2d(tmin..tmax, 0f64..cmax)?
        .set_secondary_coord(tmin..tmax, 0f64..rmax);
    ch.configure_mesh()
        .x_desc("time (s)")
        .y_desc("cwnd, ssthresh")
        .y_label_formatter(&|y| fmt_bytes(*y))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    ch.configure_secondary_axes().y_desc("srtt (ms)").draw()?;
    let cw: Vec<(f64, f64)> = c.cc.iter().map(|x| (x.0, x.1)).collect();
    let ss: Vec<(f64, f64)> = c.cc.iter().filter_map(|x| x.2.map(|s| (x.0, s))).collect();
    let rt: Vec<(f64, f64)> = c.cc.iter().map(|x| (x.0, x.3)).collect();
    ch.draw_series(LineSeries::new(step(&cw, tmax), DATA.stroke_width(2)))?
        .label("cwnd")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], DATA.stroke_width(2)));
    ch.draw_series(LineSeries::new(step(&ss, tmax), WINDOW.stroke_width(2)))?
        .label("ssthresh")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], WINDOW.stroke_width(2)));
    ch.draw_secondary_series(LineSeries::new(step(&rt, tmax), SRTT.stroke_width(1)))?
        .label("srtt (right axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], SRTT));
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

//! The report's SVG charts, drawn with plotters (its SVG backend): one chart per question, both colours on one time axis, vertical marks and a legend.
//!
//! Each colour's line is the only polyline in its colour (the legend shows
//! swatches, the marks use other colours), so after drawing it is wrapped in
//! `<g data-series="<chart>-<colour>" data-points="[[t, v], ...]">` for
//! tests and scripts. Text goes through plotters, which escapes it.
use std::ops::Range;

use plotters::backend::SVGBackend;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::series::{self, Mark, MarkKind};
use crate::rollout::Color as Colour;

/// Okabe-Ito: blue for blue, orange for green (red/green is the common problem).
pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub const GREEN: RGBColor = RGBColor(0xE6, 0x9F, 0x00);

pub fn colour_of(c: Colour) -> RGBColor {
    match c {
        Colour::Blue => BLUE,
        Colour::Green => GREEN,
    }
}

pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// How a mark is drawn: colour, width, dash (None: solid).
pub fn mark_style(k: MarkKind) -> (RGBColor, u32, Option<(u32, u32)>) {
    match k {
        MarkKind::Deploy => (RGBColor(0x33, 0x33, 0x33), 1, Some((2, 3))),
        MarkKind::Step => (RGBColor(0x88, 0x88, 0x88), 1, None),
        MarkKind::Pause => (RGBColor(0xCC, 0x79, 0xA7), 2, Some((6, 4))),
        MarkKind::Gate => (RGBColor(0x00, 0x9E, 0x73), 2, Some((6, 4))),
        MarkKind::Alarm => (RGBColor(0xD5, 0x5E, 0x00), 2, Some((3, 3))),
        MarkKind::Rollback => (RGBColor(0xD5, 0x5E, 0x00), 3, None),
        MarkKind::Retire => (RGBColor(0x56, 0xB4, 0xE9), 2, Some((6, 4))),
        MarkKind::Other => (RGBColor(0xBB, 0xBB, 0xBB), 1, Some((1, 3))),
    }
}

pub const WIDTH: u32 = 1100;
pub const HEIGHT: u32 = 270;
const LEGEND: u32 = 150;

/// One chart: a question, both colours' points, the marks.
pub struct Chart<'a> {
    /// `weight`, `requests`, `errors`, `latency`: the `data-chart` and series names.
    pub id: &'static str,
    pub title: String,
    pub y_desc: String,
    /// Each colour's points; `step` draws them as a step line.
    pub series: [(Colour, Vec<(u64, f64)>); 2],
    pub step: bool,
    /// A fixed top of the y axis (weights: 100).
    pub y_top: Option<f64>,
    /// A metric's period: its value is drawn at the middle of the period.
    pub period_ms: u64,
    pub marks: &'a [Mark],
    pub window: (u64, u64),
}

/// A time axis in ms with ticks on round clock times.
struct TimeAxis(u64, u64);

const NICE_S: [u64; 16] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400,
];

impl Ranged for TimeAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = u64;

    fn map(&self, v: &u64, limit: (i32, i32)) -> i32 {
        let span = (self.1 - self.0).max(1) as f64;
        let f = (*v as f64 - self.0 as f64) / span;
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<u64> {
        let max = hint.max_num_points().max(1) as u64;
        let span = self.1 - self.0;
        let step = NICE_S
            .iter()
            .map(|s| s * 1000)
            .find(|s| span / s <= max)
            .unwrap_or(86_400_000 * span.div_ceil(86_400_000 * max).max(1));
        let first = self.0.div_ceil(step) * step;
        (0..)
            .map(|i| first + i * step)
            .take_while(|t| *t <= self.1)
            .collect()
    }

    fn range(&self) -> Range<u64> {
        self.0..self.1
    }
}

type Fail = String;

fn err<E: std::fmt::Debug>(e: E) -> Fail {
    format!("drawing a chart: {e:?}")
}

/// The chart's points as drawn (a step line is held to the window's end).
fn drawn(c: &Chart, points: &[(u64, f64)]) -> Vec<(u64, f64)> {
    let (from, to) = c.window;
    if c.step {
        let pts: Vec<(u64, f64)> = points
            .iter()
            .map(|&(t, v)| (t.clamp(from, to), v))
            .collect();
        series::steps(&pts, to)
    } else {
        let mid = c.period_ms / 2;
        points
            .iter()
            .map(|&(t, v)| ((t + mid).clamp(from, to), v))
            .collect()
    }
}

/// The chart as an SVG document (no XML prolog), its series tagged.
pub fn svg(c: &Chart) -> Result<String, Fail> {
    let (from, to) = c.window;
    let top = c.y_top.unwrap_or_else(|| {
        let max = c
            .series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|x| x.1))
            .fold(0.0, f64::max);
        if max > 0.0 {
            max * 1.15
        } else {
            1.0
        }
    });
    let (y_lo, y_hi) = if c.y_top.is_some() {
        (-3.0, top + 3.0)
    } else {
        (0.0, top)
    };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                &c.title,
                ("sans-serif", 19).into_font().style(FontStyle::Bold),
            )
            .margin_left(10)
            .margin_right(16)
            .margin_top(6)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(TimeAxis(from, to), y_lo..y_hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(10)
            .y_labels(6)
            .x_label_formatter(&|t| series::clock(*t))
            .y_label_formatter(&|v| number(*v))
            .x_desc("time (UTC)")
            .y_desc(c.y_desc.as_str())
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .light_line_style(RGBColor(0xF0, 0xF0, 0xF0))
            .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
            .draw()
            .map_err(err)?;
        let mut labelled: Vec<(u64, Vec<&str>)> = Vec::new();
        for m in c.marks.iter().filter(|m| MarkKind::DRAWN.contains(&m.kind)) {
            if m.at < from || m.at > to {
                continue;
            }
            let (colour, width, dash) = mark_style(m.kind);
            let line = vec![(m.at, y_lo), (m.at, y_hi)];
            let style = colour.stroke_width(width);
            match dash {
                None => chart.draw_series(std::iter::once(PathElement::new(line, style))),
                Some((on, off)) => chart.draw_series(std::iter::once(DashedPathElement::new(
                    line, on, off, style,
                ))),
            }
            .map_err(err)?;
            if matches!(m.kind, MarkKind::Alarm | MarkKind::Rollback) {
                match labelled.iter_mut().find(|(at, _)| *at == m.at) {
                    Some((_, names)) => names.push(m.kind.as_str()),
                    None => labelled.push((m.at, vec![m.kind.as_str()])),
                }
            }
        }
        for (colour, points) in &c.series {
            let pts = drawn(c, points);
            if pts.is_empty() {
                continue;
            }
            // Where the step lines meet (50/50), blue shows around green.
            let width = if c.step && *colour == Colour::Blue {
                6
            } else {
                3
            };
            let style = colour_of(*colour).stroke_width(width);
            chart
                .draw_series(std::iter::once(PathElement::new(pts, style)))
                .map_err(err)?;
        }
        let label_style = ("sans-serif", 13)
            .into_font()
            .color(&mark_style(MarkKind::Rollback).0);
        for (at, names) in labelled {
            let text = names.join(" + ");
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("\u{a0}\u{a0}{text}"),
                    (at, y_hi - (y_hi - y_lo) * 0.07),
                    label_style.clone(),
                )))
                .map_err(err)?;
        }
        draw_legend(&legend, c.marks)?;
        root.present().map_err(err)?;
    }
    Ok(tag(&buf, c))
}

/// The legend on the right: the two colours, then each kind of mark shown.
fn draw_legend(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    marks: &[Mark],
) -> Result<(), Fail> {
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    let mut y = 40;
    for c in Colour::BOTH {
        area.draw(&Rectangle::new(
            [(6, y - 3), (34, y + 3)],
            colour_of(c).filled(),
        ))
        .map_err(err)?;
        area.draw(&Text::new(c.as_str(), (42, y - 8), font.clone()))
            .map_err(err)?;
        y += 24;
    }
    y += 6;
    for k in MarkKind::DRAWN {
        if !marks.iter().any(|m| m.kind == k) {
            continue;
        }
        let (colour, width, dash) = mark_style(k);
        let style = colour.stroke_width(width);
        let line = vec![(20, y - 10), (20, y + 10)];
        match dash {
            None => area.draw(&PathElement::new(line, style)),
            Some((on, off)) => area.draw(&DashedPathElement::new(line, on, off, style)),
        }
        .map_err(err)?;
        area.draw(&Text::new(k.as_str(), (42, y - 8), font.clone()))
            .map_err(err)?;
        y += 26;
    }
    Ok(())
}

/// An axis number: integers plain, else up to 2 decimals.
fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Marks up what plotters drew: the root `<svg>` gets `data-chart` and an
/// accessible name, each colour's polyline its `<g data-series data-points>`
/// (an empty group when the colour has no points).
fn tag(svg: &str, c: &Chart) -> String {
    let mut out = svg.replacen(
        "<svg ",
        &format!(
            "<svg data-chart=\"{}\" role=\"img\" aria-label=\"{}\" ",
            c.id,
            super::escape(&c.title)
        ),
        1,
    );
    for (colour, points) in &c.series {
        let name = format!("{}-{}", c.id, colour.as_str());
        let data = serde_json::to_string(points).unwrap_or_default();
        let open = format!(
            "<g data-series=\"{name}\" data-colour=\"{}\" data-points=\"{}\">",
            colour.as_str(),
            super::escape(&data)
        );
        let needle = format!("stroke=\"{}\"", hex(colour_of(*colour)));
        let found = out.match_indices("<polyline").map(|(i, _)| i).find(|&i| {
            let end = out[i..].find("/>").map_or(out.len(), |e| i + e + 2);
            out[i..end].contains(&needle)
        });
        match found {
            Some(i) => {
                let end = out[i..].find("/>").map_or(out.len(), |e| i + e + 2);
                out = format!("{}{open}\n{}</g>{}", &out[..i], &out[i..end], &out[end..]);
            }
            None => {
                let at = out.rfind("</svg>").unwrap_or(out.len());
                out.insert_str(at, &format!("{open}</g>\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart<'a>(marks: &'a [Mark], blue: Vec<(u64, f64)>, green: Vec<(u64, f64)>) -> Chart<'a> {
        Chart {
            id: "weight",
            title: "weight per colour".into(),
            y_desc: "weight (%)".into(),
            series: [(Colour::Blue, blue), (Colour::Green, green)],
            step: true,
            y_top: Some(100.0),
            period_ms: 10_000,
            marks,
            window: (0, 300_000),
        }
    }

    #[test]
    fn each_colour_is_one_tagged_polyline_and_marks_are_drawn() {
        let marks = vec![Mark {
            at: 100_000,
            kind: MarkKind::Rollback,
            event: "auto-rollback".into(),
            detail: "x".into(),
        }];
        let s = svg(&chart(
            &marks,
            vec![(0, 100.0), (50_000, 90.0), (100_000, 100.0)],
            vec![(0, 0.0), (50_000, 10.0), (100_000, 0.0)],
        ))
        .unwrap();
        assert!(s.starts_with("<svg data-chart=\"weight\""), "{}", &s[..80]);
        for c in ["blue", "green"] {
            assert_eq!(s.matches(&format!("data-series=\"weight-{c}\"")).count(), 1);
        }
        assert!(s.contains("data-points=\"[[0,100.0],[50000,90.0],[100000,100.0]]\""));
        assert_eq!(s.matches("stroke=\"#0072B2\"").count(), 1);
        assert_eq!(s.matches("stroke=\"#E69F00\"").count(), 1);
        // The rollback line and its legend entry.
        assert_eq!(s.matches("stroke=\"#D55E00\"").count(), 2);
        assert!(s.contains(">\nrollback\n</text>") || s.contains("rollback"));
        // A colour without points still has its (empty) group.
        let s = svg(&chart(&[], vec![(0, 100.0)], vec![])).unwrap();
        assert!(s.contains(
            "<g data-series=\"weight-green\" data-colour=\"green\" data-points=\"[]\"></g>"
        ));
    }

    #[test]
    fn time_ticks_fall_on_round_clock_times() {
        let a = TimeAxis(1_000, 301_000);
        assert_eq!(
            a.key_points(10usize),
            (1..=10).map(|i| i * 30_000).collect::<Vec<_>>()
        );
        assert!(TimeAxis(0, 7_200_000)
            .key_points(10usize)
            .iter()
            .all(|t| t % 900_000 == 0));
    }
}

//! Timeline picture (PNG) like the plugin panel's: instrument × time heat map of the smoothed
//! activations, detected segments outlined, file and model name, a time axis. Drawn with plotters
//! on an in-memory bitmap; text uses the panel's font (Ubuntu Light, embedded), so it renders the
//! same on a headless machine with no fonts installed.

use std::ops::Range;
use std::sync::Once;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::Timeline;
use crate::analysis::segments::cell_edges;
use crate::palette::{self, Rgb};

/// Horizontal resolution of the time axis, and the picture's width limits.
pub const PIXELS_PER_SECOND: f64 = 10.0;
pub const MIN_WIDTH: u32 = 640;
pub const MAX_WIDTH: u32 = 2400;
const ROW_HEIGHT: u32 = 24;
const NAMES_WIDTH: u32 = 130;
const AXIS_HEIGHT: u32 = 40;
const CAPTION_HEIGHT: u32 = 36;
const MARGIN: u32 = 10;
const FONT: &str = "sans-serif";

/// A rendered picture and where its parts are, in pixels.
pub struct Picture {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Horizontal extent of the heat map (time 0 to the end of the file).
    pub plot_x: Range<u32>,
    /// Vertical extent of each instrument's row, in label order (the first at the top).
    pub rows: Vec<Range<u32>>,
}

/// Width for a file of `duration_s` seconds: the names column plus 10 px per second, within
/// [`MIN_WIDTH`, `MAX_WIDTH`].
pub fn width_for(duration_s: f64) -> u32 {
    let w = (NAMES_WIDTH + 2 * MARGIN) as f64 + duration_s.max(0.0) * PIXELS_PER_SECOND;
    (w.round() as u32).clamp(MIN_WIDTH, MAX_WIDTH)
}

pub fn height_for(classes: usize) -> u32 {
    CAPTION_HEIGHT + AXIS_HEIGHT + 2 * MARGIN + ROW_HEIGHT * classes.max(1) as u32
}

fn color(c: Rgb) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        if register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT).is_err() {
            unreachable!("the embedded font parses");
        }
    });
}

/// Seconds as `m:ss` on long files, plain seconds on short ones.
fn time_label(t: f64, long: bool) -> String {
    if long {
        let s = t.round() as u64;
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        format!("{t:.0} s")
    }
}

pub fn render(t: &Timeline) -> Result<Picture, String> {
    register_fonts();
    let a = t.analysis;
    let classes = t.info.num_classes();
    let (width, height) = (width_for(a.duration_s), height_for(classes));
    let duration = a.duration_s.max(1e-3);
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    let (plot_x, rows) = {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root, t, classes, duration).map_err(|e| format!("drawing the picture: {e}"))?
    };
    let mut png = Vec::new();
    let mut enc = png::Encoder::new(&mut png, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(&rgb))
        .map_err(|e| format!("encoding the picture: {e}"))?;
    Ok(Picture {
        png,
        width,
        height,
        plot_x,
        rows,
    })
}

type Layout = (Range<u32>, Vec<Range<u32>>);

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    t: &Timeline,
    classes: usize,
    duration: f64,
) -> Result<Layout, DrawingAreaErrorKind<DB::ErrorType>> {
    let text = |size| (FONT, size).into_font().color(&color(palette::TEXT));
    root.fill(&color(palette::BG))?;
    let caption = format!("{}  ·  {}", t.file_name(), t.info.display_name());
    let mut chart = ChartBuilder::on(root)
        .caption(caption, text(18.0))
        .margin(MARGIN)
        .x_label_area_size(AXIS_HEIGHT)
        .y_label_area_size(NAMES_WIDTH)
        .build_cartesian_2d(0f64..duration, (0..classes).into_segmented())?;
    // Segmented rows count from the bottom; the first label is drawn at the top, as in the panel.
    let row = |class: usize| classes - 1 - class;
    let long = duration > 120.0;
    chart
        .configure_mesh()
        .disable_mesh()
        // Names label rows; tick marks would only point at row boundaries.
        .set_tick_mark_size(LabelAreaPosition::Left, 0)
        .axis_style(color(palette::DIM))
        .label_style(text(14.0))
        .y_labels(classes)
        .y_label_formatter(&|v| match v {
            // Trailing spaces keep the right-aligned names off the axis line.
            SegmentValue::CenterOf(r) if *r < classes => {
                format!("{}  ", t.info.label_names[row(*r)])
            }
            _ => String::new(),
        })
        .x_label_formatter(&|s| time_label(*s, long))
        .draw()?;

    // Each window's cell spans halfway to its neighbours' centres (windows overlap).
    let edges = cell_edges(&t.analysis.windows, duration);
    let cells = t
        .detection
        .activations
        .iter()
        .enumerate()
        .flat_map(|(i, values)| {
            let (x0, x1) = (edges[i], edges[i + 1]);
            values.iter().enumerate().map(move |(class, &v)| {
                let r = row(class);
                let corners = [
                    (x0, SegmentValue::Exact(r)),
                    (x1, SegmentValue::Exact(r + 1)),
                ];
                Rectangle::new(corners, color(palette::heat(v)).filled())
            })
        });
    chart.draw_series(cells)?;
    let outlines = t
        .detection
        .segments
        .iter()
        .filter(|s| s.class < classes)
        .map(|s| {
            let r = row(s.class);
            let corners = [
                (s.start_s, SegmentValue::Exact(r)),
                (s.end_s.min(duration), SegmentValue::Exact(r + 1)),
            ];
            Rectangle::new(corners, color(palette::THRESHOLD).stroke_width(2))
        });
    chart.draw_series(outlines)?;

    let px = |x: f64, r: usize| chart.backend_coord(&(x, SegmentValue::Exact(r)));
    let plot_x = px(0.0, 0).0.max(0) as u32..px(duration, 0).0.max(0) as u32;
    let rows = (0..classes)
        .map(|class| {
            let (top, bottom) = (px(0.0, row(class) + 1).1, px(0.0, row(class)).1);
            top.max(0) as u32..bottom.max(0) as u32
        })
        .collect();
    root.present()?;
    Ok((plot_x, rows))
}

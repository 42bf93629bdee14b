//! The meters: one row per instrument (lit dot and name when detected, activation bar, threshold
//! marker, value, CC number), and the row layout the timeline shares.

use egui::{Align2, CornerRadius, FontId, Painter, Pos2, Rect, Stroke, Vec2};

use super::palette;
use crate::plugin::params::MeterParams;

/// Where the rows go: [name | meter | value | CC] then the timeline, rows aligned.
pub(super) struct Rows {
    pub inner: Rect,
    pub row_h: f32,
    pub name_w: f32,
    pub meter_w: f32,
    pub value_w: f32,
    /// The timeline's area (the rows' right part).
    pub timeline: Rect,
}

impl Rows {
    pub fn layout(rect: Rect, classes: usize) -> Rows {
        let inner = rect.shrink(10.0);
        let axis_h = 18.0;
        let row_h = ((inner.height() - axis_h) / classes.max(1) as f32).clamp(10.0, 40.0);
        let name_w = 118.0;
        let meter_w = (inner.width() * 0.30).clamp(140.0, 300.0);
        let value_w = 40.0;
        let cc_w = 46.0;
        let tl_left = inner.left() + name_w + meter_w + value_w + cc_w + 10.0;
        let timeline = Rect::from_min_max(
            Pos2::new(tl_left, inner.top()),
            Pos2::new(inner.right(), inner.top() + row_h * classes as f32),
        );
        Rows {
            inner,
            row_h,
            name_w,
            meter_w,
            value_w,
            timeline,
        }
    }
}

/// What one meter row shows.
pub(super) struct Meter<'a> {
    pub name: &'a str,
    /// Displayed activation (eased) and the effective threshold, in [0, 1].
    pub value: f32,
    pub threshold: f32,
    pub lit: bool,
}

/// Draws row `i`.
pub(super) fn draw(painter: &Painter, rows: &Rows, i: usize, m: Meter<'_>, params: &MeterParams) {
    let (inner, row_h) = (rows.inner, rows.row_h);
    let y = inner.top() + i as f32 * row_h;
    let font = FontId::proportional((row_h * 0.5).clamp(11.0, 15.0));
    // Name, with a lit dot when detected.
    let dot_c = Pos2::new(inner.left() + 6.0, y + row_h * 0.5);
    painter.circle_filled(
        dot_c,
        (row_h * 0.16).clamp(3.0, 5.0),
        if m.lit {
            palette::LIT_BAR
        } else {
            palette::TRACK
        },
    );
    painter.text(
        Pos2::new(inner.left() + 16.0, y + row_h * 0.5),
        Align2::LEFT_CENTER,
        m.name,
        font,
        if m.lit {
            palette::LIT_TEXT
        } else {
            palette::TEXT
        },
    );
    // Meter track, fill and threshold marker.
    let pad = (row_h * 0.22).max(2.0);
    let bar = Rect::from_min_size(
        Pos2::new(inner.left() + rows.name_w, y + pad),
        Vec2::new(rows.meter_w, row_h - 2.0 * pad),
    );
    painter.rect_filled(bar, CornerRadius::same(3), palette::TRACK);
    let fill = Rect::from_min_size(
        bar.min,
        Vec2::new(bar.width() * m.value.clamp(0.0, 1.0), bar.height()),
    );
    painter.rect_filled(
        fill,
        CornerRadius::same(3),
        if m.lit {
            palette::LIT_BAR
        } else {
            palette::IDLE_BAR
        },
    );
    let tx = bar.left() + bar.width() * m.threshold;
    painter.line_segment(
        [
            Pos2::new(tx, bar.top() - 2.0),
            Pos2::new(tx, bar.bottom() + 2.0),
        ],
        Stroke::new(2.0, palette::THRESHOLD),
    );
    painter.text(
        Pos2::new(bar.right() + rows.value_w, y + row_h * 0.5),
        Align2::RIGHT_CENTER,
        format!("{:.2}", m.value),
        FontId::monospace((row_h * 0.45).clamp(10.0, 13.0)),
        if m.lit {
            palette::LIT_TEXT
        } else {
            palette::DIM
        },
    );
    if params.midi_out.value() {
        let cc = params.first_cc.value() + i as i32;
        if cc <= 127 {
            painter.text(
                Pos2::new(bar.right() + rows.value_w + 8.0, y + row_h * 0.5),
                Align2::LEFT_CENTER,
                format!("CC{cc}"),
                FontId::proportional((row_h * 0.42).clamp(10.0, 12.0)),
                palette::DIM,
            );
        }
    }
}

/// The caption under the meters.
pub(super) fn caption(painter: &Painter, rows: &Rows, y: f32) {
    painter.text(
        Pos2::new(rows.inner.left() + rows.name_w, y),
        Align2::LEFT_TOP,
        "activation, threshold (yellow)",
        FontId::proportional(11.0),
        palette::DIM,
    );
}

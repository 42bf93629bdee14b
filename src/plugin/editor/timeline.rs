//! The heatmap timeline: the last 30 s of smoothed activations, newest at the right, scrolling
//! smoothly between windows, with its time axis.

use std::collections::VecDeque;
use std::sync::Arc;

use egui::{Align2, CornerRadius, FontId, Painter, Pos2, Rect, Stroke};

use super::meters::Rows;
use super::palette;
use crate::plugin::shared::{HistoryEntry, HISTORY_SECONDS};

/// Draws `history` (one entry per window, `hop` seconds apart) for `classes` rows; `since` is how
/// long ago the newest window arrived (the scroll offset). Returns the axis labels' top.
pub(super) fn draw(
    painter: &Painter,
    rows: &Rows,
    classes: usize,
    history: &VecDeque<Arc<HistoryEntry>>,
    hop: f64,
    since: f64,
) -> f32 {
    let tl = rows.timeline;
    painter.rect_filled(tl, CornerRadius::same(3), palette::heat(0.0));
    if let Some(last) = history.back() {
        let t_now = last.time_s + since.min(hop * 1.5);
        let px_per_s = tl.width() as f64 / HISTORY_SECONDS;
        let mut prev_t: Option<f64> = None;
        for e in history {
            let t0 = prev_t.map_or(e.time_s - hop, |p| p.max(e.time_s - hop * 2.0));
            prev_t = Some(e.time_s);
            let x0 = tl.right() as f64 - (t_now - t0) * px_per_s;
            let x1 = tl.right() as f64 - (t_now - e.time_s) * px_per_s;
            if x1 < tl.left() as f64 {
                continue;
            }
            let x0 = (x0 as f32).max(tl.left());
            let x1 = (x1 as f32).min(tl.right());
            for (i, &val) in e.values.iter().enumerate().take(classes) {
                let y = tl.top() + i as f32 * rows.row_h;
                let cell = Rect::from_min_max(
                    Pos2::new(x0, y + 1.0),
                    Pos2::new(x1 + 0.5, y + rows.row_h - 1.0),
                );
                painter.rect_filled(cell, CornerRadius::ZERO, palette::heat(val));
            }
        }
    }
    // Row separators and time axis.
    for i in 1..classes {
        let y = tl.top() + i as f32 * rows.row_h;
        painter.line_segment(
            [Pos2::new(tl.left(), y), Pos2::new(tl.right(), y)],
            Stroke::new(1.0, palette::PANEL),
        );
    }
    let axis_y = tl.bottom() + 3.0;
    for s in [30.0, 20.0, 10.0, 0.0] {
        let x = tl.right() - (s as f32 / HISTORY_SECONDS as f32) * tl.width();
        painter.line_segment(
            [Pos2::new(x, tl.bottom()), Pos2::new(x, axis_y + 3.0)],
            Stroke::new(1.0, palette::DIM),
        );
        let label = if s == 0.0 {
            "now".to_string()
        } else {
            format!("−{s:.0} s")
        };
        let align = if s == 30.0 {
            Align2::LEFT_TOP
        } else if s == 0.0 {
            Align2::RIGHT_TOP
        } else {
            Align2::CENTER_TOP
        };
        painter.text(
            Pos2::new(x, axis_y + 2.0),
            align,
            label,
            FontId::proportional(11.0),
            palette::DIM,
        );
    }
    axis_y + 2.0
}

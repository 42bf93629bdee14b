//! The egui panel: one meter per instrument beside a 30-second heatmap timeline, a status line
//! and the settings. Reads the shared state only; never touches the audio thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use egui::{Align2, Color32, CornerRadius, FontId, Pos2, Rect, RichText, Sense, Stroke, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::{Param, ParamSetter, ResizeHint};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier,
};

use super::params::{MeterParams, MIN_EDITOR_SIZE};
use super::shared::{Shared, HISTORY_SECONDS, MAX_CLASSES};

pub type Editor = EguiEditor<MeterApp>;

/// Builds the editor at the persisted size.
pub fn create(params: Arc<MeterParams>, shared: Arc<Shared>) -> Option<Editor> {
    let (w, h) = *params.editor_size.read().unwrap_or_else(|e| e.into_inner());
    let state = EguiEditorState::from_size(
        LogicalSize::new(
            w.max(MIN_EDITOR_SIZE.0) as f64,
            h.max(MIN_EDITOR_SIZE.1) as f64,
        ),
        1.0,
    );
    let settings = EguiNiceSettings::new()
        .with_tile("Instrument Meter")
        .with_resize_hint(
            ResizeHint::resizable().with_min_logical_size(LogicalSize::new(
                MIN_EDITOR_SIZE.0 as f32,
                MIN_EDITOR_SIZE.1 as f32,
            )),
        );
    let model_path = params.user_model_path().unwrap_or_default();
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        settings,
        MeterApp {
            params,
            shared,
            gui: None,
            display: [0.0; MAX_CLASSES],
            last_frame: None,
            last_windows: 0,
            last_window_at: None,
            model_path,
            show_settings: true,
            settings_h: 170.0,
        },
    )
}

/// Colours: dark neutral background, one accent, a perceptual heatmap ramp.
mod palette {
    use egui::Color32;

    const fn rgb(c: crate::palette::Rgb) -> Color32 {
        Color32::from_rgb(c[0], c[1], c[2])
    }
    pub const BG: Color32 = rgb(crate::palette::BG);
    pub const PANEL: Color32 = Color32::from_rgb(0x1e, 0x21, 0x28);
    pub const TRACK: Color32 = Color32::from_rgb(0x2a, 0x2e, 0x37);
    pub const TEXT: Color32 = rgb(crate::palette::TEXT);
    pub const DIM: Color32 = rgb(crate::palette::DIM);
    pub const IDLE_BAR: Color32 = Color32::from_rgb(0x4a, 0x6f, 0x8f);
    pub const LIT_BAR: Color32 = Color32::from_rgb(0x3d, 0xdc, 0x97);
    pub const LIT_TEXT: Color32 = Color32::from_rgb(0x9c, 0xf5, 0xc8);
    pub const THRESHOLD: Color32 = rgb(crate::palette::THRESHOLD);
    pub const ERROR_BG: Color32 = Color32::from_rgb(0x4a, 0x1f, 0x24);
    pub const ERROR_TEXT: Color32 = Color32::from_rgb(0xff, 0xb4, 0xb4);
    pub const WARN: Color32 = Color32::from_rgb(0xff, 0xc8, 0x57);

    /// Heatmap ramp (the same as the exported timeline picture's).
    pub fn heat(v: f32) -> Color32 {
        let [r, g, b] = crate::palette::heat(v);
        Color32::from_rgb(r, g, b)
    }
}

pub struct MeterApp {
    params: Arc<MeterParams>,
    shared: Arc<Shared>,
    gui: Option<GuiContext>,
    /// Meter values as displayed (eased toward the published activations: no jitter).
    display: [f32; MAX_CLASSES],
    last_frame: Option<Instant>,
    /// Window counter at the last frame, and when it last changed (smooth timeline scrolling).
    last_windows: u64,
    last_window_at: Option<Instant>,
    /// Model path being edited.
    model_path: String,
    show_settings: bool,
    /// Height the settings took last frame (the meters get the rest).
    settings_h: f32,
}

fn fmt_rate(hz: u32) -> String {
    if hz.is_multiple_of(1000) {
        format!("{} kHz", hz / 1000)
    } else {
        format!("{:.2} kHz", hz as f64 / 1000.0)
    }
}

impl NiceEguiApp for MeterApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        let mut style = (*egui_ctx.global_style()).clone();
        style.visuals = egui::Visuals::dark();
        style.visuals.panel_fill = palette::BG;
        style.visuals.window_fill = palette::PANEL;
        style.visuals.override_text_color = Some(palette::TEXT);
        style.spacing.item_spacing = Vec2::new(8.0, 6.0);
        egui_ctx.set_global_style(style);
        self.gui = Some(gui);
        Ok(())
    }

    fn resized(&mut self, size: nice_plug_egui::baseview::WindowSize) {
        let w = size.logical.width.round().max(MIN_EDITOR_SIZE.0 as f64) as u32;
        let h = size.logical.height.round().max(MIN_EDITOR_SIZE.1 as f64) as u32;
        *self
            .params
            .editor_size
            .write()
            .unwrap_or_else(|e| e.into_inner()) = (w, h);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let now = Instant::now();
        let dt = self
            .last_frame
            .map_or(0.0, |t| (now - t).as_secs_f32())
            .min(0.1);
        self.last_frame = Some(now);
        let windows = self.shared.windows_done.load(Ordering::Acquire);
        if windows != self.last_windows || self.last_window_at.is_none() {
            self.last_windows = windows;
            self.last_window_at = Some(now);
        }

        egui::CentralPanel::default()
            .frame(egui::Frame::new().fill(palette::BG).inner_margin(12.0))
            .show(ui, |ui| {
                self.mirror_detections();
                self.header(ui);
                self.banner(ui);
                ui.add_space(4.0);
                let meters_h = (ui.available_height() - self.settings_h - 8.0).max(120.0);
                let (rect, _) = ui
                    .allocate_exact_size(Vec2::new(ui.available_width(), meters_h), Sense::hover());
                self.meters_and_timeline(ui, rect, dt, now);
                ui.add_space(6.0);
                let top = ui.cursor().top();
                self.settings(ui);
                self.settings_h = ui.cursor().top() - top;
            });
        ui.ctx().request_repaint();
    }
}

impl MeterApp {
    /// Writes the detections to the "Detected: …" parameters through the GUI context, which hosts
    /// record as automation (only while the editor is open).
    fn mirror_detections(&self) {
        let Some(gui) = &self.gui else {
            return;
        };
        let n = self
            .shared
            .classes
            .load(Ordering::Acquire)
            .min(self.params.detected.len());
        let bits = self.shared.detected.load(Ordering::Acquire);
        let setter = gui.param_setter();
        for (i, d) in self.params.detected.iter().enumerate() {
            let on = i < n && bits & (1 << i) != 0;
            if d.on.value() != on {
                setter.begin_set_parameter(&d.on);
                setter.set_parameter(&d.on, on);
                setter.end_set_parameter(&d.on);
            }
        }
    }

    fn header(&mut self, ui: &mut egui::Ui) {
        let slow = self.shared.slow();
        let host = self.shared.host_rate.load(Ordering::Relaxed);
        let us = self.shared.inference_us_avg.load();
        ui.horizontal(|ui| {
            ui.label(RichText::new("Instrument Meter").size(18.0).strong());
            ui.add_space(8.0);
            let model = match &slow.status.info {
                Some(info) => format!("{} · {} classes", info.display_name(), info.num_classes()),
                None => "no model".into(),
            };
            ui.label(RichText::new(model).color(palette::DIM));
        });
        ui.horizontal_wrapped(|ui| {
            let mut parts: Vec<String> = Vec::new();
            if host > 0 {
                match &slow.status.info {
                    Some(info) => parts.push(format!(
                        "host {}, model {}",
                        fmt_rate(host),
                        fmt_rate(info.sample_rate)
                    )),
                    None => parts.push(format!("host {}", fmt_rate(host))),
                }
            } else {
                parts.push("not processing".into());
            }
            parts.push(format!("hop {:.2} s", self.params.hop_s.value()));
            if us > 0.0 {
                parts.push(format!("inference {:.1} ms/window", us / 1000.0));
            }
            ui.label(
                RichText::new(parts.join("  ·  "))
                    .color(palette::DIM)
                    .size(12.5),
            );
            let drops = self.shared.drop_status();
            let color = if drops.falling_behind() {
                palette::WARN
            } else {
                palette::DIM
            };
            ui.label(RichText::new(drops.text()).color(color).size(12.5));
        });
    }

    fn banner(&mut self, ui: &mut egui::Ui) {
        let slow = self.shared.slow();
        let (text, bg, fg) = match (&slow.status.error, &slow.status.warning) {
            (Some(e), _) => (
                format!("Not analysing — audio passes through unchanged.\n{e}"),
                palette::ERROR_BG,
                palette::ERROR_TEXT,
            ),
            (None, Some(w)) => (w.clone(), palette::PANEL, palette::WARN),
            _ => return,
        };
        egui::Frame::new()
            .fill(bg)
            .corner_radius(CornerRadius::same(6))
            .inner_margin(8.0)
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.label(RichText::new(text).color(fg).size(12.5));
            });
    }

    fn meters_and_timeline(&mut self, ui: &mut egui::Ui, rect: Rect, dt: f32, now: Instant) {
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, CornerRadius::same(6), palette::PANEL);
        let slow = self.shared.slow();
        let Some(info) = slow.status.info.clone() else {
            painter.text(
                rect.center(),
                Align2::CENTER_CENTER,
                "No model loaded",
                FontId::proportional(16.0),
                palette::DIM,
            );
            return;
        };
        let n = info.num_classes().min(MAX_CLASSES);
        let published = self.shared.classes.load(Ordering::Acquire);
        let detected = self.shared.detected.load(Ordering::Acquire);

        // Layout: [name | meter | value] [timeline], rows aligned.
        let inner = rect.shrink(10.0);
        let axis_h = 18.0;
        let row_h = ((inner.height() - axis_h) / n.max(1) as f32).clamp(10.0, 40.0);
        let name_w = 118.0;
        let meter_w = (inner.width() * 0.30).clamp(140.0, 300.0);
        let value_w = 40.0;
        let cc_w = 46.0;
        let tl_left = inner.left() + name_w + meter_w + value_w + cc_w + 10.0;
        let tl_rect = Rect::from_min_max(
            Pos2::new(tl_left, inner.top()),
            Pos2::new(inner.right(), inner.top() + row_h * n as f32),
        );
        let font = FontId::proportional((row_h * 0.5).clamp(11.0, 15.0));

        // Ease displayed values toward the published ones (≈ 80 ms), so meters never jitter.
        let k = if dt <= 0.0 {
            1.0
        } else {
            1.0 - (-dt / 0.08).exp()
        };
        for i in 0..n {
            let target = if i < published {
                self.shared.activations[i].load()
            } else {
                0.0
            };
            self.display[i] += k * (target - self.display[i]);
        }

        painter.rect_filled(tl_rect, CornerRadius::same(3), palette::heat(0.0));
        for i in 0..n {
            let y = inner.top() + i as f32 * row_h;
            let lit = detected & (1 << i) != 0;
            let v = self.display[i];
            let thr = self.shared.thresholds[i].load();
            // Name, with a lit dot when detected.
            let dot_c = Pos2::new(inner.left() + 6.0, y + row_h * 0.5);
            painter.circle_filled(
                dot_c,
                (row_h * 0.16).clamp(3.0, 5.0),
                if lit {
                    palette::LIT_BAR
                } else {
                    palette::TRACK
                },
            );
            let name = display_name(info.label_names.get(i).map_or("", |s| s.as_str())).to_string();
            painter.text(
                Pos2::new(inner.left() + 16.0, y + row_h * 0.5),
                Align2::LEFT_CENTER,
                name,
                font.clone(),
                if lit {
                    palette::LIT_TEXT
                } else {
                    palette::TEXT
                },
            );
            // Meter track, fill and threshold marker.
            let pad = (row_h * 0.22).max(2.0);
            let m = Rect::from_min_size(
                Pos2::new(inner.left() + name_w, y + pad),
                Vec2::new(meter_w, row_h - 2.0 * pad),
            );
            painter.rect_filled(m, CornerRadius::same(3), palette::TRACK);
            let fill =
                Rect::from_min_size(m.min, Vec2::new(m.width() * v.clamp(0.0, 1.0), m.height()));
            painter.rect_filled(
                fill,
                CornerRadius::same(3),
                if lit {
                    palette::LIT_BAR
                } else {
                    palette::IDLE_BAR
                },
            );
            let tx = m.left() + m.width() * thr;
            painter.line_segment(
                [
                    Pos2::new(tx, m.top() - 2.0),
                    Pos2::new(tx, m.bottom() + 2.0),
                ],
                Stroke::new(2.0, palette::THRESHOLD),
            );
            painter.text(
                Pos2::new(m.right() + value_w, y + row_h * 0.5),
                Align2::RIGHT_CENTER,
                format!("{:.2}", v),
                FontId::monospace((row_h * 0.45).clamp(10.0, 13.0)),
                if lit { palette::LIT_TEXT } else { palette::DIM },
            );
            if self.params.midi_out.value() {
                let cc = self.params.first_cc.value() + i as i32;
                if cc <= 127 {
                    painter.text(
                        Pos2::new(m.right() + value_w + 8.0, y + row_h * 0.5),
                        Align2::LEFT_CENTER,
                        format!("CC{cc}"),
                        FontId::proportional((row_h * 0.42).clamp(10.0, 12.0)),
                        palette::DIM,
                    );
                }
            }
        }

        // Timeline: the last 30 s, newest at the right, scrolling smoothly between windows.
        let hop = self.params.hop_s.value() as f64;
        if let Some(last) = slow.history.back() {
            let since = self
                .last_window_at
                .map_or(0.0, |t| (now - t).as_secs_f64())
                .min(hop * 1.5);
            let t_now = last.time_s + since;
            let px_per_s = tl_rect.width() as f64 / HISTORY_SECONDS;
            let mut prev_t: Option<f64> = None;
            for e in slow.history.iter() {
                let t0 = prev_t.map_or(e.time_s - hop, |p| p.max(e.time_s - hop * 2.0));
                prev_t = Some(e.time_s);
                let x0 = tl_rect.right() as f64 - (t_now - t0) * px_per_s;
                let x1 = tl_rect.right() as f64 - (t_now - e.time_s) * px_per_s;
                if x1 < tl_rect.left() as f64 {
                    continue;
                }
                let x0 = (x0 as f32).max(tl_rect.left());
                let x1 = (x1 as f32).min(tl_rect.right());
                for (i, &val) in e.values.iter().enumerate().take(n) {
                    let y = tl_rect.top() + i as f32 * row_h;
                    let cell = Rect::from_min_max(
                        Pos2::new(x0, y + 1.0),
                        Pos2::new(x1 + 0.5, y + row_h - 1.0),
                    );
                    painter.rect_filled(cell, CornerRadius::ZERO, palette::heat(val));
                }
            }
        }
        // Row separators and time axis.
        for i in 1..n {
            let y = tl_rect.top() + i as f32 * row_h;
            painter.line_segment(
                [Pos2::new(tl_rect.left(), y), Pos2::new(tl_rect.right(), y)],
                Stroke::new(1.0, palette::PANEL),
            );
        }
        let axis_y = tl_rect.bottom() + 3.0;
        for s in [30.0, 20.0, 10.0, 0.0] {
            let x = tl_rect.right() - (s as f32 / HISTORY_SECONDS as f32) * tl_rect.width();
            painter.line_segment(
                [Pos2::new(x, tl_rect.bottom()), Pos2::new(x, axis_y + 3.0)],
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
        painter.text(
            Pos2::new(inner.left() + name_w, axis_y + 2.0),
            Align2::LEFT_TOP,
            "activation, threshold (yellow)",
            FontId::proportional(11.0),
            palette::DIM,
        );
        let _ = ui;
    }

    fn settings(&mut self, ui: &mut egui::Ui) {
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        let label = if self.show_settings {
            "Hide settings"
        } else {
            "Settings"
        };
        if ui
            .selectable_label(self.show_settings, RichText::new(label).strong())
            .clicked()
        {
            self.show_settings = !self.show_settings;
        }
        if !self.show_settings {
            return;
        }
        let p = self.params.clone();
        // Three groups side by side: analysis, MIDI, gates. Each cell: name, slider, value.
        let cell_w = ((ui.available_width() - 24.0) / 3.0).max(160.0);
        let slider_w = (cell_w - LABEL_W - VALUE_W - 12.0).max(50.0);
        let columns: [&[&dyn SettingRow]; 3] = [
            &[&p.sensitivity, &p.attack_ms, &p.release_ms, &p.hop_s],
            &[&p.midi_out, &p.midi_channel, &p.first_cc, &p.source],
            &[&p.gate_mode, &p.hysteresis, &p.first_note],
        ];
        ui.horizontal_top(|ui| {
            for (c, rows) in columns.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.set_width(cell_w);
                    egui::Grid::new(("settings", c))
                        .num_columns(3)
                        .spacing([6.0, 5.0])
                        .min_col_width(0.0)
                        .show(ui, |ui| {
                            for row in rows.iter() {
                                row.show(ui, &setter, slider_w);
                                ui.end_row();
                            }
                        });
                });
                if c < 2 {
                    ui.add_space(8.0);
                }
            }
        });
        ui.add_space(2.0);
        ui.horizontal(|ui| {
            row_label(ui, "Model");
            let w = (ui.available_width() - 130.0).max(120.0);
            ui.add(
                egui::TextEdit::singleline(&mut self.model_path)
                    .hint_text("empty: embedded default model; or the path of a .onnx file")
                    .desired_width(w),
            );
            if ui.button("Load").clicked() {
                self.apply_model_path();
            }
            if ui.button("Default").clicked() {
                self.model_path.clear();
                self.apply_model_path();
            }
        });
    }

    fn apply_model_path(&mut self) {
        *self
            .params
            .model_path
            .write()
            .unwrap_or_else(|e| e.into_inner()) = self.model_path.trim().to_string();
        self.shared.reload_requested.store(true, Ordering::Release);
    }
}

const LABEL_W: f32 = 96.0;
const VALUE_W: f32 = 64.0;

/// One settings row: name, control, value.
trait SettingRow {
    fn show(&self, ui: &mut egui::Ui, setter: &ParamSetter, slider_w: f32);
}

fn row_label(ui: &mut egui::Ui, name: &str) {
    ui.allocate_ui(Vec2::new(LABEL_W, 18.0), |ui| {
        ui.set_min_width(LABEL_W);
        ui.add(egui::Label::new(RichText::new(name).color(palette::DIM).size(12.5)).truncate());
    });
}

macro_rules! slider_row {
    ($($t:ty),*) => {$(
        impl SettingRow for $t {
            fn show(&self, ui: &mut egui::Ui, setter: &ParamSetter, slider_w: f32) {
                row_label(ui, self.name());
                ui.add(ParamSlider::for_param(self, setter).without_value().with_width(slider_w));
                ui.add(egui::Label::new(RichText::new(self.to_string()).size(12.5)).truncate());
            }
        }
    )*};
}
slider_row!(
    nice_plug::prelude::FloatParam,
    nice_plug::prelude::IntParam,
    nice_plug::prelude::EnumParam<super::params::GateMode>,
    nice_plug::prelude::EnumParam<super::params::Source>
);

impl SettingRow for nice_plug::prelude::BoolParam {
    fn show(&self, ui: &mut egui::Ui, setter: &ParamSetter, _slider_w: f32) {
        row_label(ui, self.name());
        let mut v = self.value();
        let text = if v { "on" } else { "off" };
        if ui.checkbox(&mut v, text).changed() {
            setter.begin_set_parameter(self);
            setter.set_parameter(self, v);
            setter.end_set_parameter(self);
        }
        ui.label("");
    }
}

/// Display names for the IRMAS class codes, for models that carry codes only.
fn display_name(code_or_name: &str) -> &str {
    match code_or_name {
        "cel" => "Cello",
        "cla" => "Clarinet",
        "flu" => "Flute",
        "gac" => "Acoustic guitar",
        "gel" => "Electric guitar",
        "org" => "Organ",
        "pia" => "Piano",
        "sax" => "Saxophone",
        "tru" => "Trumpet",
        "vio" => "Violin",
        "voi" => "Voice",
        other => other,
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<MeterApp>();
    let _ = Color32::BLACK;
}

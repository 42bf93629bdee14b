//! The egui panel: one meter per instrument beside a 30-second heatmap timeline, a status line
//! and the settings. Reads the atomics and the worker's latest panel snapshot (no lock is held
//! while painting); never touches the audio thread. Instrument names are the model's
//! `label_names`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

mod meters;
mod palette;
mod settings;
mod timeline;

use egui::{Align2, CornerRadius, FontId, Rect, RichText, Sense, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::ResizeHint;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier,
};

use self::meters::Rows;
use super::params::{MeterParams, MIN_EDITOR_SIZE};
use super::shared::{Panel, Shared, MAX_CLASSES};

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

        let panel = self.shared.panel();
        egui::CentralPanel::default()
            .frame(egui::Frame::new().fill(palette::BG).inner_margin(12.0))
            .show(ui, |ui| {
                self.mirror_detections();
                self.header(ui, &panel);
                self.banner(ui, &panel);
                ui.add_space(4.0);
                let meters_h = (ui.available_height() - self.settings_h - 8.0).max(120.0);
                let (rect, _) = ui
                    .allocate_exact_size(Vec2::new(ui.available_width(), meters_h), Sense::hover());
                self.meters_and_timeline(ui, rect, &panel, dt, now);
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

    fn header(&mut self, ui: &mut egui::Ui, panel: &Panel) {
        let host = self.shared.host_rate.load(Ordering::Relaxed);
        let us = self.shared.inference_us_avg.load();
        ui.horizontal(|ui| {
            ui.label(RichText::new("Instrument Meter").size(18.0).strong());
            ui.add_space(8.0);
            let model = match &panel.status.info {
                Some(info) => format!("{} · {} classes", info.display_name(), info.num_classes()),
                None => "no model".into(),
            };
            ui.label(RichText::new(model).color(palette::DIM));
        });
        ui.horizontal_wrapped(|ui| {
            let mut parts: Vec<String> = Vec::new();
            if host > 0 {
                match &panel.status.info {
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

    fn banner(&mut self, ui: &mut egui::Ui, panel: &Panel) {
        let (text, bg, fg) = match (&panel.status.error, &panel.status.warning) {
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

    fn meters_and_timeline(
        &mut self,
        ui: &mut egui::Ui,
        rect: Rect,
        panel: &Panel,
        dt: f32,
        now: Instant,
    ) {
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, CornerRadius::same(6), palette::PANEL);
        let Some(info) = &panel.status.info else {
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
        let rows = Rows::layout(rect, n);

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
        for i in 0..n {
            let meter = meters::Meter {
                name: &info.label_names[i],
                value: self.display[i],
                threshold: self.shared.thresholds[i].load(),
                lit: detected & (1 << i) != 0,
            };
            meters::draw(&painter, &rows, i, meter, &self.params);
        }
        let since = self.last_window_at.map_or(0.0, |t| (now - t).as_secs_f64());
        let hop = self.params.hop_s.value() as f64;
        let axis_y = timeline::draw(&painter, &rows, n, &panel.history, hop, since);
        meters::caption(&painter, &rows, axis_y);
    }
}
#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<MeterApp>();
}

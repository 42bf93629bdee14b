//! The settings under the meters: analysis, MIDI and gate parameters as rows of name, control and
//! value, and the model path.

use std::sync::atomic::Ordering;

use egui::{RichText, Vec2};
use nice_plug::prelude::{Param, ParamSetter};
use nice_plug_egui::widgets::ParamSlider;

use super::{palette, MeterApp};

impl MeterApp {
    pub(super) fn settings(&mut self, ui: &mut egui::Ui) {
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
    nice_plug::prelude::EnumParam<crate::plugin::params::GateMode>,
    nice_plug::prelude::EnumParam<crate::plugin::params::Source>
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

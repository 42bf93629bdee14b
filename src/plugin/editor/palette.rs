//! The panel's colours: dark neutral background, one accent, a perceptual heatmap ramp. Those the
//! exported timeline picture shares live in `crate::palette`.

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

/// Heatmap ramp (the same as the exported timeline picture's, `crate::palette`).
pub fn heat(v: f32) -> Color32 {
    rgb(crate::palette::heat(v))
}

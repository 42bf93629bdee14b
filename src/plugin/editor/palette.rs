//! The panel's colours: dark neutral background, one accent, a perceptual heatmap ramp.

use egui::Color32;

pub const BG: Color32 = Color32::from_rgb(0x16, 0x18, 0x1d);
pub const PANEL: Color32 = Color32::from_rgb(0x1e, 0x21, 0x28);
pub const TRACK: Color32 = Color32::from_rgb(0x2a, 0x2e, 0x37);
pub const TEXT: Color32 = Color32::from_rgb(0xe6, 0xe8, 0xec);
pub const DIM: Color32 = Color32::from_rgb(0x8a, 0x90, 0x9c);
pub const IDLE_BAR: Color32 = Color32::from_rgb(0x4a, 0x6f, 0x8f);
pub const LIT_BAR: Color32 = Color32::from_rgb(0x3d, 0xdc, 0x97);
pub const LIT_TEXT: Color32 = Color32::from_rgb(0x9c, 0xf5, 0xc8);
pub const THRESHOLD: Color32 = Color32::from_rgb(0xff, 0xd1, 0x66);
pub const ERROR_BG: Color32 = Color32::from_rgb(0x4a, 0x1f, 0x24);
pub const ERROR_TEXT: Color32 = Color32::from_rgb(0xff, 0xb4, 0xb4);
pub const WARN: Color32 = Color32::from_rgb(0xff, 0xc8, 0x57);

/// Heatmap ramp (dark blue → teal → green → yellow), readable on the dark background.
pub fn heat(v: f32) -> Color32 {
    const STOPS: [(f32, [u8; 3]); 5] = [
        (0.0, [0x1e, 0x21, 0x28]),
        (0.25, [0x25, 0x3b, 0x6e]),
        (0.5, [0x1f, 0x7a, 0x8c]),
        (0.75, [0x3d, 0xc4, 0x7e]),
        (1.0, [0xf4, 0xe8, 0x5c]),
    ];
    let v = v.clamp(0.0, 1.0);
    for w in STOPS.windows(2) {
        let (a, ca) = w[0];
        let (b, cb) = w[1];
        if v <= b {
            let t = (v - a) / (b - a);
            let mix = |i: usize| (ca[i] as f32 + t * (cb[i] as f32 - ca[i] as f32)).round() as u8;
            return Color32::from_rgb(mix(0), mix(1), mix(2));
        }
    }
    Color32::from_rgb(0xf4, 0xe8, 0x5c)
}

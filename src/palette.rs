//! The panel's colours as plain RGB, shared by the plugin editor and the timeline picture export
//! so both look alike.

pub type Rgb = [u8; 3];

pub const BG: Rgb = [0x16, 0x18, 0x1d];
pub const TEXT: Rgb = [0xe6, 0xe8, 0xec];
pub const DIM: Rgb = [0x8a, 0x90, 0x9c];
/// The accent for thresholds and detected segments.
pub const THRESHOLD: Rgb = [0xff, 0xd1, 0x66];

/// Heatmap ramp (dark blue → teal → green → yellow), readable on the dark background.
pub fn heat(v: f32) -> Rgb {
    const STOPS: [(f32, Rgb); 5] = [
        (0.0, [0x1e, 0x21, 0x28]),
        (0.25, [0x25, 0x3b, 0x6e]),
        (0.5, [0x1f, 0x7a, 0x8c]),
        (0.75, [0x3d, 0xc4, 0x7e]),
        (1.0, [0xf4, 0xe8, 0x5c]),
    ];
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    for w in STOPS.windows(2) {
        let (a, ca) = w[0];
        let (b, cb) = w[1];
        if v <= b {
            let t = (v - a) / (b - a);
            return std::array::from_fn(|i| {
                (ca[i] as f32 + t * (cb[i] as f32 - ca[i] as f32)).round() as u8
            });
        }
    }
    STOPS[4].1
}

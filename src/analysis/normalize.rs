//! Window statistics: RMS, the silence floor and the model's input normalisation.

use crate::model::Normalization;

/// RMS floor of the `rms` normalisation (docs/model-contract.md).
pub const RMS_EPSILON: f64 = 1e-8;

/// Root mean square, accumulated in f64 so long windows do not lose precision (four partial
/// sums, so the loop runs as SIMD instead of one long chain of dependent additions).
pub fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let mut acc = [0.0f64; 4];
    let chunks = x.chunks_exact(4);
    let rest: f64 = chunks
        .remainder()
        .iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum();
    for c in chunks {
        for i in 0..4 {
            acc[i] += (c[i] as f64) * (c[i] as f64);
        }
    }
    (((acc[0] + acc[1]) + (acc[2] + acc[3]) + rest) / x.len() as f64).sqrt()
}

/// Converts a level in dBFS (0 dBFS = RMS of 1.0) to a linear RMS value.
pub fn dbfs_to_rms(dbfs: f64) -> f64 {
    10f64.powf(dbfs / 20.0)
}

/// Writes the model input for `window` into `out`. Returns `false` (and leaves `out` untouched)
/// when the window is below the silence floor: such windows score zeros and are not run.
pub fn prepare_window(
    window: &[f32],
    normalization: Normalization,
    silence_floor_rms: f64,
    out: &mut [f32],
) -> bool {
    debug_assert_eq!(window.len(), out.len());
    let level = rms(window);
    if level < silence_floor_rms {
        return false;
    }
    match normalization {
        Normalization::Rms => {
            // One f64 reciprocal, then multiplications (SIMD-friendly, unlike division); the
            // result is within an f32 rounding of the plain division.
            let gain = 1.0 / level.max(RMS_EPSILON);
            for (o, &x) in out.iter_mut().zip(window) {
                *o = (x as f64 * gain) as f32;
            }
        }
        Normalization::None => out.copy_from_slice(window),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_of_known_signals() {
        assert_eq!(rms(&[]), 0.0);
        assert!((rms(&[0.5; 100]) - 0.5).abs() < 1e-12);
        assert!((rms(&[1.0, -1.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn silence_floor_at_minus_60_dbfs() {
        let floor = dbfs_to_rms(-60.0);
        assert!((floor - 1e-3).abs() < 1e-12);
        let mut out = [7.0f32; 4];
        assert!(!prepare_window(
            &[0.0009; 4],
            Normalization::Rms,
            floor,
            &mut out
        ));
        assert_eq!(out, [7.0; 4], "silent windows are not written");
        assert!(!prepare_window(
            &[0.0; 4],
            Normalization::Rms,
            floor,
            &mut out
        ));
        assert!(prepare_window(
            &[0.0011; 4],
            Normalization::Rms,
            floor,
            &mut out
        ));
    }

    #[test]
    fn rms_normalisation_gives_unit_rms() {
        let w: Vec<f32> = (0..1000).map(|i| 0.01 * ((i as f32) * 0.3).sin()).collect();
        let mut out = vec![0.0; w.len()];
        assert!(prepare_window(&w, Normalization::Rms, 0.0, &mut out));
        assert!((rms(&out) - 1.0).abs() < 1e-5);
        // A floor of 0 must still never divide by zero.
        let mut z = [1.0f32; 4];
        assert!(prepare_window(&[0.0; 4], Normalization::Rms, 0.0, &mut z));
        assert_eq!(z, [0.0; 4]);
    }

    #[test]
    fn none_normalisation_copies() {
        let mut out = [0.0; 3];
        assert!(prepare_window(
            &[0.5, -0.5, 0.25],
            Normalization::None,
            0.0,
            &mut out
        ));
        assert_eq!(out, [0.5, -0.5, 0.25]);
    }
}

//! Downmixing to mono (mean of channels) with non-finite and absurd samples replaced by 0.

/// Largest sample magnitude analysed: 60 dB over full scale. Float files may exceed ±1; values
/// far beyond are garbage, and near f32::MAX they overflow the channel sum and the resampler's
/// FFT to Inf/NaN (rubato then panics: found by fuzzing, tests/fixtures/fuzz/).
pub const MAX_SAMPLE: f32 = 1000.0;

/// Replaces NaN, ±Inf and samples beyond ±[`MAX_SAMPLE`] by 0 so that one bad sample cannot
/// poison a window's RMS, the resampler or the model. (One comparison: NaN compares false.)
#[inline]
pub fn sanitize(x: f32) -> f32 {
    if x.abs() <= MAX_SAMPLE {
        x
    } else {
        0.0
    }
}

/// Downmixes interleaved frames into `out`; returns the number of frames written
/// (`min(input.len() / channels, out.len())`). A trailing partial frame is ignored.
pub fn downmix_interleaved(input: &[f32], channels: usize, out: &mut [f32]) -> usize {
    assert!(channels > 0, "channel count must be positive");
    let frames = (input.len() / channels).min(out.len());
    if channels == 1 {
        for (o, &x) in out[..frames].iter_mut().zip(input) {
            *o = sanitize(x);
        }
        return frames;
    }
    if channels == 2 {
        // The common case, written out so that it compiles to SIMD (same arithmetic as below).
        for (o, frame) in out[..frames].iter_mut().zip(input.chunks_exact(2)) {
            *o = (sanitize(frame[0]) + sanitize(frame[1])) * 0.5;
        }
        return frames;
    }
    let scale = 1.0 / channels as f32;
    for (o, frame) in out[..frames].iter_mut().zip(input.chunks_exact(channels)) {
        *o = frame.iter().map(|&x| sanitize(x)).sum::<f32>() * scale;
    }
    frames
}

/// Downmixes planar channels (one slice per channel, `offset..offset + out.len()` of each) into `out`.
/// All planes must be at least `offset + out.len()` long.
pub fn downmix_planar(planes: &[&[f32]], offset: usize, out: &mut [f32]) {
    assert!(!planes.is_empty(), "at least one channel");
    let n = out.len();
    out.fill(0.0);
    for plane in planes {
        for (o, &x) in out.iter_mut().zip(&plane[offset..offset + n]) {
            *o += sanitize(x);
        }
    }
    if planes.len() > 1 {
        let scale = 1.0 / planes.len() as f32;
        for o in out.iter_mut() {
            *o *= scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_mean_and_sanitising() {
        let input = [
            1.0,
            0.0,
            f32::NAN,
            0.5,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.25,
            0.25,
        ];
        let mut out = [9.0; 4];
        assert_eq!(downmix_interleaved(&input, 2, &mut out), 4);
        assert_eq!(out, [0.5, 0.25, 0.0, 0.25]);
    }

    #[test]
    fn absurd_samples_are_dropped_and_sums_stay_finite() {
        assert_eq!(sanitize(-MAX_SAMPLE), -MAX_SAMPLE);
        assert_eq!(sanitize(1.5), 1.5);
        assert_eq!(sanitize(1e20), 0.0);
        // Two huge finite channels used to sum to +Inf.
        let input = [f32::MAX, f32::MAX, 0.5, 1e30];
        let mut out = [9.0; 2];
        downmix_interleaved(&input, 2, &mut out);
        assert_eq!(out, [0.0, 0.25]);
    }

    #[test]
    fn interleaved_respects_output_capacity_and_partial_frames() {
        let input = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0];
        let mut out = [0.0; 1];
        assert_eq!(downmix_interleaved(&input, 3, &mut out), 1);
        let mut out = [0.0; 8];
        assert_eq!(downmix_interleaved(&input, 3, &mut out), 2);
        assert_eq!(&out[..2], &[1.0, 2.0]);
    }

    #[test]
    fn planar_matches_interleaved() {
        let l = [0.1, 0.2, f32::NAN, 0.4];
        let r = [0.3, -0.2, 0.5, 0.0];
        let mut a = [0.0; 3];
        downmix_planar(&[&l, &r], 1, &mut a);
        let inter = [0.2, -0.2, f32::NAN, 0.5, 0.4, 0.0];
        let mut b = [0.0; 3];
        downmix_interleaved(&inter, 2, &mut b);
        assert_eq!(a, b);
    }
}

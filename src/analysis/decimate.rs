//! Exact 2:1 downsampling (44.1 kHz files into a 22.05 kHz model) with a linear-phase half-band
//! FIR: about half the cost of the general FFT resampler for the commonest input rate.
//!
//! A half-band filter's taps are zero at every even offset from the centre, whose tap is 1/2, so
//! with `e[i] = x[2i]` and `o[i] = x[2i + 1]` output `k` (centred on input sample `2k`, so there
//! is no delay to compensate) is
//!
//! ```text
//! y[k] = e[k] / 2 + sum_j g[j] * (o[k + j] + o[k - 1 - j]),   j = 0 .. TAPS
//! ```
//!
//! Both `o` terms are contiguous in `k`, so `LANES` consecutive outputs are computed side by side
//! (the compiler vectorises the lanes). Every output uses the same operations in the same order
//! whether it is computed in a group or alone, so the result does not depend on how
//! the caller splits the stream.

/// Non-zero taps on each side of the centre (filter span `4 * TAPS - 1` input samples).
const TAPS: usize = 32;
/// Kaiser β: about 90 dB stop-band attenuation.
const KAISER_BETA: f64 = 8.6;
/// Input frames (sample pairs) held between compactions; bounds the buffers, not the caller's blocks.
const BLOCK: usize = 2048;
/// Outputs computed side by side.
const LANES: usize = 32;

/// Streaming 2:1 decimator. Allocation-free after construction.
pub struct HalfBandDecimator {
    /// `g[j]` for offsets `±(2j + 1)`.
    taps: [f32; TAPS],
    /// Even and odd input samples; local index `p` holds frame `origin + p - TAPS` (the first
    /// `TAPS` frames of a stream are zero history).
    even: Vec<f32>,
    odd: Vec<f32>,
    /// Frames written (local index of the next one).
    fill: usize,
    /// Local index of the next output.
    next: usize,
    /// An even sample waiting for its odd partner (odd-length pushes).
    pending: Option<f32>,
    out: Vec<f32>,
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// Kaiser-windowed sinc with the cutoff at the output Nyquist frequency, scaled so that the taps
/// sum to 1 with the centre tap exactly 1/2 (the half-band property: flat pass band, gain 1/2 at
/// the output Nyquist frequency).
fn design() -> [f32; TAPS] {
    let half_span = (2 * TAPS) as f64;
    let g: Vec<f64> = (0..TAPS)
        .map(|j| {
            let n = (2 * j + 1) as f64;
            let sinc = (std::f64::consts::FRAC_PI_2 * n).sin() / (std::f64::consts::PI * n);
            let r = n / half_span;
            sinc * bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / bessel_i0(KAISER_BETA)
        })
        .collect();
    let scale = 0.25 / g.iter().sum::<f64>();
    std::array::from_fn(|j| (g[j] * scale) as f32)
}

impl Default for HalfBandDecimator {
    fn default() -> Self {
        Self::new()
    }
}

impl HalfBandDecimator {
    pub fn new() -> HalfBandDecimator {
        let cap = TAPS + BLOCK + TAPS + LANES;
        let mut d = HalfBandDecimator {
            taps: design(),
            even: vec![0.0; cap],
            odd: vec![0.0; cap],
            fill: 0,
            next: 0,
            pending: None,
            out: vec![0.0; BLOCK],
        };
        d.reset();
        d
    }

    /// Pushes input; `sink` receives output as it becomes available.
    pub fn push(&mut self, mut input: &[f32], sink: &mut impl FnMut(&[f32])) {
        if let (Some(e), Some(&o)) = (self.pending, input.first()) {
            self.pending = None;
            self.even[self.fill] = e;
            self.odd[self.fill] = o;
            self.fill += 1;
            input = &input[1..];
            self.drain(sink);
        }
        while input.len() >= 2 {
            let n = (self.even.len() - self.fill).min(input.len() / 2);
            let (even, odd) = (
                &mut self.even[self.fill..self.fill + n],
                &mut self.odd[self.fill..self.fill + n],
            );
            for ((e, o), pair) in even.iter_mut().zip(odd).zip(input.chunks_exact(2)) {
                *e = pair[0];
                *o = pair[1];
            }
            self.fill += n;
            input = &input[2 * n..];
            self.drain(sink);
        }
        if let Some(&e) = input.first() {
            self.pending = Some(e);
        }
    }

    /// Zero input samples to push after the end of a stream so that every output centred on
    /// its input has come out.
    pub fn tail(&self) -> usize {
        4 * TAPS + 2
    }

    /// Pushes `n` zeros (the padding after the end of the stream).
    pub fn push_zeros(&mut self, n: usize, sink: &mut impl FnMut(&[f32])) {
        const ZEROS: [f32; 64] = [0.0; 64];
        let mut left = n;
        while left > 0 {
            let m = left.min(ZEROS.len());
            self.push(&ZEROS[..m], sink);
            left -= m;
        }
    }

    pub fn reset(&mut self) {
        self.even[..TAPS].fill(0.0);
        self.odd[..TAPS].fill(0.0);
        self.fill = TAPS;
        self.next = TAPS;
        self.pending = None;
    }

    /// Computes every output whose inputs are all present, then compacts the buffers when full.
    fn drain(&mut self, sink: &mut impl FnMut(&[f32])) {
        // Output q needs odd[q + TAPS - 1].
        let end = (self.fill + 1).saturating_sub(TAPS);
        while self.next < end {
            let n = (end - self.next).min(self.out.len());
            let q0 = self.next;
            let (taps, even, odd) = (&self.taps, &self.even[..], &self.odd[..]);
            let out = &mut self.out[..n];
            let groups = n / LANES * LANES;
            for (g, chunk) in out[..groups].chunks_exact_mut(LANES).enumerate() {
                let y: &mut [f32; LANES] = chunk.try_into().expect("LANES outputs");
                lanes(taps, even, odd, q0 + g * LANES, y);
            }
            for (i, y) in out[groups..].iter_mut().enumerate() {
                *y = one(taps, even, odd, q0 + groups + i);
            }
            self.next += n;
            sink(out);
        }
        if self.fill == self.even.len() {
            // Keep the history the next output needs.
            let from = self.next - TAPS;
            self.even.copy_within(from..self.fill, 0);
            self.odd.copy_within(from..self.fill, 0);
            self.fill -= from;
            self.next -= from;
        }
    }
}

/// Outputs `q .. q + LANES`, side by side.
#[inline]
fn lanes(taps: &[f32; TAPS], even: &[f32], odd: &[f32], q: usize, y: &mut [f32; LANES]) {
    let e: &[f32; LANES] = even[q..q + LANES].try_into().expect("lanes");
    // A local accumulator stays in registers; many lanes keep the adders busy despite each
    // lane's additions depending on the previous one.
    let mut acc = [0.0f32; LANES];
    for l in 0..LANES {
        acc[l] = 0.5 * e[l];
    }
    for (j, &g) in taps.iter().enumerate() {
        let a: &[f32; LANES] = odd[q + j..q + j + LANES].try_into().expect("lanes");
        let b: &[f32; LANES] = odd[q - 1 - j..q - 1 - j + LANES].try_into().expect("lanes");
        for l in 0..LANES {
            acc[l] += g * (a[l] + b[l]);
        }
    }
    *y = acc;
}

/// Output `q` alone, with exactly the operations of one lane of [`lanes`].
#[inline]
fn one(taps: &[f32; TAPS], even: &[f32], odd: &[f32], q: usize) -> f32 {
    let mut y = 0.5 * even[q];
    for (j, &g) in taps.iter().enumerate() {
        y += g * (odd[q + j] + odd[q - 1 - j]);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[f32], block: usize) -> Vec<f32> {
        let mut d = HalfBandDecimator::new();
        let mut out = Vec::new();
        for b in input.chunks(block) {
            d.push(b, &mut |o| out.extend_from_slice(o));
        }
        d.push_zeros(d.tail(), &mut |o| out.extend_from_slice(o));
        out
    }

    fn tone(freq: f64, rate: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin() as f32)
            .collect()
    }

    /// Peak amplitude away from the edges.
    fn amplitude(x: &[f32]) -> f32 {
        x[x.len() / 4..3 * x.len() / 4]
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
    }

    #[test]
    fn passes_the_band_and_stops_aliases() {
        // Pass band: flat up to 85 % of the output Nyquist frequency (11,025 Hz).
        for f in [100.0, 1000.0, 5000.0, 9371.0] {
            let a = amplitude(&run(&tone(f, 44100.0, 88200), 999));
            assert!((a - 1.0).abs() < 1.2e-3, "{f} Hz: gain {a}");
        }
        // Anything that would alias below 85 % of the output Nyquist frequency is removed (> 80 dB).
        for f in [12679.0, 15000.0, 20000.0, 22000.0] {
            let a = amplitude(&run(&tone(f, 44100.0, 88200), 999));
            assert!(a < 1e-4, "{f} Hz: leak {a}");
        }
    }

    #[test]
    fn centred_on_the_input_and_independent_of_blocks() {
        let x = tone(440.0, 44100.0, 44100);
        let y = run(&x, 100_000);
        assert!(y.len() >= 22050);
        // Output k is input sample 2k (a 440 Hz tone is in the flat pass band).
        for k in 1000..2000 {
            assert!((y[k] - x[2 * k]).abs() < 2e-3, "sample {k}");
        }
        for block in [1, 2, 3, 15, 16, 17, 1023, 4096, 4097, 5000] {
            assert_eq!(run(&x, block), y, "block {block}");
        }
    }

    #[test]
    fn half_band_taps() {
        let g = design();
        let dc = 0.5 + 2.0 * g.iter().map(|&t| t as f64).sum::<f64>();
        assert!((dc - 1.0).abs() < 1e-6, "DC gain {dc}");
        assert!(g[0] > 0.3 && g[TAPS - 1].abs() < 1e-4);
    }
}

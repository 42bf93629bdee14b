//! Cutting a mono stream into fixed-length windows every hop.

/// Emits `window`-sample windows every `hop` samples. Allocation-free after construction.
///
/// `hop` may be fractional: window `k` starts at sample `floor(k * hop + 0.5)`, so a hop of
/// 0.25 s at 22.05 kHz stays on the 0.25-s grid instead of drifting by rounding each hop. Only full windows are emitted while
/// streaming; at the end, a stream shorter than one window yields a single zero-padded window so
/// that short clips still get a result. A tail shorter than a hop after the last full window is
/// not analysed.
pub struct Windower {
    window: usize,
    hop: f64,
    buf: Vec<f32>,
    fill: usize,
    /// Samples to drop before the next window starts (when hop > window).
    skip: usize,
    next_index: u64,
    total: u64,
}

/// A window handed to the caller.
pub struct Window<'a> {
    pub index: u64,
    pub samples: &'a [f32],
    /// Real (non-padding) samples in this window.
    pub valid: usize,
}

impl Windower {
    pub fn new(window: usize, hop: f64) -> Windower {
        assert!(
            window > 0 && hop >= 1.0,
            "window must be positive and hop at least one sample"
        );
        Windower {
            window,
            hop,
            buf: vec![0.0; window],
            fill: 0,
            skip: 0,
            next_index: 0,
            total: 0,
        }
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Hop in samples (possibly fractional).
    pub fn hop(&self) -> f64 {
        self.hop
    }

    /// First sample of window `k`.
    pub fn start_of(&self, k: u64) -> u64 {
        (k as f64 * self.hop + 0.5).floor() as u64
    }

    /// Samples pushed since construction or the last reset.
    pub fn total_samples(&self) -> u64 {
        self.total
    }

    pub fn push(&mut self, mut input: &[f32], sink: &mut impl FnMut(Window<'_>)) {
        self.total += input.len() as u64;
        while !input.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(input.len());
                self.skip -= n;
                input = &input[n..];
                continue;
            }
            let n = (self.window - self.fill).min(input.len());
            self.buf[self.fill..self.fill + n].copy_from_slice(&input[..n]);
            self.fill += n;
            input = &input[n..];
            if self.fill == self.window {
                sink(Window {
                    index: self.next_index,
                    samples: &self.buf,
                    valid: self.window,
                });
                let step =
                    (self.start_of(self.next_index + 1) - self.start_of(self.next_index)) as usize;
                self.next_index += 1;
                if step < self.window {
                    self.buf.copy_within(step.., 0);
                    self.fill = self.window - step;
                } else {
                    self.fill = 0;
                    self.skip = step - self.window;
                }
            }
        }
    }

    /// Ends the stream: emits the zero-padded window of a stream shorter than one window, then resets.
    pub fn finish(&mut self, sink: &mut impl FnMut(Window<'_>)) {
        if self.next_index == 0 && self.fill > 0 {
            let valid = self.fill;
            self.buf[valid..].fill(0.0);
            sink(Window {
                index: 0,
                samples: &self.buf,
                valid,
            });
        }
        self.reset();
    }

    pub fn reset(&mut self) {
        self.fill = 0;
        self.skip = 0;
        self.next_index = 0;
        self.total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        window: usize,
        hop: f64,
        input: &[f32],
        block: usize,
    ) -> Vec<(u64, Vec<f32>, usize)> {
        let mut w = Windower::new(window, hop);
        let mut out = Vec::new();
        for b in input.chunks(block) {
            w.push(b, &mut |win| {
                out.push((win.index, win.samples.to_vec(), win.valid))
            });
        }
        w.finish(&mut |win| out.push((win.index, win.samples.to_vec(), win.valid)));
        out
    }

    #[test]
    fn overlapping_windows_start_every_hop() {
        let x: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let out = collect(4, 2.0, &x, 3);
        let starts: Vec<f32> = out.iter().map(|(_, s, _)| s[0]).collect();
        assert_eq!(starts, [0.0, 2.0, 4.0, 6.0]);
        assert_eq!(out[3].1, [6.0, 7.0, 8.0, 9.0]);
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }

    #[test]
    fn hop_longer_than_window_skips() {
        let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let out = collect(2, 5.0, &x, 1);
        let starts: Vec<f32> = out.iter().map(|(_, s, _)| s[0]).collect();
        assert_eq!(starts, [0.0, 5.0, 10.0]);
    }

    #[test]
    fn short_stream_gets_one_padded_window() {
        let out = collect(5, 2.0, &[1.0, 2.0], 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, [1.0, 2.0, 0.0, 0.0, 0.0]);
        assert_eq!(out[0].2, 2);
        assert!(collect(5, 2.0, &[], 1).is_empty());
    }

    #[test]
    fn block_size_does_not_matter() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.1).sin()).collect();
        let a = collect(100, 37.0, &x, 1000);
        for block in [1, 2, 36, 37, 99, 100, 101] {
            assert_eq!(collect(100, 37.0, &x, block), a);
        }
    }

    #[test]
    fn fractional_hop_stays_on_grid() {
        let x: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let starts: Vec<f32> = collect(4, 2.5, &x, 7)
            .iter()
            .map(|(_, s, _)| s[0])
            .collect();
        // floor(k * 2.5 + 0.5): 0, 3, 5, 8, 10, ...
        assert_eq!(&starts[..5], &[0.0, 3.0, 5.0, 8.0, 10.0]);
        assert_eq!(starts.len(), 15);
    }
}

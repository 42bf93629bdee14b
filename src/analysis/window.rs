//! Cutting a mono stream into fixed-length windows every hop.

/// Emits `window`-sample windows starting every `hop` samples. Allocation-free after construction.
///
/// Window `k` covers samples `k * hop .. k * hop + window`. Only full windows are emitted while
/// streaming; at the end, a stream shorter than one window yields a single zero-padded window so
/// that short clips still get a result. A tail shorter than a hop after the last full window is
/// not analysed.
pub struct Windower {
    window: usize,
    hop: usize,
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
    pub fn new(window: usize, hop: usize) -> Windower {
        assert!(window > 0 && hop > 0, "window and hop must be positive");
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

    pub fn hop(&self) -> usize {
        self.hop
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
                self.next_index += 1;
                if self.hop < self.window {
                    self.buf.copy_within(self.hop.., 0);
                    self.fill = self.window - self.hop;
                } else {
                    self.fill = 0;
                    self.skip = self.hop - self.window;
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

    fn collect(window: usize, hop: usize, input: &[f32], block: usize) -> Vec<(u64, Vec<f32>, usize)> {
        let mut w = Windower::new(window, hop);
        let mut out = Vec::new();
        for b in input.chunks(block) {
            w.push(b, &mut |win| out.push((win.index, win.samples.to_vec(), win.valid)));
        }
        w.finish(&mut |win| out.push((win.index, win.samples.to_vec(), win.valid)));
        out
    }

    #[test]
    fn overlapping_windows_start_every_hop() {
        let x: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let out = collect(4, 2, &x, 3);
        let starts: Vec<f32> = out.iter().map(|(_, s, _)| s[0]).collect();
        assert_eq!(starts, [0.0, 2.0, 4.0, 6.0]);
        assert_eq!(out[3].1, [6.0, 7.0, 8.0, 9.0]);
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }

    #[test]
    fn hop_longer_than_window_skips() {
        let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let out = collect(2, 5, &x, 1);
        let starts: Vec<f32> = out.iter().map(|(_, s, _)| s[0]).collect();
        assert_eq!(starts, [0.0, 5.0, 10.0]);
    }

    #[test]
    fn short_stream_gets_one_padded_window() {
        let out = collect(5, 2, &[1.0, 2.0], 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, [1.0, 2.0, 0.0, 0.0, 0.0]);
        assert_eq!(out[0].2, 2);
        assert!(collect(5, 2, &[], 1).is_empty());
    }

    #[test]
    fn block_size_does_not_matter() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.1).sin()).collect();
        let a = collect(100, 37, &x, 1000);
        for block in [1, 2, 36, 37, 99, 100, 101] {
            assert_eq!(collect(100, 37, &x, block), a);
        }
    }
}

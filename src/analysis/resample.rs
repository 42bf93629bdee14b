//! Streaming, drift-free conversion of mono audio to the model's sample rate.
//!
//! Input at exactly twice the model rate (44.1 kHz into a 22.05 kHz model) goes through
//! [`HalfBandDecimator`], which costs a fraction of the general path. Any other ratio uses rubato's synchronous FFT resampler: the ratio is exact (no clock drift over
//! hours of audio) and it is fast and high quality. Input is gathered into fixed chunks, so the
//! output does not depend on how the caller splits the stream. Start-up delays are dropped, so
//! output sample `k` is aligned with input time `k / out_rate`.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::decimate::HalfBandDecimator;

/// Input sample rates the analysis accepts.
pub const INPUT_RATE_RANGE: std::ops::RangeInclusive<u32> = 8_000..=192_000;

/// Input frames per resampler call.
const CHUNK: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported sample rate {0} Hz (supported: 8000 to 192000 Hz)")]
pub struct UnsupportedRate(pub u32);

/// Streaming mono resampler. Allocation-free after construction.
pub struct StreamResampler {
    in_rate: u32,
    out_rate: u32,
    inner: Option<Fft<f32>>,
    decimator: Option<HalfBandDecimator>,
    in_buf: Vec<f32>,
    in_fill: usize,
    out_buf: Vec<f32>,
    /// Output frames still to drop (the resampler's delay).
    to_skip: usize,
    total_in: u64,
    total_out: u64,
}

impl StreamResampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Result<StreamResampler, UnsupportedRate> {
        if !INPUT_RATE_RANGE.contains(&in_rate) {
            return Err(UnsupportedRate(in_rate));
        }
        let decimator = (in_rate == 2 * out_rate).then(HalfBandDecimator::new);
        let (inner, in_buf, out_buf, to_skip) = if in_rate == out_rate || decimator.is_some() {
            (None, Vec::new(), Vec::new(), 0)
        } else {
            let fft = Fft::<f32>::new(
                in_rate as usize,
                out_rate as usize,
                CHUNK,
                1,
                FixedSync::Input,
            )
            .map_err(|_| UnsupportedRate(in_rate))?;
            let in_buf = vec![0.0; fft.input_frames_max()];
            let out_buf = vec![0.0; fft.output_frames_max()];
            let delay = fft.output_delay();
            (Some(fft), in_buf, out_buf, delay)
        };
        Ok(StreamResampler {
            in_rate,
            out_rate,
            inner,
            decimator,
            in_buf,
            in_fill: 0,
            out_buf,
            to_skip,
            total_in: 0,
            total_out: 0,
        })
    }

    pub fn input_rate(&self) -> u32 {
        self.in_rate
    }

    pub fn output_rate(&self) -> u32 {
        self.out_rate
    }

    /// Input frames consumed so far.
    pub fn total_input(&self) -> u64 {
        self.total_in
    }

    /// Pushes mono input; `sink` receives resampled output as it becomes available.
    pub fn push(&mut self, mut input: &[f32], sink: &mut impl FnMut(&[f32])) {
        self.total_in += input.len() as u64;
        if let Some(d) = self.decimator.as_mut() {
            let total_out = &mut self.total_out;
            d.push(input, &mut |out: &[f32]| {
                *total_out += out.len() as u64;
                sink(out)
            });
            return;
        }
        if self.inner.is_none() {
            if !input.is_empty() {
                self.total_out += input.len() as u64;
                sink(input);
            }
            return;
        }
        while !input.is_empty() {
            let n = (self.in_buf.len() - self.in_fill).min(input.len());
            self.in_buf[self.in_fill..self.in_fill + n].copy_from_slice(&input[..n]);
            self.in_fill += n;
            input = &input[n..];
            if self.in_fill == self.in_buf.len() {
                self.process_chunk(None, u64::MAX, sink);
            }
        }
    }

    /// Flushes the remaining input (zero-padded) so that the total output is exactly
    /// `ceil(total_input * out_rate / in_rate)` frames. The resampler is then reset.
    pub fn finish(&mut self, sink: &mut impl FnMut(&[f32])) {
        let expected = (self.total_in * self.out_rate as u64).div_ceil(self.in_rate as u64);
        if let Some(d) = self.decimator.as_mut() {
            let total_out = &mut self.total_out;
            d.push_zeros(d.tail(), &mut |out: &[f32]| {
                let room = expected.saturating_sub(*total_out).min(out.len() as u64) as usize;
                if room > 0 {
                    *total_out += room as u64;
                    sink(&out[..room]);
                }
            });
        } else if self.inner.is_some() {
            // The partial chunk first, then silence until the delayed tail has come out.
            let mut partial = Some(self.in_fill);
            let mut guard = 0;
            while self.total_out < expected && guard < 64 {
                let len = partial.take().unwrap_or(0);
                self.process_chunk(Some(len), expected, sink);
                guard += 1;
            }
        }
        self.reset();
    }

    /// Forgets all state (for a new stream at the same rates).
    pub fn reset(&mut self) {
        if let Some(d) = self.decimator.as_mut() {
            d.reset();
        }
        if let Some(fft) = self.inner.as_mut() {
            fft.reset();
            self.to_skip = fft.output_delay();
        }
        self.in_fill = 0;
        self.total_in = 0;
        self.total_out = 0;
    }

    fn process_chunk(&mut self, partial: Option<usize>, limit: u64, sink: &mut impl FnMut(&[f32])) {
        let fft = self.inner.as_mut().expect("resampler present");
        let frames_in = self.in_buf.len();
        let frames_out = self.out_buf.len();
        let input = InterleavedSlice::new(&self.in_buf[..], 1, frames_in).expect("input adapter");
        let mut output = InterleavedSlice::new_mut(&mut self.out_buf[..], 1, frames_out)
            .expect("output adapter");
        let indexing = partial.map(|len| rubato::Indexing::new().partial_len(len));
        let (_, written) = fft
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .expect("buffers are sized by the resampler itself");
        self.in_fill = 0;
        let skip = self.to_skip.min(written);
        self.to_skip -= skip;
        let mut out = &self.out_buf[skip..written];
        let room = limit.saturating_sub(self.total_out);
        if (out.len() as u64) > room {
            out = &out[..room as usize];
        }
        if !out.is_empty() {
            self.total_out += out.len() as u64;
            sink(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate_in: u32, rate_out: u32, input: &[f32], block: usize) -> Vec<f32> {
        let mut r = StreamResampler::new(rate_in, rate_out).unwrap();
        let mut out = Vec::new();
        for b in input.chunks(block.max(1)) {
            r.push(b, &mut |o| out.extend_from_slice(o));
        }
        r.finish(&mut |o| out.extend_from_slice(o));
        out
    }

    fn sine(rate: u32, freq: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn exact_output_length_for_common_rates() {
        for &rate in &[
            8000u32, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000,
        ] {
            let n = rate as usize * 3 + 77;
            let out = run(rate, 22050, &vec![0.1; n], 4096);
            let expected = (n as u64 * 22050).div_ceil(rate as u64) as usize;
            assert_eq!(out.len(), expected, "rate {rate}");
        }
    }

    #[test]
    fn output_is_independent_of_block_size() {
        let x = sine(44100, 440.0, 44100 * 2 + 13);
        let a = run(44100, 22050, &x, 100_000);
        for block in [1, 7, 512, 1024, 1025, 3000] {
            assert_eq!(run(44100, 22050, &x, block), a, "block {block}");
        }
    }

    #[test]
    fn delay_is_compensated_and_signal_preserved() {
        // A 440 Hz tone resampled to 22.05 kHz must match the tone generated at 22.05 kHz, up to
        // rubato's sub-sample alignment (half an output sample, 23 µs, for non-integer ratios).
        for (rate, block) in [
            (48000u32, 480usize),
            (44100, 441),
            (16000, 160),
            (96000, 4096),
        ] {
            let x = sine(rate, 440.0, rate as usize);
            let y = run(rate, 22050, &x, block);
            let best = [-0.5f32, 0.0, 0.5]
                .iter()
                .map(|lag| {
                    (2000..20000)
                        .map(|i| {
                            let t = (i as f32 + lag) / 22050.0;
                            (y[i] - 0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()).abs()
                        })
                        .fold(0.0f32, f32::max)
                })
                .fold(f32::MAX, f32::min);
            assert!(best < 0.002, "rate {rate}: max error {best}");
        }
    }

    #[test]
    fn same_rate_is_identity() {
        let x = sine(22050, 300.0, 5000);
        assert_eq!(run(22050, 22050, &x, 333), x);
    }

    #[test]
    fn rejects_rates_out_of_range() {
        assert_eq!(
            StreamResampler::new(4000, 22050).err(),
            Some(UnsupportedRate(4000))
        );
        assert_eq!(
            StreamResampler::new(384000, 22050).err(),
            Some(UnsupportedRate(384000))
        );
    }
}

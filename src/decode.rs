//! Streaming audio file decoding (WAV, FLAC, MP3, Ogg Vorbis) with symphonia, packet by packet,
//! so memory stays bounded for arbitrarily long files.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::audio::conv::FromSample;
use symphonia::core::audio::sample::Sample;
use symphonia::core::audio::{Audio, AudioBuffer, GenericAudioBufferRef};
use symphonia::core::codecs::audio::well_known::CODEC_ID_PCM_S16LE;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use crate::analysis::downmix::sanitize;

/// Consecutive undecodable packets tolerated before the file is declared corrupt.
const MAX_BAD_PACKETS: usize = 64;

/// A decoding failure, always naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct DecodeError {
    pub path: PathBuf,
    pub kind: DecodeErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("cannot open file: {0}")]
    Open(std::io::Error),
    #[error("file is empty (0 bytes)")]
    EmptyFile,
    #[error("not a supported audio file (WAV, FLAC, MP3, Ogg Vorbis) or corrupt: {0}")]
    Format(String),
    #[error("file ends before any audio (truncated, or a header with no samples)")]
    EndsInHeader,
    #[error("no audio track")]
    NoAudioTrack,
    #[error("unsupported codec: {0}")]
    Codec(String),
    #[error("corrupt audio data: {0}")]
    Corrupt(String),
    #[error("read error: {0}")]
    Io(std::io::Error),
    #[error("the stream has no sample rate or channel layout")]
    MissingParameters,
    #[error("the sample rate changes mid-stream ({from} Hz to {to} Hz); not supported")]
    RateChange { from: u32, to: u32 },
}

/// An open audio file, decoded block by block into interleaved f32 ([`next_block`]) or straight
/// into the mono mix the analysis uses ([`next_mono`]).
///
/// [`next_block`]: AudioFileReader::next_block
/// [`next_mono`]: AudioFileReader::next_mono
pub struct AudioFileReader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    sample_rate: u32,
    channels: usize,
    total_frames: Option<u64>,
    buf: Vec<f32>,
    /// The mono mix of the last block ([`AudioFileReader::next_mono`]).
    mono: Vec<f32>,
    /// 16-bit little-endian PCM (the commonest WAV): packets are converted here directly, which is
    /// several times faster than symphonia's generic per-frame PCM decoder (same values).
    pcm16: bool,
    bad_packets: usize,
    /// The stream ended with an unexpected end of file (a truncated file).
    ended_early: bool,
}

impl AudioFileReader {
    /// Opens an audio file. Pipes and other non-seekable files (`/dev/stdin`) are read as streams.
    pub fn open(path: &Path) -> Result<AudioFileReader, DecodeError> {
        let err = |kind| DecodeError {
            path: path.to_path_buf(),
            kind,
        };
        let file = File::open(path).map_err(|e| err(DecodeErrorKind::Open(e)))?;
        let meta = file.metadata().map_err(|e| err(DecodeErrorKind::Open(e)))?;
        if meta.is_dir() {
            return Err(err(DecodeErrorKind::Open(std::io::Error::other(
                "is a directory",
            ))));
        }
        // Only a regular file's length is meaningful; a pipe reports 0.
        if meta.is_file() && meta.len() == 0 {
            return Err(err(DecodeErrorKind::EmptyFile));
        }
        let ext = path.extension().and_then(|e| e.to_str());
        Self::from_source(Box::new(file), path, ext)
    }

    /// Decodes audio held in memory; `name` is used in messages and its extension as a format hint.
    pub fn from_bytes(bytes: Vec<u8>, name: &Path) -> Result<AudioFileReader, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError {
                path: name.to_path_buf(),
                kind: DecodeErrorKind::EmptyFile,
            });
        }
        let ext = name.extension().and_then(|e| e.to_str());
        Self::from_source(Box::new(std::io::Cursor::new(bytes)), name, ext)
    }

    fn from_source(
        source: Box<dyn MediaSource>,
        path: &Path,
        ext: Option<&str>,
    ) -> Result<AudioFileReader, DecodeError> {
        let err = |kind| DecodeError {
            path: path.to_path_buf(),
            kind,
        };
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = ext {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    err(DecodeErrorKind::EndsInHeader)
                }
                e => err(DecodeErrorKind::Format(e.to_string())),
            })?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| err(DecodeErrorKind::NoAudioTrack))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| err(DecodeErrorKind::NoAudioTrack))?
            .clone();
        let track_id = track.id;
        let total_frames = track.num_frames;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| err(DecodeErrorKind::Codec(e.to_string())))?;
        let sample_rate = params
            .sample_rate
            .ok_or_else(|| err(DecodeErrorKind::MissingParameters))?;
        // Some streams only reveal their channel layout in the first decoded packet; 0 = unknown yet.
        let channels = params.channels.as_ref().map_or(0, |c| c.count());
        let pcm16 = params.codec == CODEC_ID_PCM_S16LE
            && channels > 0
            && params.bits_per_sample.unwrap_or(16) == 16
            && params.bits_per_coded_sample.unwrap_or(16) == 16;
        Ok(AudioFileReader {
            path: path.to_path_buf(),
            format,
            decoder,
            track_id,
            sample_rate,
            channels,
            total_frames,
            buf: Vec::new(),
            mono: Vec::new(),
            pcm16,
            bad_packets: 0,
            ended_early: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channel count (0 until the first block when the container does not declare it).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frame count declared by the container, if any (used for progress only).
    pub fn total_frames(&self) -> Option<u64> {
        self.total_frames
    }

    /// Whether the stream stopped at an unexpected end of file (known once `next_block` returned
    /// `None`): the file is truncated and only its beginning was decoded.
    pub fn ended_early(&self) -> bool {
        self.ended_early
    }

    /// Decodes the next packet. Returns interleaved samples and the channel count, or `None` at
    /// the end of the stream. Empty packets are skipped.
    pub fn next_block(&mut self) -> Result<Option<(&[f32], usize)>, DecodeError> {
        Ok(self
            .decode_next(Output::Interleaved)?
            .map(|_| (&self.buf[..], self.channels)))
    }

    /// Decodes the next packet straight into its mono mix: the mean of the channels with
    /// non-finite and absurd samples replaced by 0, exactly the values
    /// [`downmix_interleaved`](crate::analysis::downmix::downmix_interleaved) makes of
    /// [`next_block`](AudioFileReader::next_block)'s output, but in one pass over the decoder's
    /// planar buffers (no interleaved copy, no per-frame generic conversion). `None` at the end
    /// of the stream. Returns the mono samples and the block's channel count.
    pub fn next_mono(&mut self) -> Result<Option<(&[f32], usize)>, DecodeError> {
        Ok(self
            .decode_next(Output::Mono)?
            .map(|n| (&self.mono[..n], self.channels)))
    }

    /// Decodes the next non-empty packet into `buf` (interleaved) or `mono`; returns its frames.
    fn decode_next(&mut self, output: Output) -> Result<Option<usize>, DecodeError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                // A truncated file ends early; what was decoded so far is still valid audio.
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.ended_early = true;
                    return Ok(None);
                }
                Err(SymError::IoError(e)) => return Err(self.error(DecodeErrorKind::Io(e))),
                Err(SymError::ResetRequired) => return Ok(None),
                Err(e) => return Err(self.error(DecodeErrorKind::Corrupt(e.to_string()))),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            if self.pcm16 {
                // Whole frames only, as symphonia's decoder; i16 → f32 exactly as symphonia converts.
                let frame_bytes = 2 * self.channels;
                let data = &packet.data[..packet.data.len() / frame_bytes * frame_bytes];
                if data.is_empty() {
                    continue;
                }
                let frames = data.len() / frame_bytes;
                match output {
                    Output::Interleaved => {
                        self.buf.resize(data.len() / 2, 0.0);
                        for (o, b) in self.buf.iter_mut().zip(data.chunks_exact(2)) {
                            *o = pcm16(b);
                        }
                    }
                    Output::Mono => {
                        self.mono.resize(frames, 0.0);
                        downmix_pcm16(data, self.channels, &mut self.mono);
                    }
                }
                return Ok(Some(frames));
            }
            match self.decoder.decode(&packet) {
                Ok(audio) => {
                    self.bad_packets = 0;
                    let frames = audio.frames();
                    if frames == 0 {
                        continue;
                    }
                    let channels = audio.spec().channels().count().max(1);
                    self.channels = channels;
                    match output {
                        Output::Interleaved => {
                            self.buf.resize(audio.samples_interleaved(), 0.0);
                            audio.copy_to_slice_interleaved(&mut self.buf);
                        }
                        Output::Mono => downmix_generic(&audio, &mut self.mono),
                    }
                    // The analysis runs at one rate per file; a stream that switches rates (possible
                    // in MP3) would be analysed at the wrong speed.
                    let rate = audio.spec().rate();
                    if rate != 0 && rate != self.sample_rate {
                        let from = self.sample_rate;
                        return Err(self.error(DecodeErrorKind::RateChange { from, to: rate }));
                    }
                    return Ok(Some(frames));
                }
                Err(SymError::DecodeError(msg)) => {
                    self.bad_packets += 1;
                    if self.bad_packets > MAX_BAD_PACKETS {
                        return Err(self.error(DecodeErrorKind::Corrupt(msg.to_string())));
                    }
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.ended_early = true;
                    return Ok(None);
                }
                Err(e) => return Err(self.error(DecodeErrorKind::Corrupt(e.to_string()))),
            }
        }
    }

    fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            path: self.path.clone(),
            kind,
        }
    }
}

/// What [`AudioFileReader::decode_next`] writes.
#[derive(Clone, Copy)]
enum Output {
    Interleaved,
    Mono,
}

/// One little-endian 16-bit sample as symphonia converts it.
#[inline]
fn pcm16(b: &[u8]) -> f32 {
    f32::from_sample(i16::from_le_bytes([b[0], b[1]]))
}

/// Mono mix of interleaved 16-bit little-endian frames, with `downmix_interleaved`'s arithmetic.
fn downmix_pcm16(data: &[u8], channels: usize, out: &mut [f32]) {
    match channels {
        1 => {
            for (o, b) in out.iter_mut().zip(data.chunks_exact(2)) {
                *o = sanitize(pcm16(b));
            }
        }
        2 => {
            for (o, b) in out.iter_mut().zip(data.chunks_exact(4)) {
                *o = (sanitize(pcm16(&b[..2])) + sanitize(pcm16(&b[2..]))) * 0.5;
            }
        }
        _ => {
            let scale = 1.0 / channels as f32;
            for (o, frame) in out.iter_mut().zip(data.chunks_exact(2 * channels)) {
                *o = frame
                    .chunks_exact(2)
                    .map(|b| sanitize(pcm16(b)))
                    .sum::<f32>()
                    * scale;
            }
        }
    }
}

/// Mono mix of a decoded buffer of any sample format.
fn downmix_generic(audio: &GenericAudioBufferRef<'_>, out: &mut Vec<f32>) {
    match audio {
        GenericAudioBufferRef::U8(b) => downmix_planes(b, out),
        GenericAudioBufferRef::U16(b) => downmix_planes(b, out),
        GenericAudioBufferRef::U24(b) => downmix_planes(b, out),
        GenericAudioBufferRef::U32(b) => downmix_planes(b, out),
        GenericAudioBufferRef::S8(b) => downmix_planes(b, out),
        GenericAudioBufferRef::S16(b) => downmix_planes(b, out),
        GenericAudioBufferRef::S24(b) => downmix_planes(b, out),
        GenericAudioBufferRef::S32(b) => downmix_planes(b, out),
        GenericAudioBufferRef::F32(b) => downmix_planes(b, out),
        GenericAudioBufferRef::F64(b) => downmix_planes(b, out),
    }
}

/// Mean of a planar buffer's channels, each sample converted to f32 as symphonia's
/// `copy_to_slice_interleaved` converts it and sanitised, summed in channel order and scaled as
/// `downmix_interleaved` does: the same values, one pass per channel.
fn downmix_planes<S: Sample>(buf: &AudioBuffer<S>, out: &mut Vec<f32>)
where
    f32: FromSample<S>,
{
    let frames = buf.frames();
    out.resize(frames, 0.0);
    let out = &mut out[..frames];
    let planes = buf.num_planes().max(1);
    let plane = |i: usize| buf.plane(i).unwrap_or(&[]);
    match planes {
        1 => {
            for (o, &x) in out.iter_mut().zip(plane(0)) {
                *o = sanitize(f32::from_sample(x));
            }
        }
        2 => {
            for ((o, &x), &y) in out.iter_mut().zip(plane(0)).zip(plane(1)) {
                *o = (sanitize(f32::from_sample(x)) + sanitize(f32::from_sample(y))) * 0.5;
            }
        }
        _ => {
            // `Iterator::sum` starts from -0.0; so does this.
            out.fill(-0.0);
            for i in 0..planes {
                for (o, &x) in out.iter_mut().zip(plane(i)) {
                    *o += sanitize(f32::from_sample(x));
                }
            }
            let scale = 1.0 / planes as f32;
            for o in out.iter_mut() {
                *o *= scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut r: AudioFileReader) -> Vec<f32> {
        let mut out = Vec::new();
        while let Some((block, _)) = r.next_block().unwrap() {
            out.extend_from_slice(block);
        }
        out
    }

    /// A 16-bit PCM WAV file in memory.
    fn wav16(samples: &[i16], channels: u16) -> Vec<u8> {
        let mut wav = Vec::new();
        let data_len = (samples.len() * 2) as u32;
        let block = 2 * channels;
        for chunk in [
            &b"RIFF"[..],
            &(36 + data_len).to_le_bytes(),
            b"WAVEfmt ",
            &16u32.to_le_bytes(),
            &1u16.to_le_bytes(),
            &channels.to_le_bytes(),
            &44_100u32.to_le_bytes(),
            &(44_100u32 * block as u32).to_le_bytes(),
            &block.to_le_bytes(),
            &16u16.to_le_bytes(),
            b"data",
            &data_len.to_le_bytes(),
        ] {
            wav.extend_from_slice(chunk);
        }
        for s in samples {
            wav.extend_from_slice(&s.to_le_bytes());
        }
        wav
    }

    /// Every block of `next_mono` equals `downmix_interleaved` of the same block from
    /// `next_block` (the path the analysis used before): same values, same block boundaries.
    fn assert_mono_equals_downmixed_interleaved(
        open: impl Fn() -> AudioFileReader,
    ) -> (usize, usize) {
        let (mut a, mut b) = (open(), open());
        let mut frames = 0;
        let mut channels = 0;
        loop {
            let x = a.next_block().unwrap().map(|(s, c)| (s.to_vec(), c));
            let y = b.next_mono().unwrap().map(|(s, c)| (s.to_vec(), c));
            let (Some((inter, ch)), Some((mono, ch2))) = (&x, &y) else {
                assert!(x.is_none() && y.is_none(), "streams end together");
                return (frames, channels);
            };
            assert_eq!(ch, ch2);
            let mut expected = vec![0.0; inter.len() / ch];
            assert_eq!(
                crate::analysis::downmix::downmix_interleaved(inter, *ch, &mut expected),
                mono.len()
            );
            let same = expected
                .iter()
                .zip(mono)
                .all(|(e, m)| e.to_bits() == m.to_bits() || (*e == 0.0 && *m == 0.0));
            assert!(same, "block at frame {frames} differs");
            frames += mono.len();
            channels = *ch;
        }
    }

    #[test]
    fn mono_path_equals_downmix_of_interleaved_path_for_every_fixture_format() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
        let mut seen = Vec::new();
        for name in [
            "cello.wav",
            "cello.flac",
            "cello.mp3",
            "cello.ogg",
            "parity.flac",
            "plugin_cello.flac",
        ] {
            let path = dir.join(name);
            let (frames, _) =
                assert_mono_equals_downmixed_interleaved(|| AudioFileReader::open(&path).unwrap());
            assert!(frames > 10_000, "{name}: {frames} frames");
            seen.push(name);
        }
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn mono_path_equals_downmix_for_pcm16_mono_stereo_and_multichannel() {
        let name = Path::new("test.wav");
        for channels in [1u16, 2, 3, 6] {
            let samples: Vec<i16> = (0..channels as usize * 3001)
                .map(|i| match i {
                    0 => i16::MIN,
                    1 => i16::MAX,
                    2 => -1,
                    _ => ((i * 7919) % 65536) as i32 as i16,
                })
                .collect();
            let wav = wav16(&samples, channels);
            let (frames, ch) = assert_mono_equals_downmixed_interleaved(|| {
                AudioFileReader::from_bytes(wav.clone(), name).unwrap()
            });
            assert_eq!((frames, ch), (3001, channels as usize));
            // Through symphonia's own decoder (planar buffers) too.
            let (frames, _) = assert_mono_equals_downmixed_interleaved(|| {
                let mut r = AudioFileReader::from_bytes(wav.clone(), name).unwrap();
                r.pcm16 = false;
                r
            });
            assert_eq!(frames, 3001);
        }
    }

    #[test]
    fn pcm16_fast_path_equals_symphonia_decoder() {
        // Stereo 16-bit WAV with the extreme values and an odd frame count.
        let samples: Vec<i16> = (0..2 * 5001)
            .map(|i| match i {
                0 => i16::MIN,
                1 => i16::MAX,
                _ => ((i * 7919) % 65536 - 32768) as i16,
            })
            .collect();
        let wav = wav16(&samples, 2);
        let name = Path::new("test.wav");
        let fast = AudioFileReader::from_bytes(wav.clone(), name).unwrap();
        assert!(fast.pcm16);
        let mut generic = AudioFileReader::from_bytes(wav, name).unwrap();
        generic.pcm16 = false;
        let (a, b) = (read_all(fast), read_all(generic));
        assert_eq!(a.len(), samples.len());
        assert_eq!(a, b);
        assert_eq!((a[0], a[1]), (-1.0, 32_767.0 / 32_768.0));
    }
}

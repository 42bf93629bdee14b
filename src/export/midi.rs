//! Standard MIDI File (format 1): a tempo track, then one track per instrument carrying its
//! smoothed activation as a CC lane (the plugin's channel and CC numbering, a value sent when it changes,
//! as the plugin does) and, optionally, a note gate per segment. A DAW imports each track as
//! automation and regions.

use midly::num::{u15, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use super::Timeline;
use crate::midi_map::{self, cc_value, numbered};

/// Ticks per quarter note; at the fixed 120 BPM tempo that is 960 ticks per second (≈ 1 ms).
pub const TICKS_PER_QUARTER: u16 = 480;
pub const MICROS_PER_QUARTER: u32 = 500_000;
pub const TICKS_PER_SECOND: f64 = TICKS_PER_QUARTER as f64 * 1e6 / MICROS_PER_QUARTER as f64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MidiOptions {
    /// 1-based MIDI channel.
    pub channel: u8,
    pub first_cc: u8,
    /// Also write a note per segment (key `first_note + class`, velocity from its peak).
    pub gates: bool,
    pub first_note: u8,
}

impl Default for MidiOptions {
    fn default() -> Self {
        MidiOptions {
            channel: midi_map::DEFAULT_CHANNEL,
            first_cc: midi_map::DEFAULT_FIRST_CC,
            gates: false,
            first_note: midi_map::DEFAULT_FIRST_NOTE,
        }
    }
}

pub fn ticks(seconds: f64) -> u32 {
    (seconds.max(0.0) * TICKS_PER_SECOND).round() as u32
}

/// Events at one tick are ordered note off, CC, note on, so a gate that ends where the next one
/// starts reads as two notes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Order {
    NoteOff,
    Cc,
    NoteOn,
}

/// The SMF bytes.
pub fn midi_file(t: &Timeline, o: &MidiOptions) -> Vec<u8> {
    let channel = u4::new(o.channel.clamp(1, 16) - 1);
    let names: Vec<Vec<u8>> = t
        .info
        .label_names
        .iter()
        .map(|n| n.as_bytes().to_vec())
        .collect();
    let title = t.file_name().into_bytes();
    let end = ticks(t.analysis.duration_s);
    let mut smf = Smf::new(Header::new(
        Format::Parallel,
        Timing::Metrical(u15::new(TICKS_PER_QUARTER)),
    ));
    smf.tracks.push(to_track(
        vec![
            (
                0,
                Order::Cc,
                TrackEventKind::Meta(MetaMessage::TrackName(&title)),
            ),
            (
                0,
                Order::Cc,
                TrackEventKind::Meta(MetaMessage::Tempo(MICROS_PER_QUARTER.into())),
            ),
        ],
        end,
    ));
    let times: Vec<u32> = t.window_times().map(ticks).collect();
    for (class, name) in names.iter().enumerate() {
        let mut events = vec![(
            0,
            Order::Cc,
            TrackEventKind::Meta(MetaMessage::TrackName(name)),
        )];
        let midi = |message| TrackEventKind::Midi { channel, message };
        if let Some(cc) = numbered(o.first_cc, class) {
            let mut last = None;
            for (a, &tick) in t.detection.activations.iter().zip(&times) {
                let v = cc_value(a[class]);
                if last != Some(v) {
                    last = Some(v);
                    let message = MidiMessage::Controller {
                        controller: u7::new(cc),
                        value: u7::new(v),
                    };
                    events.push((tick, Order::Cc, midi(message)));
                }
            }
        }
        if o.gates {
            if let Some(key) = numbered(o.first_note, class) {
                let key = u7::new(key);
                for s in t.detection.segments.iter().filter(|s| s.class == class) {
                    let vel = u7::new(cc_value(s.peak).max(1));
                    let on = MidiMessage::NoteOn { key, vel };
                    let off = MidiMessage::NoteOff {
                        key,
                        vel: u7::new(0),
                    };
                    events.push((ticks(s.start_s), Order::NoteOn, midi(on)));
                    events.push((ticks(s.end_s), Order::NoteOff, midi(off)));
                }
            }
        }
        smf.tracks.push(to_track(events, end));
    }
    let mut out = Vec::new();
    smf.write_std(&mut out)
        .expect("writing to memory cannot fail");
    out
}

/// Sorts absolute-time events into a track with delta times and an end-of-track marker.
fn to_track<'a>(
    mut events: Vec<(u32, Order, TrackEventKind<'a>)>,
    end: u32,
) -> Vec<TrackEvent<'a>> {
    // Stable: events of one kind at one tick keep their order.
    events.sort_by_key(|(tick, order, _)| (*tick, *order));
    let last = events.last().map_or(0, |e| e.0).max(end);
    events.push((
        last,
        Order::NoteOn,
        TrackEventKind::Meta(MetaMessage::EndOfTrack),
    ));
    let mut now = 0;
    events
        .into_iter()
        .map(|(tick, _, kind)| {
            let delta = u28::new(tick - now);
            now = tick;
            TrackEvent { delta, kind }
        })
        .collect()
}

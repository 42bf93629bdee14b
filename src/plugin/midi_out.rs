//! MIDI out on the audio thread: one CC per instrument, sent only when its 7-bit value changes,
//! and optional note gates that follow the detection bits. Reads the atomics the worker publishes;
//! no allocation, lock or system call. Independent of nice-plug so tests drive it directly.

use std::sync::atomic::Ordering;

use super::shared::{Shared, MAX_CLASSES};

/// A MIDI message the automation output wants sent (timing is the block start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidiOut {
    /// Control change: channel 0–15, controller 0–127, value 0–127.
    Cc {
        channel: u8,
        cc: u8,
        value: u8,
    },
    NoteOn {
        channel: u8,
        key: u8,
        velocity: u8,
    },
    NoteOff {
        channel: u8,
        key: u8,
    },
}

/// The automation settings for one block (read from the parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutomationSettings {
    pub enabled: bool,
    /// 0-based MIDI channel.
    pub channel: u8,
    pub first_cc: u8,
    pub gates: bool,
    pub first_note: u8,
}

/// Turns the published activations into MIDI: one CC per instrument (sent only when its 7-bit
/// value changes) and optional note gates that follow the detection bits.
#[derive(Debug, Clone)]
pub struct Automation {
    last_cc: [u8; MAX_CLASSES],
    gates_on: u64,
    /// The settings the current gates were sent with (note offs must match them).
    gate_channel: u8,
    gate_first_note: u8,
    last: Option<AutomationSettings>,
}

/// Marks a CC as not sent yet.
const UNSENT: u8 = 0xff;

impl Default for Automation {
    fn default() -> Self {
        Automation {
            last_cc: [UNSENT; MAX_CLASSES],
            gates_on: 0,
            gate_channel: 0,
            gate_first_note: 0,
            last: None,
        }
    }
}

pub use crate::midi_map::cc_value;

impl Automation {
    /// Forgets what was sent: every CC goes out again on the next update (after activation).
    fn resend_all(&mut self) {
        self.last_cc = [UNSENT; MAX_CLASSES];
    }

    /// Note offs for every open gate (deactivation, settings change).
    pub fn release_gates(&mut self, emit: &mut impl FnMut(MidiOut)) {
        let mut bits = self.gates_on;
        while bits != 0 {
            let i = bits.trailing_zeros() as u8;
            bits &= bits - 1;
            if let Some(key) = self.gate_first_note.checked_add(i).filter(|k| *k < 128) {
                emit(MidiOut::NoteOff {
                    channel: self.gate_channel,
                    key,
                });
            }
        }
        self.gates_on = 0;
    }

    /// Emits what changed since the last call.
    #[inline]
    pub fn update(
        &mut self,
        shared: &Shared,
        s: AutomationSettings,
        emit: &mut impl FnMut(MidiOut),
    ) {
        if self.last != Some(s) {
            let prev = self.last;
            self.last = Some(s);
            let gate_settings_changed = prev.is_some_and(|p| {
                p.channel != s.channel
                    || p.first_note != s.first_note
                    || p.gates != s.gates
                    || p.enabled != s.enabled
            });
            if gate_settings_changed {
                self.release_gates(emit);
            }
            if prev.is_none_or(|p| {
                p.channel != s.channel || p.first_cc != s.first_cc || p.enabled != s.enabled
            }) {
                self.resend_all();
            }
        }
        if !s.enabled {
            return;
        }
        let classes = shared.classes.load(Ordering::Acquire).min(MAX_CLASSES);
        for i in 0..classes {
            let Some(cc) = s.first_cc.checked_add(i as u8).filter(|c| *c < 128) else {
                break;
            };
            let v = cc_value(shared.activations[i].load());
            if self.last_cc[i] != v {
                self.last_cc[i] = v;
                emit(MidiOut::Cc {
                    channel: s.channel,
                    cc,
                    value: v,
                });
            }
        }
        if s.gates {
            let mask = if classes >= 64 {
                u64::MAX
            } else {
                (1u64 << classes) - 1
            };
            let now = shared.detected.load(Ordering::Acquire) & mask;
            let changed = now ^ self.gates_on;
            if changed != 0 {
                self.gate_channel = s.channel;
                self.gate_first_note = s.first_note;
                let mut bits = changed;
                while bits != 0 {
                    let i = bits.trailing_zeros() as u8;
                    bits &= bits - 1;
                    let Some(key) = s.first_note.checked_add(i).filter(|k| *k < 128) else {
                        continue;
                    };
                    if now & (1 << i) != 0 {
                        let velocity = cc_value(shared.activations[i as usize].load()).max(1);
                        emit(MidiOut::NoteOn {
                            channel: s.channel,
                            key,
                            velocity,
                        });
                    } else {
                        emit(MidiOut::NoteOff {
                            channel: s.channel,
                            key,
                        });
                    }
                }
                self.gates_on = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AutomationSettings {
        AutomationSettings {
            enabled: true,
            channel: 2,
            first_cc: 20,
            gates: true,
            first_note: 36,
        }
    }

    fn collect(a: &mut Automation, sh: &Shared, s: AutomationSettings) -> Vec<MidiOut> {
        let mut v = Vec::new();
        a.update(sh, s, &mut |m| v.push(m));
        v
    }

    #[test]
    fn ccs_only_on_change_and_gates_follow_detection() {
        let sh = Shared::default();
        sh.classes.store(3, Ordering::Release);
        let mut a = Automation::default();
        // First update sends every CC once.
        assert_eq!(collect(&mut a, &sh, settings()).len(), 3);
        assert!(collect(&mut a, &sh, settings()).is_empty());
        sh.activations[1].store(1.0);
        sh.detected.store(0b010, Ordering::Release);
        let ev = collect(&mut a, &sh, settings());
        assert_eq!(
            ev,
            [
                MidiOut::Cc {
                    channel: 2,
                    cc: 21,
                    value: 127
                },
                MidiOut::NoteOn {
                    channel: 2,
                    key: 37,
                    velocity: 127
                }
            ]
        );
        // Channel change: old gate released on the old channel, CCs resent on the new one.
        let mut s = settings();
        s.channel = 5;
        let ev = collect(&mut a, &sh, s);
        assert_eq!(
            ev[0],
            MidiOut::NoteOff {
                channel: 2,
                key: 37
            }
        );
        assert_eq!(
            ev.iter()
                .filter(|m| matches!(m, MidiOut::Cc { channel: 5, .. }))
                .count(),
            3
        );
        assert!(ev.contains(&MidiOut::NoteOn {
            channel: 5,
            key: 37,
            velocity: 127
        }));
        // Disabled: gates released, nothing else.
        s.enabled = false;
        assert_eq!(
            collect(&mut a, &sh, s),
            [MidiOut::NoteOff {
                channel: 5,
                key: 37
            }]
        );
        assert!(collect(&mut a, &sh, s).is_empty());
    }

    #[test]
    fn cc_numbers_stop_at_127() {
        let sh = Shared::default();
        sh.classes.store(5, Ordering::Release);
        let mut a = Automation::default();
        let mut s = settings();
        s.first_cc = 125;
        assert_eq!(collect(&mut a, &sh, s).len(), 3);
    }
}

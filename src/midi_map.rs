//! How activations become MIDI: the plugin's default channel, CC and note numbering and the 7-bit
//! value scale. The plugin's automation and the CLI's MIDI file export both read these, so a file
//! exported offline lands on the same controllers a live session records.

/// Default MIDI channel, 1-based as the plugin shows it.
pub const DEFAULT_CHANNEL: u8 = 1;
/// Default CC number of the first instrument; instrument i uses `first + i`.
pub const DEFAULT_FIRST_CC: u8 = 20;
/// Default note number of the first instrument's gate; instrument i uses `first + i`.
pub const DEFAULT_FIRST_NOTE: u8 = 36;

/// 7-bit CC value of an activation in [0, 1].
#[inline]
pub fn cc_value(activation: f32) -> u8 {
    (activation.clamp(0.0, 1.0) * 127.0).round() as u8
}

/// Controller (or note) number of instrument `index` counted from `first`; None above 127, which
/// is never sent.
#[inline]
pub fn numbered(first: u8, index: usize) -> Option<u8> {
    u8::try_from(index)
        .ok()
        .and_then(|i| first.checked_add(i))
        .filter(|n| *n < 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_numbers() {
        assert_eq!(cc_value(-1.0), 0);
        assert_eq!(cc_value(0.5), 64);
        assert_eq!(cc_value(2.0), 127);
        assert_eq!(numbered(20, 10), Some(30));
        assert_eq!(numbered(125, 3), None);
        assert_eq!(numbered(0, 300), None);
    }
}

//! Audacity label track: one tab-separated `start<TAB>end<TAB>label` line per segment
//! (File › Import › Labels…).

use super::Timeline;

pub fn labels(t: &Timeline) -> String {
    let mut s = String::new();
    for seg in &t.detection.segments {
        // Tabs or newlines in a label name would break the line format.
        let name: String = t.info.label_names[seg.class]
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        s.push_str(&format!("{:.6}\t{:.6}\t{name}\n", seg.start_s, seg.end_s));
    }
    s
}

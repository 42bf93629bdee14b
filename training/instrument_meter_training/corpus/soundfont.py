"""Minimal SoundFont 2 reader: presets -> instruments -> samples, and sample decoding.

Decodes sf2 16-bit PCM and sf3 (Ogg Vorbis compressed samples, sampleType flag 0x10) so the pool
check can compare the recordings themselves, never their names.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

GEN_KEYRANGE = 43
GEN_INSTRUMENT = 41
GEN_SAMPLEID = 53
VORBIS_FLAG = 0x10


@dataclass(frozen=True)
class SampleHeader:
    index: int
    name: str
    start: int
    end: int
    rate: int
    root: int
    type: int


def _next_chunk(f, pos: int, length: int) -> int:
    """RIFF pads odd chunks to even length, but some sf3 writers do not: accept either."""
    if not length & 1:
        return pos
    f.seek(pos + 1)
    cid = f.read(4)
    return pos + 1 if cid.isalnum() or cid in (b"LIST",) else pos


class SoundFont:
    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            data = f.read(12)
            if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
                raise ValueError(f"{path}: not a SoundFont")
            self._chunks: dict[str, tuple[int, int]] = {}
            size = struct.unpack("<I", data[4:8])[0]
            pos = 12
            while pos < size + 8:
                f.seek(pos)
                cid, clen = struct.unpack("<4sI", f.read(8))
                if cid == b"LIST":
                    ltype = f.read(4)
                    sub = pos + 12
                    end = pos + 8 + clen
                    while sub < end:
                        f.seek(sub)
                        sid, slen = struct.unpack("<4sI", f.read(8))
                        self._chunks[f"{ltype.decode()}/{sid.decode()}"] = (sub + 8, slen)
                        sub = _next_chunk(f, sub + 8 + slen, slen)
                pos = _next_chunk(f, pos + 8 + clen, clen)
            pd = {}
            for name in ("phdr", "pbag", "pgen", "inst", "ibag", "igen", "shdr"):
                off, ln = self._chunks[f"pdta/{name}"]
                f.seek(off)
                pd[name] = f.read(ln)
        self.smpl_offset = self._chunks["sdta/smpl"][0]
        self._pd = pd
        self.samples = []
        shdr = pd["shdr"]
        for i in range(len(shdr) // 46 - 1):
            name, start, end, _sl, _el, rate, root, _corr, _link, typ = struct.unpack(
                "<20sIIIIIBbHH", shdr[i * 46 : (i + 1) * 46]
            )
            self.samples.append(
                SampleHeader(i, name.split(b"\0")[0].decode("latin-1"), start, end, rate, root, typ)
            )

    def _gens(self, bag: bytes, gen: bytes, idx0: int, idx1: int) -> list[dict[int, int]]:
        zones = []
        for b in range(idx0, idx1):
            g0 = struct.unpack("<H", bag[b * 4 : b * 4 + 2])[0]
            g1 = struct.unpack("<H", bag[(b + 1) * 4 : (b + 1) * 4 + 2])[0]
            z = {}
            for g in range(g0, g1):
                oper, amount = struct.unpack("<HH", gen[g * 4 : g * 4 + 4])
                z[oper] = amount
            zones.append(z)
        return zones

    def presets(self) -> dict[tuple[int, int], tuple[str, int]]:
        """(bank, program) -> (name, preset header index)."""
        out = {}
        phdr = self._pd["phdr"]
        for i in range(len(phdr) // 38 - 1):
            name, prog, bank = struct.unpack("<20sHH", phdr[i * 38 : i * 38 + 24])
            out[(bank, prog)] = (name.split(b"\0")[0].decode("latin-1"), i)
        return out

    def preset_samples(self, bank: int, program: int, keys: tuple[int, int] = (0, 127)) -> list[int]:
        """Indices of every sample a zone of the preset plays for a key in keys (inclusive)."""

        def overlaps(z: dict[int, int]) -> bool:
            kr = z.get(GEN_KEYRANGE, 0x7F00)
            return (kr & 0xFF) <= keys[1] and (kr >> 8) >= keys[0]

        presets = self.presets()
        if (bank, program) not in presets:
            return []
        i = presets[(bank, program)][1]
        phdr, inst = self._pd["phdr"], self._pd["inst"]
        b0 = struct.unpack("<H", phdr[i * 38 + 24 : i * 38 + 26])[0]
        b1 = struct.unpack("<H", phdr[(i + 1) * 38 + 24 : (i + 1) * 38 + 26])[0]
        samples: set[int] = set()
        for z in self._gens(self._pd["pbag"], self._pd["pgen"], b0, b1):
            if GEN_INSTRUMENT not in z or not overlaps(z):
                continue
            ii = z[GEN_INSTRUMENT]
            ib0 = struct.unpack("<H", inst[ii * 22 + 20 : ii * 22 + 22])[0]
            ib1 = struct.unpack("<H", inst[(ii + 1) * 22 + 20 : (ii + 1) * 22 + 22])[0]
            for iz in self._gens(self._pd["ibag"], self._pd["igen"], ib0, ib1):
                if GEN_SAMPLEID in iz and overlaps(iz):
                    samples.add(iz[GEN_SAMPLEID])
        return sorted(samples)

    def decode(self, index: int) -> tuple[np.ndarray, int]:
        """Float32 mono audio of one sample and its sample rate."""
        h = self.samples[index]
        with open(self.path, "rb") as f:
            if h.type & VORBIS_FLAG:
                import soundfile as sf

                f.seek(self.smpl_offset + h.start)
                raw = f.read(h.end - h.start)
                x, sr = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
                return x[:, 0], sr
            f.seek(self.smpl_offset + 2 * h.start)
            raw = f.read(2 * (h.end - h.start))
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0, h.rate


@lru_cache(maxsize=8)
def load(path: str) -> SoundFont:
    return SoundFont(path)

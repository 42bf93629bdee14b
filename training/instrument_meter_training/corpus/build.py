"""Corpus build: plan (score split, per-item seeds), render in worker processes, write the IRMAS
layout, then the manifest and data card.

Every item draws all its choices from np.random.default_rng((seed, split, class, index)), so files do
not depend on worker count or order. One FluidSynth instance per worker process.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from . import augment, perform, pools, scores, voice
from .render import FluidRenderer, PartRender
from .sources import CLASSES, FONTS, SAMPLE_RATE, range_for

EXCERPT_S = 3.0
MIN_ACTIVE_TRAIN = 0.6
MIN_ACTIVE_LABEL = 0.3
BURIED_DB = 6.0
SPLIT_CODE = {"train": 1, "val": 2, "test": 3}


@dataclass(frozen=True)
class Scale:
    name: str
    train_per_class: int
    val_per_class: int
    test_clips: int


SCALES = {
    "small": Scale("small", 6, 2, 10),
    "irmas": Scale("irmas", 600, 100, 1000),
}

_W: dict = {}  # per-worker state: renderer, scores, pool sides


def split_scores(all_scores: list[dict], seed: int) -> dict[str, list[dict]]:
    """Group split by score: test 20 %, val 15 %, train the rest (a score is on one side only)."""
    rng = np.random.default_rng((seed, 99))
    order = rng.permutation(len(all_scores))
    n_test = max(1, int(round(0.2 * len(all_scores))))
    n_val = max(1, int(round(0.15 * len(all_scores))))
    pick = [all_scores[i] for i in order]
    return {"test": pick[:n_test], "val": pick[n_test : n_test + n_val], "train": pick[n_test + n_val :]}


def _init_worker(ctx: dict) -> None:
    _W.clear()
    _W.update(ctx)
    _W["renderer"] = FluidRenderer(tuple(FONTS))


def _sources_for(side: pools.PoolSide, cls: str):
    out = [("preset", p) for p in side.presets[cls]]
    out += [("voice", v) for v in side.voices[cls]]
    return out


def _choose_source(rng, side: pools.PoolSide, cls: str, presets_only: bool = False):
    presets = [("preset", p) for p in side.presets[cls]]
    voices = [("voice", v) for v in side.voices[cls]]
    if voices and not presets_only and rng.random() < 0.5:
        return voices[int(rng.integers(len(voices)))]
    return presets[int(rng.integers(len(presets)))]


def _render_source(kind, src, notes, ccs, bends, duration, rng, cls):
    if kind == "voice":
        mono = perform.monophonic(notes)
        return voice.sing(src.voice, mono, duration, rng)
    part = PartRender(src.font, src.bank, src.program, notes, ccs, bends)
    y = _W["renderer"].render_part(part, duration)
    return y[: int(round(duration * SAMPLE_RATE))]


def _source_info(kind, src) -> dict:
    if kind == "voice":
        return {"pool": src.pool, "voice": src.voice, "engine": "mbrola"}
    return {
        "pool": src.pool,
        "font": src.font,
        "font_file": FONTS[src.font].file,
        "bank": src.bank,
        "program": src.program,
    }


def _tempo(rng):
    bpm = float(rng.uniform(60, 160))
    return bpm, 60.0 / bpm


def _pick_start(rng, part_notes, length_q, dur_q):
    onsets = [n[0] for n in part_notes if n[0] <= max(0.0, length_q - dur_q)]
    if not onsets:
        return 0.0
    return float(rng.choice(onsets)) - float(rng.choice([0.0, 0.0, 0.5, 1.0]))


def make_excerpt(task) -> dict | None:
    """One single-label 3-s excerpt (train or val)."""
    split, cls, index = task
    seed = _W["seed"]
    ci = CLASSES.index(cls)
    rng = np.random.default_rng((seed, SPLIT_CODE[split], ci, index))
    side = _W["train_side"]
    split_sc = _W["scores"][split]
    n = int(round(EXCERPT_S * SAMPLE_RATE))
    for attempt in range(12):
        kind, src = _choose_source(rng, side, cls)
        score = split_sc[int(rng.integers(len(split_sc)))]
        bpm, spq = _tempo(rng)
        dur_q = EXCERPT_S / spq
        pi = int(rng.integers(len(score["parts"])))
        start_q = max(0.0, _pick_start(rng, score["parts"][pi]["notes"], score["length_q"], dur_q))
        chordal = kind == "preset" and perform.is_chordal(cls) and rng.random() < 0.6
        used_parts = list(range(len(score["parts"]))) if chordal else [pi]
        win = [
            x for p in used_parts for x in perform.window(score["parts"][p]["notes"], start_q, dur_q + 0.01)
        ]
        if len([x for x in win if x[0] < dur_q]) < 2:
            continue
        lo, hi = voice.VOICES[src.voice].range if kind == "voice" else range_for(cls, src.program)
        t = perform.choose_transposition([x[2] for x in win], rng, lo, hi)
        notes, ccs, bends, pinfo = perform.performance(
            win, t, rng, cls, spq, lo, hi, strum=cls in ("gac", "gel")
        )
        try:
            y = _render_source(kind, src, notes, ccs, bends, EXCERPT_S + 1.0, rng, cls)
        except voice.VoiceError:
            continue
        act = augment.active_fraction(y[:n])
        if act < MIN_ACTIVE_TRAIN:
            continue
        # 0-2 quiet unlabelled accompaniment parts: other parts of the score on other classes
        others = [p for p in range(len(score["parts"])) if p not in used_parts] or [
            p for p in range(len(score["parts"])) if p != pi
        ]
        n_acc = min(len(others), int(rng.choice([0, 1, 2], p=[0.3, 0.4, 0.3])))
        acc_info = []
        mix = y.astype(np.float64)
        target_db = augment.rms_db(y[:n])
        for ap in rng.choice(others, size=n_acc, replace=False) if n_acc else []:
            acls = str(rng.choice([c for c in CLASSES if c != cls]))
            akind, asrc = _choose_source(rng, side, acls, presets_only=True)
            awin = perform.window(score["parts"][int(ap)]["notes"], start_q, dur_q + 0.01)
            if not awin:
                continue
            alo, ahi = range_for(acls, asrc.program)
            at = t + 12 * round((((alo + ahi) / 2) - np.mean([x[2] for x in awin]) - t) / 12)
            anotes, accs, abends, _ = perform.performance(
                awin, at, rng, acls, spq, alo, ahi, strum=acls in ("gac", "gel")
            )
            ay = _render_source(akind, asrc, anotes, accs, abends, EXCERPT_S + 1.0, rng, acls)
            if augment.rms_db(ay[:n]) < -90:
                continue
            rel = float(rng.uniform(-25, -15))
            g = 10 ** ((target_db + rel - augment.rms_db(ay[:n])) / 20)
            mix = mix + g * ay
            acc_info.append(
                {
                    "class": acls,
                    "part": int(ap),
                    "rel_db": round(rel, 1),
                    "transpose": int(at),
                    **_source_info(akind, asrc),
                }
            )
        aug = {}
        if rng.random() < 0.8:
            mix, a = augment.reverb(mix, rng)
            aug.update(a)
        if rng.random() < 0.7:
            mix, a = augment.eq(mix, rng)
            aug.update(a)
        mix, a = augment.bandlimit(mix, rng)
        aug.update(a)
        mix = mix[:n]
        mix, a = augment.noise(mix, rng)
        aug.update(a)
        mix, a = augment.level(mix, rng)
        aug.update(a)
        info = _source_info(kind, src)
        name = f"{score['id']}[{cls}][{info['pool']}]{index:04d}__{pi + 1}.wav"
        rel_path = os.path.join(split, cls, name)
        _write_wav(os.path.join(_W["out"], rel_path), mix)
        return {
            "file": rel_path,
            "split": split,
            "labels": [cls],
            "source": info,
            "score": score["id"],
            "score_source": score["source"],
            "parts": used_parts,
            "start_q": round(start_q, 3),
            "bpm": round(bpm, 1),
            "transpose": int(t),
            "performance": pinfo,
            "active_fraction": round(act, 3),
            "accompaniment": acc_info,
            "augment": aug,
            "seed": [seed, SPLIT_CODE[split], ci, index],
            "attempt": attempt,
        }
    return None


def make_test_clip(index: int) -> dict | None:
    """One polyphonic test clip: 1-5 parts of the same score, each a different instrument."""
    seed = _W["seed"]
    rng = np.random.default_rng((seed, SPLIT_CODE["test"], index))
    side = _W["test_side"]
    sc = _W["scores"]["test"]
    for attempt in range(12):
        score = sc[int(rng.integers(len(sc)))]
        n_parts = len(score["parts"])
        k = min(n_parts, int(rng.choice([1, 2, 3, 4, 5], p=[0.1, 0.25, 0.3, 0.25, 0.1])))
        part_ids = [int(p) for p in rng.choice(n_parts, size=k, replace=False)]
        classes = [str(c) for c in rng.choice(CLASSES, size=k, replace=False)]
        duration = float(rng.uniform(5.0, 20.0))
        bpm, spq = _tempo(rng)
        dur_q = duration / spq
        start_q = max(0.0, _pick_start(rng, score["parts"][part_ids[0]]["notes"], score["length_q"], dur_q))
        g = int(rng.integers(-4, 5))
        n = int(round(duration * SAMPLE_RATE))
        rendered, infos = [], []
        for p, cls in zip(part_ids, classes):
            kind, src = _choose_source(rng, side, cls)
            win = perform.window(score["parts"][p]["notes"], start_q, dur_q + 0.01)
            if kind == "voice":
                lo, hi = voice.VOICES[src.voice].range
            else:
                lo, hi = range_for(cls, src.program)
            if win:
                t = g + 12 * round((((lo + hi) / 2) - np.mean([x[2] for x in win]) - g) / 12)
                notes, ccs, bends, pinfo = perform.performance(
                    win, t, rng, cls, spq, lo, hi, strum=cls in ("gac", "gel")
                )
                try:
                    y = _render_source(kind, src, notes, ccs, bends, duration + 1.0, rng, cls).astype(
                        np.float64
                    )
                except voice.VoiceError:
                    t, pinfo, y = g, {"error": "mbrola failed"}, np.zeros(n + SAMPLE_RATE)
            else:
                t, pinfo, y = g, {}, np.zeros(n + SAMPLE_RATE)
            rendered.append(y)
            infos.append(
                {
                    "class": cls,
                    "part": p,
                    "transpose": int(t),
                    "performance": pinfo,
                    **_source_info(kind, src),
                }
            )
        # per-part levels: RMS-normalise each part, then a random gain
        gains = rng.uniform(-9.0, 0.0, size=k)
        gains[int(rng.integers(k))] = 0.0
        levels = []
        for i, y in enumerate(rendered):
            db = augment.rms_db(y[:n])
            if db > -90:
                rendered[i] = y * 10 ** ((-20.0 + gains[i] - db) / 20)
            levels.append(augment.rms_db(rendered[i][:n]))
        loud = max(levels)
        labels = []
        for i, y in enumerate(rendered):
            act = augment.active_fraction(y[:n]) if levels[i] > -90 else 0.0
            audible = act >= MIN_ACTIVE_LABEL and levels[i] >= loud - BURIED_DB
            infos[i].update(
                {
                    "gain_db": round(float(gains[i]), 2),
                    "rms_db": round(levels[i], 2),
                    "active_fraction": round(act, 3),
                    "labelled": bool(audible),
                }
            )
            if audible:
                labels.append(infos[i]["class"])
        if not labels:
            continue
        mix = np.sum(rendered, axis=0)
        aug = {}
        if rng.random() < 0.85:
            mix, a = augment.reverb(mix, rng)
            aug.update(a)
        if rng.random() < 0.5:
            mix, a = augment.eq(mix, rng, max_db=4.0)
            aug.update(a)
        mix, a = augment.bandlimit(mix, rng, p_low=0.3, p_high=0.2)
        aug.update(a)
        mix = mix[:n]
        mix, a = augment.noise(mix, rng, p=0.3)
        aug.update(a)
        mix, a = augment.level(mix, rng, -12.0, -1.0)
        aug.update(a)
        labels = [c for c in CLASSES if c in labels]
        name = f"{score['id']}-{index:04d}"
        _write_wav(os.path.join(_W["out"], "test", name + ".wav"), mix)
        with open(os.path.join(_W["out"], "test", name + ".txt"), "w") as f:
            f.write("".join(f"{c}\n" for c in labels))
        return {
            "file": f"test/{name}.wav",
            "split": "test",
            "labels": labels,
            "score": score["id"],
            "score_source": score["source"],
            "start_q": round(start_q, 3),
            "bpm": round(bpm, 1),
            "duration_s": round(n / SAMPLE_RATE, 3),
            "global_transpose": g,
            "parts": infos,
            "augment": aug,
            "seed": [seed, SPLIT_CODE["test"], index],
            "attempt": attempt,
        }
    return None


def _write_wav(path: str, x: np.ndarray) -> None:
    import soundfile as sf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    y = np.clip(np.asarray(x, np.float64), -1.0, 32767 / 32768)
    sf.write(path, np.round(y * 32768).astype(np.int16), SAMPLE_RATE, subtype="PCM_16")


def _run(fn, tasks, pool, desc: str, progress: bool):
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit="file", disable=not progress)
    out = []
    for r in pool.imap(fn, tasks, chunksize=2) if pool is not None else map(fn, tasks):
        out.append(r)
        bar.update()
    bar.close()
    return out


def pool_check(scale: str, progress: bool) -> dict:
    """The audio-level pool-split check, cached by the pool definition and font files."""
    with open(pools.POOLS_JSON, "rb") as f:
        key = f.read()
    for font in FONTS.values():
        st = os.stat(font.path())
        key += f"{font.key}:{st.st_size}:{int(st.st_mtime)}".encode()
    import hashlib

    h = hashlib.sha1(key).hexdigest()[:12]
    full = os.path.join(os.path.dirname(scores.cache_dir()), f"pool-check-{h}-all.json")
    quick = os.path.join(os.path.dirname(scores.cache_dir()), f"pool-check-{h}-quick.json")
    for cache in (full, quick) if scale == "small" else (full,):
        if os.path.exists(cache):
            with open(cache) as f:
                res = json.load(f)
            res["cached"] = True
            return res
    classes = CLASSES if scale != "small" else pools.QUICK_CLASSES
    res = pools.check_pool_split(classes, progress=progress)
    res["scope"] = "all classes" if classes == CLASSES else f"subset {list(classes)} (small scale)"
    cache = full if classes == CLASSES else quick
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w") as f:
        json.dump(res, f, indent=1)
    return res


def build(out: str, scale: str = "small", seed: int = 0, jobs: int = 1, progress: bool = True) -> dict:
    from . import datacard

    t0 = time.time()
    sc = SCALES[scale]
    os.makedirs(out, exist_ok=True)
    check = pool_check(scale, progress)
    if not check["ok"]:
        raise RuntimeError(f"pool split check failed: {check['matches'][:5]} missing={check['missing']}")
    all_scores = scores.load_scores(scale, jobs=jobs, progress=progress)
    split = split_scores(all_scores, seed)
    ctx = {
        "seed": seed,
        "out": out,
        "scores": split,
        "train_side": pools.side("train"),
        "test_side": pools.side("test"),
    }
    t1 = time.time()
    train_tasks = [("train", c, i) for i in range(sc.train_per_class) for c in CLASSES]
    val_tasks = [("val", c, i) for i in range(sc.val_per_class) for c in CLASSES]
    files = []
    pool = None
    if jobs > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(jobs, initializer=_init_worker, initargs=(ctx,))
    else:
        _init_worker(ctx)
    try:
        files += _run(make_excerpt, train_tasks, pool, "render train excerpts", progress)
        files += _run(make_excerpt, val_tasks, pool, "render val excerpts", progress)
        files += _run(make_test_clip, list(range(sc.test_clips)), pool, "render test clips", progress)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    failed = sum(f is None for f in files)
    files = [f for f in files if f is not None]
    manifest = {
        "format": "instrument-meter corpus v1 (IRMAS layout)",
        "scale": scale,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "classes": list(CLASSES),
        "counts": datacard.counts(files),
        "failed_items": failed,
        "pools": pools.load_pools(),
        "pool_check": check,
        "score_split": {k: [s["id"] for s in v] for k, v in split.items()},
        "licenses": datacard.licenses(),
        "files": files,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    timing = {
        "total_s": round(time.time() - t0, 1),
        "render_s": round(time.time() - t1, 1),
        "jobs": jobs,
        "cpus": os.cpu_count(),
    }
    with open(os.path.join(out, "DATACARD.md"), "w") as f:
        f.write(datacard.render(manifest, timing))
    return {"manifest": manifest, "timing": timing}

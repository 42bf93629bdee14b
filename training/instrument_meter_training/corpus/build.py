"""Corpus build: plan (score split, per-item seeds), render in worker processes, write the IRMAS
layout, then the manifest and data card.

Every recording family of pools.json (families.py) trains: each train/val excerpt says which family
its labelled part came from (`family`, and the second bracket of its file name). Test mixtures are
rendered per leave-one-family-out fold (`test/<fold>/`): every part of a fold's clip, and every
unlabelled accompaniment part of an excerpt, comes from the families of the target's fold only, so
a model trained without a fold never hears its recordings. Drums and bass (never labelled) play
under excerpts and mixtures as in real music.

Every item draws all its choices from np.random.default_rng((seed, split, class/fold, index)), so
files do not depend on worker count, order or caches.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from . import augment, families, groove, perform, pools, scores
from .engines import ENGINES, Instrument, Performance
from .render import Note
from .sources import CLASSES, SAMPLE_RATE

EXCERPT_S = 3.0
MIN_ACTIVE_TRAIN = 0.6
MIN_ACTIVE_LABEL = 0.3
BURIED_DB = 6.0
SPLIT_CODE = {"train": 1, "val": 2, "test": 3}
# Rhythm section: probability and level relative to the target part (excerpts) or the loudest
# labelled part (mixtures), dB.
DRUMS_P, DRUMS_DB = 0.5, (-14.0, -4.0)
BASS_P, BASS_DB = 0.4, (-16.0, -6.0)
# Every class is band-limited at random (some singers stop near 8 kHz): no bandwidth cue.
LOWPASS_P, LOWPASS_HZ = 0.65, (3500.0, 11000.0)


@dataclass(frozen=True)
class Scale:
    name: str
    train_per_class: int
    val_per_class: int
    test_clips_per_fold: int


SCALES = {
    "small": Scale("small", 6, 2, 4),
    "irmas": Scale("irmas", 600, 100, 250),
}

_W: dict = {}  # per-worker state: scores, catalog, output folder


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


def _perf_for(inst: Instrument, notes: list[Note], ccs, bends) -> Performance:
    if ENGINES[inst.engine].monophonic:
        vel = {n.on: n.vel for n in notes}
        notes = [Note(on, off, k, vel.get(on, 90)) for on, off, k in perform.monophonic(notes)]
    return Performance(notes, ccs, bends)


def _play(inst: Instrument, win, transpose: int, rng, spq: float, duration: float):
    """Perform a score window on an instrument: (audio, performance info)."""
    lo, hi = inst.range
    notes, ccs, bends, pinfo = perform.performance(
        win, transpose, rng, inst.cls, spq, lo, hi, strum=inst.cls in ("gac", "gel")
    )
    y = ENGINES[inst.engine].render(inst, _perf_for(inst, notes, ccs, bends), duration, rng)
    return np.asarray(y, np.float64), pinfo


def _source_info(inst: Instrument) -> dict:
    return {"family": inst.family, "instrument": inst.key, "engine": inst.engine, "label": inst.label}


def _tempo(rng):
    bpm = float(rng.uniform(60, 160))
    return bpm, 60.0 / bpm


def _pick_start(rng, part_notes, length_q, dur_q):
    onsets = [n[0] for n in part_notes if n[0] <= max(0.0, length_q - dur_q)]
    if not onsets:
        return 0.0
    return float(rng.choice(onsets)) - float(rng.choice([0.0, 0.0, 0.5, 1.0]))


def _rhythm_section(rng, score, start_q, dur_q, spq, duration, ref_db, n, p_scale=1.0):
    """Drums and/or bass under a part (never labelled): (list of scaled audio, manifest info)."""
    cat: families.Catalog = _W["catalog"]
    out, info = [], []
    kits, basses = cat.accompaniment_for("drums"), cat.accompaniment_for("bass")
    if kits and rng.random() < DRUMS_P * p_scale:
        kit = kits[int(rng.integers(len(kits)))]
        notes, style = groove.drum_pattern(rng, spq, duration)
        y = np.asarray(ENGINES[kit.engine].render(kit, Performance(notes), duration, rng), np.float64)
        rel = float(rng.uniform(*DRUMS_DB))
        if augment.rms_db(y[:n]) > -90:
            out.append(y * 10 ** ((ref_db + rel - augment.rms_db(y[:n])) / 20))
            info.append({"class": "drums", "style": style, "rel_db": round(rel, 1), **_source_info(kit)})
    if basses and rng.random() < BASS_P * p_scale:
        b = basses[int(rng.integers(len(basses)))]
        notes = groove.bass_line(score, start_q, dur_q, spq, rng, *b.range)
        if notes:
            y = np.asarray(ENGINES[b.engine].render(b, Performance(notes), duration, rng), np.float64)
            rel = float(rng.uniform(*BASS_DB))
            if augment.rms_db(y[:n]) > -90:
                out.append(y * 10 ** ((ref_db + rel - augment.rms_db(y[:n])) / 20))
                info.append({"class": "bass", "rel_db": round(rel, 1), **_source_info(b)})
    return out, info


def _bandlimit(x, rng):
    info = {}
    if rng.random() < LOWPASS_P:
        from scipy import signal

        fc = float(np.exp(rng.uniform(*np.log(LOWPASS_HZ))))
        x = signal.sosfilt(signal.butter(8, fc, "low", fs=SAMPLE_RATE, output="sos"), x)
        info["lowpass_hz"] = round(fc)
    x, a = augment.bandlimit(x, rng, p_low=0.0, p_high=0.3)
    info.update(a)
    return x, info


def make_excerpt(task) -> dict | None:
    """One single-label 3-s excerpt (train or val) of one family, with unlabelled accompaniment."""
    split, cls, index = task
    seed = _W["seed"]
    cat: families.Catalog = _W["catalog"]
    ci = CLASSES.index(cls)
    rng = np.random.default_rng((seed, SPLIT_CODE[split], ci, index))
    split_sc = _W["scores"][split]
    n = int(round(EXCERPT_S * SAMPLE_RATE))
    dur = EXCERPT_S + 1.0
    for attempt in range(12):
        inst = cat.choose(rng, cls)
        score = split_sc[int(rng.integers(len(split_sc)))]
        bpm, spq = _tempo(rng)
        dur_q = EXCERPT_S / spq
        pi = int(rng.integers(len(score["parts"])))
        start_q = max(0.0, _pick_start(rng, score["parts"][pi]["notes"], score["length_q"], dur_q))
        chordal = not ENGINES[inst.engine].monophonic and perform.is_chordal(cls) and rng.random() < 0.6
        used_parts = list(range(len(score["parts"]))) if chordal else [pi]
        win = [
            x for p in used_parts for x in perform.window(score["parts"][p]["notes"], start_q, dur_q + 0.01)
        ]
        if len([x for x in win if x[0] < dur_q]) < 2:
            continue
        lo, hi = inst.range
        t = perform.choose_transposition([x[2] for x in win], rng, lo, hi)
        try:
            y, pinfo = _play(inst, win, t, rng, spq, dur)
        except RuntimeError as e:  # an engine refused this phrase (e.g. a diphone join): redraw
            pinfo = {"error": str(e)[:200]}
            continue
        act = augment.active_fraction(y[:n])
        if act < MIN_ACTIVE_TRAIN:
            continue
        mix = y.copy()
        target_db = augment.rms_db(y[:n])
        # 0-2 quiet unlabelled parts of the same score, other classes, families of the target's fold
        fold_fams = cat.fold_families(cat.fold_of(inst.family))
        others = [p for p in range(len(score["parts"])) if p not in used_parts] or [
            p for p in range(len(score["parts"])) if p != pi
        ]
        n_acc = min(len(others), int(rng.choice([0, 1, 2], p=[0.3, 0.4, 0.3])))
        acc_info = []
        for ap in rng.choice(others, size=n_acc, replace=False) if n_acc else []:
            choices = [c for c in CLASSES if c != cls and cat.covering(c, fold_fams)]
            if not choices:
                break
            acls = str(rng.choice(choices))
            ainst = cat.choose(rng, acls, fold_fams)
            awin = perform.window(score["parts"][int(ap)]["notes"], start_q, dur_q + 0.01)
            if not awin:
                continue
            alo, ahi = ainst.range
            at = t + 12 * round((((alo + ahi) / 2) - np.mean([x[2] for x in awin]) - t) / 12)
            try:
                ay, _ = _play(ainst, awin, at, rng, spq, dur)
            except RuntimeError:
                continue
            if augment.rms_db(ay[:n]) < -90:
                continue
            rel = float(rng.uniform(-25, -15))
            mix = mix + ay * 10 ** ((target_db + rel - augment.rms_db(ay[:n])) / 20)
            acc_info.append(
                {
                    "class": acls,
                    "part": int(ap),
                    "rel_db": round(rel, 1),
                    "transpose": int(at),
                    **_source_info(ainst),
                }
            )
        rhythm, rinfo = _rhythm_section(rng, score, start_q, dur_q, spq, dur, target_db, n)
        for r in rhythm:
            mix = mix + r
        acc_info += rinfo
        aug = {}
        if rng.random() < 0.8:
            mix, a = augment.reverb(mix, rng)
            aug.update(a)
        if rng.random() < 0.7:
            mix, a = augment.eq(mix, rng)
            aug.update(a)
        mix, a = _bandlimit(mix, rng)
        aug.update(a)
        mix = mix[:n]
        mix, a = augment.noise(mix, rng)
        aug.update(a)
        mix, a = augment.level(mix, rng)
        aug.update(a)
        name = f"{score['id']}[{cls}][{inst.family}]{index:04d}__{pi + 1}.wav"
        rel_path = os.path.join(split, cls, name)
        _write_wav(os.path.join(_W["out"], rel_path), mix)
        return {
            "file": rel_path,
            "split": split,
            "labels": [cls],
            "family": inst.family,
            "fold": cat.fold_of(inst.family),
            "source": _source_info(inst),
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


def make_test_clip(task) -> dict | None:
    """One polyphonic test clip of a fold: 1-4 parts of one score, each a different instrument, every
    part from the fold's own families; drums and bass at times (unlabelled)."""
    fold, index = task
    seed = _W["seed"]
    cat: families.Catalog = _W["catalog"]
    fi = sorted(cat.folds).index(fold)
    rng = np.random.default_rng((seed, SPLIT_CODE["test"], 100 + fi, index))
    fams = cat.fold_families(fold)
    avail = [c for c in CLASSES if cat.covering(c, fams)]
    sc = _W["scores"]["test"]
    for attempt in range(12):
        score = sc[int(rng.integers(len(sc)))]
        n_parts = len(score["parts"])
        k = min(n_parts, len(avail), int(rng.choice([1, 2, 3, 4], p=[0.15, 0.3, 0.3, 0.25])))
        part_ids = [int(p) for p in rng.choice(n_parts, size=k, replace=False)]
        classes = [str(c) for c in rng.choice(avail, size=k, replace=False)]
        duration = float(rng.uniform(5.0, 20.0))
        bpm, spq = _tempo(rng)
        dur_q = duration / spq
        start_q = max(0.0, _pick_start(rng, score["parts"][part_ids[0]]["notes"], score["length_q"], dur_q))
        g = int(rng.integers(-4, 5))
        n = int(round(duration * SAMPLE_RATE))
        rendered, infos = [], []
        for p, cls in zip(part_ids, classes):
            inst = cat.choose(rng, cls, fams)
            win = perform.window(score["parts"][p]["notes"], start_q, dur_q + 0.01)
            lo, hi = inst.range
            t, pinfo, y = g, {}, np.zeros(n + SAMPLE_RATE)
            if win:
                t = g + 12 * round((((lo + hi) / 2) - np.mean([x[2] for x in win]) - g) / 12)
                try:
                    y, pinfo = _play(inst, win, t, rng, spq, duration + 1.0)
                except RuntimeError as e:
                    pinfo = {"error": str(e)[:200]}
            rendered.append(y)
            infos.append(
                {"class": cls, "part": p, "transpose": int(t), "performance": pinfo, **_source_info(inst)}
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
        rhythm, rinfo = _rhythm_section(rng, score, start_q, dur_q, spq, duration + 1.0, loud, n, p_scale=0.8)
        for r in rhythm:
            mix = mix + r
        aug = {}
        if rng.random() < 0.85:
            mix, a = augment.reverb(mix, rng)
            aug.update(a)
        if rng.random() < 0.5:
            mix, a = augment.eq(mix, rng, max_db=4.0)
            aug.update(a)
        mix, a = _bandlimit(mix, rng)
        aug.update(a)
        mix = mix[:n]
        mix, a = augment.noise(mix, rng, p=0.3)
        aug.update(a)
        mix, a = augment.level(mix, rng, -12.0, -1.0)
        aug.update(a)
        labels = [c for c in CLASSES if c in labels]
        name = f"{score['id']}-{index:04d}"
        rel = f"test/{fold}/{name}"
        _write_wav(os.path.join(_W["out"], rel + ".wav"), mix)
        with open(os.path.join(_W["out"], rel + ".txt"), "w") as f:
            f.write("".join(f"{c}\n" for c in labels))
        return {
            "file": rel + ".wav",
            "split": "test",
            "fold": fold,
            "labels": labels,
            "score": score["id"],
            "score_source": score["source"],
            "start_q": round(start_q, 3),
            "bpm": round(bpm, 1),
            "duration_s": round(n / SAMPLE_RATE, 3),
            "global_transpose": g,
            "parts": infos,
            "accompaniment": rinfo,
            "augment": aug,
            "seed": [seed, SPLIT_CODE["test"], 100 + fi, index],
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


# The quick check (small scale, the test suite): classes whose families include per-note sets or
# fonts measured to share recordings elsewhere; the irmas scale checks every class.
QUICK_CLASSES = ("cel", "sax", "tru", "voi")


def family_check(cat: families.Catalog, scale: str, progress: bool) -> dict:
    classes = CLASSES if scale != "small" else QUICK_CLASSES
    res = pools.check_families(cat, classes, cache_dir=os.path.dirname(scores.cache_dir()), progress=progress)
    res["scope"] = "all classes" if classes == CLASSES else f"classes {list(classes)} (small scale)"
    return res


def build(out: str, scale: str = "small", seed: int = 0, jobs: int = 1, progress: bool = True) -> dict:
    from . import datacard

    t0 = time.time()
    c0 = time.process_time()
    sc = SCALES[scale]
    os.makedirs(out, exist_ok=True)
    cat = families.load()
    check = family_check(cat, scale, progress)
    if not check["ok"]:
        raise RuntimeError(f"family check failed: shared recordings {check['matches'][:5]}")
    all_scores = scores.load_scores(scale, jobs=jobs, progress=progress)
    split = split_scores(all_scores, seed)
    ctx = {"seed": seed, "out": out, "scores": split, "catalog": cat}
    t1 = time.time()
    train_tasks = [("train", c, i) for i in range(sc.train_per_class) for c in CLASSES]
    val_tasks = [("val", c, i) for i in range(sc.val_per_class) for c in CLASSES]
    test_tasks = [(f, i) for i in range(sc.test_clips_per_fold) for f in cat.test_folds]
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
        files += _run(make_test_clip, test_tasks, pool, "render test mixtures", progress)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    failed = sum(f is None for f in files)
    files = [f for f in files if f is not None]
    # children's CPU time (worker processes) counts: the budget is CPU time on this machine
    ch = os.times()
    cpu_s = time.process_time() - c0 + ch.children_user + ch.children_system
    manifest = {
        "format": "instrument-meter corpus v2 (IRMAS layout, recording families)",
        "scale": scale,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "classes": list(CLASSES),
        "counts": datacard.counts(files, cat),
        "failed_items": failed,
        "families": families.describe(cat),
        "folds": cat.folds,
        "test_folds": cat.test_folds,
        "family_check": check,
        "score_split": {k: [s["id"] for s in v] for k, v in split.items()},
        "licenses": datacard.licenses(cat),
        "files": files,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    with open(os.path.join(out, "pools.json"), "w") as f:
        json.dump(cat.definition, f, indent=1)
    timing = {
        "total_s": round(time.time() - t0, 1),
        "render_s": round(time.time() - t1, 1),
        "cpu_s": round(cpu_s, 1),
        "jobs": jobs,
        "cpus": os.cpu_count(),
    }
    with open(os.path.join(out, "DATACARD.md"), "w") as f:
        f.write(datacard.render(manifest, timing))
    return {"manifest": manifest, "timing": timing}

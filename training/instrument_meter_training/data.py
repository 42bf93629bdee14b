"""Data layouts (IRMAS and our corpus), audio loading with a decoded-audio cache, windows, folds.

Training layout (IRMAS-TrainingData and our corpus's ``train/`` and ``val/``)::

    <root>/<cls>/<name>[<cls>][<dru|nod>][<genre>]<n>__<k>.wav

The label is the folder and the first bracket (they must agree). ``<name>`` (the part before the
first ``[``) identifies the source recording: every excerpt of one source goes to the same side of
a split. Test layout (IRMAS-TestingData-Part{1,2,3} and our corpus's ``test/``)::

    <root>/**/<clip>.wav + <clip>.txt    (one label per line, whitespace stripped)
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import LABELS, RMS_FLOOR, SAMPLE_RATE, SILENCE_DBFS, WINDOW_SAMPLES

_BRACKETS = re.compile(r"\[([^\]]*)\]")
_TRAILING_K = re.compile(r"__\d+$")


@dataclass(frozen=True)
class Excerpt:
    """One single-label training excerpt."""

    path: Path
    label: int  # index into the label list
    group: str  # source recording: never on both sides of a split
    tags: tuple[str, ...] = field(default=())  # the bracket contents after the label


@dataclass(frozen=True)
class Clip:
    """One multi-label test clip."""

    path: Path
    target: np.ndarray  # multi-hot, float32 [classes]


@dataclass(frozen=True)
class DataRoots:
    train: Path
    val: Path | None
    test: Path | None


def resolve_data_root(data: str | os.PathLike) -> DataRoots:
    """Accept a training folder directly (IRMAS-TrainingData) or a corpus root holding ``train/``
    (with ``val/`` and ``test/`` used when present)."""
    root = Path(data)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    if (root / "train").is_dir():
        val = root / "val" if (root / "val").is_dir() else None
        test = root / "test" if (root / "test").is_dir() else None
        return DataRoots(root / "train", val, test)
    return DataRoots(root, None, None)


def source_group(stem: str, how: str = "source") -> str:
    """Grouping key of a training file name (without extension).

    ``source``: the part before the first ``[`` (IRMAS song prefix, our corpus's ``<id>``); when that
    is empty (some IRMAS copies name files ``[cel][nod][cla]0001__1``) the whole stem without its
    ``__<k>`` excerpt suffix. ``pool``: the second bracket (our corpus's recording pool), for
    leave-one-pool-out validation.
    """
    if how == "pool":
        tags = _BRACKETS.findall(stem)
        return tags[1] if len(tags) > 1 else "?"
    prefix = stem.split("[", 1)[0]
    if prefix.strip(" _-"):
        return prefix
    return _TRAILING_K.sub("", stem)


def scan_training(
    root: str | os.PathLike, labels: Sequence[str] = LABELS, group_by: str = "source"
) -> list[Excerpt]:
    """Every ``<root>/<cls>/*.wav`` with ``cls`` in ``labels``, sorted by path."""
    root = Path(root)
    index = {c: i for i, c in enumerate(labels)}
    out: list[Excerpt] = []
    for cls_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if cls_dir.name not in index:
            continue
        for wav in sorted(cls_dir.glob("*.wav")):
            tags = tuple(_BRACKETS.findall(wav.stem))
            if tags and tags[0] != cls_dir.name:
                warnings.warn(
                    f"{wav}: first bracket [{tags[0]}] disagrees with folder; using folder", stacklevel=2
                )
            out.append(Excerpt(wav, index[cls_dir.name], source_group(wav.stem, group_by), tags[1:]))
    if not out:
        raise FileNotFoundError(f"no training excerpts under {root} (expected <root>/<cls>/*.wav)")
    return out


def family_of(e: Excerpt) -> str:
    """The recording family of a corpus excerpt: the second bracket of its name
    (``<score>[<cls>][<family>]<n>__<k>.wav``), ``"?"`` when absent."""
    return e.tags[0] if e.tags else "?"


def read_family_folds(root: str | os.PathLike) -> dict[str, list[str]]:
    """The LOFO folds of a corpus root: ``pools.json``'s ``"folds": {name: [family, ...]}``, in
    file order, restricted to its ``"test_folds"`` when it lists them (the other folds' families,
    e.g. synthetic ones, have no test mixtures: they always train). Test clips of fold ``name``
    live under ``<root>/test/<name>/``."""
    import json

    f = Path(root) / "pools.json"
    if not f.is_file():
        raise FileNotFoundError(f'{root} has no pools.json (leave-one-family-out needs its "folds")')
    folds = json.loads(f.read_text()).get("folds")
    if not isinstance(folds, dict) or not folds:
        raise ValueError(f'{f}: no "folds": {{name: [families]}} mapping')
    seen: dict[str, str] = {}
    for name, fams in folds.items():
        for fam in fams:
            if fam in seen:
                raise ValueError(f"{f}: family {fam!r} is in folds {seen[fam]!r} and {name!r}")
            seen[fam] = name
    tested = json.loads(f.read_text()).get("test_folds")
    if tested is not None:
        missing = [t for t in tested if t not in folds]
        if missing:
            raise ValueError(f"{f}: test_folds {missing} are not folds")
        folds = {k: folds[k] for k in folds if k in tested}
    return {str(k): [str(x) for x in v] for k, v in folds.items()}


def scan_test(root: str | os.PathLike, labels: Sequence[str] = LABELS) -> list[Clip]:
    """Every ``*.wav`` under ``root`` (recursively) with a sibling ``.txt`` of labels."""
    root = Path(root)
    index = {c: i for i, c in enumerate(labels)}
    out: list[Clip] = []
    for wav in sorted(root.rglob("*.wav")):
        txt = wav.with_suffix(".txt")
        if not txt.is_file():
            continue
        target = np.zeros(len(labels), np.float32)
        for line in txt.read_text(errors="replace").splitlines():
            code = line.strip()
            if not code:
                continue
            if code in index:
                target[index[code]] = 1.0
            else:
                warnings.warn(f"{txt}: unknown label {code!r} ignored", stacklevel=2)
        out.append(Clip(wav, target))
    if not out:
        raise FileNotFoundError(f"no test clips under {root} (expected **/*.wav with a .txt beside)")
    return out


# --------------------------------------------------------------------------------------------- audio


def default_cache_dir() -> Path:
    return Path(os.environ.get("INSTRUMENT_METER_CACHE", "cache/audio"))


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    import soxr

    return soxr.resample(x, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


#: Largest sample magnitude analysed (the Rust front end's ``downmix::MAX_SAMPLE``): 60 dB over
#: full scale; beyond it a sample is garbage (and near f32::MAX it overflows sums and FFTs).
MAX_SAMPLE = np.float32(1000.0)
#: Part of the decoded-audio cache key: bumped when ``decode`` changes what it returns.
DECODE_VERSION = 2


def sanitize(x: np.ndarray) -> np.ndarray:
    """NaN, ±Inf and samples beyond ±``MAX_SAMPLE`` replaced by 0, sample by sample (float32), as
    the Rust front end's ``downmix::sanitize`` (NaN compares false, so it is dropped too)."""
    x = np.asarray(x, np.float32)
    with np.errstate(invalid="ignore"):
        keep = np.abs(x) <= MAX_SAMPLE
    return np.where(keep, x, np.float32(0.0)).astype(np.float32, copy=False)


def downmix(frames: np.ndarray) -> np.ndarray:
    """Mono from ``[frames, channels]`` float32 exactly as the Rust ``downmix_interleaved``: every
    sample sanitised first, then the channel sum times ``1/channels`` (stereo: ``(l + r) * 0.5``),
    in float32. One bad channel therefore leaves the others' signal, not a zeroed frame."""
    x = sanitize(np.asarray(frames, np.float32).reshape(len(frames), -1))
    channels = x.shape[1]
    if channels == 1:
        return x[:, 0].copy()
    acc = x[:, 0].copy()
    for c in range(1, channels):  # left to right, as the Rust sum
        acc += x[:, c]
    return acc * (np.float32(1.0) / np.float32(channels))


def decode(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file: sanitised per sample and downmixed as the Rust front end (``downmix``),
    resampled to ``sample_rate``."""
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = downmix(x)
    return np.ascontiguousarray(_resample(x, int(sr), sample_rate), dtype=np.float32)


def load_audio(
    path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, cache_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """``decode`` with a ``.npy`` cache keyed by absolute path, size, mtime and sample rate."""
    if cache_dir is None:
        return decode(path, sample_rate)
    p = Path(path).resolve()
    st = p.stat()
    # DECODE_VERSION: decodes cached before the per-sample sanitising (Rust parity) are not reused
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}|{sample_rate}|{DECODE_VERSION}"
    key = hashlib.sha1(key.encode()).hexdigest()
    f = Path(cache_dir) / key[:2] / f"{key}.npy"
    if f.is_file():
        try:
            return np.load(f)
        except (OSError, ValueError):
            pass
    x = decode(p, sample_rate)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, x)
    os.replace(tmp, f)
    return x


def load_many(paths: Sequence[Path], sample_rate: int, cache_dir, desc: str = "audio") -> list[np.ndarray]:
    from tqdm import tqdm

    return [
        load_audio(p, sample_rate, cache_dir)
        for p in tqdm(paths, desc=f"load {desc}", leave=False, disable=len(paths) < 200)
    ]


# ------------------------------------------------------------------------------------------- windows


def rms(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=axis)).astype(np.float32)


def silence_floor(dbfs: float = SILENCE_DBFS) -> float:
    return float(10.0 ** (dbfs / 20.0))


def rms_normalize(x: np.ndarray) -> np.ndarray:
    """Each window (last axis) divided by max(rms, 1e-8), as the runtime's ``normalization=rms``."""
    r = rms(x, axis=-1)[..., None]
    return (x / np.maximum(r, RMS_FLOOR)).astype(np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return x[:n]
    return np.pad(x, (0, n - len(x)))


def cut_windows(x: np.ndarray, window: int = WINDOW_SAMPLES, hop: int | None = None) -> np.ndarray:
    """Windows ``[n, window]``: every ``hop`` (default: non-overlapping), the last partial window
    dropped unless the clip is shorter than one window (then zero-padded to one window)."""
    hop = hop or window
    if len(x) <= window:
        return fit_length(x, window)[None, :].astype(np.float32)
    n = 1 + (len(x) - window) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(window)[None, :]
    return x[idx].astype(np.float32)


# --------------------------------------------------------------------------------------------- folds


def group_kfold(groups: Sequence[str], k: int, seed: int = 0) -> list[np.ndarray]:
    """Assign groups to ``k`` folds, balancing item counts (largest groups first, greedy), with a
    seeded shuffle so ties break reproducibly. Returns per-fold arrays of item indices (validation
    side); the training side of fold ``f`` is every other index. One group is never split."""
    groups = list(groups)
    uniq = sorted(set(groups))
    if k < 2:
        raise ValueError("k-fold needs k >= 2")
    if len(uniq) < k:
        raise ValueError(f"{len(uniq)} source groups cannot fill {k} folds")
    rng = np.random.default_rng(seed)
    counts = {g: 0 for g in uniq}
    for g in groups:
        counts[g] += 1
    order = [uniq[i] for i in rng.permutation(len(uniq))]
    order.sort(key=lambda g: -counts[g])  # stable: seeded order among equal sizes
    load = np.zeros(k, np.int64)
    fold_of: dict[str, int] = {}
    for g in order:
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += counts[g]
    gi = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(gi == f) for f in range(k)]


def stratified_group_kfold(
    groups: Sequence[str], labels: Sequence[int], k: int, seed: int = 0
) -> list[np.ndarray]:
    """Group k-fold stratified by class (scikit-learn's ``StratifiedGroupKFold``, shuffled with
    ``seed``): each fold holds about 1/k of every class, and a group (source recording) is never
    split, even when it spans several classes (our corpus renders one score for several
    instruments). Falls back to ``group_kfold`` when stratification is impossible."""
    import warnings as _w

    from sklearn.model_selection import StratifiedGroupKFold

    groups = list(groups)
    if len(set(groups)) < k:
        raise ValueError(f"{len(set(groups))} source groups cannot fill {k} folds")
    try:
        with _w.catch_warnings():
            _w.simplefilter("ignore", UserWarning)  # "least populated class has only n members"
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            folds = [np.sort(v) for _, v in splitter.split(np.zeros(len(groups)), list(labels), groups)]
    except ValueError:
        return group_kfold(groups, k, seed)
    if any(len(f) == 0 for f in folds):
        return group_kfold(groups, k, seed)
    return folds

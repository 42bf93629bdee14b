"""Real multi-part music from the music21 corpus, parsed once and cached as note lists (JSON).

A score is {"id", "source", "composer", "parts": [{"name", "notes": [[onset_q, dur_q, midi], ...]}],
"length_q"}; times are in quarter notes, the corpus builder picks the tempo.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings

CACHE_VERSION = 1

# (composer, file filter, how many at irmas scale, how many at small scale)
COLLECTIONS = (
    ("bach", r"bwv[0-9.]+\.(mxl|xml)$", 330, 14),
    ("palestrina", r"\.krn$", 110, 4),
    ("monteverdi", r"madrigal\.[0-9.]+\.mxl$", 50, 2),
)


def repo_root() -> str:
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def cache_dir() -> str:
    d = os.environ.get("INSTRUMENT_METER_CACHE") or os.path.join(repo_root(), "cache")
    return os.path.join(d, f"corpus-scores-v{CACHE_VERSION}")


def slug(path: str) -> str:
    comp = os.path.basename(os.path.dirname(path))
    base = re.sub(r"\.(mxl|xml|krn|musicxml)$", "", os.path.basename(path))
    s = re.sub(r"[^a-z0-9]+", "-", f"{comp}-{base}".lower()).strip("-")
    return s


def score_paths(scale: str) -> list[str]:
    """Deterministic, evenly spread selection of corpus files (relative corpus paths)."""
    from music21 import corpus

    out = []
    for composer, pattern, n_irmas, n_small in COLLECTIONS:
        files = sorted(str(p) for p in corpus.getComposer(composer) if re.search(pattern, str(p)))
        n = n_small if scale == "small" else n_irmas
        step = max(1, len(files) // max(n, 1))
        picked = files[::step][:n]
        root = os.path.dirname(os.path.dirname(picked[0])) if picked else ""
        out += [os.path.relpath(p, root) for p in picked]
    return out


def extract(rel_path: str) -> dict | None:
    """Parse one score and extract its parts' notes (ties merged)."""
    from music21 import corpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = corpus.parse(rel_path)
    parts = []
    for i, p in enumerate(s.parts):
        notes = []
        for n in p.flatten().stripTies().notes:
            if n.duration.isGrace:
                continue
            pitches = [x.midi for x in n.pitches]
            for m in pitches:
                d = float(n.quarterLength)
                if d > 0:
                    notes.append([round(float(n.offset), 4), round(d, 4), int(m)])
        if len(notes) >= 8:
            notes.sort()
            parts.append({"name": p.partName or f"part{i + 1}", "notes": notes})
    if not parts:
        return None
    length = max(n[0] + n[1] for p in parts for n in p["notes"])
    composer = rel_path.split("/")[0]
    return {
        "id": slug(rel_path),
        "source": f"music21 corpus: {rel_path}",
        "composer": composer,
        "parts": parts,
        "length_q": length,
    }


def _cache_file(rel_path: str) -> str:
    h = hashlib.sha1(rel_path.encode()).hexdigest()[:10]
    return os.path.join(cache_dir(), f"{slug(rel_path)}-{h}.json")


def load_or_extract(rel_path: str) -> dict | None:
    f = _cache_file(rel_path)
    if os.path.exists(f):
        with open(f) as fh:
            return json.load(fh)
    try:
        score = extract(rel_path)
    except Exception as e:  # a corpus file music21 cannot parse is skipped, not fatal
        score = {"error": repr(e)}
    os.makedirs(os.path.dirname(f), exist_ok=True)
    tmp = f"{f}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(score, fh)
    os.replace(tmp, f)
    return score


def load_scores(scale: str, jobs: int = 1, progress: bool = True) -> list[dict]:
    """Every selected score (parsed once, then read from the cache), in a fixed order."""
    paths = score_paths(scale)
    todo = [p for p in paths if not os.path.exists(_cache_file(p))]
    if todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="parse scores (music21, cached)", unit="score", disable=not progress)
        if jobs > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(jobs) as pool:
                for _ in pool.imap_unordered(load_or_extract, todo):
                    bar.update()
        else:
            for p in todo:
                load_or_extract(p)
                bar.update()
        bar.close()
    out = []
    for p in paths:
        s = load_or_extract(p)
        if s and "error" not in s:
            out.append(s)
    return out

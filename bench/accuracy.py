"""Accuracy of classification, similarity search and placeholder detection on real labelled images.

    python -m bench.accuracy                 # all three; builds the sets first (see bench/datasets.py)
    python -m bench.accuracy classify --write-weights   # refit segregator/classifier_weights.json on the whole set

Classification is scored by 5-fold cross-validation: the linear weights are fitted on four folds and scored
on the fifth, so every figure printed is on images the weights never saw. It prints balanced accuracy and
the confusion per category.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from bench.datasets import data_root, unpacked, build_classify, build_placeholders, build_similarity
from segregator.analysis import analyse_file
from segregator.classify import classify_features
from segregator.jobs import load_reference
from segregator.settings import CATEGORIES, ClassifierSettings, Settings
from segregator.similarity import find_similar

WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "segregator" / "classifier_weights.json"


# ---------------------------------------------------------------- classification

def _features(folder: Path, settings: Settings):
    rows, labels, names = [], [], []
    for i, category in enumerate(CATEGORIES):
        for path in sorted((folder / category).glob("*.jpg")):
            r = analyse_file(path, settings=settings)
            if r.ok:
                rows.append(r.features)
                labels.append(i)
                names.append(path.name)
    return rows, np.array(labels), names


def fit_linear(X: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 0.02, steps: int = 3000,
               emphasis: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced multinomial logistic regression (full-batch gradient descent); returns W (f x c), b (c).
    `emphasis` multiplies each sample's weight (full-frame photos count more than cut-outs)."""
    n, f = X.shape
    Y = np.eye(n_classes)[y]
    emphasis = np.ones(n) if emphasis is None else emphasis
    counts = np.bincount(y, weights=emphasis, minlength=n_classes)
    sample_w = (emphasis * emphasis.sum() / (n_classes * np.maximum(counts, 1e-9))[y])[:, None] / emphasis.mean()
    W = np.zeros((f, n_classes))
    b = np.zeros(n_classes)
    lr = 0.5
    for _ in range(steps):
        z = X @ W + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - Y) * sample_w / n
        W -= lr * (X.T @ g + l2 * W)
        b -= lr * g.sum(axis=0)
    return W, b


PHOTO_EMPHASIS = 4.0


def emphasis_of(names) -> np.ndarray:
    """Full-frame photos weigh PHOTO_EMPHASIS times a cut-out on white (the stamps are cut-outs)."""
    return np.array([1.0 if n.startswith(CUTOUT_PREFIXES) else PHOTO_EMPHASIS for n in names])


CUTOUT_PREFIXES = ("cut_",)  # bench/datasets.py names cut-outs (stamps, portraits, icons) so


def weights_dict(feats, y, names=None) -> dict[str, dict[str, float]]:
    """Fit on standardised features, then fold the standardisation into plain per-feature weights."""
    keys = sorted(feats[0].vector())
    X = np.array([[f.vector()[k] for k in keys] for f in feats])
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-6
    emphasis = emphasis_of(names) if names is not None else None
    W, b = fit_linear((X - mean) / scale, y, len(CATEGORIES), emphasis=emphasis)
    raw_W = W / scale[:, None]
    raw_b = b - (mean / scale) @ W
    out = {}
    for c, category in enumerate(CATEGORIES):
        out[category] = {"bias": round(float(raw_b[c]), 6)}
        out[category].update({k: round(float(raw_W[i, c]), 6) for i, k in enumerate(keys)})
    return out


def _balanced(y, pred) -> float:
    recalls = [np.mean(pred[y == c] == c) for c in np.unique(y)]
    return float(np.mean(recalls))


def _print_confusion(y, pred) -> None:
    width = max(len(c) for c in CATEGORIES)
    print(" " * (width + 2) + " ".join(f"{c[:5]:>5}" for c in CATEGORIES) + "  recall")
    for i, c in enumerate(CATEGORIES):
        row = [int(np.sum((y == i) & (pred == j))) for j in range(len(CATEGORIES))]
        rec = np.mean(pred[y == i] == i) if np.any(y == i) else float("nan")
        print(f"{c:>{width}}  " + " ".join(f"{v:5d}" for v in row) + f"  {rec:6.1%}")


def _report(title: str, y, pred, names) -> float:
    """Print balanced and plain accuracy, the confusion, and the photos-only figure; return the balanced one."""
    ba = _balanced(y, pred)
    print(f"{title}: balanced accuracy {ba:.1%}, plain accuracy {np.mean(pred == y):.1%} (chance {1/len(CATEGORIES):.1%})")
    _print_confusion(y, pred)
    photo = ~np.array([n.startswith(CUTOUT_PREFIXES) for n in names])
    print(f"  of which full-frame photos and artwork only ({photo.sum()} images, {len(set(y[photo]))} categories): "
          f"balanced accuracy {_balanced(y[photo], pred[photo]):.1%}")
    return ba


def bench_classify(write_weights: bool = False) -> float:
    folder = build_classify(unpacked())
    settings = Settings()
    feats, y, names = _features(folder, settings)
    print(f"classification: {len(y)} labelled images, {Counter(CATEGORIES[i] for i in y)}")
    folds = np.array([zlib.crc32(n.encode()) % 5 for n in names])
    pred = np.zeros_like(y)
    for k in range(5):
        train, test = folds != k, folds == k
        w = weights_dict([f for f, t in zip(feats, train) if t], y[train], [n for n, t in zip(names, train) if t])
        cs = ClassifierSettings(weights=w)
        for i in np.nonzero(test)[0]:
            pred[i] = CATEGORIES.index(classify_features(feats[i], cs).category)
    ba = _report("5-fold cross-validated", y, pred, names)
    shipped = np.array([CATEGORIES.index(classify_features(f, settings.classifier).category) for f in feats])
    print(f"shipped weights on the whole set (seen in fitting, optimistic): balanced accuracy {_balanced(y, shipped):.1%}")
    if write_weights:
        data = {"about": "linear weights over segregator.features, fitted by `python -m bench.accuracy classify "
                         "--write-weights` on the labelled set of bench/datasets.py",
                "weights": weights_dict(feats, y, names)}
        WEIGHTS_FILE.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {WEIGHTS_FILE}")
    return ba


def bench_learned() -> tuple[float, float]:
    """The image model with no training (ImageNet classes summed into the nine categories), and taught by
    example: fitted on one half of the labelled set, scored on the other half (never the images it learned
    from), then the halves swapped."""
    from segregator import learned

    if not learned.available():
        print("learned: model or onnxruntime missing, skipped")
        return 0.0, 0.0
    folder = build_classify(unpacked())
    settings = Settings().with_overrides({"classifier.backend": "learned", "classifier.keep_embedding": True})
    y, pred, embs, names = [], [], [], []
    for i, category in enumerate(CATEGORIES):
        for path in sorted((folder / category).glob("*.jpg")):
            r = analyse_file(path, settings=settings)
            if r.ok:
                y.append(i)
                pred.append(CATEGORIES.index(r.classification.category))
                embs.append(learned.teach_features(r.embedding, r.levels))
                names.append(path.name)
    y, pred, embs = np.array(y), np.array(pred), np.stack(embs)
    ba = _report(f"learned, no training ({len(y)} images)", y, pred, names)
    photo = ~np.array([n.startswith(CUTOUT_PREFIXES) for n in names])
    half = np.array([zlib.crc32(n.encode()) % 2 for n in names])
    taught = np.zeros_like(y)
    for k in (0, 1):
        train, test = half != k, half == k
        model = learned.fit(embs[train], [CATEGORIES[i] for i in y[train]])
        for i in np.nonzero(test)[0]:
            scores = model.scores(embs[i])
            taught[i] = CATEGORIES.index(max(scores, key=scores.get))
    tba = _balanced(y, taught)
    print(f"taught by example (fitted on one half, scored on the other, both ways): balanced accuracy {tba:.1%}, "
          f"plain accuracy {np.mean(taught == y):.1%}; photos and artwork only {_balanced(y[photo], taught[photo]):.1%}")
    _print_confusion(y, taught)
    _bench_unknown(embs, y, half)
    return ba, tba


def _bench_unknown(embs: np.ndarray, y: np.ndarray, half: np.ndarray) -> None:
    """Teach by example's "unknown": taught on six of the nine categories (three rotations, so each category
    is left out once; fitted on one half, scored on the other, both ways), the share of images of the three
    untaught categories that stay where they are, and the taught accuracy with and without it, at a few
    thresholds (the default first)."""
    from segregator import learned
    from segregator.settings import ClassifierSettings

    default = ClassifierSettings().min_familiarity
    thresholds = [default] + [t for t in (0.4, 0.6, 0.65) if t != default]
    ok_all, like_taught, like_untaught = [], [], []
    for left_out in ((0, 3, 6), (1, 4, 7), (2, 5, 8)):
        taught = ~np.isin(y, left_out)
        for k in (0, 1):
            train, test = taught & (half != k), taught & (half == k)
            model = learned.fit(embs[train], [CATEGORIES[i] for i in y[train]])
            for i in np.nonzero(test)[0]:
                scores = model.scores(embs[i])
                ok_all.append(max(scores, key=scores.get) == CATEGORIES[y[i]])
                like_taught.append(model.familiarity(embs[i]))
            like_untaught += [model.familiarity(embs[i]) for i in np.nonzero(~taught)[0]]
    ok, lt, lu = np.array(ok_all), np.array(like_taught), np.array(like_untaught)
    for t in thresholds:
        kept = ok & (lt >= t)
        print(f"taught by example, unknown below similarity {t:.2f}{' (default)' if t == default else ''}: "
              f"untaught categories stay put {np.mean(lu < t):.1%} (target >= 80 %); taught accuracy "
              f"{ok.mean():.1%} -> {kept.mean():.1%} (drop {100 * (ok.mean() - kept.mean()):.1f} points; target <= 2)")
    _bench_none_of_these(embs, y, half, default)


def _bench_none_of_these(embs: np.ndarray, y: np.ndarray, half: np.ndarray, threshold: float) -> None:
    """Teach by example with a "none of these" folder beside the six taught categories (default threshold
    too): filled with images of the same kinds as the untaught ones (half of them; scored on the other half),
    or of other kinds (one untaught category as the examples, the other two scored)."""
    from segregator import learned

    for scheme in ("same kinds", "other kinds"):
        ok0, ok1, stay = [], [], []
        for left_out in ((0, 3, 6), (1, 4, 7), (2, 5, 8)):
            taught = ~np.isin(y, left_out)
            for k in (0, 1):
                train, test = taught & (half != k), taught & (half == k)
                if scheme == "same kinds":
                    none, unseen = ~taught & (half != k), ~taught & (half == k)
                else:
                    none, unseen = y == left_out[k], np.isin(y, left_out) & (y != left_out[k])
                labels = [CATEGORIES[i] for i in y[train]]
                plain = learned.fit(embs[train], labels)
                model = learned.fit(np.concatenate([embs[train], embs[none]]), labels + [learned.NONE_OF_THESE] * int(none.sum()))

                def verdict(m, i):
                    scores = m.scores(embs[i])
                    best = max(scores, key=scores.get)
                    return "unknown" if best == learned.NONE_OF_THESE or m.familiarity(embs[i]) < threshold else best

                for i in np.nonzero(test)[0]:
                    ok0.append(verdict(plain, i) == CATEGORIES[y[i]])
                    ok1.append(verdict(model, i) == CATEGORIES[y[i]])
                stay += [verdict(model, i) == "unknown" for i in np.nonzero(unseen)[0]]
        print(f"taught by example with a \"none of these\" folder of {scheme}: untaught images stay put "
              f"{np.mean(stay):.1%}; taught accuracy {np.mean(ok0):.1%} -> {np.mean(ok1):.1%} "
              f"(drop {100 * (np.mean(ok0) - np.mean(ok1)):.1f} points)")


def bench_faces() -> tuple[float, float]:
    """Face detection: the share of real face photos (LFW crops, the astronaut) where a face is found, and
    of the labelled set's other photos and drawings (no people) where one is wrongly found."""
    from segregator.faces import available, detect_faces
    from segregator.loading import load_image

    if not available():
        print("faces: OpenCV missing, skipped")
        return 0.0, 0.0
    folder = build_classify(unpacked())
    people = [p for p in (folder / "People").glob("*.jpg") if p.name.startswith(("lfw_", "data_astronaut"))]
    others = [p for c in CATEGORIES if c not in ("People", "Art") for p in (folder / c).glob("*.jpg")]
    found = sum(1 for p in people if detect_faces(load_image(p.read_bytes(), 256).image))
    false = [p.name for p in others if detect_faces(load_image(p.read_bytes(), 256).image)]
    print(f"faces: found in {found}/{len(people)} real face photos ({found / len(people):.0%}); "
          f"wrongly found in {len(false)}/{len(others)} images of the other categories but Art {false[:4]}")
    return found / len(people), len(false) / len(others)


# ---------------------------------------------------------------- similarity

def bench_similarity() -> tuple[float, float]:
    folder = build_similarity(unpacked())
    settings = Settings().with_overrides({"placeholder.ocr": False})
    originals = sorted((folder / "originals").glob("*.jpg"))
    copies = sorted((folder / "copies").glob("*.jpg"))
    cands = [(p, p.stem.split("__")[0], p.stem.split("__")[1]) for p in copies] + [(p, p.stem, "original") for p in originals]
    results = {p: analyse_file(p, settings=settings) for p, _, _ in cands}
    fps = [results[p].fingerprint for p, _, _ in cands]
    tp = fp = 0
    per_edit: Counter = Counter()
    per_edit_total: Counter = Counter()
    t_search = 0.0
    for ref in originals:
        reference = load_reference(ref.read_bytes(), settings)
        t0 = time.perf_counter()
        sims = find_similar(reference, fps, settings.similarity)
        t_search += time.perf_counter() - t0
        for (p, owner, edit), s in zip(cands, sims):
            if edit == "original" and owner == ref.stem:
                continue  # the reference itself
            if owner == ref.stem:
                per_edit_total[edit] += 1
                per_edit[edit] += s.match
                tp += s.match
            else:
                fp += s.match
    total = sum(per_edit_total.values())
    recall = tp / total
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(f"similarity: {len(originals)} photos as references, {len(fps)} candidates each "
          f"({len(fps) * len(originals)} comparisons, {t_search / len(originals) * 1000:.1f} ms per reference)")
    for edit in sorted(per_edit_total):
        print(f"  {edit:>10}: found {per_edit[edit]}/{per_edit_total[edit]} ({per_edit[edit] / per_edit_total[edit]:.0%})")
    print(f"  recall {recall:.3f}, precision {precision:.3f} ({fp} false matches)")
    return recall, precision


def bench_similarity_embeddings(thresholds=(0.75, 0.8, 0.85, 0.9)) -> None:
    """The third stage (image-model embeddings) on top of hashes and pixels: the same set plus re-framed
    copies made here (a quarter cut from two sides; a 35 % zoom into the middle), which hashing misses."""
    from segregator import learned
    from segregator.analysis import analyse_bytes

    if not learned.available():
        print("similarity with embeddings: model missing, skipped")
        return
    folder = build_similarity(unpacked())
    originals = sorted((folder / "originals").glob("*.jpg"))
    cands = [(p.read_bytes(), p.stem.split("__")[0], p.stem.split("__")[1]) for p in sorted((folder / "copies").glob("*.jpg"))]
    cands += [(p.read_bytes(), p.stem, "original") for p in originals]
    for p in originals:
        im = Image.open(p).convert("RGB")
        w, h = im.size
        for edit, box in (("reframe25", (w // 4, h // 4, w, h)), ("zoom35", (int(w * .175), int(h * .175), int(w * .825), int(h * .825)))):
            buf = io.BytesIO()
            im.crop(box).save(buf, "JPEG", quality=85)
            cands.append((buf.getvalue(), p.stem, edit))
    base = Settings().with_overrides({"placeholder.ocr": False, "similarity.min_embedding_similarity": 0.5})
    results = [analyse_bytes(f"c{i}.jpg", data, base, placeholders=False) for i, (data, _, _) in enumerate(cands)]
    fps, embs = [r.fingerprint for r in results], [r.embedding for r in results]
    refs = {ref.stem: load_reference(ref.read_bytes(), base) for ref in originals}
    print(f"similarity with embeddings: {len(originals)} references x {len(cands)} candidates (re-framed copies added)")
    for t in (0.0, *thresholds):
        settings = base.with_overrides({"similarity.min_embedding_similarity": t})
        per_edit: Counter = Counter()
        per_total: Counter = Counter()
        fp = 0
        for stem, reference in refs.items():
            for (data, owner, edit), sim in zip(cands, find_similar(reference, fps, settings.similarity, embs)):
                if edit == "original" and owner == stem:
                    continue
                if owner == stem:
                    per_total[edit] += 1
                    per_edit[edit] += sim.match
                else:
                    fp += sim.match
        tp = sum(per_edit.values())
        label = "off" if t == 0 else f"{t:.2f}"
        print(f"  threshold {label:>4}: recall {tp / sum(per_total.values()):.3f}, false matches {fp}, precision "
              f"{tp / (tp + fp) if tp + fp else 1:.3f}; " + ", ".join(f"{e} {per_edit[e]}/{per_total[e]}" for e in sorted(per_total)))


# ---------------------------------------------------------------- placeholders

def bench_placeholders(verbose: bool = False) -> float:
    folder = build_placeholders(unpacked())
    settings = Settings()
    stats = Counter()
    misses, false = [], []
    for truth in ("yes", "no"):
        for path in sorted((folder / truth).glob("*.png")):
            r = analyse_file(path, settings=settings)
            said = bool(r.ok and r.placeholder.is_placeholder)
            stats[(truth, said)] += 1
            if truth == "yes" and not said:
                misses.append((path.name, r.placeholder.reasons if r.ok else r.error))
            if truth == "no" and said:
                false.append((path.name, r.placeholder.reasons))
            if truth == "yes" and path.name.startswith("text_"):
                stats["text_total"] += 1
                stats["text_found"] += said
    tp, fn, fp = stats[("yes", True)], stats[("yes", False)], stats[("no", True)]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ocr = "on" if r.placeholder is None or r.placeholder.ocr != "unavailable" else "off (Tesseract missing)"
    print(f"placeholders: {tp + fn} placeholders, {fp + stats[('no', False)]} hard negatives, OCR {ocr}")
    print(f"  precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f}; "
          f"text placeholders found {stats['text_found']}/{stats['text_total']}")
    for name, why in misses:
        print(f"  missed: {name}: {why}")
    for name, why in false:
        print(f"  false alarm: {name}: {why}")
    return f1


def bench_duplicates() -> dict[str, tuple[float, float]]:
    """Duplicates across a collection: real photos, each with its copies (an exact byte copy and the edits of
    bench/datasets.py DUPLICATE_EDITS; for the similar tier also SIMILAR_EDITS), among near-miss pairs (two
    shots of one scene) and each other. Pairs within groups: precision and recall, and per edit the share of
    copies grouped with their original."""
    from itertools import combinations

    from segregator import duplicates as dup
    from segregator import learned

    from bench.datasets import SIMILAR_EDITS, build_duplicates

    folder = build_duplicates(unpacked())
    embed = learned.available()
    settings = Settings().with_overrides({"placeholder.ocr": False, "similarity.min_embedding_similarity": 0.9 if embed else 0.0})
    files = sorted(folder.glob("*.jpg"))
    results = [analyse_file(p, key=p.name, settings=settings) for p in files]
    owner = {p.name: p.stem.split("__")[0] for p in files}
    edit = {p.name: p.stem.split("__")[1] for p in files}
    out = {}
    for tier in ("near", "similar") if embed else ("near",):
        chosen = [r for r in results if tier == "similar" or edit[r.key] not in SIMILAR_EDITS]
        coll, _ = dup.collect(chosen, embeddings=tier == "similar")
        t0 = time.perf_counter()
        rows = dup.find_groups(coll, dup.DuplicateSettings(tier=tier))
        took = time.perf_counter() - t0
        group = {coll.keys[r.index]: r.group for r in rows}
        truth = {frozenset(p) for p in combinations(coll.keys, 2) if owner[p[0]] == owner[p[1]]}
        found = {frozenset(p) for p in combinations(coll.keys, 2) if group[p[0]] is not None and group[p[0]] == group[p[1]]}
        tp = len(truth & found)
        precision, recall = (tp / len(found) if found else 1.0), tp / len(truth)
        misses = [sorted(p) for p in found - truth][:4]
        print(f"duplicates, tiers up to {tier}: {len(coll.keys)} images ({sum(1 for k in coll.keys if k.startswith('miss'))} "
              f"in near-miss pairs), {len(truth)} true pairs; precision {precision:.3f}, recall {recall:.3f} "
              f"(grouping {took:.2f} s){'; wrong pairs e.g. ' + str(misses) if misses else ''}")
        per = Counter()
        tot = Counter()
        for k in coll.keys:
            if edit[k] in ("original",) or k.startswith("miss"):
                continue
            tot[edit[k]] += 1
            per[edit[k]] += group[k] is not None and group[k] == group.get(f"{owner[k]}__original.jpg")
        print("   per copy: " + ", ".join(f"{e} {per[e] / tot[e]:.0%}" for e in tot))
        out[tier] = (precision, recall)
    return out


def bench_search() -> float:
    """"Images like this one" on real photos: the duplicates set (each photo with its exact copy, eight edited
    copies and two re-framed ones, among near-miss pairs and each other) in a search store; each original is the
    query. A query succeeds when its top 10 (itself aside) are all its copies (it has 11: none may be pushed out by
    another image); per edit, the share of copies that rank above every other image (within the top 11)."""
    import tempfile

    from segregator.search import SearchStore

    from bench.datasets import build_duplicates

    folder = build_duplicates(unpacked())
    files = sorted(folder.glob("*.jpg"))
    settings = Settings().with_overrides({"classifier.backend": "learned", "placeholder.ocr": False,
                                          "similarity.min_embedding_similarity": 0.8})
    results = {p.name: analyse_file(p, key=p.name, settings=settings) for p in files}
    owner = {p.name: p.stem.split("__")[0] for p in files}
    edit = {p.name: p.stem.split("__")[1] for p in files}
    with tempfile.TemporaryDirectory() as tmp:
        store = SearchStore("bench:search-accuracy", Path(tmp))
        store.update((k, "v", r) for k, r in results.items())
        complete, per, tot = 0, Counter(), Counter()
        queries = [k for k in results if edit[k] == "original" and not k.startswith("miss")]
        for q in queries:
            copies = [k for k in results if owner[k] == owner[q] and k != q]
            ranked = [h.key for h in store.like(results[q].embedding, len(copies) + 1) if h.key != q]
            complete += all(owner[k] == owner[q] for k in ranked[:10])
            for k in copies:
                tot[edit[k]] += 1
                per[edit[k]] += k in ranked[:len(copies)]
        store.close()
    share = complete / len(queries)
    print(f"search, like this one: {len(queries)} real photos as queries among {len(results)} images (each with "
          f"{sum(tot.values()) // len(queries)} copies): top 10 all its own copies for {share:.1%} of queries "
          f"(target >= 95 %)")
    print("   copies ranked above every other image: " + ", ".join(f"{e} {per[e] / tot[e]:.0%}" for e in sorted(tot)))
    return share


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="*", choices=["classify", "learned", "faces", "similarity", "placeholders", "duplicates",
                                                    "grouped", "search", []],
                        default=[])
    parser.add_argument("--write-weights", action="store_true")
    args = parser.parse_args(argv)
    what = args.what or ["classify", "learned", "faces", "similarity", "placeholders", "duplicates", "search"]
    print(f"data: {data_root()}")
    if "classify" in what:
        bench_classify(args.write_weights)
    if "learned" in what:
        bench_learned()
    if "faces" in what:
        bench_faces()
    if "similarity" in what:
        bench_similarity()
        bench_similarity_embeddings()
    if "placeholders" in what:
        bench_placeholders()
    if "duplicates" in what:
        bench_duplicates()
    if "search" in what:
        bench_search()
    if "grouped" in what:  # the large labelled sets, cross-validated by package (bench/grouped.py)
        from bench.grouped import main as grouped

        grouped([])
    return 0


if __name__ == "__main__":
    sys.exit(main())

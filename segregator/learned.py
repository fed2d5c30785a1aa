"""The learned classifier: EfficientNet-Lite0 (ImageNet weights, shipped in segregator/models/) run by
onnxruntime on the CPU, offline. It gives two things per image: ImageNet class probabilities, summed into the
nine categories through a reviewed class -> category map, and a 1280-d embedding, on which a user's own
categories are learned by example (`teach`). No weights are ever downloaded.

The model file and map are made by tools/export_model.py (see there for origin and licence)."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .settings import CATEGORIES

MODELS = Path(__file__).resolve().parent / "models"
FLOAT_MODEL_FILE = MODELS / "efficientnet_lite0.onnx"      # the network as exported (tools/export_model.py)
INT8_MODEL_FILE = MODELS / "efficientnet_lite0_int8.onnx"  # ... quantised (tools/quantize_model.py): 2.2x quicker
MODEL_FILE = INT8_MODEL_FILE if INT8_MODEL_FILE.exists() else FLOAT_MODEL_FILE  # what the analysis runs
MAP_FILE = MODELS / "imagenet_categories.json"
HEAD_FILE = MODELS / "category_head.json"  # the nine categories learned from a labelled set (tools/train_head.py)
PLACEHOLDER_HEAD_FILE = MODELS / "placeholder_head.json"  # placeholder or not, from the same features (ditto)
HEAD_WEIGHT = 0.6  # the head's share in the blend with the ImageNet-map prior (bench/grouped.py: 0.5-0.7 alike)
INPUT = 224
EMBEDDING_SIZE = 1280
FEATURES_SIZE = EMBEDDING_SIZE + 624  # teach_features(): the embedding and the mid-level "levels"


def available() -> bool:
    """True when the model file is present and onnxruntime is installed (found, not imported: only the
    analysis workers load it, so the main process and its start-up stay light)."""
    import importlib.util

    return MODEL_FILE.exists() and importlib.util.find_spec("onnxruntime") is not None


def preprocess(source: Image.Image | bytes, pillow: bool = False) -> np.ndarray:
    """An image (or its bytes) as the network's input: the whole frame resized to 224 x 224 (no crop: on the
    labelled set of bench/accuracy.py this teaches better than a centre crop, 0.781 vs 0.774, and classifies
    as well), RGB 0..255, 3 x 224 x 224 float32 (the network scales to (x - 127) / 128 itself). Resized by
    OpenCV (loading.resize_pixels: 0.05 ms against Pillow's 0.3, within half a grey level of it on average);
    `pillow`: by Pillow's BILINEAR, as the reference outputs (models/reference_outputs.json) were made."""
    if isinstance(source, (bytes, bytearray)):
        from .loading import load_image

        source = load_image(bytes(source), 256).image
    image = source.convert("RGB") if source.mode != "RGB" else source
    if pillow:
        pixels = np.asarray(image.resize((INPUT, INPUT), Image.Resampling.BILINEAR, reducing_gap=2.0))
    else:
        from .loading import resize_pixels

        pixels = resize_pixels(np.asarray(image), (INPUT, INPUT))
    return np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32)


@functools.cache
def _session(path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1   # the analysis pool runs one process per core already
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run_model(batch: np.ndarray, model: Path = MODEL_FILE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logits N x 1000, embeddings N x 1280, levels N x 624) for a batch of preprocessed images. The levels
    are pooled mid-level features (blocks 10, 14 and 15) that taught classifiers read beside the embedding."""
    if not model.exists():
        raise FileNotFoundError(f"model file missing: {model}")
    logits, embedding, levels = _session(str(model)).run(None, {"image": batch.astype(np.float32, copy=False)})
    return logits, embedding, levels


def run_image(image: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """run_model() for one working image: (logits 1000, embedding 1280, levels 624)."""
    logits, embedding, levels = run_model(preprocess(image)[None])
    return logits[0], embedding[0], levels[0]


def teach_features(embedding: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """What a taught classifier reads: the embedding and the mid-level features, each signed-square-rooted
    (balanced accuracy on bench/accuracy.py's held-out half: 0.750 raw embedding, 0.781 rooted, about 0.80
    with the levels)."""
    return np.concatenate([_power(embedding), _power(levels)], axis=-1)


@functools.cache
def class_map() -> tuple[tuple[str, str, str | None], ...]:
    """The 1000 ImageNet classes: (WordNet id, name, category or None)."""
    rows = json.loads(MAP_FILE.read_text())
    return tuple((r["wnid"], r["name"], r["category"]) for r in rows)


@functools.cache
def _category_matrix() -> np.ndarray:
    """1000 x 9: 1 where a class counts for a category."""
    m = np.zeros((1000, len(CATEGORIES)), dtype=np.float32)
    index = {c: i for i, c in enumerate(CATEGORIES)}
    for k, (_, _, cat) in enumerate(class_map()):
        if cat is not None:
            m[k, index[cat]] = 1.0
    return m


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def imagenet_scores(logits: np.ndarray, heuristic: dict[str, float] | None = None) -> tuple[dict[str, float], list[str]]:
    """Category scores from one image's logits: each category gets the probability of its classes. The mass
    of classes that count for no category, and Art and Abstract (which ImageNet barely covers), go by the
    colour/edge classifier's scores (`heuristic`), so an image the network cannot place falls back on them.
    Returns the scores (summing to 1) and the top three ImageNet class names, for the plan's reasons."""
    p = softmax(logits.astype(np.float64))
    mass = p @ _category_matrix().astype(np.float64)
    rest = max(0.0, 1.0 - float(mass.sum()))
    scores = {c: float(mass[i]) for i, c in enumerate(CATEGORIES)}
    if heuristic:
        for c in CATEGORIES:
            scores[c] += rest * heuristic.get(c, 0.0)
        # Art and Abstract: the network's doubt (low top probability) lends them the heuristic's belief.
        doubt = 1.0 - float(p.max())
        for c in ("Art", "Abstract"):
            scores[c] += doubt * heuristic.get(c, 0.0)
    total = sum(scores.values()) or 1.0
    names = class_map()
    top = [names[i][1] for i in np.argsort(-p)[:3]]
    return {c: v / total for c, v in scores.items()}, top


TAG_MIN = 0.15  # an ImageNet class is one of an image's tags from this probability on


def class_tags(logits: np.ndarray) -> tuple[tuple[str, float], ...]:
    """The ImageNet classes of one image's logits with probability >= TAG_MIN, surest first: (name, p)."""
    p = softmax(np.asarray(logits, dtype=np.float64))
    names = class_map()
    return tuple((names[i][1], round(float(p[i]), 4)) for i in np.argsort(-p)[:5] if p[i] >= TAG_MIN)


@functools.cache
def default_head() -> "TaughtModel | None":
    """The shipped nine-category head (a TaughtModel over teach_features), or None without its file."""
    return TaughtModel.load(HEAD_FILE) if HEAD_FILE.exists() else None


@functools.cache
def placeholder_head() -> "TaughtModel | None":
    """The shipped placeholder-or-not head (categories "image" and "placeholder"), or None without its file."""
    return TaughtModel.load(PLACEHOLDER_HEAD_FILE) if PLACEHOLDER_HEAD_FILE.exists() else None


def placeholder_likelihood(features: np.ndarray) -> float | None:
    """How likely an image is a placeholder (a pictogram, a default avatar, a text or size box) rather than a
    picture of something, from its teach_features(); None without the head."""
    head = placeholder_head()
    return None if head is None else head.scores(features)[PLACEHOLDER]


PLACEHOLDER = "placeholder"  # the placeholder head's positive category (the other is "image")


def blend(head: np.ndarray, prior: np.ndarray, weight: float = HEAD_WEIGHT) -> np.ndarray:
    """The head's and the ImageNet-map prior's category probabilities (N x 9 each) blended geometrically:
    head^weight * prior^(1 - weight), renormalised. Where the head is unsure (flat), the prior decides."""
    z = weight * np.log(np.clip(head, 1e-6, 1.0)) + (1.0 - weight) * np.log(np.clip(prior, 1e-6, 1.0))
    return softmax(z, axis=-1)


# -- teach by example -----------------------------------------------------------------------------------------

NONE_OF_THESE = "none of these"  # the taught "category" of examples to leave alone: an image most like them stays put


def is_none_folder(name: str) -> bool:
    """An examples subfolder of what is none of the categories: "none of these", "none", "_none" (any case)."""
    return name.strip().lower().replace("_", " ").replace("-", " ").strip() in ("none", "none of these")


@dataclass(frozen=True)
class TaughtModel:
    """A softmax regression over the network's features (teach_features), for the user's own categories, with
    the examples themselves (unit embeddings, float16) to tell how like any of them an image is (familiarity:
    the cosine similarity of its embedding to the nearest example's)."""

    categories: tuple[str, ...]
    mean: np.ndarray      # feature mean of the examples
    scale: np.ndarray     # feature std of the examples
    weights: np.ndarray   # categories x features
    bias: np.ndarray      # categories
    examples: int = 0
    temperature: float = 1.0                  # fitted on held-out examples: calibrated confidences
    known: np.ndarray | None = None           # examples x 1280: the examples' unit (rooted) embeddings
    taught_from: dict | None = None           # {"storage": id, "prefix": ...}: the examples folder, never sorted

    @property
    def sorts_into(self) -> tuple[str, ...]:
        """The categories images are sorted into (the "none of these" examples are not one)."""
        return tuple(c for c in self.categories if c != NONE_OF_THESE)

    def scores(self, features: np.ndarray) -> dict[str, float]:
        """Category probabilities for one image's teach_features()."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        p = softmax((self.weights @ z + self.bias) / self.temperature)
        return {c: float(v) for c, v in zip(self.categories, p)}

    def familiarity(self, features: np.ndarray) -> float | None:
        """How like the nearest example this image is: the cosine similarity of their embeddings (about 0.9 for
        another photo of the same thing, under 0.5 for a different kind of scene); None for a model without
        its examples (taught by an older version)."""
        if self.known is None or not len(self.known):
            return None
        return float(np.max(self.known.astype(np.float32) @ _unit(np.asarray(features)[:EMBEDDING_SIZE]).astype(np.float32)))

    def to_json(self) -> str:
        data = {
            "format": "ai-image-segregator taught classifier", "version": 2,
            "features": "efficientnet_lite0 embedding 1280 + levels 624, signed square root, standardised",
            "categories": list(self.categories), "examples": self.examples,
            "mean": self.mean.round(6).tolist(), "scale": self.scale.round(6).tolist(),
            "weights": self.weights.round(6).tolist(), "bias": self.bias.round(6).tolist(),
            "temperature": round(float(self.temperature), 4), "taught_from": self.taught_from,
        }
        if self.known is not None:
            data["known"] = base64.b64encode(self.known.astype("<f2").tobytes()).decode()
        return json.dumps(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TaughtModel":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") != "ai-image-segregator taught classifier":
                raise ValueError("not a taught classifier file")
            cats = tuple(str(c) for c in data["categories"])
            w = np.asarray(data["weights"], dtype=np.float64)
            if w.shape != (len(cats), FEATURES_SIZE):
                raise ValueError("weights of the wrong shape (taught with another version? teach again)")
            known = None
            if "known" in data:
                raw = base64.b64decode(data["known"])
                if len(raw) % (2 * EMBEDDING_SIZE):
                    raise ValueError("examples of the wrong size (teach again)")
                known = np.frombuffer(raw, dtype="<f2").reshape(-1, EMBEDDING_SIZE)
            return cls(cats, np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64),
                       w, np.asarray(data["bias"], dtype=np.float64), int(data.get("examples", 0)),
                       float(data.get("temperature", 1.0)), known, data.get("taught_from"))
        except (OSError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read classifier {path}: {exc}") from None


def _power(embedding: np.ndarray) -> np.ndarray:
    """Signed square root: tames the few large activations."""
    e = np.asarray(embedding, dtype=np.float64)
    return np.sign(e) * np.sqrt(np.abs(e))


FOLDS = 5


def fit(features: np.ndarray, labels: Sequence[str], l2: float = 1e-3, steps: int = 300, known: bool = True) -> TaughtModel:
    """Multinomial logistic regression on standardised teach_features(), L2-regularised, by full-batch
    gradient descent with Nesterov momentum (hundreds of examples: well under a second a fit). Its
    temperature is chosen on examples held out in turn (5 folds, each category dealt round them): the one
    with the least log loss, so that confidences are honest; the examples' unit embeddings are kept for
    familiarity. Examples labelled "none of these" (is_none_folder) are a class of their own: an image
    most like them is none of the categories. `known=False` keeps no examples (no familiarity)."""
    labels = [NONE_OF_THESE if is_none_folder(label) else label for label in labels]
    cats = tuple(sorted(set(labels)))
    if len([c for c in cats if c != NONE_OF_THESE]) < 2:
        raise ValueError("teaching needs at least two categories (one subfolder each)")
    x = np.asarray(features, dtype=np.float64)
    y = np.array([cats.index(label) for label in labels])
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-3
    z = (x - mean) / scale
    w, b = _softmax_regression(z, y, len(cats), l2, steps)
    folds = _folds(y, FOLDS)
    held_logits, held_y = [], []
    for k in range(FOLDS):
        train, test = folds != k, folds == k
        if len(set(y[train])) < len(cats) or not test.any():
            continue  # a category with one example: it cannot be held out
        fw, fb = _softmax_regression(z[train], y[train], len(cats), l2, steps)
        held_logits.append(z[test] @ fw.T + fb)
        held_y.append(y[test])
    temperature = _temperature(np.concatenate(held_logits), np.concatenate(held_y)) if held_logits else 1.0
    examples = (np.stack([_unit(v[:EMBEDDING_SIZE]) for v, label in zip(x, labels) if label != NONE_OF_THESE]).astype(np.float16)
                if known else None)
    return TaughtModel(cats, mean, scale, w, b, len(x), temperature, examples)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / (np.linalg.norm(v) or 1.0)


def _softmax_regression(z: np.ndarray, y: np.ndarray, classes: int, l2: float, steps: int):
    onehot = np.zeros((len(z), classes))
    onehot[np.arange(len(z)), y] = 1.0
    # balance the categories: each weighs the same however many examples it has
    counts = np.maximum(onehot.sum(axis=0), 1)
    sample_w = (onehot / counts).sum(axis=1) * len(z) / classes
    w = np.zeros((classes, z.shape[1]))
    b = np.zeros(classes)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    lr, mom = 0.5, 0.9
    n = len(z)
    for _ in range(steps):
        lw, lb = w + mom * vw, b + mom * vb
        p = softmax(z @ lw.T + lb)
        g = (p - onehot) * sample_w[:, None] / n
        gw = g.T @ z + l2 * lw
        gb = g.sum(axis=0)
        vw = mom * vw - lr * gw / z.shape[1] ** 0.5
        vb = mom * vb - lr * gb
        w, b = w + vw, b + vb
    return w, b


def _folds(y: np.ndarray, folds: int) -> np.ndarray:
    """A fold number per example, each category dealt round the folds in turn."""
    out = np.zeros(len(y), dtype=int)
    for c in np.unique(y):
        idx = np.nonzero(y == c)[0]
        out[idx] = np.arange(len(idx)) % folds
    return out


def _temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softening of the logits with the least log loss on held-out examples."""
    best, best_t = np.inf, 1.0
    for t in np.geomspace(0.5, 200, 40):
        p = softmax(logits / t)
        loss = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
        if loss < best:
            best, best_t = loss, float(t)
    return best_t

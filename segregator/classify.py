"""Per-category scores, the best category and a confidence, from an image's features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import Features
from .settings import CATEGORIES, ClassifierSettings


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float              # probability of the chosen category, 0..1
    scores: dict[str, float]       # probability per category, summing to 1
    familiarity: float | None = None  # taught classifiers: how like the examples the image is (0..1)


def category_scores(features: Features, settings: ClassifierSettings) -> dict[str, float]:
    """Raw linear score per category: bias + sum of weight * feature (weights from the settings)."""
    values = features.vector()
    out = {}
    for category in CATEGORIES:
        weights = settings.weights.get(category, {})
        score = weights.get("bias", 0.0)
        for name, weight in weights.items():
            if name != "bias":
                score += weight * values.get(name, 0.0)
        out[category] = score
    return out


def classify_features(features: Features, settings: ClassifierSettings) -> Classification:
    """The most likely of the nine categories, with softmax probabilities as confidence."""
    raw = category_scores(features, settings)
    logits = np.array([raw[c] for c in CATEGORIES], dtype=np.float64) / max(settings.temperature, 1e-6)
    logits -= logits.max()
    probs = np.exp(logits)
    probs /= probs.sum()
    best = int(probs.argmax())
    return Classification(
        category=CATEGORIES[best],
        confidence=round(float(probs[best]), 4),
        scores={c: round(float(p), 4) for c, p in zip(CATEGORIES, probs)},
    )

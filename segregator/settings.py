"""Every threshold and weight the engine uses, in one object the UI and CLI can change."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from importlib import resources
from typing import Any

CATEGORIES = (
    "Nature", "Food", "People", "Architecture", "Vehicles",
    "Technology", "Art", "Sports", "Abstract",
)
NO_IMAGE = "no_image"

DEFAULT_PHRASES = (
    "no image available",
    "image not available",
    "no image",
    "coming soon",
    "image coming soon",
    "photo coming soon",
    "no floor plan",
    "floor plan not available",
    "no photo",
    "no photo available",
    "photo not available",
    "image not found",
    "no picture available",
    "picture not available",
    "image unavailable",
    "no preview available",
    "awaiting image",
    # the same in the languages of the larger European shops (accents dropped when matched)
    "kein bild", "kein bild verfügbar", "bild folgt", "kein foto", "foto folgt", "bild nicht verfügbar",
    "pas d'image", "image non disponible", "aucune image", "photo non disponible", "photo à venir",
    "sin imagen", "imagen no disponible", "sin foto", "foto no disponible", "imagen próximamente",
    "nessuna immagine", "immagine non disponibile", "foto non disponibile", "immagine in arrivo",
    "geen afbeelding", "afbeelding niet beschikbaar", "geen foto", "foto volgt",
    "sem imagem", "imagem indisponível", "imagem não disponível", "sem foto",
    "brak zdjęcia", "brak obrazu", "zdjęcie niedostępne",
)


def _default_weights() -> dict[str, dict[str, float]]:
    """The shipped classifier weights (a linear model over named features)."""
    text = resources.files("segregator").joinpath("classifier_weights.json").read_text()
    return json.loads(text)["weights"]


@dataclass(frozen=True)
class LoaderSettings:
    working_size: int = 256          # longest side, in pixels, of the image analysis works on
    ocr_size: int = 1200             # longest side used when OCR reads a placeholder candidate
    max_pixels: int = 89_478_485     # Pillow's decompression-bomb guard (errors above twice this)


@dataclass(frozen=True)
class ClassifierSettings:
    weights: dict[str, dict[str, float]] = field(default_factory=_default_weights)
    temperature: float = 1.0         # softens (>1) or sharpens (<1) the confidence
    # "learned" (the image model, default when its file is present), "heuristic" (colour/edge features), or
    # the path of a classifier taught by example (`python -m segregator teach`); "auto": learned when it is
    # installed, else heuristic (jobs.checked_settings decides; analyse_bytes on its own reads it as heuristic)
    backend: str = "auto"
    keep_embedding: bool = False     # keep each image's 1280-d embedding in its result (teaching needs them)
    head: bool = True                # learned: blend the shipped nine-category head (models/category_head.json)
                                     # with the ImageNet-map prior; off: the prior alone
    # taught classifiers: an image whose embedding is less like the nearest example's than this (cosine
    # similarity) is unlike every taught category and stays where it is; 0 = always pick a category.
    # Read when the plan is made, so changing it needs no new analysis.
    min_familiarity: float = 0.5


@dataclass(frozen=True)
class SimilaritySettings:
    max_hamming: int = 10            # pHash distance accepted on its own
    loose_hamming: int = 30          # pHash distance up to which pixel similarity may confirm a match
    min_pixel_similarity: float = 0.90   # pixel similarity (0..1) that confirms a match
    thumb_size: int = 48             # side of the grey thumbnails compared pixel by pixel
    # third stage, off at 0: the image model's embeddings (cosine similarity) find re-framed and cropped
    # copies that hashing and pixels miss; 0.8 when on (bench/accuracy.py similarity: recall 0.95, precision 0.99)
    min_embedding_similarity: float = 0.0


@dataclass(frozen=True)
class PlaceholderSettings:
    sensitivity: float = 0.5         # 0 = only the clearest placeholders, 1 = flag more eagerly
    min_background: float = 0.55     # share of pixels in the dominant colour for a "plain background"
    max_edge_density: float = 0.12   # share of edge pixels above which an image is too busy
    max_object_saturation: float = 0.15  # icons and text on placeholders are grey-ish
    ocr: bool = True                 # read text with Tesseract when it is installed
    ocr_min_ratio: float = 0.80      # fuzzy-match ratio for a phrase
    phrases: tuple[str, ...] = DEFAULT_PHRASES
    min_example_similarity: float = 0.92  # pixel similarity to a user's example placeholder


@dataclass(frozen=True)
class FaceSettings:
    detect: str = "auto"             # "on", "off", or "auto": with the learned classifier (the image-model path)
    min_share: float = 0.005         # a face covering at least this share of the image makes it People


@dataclass(frozen=True)
class Settings:
    loader: LoaderSettings = field(default_factory=LoaderSettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    similarity: SimilaritySettings = field(default_factory=SimilaritySettings)
    placeholder: PlaceholderSettings = field(default_factory=PlaceholderSettings)
    faces: FaceSettings = field(default_factory=FaceSettings)

    def with_overrides(self, overrides: dict[str, Any]) -> "Settings":
        """Return a copy with dotted keys changed, e.g. {"similarity.max_hamming": 12}."""
        groups = {f.name: getattr(self, f.name) for f in fields(self)}
        for dotted, value in overrides.items():
            group_name, _, name = dotted.partition(".")
            if group_name not in groups or not name:
                raise ValueError(f"unknown setting {dotted!r}")
            group = groups[group_name]
            known = {f.name: f for f in fields(group)}
            if name not in known:
                raise ValueError(f"unknown setting {dotted!r}")
            groups[group_name] = replace(group, **{name: _coerce(getattr(group, name), value, dotted)})
        return Settings(**groups)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(current: Any, value: Any, name: str) -> Any:
    """Convert a string from the CLI (or any value) to the type of the current setting."""
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            if isinstance(value, str):
                return tuple(p.strip() for p in value.split(",") if p.strip())
            return tuple(value)
        if is_dataclass(current) or isinstance(current, dict):
            return json.loads(value) if isinstance(value, str) else value
    except (TypeError, ValueError):
        raise ValueError(f"setting {name}: cannot use {value!r}") from None
    return value

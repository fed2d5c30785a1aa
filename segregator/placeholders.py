"""Decide whether an image is a placeholder ("No Image Available", a grey camera icon, ...) and say why."""

from __future__ import annotations

import difflib
import functools
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Sequence, Union

import numpy as np
from PIL import Image

from .features import Features
from .hashing import Fingerprint, hamming_many
from .settings import PlaceholderSettings
from .similarity import Reference, pixel_similarities

SIZE_LABEL = re.compile(r"\b\d{2,4}\s*[x×*]\s*\d{2,4}\b")


@dataclass(frozen=True)
class PlaceholderResult:
    is_placeholder: bool
    score: float                      # 0..1, compared with a threshold set by the sensitivity
    reasons: list[str] = field(default_factory=list)
    ocr_text: str = ""
    ocr: str = "off"                  # "used", "not needed", "off" (disabled) or "unavailable" (no Tesseract)


@functools.lru_cache(maxsize=1)
def tesseract_available() -> bool:
    """True when the Tesseract binary runs (checked without importing pytesseract, which is slow to import)."""
    binary = shutil.which("tesseract")
    if binary is None:
        return False
    try:
        return subprocess.run([binary, "--version"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def read_text(image: Image.Image) -> str:
    """OCR of an RGB image with Tesseract (sparse-text mode); empty when nothing is read."""
    import pytesseract

    grey = image.convert("L")
    if max(grey.size) < 600:  # Tesseract reads small text badly; upscale small images
        scale = 600 / max(grey.size)
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.Resampling.BICUBIC)
    text = pytesseract.image_to_string(grey, config="--psm 11", timeout=20)
    if len(re.findall(r"[A-Za-z]{2,}", text)) < 2:
        # Light text on a dark box reads better inverted.
        inverted = pytesseract.image_to_string(Image.eval(grey, lambda p: 255 - p), config="--psm 11", timeout=20)
        if len(inverted.strip()) > len(text.strip()):
            text = inverted
    return text


def normalise_text(text: str) -> str:
    """Lower-case words of letters and digits, accents dropped ("Kein Bild verfügbar" -> "kein bild verfugbar":
    OCR without the language's data often reads the plain letter)."""
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def match_phrase(text: str, phrases: Sequence[str], min_ratio: float) -> tuple[str, float] | None:
    """The best fuzzy match of any phrase against windows of the OCR words, if it reaches `min_ratio`."""
    words = normalise_text(text).split()
    if not words:
        return None
    best: tuple[str, float] | None = None
    for phrase in phrases:
        target = normalise_text(phrase)
        n = len(target.split())
        for size in {max(1, n - 1), n, n + 1}:
            for start in range(0, max(1, len(words) - size + 1)):
                window = " ".join(words[start:start + size])
                ratio = difflib.SequenceMatcher(None, window, target).ratio()
                if ratio >= min_ratio and (best is None or ratio > best[1]):
                    best = (phrase, ratio)
    return best


@dataclass(frozen=True)
class _Foreground:
    share: float          # pixels that differ from the background colour
    saturation: float     # their mean saturation
    centred: bool         # their bounding box sits in the middle, away from the edges
    levels: int           # distinct grey levels (quantised) among them: flat artwork has few


def _foreground(image: Image.Image) -> _Foreground:
    rgb = np.asarray(image, dtype=np.int16)
    h, w = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    bg2 = np.round(np.median(border, axis=0) * 2).astype(np.int16)  # a median of integers is n or n + 0.5
    d = np.abs(rgb * 2 - bg2)  # twice the distance, in exact integers
    diff2 = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])  # much faster than .max(axis=2)
    mask = diff2 > 48  # a channel more than 24 levels from the background
    share = float(np.count_nonzero(mask) / mask.size)
    if not share:
        return _Foreground(0.0, 0.0, False, 0)
    if share >= 0.5:  # not artwork on a background (a photo): the finer measures are never read
        return _Foreground(share, 1.0, False, 99)
    hsv = np.asarray(image.convert("HSV"), dtype=np.float32)
    sat = float(hsv[..., 1][mask].mean() / 255.0)
    ys, xs = np.nonzero(mask)
    cy, cx = (ys.min() + ys.max()) / 2 / h, (xs.min() + xs.max()) / 2 / w
    touches = ys.min() == 0 or xs.min() == 0 or ys.max() == h - 1 or xs.max() == w - 1
    centred = abs(cy - 0.5) < 0.2 and abs(cx - 0.5) < 0.2 and not touches
    grey = np.asarray(image.convert("L"))[mask] >> 4
    levels = int((np.bincount(grey, minlength=16) > max(2, 0.01 * mask.sum())).sum())
    return _Foreground(share, sat, centred, levels)


OcrSource = Union[Image.Image, Callable[[], Image.Image], None]
# The image model's placeholder likelihood (models/placeholder_head.json): below MODEL_REAL a plain-looking image
# is a real object (a product on white); from MODEL_SURE on it is a placeholder. Chosen by bench/grouped.py's
# cross-validation by package: no product cut-out called a placeholder.
MODEL_REAL = 0.5
MODEL_SURE = 0.9


def detect_placeholder(
    image: Image.Image,
    features: Features,
    settings: PlaceholderSettings = PlaceholderSettings(),
    ocr_image: OcrSource = None,
    examples: Sequence[Reference] = (),
    fingerprint: Fingerprint | None = None,
    original_size: tuple[int, int] = (0, 0),
    model_evidence: float | None = None,
) -> PlaceholderResult:
    """Judge one RGB working image. `ocr_image` (or a function returning it) is a larger copy for OCR;
    `examples` are known placeholders the user supplied, matched by pixel similarity; `original_size` is the
    full image's (width, height), when known; `model_evidence` is the image model's placeholder likelihood
    (segregator.learned.placeholder_likelihood), when the model ran: a real object it is sure of (a product
    cut-out on white) is not a placeholder however plain it looks, and a pictogram it is sure of is one."""
    reasons: list[str] = []
    score = 0.0
    s = min(1.0, max(0.0, settings.sensitivity))

    # 1. Known examples: near-identical pixels mean placeholder, whatever else is true.
    if examples and fingerprint is not None:
        thumbs = fingerprint.thumb[None, ...]
        for i, example in enumerate(examples):
            pix = float(pixel_similarities(example, thumbs)[0])
            ham = int(hamming_many(example.fingerprint.phash.value, np.array([fingerprint.phash.value], dtype=np.uint64))[0])
            if pix >= settings.min_example_similarity or ham <= 6:
                reasons.append(f"looks like placeholder example {i + 1} (pixel similarity {pix:.2f}, pHash distance {ham})")
                score = max(score, 0.95)
                break

    # 2. Cheap visual signals. Most photos stop at the first test, before the pixel work of _foreground.
    plain_colour = features.background_share >= settings.min_background - 0.2 * (s - 0.5)
    fg = _foreground(image) if plain_colour or features.border_uniformity > 0.9 else _Foreground(1.0, 1.0, False, 99)
    plain = plain_colour or (features.border_uniformity > 0.9 and fg.share < 0.45)
    calm = features.edge_density <= settings.max_edge_density + 0.1 * (s - 0.5)
    grey_fg = fg.saturation <= settings.max_object_saturation + 0.2 * (s - 0.5)
    if plain:
        reasons.append(f"plain background ({features.background_share:.0%} one colour)")
    if calm:
        reasons.append(f"low edge score ({features.edge_density:.3f})")
    visual = 0.0
    if plain and fg.share <= 0.002:
        visual = 0.8
        reasons.append("blank image")
    elif plain and calm and fg.centred and fg.share < 0.5:
        visual = 0.35
        reasons.append(f"centred artwork ({fg.share:.0%} of the image)")
        if grey_fg:
            visual += 0.2
            reasons.append(f"grey artwork (saturation {fg.saturation:.2f})")
        if fg.share < 0.12:
            visual += 0.15
            reasons.append("small artwork with wide empty margins")
        if fg.levels <= 6:
            visual += 0.1
            reasons.append(f"flat artwork ({fg.levels} grey levels)")
        if features.colour_count < 0.03:
            visual += 0.1
            reasons.append(f"few colours ({features.colour_count * 512:.0f})")
    tiny = 0 < max(original_size) <= 64
    if tiny:
        visual = max(visual, 0.75)
        reasons.append(f"tiny image ({original_size[0]}x{original_size[1]} px), an icon rather than a photo")
    blank = "blank image" in reasons
    sure = False  # the image model is sure it is a placeholder
    if model_evidence is not None and not (blank or tiny) and visual > 0 and model_evidence < MODEL_REAL + 0.4 * (s - 0.5):
        visual = min(visual, 0.5)  # under the threshold at any sensitivity: only its text can still make it one
        reasons.append(f"the image model sees a real object, not a pictogram (placeholder likelihood {model_evidence:.2f})")
    elif model_evidence is not None and model_evidence >= MODEL_SURE - 0.2 * (s - 0.5):
        sure = True
        visual = max(visual, 0.8)
        reasons.append(f"the image model sees a placeholder (likelihood {model_evidence:.2f})")
    score = max(score, visual)
    # Only images that already look like a placeholder (centred artwork on a plain background, or what the image
    # model finds placeholder-like) are read.
    candidate = not blank and (visual > 0 or (model_evidence is not None and model_evidence >= MODEL_REAL))

    # 3. OCR, only for candidates the cheap signals flag (it costs 0.2-0.6 s an image).
    ocr_state, text = "off", ""
    if settings.ocr and not tesseract_available():
        ocr_state = "unavailable"
    elif settings.ocr and not candidate:
        ocr_state = "not needed"
    elif settings.ocr:
        ocr_state = "used"
        big = ocr_image() if callable(ocr_image) else (ocr_image or image)
        try:
            text = read_text(big)
        except Exception as exc:  # Tesseract crashed or timed out on this file: say so, go on
            reasons.append(f"OCR failed: {type(exc).__name__}")
            text = ""
        found = match_phrase(text, settings.phrases, settings.ocr_min_ratio)
        words = normalise_text(text).split()
        if found:
            reasons.insert(0, f"text reads {found[0]!r} (match {found[1]:.2f})")
            score = max(score, 0.9 + 0.1 * found[1] - 0.1)
        elif SIZE_LABEL.search(text) and len(words) <= 4:
            reasons.insert(0, f"size label {SIZE_LABEL.search(text).group(0)!r}")
            score = max(score, 0.85)
        else:
            real_words = [w for w in words if len(w) >= 4 and w.isalpha() and re.search("[aeiouy]", w)]
            if len(real_words) >= 8:
                reasons.append(f"other text ({len(words)} words): a document, not a placeholder")
                score = min(score, 0.3)
            elif real_words and score < 0.9 and not sure:
                reasons.append(f"text reads {' '.join(real_words[:4])!r}, not a placeholder phrase")
                score = min(score, 0.5)
    if ocr_state == "unavailable":
        reasons.append("OCR off: Tesseract is not installed")

    threshold = 0.7 - 0.3 * (s - 0.5)
    return PlaceholderResult(score >= threshold, round(score, 3), reasons, text.strip(), ocr_state)

"""Find images that look like a reference: pHash Hamming distance, then pixel similarity that survives crops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from .hashing import Fingerprint, fingerprint, hamming_many
from .settings import SimilaritySettings

# Border crops tried when comparing pixels: share of each side cut away from the reference.
CROP_STEPS = (0.0, 0.025, 0.05, 0.075, 0.10)


@dataclass(frozen=True)
class SimilarityResult:
    index: int                 # position in the candidate list
    hamming: int               # pHash distance, 0..64
    dhash_distance: int        # dHash distance, 0..64
    pixel_similarity: float    # best normalised correlation of grey thumbnails, 0..1
    match: bool
    embedding_similarity: float | None = None  # cosine of the image model's embeddings (third stage), if used


def _normalise_rows(rows: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-length rows (a flat grey thumbnail each); flat images become all zeros."""
    rows = rows.astype(np.float32).reshape(rows.shape[0], -1)
    rows -= rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 1e-6)


def _crop_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Centre crops and one-sided crops of the reference, for copies cut at the border."""
    boxes = []
    for c in CROP_STEPS:
        dx, dy = round(width * c), round(height * c)
        boxes.append((dx, dy, width - dx, height - dy))
        if c:
            boxes.append((2 * dx, 2 * dy, width, height))       # cut top-left only
            boxes.append((0, 0, width - 2 * dx, height - 2 * dy))  # cut bottom-right only
    return [b for b in dict.fromkeys(boxes) if b[2] - b[0] >= 4 and b[3] - b[1] >= 4]


@dataclass(frozen=True)
class Reference:
    """A reference image prepared for search: its fingerprint and the thumbnails of its crops."""

    fingerprint: Fingerprint
    crop_vectors: np.ndarray   # K x D, normalised
    embedding: np.ndarray | None = None  # the image model's embedding, for the third stage

    @classmethod
    def from_image(cls, image: Image.Image, thumb_size: int = 48) -> "Reference":
        grey = image.convert("L")
        thumbs = np.stack([
            np.asarray(grey.crop(box).resize((thumb_size, thumb_size), Image.Resampling.BILINEAR))
            for box in _crop_boxes(*grey.size)
        ])
        return cls(fingerprint(image, thumb_size), _normalise_rows(thumbs))


def _reverse_crops(thumbs: np.ndarray, size: int) -> np.ndarray:
    """For each candidate thumbnail, its centre crops resized back (the reference may be the cropped one)."""
    out = []
    for c in CROP_STEPS[1:]:
        d = max(1, round(size * c))
        crop = thumbs[:, d:size - d, d:size - d].astype(np.float32)
        idx = np.linspace(0, crop.shape[1] - 1, size)
        lo = np.floor(idx).astype(int)
        hi = np.minimum(lo + 1, crop.shape[1] - 1)
        w = (idx - lo).astype(np.float32)
        rows = crop[:, lo, :] * (1 - w)[None, :, None] + crop[:, hi, :] * w[None, :, None]
        out.append(rows[:, :, lo] * (1 - w)[None, None, :] + rows[:, :, hi] * w[None, None, :])
    return np.stack(out, axis=1)  # N x C x size x size


def pixel_similarities(reference: Reference, thumbs: np.ndarray) -> np.ndarray:
    """Best correlation (0..1) between each N x S x S candidate thumbnail and the reference or its crops."""
    if len(thumbs) == 0:
        return np.zeros(0, dtype=np.float32)
    size = thumbs.shape[1]
    forward = _normalise_rows(thumbs) @ reference.crop_vectors.T           # N x K
    best = forward.max(axis=1)
    reverse = _reverse_crops(thumbs, size)                                 # N x C x S x S
    n, c = reverse.shape[:2]
    rev = _normalise_rows(reverse.reshape(n * c, -1)).reshape(n, c, -1)
    best = np.maximum(best, (rev @ reference.crop_vectors[0]).max(axis=1))
    return np.clip(best, 0.0, 1.0)


def embedding_similarities(reference: np.ndarray, embeddings: Sequence[np.ndarray | None]) -> np.ndarray:
    """Cosine similarity of each embedding with the reference's (0 where a candidate has none)."""
    out = np.zeros(len(embeddings), dtype=np.float32)
    have = [i for i, e in enumerate(embeddings) if e is not None]
    if have:
        m = np.stack([embeddings[i] for i in have]).astype(np.float32)
        ref = reference.astype(np.float32)
        out[have] = (m @ ref) / (np.linalg.norm(m, axis=1) * np.linalg.norm(ref) + 1e-9)
    return out


def find_similar(
    reference: Reference | Image.Image,
    candidates: Sequence[Fingerprint],
    settings: SimilaritySettings = SimilaritySettings(),
    embeddings: Sequence[np.ndarray | None] | None = None,
) -> list[SimilarityResult]:
    """Compare every candidate with the reference; one result per candidate, in input order.

    A candidate matches when its pHash distance is at most `max_hamming`, or when its pixel similarity
    reaches `min_pixel_similarity` (crops, re-encodes) and its distance is at most `loose_hamming`.
    The dHash distance is reported, not used: on smooth images it confuses unrelated pictures.
    """
    if not isinstance(reference, Reference):
        reference = Reference.from_image(reference, settings.thumb_size)
    if not candidates:
        return []
    phashes = np.fromiter((c.phash.value for c in candidates), dtype=np.uint64, count=len(candidates))
    dhashes = np.fromiter((c.dhash.value for c in candidates), dtype=np.uint64, count=len(candidates))
    ham = hamming_many(reference.fingerprint.phash.value, phashes)
    dham = hamming_many(reference.fingerprint.dhash.value, dhashes)
    pix = pixel_similarities(reference, np.stack([c.thumb for c in candidates]))
    match = (ham <= settings.max_hamming) | ((pix >= settings.min_pixel_similarity) & (ham <= settings.loose_hamming))
    emb = None
    if settings.min_embedding_similarity > 0 and reference.embedding is not None and embeddings is not None:
        emb = embedding_similarities(reference.embedding, embeddings)
        match |= emb >= settings.min_embedding_similarity
    return [
        SimilarityResult(i, int(ham[i]), int(dham[i]), round(float(pix[i]), 4), bool(match[i]),
                         None if emb is None else round(float(emb[i]), 4))
        for i in range(len(candidates))
    ]


def near_duplicate_pairs(hashes: np.ndarray, max_distance: int = 8) -> np.ndarray:
    """All pairs (i, j), i < j, of 64-bit hashes within `max_distance` bits, as an (n, 2) array: the
    duplicates search's multi-index hashing (segregator.duplicates.hash_pairs)."""
    if not 0 <= max_distance < 32:
        raise ValueError("max_distance must be between 0 and 31")
    from .duplicates import hash_pairs

    return hash_pairs(np.asarray(hashes, dtype=np.uint64), None, max_distance)


def group_near_duplicates(hashes: np.ndarray, max_distance: int = 8) -> list[list[int]]:
    """Groups (of indices, two or more) linked by near-duplicate pairs: the connected components."""
    from .duplicates import _components

    return [g.tolist() for g in _components(len(hashes), near_duplicate_pairs(hashes, max_distance))]

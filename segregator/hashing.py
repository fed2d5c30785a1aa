"""Perceptual hashes (pHash, dHash) as value objects, and the grey thumbnail used for pixel similarity."""

from __future__ import annotations

from dataclasses import dataclass, field

import imagehash
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class PerceptualHash:
    """A 64-bit perceptual hash. `a - b` is the Hamming distance; hashes of different kinds do not compare."""

    kind: str      # "phash" or "dhash"
    value: int     # 64 bits, as an unsigned int

    def __sub__(self, other: "PerceptualHash") -> int:
        if not isinstance(other, PerceptualHash):
            return NotImplemented
        if other.kind != self.kind:
            raise TypeError(f"cannot compare a {self.kind} with a {other.kind}")
        return (self.value ^ other.value).bit_count()

    def __str__(self) -> str:
        return f"{self.value:016x}"

    @classmethod
    def from_hex(cls, kind: str, text: str) -> "PerceptualHash":
        if len(text) != 16:
            raise ValueError("a 64-bit hash is 16 hex digits")
        return cls(kind, int(text, 16))


def _to_int(h: imagehash.ImageHash) -> int:
    return int(str(h), 16)


@dataclass(frozen=True)
class Fingerprint:
    """What similarity search keeps of one image: two hashes and a small normalised grey thumbnail."""

    phash: PerceptualHash
    dhash: PerceptualHash
    thumb: np.ndarray = field(repr=False, compare=False)  # uint8, thumb_size x thumb_size, full frame


def grey_thumbnail(image: Image.Image, size: int) -> np.ndarray:
    """The image squashed to size x size grey pixels (uint8)."""
    return np.asarray(image.convert("L").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def fingerprint(image: Image.Image, thumb_size: int = 48) -> Fingerprint:
    """Hashes and thumbnail of an RGB working image."""
    return Fingerprint(
        phash=PerceptualHash("phash", _to_int(imagehash.phash(image))),
        dhash=PerceptualHash("dhash", _to_int(imagehash.dhash(image))),
        thumb=grey_thumbnail(image, thumb_size),
    )


def hamming_many(reference: int, values: np.ndarray) -> np.ndarray:
    """Hamming distances from one 64-bit hash to an array of them (uint64), vectorised."""
    return np.bitwise_count(np.bitwise_xor(values.astype(np.uint64, copy=False), np.uint64(reference)))

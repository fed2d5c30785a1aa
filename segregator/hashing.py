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


_N = 32
_DCT = 2 * np.cos(np.pi * np.arange(_N).reshape(-1, 1) * (2 * np.arange(_N) + 1) / (2 * _N))  # scipy's DCT-II


def _bits_to_int(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.ravel()).tobytes(), "big")


def phash_of(grey: Image.Image) -> int:
    """imagehash.phash's algorithm (32 x 32 LANCZOS, 2-D DCT, the 8 x 8 low frequencies against their median),
    with the DCT as two small matrix products."""
    return phashes_of(grey)[0]


_MIRROR = np.where(np.arange(8) % 2, -1.0, 1.0)[None, :]  # a left-right mirror flips the odd horizontal frequencies


def phashes_of(grey: Image.Image) -> tuple[int, int]:
    """The pHash of the image and of its mirror image, from one transform."""
    px = np.asarray(grey.resize((_N, _N), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT @ px @ _DCT.T)[:8, :8]
    mirrored = low * _MIRROR
    return _bits_to_int(low > np.median(low)), _bits_to_int(mirrored > np.median(mirrored))


def dhash_of(grey: Image.Image) -> int:
    """imagehash.dhash's algorithm: 9 x 8 LANCZOS, each pixel brighter than its left neighbour."""
    px = np.asarray(grey.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    return _bits_to_int(px[:, 1:] > px[:, :-1])


@dataclass(frozen=True)
class Fingerprint:
    """What similarity search keeps of one image: two hashes and a small normalised grey thumbnail."""

    phash: PerceptualHash
    dhash: PerceptualHash
    thumb: np.ndarray = field(repr=False, compare=False)  # uint8, thumb_size x thumb_size, full frame
    mirror: int = 0   # the pHash of the mirror image (duplicates: mirrored copies)
    crop: int = 0     # the pHash of the centre 90 % (duplicates: copies cut at the border)


def grey_thumbnail(image: Image.Image, size: int) -> np.ndarray:
    """The image squashed to size x size grey pixels (uint8)."""
    grey = image if image.mode == "L" else image.convert("L")
    # reducing_gap: an integer box reduction first, then bilinear; within half a grey level, twice as fast
    return np.asarray(grey.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0), dtype=np.uint8)


HASH_INPUT = 64  # the hashes read a 64 x 64 box-filtered copy: a third of the cost of LANCZOS from 256 px,
                 # and within a bit of the full-size hashes on average (at most 8 of 64 bits on real photos)


def fingerprint(image: Image.Image, thumb_size: int = 48) -> Fingerprint:
    """Hashes and thumbnail of an RGB working image (one grey conversion for all three)."""
    grey = image.convert("L")
    small = (grey.resize((HASH_INPUT, HASH_INPUT), Image.Resampling.BOX, reducing_gap=1.0)
             if min(grey.size) > HASH_INPUT else grey)
    phash, mirror = phashes_of(small)
    w, h = small.size
    crop = phashes_of(small.crop((round(w * CROP_CUT), round(h * CROP_CUT), w - round(w * CROP_CUT), h - round(h * CROP_CUT))))[0]
    return Fingerprint(
        phash=PerceptualHash("phash", phash),
        dhash=PerceptualHash("dhash", dhash_of(small)),
        thumb=grey_thumbnail(grey, thumb_size),
        mirror=mirror,
        crop=crop,
    )


CROP_CUT = 0.05  # the border share cut on each side for Fingerprint.crop


def hamming_many(reference: int, values: np.ndarray) -> np.ndarray:
    """Hamming distances from one 64-bit hash to an array of them (uint64), vectorised."""
    return np.bitwise_count(np.bitwise_xor(values.astype(np.uint64, copy=False), np.uint64(reference)))

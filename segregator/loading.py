"""Decode an image from a path or bytes to a small RGB working copy, or a clear per-file error."""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# Formats the engine accepts; anything else is "not an image" for our purposes.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")

Source = Union[str, os.PathLike, bytes, bytearray, memoryview]


class ImageLoadError(ValueError):
    """An image that cannot be analysed; the message is meant for the user's log."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: `image` is RGB, at most `size` px on its longest side."""

    image: Image.Image
    width: int        # full size, after EXIF orientation
    height: int
    format: str
    decoded_size: tuple[int, int] = (0, 0)  # what the decoder produced (JPEG draft mode: 1/2, 1/4 or 1/8 scale)

    @property
    def aspect_ratio(self) -> float:
        return self.width / self.height if self.height else 1.0


def is_image_name(name: str) -> bool:
    """True when a file or key name carries an image extension."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def sniff_image(head: bytes) -> bool:
    """True when the first bytes look like one of the supported image formats."""
    return (
        head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or head.startswith(b"BM")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head[:4] in (b"II*\x00", b"MM\x00*")
    )


def _read(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except FileNotFoundError:
        raise ImageLoadError("file not found") from None
    except IsADirectoryError:
        raise ImageLoadError("is a directory, not an image") from None
    except PermissionError:
        raise ImageLoadError("permission denied") from None
    except OSError as exc:
        raise ImageLoadError(f"cannot read file: {exc.strerror or exc}") from None


def _not_an_image_message(data: bytes) -> str:
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<svg", b"<")):
        return "not an image (HTML/XML text)"
    if b"\x00" not in data[:512]:
        return "not an image (text file)"
    return "not an image (unrecognised format)"


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode != "RGB":
        return im.convert("RGB")
    return im


def _too_large(text: str) -> str:
    """Pillow's long refusal as one short line: 'image too large (2,500 MP; limit 179 MP): ...'."""
    import re

    numbers = [int(n) for n in re.findall(r"(\d+) pixels", text)]
    if len(numbers) >= 2:
        size, limit = numbers[0], numbers[1]
        return f"image too large ({size / 1e6:,.0f} MP; limit {limit / 1e6:,.0f} MP): refused as a possible decompression bomb"
    return "image too large: refused as a possible decompression bomb"


def load_image(source: Source, size: int = 256, max_pixels: int = 89_478_485) -> LoadedImage:
    """Decode `source` (a path or the file's bytes) to RGB no larger than `size` px on its longest side.

    JPEGs are decoded in draft mode (DCT scaling), so the full-size pixels are never built.
    Raises ImageLoadError with a short message for anything that is not a readable image.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    data = _read(source)
    if not data:
        raise ImageLoadError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            old_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                return _decode(data, size)
            finally:
                Image.MAX_IMAGE_PIXELS = old_limit
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(_too_large(str(exc))) from None
    except UnidentifiedImageError:
        raise ImageLoadError(_not_an_image_message(data)) from None
    except (OSError, ValueError, SyntaxError, IndexError, struct.error, EOFError) as exc:
        text = str(exc)
        fmt = _guess_format(data)
        if "truncated" in text or "premature end" in text.lower() or isinstance(exc, EOFError):
            raise ImageLoadError(f"truncated {fmt}" if fmt else "truncated image file") from None
        raise ImageLoadError(f"corrupt {fmt or 'image'}: {text or type(exc).__name__}") from None
    except MemoryError:
        raise ImageLoadError("image too large to decode in memory") from None


def _guess_format(data: bytes) -> str:
    if data.startswith(b"\xff\xd8"):
        return "JPEG"
    if data.startswith(b"\x89PNG"):
        return "PNG"
    if data[:3] == b"GIF":
        return "GIF"
    if data[:4] == b"RIFF":
        return "WebP"
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return ""


def _decode(data: bytes, size: int) -> LoadedImage:
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with Image.open(io.BytesIO(data)) as im:
        fmt = im.format or ""
        if fmt not in SUPPORTED_FORMATS:
            raise ImageLoadError(f"unsupported image format {fmt or 'unknown'}")
        width, height = im.size
        orientation = im.getexif().get(0x0112, 1) if fmt in ("JPEG", "MPO", "TIFF", "PNG", "WEBP") else 1
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        if fmt in ("JPEG", "MPO") and im.mode in ("RGB", "L", "CMYK", "YCbCr"):
            # DCT scaling: decode at 1/2, 1/4 or 1/8 while the longest side still covers `size`.
            w, h = im.size
            longest = max(w, h)
            box = (max(1, w * size // longest), max(1, h * size // longest))
            im.draft(im.mode if im.mode != "YCbCr" else "RGB", box)
        if getattr(im, "is_animated", False):
            im.seek(0)
        im.load()
        decoded_size = im.size
        if orientation != 1:
            im = ImageOps.exif_transpose(im)
        rgb = _to_rgb(im)
        if max(rgb.size) > size:
            rgb.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        else:
            rgb = rgb.copy()
    return LoadedImage(image=rgb, width=width, height=height, format=fmt, decoded_size=decoded_size)


def _cv2():
    """OpenCV, single-threaded (the analysis pool runs one process per core already), or None without it."""
    try:
        import cv2
    except ImportError:
        return None
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
    return cv2


def resize_pixels(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An H x W x 3 uint8 array resized to size (width, height), as Pillow's BILINEAR resize of it (which filters
    over the reduction factor when reducing) to within a grey level or two, in a tenth of its time: OpenCV's
    bilinear; where a side is reduced about twice or more, first its 3-tap binomial blur and then the mean of
    each pixel's area (together the triangle filter Pillow uses there). Without OpenCV: Pillow's own."""
    w, h = size
    if pixels.shape[1] == w and pixels.shape[0] == h:
        return pixels
    cv2 = _cv2()
    if cv2 is None:
        return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    if pixels.shape[1] >= 1.5 * w and pixels.shape[0] >= 1.5 * h:
        return cv2.resize(cv2.GaussianBlur(pixels, (3, 3), 0), size, interpolation=cv2.INTER_AREA)
    return cv2.resize(pixels, size, interpolation=cv2.INTER_LINEAR)

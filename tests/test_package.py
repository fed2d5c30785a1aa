"""The installable package: a wheel built from pyproject.toml holds the library, its model files and the
`segregator` command, which works from any directory (not only the repository root)."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import PHOTOS

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_a_segregator_command_that_classifies_from_another_directory(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "segregator", src / "segregator", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("ai_image_segregator-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "segregator/models/efficientnet_lite0.onnx" in names and "segregator/classifier_weights.json" in names
    assert "segregator/jobs/duplicates.py" in names and "segregator/ui/common.py" in names
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, capture_output=True)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), SEGREGATOR_LOG=str(tmp_path / "log.json"),
               SEGREGATOR_CACHE_DIR=str(tmp_path / "cache"))
    where = subprocess.run([sys.executable, "-c", "import segregator; print(segregator.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the installed copy, not the repository's
    command = site / "bin" / "segregator"
    p = subprocess.run([sys.executable, str(command), "classify", str(PHOTOS), "--classifier", "learned", "--json"],
                       cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert len(rows) == len(list(PHOTOS.glob("*.jpg"))) and all(r["error"] is None for r in rows)
    by = {r["key"]: r["category"] for r in rows}
    assert by["rocket.jpg"] != by["lake_boats.jpg"]  # the model ran (package data), not a stub

    # the same command on a LocalCluster of the installed package's workers: the same rows
    p = subprocess.run([sys.executable, str(command), "classify", str(PHOTOS), "--classifier", "learned", "--json",
                        "--no-cache", "--cluster", "local:2"], cwd=elsewhere, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == rows

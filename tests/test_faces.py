"""Face detection: found in real photos of people, not in landscapes, animals or food; marks People; sends
images to a folder of their own when asked; shown in the gallery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segregator import faces
from segregator.loading import load_image
from tests.conftest import PHOTOS, REPO, jpeg_bytes, plan_dict
from tests.test_app import page
from tests.test_cli import run

pytestmark = pytest.mark.skipif(not faces.available(), reason="opencv-python-headless missing")

NO_FACES = ["beach.jpg", "forest_path.jpg", "lake_boats.jpg", "flower.jpg", "china.jpg", "chelsea.jpg", "coffee.jpg",
            "rocket.jpg", "abstract_waves.jpg"]


def lfw_photos(n: int = 4) -> list[Image.Image]:
    """Real face photos: the Labeled Faces in the Wild crops shipped with scikit-image (25 px), enlarged."""
    skimage = pytest.importorskip("skimage")
    crops = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")[:n * 5:5]
    return [Image.fromarray((c * 255).astype("uint8")).convert("RGB").resize((150, 150), Image.Resampling.BICUBIC)
            for c in crops]


def _faces(path_or_image) -> tuple:
    data = path_or_image.read_bytes() if isinstance(path_or_image, Path) else jpeg_bytes(path_or_image)
    return faces.detect_faces(load_image(data, 256).image)


def test_faces_in_photos_of_people():
    found = _faces(PHOTOS / "astronaut.jpg")
    assert len(found) == 1
    x, y, w, h = found[0]
    assert 0.1 < w < 0.6 and 0 <= x and x + w <= 1 and y + h <= 1  # a face-sized box inside the image
    assert sum(1 for im in lfw_photos(4) if _faces(im)) >= 3
    # the same photo encoded otherwise (the demo's copy): the search must not hang on one exact rendering
    assert len(_faces(REPO / "samples" / "astronaut.jpg")) == 1


def test_the_gate_passes_every_face_the_cascade_finds_and_spares_it_most_photos_without_people(monkeypatch):
    """The BlazeFace gate in front of the cascade changes no answer on real photos (people, landscapes, animals,
    food, the LFW crops): every image the cascade alone finds a face in passes the gate; most photos without
    people do not, and there the cascade is not run."""
    assert faces._gate() is not None
    images = {name: load_image((PHOTOS / name).read_bytes(), 256).image for name in NO_FACES + ["astronaut.jpg"]}
    images.update({f"lfw{k}": im for k, im in enumerate(lfw_photos(8))})
    gated = {name: faces.detect_faces(im) for name, im in images.items()}
    passed = {name: faces.face_likely(im) for name, im in images.items()}
    monkeypatch.setattr(faces, "_gate", lambda: None)
    alone = {name: faces.detect_faces(im) for name, im in images.items()}
    assert gated == alone
    assert sum(1 for found in alone.values() if found) >= 6 and all(passed[n] for n, found in alone.items() if found)
    assert sum(1 for n in NO_FACES if not passed[n]) >= 6, passed


def test_no_faces_in_landscapes_animals_or_food():
    assert {name: _faces(PHOTOS / name) for name in NO_FACES} == {name: () for name in NO_FACES}


def test_faces_mark_people_and_can_go_to_their_own_folder(tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(PHOTOS, folder)
    rows = {r["key"]: r for r in json.loads(run("classify", folder, "--json", "--quiet", "--no-cache").stdout)}
    assert rows["astronaut.jpg"]["category"] == "People"
    p = run("classify", folder, "--json", "--quiet", "--faces-folder", "with_faces", "--plan-out", tmp_path / "plan.json")
    assert p.returncode == 0, p.stderr
    assert {r["key"]: r["category"] for r in json.loads(p.stdout)}["astronaut.jpg"] == "People"  # same contract
    items = {i["source"]: i for i in plan_dict(tmp_path / "plan.json")["items"]}
    assert items["astronaut.jpg"]["destination"] == "with_faces/astronaut.jpg"
    assert "1 face(s)" in items["astronaut.jpg"]["reason"]
    assert all(not items[n]["destination"].startswith("with_faces/") for n in NO_FACES)
    bad = run("classify", folder, "--quiet", "--faces-folder", "../out")
    assert bad.returncode != 0 and "not a usable folder name" in bad.stderr


def test_gallery_marks_faces(tmp_path):
    shutil.copy(PHOTOS / "astronaut.jpg", tmp_path / "astronaut.jpg")
    shutil.copy(PHOTOS / "beach.jpg", tmp_path / "beach.jpg")
    at = page("pages/4_Gallery.py", tmp_path)
    assert not at.exception
    def image_labels():
        return sorted(c.label for c in at.checkbox if c.key and c.key.startswith("sel::"))

    assert image_labels() == ["astronaut.jpg", "beach.jpg"]
    at.toggle(key="gallery_faces").set_value(True).run()
    assert not at.exception
    assert image_labels() == ["astronaut.jpg · 🙂 1", "beach.jpg"]

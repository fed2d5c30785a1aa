"""The learned classifier: the shipped ONNX export against the reference network's outputs, the class map,
classification and teach-by-example through the CLI, and no network use."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageOps

from segregator import learned
from segregator.settings import CATEGORIES
from tests.conftest import PHOTOS, REPO, plan_dict
from tests.test_cli import run

pytestmark = pytest.mark.skipif(not learned.available(), reason="onnxruntime or the model file missing")


def test_onnx_export_matches_the_reference_network_on_real_photos():
    """reference_outputs.json holds the float32 PyTorch network's outputs (tools/export_model.py); the shipped
    float file (float16 weights) must agree on every test photo."""
    ref = json.loads((learned.MODELS / "reference_outputs.json").read_text())
    assert len(ref["photos"]) >= 10
    batch = np.stack([learned.preprocess((PHOTOS / name).read_bytes(), pillow=True) for name in ref["photos"]])
    logits, embedding, levels = learned.run_model(batch, learned.FLOAT_MODEL_FILE)
    ref_logits, ref_emb, ref_levels = np.array(ref["logits"]), np.array(ref["embedding"]), np.array(ref["levels"])
    assert logits.shape == (len(ref["photos"]), 1000) and embedding.shape == (len(ref["photos"]), learned.EMBEDDING_SIZE)
    assert learned.teach_features(embedding[0], levels[0]).shape == (learned.FEATURES_SIZE,)
    assert np.abs(levels - ref_levels).max() < 0.2 * np.abs(ref_levels).max()
    assert np.abs(learned.softmax(logits) - learned.softmax(ref_logits)).max() < 0.05
    assert (logits.argmax(1) == ref_logits.argmax(1)).all()
    cos = (embedding * ref_emb).sum(1) / np.linalg.norm(embedding, axis=1) / np.linalg.norm(ref_emb, axis=1)
    assert cos.min() > 0.999
    # and the network sees what is in them
    names = [learned.class_map()[i][1] for i in logits.argmax(1)]
    assert names[ref["photos"].index("coffee.jpg")] == "espresso"
    assert "cat" in names[ref["photos"].index("chelsea.jpg")]


def test_the_analysis_input_is_the_reference_input_resized_quicker():
    """The analysis resizes with OpenCV, the reference outputs were made on Pillow's resize: on the test photos
    the two inputs differ by about half a grey level, and the network sees the same in both (embeddings at
    cosine >= 0.99, mostly the same top ImageNet class: where it is unsure, a grey level can change that)."""
    photos = sorted(PHOTOS.glob("*.jpg"))
    ours = np.stack([learned.preprocess(p.read_bytes()) for p in photos])
    pillow = np.stack([learned.preprocess(p.read_bytes(), pillow=True) for p in photos])
    assert ours.shape == pillow.shape == (len(photos), 3, learned.INPUT, learned.INPUT) and ours.dtype == np.float32
    assert np.abs(ours - pillow).mean() < 1.0 and not np.array_equal(ours, pillow)
    (a, a_emb, _), (b, b_emb, _) = learned.run_model(ours), learned.run_model(pillow)
    cos = (a_emb * b_emb).sum(1) / np.linalg.norm(a_emb, axis=1) / np.linalg.norm(b_emb, axis=1)
    assert cos.min() >= 0.99, dict(zip([p.name for p in photos], cos.round(3)))
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.8


def test_the_int8_model_the_analysis_runs_agrees_with_the_float_network_on_real_photos():
    """The quantised file (tools/quantize_model.py) is what the analysis runs; on every test photo it gives the
    float network's category, an embedding at cosine >= 0.95, and mostly its top ImageNet class (on the inputs
    the reference outputs were made on: how far the quantisation moves the network, and only that)."""
    assert learned.MODEL_FILE == learned.INT8_MODEL_FILE and learned.INT8_MODEL_FILE.exists()
    photos = sorted(p.name for p in PHOTOS.glob("*.jpg"))
    assert len(photos) >= 10
    batch = np.stack([learned.preprocess((PHOTOS / name).read_bytes(), pillow=True) for name in photos])
    f_logits, f_emb, f_levels = learned.run_model(batch, learned.FLOAT_MODEL_FILE)
    q_logits, q_emb, q_levels = learned.run_model(batch, learned.INT8_MODEL_FILE)
    assert q_logits.shape == f_logits.shape and q_emb.shape == f_emb.shape and q_levels.shape == f_levels.shape
    categories = [(max(a, key=a.get), max(b, key=b.get)) for a, b in
                  ((learned.imagenet_scores(f)[0], learned.imagenet_scores(q)[0]) for f, q in zip(f_logits, q_logits))]
    assert all(f == q for f, q in categories), list(zip(photos, categories))
    cos = (f_emb * q_emb).sum(1) / np.linalg.norm(f_emb, axis=1) / np.linalg.norm(q_emb, axis=1)
    assert cos.min() >= 0.95, dict(zip(photos, cos.round(3)))
    assert (f_logits.argmax(1) == q_logits.argmax(1)).mean() >= 0.8
    assert not np.allclose(f_logits, q_logits, atol=1e-3)  # it is another network file, not the float one again


def test_class_map_covers_the_categories():
    rows = learned.class_map()
    assert len(rows) == 1000 and len({wnid for wnid, _, _ in rows}) == 1000
    counts = {c: sum(1 for _, _, cat in rows if cat == c) for c in CATEGORIES}
    for category in ("Nature", "Food", "People", "Architecture", "Vehicles", "Technology", "Sports", "Art"):
        assert counts[category] >= 4, counts
    assert sum(counts.values()) >= 750  # the rest count for no category and fall back on the features
    by_name = {name: cat for _, name, cat in rows}
    expected = {"tabby": "Nature", "daisy": "Nature", "espresso": "Food", "pizza": "Food", "sports car": "Vehicles",
                "airliner": "Vehicles", "church": "Architecture", "suspension bridge": "Architecture",
                "laptop": "Technology", "cellular telephone": "Technology", "soccer ball": "Sports",
                "scuba diver": "Sports", "groom": "People", "suit": "People", "violin": "Art"}
    assert {n: by_name.get(n) for n in expected} == expected


def test_learned_is_the_default_and_heuristic_can_be_chosen(tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(PHOTOS, folder)
    learned_rows = {r["key"]: r for r in json.loads(run("classify", folder, "--json", "--quiet", "--no-cache").stdout)}
    assert learned_rows["coffee.jpg"]["category"] == "Food"
    assert learned_rows["chelsea.jpg"]["category"] == "Nature"
    assert learned_rows["china.jpg"]["category"] == "Architecture"
    assert set(learned_rows["coffee.jpg"]) == {"key", "category", "confidence", "error"}
    explicit = json.loads(run("classify", folder, "--json", "--quiet", "--classifier", "learned").stdout)
    assert {r["key"]: r["category"] for r in explicit} == {k: r["category"] for k, r in learned_rows.items()}
    heuristic = run("classify", folder, "--json", "--quiet", "--classifier", "heuristic", "--plan-out", tmp_path / "h.json")
    assert heuristic.returncode == 0
    plan = plan_dict(tmp_path / "h.json")
    assert not any("looks like" in i["reason"] for i in plan["items"])  # no ImageNet labels: the model did not run
    run("classify", folder, "--quiet", "--plan-out", tmp_path / "l.json")
    reasons = {i["source"]: i["reason"] for i in plan_dict(tmp_path / "l.json")["items"]}
    assert "espresso" in reasons["coffee.jpg"]


def _variants(image: Image.Image, n: int) -> list[Image.Image]:
    """Real-photo examples: crops, flips and small rotations of one photo."""
    out = []
    w, h = image.size
    for k in range(n):
        crop = image.crop((k * w // 40, k * h // 50, w - (n - k) * w // 60, h - k * h // 45))
        if k % 2:
            crop = ImageOps.mirror(crop)
        out.append(crop.rotate((k - n / 2) * 2, expand=False, fillcolor=(128, 128, 128)))
    return out


def _examples(examples, groups: dict[str, list[str]], n: int):
    """An examples folder: a subfolder per category, each holding n variants of each of its photos."""
    for category, names in groups.items():
        (examples / category).mkdir(parents=True)
        for name in names:
            for k, im in enumerate(_variants(Image.open(PHOTOS / name).convert("RGB"), n)):
                im.save(examples / category / f"{name[:-4]}_{k}.jpg", quality=90)
    return examples


def test_teach_by_example_round_trip(tmp_path):
    """`teach` on a folder with a subfolder per category (any names), then `classify --classifier MODEL`:
    the categories are the folder names, the output contract is the same, and new images are sorted right."""
    examples = _examples(tmp_path / "examples", {"Kitchen": ["coffee.jpg"], "Pets": ["chelsea.jpg"], "Outdoors": ["beach.jpg", "forest_path.jpg"]}, 6)
    (examples / "loose.jpg").write_bytes((PHOTOS / "rocket.jpg").read_bytes())  # not in a category: ignored
    (examples / "Pets" / "broken.jpg").write_bytes(b"not a jpeg")                # reported, not fatal
    model = tmp_path / "models" / "listings.json"
    taught = run("teach", examples, "--out", model, "--json", "--quiet")
    assert taught.returncode == 0, taught.stderr
    summary = json.loads(taught.stdout)
    assert summary["categories"] == {"Kitchen": 6, "Outdoors": 12, "Pets": 6}
    assert [e["key"] for e in summary["errors"]] == ["Pets/broken.jpg"]
    assert json.loads(model.read_text())["categories"] == ["Kitchen", "Outdoors", "Pets"]

    new = tmp_path / "new"
    new.mkdir()
    for name in ("coffee.jpg", "chelsea.jpg", "beach.jpg", "rocket.jpg", "flower.jpg"):
        im = Image.open(PHOTOS / name).convert("RGB")
        w, h = im.size
        im.crop((w // 10, h // 12, w - w // 9, h - h // 10)).resize((w // 2, h // 2)).save(new / name, quality=80)
    result = run("classify", new, "--json", "--quiet", "--classifier", model, "--plan-out", tmp_path / "plan.json")
    assert result.returncode == 0, result.stderr
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    items = {i["source"]: i for i in plan_dict(tmp_path / "plan.json")["items"]}
    assert {k: r["category"] for k, r in rows.items()} == {"coffee.jpg": "Kitchen", "chelsea.jpg": "Pets", "beach.jpg": "Outdoors",
                                                          "rocket.jpg": "unknown", "flower.jpg": "unknown"}
    assert all(0 < r["confidence"] <= 1 and r["error"] is None for r in rows.values())
    dests = {k: i["destination"] for k, i in items.items()}
    assert dests == {"beach.jpg": "Outdoors/beach.jpg", "chelsea.jpg": "Pets/chelsea.jpg", "coffee.jpg": "Kitchen/coffee.jpg",
                     "rocket.jpg": "rocket.jpg", "flower.jpg": "flower.jpg"}  # unknown: they stay where they are
    assert items["rocket.jpg"]["reason"].startswith("unknown: unlike every taught category")
    # the examples folder inside a folder being sorted is left out of the sorting (it is what was learned from)
    shutil.copy(PHOTOS / "coffee.jpg", tmp_path / "top.jpg")
    whole = run("classify", tmp_path, "--json", "--quiet", "--classifier", model)
    assert whole.returncode == 0, whole.stderr
    keys = [r["key"] for r in json.loads(whole.stdout)]
    assert "top.jpg" in keys and "new/coffee.jpg" in keys and not [k for k in keys if k.startswith("examples/")]


def test_teach_with_none_of_these_examples(tmp_path):
    """A "none of these" subfolder teaches what to leave alone: an image most like those examples stays where
    it is (even with the likeness threshold off), with the reason; it is not a category to sort into."""
    examples = _examples(tmp_path / "examples", {"Kitchen": ["coffee.jpg"], "Pets": ["chelsea.jpg"], "none of these": ["rocket.jpg", "astronaut.jpg"]}, 5)
    model = tmp_path / "none.json"
    taught = run("teach", examples, "--out", model, "--json", "--quiet")
    assert taught.returncode == 0, taught.stderr
    assert json.loads(taught.stdout)["categories"] == {"Kitchen": 5, "Pets": 5, "none of these": 10}
    assert '"none of these" example(s)' in taught.stderr
    new = tmp_path / "new"
    new.mkdir()
    for name in ("coffee.jpg", "chelsea.jpg", "rocket.jpg"):
        im = Image.open(PHOTOS / name).convert("RGB")
        w, h = im.size
        im.crop((w // 8, h // 10, w - w // 7, h - h // 9)).save(new / name, quality=80)
    result = run("classify", new, "--json", "--quiet", "--classifier", model, "--set", "classifier.min_familiarity=0",
                 "--plan-out", tmp_path / "plan.json")
    assert result.returncode == 0, result.stderr
    assert {r["key"]: r["category"] for r in json.loads(result.stdout)} == {
        "coffee.jpg": "Kitchen", "chelsea.jpg": "Pets", "rocket.jpg": "unknown"}
    plan = plan_dict(tmp_path / "plan.json")
    items = {i["source"]: i for i in plan["items"]}
    assert items["rocket.jpg"]["destination"] == "rocket.jpg" and items["rocket.jpg"]["action"] == "keep"
    assert items["rocket.jpg"]["reason"].startswith('unknown: most like your "none of these" examples')
    assert plan["extra"]["categories"] == ["Kitchen", "Pets", "no_image"]


def test_teach_and_classifier_errors_are_one_line(tmp_path):
    (tmp_path / "one" / "Only").mkdir(parents=True)
    shutil.copy(PHOTOS / "coffee.jpg", tmp_path / "one" / "Only" / "a.jpg")
    p = run("teach", tmp_path / "one", "--out", tmp_path / "m.json", "--quiet")
    assert p.returncode != 0 and "at least two" in p.stderr and "Traceback" not in p.stderr
    (tmp_path / "bogus.json").write_text('{"hello": 1}')
    p = run("classify", PHOTOS, "--json", "--quiet", "--classifier", tmp_path / "bogus.json")
    assert p.returncode != 0 and "not a taught classifier" in p.stderr and "Traceback" not in p.stderr


def test_nothing_reaches_the_network(tmp_path):
    """Classification and teaching with every outgoing connection refused (sockets other than the workers'
    local pipes): they work, so nothing is downloaded."""
    examples = tmp_path / "ex"
    for category, name in (("A", "coffee.jpg"), ("B", "beach.jpg")):
        (examples / category).mkdir(parents=True)
        for k, im in enumerate(_variants(Image.open(PHOTOS / name).convert("RGB"), 3)):
            im.save(examples / category / f"{k}.jpg")
    guard = (
        "import socket, sys\n"
        "real = socket.socket.connect\n"
        "def connect(self, address):\n"
        "    if self.family in (socket.AF_INET, socket.AF_INET6):\n"
        "        raise OSError(f'network use refused by the test: {address}')\n"
        "    return real(self, address)\n"
        "socket.socket.connect = connect\n"
        "socket.create_connection = lambda *a, **k: (_ for _ in ()).throw(OSError('network use refused'))\n"
        "from segregator.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for args in (["teach", str(examples), "--out", str(tmp_path / "m.json"), "--quiet", "--workers", "1"],
                 ["classify", str(PHOTOS), "--json", "--quiet", "--no-cache", "--workers", "1"],
                 ["classify", str(PHOTOS), "--json", "--quiet", "--no-cache", "--workers", "1", "--classifier", str(tmp_path / "m.json")]):
        p = subprocess.run([sys.executable, "-c", guard, *args], capture_output=True, text=True, cwd=REPO,
                           env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                "SEGREGATOR_CACHE_DIR": str(tmp_path / "cache")}, timeout=300)
        assert p.returncode == 0, p.stderr


def test_embedding_stage_finds_reframed_copies_hashing_misses(tmp_path):
    """`similar --embedding-threshold`: a re-framed copy (a quarter cut from two sides) and a zoom are missed by
    pHash and pixels but found by content; unrelated photos still do not match; the JSON contract is unchanged."""
    folder = tmp_path / "photos"
    shutil.copytree(PHOTOS, folder)
    im = Image.open(PHOTOS / "chelsea.jpg").convert("RGB")
    w, h = im.size
    im.crop((w // 4, h // 4, w, h)).save(folder / "reframed.jpg", quality=85)
    im.crop((int(w * .15), int(h * .15), int(w * .85), int(h * .85))).resize((w // 2, h // 2)).save(folder / "zoomed.jpg")
    plain = json.loads(run("similar", folder, "--reference", PHOTOS / "chelsea.jpg", "--json", "--quiet").stdout)
    found = {r["key"] for r in plain if r["match"]}
    assert "chelsea.jpg" in found and "reframed.jpg" not in found
    p = run("similar", folder, "--reference", PHOTOS / "chelsea.jpg", "--json", "--quiet", "--embedding-threshold", "0.8",
            "--plan-out", tmp_path / "plan.json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert all(set(r) == {"key", "match", "hamming", "pixel_similarity", "error"} for r in rows)
    assert {r["key"] for r in rows if r["match"]} == {"chelsea.jpg", "reframed.jpg", "zoomed.jpg"}
    items = {i["source"]: i for i in plan_dict(tmp_path / "plan.json")["items"]}
    assert "content similarity" in items["reframed.jpg"]["reason"]
    assert items["reframed.jpg"]["scores"]["embedding_similarity"] >= 0.8
    assert items["coffee.jpg"]["scores"]["embedding_similarity"] < 0.5


def test_the_shipped_head_is_blended_with_the_imagenet_prior(tmp_path):
    """The default classifier blends the shipped nine-category head with the ImageNet-map prior: where the head
    is flat the prior decides, a sure head outweighs a mild prior, and on real photos the head moves the scores
    without undoing what the prior got right."""
    head = learned.default_head()
    assert head is not None and set(head.categories) == set(CATEGORIES)
    prior = np.array([[0.5 if c == "Food" else 0.5 / 8 for c in CATEGORIES]])
    flat = np.full((1, len(CATEGORIES)), 1 / len(CATEGORIES))
    assert CATEGORIES[int(learned.blend(flat, prior).argmax())] == "Food"
    sure = np.array([[0.9 if c == "Vehicles" else 0.1 / 8 for c in CATEGORIES]])
    assert CATEGORIES[int(learned.blend(sure, prior).argmax())] == "Vehicles"
    mixed = learned.blend(sure, prior)
    assert mixed.shape == (1, len(CATEGORIES)) and abs(float(mixed.sum()) - 1) < 1e-9

    folder = tmp_path / "photos"
    shutil.copytree(PHOTOS, folder)
    with_head = {r["key"]: r for r in json.loads(run("classify", folder, "--json", "--quiet", "--no-cache").stdout)}
    prior_only = {r["key"]: r for r in json.loads(run("classify", folder, "--json", "--quiet", "--no-cache",
                                                      "--set", "classifier.head=false").stdout)}
    for key, category in {"coffee.jpg": "Food", "chelsea.jpg": "Nature", "china.jpg": "Architecture",
                          "astronaut.jpg": "People", "rocket.jpg": "Vehicles", "forest_path.jpg": "Nature"}.items():
        assert with_head[key]["category"] == prior_only[key]["category"] == category, key
    assert any(with_head[k]["confidence"] != prior_only[k]["confidence"] for k in with_head)  # the head acted

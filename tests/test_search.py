"""Search: tags and "images like this one" through the CLI on real photos, the store kept up to date as images are
added, changed and moved, and plans from hits applied on a folder and on the S3 server."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageOps

from segregator import learned
from tests.conftest import DATA, PHOTOS, plan_dict, upload_folder
from tests.test_cli import run

pytestmark = pytest.mark.skipif(not learned.available(), reason="onnxruntime or the model file missing")
ROW = {"key", "score", "tags", "error"}


def _rows(*args) -> list[dict]:
    p = run("search", *args, "--json", "--quiet")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert all(set(r) == ROW and r["error"] is None for r in rows), rows
    return rows


@pytest.fixture
def shop(tmp_path):
    folder = tmp_path / "shop"
    shutil.copytree(PHOTOS, folder)
    for name in ("product_mug.jpg", "product_teapot.jpg", "product_sedan.jpg"):
        shutil.copy(DATA / "negatives" / name, folder / name)
    shutil.copy(DATA / "placeholders" / "image-missing.png", folder / "image-missing.png")
    return folder


def test_tag_and_like_queries_follow_the_contract(shop):
    cats = _rows(shop, "--tag", "cat")
    assert [r["key"] for r in cats] == ["chelsea.jpg"]
    assert "egyptian cat" in cats[0]["tags"] and cats[0]["tags"][0] == "nature" and 0 < cats[0]["score"] <= 1
    food = _rows(shop, "--tag", "food")
    assert {"coffee.jpg", "product_mug.jpg"} <= {r["key"] for r in food}
    assert [r["score"] for r in food] == sorted((r["score"] for r in food), reverse=True)
    assert [r["key"] for r in _rows(shop, "--tag", "espr")] == ["coffee.jpg"]  # a word's beginning is enough
    assert [r["key"] for r in _rows(shop, "--faces")] == ["astronaut.jpg"]
    assert [r["key"] for r in _rows(shop, "--tag", "placeholder")] == ["image-missing.png"]
    assert _rows(shop, "--tag", "cat, food") == []  # every term must match
    assert {r["key"] for r in _rows(shop, "--tag", "landscape", "--category", "Nature")} >= {"chelsea.jpg", "forest_path.jpg"}
    # a re-framed, mirrored copy of a photo (not in the folder) finds the photo first
    probe = ImageOps.mirror(Image.open(PHOTOS / "chelsea.jpg").convert("RGB"))
    w, h = probe.size
    probe.crop((w // 8, h // 10, w, h)).save(shop.parent / "probe.jpg", quality=85)
    like = _rows(shop, "--like", shop.parent / "probe.jpg", "--top", "3", "--min-score", "0")
    assert len(like) == 3 and like[0]["key"] == "chelsea.jpg" and like[0]["score"] > like[1]["score"]
    # by default only images at least 0.5 alike are hits: the copy's photo, not the unrelated ones after it
    assert [r["key"] for r in _rows(shop, "--like", shop.parent / "probe.jpg", "--top", "3")] == ["chelsea.jpg"]
    assert like[1]["score"] < 0.5
    bad = run("search", shop, "--like", shop.parent / "probe.jpg", "--min-score", "1.5", "--quiet")
    assert bad.returncode == 1 and "--min-score must be between 0 and 1" in bad.stderr


def test_the_store_follows_added_changed_and_removed_images(shop):
    p = run("search", shop, "--tag", "cat", "--quiet")
    assert "added" in p.stderr and p.returncode == 0
    # unchanged: nothing analysed or entered again
    p = run("search", shop, "--tag", "cat", "--quiet")
    assert "(0 added, 0 changed, 0 dropped" in p.stderr, p.stderr
    # a new cat photo, a photo replaced by another picture, one removed
    Image.open(PHOTOS / "chelsea.jpg").convert("RGB").rotate(4).save(shop / "new_cat.jpg", quality=88)
    shutil.copy(PHOTOS / "coffee.jpg", shop / "rocket.jpg")
    (shop / "china.jpg").unlink()
    p = run("search", shop, "--tag", "cat", "--quiet", "--json")
    assert "(1 added, 1 changed, 1 dropped" in p.stderr, p.stderr
    assert {r["key"] for r in json.loads(p.stdout)} == {"chelsea.jpg", "new_cat.jpg"}
    assert "rocket.jpg" in {r["key"] for r in _rows(shop, "--tag", "espresso")}
    assert _rows(shop, "--tag", "palace") == []


def test_bad_inputs_and_questions(shop, tmp_path):
    (shop / "broken.jpg").write_bytes((PHOTOS / "coffee.jpg").read_bytes()[:300])
    p = run("search", shop, "--tag", "food", "--quiet")
    assert p.returncode == 0 and "broken.jpg:" in p.stderr  # a per-file error, and the search goes on
    assert run("search", shop, "--quiet").returncode == 1  # nothing asked
    bad = run("search", shop, "--like", shop / "broken.jpg", "--quiet")
    assert bad.returncode == 1 and "cannot use" in bad.stderr and "Traceback" not in bad.stderr


def test_hits_become_a_plan_applied_and_undone_on_a_folder(shop, tmp_path):
    plan_path = tmp_path / "food.json"
    p = run("search", shop, "--tag", "food", "--plan-out", plan_path, "--to", "picked/food", "--quiet")
    assert p.returncode == 0, p.stderr
    plan = plan_dict(plan_path)
    assert plan["kind"] == "search" and plan["output_prefix"] == "picked/food/"
    moved = {i["source"] for i in plan["items"]}
    assert {"coffee.jpg", "product_mug.jpg"} <= moved and all(i["action"] == "move" for i in plan["items"])
    before = {n: (shop / n).read_bytes() for n in moved}
    assert run("apply", plan_path, "--yes", "--quiet").returncode == 0
    for name, data in before.items():
        assert not (shop / name).exists() and (shop / "picked/food" / name).read_bytes() == data
    assert run("undo", "--yes", "--quiet").returncode == 0
    assert all((shop / n).read_bytes() == d for n, d in before.items())


def test_hits_become_a_plan_applied_on_the_bucket(bucket, r2_env, tmp_path):
    upload_folder(bucket, PHOTOS, "listings/")
    bucket.write("listings/mug.jpg", (DATA / "negatives" / "product_mug.jpg").read_bytes())
    src = f"r2://{bucket.bucket}/listings/"
    like = _rows(src, "--like", PHOTOS / "coffee.jpg", "--top", "2", "--min-score", "0")
    assert like[0]["key"] == "coffee.jpg" and np.isclose(like[0]["score"], 1.0, atol=0.01)
    plan_path = tmp_path / "copy.json"
    p = run("search", src, "--like", PHOTOS / "coffee.jpg", "--top", "2", "--min-score", "0", "--copy", "--plan-out", plan_path, "--quiet")
    assert p.returncode == 0, p.stderr
    items = plan_dict(plan_path)["items"]
    assert [i["action"] for i in items] == ["copy", "copy"]
    assert run("apply", plan_path, "--yes", "--quiet").returncode == 0
    for i in items:
        assert bucket.read(i["destination"]) == bucket.read(i["source"])
        assert i["destination"].startswith("listings/search_results/")


def test_search_page_finds_by_tags_and_by_image_and_moves_the_hits_kept(shop):
    from tests.test_app import job_click, page

    at = page("pages/7_Search.py", shop)
    assert not at.exception
    at.text_input(key="search_tags_input").set_value("food").run()
    job_click(at, "Search")
    assert not at.exception, at.exception
    heading = [h.value for h in at.subheader if h.value.startswith("Hits")]
    assert heading and heading[0] != "Hits (0)", heading
    at.run()
    assert any("`food`" in c.value for c in at.caption)  # the collection's own tags are suggested
    job_click(at, "Confirm: Move")
    assert not at.exception
    assert (shop / "search_results" / "coffee.jpg").exists() and not (shop / "coffee.jpg").exists()
    assert (shop / "chelsea.jpg").exists()

    at = page("pages/7_Search.py", shop)
    at.radio(key="search_by_input").set_value("an image").run()
    at.file_uploader[0].set_value(("cat.jpg", (PHOTOS / "chelsea.jpg").read_bytes(), "image/jpeg")).run()
    at.number_input(key="search_top_input").set_value(2).run()
    job_click(at, "Search")
    assert not at.exception, at.exception
    # only the images at least half alike: the cat itself, not the unrelated photo next closest
    assert any(h.value == "Hits (1)" for h in at.subheader), [h.value for h in at.subheader]
    assert [b for b in at.button if b.label.startswith("Confirm")]
    # another minimum: the hits on screen are not what is asked for now, and they cannot be moved
    at.slider(key="search_min_input").set_value(0.0).run()
    assert any("other settings or options" in w.value for w in at.warning)
    assert not [b for b in at.button if b.label.startswith("Confirm")]
    assert any("Nothing can be moved from these results" in i.value and "Press **Search** again" in i.value
               for i in at.info)
    job_click(at, "Search")
    assert any(h.value == "Hits (2)" for h in at.subheader), [h.value for h in at.subheader]
    assert [b for b in at.button if b.label.startswith("Confirm")]


def test_search_page_choices_come_back_after_a_reload(shop):
    """A reload is a new session: the page's choices (tags, category, faces, hits, the image searched by) come
    back from its URL, and the finished job's hits show again without a new search."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO
    from tests.test_app import TIMEOUT, job_click, page

    at = page("pages/7_Search.py", shop)
    at.text_input(key="search_tags_input").set_value("food").run()
    at.checkbox(key="search_faces_input").check().run()
    at.checkbox(key="search_faces_input").uncheck().run()
    at.number_input(key="search_top_input").set_value(2).run()
    job_click(at, "Search")
    assert any(h.value == "Hits (2)" for h in at.subheader)
    url = dict(at.query_params)
    assert url.get("tags") == "food" and url.get("top") == "2" and "faces" not in url, url
    again = AppTest.from_file(str(REPO / "pages/7_Search.py"), default_timeout=TIMEOUT)
    for name, value in url.items():
        again.query_params[name] = value
    again.run()
    assert not again.exception, again.exception
    assert again.text_input(key="search_tags_input").value == "food" and again.number_input(key="search_top_input").value == 2
    assert any(h.value == "Hits (2)" for h in again.subheader)  # the finished job, not a new one

    at.radio(key="search_by_input").set_value("an image").run()
    at.file_uploader[0].set_value(("cat.jpg", (PHOTOS / "chelsea.jpg").read_bytes(), "image/jpeg")).run()
    url = dict(at.query_params)
    assert url.get("by") == "an image" and url.get("like"), url
    again = AppTest.from_file(str(REPO / "pages/7_Search.py"), default_timeout=TIMEOUT)
    for name, value in url.items():
        again.query_params[name] = value
    again.run()
    assert not again.exception and again.radio(key="search_by_input").value == "an image"
    assert not [i for i in again.info if "Upload an image" in i.value]  # the image searched by is back
    assert again.button(key="search_analyse")

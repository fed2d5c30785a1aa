"""Each page through Streamlit's AppTest, on real folders."""

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from segregator import jobs
from tests.conftest import PHOTOS, REPO, jpeg_bytes, photo

TIMEOUT = 120


def page(path: str, folder: Path) -> AppTest:
    at = AppTest.from_file(str(REPO / path), default_timeout=TIMEOUT)
    at.session_state["source_folder"] = str(folder)
    return at.run()


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label.startswith(label)]
    assert matches, f"no button {label!r} in {[b.label for b in at.button]}"
    return matches[0]


def wait_for_jobs(at: AppTest, timeout: float = 120) -> AppTest:
    """Until the server's runner has no job left to do, then draw the page again (as its progress panel does)."""
    import time

    from segregator.jobs.runner import JobStore

    store, deadline = JobStore(), time.monotonic() + timeout
    while any(j.active for j in store.list(limit=20)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return at.run()


def job_click(at: AppTest, label: str) -> AppTest:
    """Click a button that starts a job, and wait for the job."""
    button(at, label).click().run()
    assert not at.exception, at.exception
    return wait_for_jobs(at)


def test_the_sidebar_sends_analysis_jobs_to_a_local_dask_cluster(mixed_folder):
    from segregator import compute
    from segregator.jobs.runner import JobStore

    at = page("pages/2_Placeholders.py", mixed_folder)
    assert at.radio(key="compute_mode_input").value == "pool"
    at.radio(key="compute_mode_input").set_value("cluster").run()
    assert any("SEGREGATOR_DASK_SCHEDULER" in e.value for e in at.sidebar.error)  # no address taken from the page
    at.radio(key="compute_mode_input").set_value("local").run()
    at.number_input(key="compute_workers_input").set_value(2).run()
    assert not at.sidebar.error
    try:
        job_click(at, "Find placeholders")
        assert not at.exception
        assert [h.value for h in at.subheader if h.value.startswith("Placeholders found")] == ["Placeholders found (2)"]
        job = next(j for j in JobStore().list(limit=5) if j.kind == "placeholders")
        assert job.params["cluster"] == "local:2" and job.status == "done"
        assert "local:2" in compute._CLIENTS  # the job really ran on the cluster
        at.radio(key="compute_mode_input").set_value("pool").run()
        assert not [w for w in at.warning if "other settings" in w.value]  # where it ran changes no result
    finally:
        compute.close_clients()


def test_classify_page_previews_then_moves(mixed_folder, isolated_log):
    at = page("app.py", mixed_folder)
    assert not at.exception
    assert any("Analyse" in i.value for i in at.info)
    job_click(at, "Analyse")
    assert not at.exception
    assert any("could not be analysed" in c.value for c in at.caption)
    destinations = at.selectbox(key="classify_f_folder")
    assert "→ no_image/ (2)" in destinations.options
    assert at.json  # the JSON preview
    assert (mixed_folder / "chelsea.jpg").exists()  # nothing moved before confirming
    assert any(t.proto.editing_mode for t in at.dataframe)  # the plan's table can be edited
    assert any(c.value.startswith("Untick an image to keep it where it is, or pick another") for c in at.caption)
    assert not [c for c in at.caption if "shown as it was confirmed" in c.value]
    job_click(at, "Confirm: Move")
    assert not at.exception
    moved = next(s.value for s in at.success if s.value.startswith("Moved"))
    # runs and jobs are numbered apart: the result names both, and the runs panel says what a run is
    from segregator.jobs.runner import JobStore

    move_job = next(j for j in JobStore().list(limit=5) if j.kind == "apply")
    assert f"This is run {move_job.run_id} (job {move_job.id})" in moved, moved
    assert any(c.value.startswith("A run is one plan carried out") for c in at.caption)
    # the plan moved is shown as it was, no longer to be edited (its table is read-only)
    assert any("moved the files of this plan: it is shown as it was confirmed" in c.value for c in at.caption)
    assert not [c for c in at.caption if c.value.startswith("Untick an image")]  # not offered once read-only
    assert all(not t.proto.editing_mode for t in at.dataframe)
    assert (mixed_folder / "no_image" / "agent.png").exists()
    assert not (mixed_folder / "chelsea.jpg").exists()
    assert (mixed_folder / "broken.jpg").exists()  # unreadable files stay
    assert "local_full_folder" in isolated_log.read_text()


def test_classify_page_copy_mode(mixed_folder):
    at = page("app.py", mixed_folder)
    job_click(at, "Analyse")
    at.checkbox(key="copy_classify").check().run()
    job_click(at, "Confirm: Copy")
    assert not at.exception
    assert (mixed_folder / "chelsea.jpg").exists() and (mixed_folder / "no_image" / "agent.png").exists()


def test_missing_folder_shows_an_error_not_a_traceback(tmp_path):
    at = page("app.py", tmp_path / "nope")
    assert not at.exception
    assert any("Cannot use this folder" in e.value for e in at.error)


def test_empty_folder(tmp_path):
    at = page("app.py", tmp_path)
    job_click(at, "Analyse")
    assert not at.exception
    assert any("No images found" in w.value for w in at.warning)


def test_by_reference_page_moves_only_matches(mixed_folder):
    at = page("pages/1_By_Reference.py", mixed_folder)
    assert not at.exception
    at.file_uploader[0].set_value(("ref.jpg", jpeg_bytes(photo("coffee")), "image/jpeg")).run()
    job_click(at, "Find similar")
    assert not at.exception
    assert any(h.value.startswith("Matches (1)") for h in at.subheader)
    job_click(at, "Confirm: Move 1")
    assert not at.exception
    assert (mixed_folder / "similar" / "kitchen.jpg").exists()
    assert (mixed_folder / "chelsea.jpg").exists() and (mixed_folder / "agent.png").exists()


def test_by_reference_rejects_a_non_image_upload(mixed_folder):
    at = page("pages/1_By_Reference.py", mixed_folder)
    at.file_uploader[0].set_value(("notes.jpg", b"<html>not an image</html>", "image/jpeg")).run()
    assert not at.exception
    # the message names the file just dropped, and the box is empty again (no chip of the refused file)
    assert [e.value for e in at.error if "cannot be used" in e.value][0].startswith("notes.jpg cannot be used")
    assert at.file_uploader[0].value is None and any("Upload a reference image" in i.value for i in at.info)
    at.file_uploader[0].set_value(("ref.jpg", jpeg_bytes(photo("coffee")), "image/jpeg")).run()
    assert not at.exception and not [e for e in at.error if "cannot be used" in e.value]
    assert at.button(key="reference_analyse") and at.file_uploader[0].value is None  # taken: the box is empty again
    # a refused file after an accepted one: the message names it, the accepted reference stays
    at.file_uploader[0].set_value(("broken.png", b"\x89PNG\r\n\x1a\n truncated", "image/png")).run()
    assert [e.value for e in at.error if "cannot be used" in e.value][0].startswith("broken.png cannot be used")
    assert at.button(key="reference_analyse")


def test_placeholders_page(mixed_folder):
    import shutil

    from tests.conftest import DATA

    shutil.copy(DATA / "negatives" / "product_mug.jpg", mixed_folder / "mug.jpg")  # plain pixels, a real object
    at = page("pages/2_Placeholders.py", mixed_folder)
    assert not at.exception
    job_click(at, "Find placeholders")
    assert not at.exception
    heading = [h.value for h in at.subheader if h.value.startswith("Placeholders found")]
    assert heading == ["Placeholders found (2)"]  # not the mug: the image model's evidence keeps it out
    # each thumbnail's reason is cut at a phrase boundary, never mid-phrase
    captions = [c.value for c in at.caption if c.value.startswith(("agent.png", "no_image.png"))]
    assert len(captions) >= 2 and all(c.count("(") == c.count(")") for c in captions), captions
    assert not [w for w in at.warning if "other settings" in w.value]
    # the matching thresholds are By Reference's: moving one leaves these results as they are, confirmable
    at.session_state["t_hamming"] = 3
    at.run()
    assert not [w for w in at.warning if "other settings" in w.value] and button(at, "Confirm")
    at.session_state["t_sensitivity"] = 0.9  # this one decides what is a placeholder: the results are stale
    at.run()
    assert any("other settings" in w.value for w in at.warning) and not [b for b in at.button if b.label.startswith("Confirm")]
    at.session_state["t_sensitivity"] = 0.5
    at.run()
    assert not [w for w in at.warning if "other settings" in w.value] and button(at, "Confirm")
    # adding an example changes the analysis: the results on screen say they are stale, as a threshold does
    at.file_uploader[0].set_value(("mine.png", (mixed_folder / "agent.png").read_bytes(), "image/png")).run()
    assert any("other settings" in w.value for w in at.warning)
    at.file_uploader[0].set_value([]).run()
    assert not [w for w in at.warning if "other settings" in w.value]
    job_click(at, "Confirm: Move 2")
    assert sorted(p.name for p in (mixed_folder / "no_image").iterdir()) == ["agent.png", "no_image.png"]


def test_sidebar_thresholds_reset_and_log_download(mixed_folder):
    at = page("app.py", mixed_folder)
    at.slider(key="t_hamming_input").set_value(20).run()
    assert at.session_state["t_hamming"] == 20
    # The value survives a switch to another page (widget state alone would not).
    other = AppTest.from_file(str(REPO / "pages/3_Scanner.py"), default_timeout=TIMEOUT)
    for key in ("source_folder", "t_hamming", "t_pixel", "t_sensitivity", "t_ocr"):
        other.session_state[key] = at.session_state[key]
    other.run()
    assert other.slider(key="t_hamming_input").value == 20
    assert at.query_params["hamming"] == "20"  # kept in the URL, so a reload keeps it
    button(at, "Reset thresholds").click().run()
    assert at.session_state["t_hamming"] == 10 and at.slider(key="t_hamming_input").value == 10
    assert "hamming" not in at.query_params
    reloaded = AppTest.from_file(str(REPO / "pages/3_Scanner.py"), default_timeout=TIMEOUT)
    for name, value in {"storage": "local", "folder": str(mixed_folder), "hamming": "14", "pixel": "0.9",
                        "sensitivity": "7", "ocr": "0"}.items():
        reloaded.query_params[name] = value
    reloaded.run()
    assert reloaded.slider(key="t_hamming_input").value == 14 and reloaded.slider(key="t_pixel_input").value == 0.9
    assert reloaded.slider(key="t_sensitivity_input").value == 0.5  # out of range: the default stays
    assert reloaded.checkbox(key="t_ocr_input").value is False
    assert any(b.label == "Download session log" for b in at.get("download_button"))


def r2_page(path: str, bucket_name: str, prefix: str) -> AppTest:
    at = AppTest.from_file(str(REPO / path), default_timeout=TIMEOUT)
    at.session_state["storage_mode"] = "r2"
    at.session_state["bucket"] = bucket_name
    at.session_state["source_prefix"] = prefix
    return at.run()


def test_r2_full_bucket_page(bucket, r2_env, isolated_log):
    from tests.conftest import DATA, upload_folder

    upload_folder(bucket, PHOTOS, "images/masterImgs/")
    bucket.write("images/masterImgs/agent.png", (DATA / "placeholders" / "avatar-default.png").read_bytes())
    at = r2_page("app.py", bucket.bucket, "images/masterImgs/")
    assert not at.exception
    assert any("R2 Full Bucket" in c.value for c in at.caption)
    assert any(r2_env.host in c.value and r2_env.access_key[:4] + "…" in c.value for c in at.sidebar.caption)
    assert not any(r2_env.secret_key in str(el.value) for el in at.sidebar.caption)
    job_click(at, "Analyse")
    assert not at.exception
    destinations = at.selectbox(key="classify_f_folder")
    assert "→ images/masterImgs/no_image/ (1)" in destinations.options
    job_click(at, "Confirm: Move")
    assert not at.exception
    assert bucket.exists("images/masterImgs/no_image/agent.png") and not bucket.exists("images/masterImgs/agent.png")
    keys = [o.key for o in bucket.list("images/masterImgs/")]
    assert len(keys) == 12 and all(k.count("/") == 3 for k in keys)  # every image now in a category folder
    event = __import__("json").loads(isolated_log.read_text())[-1]
    assert event["event_type"] == "r2_full_bucket" and event["bucket"] == bucket.bucket


def test_r2_by_reference_page(bucket, r2_env):
    from tests.conftest import upload_folder

    upload_folder(bucket, PHOTOS, "shop/")
    at = r2_page("pages/1_By_Reference.py", bucket.bucket, "shop/")
    at.file_uploader[0].set_value(("ref.jpg", jpeg_bytes(photo("beach").resize((200, 133))), "image/jpeg")).run()
    job_click(at, "Find similar")
    assert not at.exception, at.exception
    job_click(at, "Confirm: Move 1")
    assert bucket.exists("shop/similar/beach.jpg") and not bucket.exists("shop/beach.jpg")
    assert bucket.exists("shop/coffee.jpg")


def test_r2_wrong_bucket_shows_an_error(bucket, r2_env):  # one bucket there: the key lists some
    at = r2_page("app.py", "no-such-bucket", "")
    assert not at.exception
    assert any("Cannot use this bucket: bucket not found: no-such-bucket" in e.value for e in at.sidebar.error)


def test_scanner_on_a_folder_picks_a_subfolder(mixed_folder):
    at = page("pages/3_Scanner.py", mixed_folder)
    assert not at.exception
    button(at, "⚡ Quick Scan").click().run()
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert any("`listing_7/`" in t and "2 image(s)" in t for t in texts)
    # broken.jpg counts: it is named as an image; the top counts its subfolder's images too
    assert any("`/`" in t and "9 image(s) (7 directly in it)" in t for t in texts)
    at.button(key="use_1").click().run()
    assert at.session_state["source_folder"] == str(mixed_folder / "listing_7")
    # the old folder's list is gone (its buttons would now resolve against the new folder): scan again
    assert not [b for b in at.button if b.key and b.key.startswith("use_")]
    assert any("Press **Quick Scan**" in i.value and "listing_7" in i.value for i in at.info)
    button(at, "⚡ Quick Scan").click().run()
    assert any("`/`" in m.value and "2 image(s)" in m.value for m in at.markdown)


def test_scanner_on_a_bucket_sets_the_source_prefix(bucket, r2_env):
    from tests.conftest import upload_folder

    upload_folder(bucket, PHOTOS, "images/masterImgs/a/")
    upload_folder(bucket, PHOTOS, "images/masterImgs/b/")
    at = r2_page("pages/3_Scanner.py", bucket.bucket, "images/masterImgs/")
    button(at, "⚡ Quick Scan").click().run()
    assert not at.exception
    assert any("`images/masterImgs/a/`" in m.value and "11 image(s)" in m.value for m in at.markdown)
    at.button(key="use_2").click().run()
    assert at.session_state["source_prefix"] == "images/masterImgs/b/"
    # the whole bucket: images/ holds no image directly, 22 below it, and shows samples from below
    whole = r2_page("pages/3_Scanner.py", bucket.bucket, "")
    button(whole, "⚡ Quick Scan").click().run()
    assert not whole.exception
    assert any("`images/`" in m.value and "22 image(s) (0 directly in it)" in m.value for m in whole.markdown)
    assert len(whole.get("imgs")) >= 3 or len(whole.image) >= 3


def test_gallery_browses_folders_and_sorts_one_by_reference(mixed_folder):
    at = page("pages/4_Gallery.py", mixed_folder)
    assert not at.exception
    assert any("7 image(s) · 1 subfolder(s)" in m.value for m in at.markdown)
    assert len(at.checkbox) >= 7 + 1  # one per image (+ the sidebar's OCR box)
    button(at, "📁 listing_7").click().run()
    assert any("`listing_7/`" in m.value and "2 image(s)" in m.value for m in at.markdown)
    at.file_uploader[0].set_value(("ref.jpg", jpeg_bytes(photo("coffee")), "image/jpeg")).run()
    job_click(at, "Find similar in this folder")
    assert not at.exception
    assert any(m.value.startswith("**1 match(es)** of 2 image(s)") for m in at.markdown)
    job_click(at, "Confirm: Move 1")
    assert not at.exception
    assert (mixed_folder / "listing_7" / "similar" / "kitchen.jpg").exists()
    assert any(s.value.startswith("Moved 1") for s in at.success)
    button(at, "⬆ Up").click().run()
    assert any("`/`" in m.value for m in at.markdown)


def test_gallery_pages_large_folders(tmp_path):
    import shutil

    for i in range(30):
        shutil.copy2(PHOTOS / "flower.jpg", tmp_path / f"f{i:02d}.jpg")
    at = page("pages/4_Gallery.py", tmp_path)
    assert not at.exception
    image_boxes = [c for c in at.checkbox if c.label.endswith(".jpg")]
    assert len(image_boxes) == 24
    at.number_input(key="gallery_page").set_value(2).run()
    assert sorted(c.label for c in at.checkbox if c.label.endswith(".jpg")) == [f"f{i:02d}.jpg" for i in range(24, 30)]


def test_gallery_delete_asks_first(mixed_folder):
    at = page("pages/4_Gallery.py", mixed_folder)
    at.checkbox(key="sel::beach.jpg").check().run()
    at.checkbox(key="sel::chelsea.jpg").check().run()
    button(at, "🗑️ Delete selected (2)").click().run()
    assert not at.exception
    assert (mixed_folder / "beach.jpg").exists()  # nothing happens before the dialog's confirm


def test_trash_plan_moves_to_trash_and_is_logged(mixed_folder, isolated_log):
    import json

    from segregator.storage import LocalStorage

    storage = LocalStorage(mixed_folder)
    plan = jobs.trash_plan(storage, ["beach.jpg", "listing_7/kitchen.jpg"])
    report, event = jobs.run_plan(plan, storage)
    assert report.summary()["moved"] == 2
    trashed = sorted(p.relative_to(mixed_folder).as_posix() for p in (mixed_folder / "_trash").rglob("*.jpg"))
    assert [t.split("/", 2)[2] for t in trashed] == ["beach.jpg", "listing_7/kitchen.jpg"]
    assert event["event_type"] == "local_delete"
    assert json.loads(isolated_log.read_text())[-1]["extra"]["moved"] == 2
    assert all("_trash" not in r.key for r in jobs.analyse_source(storage, workers=1, placeholders=False))


def test_bad_r2_credentials_show_a_clear_message(r2_config, monkeypatch):
    monkeypatch.setenv("R2_ENDPOINT", r2_config.endpoint)
    monkeypatch.setenv("R2_ACCESS_KEY", r2_config.access_key)
    monkeypatch.setenv("R2_SECRET_KEY", "wrong-secret-value")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.session_state["storage_mode"] = "r2"
    at.run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert any("set R2_BUCKET" in e or "access denied" in e for e in errors), errors
    assert not any("wrong-secret-value" in str(el.value) for el in list(at.sidebar.caption) + list(at.sidebar.error))


def test_reference_decompression_bomb_is_refused_clearly(mixed_folder):
    from tests.conftest import bomb_png

    at = page("pages/1_By_Reference.py", mixed_folder)
    at.file_uploader[0].set_value(("huge.png", bomb_png(), "image/png")).run()
    assert not at.exception
    assert any("decompression bomb" in e.value for e in at.error)


def test_gallery_resumes_an_unfinished_run(mixed_folder, tmp_path):
    from segregator.plan import MovePlan, PlanItem, write_plan
    from segregator.storage import LocalStorage
    from tests.faultlib import cli, finish, spawn

    storage = LocalStorage(mixed_folder)
    plan = MovePlan("classify", storage.record(), "", "", [PlanItem("beach.jpg", "x/beach.jpg"),
                                                          PlanItem("chelsea.jpg", "x/chelsea.jpg")])
    write_plan(plan, tmp_path / "plan.json")
    killed = spawn("apply", tmp_path / "plan.json", "--yes",
                   extra={"SEGREGATOR_MOVE_BATCH": "1", "SEGREGATOR_FAILPOINTS": "after-placed@2=kill"})
    assert finish(killed) == -9
    at = page("pages/4_Gallery.py", mixed_folder)
    assert any("stopped before it finished: 1 of 2" in w.value for w in at.warning), [w.value for w in at.warning]
    job_click(at, "⏯ Resume it")
    assert not at.exception
    assert (mixed_folder / "x" / "chelsea.jpg").exists() and not (mixed_folder / "chelsea.jpg").exists()
    assert any(s.value.startswith("Finished run 1: moved 2") for s in at.success), [s.value for s in at.success]
    assert any(b.label == "↩ Undo run 1" for b in at.button)
    assert not any("stopped before it finished" in w.value for w in at.warning)
    assert cli("resume").returncode == 1  # nothing left to resume


def test_a_run_refused_by_the_lock_is_a_message_and_leaves_no_prompt(mixed_folder):
    from segregator.locking import RunLock
    from segregator.storage import LocalStorage

    at = page("app.py", mixed_folder)
    job_click(at, "Analyse")
    with RunLock(LocalStorage(mixed_folder), "", "99"):
        job_click(at, "Confirm: Move")
    assert not at.exception
    assert any(e.value.startswith("Not started: another run is working on this storage: run 99") for e in at.error)
    assert (mixed_folder / "chelsea.jpg").exists()
    gallery = page("pages/4_Gallery.py", mixed_folder)
    assert not any("stopped before it finished" in w.value for w in gallery.warning)
    assert not any(b.label.startswith("⏯") for b in gallery.button)


def test_an_unsafe_output_folder_is_refused_as_typed(mixed_folder):
    at = page("pages/1_By_Reference.py", mixed_folder)
    at.text_input(key="reference_output").set_value("../../escape").run()
    assert not at.exception
    assert any("not a usable folder name" in e.value for e in at.error)
    at.text_input(key="reference_output").set_value("_trash/x").run()
    assert any("reserved" in e.value for e in at.error)


def test_teach_then_classify_into_my_own_categories(tmp_path, monkeypatch):
    """Home page: teach from a folder with a subfolder per category, the classifier is saved and picked,
    and the plan files images into those categories (editable only among them)."""
    from PIL import ImageOps

    from segregator.learned import available

    if not available():
        pytest.skip("image model not installed")
    monkeypatch.setenv("SEGREGATOR_MODELS_DIR", str(tmp_path / "models"))
    source = tmp_path / "listing"
    for category, name in (("Kitchen", "coffee"), ("Outside", "beach")):
        (source / "examples" / category).mkdir(parents=True)
        im = photo(name)
        w, h = im.size
        for k in range(4):
            ex = im.crop((k * w // 30, k * h // 30, w - k * w // 25, h - k * h // 25))
            (source / "examples" / category / f"{k}.jpg").write_bytes(jpeg_bytes(ImageOps.mirror(ex) if k % 2 else ex))
    (source / "new").mkdir()
    (source / "new" / "cup.jpg").write_bytes(jpeg_bytes(photo("coffee").resize((300, 200))))
    (source / "new" / "shore.jpg").write_bytes(jpeg_bytes(photo("beach").resize((300, 200))))
    (source / "new" / "rocket.jpg").write_bytes(jpeg_bytes(photo("rocket").resize((300, 200))))  # neither
    at = page("app.py", source)
    # said before any job: the field empty (the whole source is "/"), a folder with too few categories
    assert button(at, "Teach").disabled and any("Name the folder that holds the examples" in c.value for c in at.caption)
    at.text_input(key="teach_folder").input("nope").run()
    assert button(at, "Teach").disabled and any("There is no folder `nope` in the source" in c.value for c in at.caption)
    at.text_input(key="teach_folder").input("../etc").run()
    assert button(at, "Teach").disabled and any("`../etc` is outside the source" in c.value for c in at.caption)
    at.text_input(key="teach_folder").input("new").run()
    assert button(at, "Teach").disabled and any("`new` has 0 category subfolder(s)" in c.value for c in at.caption)
    at.text_input(key="teach_folder").input("/").run()
    assert not button(at, "Teach").disabled and any(c.value == "Categories: examples, new" for c in at.caption)
    at.text_input(key="teach_folder").input("examples").run()
    assert not button(at, "Teach").disabled and any(c.value.startswith("Categories: ") for c in at.caption)
    at.text_input(key="teach_name").input("listings").run()
    job_click(at, "Teach")
    assert not at.exception
    assert any("Learned 2 categories from 8 images" in s.value for s in at.success), [s.value for s in at.success]
    assert (tmp_path / "models" / "listings.json").exists()
    assert at.selectbox(key="classifier_input").value == "taught:listings"
    at.session_state["source_folder"] = str(source / "new")
    at.run()
    job_click(at, "Analyse")
    assert not at.exception
    destinations = at.selectbox(key="classify_f_folder").options
    assert "→ Kitchen/ (1)" in destinations and "→ Outside/ (1)" in destinations
    assert "stay where they are (1)" in destinations  # the rocket: unlike both categories
    plan = [p for p in at.json]
    assert plan
    # the threshold is in the sidebar; at 0 every image gets a category (after a new analysis: the old
    # results are marked as made with other settings)
    at.slider(key="t_familiarity_input").set_value(0.0).run()
    assert any("other settings" in w.value for w in at.warning)
    job_click(at, "Analyse")
    assert not [o for o in at.selectbox(key="classify_f_folder").options if o.startswith("stay where")]
    # sorting the whole folder leaves the examples folder alone
    at.session_state["source_folder"] = str(source)
    at.run()
    job_click(at, "Analyse")
    total = at.selectbox(key="classify_f_folder").options[0]
    assert total == "all (3)", total


def test_by_reference_content_stage_finds_a_reframed_copy(tmp_path):
    from segregator.learned import available

    if not available():
        pytest.skip("image model not installed")
    for name in ("chelsea", "coffee", "beach"):
        (tmp_path / f"{name}.jpg").write_bytes(jpeg_bytes(photo(name)))
    im = photo("chelsea")
    w, h = im.size
    (tmp_path / "reframed.jpg").write_bytes(jpeg_bytes(im.crop((w // 4, h // 4, w, h))))
    at = page("pages/1_By_Reference.py", tmp_path)
    at.file_uploader[0].set_value(("ref.jpg", jpeg_bytes(photo("chelsea")), "image/jpeg")).run()
    job_click(at, "Find similar")
    assert any(h.value.startswith("Matches (1)") for h in at.subheader)  # hashing and pixels: the copy only
    at.checkbox(key="reference_embeddings").check().run()
    job_click(at, "Find similar")
    assert not at.exception
    assert any(h.value.startswith("Matches (2)") for h in at.subheader)
    job_click(at, "Confirm: Move 2")
    assert sorted(p.name for p in (tmp_path / "similar").iterdir()) == ["chelsea.jpg", "reframed.jpg"]


def test_jobs_page_lists_app_and_cli_jobs_and_cancels(mixed_folder, tmp_path):
    from segregator.jobs.runner import JobStore
    from tests.faultlib import cli

    assert cli("classify", mixed_folder, "--quiet", "--classifier", "heuristic").returncode == 0  # a CLI job
    at = page("app.py", mixed_folder)
    # the command line's job made no plan for the page: the page offers to analyse (it used to fail on it)
    assert not at.exception and any("Press **Analyse**" in i.value for i in at.info), at.exception
    job_click(at, "Analyse")  # an app job
    job_click(at, "Confirm: Move")  # a move: a job with a run
    store = JobStore()
    queued = store.add("classify", "waiting", str(mixed_folder), {"source": str(mixed_folder)})
    store.update(queued, owner='["another-host", "", 1]')  # queued on another server: this one leaves it
    jobs_page = AppTest.from_file(str(REPO / "pages/6_Jobs.py"), default_timeout=TIMEOUT).run()
    assert not jobs_page.exception
    table = jobs_page.dataframe[0].value
    assert {"classify (command line)", "classify", "waiting"} <= set(table["what"])
    runs = dict(zip(table["job"], table["run"]))  # the run column: the move's run, an empty cell for the others
    assert [runs[j.id] for j in store.list(limit=10) if j.kind != "apply"] == ["", "", ""]  # not None
    mover = next(j for j in store.list(limit=10) if j.kind == "apply")
    assert mover.run_id and runs[mover.id] == str(mover.run_id)
    jobs_page.selectbox(key="jobs_act").set_value(queued).run()
    assert any(c.value.startswith(f"Job {queued} is **queued**") for c in jobs_page.caption)
    button(jobs_page, "✖ Cancel").click().run()
    assert store.get(queued).status == "cancelled"
    assert cli("jobs", "show", queued, "--json").stdout.count('"cancelled"') == 1


def test_source_choices_are_read_as_meant(mixed_folder, bucket, r2_env, tmp_path):
    """A folder path with spaces around it is the folder; a prefix naming one object is taken as its folder,
    with a word; another bucket starts from its top; a taught classifier keeps the name it was given."""
    at = page("app.py", mixed_folder)
    at.text_input(key="source_folder_input").input(f"  {mixed_folder}  ").run()
    assert not at.exception and not at.error
    assert at.session_state["source_folder"].strip() == str(mixed_folder)

    from tests.conftest import upload_folder

    upload_folder(bucket, PHOTOS, "images/masterImgs/")
    other = bucket.bucket + "-other"
    r2_env.client().create_bucket(Bucket=other)
    at = r2_page("app.py", bucket.bucket, "images/masterImgs/chelsea.jpg")
    assert not at.exception
    assert any("chelsea.jpg" in w.value and "object" in w.value for w in at.warning), [w.value for w in at.warning]
    at.session_state["source_prefix"] = "images/masterImgs/"
    at.run()
    box = at.selectbox(key="bucket_input")
    another = next(o for o in box.options if o != bucket.bucket)  # (the bucket list is cached a while)
    box.set_value(another).run()
    assert at.session_state["source_prefix"] == ""

    from segregator.jobs.teach import taught_model_name, taught_model_path

    path = taught_model_path("my cats & co / 2")
    assert taught_model_name(path) == "my cats & co / 2" and "/" not in path.name


def test_duplicates_page_finds_groups_changes_a_keeper_skips_a_group_and_moves(tmp_path, isolated_log):
    """Find → groups of copies side by side (the keeper marked) → keep another image of group 1 with one
    click → skip group 2 → confirm: group 1's other copies are in duplicates/<group>/, group 2 untouched."""
    import json

    from segregator.ui.groupsview import human_size
    from tests.test_duplicates import _collection

    folder, owner = _collection(tmp_path, ("chelsea.jpg", "coffee.jpg"))
    at = page("pages/5_Duplicates.py", folder)
    assert not at.exception
    assert any("Find duplicates" in i.value for i in at.info)
    job_click(at, "Find duplicates")
    assert not at.exception, at.exception
    assert any(h.value == "2 group(s) of copies" for h in at.subheader)
    heads = [m.value for m in at.markdown if m.value.startswith("**Group ")]
    assert heads[0].startswith("**Group 1** · 8 images") and "keeps `chelsea_bright.jpg`" in heads[0], heads
    assert heads[1].startswith("**Group 2** · 8 images") and "keeps `coffee_bright.jpg`" in heads[1], heads
    assert (folder / "chelsea_half.jpg").exists()  # nothing moved before confirming

    # One click keeps the half-size copy in group 1 instead.
    keepers = [b for b in at.button if b.key and b.key.startswith("dup_keeper_1_")]
    assert len(keepers) == 7  # every member but the keeper
    from segregator.jobs.runner import JobStore
    from segregator.plandb import PlanDB

    plan_path = next(j for j in JobStore().list(limit=5) if j.kind == "duplicates").result["plan"]
    db = PlanDB(plan_path)
    half = next(n for n, i in db.group_members([1])[1] if i.source == "chelsea_half.jpg")
    at.button(key=f"dup_keeper_1_{half}").click().run()
    assert not at.exception, at.exception
    heads = [m.value for m in at.markdown if m.value.startswith("**Group 1")]
    assert "keeps `chelsea_half.jpg`" in heads[0] and "chosen by you" in heads[0], heads
    def to_move() -> str:
        return next(c.value for c in at.caption if "copies to move" in c.value)

    copies = sum((folder / i.source).stat().st_size for _, i in db.page(offset=0, limit=100) if i.action == "move")
    assert f"14 copies to move ({human_size(copies)} in all)" in to_move(), to_move()  # all 14 copies, not one
    at.button(key="dup_skip_1").click().run()
    at.button(key="dup_skip_2").click().run()
    assert "0 copies to move (0 B in all)" in to_move(), to_move()  # read "(?)" once every group was skipped
    at.button(key="dup_take_1").click().run()
    heads = [m.value for m in at.markdown if m.value.startswith("**Group 2")]
    assert "skipped: all 8 stay" in heads[0] and "keeps" not in heads[0], heads  # not "keeps X · skipped"
    assert any(b.label == "Take again" for b in at.button)
    at.button(key="dup_accept_all").click().run()  # every group taken again ...
    assert "skipped" not in next(m.value for m in at.markdown if m.value.startswith("**Group 2"))
    assert any(b.label.startswith("Confirm: Move 14") for b in at.button)
    at.button(key="dup_skip_2").click().run()  # ... and group 2 skipped once more

    job_click(at, "Confirm: Move 7")
    assert not at.exception, at.exception
    assert any(s.value.startswith("Moved 7") for s in at.success), [s.value for s in at.success]
    # the groups as found before the move are gone from the page: none of the moved files is offered as there
    assert not [m.value for m in at.markdown if m.value.startswith("**Group ")]
    assert not [b.key for b in at.button if b.key and b.key.startswith(("dup_keeper_", "dup_skip_", "dup_accept"))]
    assert not [h.value for h in at.subheader if "group(s) of copies" in h.value]
    assert not [c.value for c in at.caption if "moves" in c.value or "chelsea_bright.jpg" in c.value]
    assert any(i.value.startswith("Run 1 moved the copies of these groups") for i in at.info), [i.value for i in at.info]
    moved = sorted(p.name for p in (folder / "duplicates" / "000001_chelsea_half").iterdir())
    assert moved == sorted(k for k, o in owner.items() if o == "chelsea.jpg" and k != "chelsea_half.jpg")
    assert (folder / "chelsea_half.jpg").exists()
    assert all((folder / k).exists() for k, o in owner.items() if o == "coffee.jpg")  # the skipped group
    event = json.loads(isolated_log.read_text())[-1]
    assert event["event_type"] == "local_duplicates" and event["results"]["moved_count"] == 7
    assert event["extra"]["group_count"] == 2 and event["extra"]["image_count"] == 16


def test_an_analysis_says_its_workers_are_starting_until_the_first_image_is_done(tmp_path):
    """Before the first image is done the count cannot move and there is no rate: the job's phase says why;
    the first count after that is stored at once (not held back by the twice-a-second limit), with a rate."""
    from segregator.jobs.kinds import _phased
    from segregator.jobs.runner import JobContext, JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    try:
        job_id = store.add("classify", "classify", str(tmp_path), {}, state="running")
        progress = _phased(JobContext(store, job_id), "analysing", "analysing (workers starting)")
        progress(0, 21)
        assert store.get(job_id).progress_text() == "analysing (workers starting) 0/21"
        time.sleep(0.3)
        progress(8, 21)
        job = store.get(job_id)
        assert job.phase == "analysing" and job.done == 8 and job.total == 21
        progress(0, 21)  # a later zero (nothing new done) does not take the phase back
        assert store.get(job_id).phase == "analysing"
        time.sleep(0.6)
        progress(16, 21)
        assert re.fullmatch(r"analysing 16/21 · [\d.]+/s · ETA \d+s", store.get(job_id).progress_text())
    finally:
        store.close()


def test_a_queued_job_says_what_it_really_waits_for(mixed_folder):
    """A queued job says it waits for another only while one runs (or is paused) ahead of it in its lane: when
    the job before it failed, or only a move runs (moves do not hold an analysis back), it is next to start; a
    job queued on another server says so. Moves run four at a time: the fifth waits, the fourth does not."""
    from segregator.jobs.runner import JobStore
    from segregator.ui import jobview

    at = page("app.py", mixed_folder)
    idle = jobview.runner()  # the page's runner, idle: the queued job below stays queued while it is looked at
    idle.stop()
    for thread in idle._threads:
        thread.join(5)
    store = JobStore()
    before = store.add("classify", "classify another folder", str(mixed_folder / "listing_7"), {}, state="running")
    queued = store.add("classify", "classify", str(mixed_folder), {"source": str(mixed_folder)})

    def status() -> str:
        at.run()
        assert not at.exception, at.exception
        [bar] = at.get("progress")
        return bar.proto.text

    assert status() == f"Job {queued}: classify — waiting for job {before} (classify another folder, running) ahead of it"
    store.update(before, state="paused")
    assert status().endswith(f"waiting for job {before} (classify another folder, paused) ahead of it")
    store.update(before, state="failed", finished=time.time(), error="boom")
    assert status() == f"Job {queued}: classify — next to start"
    earlier = store.add("apply", "move the files", str(mixed_folder / "listing_7"), {}, state="running")
    assert status() == f"Job {queued}: classify — next to start"
    store.update(queued, owner='["another-host", "", 1]')
    assert status() == f"Job {queued}: classify — queued for another server process: it starts there"
    store.update(queued, state="cancelled")

    moves = [store.add("apply", f"move {k}", str(mixed_folder), {}, state="running") for k in range(3)]
    fifth = store.get(store.add("apply", "move 5", str(mixed_folder), {}))
    assert [j.id for j in idle.waiting_for(fifth)] == [earlier] + moves  # the four moves at work
    store.update(moves[0], state="done")
    assert idle.waiting_for(fifth) == []


def test_the_undo_confirmation_says_how_many_more_files_than_it_lists(tmp_path):
    import shutil

    from segregator.plan import MovePlan, PlanItem
    from segregator.storage import LocalStorage

    folder = tmp_path / "many"
    folder.mkdir()
    photos = sorted(PHOTOS.glob("*.jpg"))
    for i in range(21):
        shutil.copy2(photos[i % len(photos)], folder / f"p{i:02d}.jpg")
    storage = LocalStorage(folder)
    jobs.run_plan(MovePlan("classify", storage.record(), "", "",
                           [PlanItem(f"p{i:02d}.jpg", f"x/p{i:02d}.jpg") for i in range(21)]), storage)
    at = page("pages/4_Gallery.py", folder)
    button(at, "↩ Undo run 1").click().run()
    assert not at.exception, at.exception
    assert any("**21 object(s)** go back" in m.value for m in at.markdown)
    [listing] = [c.value.splitlines() for c in at.code]
    assert listing[:20] == [f"x/p{i:02d}.jpg → p{i:02d}.jpg" for i in range(20)]
    assert listing[20:] == ["… and 1 more"]


def test_the_faces_folder_choice_is_kept_in_the_url(mixed_folder):
    """Home page: ticking "Images with faces to their own folder" and naming the folder go into the URL, and a
    reload (a new session from that URL) has them back, the analysis with them."""
    from segregator.faces import available
    from segregator.jobs.runner import JobStore

    if not available():
        pytest.skip("face detection not installed")

    def tick(at: AppTest):
        return next(c for c in at.checkbox if c.label == "🙂 Images with faces to their own folder")

    def name(at: AppTest):
        return next(t for t in at.text_input if t.label == "Faces folder")

    at = page("app.py", mixed_folder)
    assert "faces" not in at.query_params and tick(at).value is False
    tick(at).check().run()
    name(at).input("people").run()
    url = dict(at.query_params)
    assert url.get("faces") == "1" and url.get("faces_folder") == "people", url
    reloaded = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    for key, value in url.items():
        reloaded.query_params[key] = value
    reloaded.run()
    assert not reloaded.exception, reloaded.exception
    assert tick(reloaded).value is True and name(reloaded).value == "people"
    job_click(reloaded, "Analyse")
    job = next(j for j in JobStore().list(limit=5) if j.kind == "classify")
    assert job.params["faces_folder"] == "people" and job.params["settings"]["faces.detect"] == "on"
    tick(at).uncheck().run()
    assert "faces" not in at.query_params  # back at its default: out of the URL


def test_the_home_page_offers_to_undo_its_move(mixed_folder):
    """Home page: after a move, its ↩ runs panel offers to undo that run, and the confirmation lists what goes
    back. (AppTest cannot click inside a dialog: the undo itself is clicked in tests/test_browser.py.)"""
    at = page("app.py", mixed_folder)
    assert any(e.label == "↩ Undo a run, empty the trash" for e in at.expander)
    assert not [b.label for b in at.button if b.label.startswith("↩ Undo run")]  # no run yet
    job_click(at, "Analyse")
    job_click(at, "Confirm: Move")
    assert not (mixed_folder / "chelsea.jpg").exists()
    button(at, "↩ Undo run 1").click().run()
    assert not at.exception, at.exception
    assert any(m.value.startswith("Run 1 on") and "**8 object(s)** go back" in m.value for m in at.markdown)
    [listing] = [c.value.splitlines() for c in at.code]
    assert len(listing) == 8 and "no_image/agent.png → agent.png" in listing, listing
    assert any(b.label == "Undo it" for b in at.button)


STOPPED_SERVER = r'''
import signal, sys, time
from segregator.jobs.runner import JobRunner, JobStore
store = JobStore(sys.argv[1])
runner = JobRunner(store, move_threads=1)
job = runner.submit("classify", "classify", sys.argv[2], {"source": sys.argv[2],
                    "settings": {"classifier.backend": "heuristic"}}, user="local:test")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # as the server does: its main thread ends, the process exits
while store.get(job).done < 5:
    if not store.get(job).active:
        print(store.get(job).status, store.get(job).error, flush=True)
        sys.exit(1)
    time.sleep(0.05)
print("running", flush=True)
while True:
    time.sleep(1)
'''


def test_a_server_stopped_mid_analysis_leaves_it_interrupted_not_failed(tmp_path):
    """A stopped server (SIGTERM, as a restart does) ends the process while an analysis runs: the job reads
    "interrupted" and can be resumed, not "failed" with "cannot schedule new futures after shutdown"."""
    import os
    import signal
    import subprocess
    import sys

    from segregator.jobs.runner import JobStore

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(400):
        photo().save(folder / f"p{i:03d}.jpg", quality=60 + i % 30)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SEGREGATOR_FAILPOINTS": "job-progress@*=sleep:0.05",
           "SEGREGATOR_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-c", STOPPED_SERVER, str(tmp_path / "jobs.sqlite"), str(folder)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "running", proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = JobStore(tmp_path / "jobs.sqlite")
    try:
        job = store.list(limit=1)[0]
        assert job.status == "interrupted" and job.error is None, (job.status, job.error)
        assert job.done < 400
        assert store.requeue(job.id).status == "queued"  # and it can be resumed
    finally:
        store.close()


def test_the_destination_filter_stays_when_its_counts_change(mixed_folder):
    """The destination filter's labels carry counts ("→ no_image/ (2)"): an edit that changes the count (a row
    unticked) keeps the folder chosen, with the new count, instead of falling back to an empty choice."""
    from segregator.plandb import PlanDB, PlanFilter

    from segregator.ui.jobview import ALL

    at = page("app.py", mixed_folder)
    job_click(at, "Analyse")
    assert at.selectbox(key="classify_f_folder").value == ALL  # every destination, chosen (not an empty choice)
    at.selectbox(key="classify_f_folder").select("no_image/").run()
    assert at.selectbox(key="classify_f_folder").value == "no_image/"
    from segregator.jobs.runner import JobStore

    job = next(j for j in JobStore().list(limit=5) if j.kind == "classify")
    db = PlanDB(job.result["plan"])
    (n, _), = db.page(PlanFilter(folder="no_image/"), 0, 1)
    db.keep([n])  # as an untick in the table does, then the page is drawn again
    at.run()
    chosen = at.selectbox(key="classify_f_folder")
    assert chosen.value == "no_image/" and "→ no_image/ (1)" in chosen.options, (chosen.value, chosen.options)


def test_a_finished_undo_is_shown_only_on_the_page_that_started_it(mixed_folder):
    """The runs panel (home, gallery, duplicates) shows an undo's result on the page of the session that started
    it, until OK; not on the other pages that have the panel, nor in another session (a reload, another user)."""
    from segregator.jobs.runner import JobStore
    from segregator.runs import runs
    from segregator.ui import jobview
    from tests.test_cli import run

    plan = mixed_folder.parent / "plan.json"
    assert run("classify", mixed_folder, "--classifier", "heuristic", "--plan-out", plan, "--quiet").returncode == 0
    assert run("apply", plan, "--yes", "--quiet").returncode == 0
    at = page("app.py", mixed_folder)
    run_id = max(r.id for r in runs(None, limit=5))
    job_id = jobview.runner().submit("undo", f"undo run {run_id}", str(mixed_folder), {"run_id": run_id})
    wait_for_jobs(at)
    assert JobStore().get(job_id).status == "done"
    put_back = lambda t: [s for s in t.success if s.value.startswith("Put back")]  # noqa: E731
    assert not put_back(at)  # another session's undo (here: queued without this page)
    at.session_state["my_jobs"] = {job_id: at._finished_page_script_hash}  # as if this page had started it
    at.run()
    assert put_back(at) and any(b.label == "OK" for b in at.button)
    at.switch_page("pages/4_Gallery.py").run()
    assert not at.exception and not put_back(at)  # not on the other pages that have the panel
    at.switch_page("app.py").run()
    assert put_back(at)
    button(at, "OK").click().run()
    assert not put_back(at)


def test_a_paused_job_shows_no_eta_and_its_rate_leaves_the_pause_out(tmp_path):
    """While a job is paused its ETA is not shown (nothing is being done); after it goes on, its rate counts the
    time spent working, not the pause (a 1.5 s pause after 0.5 s of work would have cut the rate to a quarter)."""
    import threading

    from segregator.jobs.runner import JobContext, JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    try:
        job_id = store.add("classify", "classify", str(tmp_path), {}, state="running")
        ctx = JobContext(store, job_id)
        ctx.set_phase("analysing")
        time.sleep(0.5)
        ctx(50, 1000)
        before = store.get(job_id).rate  # 50 in about 0.5 s
        store.request(job_id, "pause")
        threading.Timer(1.5, store.request, (job_id, "resume")).start()
        waiter = threading.Thread(target=ctx.checkpoint)
        waiter.start()
        time.sleep(0.8)
        paused = store.get(job_id)
        assert paused.status == "paused" and "ETA" not in paused.progress_text(), paused.progress_text()
        waiter.join(5)
        assert store.get(job_id).status == "running"
        time.sleep(0.5)
        ctx(100, 1000)  # 100 in about 1 s of work (and 1.5 s paused)
        after = store.get(job_id)
        assert after.rate > 0.7 * before, (before, after.rate)  # the same pace (with the pause counted: 0.4 of it)
        assert "ETA" in after.progress_text()
        for state in ("cancelled", "done"):  # an ended job has no time left (the Jobs page kept "ETA 28s")
            store.update(job_id, state=state)
            assert "ETA" not in store.get(job_id).progress_text() and "/s" in store.get(job_id).progress_text()
    finally:
        store.close()


def test_a_swapped_keeper_that_changed_since_the_analysis_is_not_moved(tmp_path):
    """Keeping another member of a group makes the old keeper a move: it carries the version analysed like every
    copy, so when it changed on disk since, the confirm step says so and it stays where it is."""
    from segregator.jobs.runner import JobStore
    from segregator.plandb import PlanDB
    from tests.test_duplicates import _collection

    folder, _ = _collection(tmp_path, ("chelsea.jpg",))
    at = page("pages/5_Duplicates.py", folder)
    job_click(at, "Find duplicates")
    db = PlanDB(next(j for j in JobStore().list(limit=5) if j.kind == "duplicates").result["plan"])
    half = next(n for n, i in db.group_members([1])[1] if i.source == "chelsea_half.jpg")
    at.button(key=f"dup_keeper_1_{half}").click().run()
    photo("coffee").save(folder / "chelsea_bright.jpg", quality=90)  # the old keeper, replaced meanwhile
    job_click(at, "Confirm: Move 7")
    assert any("1 changed" in w.value and "chelsea_bright.jpg" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    job_click(at, "Move the others anyway")
    assert (folder / "chelsea_bright.jpg").exists() and not (folder / "duplicates" / "000001_chelsea_half"
                                                               / "chelsea_bright.jpg").exists()
    assert len(list((folder / "duplicates" / "000001_chelsea_half").iterdir())) == 6


def test_an_output_folder_that_cannot_be_used_leaves_the_page_and_its_results_on_screen(mixed_folder):
    """A bad output folder is said where it is typed; the page goes on showing the results it has (it used to
    stop there, hiding them and any job's progress), but neither analyses nor moves until the name is mended."""
    at = page("pages/1_By_Reference.py", mixed_folder)
    at.file_uploader[0].set_value(("ref.jpg", jpeg_bytes(photo("beach").resize((200, 133))), "image/jpeg")).run()
    job_click(at, "Find similar")
    assert any(h.value.startswith("Matches") for h in at.subheader), [h.value for h in at.subheader]
    assert [b for b in at.button if b.label.startswith("Confirm")]
    at.text_input(key="reference_output").input("../outside").run()
    assert any(e.value.startswith("Output folder:") for e in at.error), [e.value for e in at.error]
    assert button(at, "Find similar").disabled
    assert any(h.value.startswith("Matches") for h in at.subheader)  # the results are still there ...
    assert not [b for b in at.button if b.label.startswith("Confirm")]  # ... but not to be moved elsewhere
    assert any("cannot be moved while an option above cannot be used" in w.value for w in at.warning)
    assert not [w for w in at.warning if "press **Find similar" in w.value]  # not a disabled button
    at.text_input(key="reference_output").input("similar").run()
    assert not button(at, "Find similar").disabled and [b for b in at.button if b.label.startswith("Confirm")]


def test_start_over_outlives_a_reload(mixed_folder):
    """After a move, Start over clears the page; a reload (a new session, from the page's URL) keeps it clear
    instead of showing the old plan and its "Moved N" again (false once the run is undone)."""
    at = page("app.py", mixed_folder)
    job_click(at, "Analyse")
    job_click(at, "Confirm: Move")
    button(at, "Start over").click().run()
    assert any("Press **Analyse**" in i.value for i in at.info)
    url = dict(at.query_params)
    assert url.get("classify_after"), url
    again = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    for name, value in url.items():
        again.query_params[name] = value
    again.run()
    assert not again.exception, again.exception
    assert any("Press **Analyse**" in i.value for i in again.info)
    assert not [s for s in again.success if s.value.startswith("Moved")]


def test_the_jobs_page_keeps_the_source_in_its_url(mixed_folder):
    """The Jobs page has no source sidebar, but its URL keeps the session's source as the other pages' do: a
    reload there (a new session from its URL) still knows the folder the other pages work on."""
    at = AppTest.from_file(str(REPO / "pages/6_Jobs.py"), default_timeout=TIMEOUT)
    at.session_state["source_folder"] = str(mixed_folder)
    at.session_state["restored"] = True  # as a session that came from another page
    at.run()
    assert not at.exception
    url = dict(at.query_params)
    assert url.get("folder") == str(mixed_folder) and url.get("storage") == "local", url
    again = AppTest.from_file(str(REPO / "pages/6_Jobs.py"), default_timeout=TIMEOUT)
    for name, value in url.items():
        again.query_params[name] = value
    again.run()
    assert again.session_state["source_folder"] == str(mixed_folder)
    assert dict(again.query_params).get("folder") == str(mixed_folder)


def test_a_finished_job_cannot_be_paused_or_cancelled_and_says_so_plainly(tmp_path):
    from segregator.jobs.runner import JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    try:
        job_id = store.add("classify", "classify", str(tmp_path), {}, state="done")
        for what, word in (("pause", "paused"), ("cancel", "cancelled"), ("resume", "resumed")):
            with pytest.raises(ValueError, match=rf"job {job_id} is done: it cannot be {word} now"):
                store.request(job_id, what)
    finally:
        store.close()

"""The no-configuration defaults: the demo folder and the local demo bucket."""

import json

from streamlit.testing.v1 import AppTest

from segregator import jobs
from segregator.demo import DEMO_BUCKET, DEMO_PREFIX, SAMPLES, ensure_demo_folder, seed_demo_bucket, start_demo_bucket
from segregator.plan import MovePlan, PlanItem
from segregator.r2 import R2Storage
from tests.conftest import REPO

SAMPLE_FILES = sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def test_demo_folder_is_a_copy_of_the_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGREGATOR_DEMO_DIR", str(tmp_path / "demo"))
    folder = ensure_demo_folder()
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == SAMPLE_FILES
    (folder / "coffee.jpg").rename(folder / "moved.jpg")
    assert ensure_demo_folder() == folder and (folder / "moved.jpg").exists()  # kept as the user left it
    ensure_demo_folder(reset=True)
    assert (folder / "coffee.jpg").exists() and not (folder / "moved.jpg").exists()


def test_demo_bucket_is_seeded_once_and_persists(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGREGATOR_DEMO_DATA", str(tmp_path / "bucket"))
    server, config = start_demo_bucket()
    try:
        assert config.demo and config.describe().startswith("local demo bucket at 127.0.0.1:")
        storage = R2Storage(config, DEMO_BUCKET)
        assert sorted(o.key[len(DEMO_PREFIX):] for o in storage.list(DEMO_PREFIX)) == SAMPLE_FILES
        plan = MovePlan("classify", storage.record(), DEMO_PREFIX, DEMO_PREFIX,
                        [PlanItem(DEMO_PREFIX + "coffee.jpg", DEMO_PREFIX + "Food/coffee.jpg")])
        assert jobs.run_plan(plan, storage)[0].count("moved") == 1
    finally:
        server.stop()
    creds = json.loads((tmp_path / "bucket" / "credentials.json").read_text())
    assert (tmp_path / "bucket" / "credentials.json").stat().st_mode & 0o077 == 0
    server, config = start_demo_bucket()  # a restart keeps what the user did and does not re-seed
    try:
        assert config.access_key == creds["access_key"]
        storage = R2Storage(config, DEMO_BUCKET)
        assert storage.exists(DEMO_PREFIX + "Food/coffee.jpg") and not storage.exists(DEMO_PREFIX + "coffee.jpg")
        seed_demo_bucket(storage, reset=True)
        assert sorted(o.key[len(DEMO_PREFIX):] for o in storage.list()) == SAMPLE_FILES
    finally:
        server.stop()


def test_app_without_r2_configuration_uses_the_demo_bucket(tmp_path, monkeypatch):
    for name in ("R2_ENDPOINT", "R2_ACCESS_KEY", "R2_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEGREGATOR_DEMO_DATA", str(tmp_path / "bucket"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["storage_mode"] = "r2"
    at.run()
    try:
        assert not at.exception
        assert any("local demo bucket" in c.value for c in at.sidebar.caption)
        assert at.session_state["bucket"] == DEMO_BUCKET and at.session_state["source_prefix"] == DEMO_PREFIX
        [b for b in at.button if b.label == "Analyse"][0].click().run()
        assert not at.exception
        from tests.test_app import wait_for_jobs

        wait_for_jobs(at)  # the analysis is a job of the server's runner: it reaches the demo bucket by itself
        assert any(o.startswith(f"→ {DEMO_PREFIX}no_image/") for o in at.selectbox(key="classify_f_folder").options)
    finally:
        from segregator.ui import common

        common._demo_bucket.clear()  # stops caching the server; the atexit hook stops it at the end

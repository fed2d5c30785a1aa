"""Jobs outlive the page, in a real browser (chromium + Playwright) against a real `streamlit run`: on a folder of
1,500 real-derived photos, an analysis and a move go on through widget changes, page switches and reloads; a
cancelled move is consistent and resumable; a server killed mid-move comes back with the job interrupted and
Resume finishes it with nothing lost; a second tab sees the first tab's job. The server is slowed down by
failpoints (a sleep at each progress report and each batch of moves) so that there is time to act."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from tests.conftest import CHROMIUM, PHOTOS, REPO
from tests.test_browser import free_port, live, settle, shot

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make test installs it)")
COUNT = 1500
SLOW = "job-progress@*=sleep:0.05,batch-start@*=sleep:0.2"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """1,500 distinct small JPEGs cut from the real test photos (crop, scale, brightness)."""
    folder = tmp_path_factory.mktemp("template")
    photos = [Image.open(p).convert("RGB") for p in sorted(PHOTOS.glob("*.jpg"))]
    rng = random.Random(12)
    for i in range(COUNT):
        im = photos[i % len(photos)]
        w, h = im.size
        x, y = rng.randint(0, w // 4), rng.randint(0, h // 4)
        crop = im.crop((x, y, x + w * 3 // 4, y + h * 3 // 4)).resize((rng.randint(120, 200), rng.randint(90, 150)))
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.8, 1.2))
        sub = folder / f"listing_{i // 100:02d}"
        sub.mkdir(exist_ok=True)
        crop.save(sub / f"p{i:04d}.jpg", quality=85)
    return folder


def fresh_folder(template: Path, tmp_path_factory, name: str) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp(name) / "photos"
    shutil.copytree(template, folder)
    return folder, {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in folder.rglob("*.jpg")}


def every_file_once(folder: Path, originals: dict[str, str]) -> None:
    now = [hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.jpg") if "_trash" not in p.parts]
    assert sorted(now) == sorted(originals), f"{len(now)} files for {len(originals)} originals"


class Server:
    """`streamlit run app.py` on a free loopback port, with its state (journal, jobs, cache) in one folder."""

    def __init__(self, state: Path, extra: dict | None = None):
        self.state, self.port = state, free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("R2_")}
        self.env.update({"SEGREGATOR_LOG": str(state / "session_log.json"), "PYTHONPATH": str(REPO),
                         "SEGREGATOR_CACHE_DIR": str(state / "cache"), "SEGREGATOR_LOCK_DIR": str(state / "locks"),
                         "SEGREGATOR_FAILPOINTS": SLOW, "SEGREGATOR_MOVE_BATCH": "25", **(extra or {})})
        self.env.pop("SEGREGATOR_JOURNAL_DIR", None)
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
             "127.0.0.1", "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"], cwd=REPO, env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=2).read() == b"ok":
                    return self
            except OSError:
                time.sleep(0.3)
        raise AssertionError("streamlit did not start")

    def kill(self) -> None:
        """kill -9 the server and every process it started (its analysis workers)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def jobs(self) -> list[dict]:
        env = {**self.env, "SEGREGATOR_FAILPOINTS": ""}
        out = subprocess.run([sys.executable, "-m", "segregator", "jobs", "--json", "--limit", "100"], cwd=REPO,
                             env=env, capture_output=True, text=True, check=True).stdout
        return json.loads(out)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("state")).start()
    yield s
    s.stop()


def open_home(browser, server: Server, folder: Path, context=None):
    """A session on the home page for this folder (as a reload would find it: in the URL), with the fast
    colour-and-edge classifier."""
    from playwright.sync_api import expect

    page = (context or browser.new_context()).new_page()
    page.goto(f"{server.url}/?storage=local&folder={urllib.parse.quote(str(folder))}")
    settle(page)
    expect(page.get_by_text("Press **Analyse**").or_(page.get_by_text("Press Analyse")).first).to_be_visible(timeout=60_000)
    classifier = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Classifier")
    classifier.click()
    page.get_by_role("option", name="🎨 Colour and edge features").click()
    settle(page)
    return page


def progress(page, words: str):
    from playwright.sync_api import expect

    bar = page.get_by_test_id("stProgress").filter(has_text=re.compile(words))
    expect(bar.first).to_be_visible(timeout=60_000)
    return bar


def interfere(page, server: Server) -> None:
    """What a user does while a job runs: a sidebar widget, another page and back, a reload."""
    from playwright.sync_api import expect

    page.get_by_test_id("stSidebar").get_by_role("button", name="Reset thresholds").click()
    settle(page)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Scanner").click()
    settle(page)
    expect(page.get_by_role("button", name="⚡ Quick Scan")).to_be_visible(timeout=30_000)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Sort into categories").click()  # back to the home page
    settle(page)
    expect(page.get_by_role("button", name="Analyse")).to_be_visible(timeout=30_000)
    page.reload()
    settle(page)
    expect(page.get_by_role("button", name="Analyse")).to_be_visible(timeout=30_000)


def test_analysis_and_moves_go_on_through_clicks_page_switches_and_reloads(server, browser, template,
                                                                          tmp_path_factory):
    from playwright.sync_api import expect

    folder, originals = fresh_folder(template, tmp_path_factory, "survive")
    page = open_home(browser, server, folder)
    page.get_by_role("button", name="Analyse").click()
    progress(page, r"Job \d+: (listing|analysing)")
    interfere(page, server)
    confirm = page.get_by_role("button", name=re.compile(r"Confirm: Move 1,500 file\(s\)"))
    expect(confirm).to_be_visible(timeout=120_000)
    analyses = [j for j in server.jobs() if j["kind"] == "classify" and j["source"] == str(folder)]
    assert len(analyses) == 1 and analyses[0]["state"] == "done"
    shot(page, "7_jobs_plan_after_reload")
    assert sum(1 for _ in folder.rglob("*.jpg")) == COUNT and (folder / "listing_00" / "p0000.jpg").exists()

    confirm.click()
    progress(page, r"Job \d+: moving")
    interfere(page, server)
    expect(page.get_by_text(re.compile(r"Moved 1,500, unchanged 0, failed 0"))).to_be_visible(timeout=120_000)
    moves = [j for j in server.jobs() if j["kind"] == "apply" and j["state"] == "done"]
    assert len(moves) == 1
    every_file_once(folder, originals)
    assert not any(p.parent.name.startswith("listing_") for p in folder.rglob("*.jpg"))  # every file moved, once
    shot(page, "8_jobs_moved_after_reload")
    page.context.close()


def test_the_jobs_page_pauses_and_cancels_a_running_analysis(server, browser, template, tmp_path_factory):
    """On the Jobs page: the job's state and progress under the picker follow it (no ETA while paused), and
    once it is cancelled its buttons go within a few seconds, without a click (they used to stay)."""
    from playwright.sync_api import expect

    folder, _ = fresh_folder(template, tmp_path_factory, "jobspage")
    page = open_home(browser, server, folder)
    page.get_by_role("button", name="Analyse").click()
    progress(page, r"Job \d+: analysing \d")
    page.get_by_test_id("stSidebar").get_by_role("link", name="Jobs").click()
    settle(page)
    state = page.get_by_text(re.compile(r"^Job \d+ is running: analysing"))
    expect(state).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="⏸ Pause").click()
    paused = page.get_by_text(re.compile(r"^Job \d+ is paused: analysing [\d,]+/1,500"))
    expect(paused).to_be_visible(timeout=30_000)
    expect(paused).not_to_contain_text("ETA")
    page.get_by_role("button", name="✖ Cancel").click()
    expect(page.get_by_text("No job is running, paused or interrupted.")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="✖ Cancel")).to_have_count(0)
    shot(page, "9a_jobs_page_cancelled")
    page.context.close()


def test_a_second_tab_sees_the_first_tabs_job(server, browser, template, tmp_path_factory):
    from playwright.sync_api import expect

    folder, _ = fresh_folder(template, tmp_path_factory, "tabs")
    context = browser.new_context()
    first = open_home(browser, server, folder, context)
    first.get_by_role("button", name="Analyse").click()
    progress(first, r"Job \d+: (listing|analysing)")
    second = context.new_page()
    second.goto(first.url)
    settle(second)
    progress(second, r"Job \d+: (listing|analysing)")  # the first tab's job, not "Press Analyse"
    second.get_by_role("button", name="Analyse").click()
    settle(second)
    expect(second.get_by_text(re.compile(r"Job \d+ is already doing this"))).to_be_visible(timeout=30_000)
    shot(second, "9_jobs_second_tab")
    expect(first.get_by_role("button", name=re.compile(r"Confirm: Move"))).to_be_visible(timeout=120_000)
    assert len([j for j in server.jobs() if j["kind"] == "classify" and j["source"] == str(folder)]) == 1
    context.close()


def resume_moves_all(page, folder: Path, originals, done: str) -> None:
    """Press Resume: every file ends moved, each once, and the page says so."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="⏯ Resume it").click()
    expect(page.get_by_text(re.compile(done))).to_be_visible(timeout=120_000)
    every_file_once(folder, originals)
    assert not any(p.parent.name.startswith("listing_") for p in folder.rglob("*.jpg"))
    page.context.close()


def test_a_cancelled_move_is_consistent_and_resumable(server, browser, template, tmp_path_factory):
    from playwright.sync_api import expect

    folder, originals = fresh_folder(template, tmp_path_factory, "cancel")
    page = open_home(browser, server, folder)
    page.get_by_role("button", name="Analyse").click()
    page.get_by_role("button", name=re.compile(r"Confirm: Move 1,500")).click(timeout=120_000)
    progress(page, r"Job \d+: moving \d")
    page.get_by_role("button", name="✖ Cancel").click()
    expect(page.get_by_text(re.compile(r"Job \d+ \(moving the files\) was cancelled"))).to_be_visible(timeout=60_000)
    every_file_once(folder, originals)  # consistent: each file once, moved or not
    moved = sum(1 for p in folder.rglob("*.jpg") if not p.parent.name.startswith("listing_"))
    assert 0 < moved < COUNT
    page.get_by_test_id("stSidebar").get_by_role("link", name="Gallery").click()
    settle(page)
    expect(page.get_by_text(re.compile(r"Run \d+ stopped before it finished"))).to_be_visible(timeout=30_000)
    shot(page, "10_jobs_cancelled_run")
    resume_moves_all(page, folder, originals, r"Finished run \d+: moved 1,500")


def test_a_server_killed_mid_move_comes_back_interrupted_and_resume_finishes(browser, template, tmp_path_factory):
    from playwright.sync_api import expect

    folder, originals = fresh_folder(template, tmp_path_factory, "killed")
    server = Server(tmp_path_factory.mktemp("killed-state")).start()
    try:
        page = open_home(browser, server, folder)
        page.get_by_role("button", name="Analyse").click()
        page.get_by_role("button", name=re.compile(r"Confirm: Move 1,500")).click(timeout=120_000)
        progress(page, r"Job \d+: moving \d")
        time.sleep(1.5)
        server.kill()  # kill -9 mid-run
        page.context.close()
        # nothing lost, nothing but the originals' bytes; a batch killed between its copies (links) and the
        # deletes of their sources holds both for now: the resume below deletes those sources, once each
        now = {hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.jpg") if "_trash" not in p.parts}
        assert now == set(originals)
        server.start()
        page = open_home(browser, server, folder)
        expect(live(page, re.compile(r"Job \d+ \(moving the files\) was interrupted"))).to_be_visible(timeout=60_000)
        assert any(j["state"] == "interrupted" for j in server.jobs())
        shot(page, "11_jobs_interrupted")
        resume_moves_all(page, folder, originals, r"Moved 1,500, unchanged 0, failed 0")
    finally:
        server.stop()

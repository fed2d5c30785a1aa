"""End to end in a real browser: Debian's chromium driven by Playwright against `streamlit run app.py`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import DATA, PHOTOS, REPO, text_placeholder

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make test installs it)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "listing_photos"
    root.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg", "beach.jpg"):
        shutil.copy2(PHOTOS / name, root / name)
    shutil.copy2(DATA / "placeholders" / "avatar-default.png", root / "agent.png")
    text_placeholder("No Image Available").save(root / "missing.png")
    return root


@pytest.fixture(scope="module")
def server(folder, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("log") / "session_log.json"
    env = {**os.environ, "SEGREGATOR_SOURCE": str(folder), "SEGREGATOR_LOG": str(log), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start")
    yield url, log
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def settle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"][data-test-connection-state="CONNECTED"]',
                           timeout=120_000)


def test_classify_preview_confirm_moves_files_on_disk(server, browser, folder):
    from playwright.sync_api import expect

    url, log = server
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(url)
    settle(page)
    page.get_by_role("button", name="Analyse").click()
    settle(page)
    expect(page.get_by_text("→ no_image/ (2)")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stImage").first).to_be_visible()
    assert (folder / "agent.png").exists()  # preview only so far
    page.get_by_role("button", name="Confirm: Move 5 file(s)").click()
    settle(page)
    expect(page.get_by_text("Moved 5, unchanged 0, failed 0.")).to_be_visible(timeout=60_000)
    assert sorted(p.name for p in (folder / "no_image").iterdir()) == ["agent.png", "missing.png"]
    assert not (folder / "chelsea.jpg").exists()
    assert len([p for p in folder.rglob("*.jpg")]) == 3
    with page.expect_download() as download:
        page.get_by_role("button", name="Download session log").click()
    events = json.loads(Path(download.value.path()).read_text())
    assert events[-1]["event_type"] == "local_full_folder" and events[-1]["results"]["moved_count"] == 5
    page.screenshot(path=str(Path(os.environ.get("SEGREGATOR_SCREENSHOTS", "/tmp")) / "classify_done.png"), full_page=True)
    context.close()

"""Sign-in end to end in a real browser: a real OpenID Connect provider (PyPI oidc-provider-mock) on 127.0.0.1,
the app started by `python -m segregator serve` with [auth] and [roles] in its secrets file, Debian's chromium
driven by Playwright. An editor moves; a viewer previews and gets no destructive control; an unlisted address
gets no access; sign-out; the user is in the session log."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, REPO
from tests.test_browser import free_port, listing_photos, settle, shot

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make test installs it)")

USERS = {"ana": ("ana@example.com", "Ana Editor"), "vic": ("vic@example.org", "Vic Viewer"),
         "eve": ("eve@elsewhere.net", "Eve Unlisted")}


def _wait(url: str, proc: subprocess.Popen, what: str, expect: bytes | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with code {proc.returncode}")
        try:
            body = urllib.request.urlopen(url, timeout=2).read()
            if expect is None or body == expect:
                return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"{what} did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def provider():
    """The OpenID Connect provider, with its three users (subject, e-mail, name)."""
    port = free_port()
    claims = [a for sub, (email, name) in USERS.items()
              for a in ("--user-claims", json.dumps({"sub": sub, "email": email, "name": name}))]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "oidc-provider-mock"), "--host", "127.0.0.1",
                             "--port", str(port), *claims], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/.well-known/openid-configuration", proc, "the OpenID provider")
    yield url
    _stop(proc)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return listing_photos(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module")
def app(provider, folder, tmp_path_factory):
    """The app as a deployer starts it: `python -m segregator serve` with a secrets file holding [auth] and
    [roles] (editors by address, viewers by domain)."""
    port = free_port()
    state = tmp_path_factory.mktemp("auth-state")
    cookie = secrets.token_hex(32)
    secrets_file = state / "secrets.toml"
    secrets_file.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{cookie}"
client_id = "segregator"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider}/.well-known/openid-configuration"

[roles]
editors = ["ana@example.com"]
viewers = ["@example.org"]
""")
    log = state / "session_log.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("R2_", "SEGREGATOR_"))}
    env.update({"SEGREGATOR_SOURCE": str(folder), "SEGREGATOR_LOG": str(log), "PYTHONPATH": str(REPO),
                "SEGREGATOR_CACHE_DIR": str(state / "cache"), "SEGREGATOR_JOURNAL_DIR": str(state / "journals"),
                "SEGREGATOR_LOCK_DIR": str(state / "locks")})
    proc = subprocess.Popen([sys.executable, "-m", "segregator", "serve", "--address", "127.0.0.1", "--port", str(port),
                             "--", "--secrets.files", str(secrets_file), "--server.fileWatcherType", "none"],
                            cwd=state, env=env, stdout=open(state / "server.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/_stcore/health", proc, "the app", b"ok")
    yield url, log, cookie
    _stop(proc)


def _loopback_only(context) -> None:
    """The provider's pages link a stylesheet on a CDN: every request off this machine is dropped."""
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("http://127.0.0.1", "ws://127.0.0.1")) else route.abort())


def sign_in(browser, url: str, who: str):
    from playwright.sync_api import expect

    context = browser.new_context(accept_downloads=True)
    _loopback_only(context)
    page = context.new_page()
    page.goto(url)
    settle(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Analyse")).to_have_count(0)  # nothing of the app before sign-in
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=30_000)
    page.get_by_role("button", name=who, exact=True).click()  # the provider's "authenticate predefined user"
    page.wait_for_url(url + "/**", timeout=30_000)
    settle(page)
    return context, page


def test_viewer_previews_without_destructive_controls_then_signs_out(app, browser, folder):
    from playwright.sync_api import expect

    url, log, cookie = app
    context, page = sign_in(browser, url, "vic")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("vic@example.org · viewer")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Analyse").click()
    settle(page)
    expect(page.get_by_text(re.compile(r"You are signed in as a viewer: moving these"))).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("stImage").first).to_be_visible()
    expect(page.get_by_role("button", name="Download plan (JSON Lines)")).to_be_visible()  # the plan is theirs
    expect(page.get_by_role("button", name=re.compile(r"^Confirm"))).to_have_count(0)
    shot(page, "20_viewer_plan_no_confirm")
    assert (folder / "chelsea.jpg").exists() and (folder / "agent.png").exists()
    sidebar.get_by_role("link", name="Gallery").click()
    settle(page)
    expect(page.get_by_text("deleting needs an editor")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stImage").first).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"Delete selected|Empty trash|Undo run"))).to_have_count(0)
    shot(page, "21_viewer_gallery")
    assert cookie not in page.content()
    sidebar.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/end_session**", timeout=30_000)  # the provider ends its session, then sends us back
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(url + "/**", timeout=30_000)
    page.goto(url)
    settle(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Analyse")).to_have_count(0)
    shot(page, "22_signed_out")
    context.close()


def test_an_unlisted_address_has_no_access(app, browser):
    from playwright.sync_api import expect

    url, _log, _cookie = app
    context, page = sign_in(browser, url, "eve")
    expect(page.get_by_text("eve@elsewhere.net has no access to this app")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Analyse")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    shot(page, "23_no_access")
    context.close()


def test_editor_confirms_the_move_and_is_in_the_log(app, browser, folder):
    from playwright.sync_api import expect

    url, log, _cookie = app
    context, page = sign_in(browser, url, "ana")
    expect(page.get_by_test_id("stSidebar").get_by_text("ana@example.com · editor")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Analyse").click()
    settle(page)
    confirm = page.get_by_role("button", name="Confirm: Move 5 file(s)")
    expect(confirm).to_be_visible(timeout=90_000)
    page.wait_for_timeout(1500)  # the finished analysis's panel draws the page once more (within a second)
    settle(page)
    confirm.click()
    settle(page)
    expect(page.get_by_text("Moved 5, unchanged 0, failed 0.")).to_be_visible(timeout=60_000)
    assert not (folder / "chelsea.jpg").exists()
    assert sorted(p.name for p in (folder / "no_image").iterdir()) == ["agent.png", "missing.png"]
    shot(page, "24_editor_moved")
    events = json.loads(log.read_text())
    assert events[-1]["event_type"] == "local_full_folder" and events[-1]["user"] == "ana@example.com"
    from segregator.jobs.runner import JobStore

    store = JobStore(log.parent / "journals" / "jobs.sqlite")
    users = {j.kind: j.user for j in store.list(limit=10)}
    store.close()
    assert users["apply"] == "ana@example.com" and users["classify"] in ("ana@example.com", "vic@example.org")
    context.close()

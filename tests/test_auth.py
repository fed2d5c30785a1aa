"""Sign-in, roles and the refusal to serve beyond this machine without them (segregator.auth), through the
engine, the command line and each page's AppTest; the browser flow against a real OpenID Connect provider is in
test_browser_auth.py."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from segregator import auth, jobs
from segregator.jobs.runner import JobRunner, JobStore, run_job
from segregator.plan import write_plan
from segregator.storage import LocalStorage, WriteDenied
from tests.conftest import PHOTOS, REPO, SECRETS
from tests.test_app import TIMEOUT, button, job_click

EDITOR, VIEWER, STRANGER = "ana@example.com", "vic@example.org", "eve@elsewhere.net"
AUTH = {"redirect_uri": "http://127.0.0.1:9/oauth2callback", "cookie_secret": "x" * 32, "client_id": "segregator",
        "client_secret": "not-used", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


@pytest.fixture
def roles(monkeypatch, tmp_path):
    """Editors and viewers as a deployer sets them in the environment (the engine and the pages read them);
    the test's folders are the local folders served."""
    monkeypatch.setenv("SEGREGATOR_LOCAL_ROOTS", str(tmp_path))
    monkeypatch.setenv("SEGREGATOR_EDITORS", EDITOR)
    monkeypatch.setenv("SEGREGATOR_VIEWERS", "@example.org")
    monkeypatch.delenv("SEGREGATOR_ALLOW_ANONYMOUS", raising=False)
    monkeypatch.delenv("SEGREGATOR_ANONYMOUS_ROLE", raising=False)


def test_roles_come_from_configuration_and_an_unlisted_address_has_no_access(monkeypatch):
    for name in ("SEGREGATOR_EDITORS", "SEGREGATOR_VIEWERS", "SEGREGATOR_ANONYMOUS_ROLE"):
        monkeypatch.delenv(name, raising=False)
    policy = auth.Policy.load({"auth": AUTH, "roles": {"editors": ["Ana@Example.com"], "viewers": ["@example.org"]}})
    assert policy.sign_in
    assert policy.role_of("ana@example.com") == "editor"     # case does not matter
    assert policy.role_of("vic@example.org") == "viewer"     # by domain
    assert policy.role_of("vic@sub.example.org") is None     # a domain entry is that domain only
    assert policy.role_of("eve@elsewhere.net") is None       # unlisted: no access at all
    assert policy.role_of("anonymous") is None               # sign-in on: nobody is let in without it
    assert policy.role_of("local:someone") == "editor"       # the command line of this machine
    monkeypatch.setenv("SEGREGATOR_VIEWERS", "*")            # the environment wins over the file
    assert auth.Policy.load({"auth": AUTH, "roles": {"viewers": []}}).role_of("eve@elsewhere.net") == "viewer"
    without = auth.Policy.load({})
    assert not without.sign_in and without.role_of("anonymous") == "editor"
    monkeypatch.setenv("SEGREGATOR_ANONYMOUS_ROLE", "viewer")
    assert auth.Policy.load({}).role_of("anonymous") == "viewer"
    monkeypatch.setenv("SEGREGATOR_ANONYMOUS_ROLE", "admin")
    with pytest.raises(ValueError):
        auth.Policy.load({})


def test_the_engine_refuses_a_viewers_move_even_when_forged_past_the_page(roles, mixed_folder, tmp_path, isolated_log):
    """A viewer's move is refused at submit; a job row put in the store by any other way is refused when it
    would run; nothing moves. An editor's job runs, and the user is in the job and in the log event."""
    storage = LocalStorage(mixed_folder)
    plan_path = tmp_path / "trash.jsonl"
    write_plan(jobs.trash_plan(storage, ["chelsea.jpg"], ""), plan_path)
    params = {"plan": str(plan_path), "copy": False, "check": False, "trash": True}
    store = JobStore(tmp_path / "jobs.sqlite")
    runner = JobRunner(store, move_threads=1)
    try:
        runner.stop()  # no thread takes jobs: each is run below, in this thread
        with pytest.raises(auth.NotAllowed, match="viewer"):
            runner.submit("apply", "delete 1 file(s) to the trash", str(mixed_folder), params, user=VIEWER)
        with pytest.raises(auth.NotAllowed, match="no access"):
            runner.submit("apply", "x", str(mixed_folder), params, user=STRANGER)
        runner.submit("placeholders", "analysis", str(mixed_folder), {}, user=VIEWER)  # analysis: allowed
        forged = store.add("apply", "delete 1 file(s) to the trash", str(mixed_folder), params, user=VIEWER)
        job = run_job(store, forged)
        assert job.status == "failed" and job.error.startswith("Refused:") and VIEWER in job.error
        assert (mixed_folder / "chelsea.jpg").exists() and not isolated_log.exists()
        with pytest.raises(auth.NotAllowed):
            runner.resume(forged, user=VIEWER)  # nor resumed by a viewer
        allowed = store.add("apply", "delete 1 file(s) to the trash", str(mixed_folder), params, user=EDITOR)
        job = run_job(store, allowed)
        assert job.status == "done", job.error
        assert job.user == EDITOR and not (mixed_folder / "chelsea.jpg").exists()
        event = json.loads(isolated_log.read_text())[-1]
        assert event["user"] == EDITOR and event["results"]["moved_count"] == 1
    finally:
        runner.stop()
        store.close()


def test_a_job_store_from_before_users_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "jobs.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, label TEXT NOT NULL, "
                "source TEXT NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL, phase TEXT, done INTEGER NOT NULL "
                "DEFAULT 0, total INTEGER NOT NULL DEFAULT 0, rate REAL, eta REAL, owner TEXT NOT NULL, request TEXT, "
                "run_id INTEGER, result TEXT, error TEXT, created REAL NOT NULL, started REAL, updated REAL, "
                "finished REAL)")
    old.execute("INSERT INTO jobs (kind, label, source, params, state, owner, created) "
                "VALUES ('classify', 'old', '/x', '{}', 'done', '[]', 1)")
    old.commit()
    old.close()
    store = JobStore(path)
    assert store.get(1).user is None and store.get(1).label == "old"
    assert store.get(store.add("classify", "new", "/x", {}, user=EDITOR)).user == EDITOR
    store.close()


def test_serve_refuses_an_outside_address_without_sign_in_before_listening(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGREGATOR_")}
    env["PYTHONPATH"] = str(REPO)
    empty = tmp_path / "secrets.toml"
    empty.write_text("")
    for address in ("0.0.0.0", "192.0.2.10", ""):
        done = subprocess.run([sys.executable, "-m", "segregator", "serve", "--address", address, "--port", "9",
                               "--", "--secrets.files", str(empty)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "Refusing to serve on" in done.stderr and "SEGREGATOR_ALLOW_ANONYMOUS=1" in done.stderr
    # with sign-in configured the same address is accepted (checked up to the point of starting Streamlit)
    assert auth.exposure_refusal("0.0.0.0", auth.Policy.load({"auth": AUTH})) is None
    assert auth.exposure_refusal("127.0.0.1", auth.Policy.load({})) is None
    assert auth.exposure_refusal("::1", auth.Policy.load({})) is None
    assert not auth.host_is_local("images.example.com") and auth.host_is_local("127.0.0.1:8501")
    assert auth.host_is_local("[::1]:8501") and auth.host_is_local("localhost:8501")


# ------------------------------------------------------------------ the pages (AppTest)

PAGES = ["app.py", "pages/1_By_Reference.py", "pages/2_Placeholders.py", "pages/3_Scanner.py", "pages/4_Gallery.py",
         "pages/5_Duplicates.py", "pages/6_Jobs.py", "pages/7_Search.py"]


@pytest.fixture
def listening_everywhere():
    """The server's address as `streamlit run --server.address 0.0.0.0` sets it (nothing is bound here)."""
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


def _at(path: str, folder) -> AppTest:
    at = AppTest.from_file(str(REPO / path), default_timeout=TIMEOUT)
    at.session_state["source_folder"] = str(folder)
    return at


def test_every_page_refuses_to_serve_an_outside_address_without_sign_in(listening_everywhere, mixed_folder,
                                                                        monkeypatch):
    monkeypatch.delenv("SEGREGATOR_ALLOW_ANONYMOUS", raising=False)
    for path in PAGES:
        at = _at(path, mixed_folder).run()
        assert not at.exception, (path, at.exception)
        assert any("Refusing to serve on 0.0.0.0" in e.value for e in at.error), path
        assert not at.button and not at.sidebar.button, path  # nothing but the message
    monkeypatch.setenv("SEGREGATOR_ALLOW_ANONYMOUS", "1")
    for path in PAGES:
        at = _at(path, mixed_folder).run()
        assert not at.exception, (path, at.exception)
        assert any("No sign-in: anyone who reaches this address" in w.value for w in at.warning), path
    assert any(b.label == "Analyse" for b in _at("app.py", mixed_folder).run().button)


def test_sign_in_screen_then_viewer_sees_the_plan_but_no_confirm(roles, mixed_folder):
    at = _at("app.py", mixed_folder)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"] and not at.sidebar.button
    at.user = {"is_logged_in": True, "email": STRANGER}
    at.run()
    assert any(f"{STRANGER} has no access" in e.value for e in at.error)
    assert [b.label for b in at.button] == ["Sign out"]
    at.user = {"is_logged_in": True, "email": VIEWER}
    at.run()
    assert any(VIEWER in c.value and "viewer" in c.value for c in at.sidebar.caption)
    job_click(at, "Analyse")  # a viewer analyses and previews
    assert not at.exception
    assert at.json and not [b for b in at.button if b.label.startswith("Confirm")]
    assert any("signed in as a viewer" in i.value for i in at.info)
    assert (mixed_folder / "chelsea.jpg").exists()
    assert not [b for b in at.sidebar.button if b.label.startswith("Restore demo")]


def test_an_editor_confirms_and_is_recorded(roles, mixed_folder, isolated_log):
    at = _at("app.py", mixed_folder)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": EDITOR}
    at.run()
    job_click(at, "Analyse")
    job_click(at, "Confirm: Move")
    assert not at.exception
    assert any(s.value.startswith("Moved") for s in at.success)
    assert not (mixed_folder / "chelsea.jpg").exists()
    assert json.loads(isolated_log.read_text())[-1]["user"] == EDITOR
    assert JobStore().list(limit=1)[0].user == EDITOR


def test_with_sign_in_local_folders_are_only_those_configured(roles, mixed_folder, tmp_path, monkeypatch):
    """A deployed app does not let its users open any folder of the server's disk."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv("SEGREGATOR_SOURCE", str(mixed_folder))
    monkeypatch.delenv("SEGREGATOR_LOCAL_ROOTS")  # with sign-in, the default: the folder the app starts on
    at = _at("app.py", other)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": EDITOR}
    at.run()
    assert any("serves local folders only under" in e.value for e in at.sidebar.error)
    assert not [b for b in at.button if b.label == "Analyse"]
    monkeypatch.setenv("SEGREGATOR_LOCAL_ROOTS", str(tmp_path))
    at.run()
    assert not at.sidebar.error and [b for b in at.button if b.label == "Analyse"]


def test_a_viewer_gets_no_delete_undo_or_trash_controls(roles, mixed_folder, tmp_path):
    gallery = _at("pages/4_Gallery.py", mixed_folder)
    gallery.secrets["auth"] = AUTH
    gallery.user = {"is_logged_in": True, "email": VIEWER}
    gallery.run()
    assert not gallery.exception
    labels = [b.label for b in gallery.button]
    assert not [label for label in labels if "Delete" in label or "Undo" in label or "Empty trash" in label]
    assert any("deleting needs an editor" in c.value for c in gallery.caption)
    jobs_page = AppTest.from_file(str(REPO / "pages/6_Jobs.py"), default_timeout=TIMEOUT)
    jobs_page.secrets["auth"] = AUTH
    jobs_page.user = {"is_logged_in": False}
    jobs_page.run()
    assert [b.label for b in jobs_page.button] == ["Sign in"] and not jobs_page.dataframe


# ------------------------------------------------------------------ a read-only key (SeaweedFS identities)

@pytest.fixture(scope="module")
def read_only_server(tmp_path_factory):
    """A second `weed mini` whose identities are an admin key and a read-only token (Read + List)."""
    from segregator.s3server import LocalS3Server

    reader = ("segregator-reader", secrets.token_hex(16))
    server = LocalS3Server(tmp_path_factory.mktemp("s3-ro"), "segregator-admin", secrets.token_hex(16),
                           read_only_keys=dict([reader])).start()
    SECRETS.update({server.secret_key, reader[1]})
    yield server, reader
    server.kill()


@pytest.fixture
def read_only_bucket(read_only_server, monkeypatch):
    from segregator.r2 import R2Config, R2Storage

    server, (key, secret) = read_only_server
    name = f"ro-{time.time_ns()}"
    admin = R2Storage(R2Config(server.endpoint, server.access_key, server.secret_key), name)
    admin.client.create_bucket(Bucket=name)
    for p in sorted(PHOTOS.glob("*.jpg"))[:4]:
        admin.write(f"listing/{p.name}", p.read_bytes())
    monkeypatch.setenv("R2_ENDPOINT", server.endpoint)
    monkeypatch.setenv("R2_ACCESS_KEY", key)
    monkeypatch.setenv("R2_SECRET_KEY", secret)
    return admin, R2Storage(R2Config(server.endpoint, key, secret), name)


def _bucket_state(admin) -> dict:
    return {o.key: o.version for o in admin.list("")}


def test_a_read_only_key_is_told_before_any_copy(read_only_bucket, tmp_path, isolated_log):
    from segregator.runs import run_plan

    admin, reader = read_only_bucket
    before = _bucket_state(admin)
    assert admin.write_problem() is None
    problem = reader.write_problem()
    assert "cannot write" in problem and "Object Read & Write" in problem
    plan = jobs.trash_plan(reader, ["listing/" + sorted(PHOTOS.glob("*.jpg"))[0].name], "listing/")
    with pytest.raises(WriteDenied, match="cannot write"):
        run_plan(plan, reader)
    assert _bucket_state(admin) == before  # no copy, no lock object, no probe left behind
    assert not isolated_log.exists()
    # the command line says the same before it asks to confirm, and exits without touching the bucket
    plan_path = tmp_path / "plan.jsonl"
    write_plan(plan, plan_path)
    done = subprocess.run([sys.executable, "-m", "segregator", "apply", str(plan_path), "--source",
                           f"r2://{reader.bucket}/", "--quiet"],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "cannot write to it" in done.stderr, done.stderr
    assert _bucket_state(admin) == before


def test_a_read_only_key_analyses_and_confirm_explains(read_only_bucket, monkeypatch):
    admin, reader = read_only_bucket
    before = _bucket_state(admin)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.session_state["storage_mode"] = "r2"
    at.session_state["bucket"] = reader.bucket
    at.session_state["source_prefix"] = "listing/"
    at.run()
    job_click(at, "Analyse")  # reading works
    assert not at.exception
    assert at.json
    assert not [b for b in at.button if b.label.startswith("Confirm")]
    assert any("Moving is not possible here" in e.value and "cannot write" in e.value for e in at.error)
    assert _bucket_state(admin) == before


# ------------------------------------------------------------------ attempts to get round the roles

def test_a_web_user_cannot_send_analyses_to_a_scheduler_of_their_choosing(roles, mixed_folder, tmp_path, monkeypatch):
    """The app takes in what a Dask scheduler's workers send back: a scheduler named in the page or a link
    could run code on the server. Only the operator's (SEGREGATOR_DASK_SCHEDULER) is used, at submit and at
    run time; the command line names any."""
    monkeypatch.delenv("SEGREGATOR_DASK_SCHEDULER", raising=False)
    store = JobStore(tmp_path / "jobs.sqlite")
    runner = JobRunner(store, move_threads=1)
    try:
        runner.stop()
        evil = {"cluster": "tcp://127.0.0.1:18786"}
        for who in (VIEWER, EDITOR, auth.ANONYMOUS):
            with pytest.raises(auth.NotAllowed, match="only on the Dask scheduler it was started with"):
                runner.submit("classify", "x", str(mixed_folder), evil, user=who)
        with pytest.raises(auth.NotAllowed, match="at most"):
            runner.submit("classify", "x", str(mixed_folder), {"cluster": "local:999"}, user=EDITOR)
        forged = store.add("classify", "x", str(mixed_folder), {"source": str(mixed_folder), **evil}, user=EDITOR)
        job = run_job(store, forged)
        assert job.status == "failed" and "Refused" in job.error and "scheduler" in job.error
        monkeypatch.setenv("SEGREGATOR_DASK_SCHEDULER", "tcp://127.0.0.1:18786")  # the operator's own: taken
        assert auth.cluster_refusal("tcp://127.0.0.1:18786") is None
        assert auth.check_job("classify", "local:someone", str(mixed_folder), {"cluster": "tcp://10.9.9.9:8786"})
    finally:
        runner.stop()
        store.close()
    # a link naming a scheduler is not followed: the page keeps no address from the URL
    monkeypatch.delenv("SEGREGATOR_DASK_SCHEDULER")
    at = _at("app.py", mixed_folder)
    at.query_params.update({"compute": "cluster", "scheduler": "tcp://127.0.0.1:18786"})
    at.run()
    assert not at.exception
    assert "compute_address" not in at.session_state and "scheduler" not in at.query_params
    assert any("SEGREGATOR_DASK_SCHEDULER" in e.value for e in at.sidebar.error)


def test_proxy_headers_never_make_a_request_local():
    local = auth.host_is_local
    assert local(auth.request_host({"Host": "127.0.0.1:8501"}))
    assert not local(auth.request_host({"Host": "images.example.com", "X-Forwarded-For": "203.0.113.9",
                                        "X-Forwarded-Host": "localhost"}))
    assert not local(auth.request_host({"Host": "localhost", "X-Forwarded-Host": "localhost"}))
    assert not local(auth.request_host({"Host": "localhost:8501", "X-Real-IP": "203.0.113.9"}))


def test_an_unverified_or_odd_address_gets_no_access(roles, mixed_folder):
    at = _at("app.py", mixed_folder)
    at.secrets["auth"] = AUTH
    for claims in ({"email": EDITOR, "email_verified": False}, {"email": "local:mallory"},
                   {"email": " local:x@evil.net"}, {"email": "anonymous"}):
        at.user = {"is_logged_in": True, **claims}
        at.run()
        assert not at.exception
        assert any("has no access" in e.value for e in at.error), claims
        assert not [b for b in at.button if b.label == "Analyse"], claims
    at.user = {"is_logged_in": True, "email": EDITOR, "email_verified": True}
    at.run()
    assert [b for b in at.button if b.label == "Analyse"]


def test_a_viewer_cannot_pause_or_cancel_an_editors_move_nor_teach(roles, mixed_folder, tmp_path):
    store = JobStore()
    moving = store.add("apply", "move the files", str(mixed_folder), {"plan": "x"}, state="running", user=EDITOR)
    store.update(moving, owner=json.dumps(["another-host", "", 1]), phase="moving", done=1, total=9)
    runner = jobs_runner()
    with pytest.raises(auth.NotAllowed, match="viewer"):
        runner.request(moving, "cancel", VIEWER)
    assert store.get(moving).request is None
    with pytest.raises(auth.NotAllowed, match="teaching a classifier"):
        runner.submit("teach", "teach", str(mixed_folder), {"source": str(mixed_folder)}, user=VIEWER)
    with pytest.raises(auth.NotAllowed, match="restoring the demo"):
        auth.authorize("restore_demo", VIEWER)
    jobs_page = AppTest.from_file(str(REPO / "pages/6_Jobs.py"), default_timeout=TIMEOUT)
    jobs_page.secrets["auth"] = AUTH
    jobs_page.user = {"is_logged_in": True, "email": VIEWER}
    jobs_page.run()
    assert not jobs_page.exception
    assert not [b for b in jobs_page.button if "Cancel" in b.label or "Pause" in b.label]
    at = _at("app.py", mixed_folder)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": VIEWER}
    at.run()
    assert not [b for b in at.button if b.label == "Teach"]
    assert any("teaching a classifier" in i.value for i in at.info)
    runner.request(moving, "cancel", EDITOR)  # an editor may
    assert store.get(moving).request == "cancel"


def jobs_runner():
    from segregator.ui.jobview import runner

    return runner()


def test_runs_outside_the_served_folders_are_neither_shown_nor_undone(roles, mixed_folder, tmp_path_factory,
                                                                      isolated_log):
    """A run the command line made on a folder outside SEGREGATOR_LOCAL_ROOTS: not listed to web users, and
    its undo refused by the engine (not only the page)."""
    from segregator.runs import run_plan, runs, undo

    outside = tmp_path_factory.mktemp("outside_roots")
    (outside / "a.jpg").write_bytes((PHOTOS / "chelsea.jpg").read_bytes())
    storage = LocalStorage(outside)
    run_plan(jobs.trash_plan(storage, ["a.jpg"], ""), storage)  # the command line (local:...)
    run_id = runs(storage.lock_area(), limit=1)[0].id
    with auth.acting(EDITOR), pytest.raises(auth.NotAllowed, match="serves local folders only under"):
        undo(run_id)
    assert not (outside / "a.jpg").exists()
    at = _at("pages/4_Gallery.py", mixed_folder)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": EDITOR}
    at.run()
    at.toggle(key="runs_everywhere").set_value(True).run()
    assert not at.exception
    assert not any(str(outside) in o for s in at.selectbox for o in (s.options or []))
    undo(run_id)  # the command line may
    assert (outside / "a.jpg").exists()


def test_a_job_without_a_user_does_not_run_and_a_broken_secrets_file_is_not_no_sign_in(mixed_folder, tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    job_id = store.add("empty_trash", "x", str(mixed_folder), {"source": str(mixed_folder)})
    store.update(job_id, user=None)  # a row written by another tool, or from before users were recorded
    job = run_job(store, job_id)
    assert job.status == "failed" and "no recorded user" in job.error
    store.close()
    broken = tmp_path / "secrets.toml"
    broken.write_text('[auth]\nclient_id = "x\n')  # an unterminated string
    with pytest.raises(auth.SecretsError, match="cannot read the secrets file"):
        auth.read_secrets([broken])
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SEGREGATOR_")}, "PYTHONPATH": str(REPO)}
    for extra in ([], ["--server.address", "0.0.0.0"]):
        done = subprocess.run([sys.executable, "-m", "segregator", "serve", "--address", "127.0.0.1", "--port", "9",
                               "--", "--secrets.files", str(broken if not extra else tmp_path / "none.toml"), *extra],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert ("cannot read the secrets file" if not extra else "not --server.address") in done.stderr, done.stderr

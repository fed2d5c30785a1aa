"""Nothing lost: runs killed with SIGKILL and resumed, undo, server crashes, a faulty network, locks, tampered
plans, hostile input, and no secret anywhere. Against real folders and the real S3 server."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segregator import jobs
from segregator.journal import read_journal
from segregator.locking import LockedError, RunLock
from segregator.plan import MovePlan, PlanItem, execute_plan
from segregator.storage import LocalStorage, numbered_name
from tests.conftest import PHOTOS, REPO, SECRETS, bad_inputs
from tests.test_cli import run

N_MOVES = 500
KILL_POINTS = 3


def _objects(storage, n: int) -> dict[str, str]:
    """n distinct objects under src/ (and a few different files already at some destinations)."""
    rng = random.Random(n)
    made = {}
    for i in range(n):
        data = rng.randbytes(rng.randint(200, 3000))
        key = f"src/{i // 100}/f{i:04d}.jpg"
        storage.write(key, data)
        made[key] = hashlib.md5(data).hexdigest()
    for i in range(0, n, 50):  # names already taken at the destination: these moves must pick name_1
        storage.write(f"dst/{i % 7}/f{i:04d}.jpg", b"someone else's file %d" % i)
    return made


def _plan(storage, keys) -> MovePlan:
    items = [PlanItem(k, f"dst/{int(k[-8:-4]) % 7}/{k.rsplit('/', 1)[1]}") for k in keys]
    return MovePlan("classify", jobs.storage_record(storage), "", "", items)


def _snapshot(storage) -> dict[str, str]:
    return {o.key: hashlib.md5(storage.read(o.key)).hexdigest() for o in storage.list() if not o.key.startswith(".")}


def _check_complete(storage, originals: dict[str, str], plan: MovePlan) -> None:
    """Every source object is at its planned place (or a numbered name beside it), exactly once; the sources
    are gone; the files that were there before are untouched."""
    now = _snapshot(storage)
    by_hash: dict[str, list[str]] = {}
    for key, digest in now.items():
        by_hash.setdefault(digest, []).append(key)
    for item in plan.items:
        places = by_hash.get(originals[item.source], [])
        assert len(places) == 1, f"{item.source}: found at {places}"
        assert places[0] in {item.destination} | {numbered_name(item.destination, n) for n in range(1, 4)}
    assert not any(k.startswith("src/") for k in now)
    extra = set(now) - {k for ks in by_hash.values() for k in ks if now[k] in set(originals.values())}
    assert len(extra) == len(range(0, len(originals), 50)), sorted(extra)


def _journal_lines(folder: Path) -> int:
    return sum(p.read_text(errors="replace").count("\n") for p in folder.glob("*.jsonl")) if folder.is_dir() else 0


def _run_and_kill(args: list[str], journals: Path, at_lines: int) -> bool:
    """Start the CLI; SIGKILL it once the journals hold `at_lines` lines. True when it was killed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "segregator", *args, "--quiet"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _journal_lines(journals) >= at_lines:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            return True
        time.sleep(0.002)
    proc.wait(60)
    return False


@pytest.fixture
def journals(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "journals"
    monkeypatch.setenv("SEGREGATOR_JOURNAL_DIR", str(folder))
    return folder


@pytest.fixture(params=["local", "r2"])
def storage(request, tmp_path):
    if request.param == "local":
        (tmp_path / "root").mkdir()
        return LocalStorage(tmp_path / "root")
    request.getfixturevalue("r2_env")
    return request.getfixturevalue("bucket")


def test_sigkill_at_random_points_then_resume_completes(storage, journals, tmp_path):
    originals = _objects(storage, N_MOVES)
    plan = _plan(storage, list(originals))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.to_json())
    total_lines = 1 + 3 * N_MOVES  # header + intent/copied/done per item, roughly
    rng = random.Random(7)
    points = sorted(rng.sample(range(20, total_lines - 50), KILL_POINTS))
    killed = [_run_and_kill(["apply", str(plan_file), "--yes"], journals, points[0])]
    for point in points[1:]:
        killed.append(_run_and_kill(["resume"], journals, point))
    assert killed[0], "the first run finished before it could be killed"
    state = read_journal(next(journals.glob("*.jsonl")))
    assert not state.finished_ok
    p = run("resume", "--quiet")
    assert p.returncode == 0, p.stderr
    _check_complete(storage, originals, plan)
    assert read_journal(next(journals.glob("*.jsonl"))).finished_ok
    assert not storage.exists(".segregator.lock")

    # Undo puts the original layout back, byte for byte.
    p = run("undo", "--yes", "--quiet")
    assert p.returncode == 0, p.stderr
    after = _snapshot(storage)
    assert {k: v for k, v in after.items() if k.startswith("src/")} == originals
    assert sorted(k for k in after if k.startswith("dst/")) == sorted(f"dst/{i % 7}/f{i:04d}.jpg" for i in range(0, N_MOVES, 50))
    assert run("undo", "--yes").returncode == 1  # nothing left to undo: a clear refusal


def test_undo_refuses_when_an_object_changed(tmp_path, journals):
    storage = LocalStorage(tmp_path)
    originals = _objects(storage, 20)
    plan = _plan(storage, list(originals))
    report, _ = jobs.run_plan(plan, storage)
    moved = report.results[1].destination  # where the run really put it
    (tmp_path / moved).write_bytes(b"edited since")
    with pytest.raises(ValueError, match="changed or gone since"):
        jobs.undo_plan()
    p = run("undo", "--yes")
    assert p.returncode == 1 and "changed or gone since" in p.stderr


def test_copy_runs_undo_to_the_trash(tmp_path, journals):
    storage = LocalStorage(tmp_path)
    originals = _objects(storage, 10)
    plan = _plan(storage, list(originals))
    jobs.run_plan(plan, storage, copy=True)
    jobs.undo()
    now = _snapshot(storage)
    assert {k: v for k, v in now.items() if k.startswith("src/")} == originals
    assert sum(1 for k in now if k.startswith("_trash/")) == 10


def test_server_crash_mid_run_then_resume(tmp_path, journals, monkeypatch):
    import secrets

    from segregator.r2 import R2Config, R2Storage
    from segregator.s3server import LocalS3Server

    server = LocalS3Server(tmp_path / "s3", "crash", secrets.token_hex(12)).start()
    SECRETS.add(server.secret_key)
    try:
        config = R2Config(server.endpoint, server.access_key, server.secret_key)
        for name, value in (("R2_ENDPOINT", config.endpoint), ("R2_ACCESS_KEY", config.access_key),
                            ("R2_SECRET_KEY", config.secret_key)):
            monkeypatch.setenv(name, value)
        config.client().create_bucket(Bucket="crash")
        storage = R2Storage(config, "crash")
        originals = _objects(storage, 300)
        plan = _plan(storage, list(originals))
        (tmp_path / "plan.json").write_text(plan.to_json())
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-m", "segregator", "apply", str(tmp_path / "plan.json"), "--yes", "--quiet"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while _journal_lines(journals) < 300 and proc.poll() is None:
            time.sleep(0.005)
        server.kill()  # the server dies mid-run (kill -9)
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0 and "unfinished" in err and "unreachable" in err
        server.start()  # back, same ports and data
        p = run("resume", "--quiet")
        assert p.returncode == 0, p.stderr
        _check_complete(storage, originals, plan)
    finally:
        server.stop()


def test_flaky_network_is_carried_by_retries(bucket, r2_config, journals, tmp_path, monkeypatch):
    from segregator.r2 import R2Config, R2Storage
    from tests.faulty_proxy import FaultyProxy

    with FaultyProxy(r2_config.endpoint) as proxy:
        via = R2Config(proxy.endpoint, r2_config.access_key, r2_config.secret_key)
        storage = R2Storage(via, bucket.bucket)
        originals = _objects(bucket, 80)
        plan = _plan(storage, list(originals))
        report, _ = jobs.run_plan(plan, storage)
        assert report.summary()["failed"] == 0, report.errors
        assert proxy.injected["503"] >= 5 and proxy.injected["500"] >= 5 and proxy.injected["reset"] >= 5
    _check_complete(bucket, originals, plan)


def test_second_run_on_the_same_storage_is_refused(tmp_path):
    storage = LocalStorage(tmp_path)
    with RunLock(storage, "run-a"):
        with pytest.raises(LockedError, match="another run"):
            RunLock(storage, "run-b").acquire()
        RunLock(storage, "run-a").acquire()  # a resume of the same run takes over
    RunLock(storage, "run-b").acquire()  # free again once released


def test_lock_is_refused_across_processes(bucket, r2_env, tmp_path):
    bucket.write("a.jpg", (PHOTOS / "china.jpg").read_bytes())
    storage, _ = jobs.open_source(f"r2://{bucket.bucket}/")
    plan = MovePlan("classify", jobs.storage_record(storage), "", "", [PlanItem("a.jpg", "b/a.jpg")])
    (tmp_path / "p.json").write_text(plan.to_json())
    with RunLock(storage, "someone-else", ttl=60):
        p = run("apply", tmp_path / "p.json", "--yes")
        assert p.returncode == 1 and "another run (someone-else" in p.stderr
    assert bucket.exists("a.jpg")
    assert run("apply", tmp_path / "p.json", "--yes", "--quiet").returncode == 0
    assert bucket.exists("b/a.jpg")


@pytest.mark.parametrize("tamper", [
    {"destination": "../../etc/x.jpg"}, {"destination": "/etc/passwd"}, {"source": "../outside.jpg"},
    {"destination": "elsewhere/x.jpg"},
])
def test_tampered_plan_changes_nothing(tmp_path, tamper):
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.jpg").write_bytes(b"a")
    (tmp_path / "outside.jpg").write_bytes(b"o")
    storage = LocalStorage(root)
    plan = MovePlan("classify", jobs.storage_record(storage), "in/", "in/sorted/", [PlanItem("in/a.jpg", "in/sorted/a.jpg")])
    data = json.loads(plan.to_json())
    data["items"][0].update(tamper)
    (tmp_path / "p.json").write_text(json.dumps(data))
    p = run("apply", tmp_path / "p.json", "--yes")
    assert p.returncode == 1 and "plan refused" in p.stderr
    assert (root / "in" / "a.jpg").read_bytes() == b"a" and (tmp_path / "outside.jpg").read_bytes() == b"o"


def test_symlink_out_of_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "x.jpg").write_bytes(b"x")
    os.symlink(tmp_path / "secret", root / "link")
    storage = LocalStorage(root)
    plan = MovePlan("classify", jobs.storage_record(storage), "", "", [PlanItem("link/x.jpg", "mine/x.jpg")])
    report = execute_plan(plan, storage)
    assert report.results[0].status == "failed" and "outside the folder" in report.results[0].error
    assert (tmp_path / "secret" / "x.jpg").exists() and not (root / "mine").exists()


ODD_KEYS = ["ünïcødé фото.jpg", "with space.jpg", "plus+sign.jpg", "per%20cent.jpg", "hash#tag.jpg", "what?.jpg",
            "/".join(["d" * 247] * 4) + "/long.jpg"]  # a 1,000-byte key (each segment within filesystem limits)


@pytest.mark.parametrize("where", ["local", "r2"])
def test_hostile_input_is_reported_per_file(where, tmp_path, request):
    if where == "local":
        storage, src = LocalStorage(tmp_path), str(tmp_path)
    else:
        request.getfixturevalue("r2_env")
        storage = request.getfixturevalue("bucket")
        src = f"r2://{storage.bucket}/"
    for name, data in bad_inputs().items():
        storage.write(name, data)
    photo = (PHOTOS / "chelsea.jpg").read_bytes()
    for key in ODD_KEYS:
        storage.write(key, photo)
    assert len(ODD_KEYS[-1].encode()) >= 1000
    p = run("classify", src, "--json", "--quiet", "--plan-out", tmp_path / "plan.json")
    assert p.returncode == 0, p.stderr
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert set(rows) == set(bad_inputs()) | set(ODD_KEYS)
    assert rows["zero.jpg"]["error"] == "empty file (0 bytes)" and rows["truncated.jpg"]["error"] == "truncated JPEG"
    assert rows["page.jpg"]["error"].startswith("not an image") and "decompression bomb" in rows["bomb.png"]["error"]
    for name in ("one_pixel.png", "strip.png", "cmyk.jpg", "sixteen_bit.png", "palette_alpha.png", "animated.gif", *ODD_KEYS):
        assert rows[name]["error"] is None, (name, rows[name])
    p = run("apply", tmp_path / "plan.json", "--yes", "--quiet")
    assert p.returncode == 0, p.stderr
    remaining = {o.key for o in storage.list()}
    for key in ODD_KEYS:
        assert key not in remaining and any(k.endswith("/" + key.rsplit("/", 1)[-1]) for k in remaining)


def test_surface_settings():
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["maxUploadSize"] <= 50
    assert config["browser"]["gatherUsageStats"] is False
    assert "--server.address 127.0.0.1" in (REPO / "Makefile").read_text()

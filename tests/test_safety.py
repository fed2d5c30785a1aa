"""Nothing lost, for real: each case a hostile tester reproduced (issue "safety promises broke"), on a folder
and on the real S3 server, black-box through the CLI: runs killed (SIGKILL) or stopped (SIGSTOP) at named
failpoints, outside changes between the steps, then resume / undo; every object checked by SHA-256 (Ledger).
Also: server crashes, a faulty network, tampered plans, hostile input, and no secret anywhere."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from segregator import jobs
from segregator.locking import LockedError, RunLock, local_lock_dir
from segregator.plan import MovePlan, PlanItem, write_plan
from segregator.storage import LocalStorage
from tests.conftest import PHOTOS, REPO, SECRETS, bad_inputs
from tests.faultlib import Ledger, cli, finish, resume_process, sha, snapshot, spawn, wait_stopped

BATCH = {"SEGREGATOR_MOVE_BATCH": "10"}


@pytest.fixture(params=["local", "r2"])
def storage(request, tmp_path):
    if request.param == "local":
        (tmp_path / "root").mkdir()
        return LocalStorage(tmp_path / "root")
    request.getfixturevalue("r2_env")
    return request.getfixturevalue("bucket")


def spec(storage, prefix: str = "") -> str:
    return f"r2://{storage.bucket}/{prefix}" if storage.kind == "r2" else str(Path(storage.root) / prefix)


def populate(storage, n: int, seed: int = 1, strangers: bool = True) -> dict[str, str]:
    """n distinct objects under src/, planned to dst/<i % 3>/; a few different files already sit at some of
    the planned names (strangers). Returns {source: planned destination}."""
    rng = random.Random(seed)
    moves = {}
    for i in range(n):
        key = f"src/{i // 10}/f{i:03d}.jpg"
        storage.write(key, rng.randbytes(rng.randint(300, 3000)))
        moves[key] = f"dst/{i % 3}/f{i:03d}.jpg"
    if strangers:
        for i in range(0, n, 7):
            storage.write(f"dst/{i % 3}/f{i:03d}.jpg", b"someone else's file %d" % i)
    return moves


def plan_for(storage, moves: dict[str, str], kind: str = "classify") -> MovePlan:
    listed = {o.key: o for o in storage.list()}
    items = [PlanItem(s, d, source_size=listed[s].size, source_version=listed[s].version) for s, d in moves.items()]
    return MovePlan(kind, storage.record(), "", "", items)


def write(plan: MovePlan, tmp_path: Path, name: str = "plan.json") -> Path:
    path = tmp_path / name
    write_plan(plan, path)
    return path


def runs() -> list[dict]:
    return json.loads(cli("runs", "--json").stdout)


def settle(ledger: Ledger) -> None:
    """Resume until no run is left unfinished, then check the ledger."""
    for _ in range(5):
        if not any(r["state"] != "done" for r in runs()):
            break
        p = cli("resume", "--quiet")
        assert p.returncode == 0, p.stderr
    assert all(r["state"] == "done" for r in runs()), runs()
    ledger.check()


def undo_all(ledger: Ledger, storage, originals: dict[str, str]) -> None:
    """Undo every run, newest first: the sources are back, byte for byte."""
    while True:
        p = cli("undo", "--yes", "--quiet")
        if p.returncode != 0:
            assert "no finished run to undo" in p.stderr, p.stderr
            break
    ledger.check()
    world = snapshot(storage)
    for key, content in originals.items():
        assert world.get(key) == content, key


# ---------------------------------------------------------------------------------------------- case 1

def test_1_resume_never_deletes_a_source_whose_copy_is_gone(storage, tmp_path):
    """Killed after the copies of a batch were made and recorded; the user deletes the copies (tidying up);
    resume must not delete those sources: it copies them again (or leaves them), never loses one."""
    moves = populate(storage, 30)
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    proc = spawn("apply", plan_path, "--yes", extra={**BATCH, "SEGREGATOR_FAILPOINTS": "after-placed@2=kill"})
    assert finish(proc) == -9
    second = {sha(storage.read(s)) for s in list(moves)[10:20]}  # copied, sources not deleted yet
    for key in [k for k in snapshot(storage) if k.startswith("dst/") and k not in ledger.fixed]:
        ledger.delete(key)  # every copy so far: the first batch's were the only instance (moved), the second's not
    assert all(ledger.expected[c] == 1 for c in second)
    settle(ledger)  # so the second batch's files exist exactly once: resume copied them again


def test_1_resume_leaves_a_replaced_source_alone(storage, tmp_path):
    """Killed after the copy; the source is then replaced by new bytes: resume must not delete the new file."""
    moves = populate(storage, 12, strangers=False)
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    assert finish(spawn("apply", plan_path, "--yes", extra={**BATCH, "SEGREGATOR_FAILPOINTS": "after-placed@1=kill"})) == -9
    replaced = list(moves)[3]
    ledger.replace(replaced, b"the owner's new photo")
    settle(ledger)
    assert storage.read(replaced) == b"the owner's new photo"
    done = runs()[0]
    assert done["summary"]["failed"] == 1
    p = cli("resume")
    assert p.returncode == 1 and "no unfinished run" in p.stderr  # settled: no resume prompt left


# ---------------------------------------------------------------------------------------------- case 2

@pytest.mark.parametrize("failpoint", [None, "after-intents@1=kill", "after-place-one@2=kill", "after-placed@1=kill",
                                       "after-remove@1=kill"])
def test_2_identical_bytes_are_never_taken_for_the_runs_copy(storage, tmp_path, failpoint):
    """a/x.jpg and b/x.jpg identical, both planned to Nature/x.jpg; y.jpg planned to Nature/y.jpg where
    identical bytes already sit. 4 files stay 4 (whatever the kills), and undo touches only what the run wrote."""
    x, y = b"x" * 1000, b"y" * 1200
    storage.write("a/x.jpg", x)
    storage.write("b/x.jpg", x)
    storage.write("y.jpg", y)
    storage.write("Nature/y.jpg", y)  # someone else's, with the very same bytes
    moves = {"a/x.jpg": "Nature/x.jpg", "b/x.jpg": "Nature/x.jpg", "y.jpg": "Nature/y.jpg"}
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    extra = {"SEGREGATOR_MOVE_BATCH": "2", **({"SEGREGATOR_FAILPOINTS": failpoint} if failpoint else {})}
    finish(spawn("apply", plan_path, "--yes", extra=extra))
    settle(ledger)
    world = snapshot(storage)
    assert sorted(world) == ["Nature/x.jpg", "Nature/x_1.jpg", "Nature/y.jpg", "Nature/y_1.jpg"]
    assert runs()[0]["summary"]["moved"] == 3
    undo_all(ledger, storage, {"a/x.jpg": sha(x), "b/x.jpg": sha(x), "y.jpg": sha(y)})
    assert sorted(snapshot(storage)) == ["Nature/y.jpg", "a/x.jpg", "b/x.jpg", "y.jpg"]


# ---------------------------------------------------------------------------------------------- case 3

def test_3_an_interrupted_undo_is_finished_first_and_latest_means_latest(storage, tmp_path):
    first = populate(storage, 12, seed=3, strangers=False)
    run_a = write(plan_for(storage, {s: "A/" + d for s, d in list(first.items())[:6]}), tmp_path, "a.json")
    run_b = write(plan_for(storage, {s: "B/" + d for s, d in list(first.items())[6:]}), tmp_path, "b.json")
    moves = {**{s: "A/" + d for s, d in list(first.items())[:6]}, **{s: "B/" + d for s, d in list(first.items())[6:]}}
    ledger = Ledger(storage, moves)
    originals = snapshot(storage)
    assert cli("apply", run_a, "--yes", "--quiet").returncode == 0
    assert cli("apply", run_b, "--yes", "--quiet").returncode == 0  # within the same second as A
    proc = spawn("undo", "--yes", extra={"SEGREGATOR_MOVE_BATCH": "2", "SEGREGATOR_FAILPOINTS": "after-remove@1=kill"})
    assert finish(proc) == -9
    p = cli("undo", "--yes", "--quiet")
    assert p.returncode == 0 and "finishing it first" in p.stderr, p.stderr
    world = snapshot(storage)
    assert not any(k.startswith("B/") for k in world) and sum(1 for k in world if k.startswith("A/")) == 6
    states = {r["run"]: (r["kind"], r["undo_of"], r["state"]) for r in runs()}
    assert sorted(states.values()) == [("run", None, "done"), ("run", None, "done"), ("undo", 2, "done")]
    undo_all(ledger, storage, originals)


# ---------------------------------------------------------------------------------------------- case 4

def test_4_runs_on_overlapping_folders_exclude_each_other(storage, tmp_path):
    for folder in ("a/", "a/b/", "c/"):
        for i in range(6):
            storage.write(f"{folder}f{i}.jpg", os.urandom(500))

    for i in range(3):
        storage.write(f"top{i}.jpg", os.urandom(500))

    def plan_in(prefix: str, name: str):
        """A plan for the files directly in prefix, made on the folder itself (local) or on the bucket."""
        if storage.kind == "local":
            store = LocalStorage(Path(storage.root) / prefix) if prefix else storage
            base = ""
        else:
            store, base = storage, prefix
        items = [PlanItem(o.key, base + "sorted/" + o.key.rsplit("/", 1)[-1], source_size=o.size,
                          source_version=o.version) for o in store.list(base, recursive=False)]
        return write(MovePlan("classify", store.record(), base, base, items), tmp_path, name)

    holder = spawn("apply", plan_in("a/", "a.json"), "--yes",
                   extra={"SEGREGATOR_MOVE_BATCH": "2", "SEGREGATOR_FAILPOINTS": "after-intents@1=stop"})
    wait_stopped(holder)
    try:
        for inner in ("a/b/", ""):  # below it and above it: refused
            p = cli("apply", plan_in(inner, f"x{len(inner)}.json"), "--yes")
            assert p.returncode == 1 and "another run is working on this storage" in p.stderr, p.stderr
        p = cli("apply", plan_in("c/", "c.json"), "--yes", "--quiet")  # beside it: goes on
        assert p.returncode == 0, p.stderr
    finally:
        resume_process(holder)
    assert finish(holder) == 0
    assert len(runs()) == 2  # the refused runs left no journal


def test_4_a_run_left_unfinished_keeps_its_folders_until_resumed_or_undone(storage, tmp_path):
    """Killed between its copies and their sources' deletes, a run still covers its folders: another plan over
    them (here a part of them, to other names) is refused before it writes anything, since the resume could not
    tell a source that plan moved away from one it deleted itself (both copies would stay). Resumed, every file
    is in one place; then the other plan may run."""
    moves = populate(storage, 30, strangers=False)
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    assert finish(spawn("apply", plan_path, "--yes", extra={**BATCH, "SEGREGATOR_FAILPOINTS": "after-placed@2=kill"})) == -9
    before = snapshot(storage)
    part = {k: "other/" + k.rsplit("/", 1)[-1] for k in moves if k.startswith("src/1/")}
    p = cli("apply", write(plan_for(storage, part), tmp_path, "part.json"), "--yes")
    assert p.returncode == 1 and "run 1 (a run on" in p.stderr and "stopped before it finished" in p.stderr, p.stderr
    assert "resume 1" in p.stderr and p.stderr.count("\n") == 1  # one line, saying how to settle it
    assert snapshot(storage) == before and len(runs()) == 1  # nothing written, no journal
    settle(ledger)  # every file exactly once: at its destination or where it was
    left = {k: d for k, d in part.items() if k in snapshot(storage)}  # none: the resume moved them all
    assert not left and cli("apply", write(plan_for(storage, {}), tmp_path, "empty.json"), "--yes").returncode == 0


def test_4_ctrl_c_mid_run_names_the_run_to_resume(tmp_path):
    (tmp_path / "root").mkdir()
    storage = LocalStorage(tmp_path / "root")
    moves = populate(storage, 20, strangers=False)
    ledger = Ledger(storage, moves)
    proc = spawn("apply", write(plan_for(storage, moves), tmp_path), "--yes",
                 extra={**BATCH, "SEGREGATOR_FAILPOINTS": "after-intents@1=stop"})
    wait_stopped(proc)
    os.kill(proc.pid, signal.SIGINT)  # as Ctrl-C: delivered when it goes on
    resume_process(proc)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("interrupted: run 1 is unfinished; `python -m segregator resume 1`"), err
    settle(ledger)


# ---------------------------------------------------------------------------------------------- case 5

def _lock_files(storage) -> list[str]:
    if storage.kind == "local":
        return [str(p) for p in local_lock_dir().glob("*.lock")]
    return [o.key for o in storage.list(".segregator/locks/")]


def _overwrite_lock(storage, where: str, data: bytes) -> None:
    if storage.kind == "local":
        Path(where).write_bytes(data)
    else:
        storage.client.put_object(Bucket=storage.bucket, Key=where, Body=data)


@pytest.mark.parametrize("garbage", [b"}{ not json", b""])
def test_5_a_garbled_lock_counts_as_held_and_stops_its_run(storage, tmp_path, garbage):
    moves = populate(storage, 20, strangers=False)
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    extra = {**BATCH, "SEGREGATOR_FAILPOINTS": "after-intents@1=stop", "SEGREGATOR_LOCK_TTL": "3"}
    holder = spawn("apply", plan_path, "--yes", extra=extra)
    wait_stopped(holder)
    [lock] = _lock_files(storage)
    _overwrite_lock(storage, lock, garbage)
    p = cli("resume")
    assert p.returncode == 1 and "unreadable lock record" in p.stderr and "unlock" in p.stderr, p.stderr
    time.sleep(2)  # past the holder's lease: it must not go on
    resume_process(holder)
    assert finish(holder) == 0
    assert runs()[0]["state"] == "stopped"
    p = cli("unlock", spec(storage), "--yes")
    assert p.returncode == 0 and "removed" in p.stderr, p.stderr
    settle(ledger)


def test_5_two_processes_acquiring_at_once_never_both_hold(storage):
    """Two processes released by a barrier at the same instant, 60 times: the times they held the lock never
    overlap (and one of them gets it in almost every round)."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()

    def contender(rounds: int) -> None:
        mine = storage
        if storage.kind == "r2":  # a client of its own: connections inherited over fork are not shareable
            from segregator.r2 import R2Storage, make_client

            make_client.cache_clear()
            mine = R2Storage(storage.config, storage.bucket)
        for n in range(rounds):
            barrier.wait()
            try:
                with RunLock(mine, "x/"):
                    start = time.monotonic()
                    time.sleep(0.04)
                    results.put((n, os.getpid(), start, time.monotonic()))
            except LockedError:
                pass
            barrier.wait()

    rounds = 60
    procs = [ctx.Process(target=contender, args=(rounds,)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    spans = []
    while not results.empty():
        spans.append(results.get())
    spans.sort(key=lambda s: s[2])
    for (_, _, _, end_a), (_, _, start_b, _) in zip(spans, spans[1:]):
        assert start_b >= end_a, "two processes held the lock at the same time"
    assert len({n for n, *_ in spans}) >= rounds * 0.8
    assert _lock_files(storage) == []


def test_5_a_run_whose_lock_is_removed_stops(storage, tmp_path):
    moves = populate(storage, 20, strangers=False)
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    holder = spawn("apply", plan_path, "--yes",
                   extra={**BATCH, "SEGREGATOR_FAILPOINTS": "after-intents@1=stop", "SEGREGATOR_LOCK_TTL": "3"})
    wait_stopped(holder)
    assert cli("unlock", spec(storage), "--yes").returncode == 0  # as a user who thinks the run is dead
    time.sleep(2)
    resume_process(holder)
    assert finish(holder) == 0
    assert runs()[0]["state"] == "stopped"
    settle(ledger)


# ---------------------------------------------------------------------------------------------- case 6

def test_6_refused_runs_and_undos_leave_nothing_behind(storage, tmp_path):
    moves = populate(storage, 6, strangers=False)
    plan_path = write(plan_for(storage, moves), tmp_path)
    with RunLock(storage, ""):
        p = cli("apply", plan_path, "--yes")
        assert p.returncode == 1 and "another run" in p.stderr
    assert runs() == []
    p = cli("resume")
    assert p.returncode == 1 and "no unfinished run" in p.stderr
    assert cli("apply", plan_path, "--yes", "--quiet").returncode == 0
    with RunLock(storage, "src/"):
        p = cli("undo", "--yes")
        assert p.returncode == 1 and "another run" in p.stderr
    assert [r["kind"] for r in runs()] == ["run"]  # the refused undo did not mark the run undone
    assert cli("undo", "--yes", "--quiet").returncode == 0
    assert set(snapshot(storage)) == set(moves)


# ---------------------------------------------------------------------------------------------- case 7

def test_7_resume_never_runs_beside_a_live_owner_and_a_late_owner_writes_nothing(storage, tmp_path):
    moves = populate(storage, 40, strangers=False)
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    originals = snapshot(storage)
    owner = spawn("apply", plan_path, "--yes",
                  extra={**BATCH, "SEGREGATOR_FAILPOINTS": "after-placed@2=stop", "SEGREGATOR_LOCK_TTL": "3"})
    wait_stopped(owner)
    p = cli("resume")
    assert p.returncode == 1 and "another run is working" in p.stderr, p.stderr  # alive: refused
    time.sleep(3.5)  # its lock expires while it is paused
    p = cli("resume", "--quiet")
    assert p.returncode == 0, p.stderr
    resume_process(owner)  # the late owner wakes up: it lost its lock and must not touch anything
    assert finish(owner) == 0
    assert all(r["state"] == "done" for r in runs())
    ledger.check()
    undo_all(ledger, storage, originals)


# ---------------------------------------------------------------------------------------------- case 8

def test_8_a_symlink_loop_is_a_per_file_error(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(PHOTOS / "chelsea.jpg", root / "cat.jpg")
    os.symlink("z2.jpg", root / "z1.jpg")
    os.symlink("z1.jpg", root / "z2.jpg")
    os.symlink("cat.jpg", root / "alias.jpg")
    p = cli("classify", root, "--json", "--quiet", "--classifier", "heuristic", "--plan-out", tmp_path / "plan.json")
    assert p.returncode == 0, p.stderr
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert "loop" in rows["z1.jpg"]["error"] and "loop" in rows["z2.jpg"]["error"]
    assert "symbolic link" in rows["alias.jpg"]["error"] and rows["cat.jpg"]["error"] is None
    # a plan that moves the links anyway (edited by hand): each is a per-item failure, resume and undo work
    storage = LocalStorage(root)
    items = [PlanItem("cat.jpg", "Nature/cat.jpg"), PlanItem("z1.jpg", "Nature/z1.jpg"),
             PlanItem("alias.jpg", "Nature/alias.jpg")]
    (tmp_path / "hand.json").write_text(MovePlan("classify", storage.record(), "", "", items).to_json())
    p = cli("apply", tmp_path / "hand.json", "--yes", "--source", root)
    assert p.returncode == 0 and "z1.jpg: symbolic link loop" in p.stderr and "alias.jpg: symbolic link" in p.stderr
    assert os.path.islink(root / "z1.jpg") and os.path.islink(root / "alias.jpg") and (root / "Nature" / "cat.jpg").exists()
    assert cli("resume").returncode == 1  # nothing left to resume
    assert cli("undo", "--yes", "--quiet").returncode == 0 and (root / "cat.jpg").exists()
    assert os.readlink(root / "alias.jpg") == "cat.jpg"


# ---------------------------------------------------------------------------------------------- case 9

def _read_only(folder: Path) -> bool:
    """Make a folder's entries undeletable (chattr +i as root; chmod otherwise); False when impossible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def _writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def test_9_a_source_that_cannot_be_deleted_is_not_left_in_two_places(tmp_path):
    root = tmp_path / "root"
    (root / "locked").mkdir(parents=True)
    (root / "open").mkdir()
    for i in range(4):
        (root / "locked" / f"l{i}.jpg").write_bytes(os.urandom(800))
        (root / "open" / f"o{i}.jpg").write_bytes(os.urandom(800))
    storage = LocalStorage(root)
    moves = {o.key: "sorted/" + o.key.rsplit("/", 1)[1] for o in storage.list()}
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    if not _read_only(root / "locked"):
        pytest.skip("cannot make a folder read-only here")
    try:
        p = cli("apply", plan_path, "--yes")
        assert p.returncode == 0, p.stderr
        assert p.stderr.count("could not be deleted") == 4 and "its copy was removed again" in p.stderr
    finally:
        _writable(root / "locked")
    ledger.check()
    world = snapshot(storage)
    assert sorted(k for k in world if k.startswith("locked/")) == [f"locked/l{i}.jpg" for i in range(4)]
    assert sorted(k for k in world if k.startswith("sorted/")) == [f"sorted/o{i}.jpg" for i in range(4)]
    assert runs()[0]["state"] == "done"  # settled: reported, nothing left to resume


# ---------------------------------------------------------------------------------------------- case 10

def test_10_copies_deleted_during_a_run_keep_their_sources(storage, tmp_path):
    moves = populate(storage, 40, strangers=False)
    plan_path = write(plan_for(storage, moves), tmp_path)
    ledger = Ledger(storage, moves)
    proc = spawn("apply", plan_path, "--yes", extra={**BATCH, "SEGREGATOR_FAILPOINTS": "after-placed@2=stop"})
    wait_stopped(proc)
    world = snapshot(storage)
    sources = {c for k, c in world.items() if k.startswith("src/")}
    in_flight = [k for k, c in world.items() if k.startswith("dst/") and c in sources]
    assert len(in_flight) == 10  # the second batch: copied, sources not deleted yet
    for key in in_flight:
        ledger.delete(key)
    resume_process(proc)
    assert finish(proc) == 0
    first = runs()[0]
    assert first["summary"]["moved"] == 30 and first["state"] == "stopped"  # never "moved 40"
    ledger.check()
    settle(ledger)
    assert not any(k.startswith("src/") for k in snapshot(storage))


# ---------------------------------------------------------------------------------------------- case 11

def test_11_credentials_inside_the_endpoint_are_refused(r2_config, tmp_path, monkeypatch):
    from segregator.r2 import R2Config

    host = r2_config.endpoint.split("://", 1)[1]
    endpoint = f"http://{r2_config.access_key}:{r2_config.secret_key}@{host}"
    monkeypatch.setenv("R2_ENDPOINT", endpoint)
    monkeypatch.setenv("R2_ACCESS_KEY", r2_config.access_key)
    monkeypatch.setenv("R2_SECRET_KEY", r2_config.secret_key)
    p = cli("classify", "r2://any/", "--json")
    assert p.returncode == 1 and "must not contain credentials" in p.stderr
    assert r2_config.secret_key not in p.stderr + p.stdout
    with pytest.raises(ValueError, match="must not contain credentials") as info:
        R2Config.from_env()
    assert r2_config.secret_key not in str(info.value)


# ---------------------------------------------------------------------------------------------- case 12

def test_12_a_plan_applies_only_to_the_storage_opened_and_only_to_images(tmp_path):
    photos, other = tmp_path / "photos", tmp_path / "other"
    photos.mkdir()
    other.mkdir()
    (other / "notes.txt").write_text("my notes")
    shutil.copy(PHOTOS / "coffee.jpg", other / "pic.jpg")
    shutil.copy(PHOTOS / "coffee.jpg", photos / "pic.jpg")
    mine = jobs.classification_plan(LocalStorage(photos), [], "")
    # a plan edited to name another folder: refused without --source, and with the folder the user means
    data = json.loads(mine.to_json())
    data["storage"]["root"] = str(other)
    data["items"] = [{"source": "pic.jpg", "destination": "Food/pic.jpg"}]
    (tmp_path / "p.json").write_text(json.dumps(data))
    p = cli("apply", tmp_path / "p.json", "--yes")
    assert p.returncode == 1 and "not written by this installation" in p.stderr
    p = cli("apply", tmp_path / "p.json", "--yes", "--source", photos)
    assert p.returncode == 1 and "plan refused: it is for local folder" in p.stderr
    data["items"] = [{"source": "notes.txt", "destination": "Food/notes.txt"}]
    (tmp_path / "p.json").write_text(json.dumps(data))
    p = cli("apply", tmp_path / "p.json", "--yes", "--source", other)
    assert p.returncode == 1 and "not an image file" in p.stderr
    assert (other / "notes.txt").exists() and (other / "pic.jpg").exists() and (photos / "pic.jpg").exists()


def test_12_an_unsafe_line_is_refused_before_the_preview_and_a_copy_plan_is_previewed_as_copies(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(PHOTOS / "coffee.jpg", photos / "pic.jpg")
    data = json.loads(jobs.classification_plan(LocalStorage(photos), [], "").to_json())
    data["items"] = [{"source": "pic.jpg", "destination": "../escape.jpg"}]
    (tmp_path / "p.json").write_text(json.dumps(data))
    p = cli("apply", tmp_path / "p.json", "--source", photos)  # not --yes: it would have asked
    assert p.returncode == 1 and "plan refused: " in p.stderr and "../escape.jpg" in p.stderr, p.stderr
    assert "plan: classify" not in p.stderr and "not confirmed" not in p.stderr  # no preview, no question
    data["items"] = [{"source": "pic.jpg", "destination": "Food/pic.jpg", "action": "copy"}]
    (tmp_path / "p.json").write_text(json.dumps(data))
    p = cli("apply", tmp_path / "p.json", "--source", photos, "--yes")
    assert p.returncode == 0, p.stderr
    assert "Food/  (1 to copy)" in p.stderr and "1 to copy, 0 unchanged" in p.stderr and "to move" not in p.stderr
    assert (photos / "pic.jpg").exists() and (photos / "Food" / "pic.jpg").exists()


@pytest.mark.parametrize("text", ["", "{", "[]", '{"items": {}}', '{"items": [{"source": 1}]}',
                                  '{"items": [], "storage": {"kind": "local"}}', "\x00\xff", '{"items": [[]]}',
                                  '{"kind": "classify", "storage": {"kind": "local", "root": "/"}, "items": '
                                  '[{"source": "a.jpg", "destination": "b.jpg", "source_size": -1}]}'])
def test_12_malformed_plans_get_one_line_errors(tmp_path, text):
    (tmp_path / "p.json").write_text(text, errors="surrogateescape")
    p = cli("apply", tmp_path / "p.json", "--yes", "--source", tmp_path)
    assert p.returncode == 1 and p.stderr.startswith("error:") and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_12_part_files_are_cleaned_and_long_names_move(tmp_path):
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    (root / "out").mkdir()
    long = "é" * 118 + ".jpg"  # 240 bytes: a part file or numbered name must still fit in 255
    (root / "in" / long).write_bytes(os.urandom(900))
    (root / "out" / long).write_bytes(b"someone else's")
    old_part = root / "out" / ".old.jpg.123-4.segregator-part"
    old_part.write_bytes(b"left by an old crash")
    os.utime(old_part, (time.time() - 3 * 86400,) * 2)
    for i in range(20):
        (root / "in" / f"p{i}.jpg").write_bytes(os.urandom(2000))
    storage = LocalStorage(root)
    moves = {o.key: "out/" + o.key.split("/")[-1] for o in storage.list("in/")}
    ledger = Ledger(storage, moves)
    plan_path = write(plan_for(storage, moves), tmp_path)
    proc = spawn("apply", plan_path, "--yes", "--copy", extra={"SEGREGATOR_MOVE_BATCH": "5",
                                                               "SEGREGATOR_FAILPOINTS": "after-intents@2=kill"})
    assert finish(proc) == -9
    assert storage.part_files("out/")  # what the kill left
    p = cli("resume", "--quiet")
    assert p.returncode == 0, p.stderr
    assert storage.part_files() == []
    numbered = [o.key for o in storage.list("out/") if o.key.endswith("_1.jpg")]
    assert len(numbered) == 1 and len(numbered[0].split("/")[-1].encode()) <= 255
    ledger.expected.update({sha((root / "in" / k.split("/")[-1]).read_bytes()): 1 for k in moves})  # copies: twice
    for key in moves:
        ledger.allowed[sha((root / key).read_bytes())] |= {key}
    ledger.check()


def test_12_a_garbled_lock_gives_a_message_not_a_traceback(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(PHOTOS / "coffee.jpg", root / "a.jpg")
    storage = LocalStorage(root)
    plan_path = write(plan_for(storage, {"a.jpg": "x/a.jpg"}), tmp_path)
    local_lock_dir().mkdir(parents=True, exist_ok=True)
    for body in (b'{"scope": 5}', b"[1, 2]", b'{"token": "t", "area": "/", "scope": "", "expires": "soon"}', b"\xff"):
        (local_lock_dir() / "x.lock").write_bytes(body)
        p = cli("apply", plan_path, "--yes")
        assert p.returncode == 1 and "unreadable lock record" in p.stderr, p.stderr
    assert cli("unlock", root, "--yes").returncode == 0
    assert cli("apply", plan_path, "--yes", "--quiet").returncode == 0


# ---------------------------------------------------------------------------------------------- more faults

def test_server_crash_mid_run_then_resume(tmp_path, monkeypatch):
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
        moves = populate(storage, 200)
        plan_path = write(plan_for(storage, moves), tmp_path)
        ledger = Ledger(storage, moves)
        proc = spawn("apply", plan_path, "--yes", extra={"SEGREGATOR_MOVE_BATCH": "20",
                                                         "SEGREGATOR_FAILPOINTS": "batch-start@3=stop"})
        wait_stopped(proc)
        server.kill()  # the server dies mid-run (kill -9)
        resume_process(proc)
        assert finish(proc) == 0
        assert runs()[0]["state"] == "stopped"
        server.start()  # back, same ports and data
        settle(ledger)
    finally:
        server.stop()


def test_flaky_network_is_carried_by_retries(bucket, r2_config, tmp_path):
    from segregator.r2 import R2Config, R2Storage
    from tests.faulty_proxy import FaultyProxy

    with FaultyProxy(r2_config.endpoint) as proxy:
        via = R2Config(proxy.endpoint, r2_config.access_key, r2_config.secret_key)
        storage = R2Storage(via, bucket.bucket)
        moves = populate(bucket, 80)
        ledger = Ledger(bucket, moves)
        plan = plan_for(bucket, moves)
        plan.storage = storage.record()
        report, _ = jobs.run_plan(plan, storage)
        assert report.summary()["failed"] == 0, report.errors
        assert proxy.injected["503"] >= 5 and proxy.injected["500"] >= 5 and proxy.injected["reset"] >= 5
    ledger.check()
    assert not any(k.startswith("src/") for k in snapshot(bucket))


def test_copy_runs_undo_to_the_trash(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    storage = LocalStorage(root)
    moves = populate(storage, 10, strangers=False)
    before = snapshot(storage)
    jobs.run_plan(plan_for(storage, moves), storage, copy=True)
    jobs.undo()
    now = snapshot(storage)
    assert {k: v for k, v in now.items() if k.startswith("src/")} == before
    assert sum(1 for k in now if k.startswith("_trash/")) == 10 and not any(k.startswith("dst/") for k in now)


def test_undo_leaves_out_what_changed_since_and_says_so(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    storage = LocalStorage(root)
    moves = populate(storage, 10, strangers=False)
    report, _ = jobs.run_plan(plan_for(storage, moves), storage)
    changed = report.results[1].destination
    (root / changed).unlink()
    (root / changed).write_bytes(b"edited since")
    p = cli("undo", "--yes")
    assert p.returncode == 0 and "1 object(s) cannot be undone" in p.stderr and changed in p.stderr
    assert (root / changed).read_bytes() == b"edited since"
    assert sum(1 for k in snapshot(storage) if k.startswith("src/")) == 9


@pytest.mark.parametrize("tamper", [
    {"destination": "../../etc/x.jpg"}, {"destination": "/etc/passwd"}, {"source": "../outside.jpg"},
    {"destination": "elsewhere/x.jpg"}, {"destination": "in/sorted/a.sh"},
])
def test_tampered_plan_changes_nothing(tmp_path, tamper):
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.jpg").write_bytes(b"a")
    (tmp_path / "outside.jpg").write_bytes(b"o")
    storage = LocalStorage(root)
    plan = MovePlan("classify", storage.record(), "in/", "in/sorted/", [PlanItem("in/a.jpg", "in/sorted/a.jpg")])
    data = json.loads(plan.to_json())
    data["items"][0].update(tamper)
    (tmp_path / "p.json").write_text(json.dumps(data))
    p = cli("apply", tmp_path / "p.json", "--yes", "--source", root)
    assert p.returncode == 1 and "plan refused" in p.stderr
    assert (root / "in" / "a.jpg").read_bytes() == b"a" and (tmp_path / "outside.jpg").read_bytes() == b"o"


ODD_KEYS = ["ünïcødé фото.jpg", "with space.jpg", "plus+sign.jpg", "per%20cent.jpg", "hash#tag.jpg", "what?.jpg",
            "/".join(["d" * 247] * 4) + "/long.jpg"]  # a 1,000-byte key (each segment within filesystem limits)


@pytest.mark.parametrize("where", ["local", "r2"])
def test_hostile_input_is_reported_per_file(where, tmp_path, request):
    if where == "local":
        (tmp_path / "root").mkdir()
        storage, src = LocalStorage(tmp_path / "root"), str(tmp_path / "root")
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
    p = cli("classify", src, "--json", "--quiet", "--plan-out", tmp_path / "plan.json")
    assert p.returncode == 0, p.stderr
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert set(rows) == set(bad_inputs()) | set(ODD_KEYS)
    assert rows["zero.jpg"]["error"] == "empty file (0 bytes)" and rows["truncated.jpg"]["error"] == "truncated JPEG"
    assert rows["page.jpg"]["error"].startswith("not an image") and "decompression bomb" in rows["bomb.png"]["error"]
    for name in ("one_pixel.png", "strip.png", "cmyk.jpg", "sixteen_bit.png", "palette_alpha.png", "animated.gif", *ODD_KEYS):
        assert rows[name]["error"] is None, (name, rows[name])
    p = cli("apply", tmp_path / "plan.json", "--yes", "--quiet")
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
    # make run starts the app through `serve`, which refuses other addresses without sign-in (test_auth.py)
    assert "-m segregator serve --address 127.0.0.1" in (REPO / "Makefile").read_text()

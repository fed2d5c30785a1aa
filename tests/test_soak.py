"""A randomized soak: many random sequences of apply / kill -9 / resume / undo / outside edits (a copy deleted, a
source replaced, a file added, the lock taken or garbled) on a folder and on a bucket, each ended by settling
(resume until done) and checking the ledger against SHA-256 of every object, then undoing everything and
checking again. Bounded in time: SEGREGATOR_SOAK_SECONDS (default 110) split between the two storages;
SEGREGATOR_SOAK_SEED replays one seed. Prints the number of sequences, steps and kills."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from segregator.locking import RunLock
from segregator.storage import LocalStorage
from tests.faultlib import Ledger, cli, finish, homes, resume_process, sha, snapshot, spawn, wait_stopped
from tests.test_safety import _lock_files, _overwrite_lock, plan_for, runs, spec, write

SECONDS = float(os.environ.get("SEGREGATOR_SOAK_SECONDS") or 110)
POINTS = ["batch-start", "after-intents", "after-place-one", "after-placed", "after-remove", "after-done"]


def _populate(storage, rng: random.Random, p: str) -> tuple[dict[str, str], set[str]]:
    """Sources under p/src/, planned to p/dst/<k>/<name> (names repeat across folders: conflicts); strangers
    at some planned names, some holding a source's very bytes; two identical sources. Returns the moves and
    the contents that outside edits must not touch (twins: the ledger counts them by content)."""
    moves, twins = {}, set()
    n = rng.randint(8, 30)
    for i in range(n):
        key = f"{p}src/{rng.randint(0, 2)}/f{rng.randint(0, n):02d}.jpg"
        if key in moves:
            continue
        data = rng.randbytes(rng.randint(200, 2500))
        storage.write(key, data)
        moves[key] = f"{p}dst/{rng.randint(0, 1)}/{key.rsplit('/', 1)[1]}"
        roll = rng.random()
        if roll < 0.15 and not storage.exists(moves[key]):
            storage.write(moves[key], data)  # a stranger with the very same bytes at the planned name
            twins.add(sha(data))
        elif roll < 0.3 and not storage.exists(moves[key]):
            storage.write(moves[key], b"stranger " + rng.randbytes(40))
    first = next(iter(moves))
    twin = f"{p}src/9/{first.rsplit('/', 1)[1]}"
    storage.write(twin, storage.read(first))  # two identical sources with the same name
    moves[twin] = f"{p}dst/0/{first.rsplit('/', 1)[1]}"
    twins.add(sha(storage.read(first)))
    return moves, twins


def _faults(rng: random.Random) -> dict[str, str]:
    extra = {"SEGREGATOR_MOVE_BATCH": str(rng.randint(2, 7)), "SEGREGATOR_LOCK_TTL": "4"}
    if rng.random() < 0.7:
        extra["SEGREGATOR_FAILPOINTS"] = f"{rng.choice(POINTS + ['after-placed'])}@{rng.randint(1, 3)}=kill"
    return extra


def _run(args: list, extra: dict, rng: random.Random, stats: dict) -> bool:
    proc = spawn(*args, extra=extra)
    if "SEGREGATOR_FAILPOINTS" not in extra and rng.random() < 0.3:
        time.sleep(rng.uniform(0.2, 0.6))  # a kill at a random moment instead
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    code = finish(proc)
    stats["steps"] += 1
    if code == -9:
        stats["kills"] += 1
    return code == -9


def _outside(storage, ledger: Ledger, twins: set[str], rng: random.Random, p: str, stats: dict) -> None:
    """One outside change, aimed at the dangerous moments when there are any: a copy whose source still
    exists (a move caught between its copy and its delete), or such a source."""
    world = {k: c for k, c in snapshot(storage).items() if k.startswith(p)}
    at_source = {c for k, c in world.items() if "/src/" in k}
    in_flight = [k for k, c in world.items() if "/dst/" in k and c in at_source and c not in twins and k not in ledger.fixed]
    choice = rng.choice(["delete_copy", "replace_source", "add_file"])
    stats["edits"] += 1
    if choice == "delete_copy":
        copies = [k for k, c in world.items() if "/dst/" in k and k not in ledger.fixed and c not in twins]
        if in_flight and rng.random() < 0.7:
            copies = in_flight
        if copies:
            ledger.delete(rng.choice(copies))
    elif choice == "replace_source":
        sources = [k for k, c in world.items() if "/src/" in k and k not in ledger.fixed and c not in twins]
        copied = [k for k in sources if world[k] in {world[c] for c in in_flight}]
        if copied and rng.random() < 0.7:
            sources = copied
        if sources:
            ledger.replace(rng.choice(sources), b"replaced " + rng.randbytes(60))
    else:
        key = rng.choice([f"{p}dst/{rng.randint(0, 1)}/f{rng.randint(0, 30):02d}.jpg", f"{p}src/{rng.randint(0, 2)}/new.jpg"])
        if key not in world:
            ledger.add(key, b"added " + rng.randbytes(50))


def _open_runs() -> list[dict]:
    """Runs left unfinished and not undone since (a stopped run may be undone instead of resumed)."""
    listed = runs()
    undone = {r["undo_of"] for r in listed if r["kind"] == "undo" and r["state"] == "done"}
    return [r for r in listed if r["state"] != "done" and r["run"] not in undone]


def _settle(storage) -> None:
    for _ in range(6):
        open_runs = _open_runs()
        if not open_runs:
            return
        p = cli("resume", open_runs[0]["run"], "--quiet")
        if p.returncode != 0 and "unreadable lock" in p.stderr:
            cli("unlock", spec(storage), "--yes")
        elif p.returncode != 0 and "another run is working" in p.stderr:
            time.sleep(1)
    assert not _open_runs(), runs()


def _sequence(storage, rng: random.Random, n: int, tmp_path, stats: dict) -> None:
    p = f"s{n}/"
    moves, twins = _populate(storage, rng, p)
    ledger = Ledger(storage, moves)
    originals = {k: c for k, c in snapshot(storage).items() if k in moves}
    plan = plan_for(storage, moves)
    plan_path = write(plan, tmp_path, f"plan{n}.json")
    applied = False
    for _ in range(rng.randint(4, 9)):
        step = rng.choice(["resume", "resume", "undo", "outside", "outside", "outside", "lock", "garble"])
        if not applied or step in ("resume", "undo"):
            args = [["apply", plan_path, "--yes"]] if not applied else [["resume"]] if step == "resume" else [["undo", "--yes"]]
            applied = True
            if _run(args[0], _faults(rng), rng, stats) and rng.random() < 0.5:
                _outside(storage, ledger, twins, rng, p, stats)  # right after a kill: the moment that matters
        elif step == "outside":
            _outside(storage, ledger, twins, rng, p, stats)
        elif step == "lock":  # someone else's run holds the folder: every step meanwhile is refused cleanly
            before = snapshot(storage)
            with RunLock(storage, p):
                refused = cli(*rng.choice([["resume", "--quiet"], ["undo", "--yes", "--quiet"]]))
                assert refused.returncode == 1, refused.stderr
                stats["steps"] += 1
            assert snapshot(storage) == before
        else:  # the lock of a running step is garbled under it: the step stops, the lock must be cleared
            proc = spawn("resume", extra={"SEGREGATOR_FAILPOINTS": "batch-start@1=stop", "SEGREGATOR_LOCK_TTL": "4",
                                          "SEGREGATOR_MOVE_BATCH": "3"})
            try:
                wait_stopped(proc, timeout=20)
            except AssertionError:
                finish(proc)
                continue
            locks = _lock_files(storage)
            if locks:
                _overwrite_lock(storage, locks[0], b"garbage")
            resume_process(proc)
            finish(proc)
            cli("unlock", spec(storage), "--yes")
            stats["steps"] += 1
    _settle(storage)
    ledger.check()
    while cli("undo", "--yes", "--quiet").returncode == 0:
        stats["steps"] += 1
    _settle(storage)
    ledger.check()
    world = snapshot(storage)
    for key, content in originals.items():  # every original still there is back at its place (or beside it)
        if ledger.expected[content] and content not in twins:
            assert any(world.get(k) == content for k in homes(key)), key


@pytest.mark.parametrize("where", ["local", "r2"])
def test_soak(where, tmp_path, request, capsys):
    if where == "local":
        (tmp_path / "root").mkdir()
        storage = LocalStorage(tmp_path / "root")
    else:
        request.getfixturevalue("r2_env")
        storage = request.getfixturevalue("bucket")
    seed = int(os.environ.get("SEGREGATOR_SOAK_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    stats = {"sequences": 0, "steps": 0, "kills": 0, "edits": 0}
    deadline = time.monotonic() + SECONDS / 2
    while time.monotonic() < deadline:
        try:
            _sequence(storage, rng, stats["sequences"], tmp_path, stats)
        except AssertionError as exc:
            raise AssertionError(f"soak on {where}, seed {seed}, sequence {stats['sequences']}: {exc}") from None
        stats["sequences"] += 1
    with capsys.disabled():  # shown in `make test`'s output
        print(f"\nsoak {where} (seed {seed}): {stats['sequences']} sequences, {stats['steps']} steps, "
              f"{stats['kills']} kills (SIGKILL), {stats['edits']} outside edits; every sequence ended with nothing lost")
    assert stats["sequences"] >= 3 and stats["kills"] >= 3

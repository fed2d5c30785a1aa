"""Helpers for the fault-injection tests and the soak: the CLI as a separate process (to kill, stop and
resume), outside changes, and the ledger that checks "nothing lost" against SHA-256 of every object."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from segregator.storage import Storage, numbered_name
from tests.conftest import REPO, assert_no_secret


def env(**extra: str) -> dict[str, str]:
    out = {**os.environ, "PYTHONPATH": str(REPO)}
    out.update({k: str(v) for k, v in extra.items()})
    return out


def cli(*args, extra: dict | None = None, timeout: float = 180, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The CLI run to its end; never a traceback, never a secret."""
    p = subprocess.run([sys.executable, "-m", "segregator", *map(str, args)], capture_output=True, text=True, cwd=REPO,
                       env=env(**(extra or {})), timeout=timeout, input=stdin)
    assert "Traceback" not in p.stderr, p.stderr
    assert_no_secret(p.stdout + p.stderr, f"the output of {args}")
    return p


def spawn(*args, extra: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "segregator", *map(str, args), "--quiet"], cwd=REPO,
                            env=env(**(extra or {})), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 180) -> int:
    """Wait for a spawned CLI; its stderr must hold no traceback."""
    _, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in (err or ""), err
    return proc.returncode


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def wait_stopped(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until a process stopped itself (a failpoint's SIGSTOP); fails if it ended instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = state(proc.pid)
        if s == "T":
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) before its failpoint: {proc.stderr.read()}")
        time.sleep(0.01)
    raise AssertionError("the run did not reach its failpoint")


def resume_process(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGCONT)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(storage: Storage) -> dict[str, str]:
    """SHA-256 of every object the tool manages (its lock registry and part files left out)."""
    out = {}
    for o in storage.list():
        if o.key.startswith(".segregator/") or o.problem:
            continue
        out[o.key] = sha(storage.read(o.key))
    return out


def homes(key: str, n: int = 60) -> set[str]:
    return {key} | {numbered_name(key, i) for i in range(1, n)}


class Ledger:
    """What must be true at the end, kept up to date through outside changes.

    `expected`: how many objects must hold each content; `fixed`: objects that must stay exactly where they
    are (files the runs did not write: strangers at destinations, files added from outside); `allowed`: where
    the content of each planned source may end up (its source or planned name, or numbered names beside them).
    An outside delete of the last real instance of a content takes it out of `expected` (the outsider lost it,
    not the tool); a delete of a transient extra instance (a copy whose source still exists) does not."""

    def __init__(self, storage: Storage, moves: dict[str, str]):
        self.storage = storage
        world = snapshot(storage)
        self.expected: Counter = Counter(world.values())
        self.fixed = {k: c for k, c in world.items() if k not in moves}
        self.allowed: dict[str, set[str]] = {}
        for src, dst in moves.items():
            self.allowed.setdefault(world[src], set()).update(homes(src) | homes(dst))

    def delete(self, key: str) -> None:
        world = snapshot(self.storage)
        content = world[key]
        if Counter(world.values())[content] <= self.expected[content]:
            self.expected[content] -= 1
        self.fixed.pop(key, None)
        self.storage.delete(key)

    def add(self, key: str, data: bytes) -> None:
        self.storage.write(key, data)
        self.expected[sha(data)] += 1
        self.fixed[key] = sha(data)

    def replace(self, key: str, data: bytes) -> None:
        self.delete(key)
        self.add(key, data)

    def check(self) -> None:
        world = snapshot(self.storage)
        counts = Counter(world.values())
        want = +self.expected
        lost = {c: n - counts[c] for c, n in want.items() if counts[c] < n}
        extra = {c: counts[c] - want[c] for c in counts if counts[c] > want[c]}
        assert not lost and not extra, (
            f"lost: {[k for k, c in world.items() if c in lost] or len(lost)} contents; "
            f"duplicated: {[k for k, c in world.items() if c in extra]}")
        for key, content in self.fixed.items():
            assert world.get(key) == content, f"{key} was moved or changed, but no run wrote it"
        fixed_keys = set(self.fixed)
        for key, content in world.items():
            if key in fixed_keys or content not in self.allowed:
                continue
            assert key in self.allowed[content], f"{key} is not where the plan or an undo puts it"

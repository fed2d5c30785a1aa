"""Run locks: one run at a time on overlapping folders, across processes (and machines, for buckets).

A lock is a small JSON record naming its owner (token, run, host, boot, process), the area and folder prefix
(scope) it covers, and an expiry. Locks of one area live together in a registry: for a bucket the objects
under `.segregator/locks/` in the bucket itself; for local folders a folder on this machine
(SEGREGATOR_LOCK_DIR, else ~/.cache/ai-image-segregator/locks), since runs on `photos/` and `photos/a/`
open different roots. Two locks conflict when the area and folder of one contain the other's (`a/` and
`a/b/`, or the folders /p and /p/a; not `a/` and `c/`).

Taking a lock: create one's own record atomically with its content (a temp file hard-linked into place; a
conditional PUT), then read every other record; any live conflicting one (or any record that cannot be read:
unknown scope, so it counts as held) means withdrawing. Since each side writes before it reads, two runs
starting at the same instant cannot both proceed. A record is stale, and removed, only when it has expired or
its process on this very machine (same boot) is gone. The holder refreshes its record every ttl/4 and treats
the lock as lost (its run stops at the next step) when a refresh fails or finds the record changed, or when
half the ttl passed without a refresh (a process paused that long may have been taken over).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .storage import LocalStorage, Storage

REGISTRY = ".segregator/locks/"
DEFAULT_TTL = 600.0


class LockedError(BlockingIOError):
    """Another run holds (part of) the storage."""


def lock_ttl() -> float:
    try:
        return max(2.0, float(os.environ.get("SEGREGATOR_LOCK_TTL") or DEFAULT_TTL))
    except ValueError:
        return DEFAULT_TTL


def local_lock_dir() -> Path:
    configured = os.environ.get("SEGREGATOR_LOCK_DIR")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ai-image-segregator" / "locks"


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False


def overlaps(a: str, b: str) -> bool:
    """Scopes are folder prefixes ('' is everything): they conflict when one contains the other."""
    return a.startswith(b) or b.startswith(a)


def _reach(area: str, scope: str) -> str:
    """Where a lock reaches, as one path: the area (a folder's real path, or r2://host/bucket) and the
    folder prefix within it. Runs on /p/ (scope a/) and on /p/a/b/ overlap."""
    return area.rstrip("/") + "/" + scope


def conflicts(body: dict, area: str, scope: str) -> bool:
    return overlaps(_reach(body["area"], body["scope"]), _reach(area, scope))


@dataclass(frozen=True)
class LockRecord:
    name: str              # its file or object name in the registry
    body: dict | None      # None: unreadable (garbage, empty, not ours to read)

    @property
    def readable(self) -> bool:
        b = self.body
        return isinstance(b, dict) and isinstance(b.get("scope"), str) and isinstance(b.get("area"), str) \
            and isinstance(b.get("token"), str) and isinstance(b.get("expires"), (int, float))

    def stale(self) -> bool:
        if not self.readable:
            return False  # unreadable: held
        b = self.body
        if b["expires"] < time.time():
            return True
        same_boot = b.get("host") == socket.gethostname() and b.get("boot") == boot_id() and boot_id()
        return bool(same_boot) and isinstance(b.get("pid"), int) and not _alive(b["pid"])

    def describe(self) -> str:
        if not self.readable:
            return f"an unreadable lock record ({self.name})"
        b = self.body
        what = f"run {b['run']}" if b.get("run") else "a run"
        until = time.strftime("%H:%M:%S", time.localtime(b["expires"]))
        return (f"{what} (process {b.get('pid')} on {b.get('host')}) working on "
                f"'{b['scope'] or '/'}' until {until} unless it refreshes")


class _Registry:
    """Where an area's lock records live, with atomic create-with-content."""

    def create(self, name: str, data: bytes) -> None: ...
    def replace(self, name: str, data: bytes, expected: bytes) -> bool: ...
    def read(self, name: str) -> bytes | None: ...
    def names(self) -> list[str]: ...
    def remove(self, name: str) -> None: ...
    def where(self, name: str) -> str: ...


class _FolderRegistry(_Registry):
    def __init__(self, folder: Path):
        self.folder = folder

    def create(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".tmp-{name}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, self.folder / name)  # appears whole, and never over another record
        finally:
            tmp.unlink(missing_ok=True)

    def replace(self, name: str, data: bytes, expected: bytes) -> bool:
        if self.read(name) != expected:
            return False
        tmp = self.folder / f".tmp-{name}"
        tmp.write_bytes(data)
        os.replace(tmp, self.folder / name)
        return True

    def read(self, name: str) -> bytes | None:
        try:
            return (self.folder / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            return b""  # unreadable: counts as held

    def names(self) -> list[str]:
        try:
            return sorted(p.name for p in self.folder.iterdir() if not p.name.startswith(".tmp-"))
        except FileNotFoundError:
            return []

    def remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def where(self, name: str) -> str:
        return str(self.folder / name)


class _BucketRegistry(_Registry):
    def __init__(self, storage: Storage):
        self.storage = storage

    def create(self, name: str, data: bytes) -> None:
        self.storage.write(REGISTRY + name, data)  # a conditional PUT (If-None-Match: *): whole, never over one

    def replace(self, name: str, data: bytes, expected: bytes) -> bool:
        current = self.storage.observe(REGISTRY + name)
        if current is None or self.read(name) != expected:
            return False
        return self.storage.replace_if(REGISTRY + name, data, current.etag)

    def read(self, name: str) -> bytes | None:
        try:
            return self.storage.read(REGISTRY + name)
        except FileNotFoundError:
            return None

    def names(self) -> list[str]:
        return sorted(o.key[len(REGISTRY):] for o in self.storage.list(REGISTRY))

    def remove(self, name: str) -> None:
        self.storage.delete(REGISTRY + name)

    def where(self, name: str) -> str:
        return f"{self.storage.bucket}/{REGISTRY}{name}"


def registry_for(storage: Storage) -> _Registry:
    if isinstance(storage, LocalStorage):
        return _FolderRegistry(local_lock_dir())
    return _BucketRegistry(storage)


def _parse(data: bytes | None) -> dict | None:
    try:
        body = json.loads(data or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def records(storage: Storage, skip: str = "") -> list[LockRecord]:
    """Every lock record of this storage's registry (those of other areas included, on a shared registry)."""
    registry = registry_for(storage)
    out = []
    for name in registry.names():
        if name == skip:
            continue
        data = registry.read(name)
        if data is not None:
            out.append(LockRecord(name, _parse(data)))
    return out


def blocking(storage: Storage, scope: str, exclude: str = "") -> list[LockRecord]:
    """Records that would keep a run on `scope` of this storage from starting: live, overlapping ones of its
    area, and unreadable ones."""
    area = storage.lock_area()
    out = []
    for rec in records(storage):
        if rec.name == exclude:
            continue
        if not rec.readable:
            out.append(rec)
        elif conflicts(rec.body, area, scope) and not rec.stale():
            out.append(rec)
    return out


def clear(storage: Storage, scope: str) -> list[str]:
    """Remove the lock records covering scope, unreadable ones included (`python -m segregator unlock`);
    returns where they were. Only for when no run is working there."""
    registry = registry_for(storage)
    gone = []
    for rec in blocking(storage, scope):
        registry.remove(rec.name)
        gone.append(registry.where(rec.name))
    return gone


class RunLock:
    """`with RunLock(storage, scope, run):` holds the lock for `scope` (a folder prefix) of the storage;
    LockedError, naming the other run, when a live overlapping lock exists. `valid()` says whether the lock
    is still surely held; a run checks it before each step that changes storage."""

    def __init__(self, storage: Storage, scope: str, run: str = "", ttl: float | None = None):
        self.storage, self.scope, self.run = storage, scope, run
        self.ttl = ttl or lock_ttl()
        self.token = secrets.token_hex(8)
        self.name = f"{self.token}.lock"
        self.registry = registry_for(storage)
        self._body = b""
        self._created = time.time()
        self._held_until = 0.0           # time.monotonic() until which the lock is surely ours
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _make_body(self) -> bytes:
        return json.dumps({"token": self.token, "run": self.run, "area": self.storage.lock_area(), "scope": self.scope,
                           "host": socket.gethostname(), "boot": boot_id(), "pid": os.getpid(),
                           "created": self._created, "expires": time.time() + self.ttl}).encode()

    def acquire(self) -> None:
        import random

        for attempt in range(12):
            started = time.monotonic()
            self._created = time.time()
            self._body = self._make_body()
            self.registry.create(self.name, self._body)
            stale, live = [], []
            for rec in records(self.storage, skip=self.name):
                if not rec.readable:
                    live.append(rec)
                elif conflicts(rec.body, self.storage.lock_area(), self.scope):
                    (stale if rec.stale() else live).append(rec)
            if not live:
                for rec in stale:
                    self.registry.remove(rec.name)
                self._held_until = started + self.ttl / 2
                return
            self.registry.remove(self.name)
            just_begun = all(rec.readable and time.time() - float(rec.body.get("created") or 0) < 2 for rec in live)
            if just_begun and attempt < 11:
                time.sleep(random.uniform(0.02, 0.3))  # another run began this very moment: one of us goes on
                continue
            raise LockedError(self._refusal(live))
        raise LockedError(self._refusal(blocking(self.storage, self.scope)))

    def _refusal(self, live: list[LockRecord]) -> str:
        if not live:
            return "could not take the run lock; try again"
        rec = live[0]
        if not rec.readable:
            return (f"{rec.describe()} at {self.registry.where(rec.name)} blocks every run here: if no run is working "
                    f"on this storage, remove it with `python -m segregator unlock SRC`")
        return (f"another run is working on this storage: {rec.describe()}; try again when it has finished "
                f"(`python -m segregator unlock SRC` removes a lock whose run is known to be gone)")

    def valid(self) -> bool:
        return self._lost is None and time.monotonic() < self._held_until

    @property
    def lost_reason(self) -> str:
        return self._lost or "the run lock was not refreshed in time (the process was paused or the storage unreachable)"

    def _refresh_once(self) -> None:
        started = time.monotonic()
        if started >= self._held_until:
            self._lost = self.lost_reason
            return
        body = self._make_body()
        try:
            ok = self.registry.replace(self.name, body, self._body)
        except OSError:
            return  # try again at the next refresh; the lease runs out if it keeps failing
        if not ok:
            self._lost = "the run lock was removed or changed by someone else"
            return
        self._body = body
        self._held_until = started + self.ttl / 2

    def _refresher(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            self._refresh_once()
            if self._lost:
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        try:
            if self.registry.read(self.name) == self._body:
                self.registry.remove(self.name)
        except OSError:
            pass  # it expires

    def __enter__(self) -> "RunLock":
        self.acquire()
        self._thread = threading.Thread(target=self._refresher, daemon=True, name="run-lock-refresh")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

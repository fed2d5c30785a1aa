"""One run at a time per folder or bucket: a lock object with its owner and an expiry, created without overwrite."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

from .storage import Storage

LOCK_KEY = ".segregator.lock"


class LockedError(BlockingIOError):
    """Another run holds the storage."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class RunLock:
    """`with RunLock(storage, run_id):` holds `.segregator.lock` at the top of the storage. The lock is
    created only if absent (a conditional write on buckets, O_EXCL on disk), refreshed while the run lasts,
    and taken over when it has expired, when its owner process on this host is gone, or by a resume of the
    same run."""

    def __init__(self, storage: Storage, run_id: str, ttl: float = 600.0):
        self.storage, self.run_id, self.ttl = storage, run_id, ttl
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps({"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                           "expires": time.time() + self.ttl}).encode()

    def _current(self) -> dict | None:
        try:
            return json.loads(self.storage.read(LOCK_KEY))
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            return {"run_id": "?", "expires": 0}  # unreadable: treat as expired

    def _stale(self, lock: dict) -> bool:
        if lock.get("run_id") == self.run_id:
            return True
        if lock.get("expires", 0) < time.time():
            return True
        return lock.get("host") == socket.gethostname() and not _alive(int(lock.get("pid", 0)))

    def acquire(self) -> None:
        for _ in range(3):
            try:
                self.storage.write(LOCK_KEY, self._body())
                return
            except FileExistsError:
                lock = self._current()
                if lock is None:
                    continue
                if not self._stale(lock):
                    until = time.strftime("%H:%M:%S", time.localtime(lock.get("expires", 0)))
                    raise LockedError(f"another run ({lock.get('run_id')}, process {lock.get('pid')} on "
                                      f"{lock.get('host')}) is working on this storage until {until}; "
                                      f"try again when it has finished") from None
                self.storage.delete(LOCK_KEY)
        raise LockedError("could not take the run lock")

    def _refresh(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                lock = self._current()
                if lock and lock.get("run_id") == self.run_id:
                    self.storage.delete(LOCK_KEY)
                    self.storage.write(LOCK_KEY, self._body())
            except OSError:
                pass  # the next refresh tries again; the run itself reports storage errors

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        lock = self._current()
        if lock and lock.get("run_id") == self.run_id:
            self.storage.delete(LOCK_KEY)

    def __enter__(self) -> "RunLock":
        self.acquire()
        self._thread = threading.Thread(target=self._refresh, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

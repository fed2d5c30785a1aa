"""The JSON session log: one event per operation, appended to a file that is valid JSON after every write."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_LOG = "segregator_session_log.json"


def default_log_path() -> Path:
    """SEGREGATOR_LOG from the environment, else segregator_session_log.json in the working folder."""
    return Path(os.environ.get("SEGREGATOR_LOG") or DEFAULT_LOG)


def state_dir() -> Path:
    """Where runs keep their journal and this installation's plan key: SEGREGATOR_JOURNAL_DIR, else
    segregator_journals/ next to the session log."""
    configured = os.environ.get("SEGREGATOR_JOURNAL_DIR")
    if configured:
        return Path(configured)
    return default_log_path().resolve().parent / "segregator_journals"


def make_event(
    event_type: str,
    bucket: str,
    source_prefix: str,
    output_prefix: str,
    moved_count: int,
    unchanged_count: int,
    extra: dict[str, Any] | None = None,
    folder: str | None = None,
    **results: int,
) -> dict[str, Any]:
    """An event in the spec's shape, with a UTC timestamp and the user it was done for (segregator.auth); a
    local folder's events also name the folder (`bucket` is empty for them)."""
    from .auth import current_user

    return {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "user": current_user(),
        "event_type": event_type,
        "bucket": bucket,
        **({"folder": folder} if folder else {}),
        "source_prefix": source_prefix,
        "output_prefix": output_prefix,
        "results": {"moved_count": moved_count, "unchanged_count": unchanged_count, **results},
        "extra": extra or {},
    }


class SessionLog:
    """A JSON array of events in one file. Appends are atomic (temp file + rename) and serialised
    between processes with a lock file, so the file is whole JSON whenever anyone reads it."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_log_path()

    def read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        if not text.strip():
            return []
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError(f"{self.path} is not a JSON array of events")
        return data

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    events = self.read()
                except (ValueError, json.JSONDecodeError):
                    # Never drop what was there: keep the unreadable file aside and start a new log.
                    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
                    os.replace(self.path, self.path.with_name(f"{self.path.name}.corrupt-{stamp}"))
                    events = []
                events.append(event)
                self._write(events)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return event

    def _write(self, events: list[dict[str, Any]]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(events, fh, indent=2, ensure_ascii=False)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def export(self) -> bytes:
        """The log file's content for a download (an empty array when there is none yet)."""
        return (json.dumps(self.read(), indent=2, ensure_ascii=False) + "\n").encode()

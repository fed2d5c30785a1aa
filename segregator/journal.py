"""Run journals: one JSON-lines file per executed plan, fsync'd line by line, from which a killed run is resumed
and a finished run is undone.

Lines, in order of writing:
  {"type": "run", "run_id", "started", "copy", "plan": {...}}           the whole plan, first
  {"type": "intent", "i", "target"}                                    before each copy attempt
  {"type": "copied", "i", "target", "size", "etag"}                    after the copy is verified
  {"type": "done", "i", "status", "target", "error"}                   after the source is deleted (moves)
  {"type": "end", "summary"}                                           when every item has a result
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .session_log import default_log_path


def journal_dir() -> Path:
    """SEGREGATOR_JOURNAL_DIR, else segregator_journals/ next to the session log."""
    configured = os.environ.get("SEGREGATOR_JOURNAL_DIR")
    if configured:
        return Path(configured)
    return default_log_path().resolve().parent / "segregator_journals"


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class JournalWriter:
    """Appends lines, each durable (fsync'd) before write() returns; safe to call from several threads.
    Concurrent writers share fsyncs (group commit): one fsync covers every line written before it began."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()       # guards the file position and the counters
        self._sync_lock = threading.Lock()  # one fsync at a time
        self._written = 0                   # lines handed to the OS
        self._synced = 0                    # lines known durable

    def write(self, record: dict[str, Any]) -> None:
        self.write_many([record])

    def write_many(self, records: list[dict[str, Any]]) -> None:
        """Several lines, durable together (one fsync)."""
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        with self._lock:
            self._fh.write(text)
            self._fh.flush()
            self._written += 1
            mine = self._written
        with self._sync_lock:
            if self._synced >= mine:
                return  # another thread's fsync, begun after this line was flushed, made it durable
            with self._lock:
                upto = self._written
            os.fsync(self._fh.fileno())
            self._synced = upto

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    # The records the executor writes:
    def intent(self, i: int, target: str) -> None:
        self.write({"type": "intent", "i": i, "target": target})

    def copied(self, i: int, target: str, size: int, etag: str) -> None:
        self.write({"type": "copied", "i": i, "target": target, "size": size, "etag": etag})

    def done(self, i: int, status: str, target: str | None, error: str | None = None) -> None:
        self.write(self.done_record(i, status, target, error))

    @staticmethod
    def done_record(i: int, status: str, target: str | None, error: str | None = None) -> dict[str, Any]:
        return {"type": "done", "i": i, "status": status, "target": target, "error": error}


@dataclass
class ItemState:
    target: str | None = None         # the last target an intent named
    copied: dict | None = None        # the 'copied' record
    done: dict | None = None          # the last 'done' record


@dataclass
class JournalState:
    path: Path
    run_id: str
    plan: dict[str, Any]
    copy: bool
    started: str
    items: dict[int, ItemState] = field(default_factory=dict)
    ended: bool = False
    kind: str = "run"                 # "run", "resume" or "undo" (what wrote the header)
    undo_of: str | None = None

    @property
    def finished_ok(self) -> bool:
        return self.ended and all(s.done and s.done["status"] != "failed" for s in self.items.values()) \
            and len(self.items) == len(self.plan.get("items", []))


def read_journal(path: Path) -> JournalState:
    """The state a journal records. A torn last line (a crash mid-write) is ignored."""
    header = None
    items: dict[int, ItemState] = {}
    ended = False
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # torn write at the crash point
            kind = rec.get("type")
            if kind == "run":
                header = rec
            elif kind in ("intent", "copied", "done"):
                st = items.setdefault(int(rec["i"]), ItemState())
                if kind == "intent":
                    st.target = rec["target"]
                elif kind == "copied":
                    st.copied = rec
                    st.target = rec["target"]
                else:
                    st.done = rec
            elif kind == "end":
                ended = True
            elif kind == "reopen":
                ended = False
    if header is None:
        raise ValueError(f"{path} is not a run journal (no header)")
    return JournalState(path, header["run_id"], header["plan"], bool(header.get("copy")), header.get("started", ""),
                        items, ended, header.get("kind", "run"), header.get("undo_of"))


def list_journals() -> list[Path]:
    folder = journal_dir()
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def latest(unfinished: bool) -> Path | None:
    """The most recent journal whose run is unfinished (for resume) or finished (for undo)."""
    for path in reversed(list_journals()):
        try:
            state = read_journal(path)
        except (OSError, ValueError):
            continue
        if unfinished and not state.finished_ok:
            return path
        if not unfinished and state.ended and state.kind != "undo" and not _undone(state.run_id):
            return path
    return None


def _undone(run_id: str) -> bool:
    for path in list_journals():
        try:
            with open(path, encoding="utf-8") as fh:
                head = json.loads(fh.readline() or "{}")
        except (OSError, json.JSONDecodeError):
            continue
        if head.get("undo_of") == run_id:
            return True
    return False

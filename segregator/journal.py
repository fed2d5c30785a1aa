"""The run journal: every executed plan, its items and each step of each move, in one SQLite file
(`runs.sqlite` in the state folder: SEGREGATOR_JOURNAL_DIR, else segregator_journals/ beside the session log).

A run is a row of `runs` (its id is a monotonic counter: 'the latest run' is the highest id); each move or
copy of its plan is a row of `items` that goes through these states, each committed (fsync'd) before the
step it announces is taken, a batch of items per commit:
  pending            nothing done yet (or a retryable failure, with its message)
  intent             `target`, `method` and `extra` recorded: the copy may be made now
  placed             the copy exists and was verified (`placed`)
  moved | copied     finished; `failed` (final, with the reason) or `kept_both` (source and its copy both stay)
Only the process holding the run (its `owner`, the lock token) may commit: a process that lost its lock
finds its commits refused (LostOwnership) and stops, so its late records never count.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from .session_log import state_dir
from .storage import ObjectInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,              -- 'run' or 'undo'
  undo_of INTEGER,                 -- the run an undo puts back
  plan_kind TEXT NOT NULL,
  storage TEXT NOT NULL,           -- the storage record (JSON)
  area TEXT NOT NULL,              -- storage.lock_area(): which folder or bucket
  scope TEXT NOT NULL,             -- the folder prefix the run touches
  copy INTEGER NOT NULL,
  plan TEXT NOT NULL,              -- the plan without its items (JSON)
  fresh TEXT NOT NULL,             -- destination folders that were empty when the run began (JSON list)
  total INTEGER NOT NULL,          -- items in the plan
  kept INTEGER NOT NULL,           -- of which stay where they are
  state TEXT NOT NULL,             -- running, done or stopped
  owner TEXT NOT NULL,             -- lock token of the process working on it
  host TEXT, pid INTEGER,
  started TEXT NOT NULL, updated TEXT, finished TEXT,
  summary TEXT,
  note TEXT                        -- why it stopped
);
CREATE TABLE IF NOT EXISTS items (
  run INTEGER NOT NULL,
  n INTEGER NOT NULL,              -- position in the plan
  source TEXT NOT NULL,
  destination TEXT NOT NULL,
  copy INTEGER NOT NULL,
  src_size INTEGER, src_version TEXT,   -- the source as the plan saw it
  seen TEXT,                       -- the source as observed before the intent (JSON)
  target TEXT,                     -- the name of the current intent (reserved for this item in the run)
  method TEXT, extra TEXT,         -- how the copy is made, and what its intent recorded (JSON)
  placed TEXT,                     -- the verified copy (JSON)
  status TEXT,                     -- NULL while pending; moved, copied, failed, kept_both
  message TEXT,
  PRIMARY KEY (run, n)
);
CREATE UNIQUE INDEX IF NOT EXISTS items_target ON items(run, target) WHERE target IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS items_source ON items(run, source);
CREATE INDEX IF NOT EXISTS items_open ON items(run, status, n);
"""

FINAL = ("moved", "copied", "failed", "kept_both")


class LostOwnership(RuntimeError):
    """Another process has taken this run over: this one must stop and write nothing more."""


def journal_path() -> Path:
    return state_dir() / "runs.sqlite"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def info_to_json(info: ObjectInfo | None) -> str | None:
    if info is None:
        return None
    return json.dumps([info.key, info.size, info.mtime, info.etag, info.version])


def info_from_json(text: str | None) -> ObjectInfo | None:
    if not text:
        return None
    key, size, mtime, etag, version = json.loads(text)
    return ObjectInfo(key, size, mtime, etag, version)


@dataclass
class RunInfo:
    id: int
    kind: str
    undo_of: int | None
    plan_kind: str
    storage: dict[str, str]
    area: str
    scope: str
    copy: bool
    plan: dict[str, Any]
    fresh: list[str]
    total: int
    kept: int
    state: str
    owner: str
    host: str
    pid: int
    started: str
    finished: str | None
    summary: dict[str, int] | None
    note: str | None

    @property
    def run_id(self) -> str:
        return str(self.id)

    @property
    def unfinished(self) -> bool:
        return self.state != "done"


@dataclass
class ItemRow:
    n: int
    source: str
    destination: str
    copy: bool
    src_size: int | None
    src_version: str | None
    seen: ObjectInfo | None
    target: str | None
    method: str | None
    extra: dict[str, Any]
    placed: ObjectInfo | None
    status: str | None
    message: str | None


_RUN_COLUMNS = ("id, kind, undo_of, plan_kind, storage, area, scope, copy, plan, fresh, total, kept, state, owner, "
                "host, pid, started, finished, summary, note")
_ITEM_COLUMNS = "n, source, destination, copy, src_size, src_version, seen, target, method, extra, placed, status, message"


def _run(row) -> RunInfo:
    (id_, kind, undo_of, plan_kind, storage, area, scope, copy, plan, fresh, total, kept, state, owner, host, pid,
     started, finished, summary, note) = row
    return RunInfo(id_, kind, undo_of, plan_kind, json.loads(storage), area, scope, bool(copy), json.loads(plan),
                   json.loads(fresh), total, kept, state, owner, host or "", pid or 0, started, finished,
                   json.loads(summary) if summary else None, note)


def _item(row) -> ItemRow:
    n, source, destination, copy, size, version, seen, target, method, extra, placed, status, message = row
    return ItemRow(n, source, destination, bool(copy), size, version, info_from_json(seen), target, method,
                   json.loads(extra) if extra else {}, info_from_json(placed), status, message)


def open_shared_db(path: Path, schema: str, timeout: float = 30, synchronous: str | None = None) -> sqlite3.Connection:
    """A SQLite file that several processes use at once (autocommit, WAL, a busy timeout), its schema made.
    Two processes opening a new file at the same instant can find it locked while one switches it to WAL,
    which SQLite does not wait for: that is tried again for a while."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    for attempt in range(100):
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            if synchronous:
                db.execute(f"PRAGMA synchronous={synchronous}")
            db.executescript(schema)
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                db.close()
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


class RunStore:
    """The journal file. Safe to use from several processes at once (SQLite WAL, a busy timeout)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else journal_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # synchronous=FULL: each commit is on disk before the step it announces
        self._db = open_shared_db(self.path, SCHEMA, timeout=60, synchronous="FULL")
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _write(self, owner_check: tuple[int, str] | None, statements: Sequence[tuple[str, Sequence]]) -> None:
        """One durable transaction; with owner_check (run, owner), refused unless that owner still holds the run."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if owner_check is not None:
                    row = db.execute("SELECT owner FROM runs WHERE id=?", (owner_check[0],)).fetchone()
                    if row is None or row[0] != owner_check[1]:
                        raise LostOwnership(f"run {owner_check[0]} was taken over by another process")
                for sql, params in statements:
                    if params and isinstance(params[0], (list, tuple)):
                        db.executemany(sql, params)
                    else:
                        db.execute(sql, params)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- writing -------------------------------------------------------------------------------------------
    def create(self, plan, items, storage_record: dict, area: str, scope: str, copy: bool, owner: str,
               kind: str = "run", undo_of: int | None = None, check=None, before_commit=None) -> tuple[int, set[str]]:
        """A new run with the moves among `items` (a stream: flat memory), all in one transaction: each item
        passes `check(item)` first, and `before_commit()` runs at the end; any ValueError (or a source listed
        twice) rolls everything back, so a refused plan leaves nothing. Returns the run's id and the folders
        its moves go to."""
        header = {k: v for k, v in plan.to_dict().items() if k not in ("items", "summary")}
        folders: set[str] = set()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                run_id = db.execute(
                    "INSERT INTO runs (kind, undo_of, plan_kind, storage, area, scope, copy, plan, fresh, total, kept, "
                    "state, owner, host, pid, started, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (kind, undo_of, plan.kind, json.dumps(storage_record), area, scope, int(copy), json.dumps(header),
                     "[]", 0, 0, "running", owner, socket.gethostname(), os.getpid(), _now(), _now())).lastrowid
                total = kept = 0
                rows: list[tuple] = []
                for n, item in enumerate(items):
                    if check is not None:
                        check(item)
                    total += 1
                    if item.action == "keep" or item.source == item.destination:
                        kept += 1
                        continue
                    folders.add(item.destination.rsplit("/", 1)[0] + "/" if "/" in item.destination else "")
                    rows.append((run_id, n, item.source, item.destination, int(copy or item.action == "copy"),
                                 item.source_size, item.source_version))
                    if len(rows) >= 5000:
                        self._insert(rows)
                if rows:
                    self._insert(rows)
                db.execute("UPDATE runs SET total=?, kept=? WHERE id=?", (total, kept, run_id))
                if before_commit is not None:
                    before_commit()
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return run_id, folders

    def _insert(self, rows: list[tuple]) -> None:
        try:
            self._db.executemany("INSERT INTO items (run, n, source, destination, copy, src_size, src_version) "
                                 "VALUES (?,?,?,?,?,?,?)", rows)
        except sqlite3.IntegrityError:
            seen = set()
            for row in rows:
                if row[2] in seen or self._db.execute("SELECT 1 FROM items WHERE run=? AND source=?",
                                                      (row[0], row[2])).fetchone():
                    raise ValueError(f"plan refused: {row[2]!r} is listed twice") from None
                seen.add(row[2])
            raise
        rows.clear()

    def set_fresh(self, run_id: int, owner: str, fresh) -> None:
        self._write((run_id, owner), [("UPDATE runs SET fresh=? WHERE id=?", (json.dumps(sorted(fresh)), run_id))])

    def take_over(self, run_id: int, owner: str) -> None:
        """Make `owner` the only process that may write to the run (after it took the storage lock)."""
        self._write(None, [("UPDATE runs SET owner=?, host=?, pid=?, state='running', updated=? WHERE id=?",
                            (owner, socket.gethostname(), os.getpid(), _now(), run_id))])

    def commit(self, run_id: int, owner: str, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Item changes, durable together; LostOwnership when the run is no longer this owner's."""
        if not updates:
            return
        statements: list[tuple[str, Sequence]] = []
        by_columns: dict[tuple[str, ...], list] = {}
        for n, fields in updates:
            cols = tuple(sorted(fields))
            by_columns.setdefault(cols, []).append(tuple(_column(c, fields[c]) for c in cols) + (run_id, n))
        for cols, rows in by_columns.items():
            statements.append((f"UPDATE items SET {', '.join(c + '=?' for c in cols)} WHERE run=? AND n=?", rows))
        statements.append(("UPDATE runs SET updated=? WHERE id=?", (_now(), run_id)))
        self._write((run_id, owner), statements)

    def finish(self, run_id: int, owner: str, state: str, summary: dict[str, int], note: str | None = None) -> None:
        self._write((run_id, owner), [("UPDATE runs SET state=?, summary=?, note=?, finished=?, updated=? WHERE id=?",
                                       (state, json.dumps(summary), note, _now() if state == "done" else None, _now(),
                                        run_id))])

    # -- reading -------------------------------------------------------------------------------------------
    def get(self, run_id: int) -> RunInfo:
        row = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise ValueError(f"no run {run_id} in {self.path}")
        return _run(row)

    def runs(self, area: str | None = None, limit: int = 50) -> list[RunInfo]:
        """Runs, newest first (those of one storage area when given)."""
        if area is None:
            rows = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE area=? ORDER BY id DESC LIMIT ?", (area, limit))
        return [_run(r) for r in rows.fetchall()]

    def unfinished_runs(self) -> list[RunInfo]:
        """Every run not done (stopped, interrupted or still running), newest first."""
        rows = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE state != 'done' ORDER BY id DESC")
        return [_run(r) for r in rows.fetchall()]

    def undo_of(self, run_id: int) -> RunInfo | None:
        """The undo run of a run, if one was started."""
        row = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE kind='undo' AND undo_of=? ORDER BY id DESC",
                               (run_id,)).fetchone()
        return _run(row) if row else None

    def open_items(self, run_id: int, after: int, limit: int) -> list[ItemRow]:
        """Items not finished yet, in plan order, after position `after`."""
        rows = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE run=? AND status IS NULL AND n>? ORDER BY n "
                                f"LIMIT ?", (run_id, after, limit)).fetchall()
        return [_item(r) for r in rows]

    def items(self, run_id: int, batch: int = 5000) -> Iterator[ItemRow]:
        """Every item of a run in plan order, read a batch at a time (flat memory for large runs)."""
        after = -1
        while True:
            rows = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE run=? AND n>? ORDER BY n LIMIT ?",
                                    (run_id, after, batch)).fetchall()
            if not rows:
                return
            for r in rows:
                yield _item(r)
            after = rows[-1][0]

    def unfinished_items(self, run_id: int, limit: int) -> list[ItemRow]:
        """The first items that did not end moved or copied (failed, kept in place, or still pending)."""
        rows = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE run=? AND (status IS NULL OR status NOT IN "
                                f"('moved', 'copied')) ORDER BY n LIMIT ?", (run_id, limit)).fetchall()
        return [_item(r) for r in rows]

    def in_flight(self, run_id: int) -> int:
        """Items caught between their intent and their outcome (an interruption, not a clean stop)."""
        return self._db.execute("SELECT COUNT(*) FROM items WHERE run=? AND status IS NULL AND "
                                "(target IS NOT NULL OR placed IS NOT NULL)", (run_id,)).fetchone()[0]

    def has_copies(self, run_id: int) -> bool:
        """Whether the run left copies beside sources that stay (copy mode, or a source it could not delete)."""
        return self._db.execute("SELECT 1 FROM items WHERE run=? AND placed IS NOT NULL AND status IN ('copied', "
                                "'failed') LIMIT 1", (run_id,)).fetchone() is not None

    def reserved(self, run_id: int, names: Sequence[str]) -> set[str]:
        """Those of the names that are some item's target in this run."""
        out: set[str] = set()
        names = list(names)
        for start in range(0, len(names), 500):
            chunk = names[start:start + 500]
            rows = self._db.execute(f"SELECT target FROM items WHERE run=? AND target IN ({','.join('?' * len(chunk))})",
                                    (run_id, *chunk)).fetchall()
            out.update(r[0] for r in rows)
        return out

    def counts(self, run_id: int) -> dict[str, int]:
        rows = self._db.execute("SELECT COALESCE(status, 'pending'), COUNT(*) FROM items WHERE run=? GROUP BY 1",
                                (run_id,)).fetchall()
        return {status: count for status, count in rows}

    def source_folders(self, run_id: int) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT rtrim(source, replace(source, '/', '')) FROM items WHERE run=?",
                                (run_id,))
        return sorted(r[0] for r in rows.fetchall())

    def target_folders(self, run_id: int) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT rtrim(target, replace(target, '/', '')) FROM items WHERE run=? AND "
                                "target IS NOT NULL", (run_id,))
        return sorted(r[0] for r in rows.fetchall())


def _column(name: str, value: Any) -> Any:
    if name in ("seen", "placed"):
        return info_to_json(value)
    if name == "extra":
        return json.dumps(value) if value else None
    return value

"""Jobs that outlive the page: a store (SQLite, `jobs.sqlite` beside the run journal) of every job with its
state, progress, parameters, result and error, and a runner that works them off in threads of the process that
owns it (the app's server), never inside a Streamlit script run. The CLI records the jobs it runs itself in the
same store, so every job shows in one list (`python -m segregator jobs`, the 📋 Jobs page).

States: queued -> running (<-> paused) -> done | failed | cancelled. A job whose process is gone (the server
was stopped or killed) reads as `interrupted`; resuming it queues it again: an analysis starts over and finds
its finished images in the analysis cache, a move job resumes its run from the journal.

A job's code reports progress through its JobContext; that is also where a pause waits and a cancel stops it
(between two images, or between two batches of moves: a cancelled run is consistent, resumable and undoable).
Why not a task library: huey or RQ bring a broker and worker processes of their own; here a job must share the
server's analysis pool and report to SQLite the app already reads, and the standard library does that in a
couple of hundred lines.
"""

from __future__ import annotations

import concurrent.futures.process  # noqa: F401 - its exit hook is registered before ours (see _EXITING)
import json
import os
import socket
import sqlite3
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import auth, faults
from ..executor import StopRequested
from ..journal import open_shared_db
from ..locking import _alive, boot_id
from ..session_log import state_dir

# Set when this process begins to exit (its main thread has ended: a server stopped by SIGTERM, as a restart
# does). From then on the standard library refuses new work ("cannot schedule new futures after shutdown"), so a
# job that fails now failed because the process is going: it is left running, and reads as interrupted (and
# can be resumed) once the process is gone. Registered after concurrent.futures' own hook (imported above), so it
# runs first: the hooks run in reverse order.
_EXITING = threading.Event()
threading._register_atexit(_EXITING.set)  # type: ignore[attr-defined]

ACTIVE = ("queued", "running", "paused")
MOVE_KINDS = ("apply", "resume", "undo", "empty_trash")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  label TEXT NOT NULL,
  source TEXT NOT NULL,            -- what it works on: a folder path or r2://bucket/prefix
  params TEXT NOT NULL,            -- JSON
  state TEXT NOT NULL,
  phase TEXT, done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,
  rate REAL, eta REAL,
  owner TEXT NOT NULL,             -- host, boot and pid of the process that runs it
  request TEXT,                    -- 'pause' or 'cancel', asked by anyone
  run_id INTEGER,                  -- the run a move job works on
  result TEXT, error TEXT,
  created REAL NOT NULL, started REAL, updated REAL, finished REAL,
  user TEXT                        -- who asked for it (segregator.auth: an e-mail, anonymous, local:<name>)
);
CREATE INDEX IF NOT EXISTS jobs_source ON jobs(source, kind, id);
"""


def jobs_path() -> Path:
    return state_dir() / "jobs.sqlite"


def _me() -> str:
    return json.dumps([socket.gethostname(), boot_id(), os.getpid()])


def _owner_alive(owner: str) -> bool:
    try:
        host, boot, pid = json.loads(owner)
    except (ValueError, TypeError):
        return False
    if host != socket.gethostname():
        return True  # another machine's: cannot tell, assume it runs
    return boot == boot_id() and _alive(int(pid))


@dataclass
class Job:
    id: int
    kind: str
    label: str
    source: str
    params: dict
    state: str                      # as stored; see `status` for what it is now
    phase: str | None
    done: int
    total: int
    rate: float | None
    eta: float | None
    owner: str
    request: str | None
    run_id: int | None
    result: dict | None
    error: str | None
    created: float
    started: float | None
    updated: float | None
    finished: float | None
    user: str | None = None

    @property
    def status(self) -> str:
        """The state, with a job whose process is gone read as interrupted."""
        if self.state in ACTIVE and not _owner_alive(self.owner):
            return "interrupted"
        return self.state

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def progress_text(self) -> str:
        from ..progress import format_seconds

        what = self.phase or self.kind
        if not self.total:
            return f"{what} {self.done:,}" if self.done else what
        eta = "" if self.eta is None or self.status != "running" else f" · ETA {format_seconds(self.eta)}"
        rate = "" if not self.rate else f" · {self.rate:,.1f}/s"
        return f"{what} {self.done:,}/{self.total:,}{rate}{eta}"


_COLUMNS = ("id, kind, label, source, params, state, phase, done, total, rate, eta, owner, request, run_id, result, "
            "error, created, started, updated, finished, user")


def _job(row) -> Job:
    values = list(row)
    values[4] = json.loads(values[4])
    values[14] = json.loads(values[14]) if values[14] else None
    return Job(*values)


class JobStore:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else jobs_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = open_shared_db(self.path, SCHEMA)
        self._lock = threading.Lock()
        if "user" not in {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}:
            try:  # a store made before jobs recorded their user
                self._db.execute("ALTER TABLE jobs ADD COLUMN user TEXT")
            except sqlite3.OperationalError as exc:  # another process added it just now
                if "duplicate column" not in str(exc):
                    raise

    def _exec(self, sql: str, args=()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def add(self, kind: str, label: str, source: str, params: dict, state: str = "queued",
            user: str | None = None) -> int:
        now = time.time()
        return self._exec("INSERT INTO jobs (kind, label, source, params, state, owner, created, updated, user) "
                          "VALUES (?,?,?,?,?,?,?,?,?)", (kind, label, source, json.dumps(params), state, _me(), now,
                                                         now, user or auth.current_user())).lastrowid

    def get(self, job_id: int) -> Job:
        row = self._exec(f"SELECT {_COLUMNS} FROM jobs WHERE id=?", (int(job_id),)).fetchone()
        if row is None:
            raise ValueError(f"no job {job_id}")
        return _job(row)

    def list(self, limit: int = 100, source: str | None = None, kinds=None, states=None) -> list[Job]:
        sql, args = f"SELECT {_COLUMNS} FROM jobs", []
        where = []
        if source is not None:
            where.append("source = ?")
            args.append(source)
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if states:  # as stored (see Job.status)
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._exec(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_job(r) for r in rows]

    def update(self, job_id: int, **fields) -> None:
        if "result" in fields and fields["result"] is not None:
            fields["result"] = json.dumps(fields["result"])
        fields["updated"] = time.time()
        cols = ", ".join(f"{k}=?" for k in fields)
        self._exec(f"UPDATE jobs SET {cols} WHERE id=?", (*fields.values(), int(job_id)))

    def request(self, job_id: int, what: str | None) -> Job:
        """Ask a job to pause, to go on ('resume' of a paused job) or to cancel; a queued job is cancelled at
        once. Works across processes: the job's own process acts on it at its next step."""
        job = self.get(job_id)
        if what == "cancel" and job.status == "queued":
            self.update(job_id, state="cancelled", finished=time.time(), request=None)
        elif what in ("pause", "cancel") and job.status in ("running", "paused"):
            self.update(job_id, request=what)
        elif what == "resume" and job.status == "paused":
            self.update(job_id, request=None)
        else:
            done = {"pause": "paused", "cancel": "cancelled", "resume": "resumed"}.get(what, what)
            raise ValueError(f"job {job_id} is {job.status}: it cannot be {done} now" if what else "nothing to do")
        return self.get(job_id)

    def requeue(self, job_id: int) -> Job:
        """An interrupted (or failed) job queued again, for this process to run."""
        job = self.get(job_id)
        if job.status not in ("interrupted", "failed"):
            raise ValueError(f"job {job_id} is {job.status}: only an interrupted or failed job is resumed")
        self.update(job_id, state="queued", owner=_me(), request=None, error=None, finished=None)
        return self.get(job_id)

    def close(self) -> None:
        self._db.close()


class JobContext:
    """What a running job reports to: progress (written at most twice a second), its run, and the place
    where a pause waits and a cancel stops the job (StopRequested)."""

    def __init__(self, store: JobStore, job_id: int, echo: Callable[[int, int], None] | None = None):
        self.store, self.job_id, self.echo = store, job_id, echo
        self.phase: str | None = None
        self._start = time.monotonic()
        self._last = 0.0
        self._phase_start = (0, time.monotonic())

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self._phase_start = (0, time.monotonic())
        self._last = 0.0  # the phase's first count is written at once
        self.store.update(self.job_id, phase=phase, done=0, total=0, rate=None, eta=None)

    def set_run(self, run_id: int) -> None:
        self.store.update(self.job_id, run_id=run_id)

    def __call__(self, done: int, total: int) -> None:
        faults.hit("job-progress")
        if self.echo:
            self.echo(done, total)
        now = time.monotonic()
        if now - self._last < 0.5 and done < total:
            return
        self._last = now
        elapsed = now - self._phase_start[1]
        rate = done / elapsed if elapsed > 0.2 and done else None
        eta = (total - done) / rate if rate and total else None
        self.store.update(self.job_id, done=done, total=total, rate=rate, eta=eta)
        self.checkpoint()

    def checkpoint(self) -> None:
        """Where the job may be paused (waits here) or cancelled (StopRequested)."""
        job = self.store.get(self.job_id)
        if job.request == "cancel":
            raise StopRequested("cancelled by the user")
        if job.request == "pause":
            self.store.update(self.job_id, state="paused", eta=None)  # no time left is known while it waits
            paused = time.monotonic()
            while True:
                time.sleep(0.3)
                job = self.store.get(self.job_id)
                if job.request == "cancel":
                    raise StopRequested("cancelled by the user")
                if job.request != "pause":
                    # the pause is not work time: the rate (and so the ETA) counts only the time spent working
                    start_done, start = self._phase_start
                    self._phase_start = (start_done, start + time.monotonic() - paused)
                    self.store.update(self.job_id, state="running")
                    return


JobFunction = Callable[[JobContext, dict], dict]
KINDS: dict[str, JobFunction] = {}


def job_kind(name: str):
    """Register a job function: fn(ctx, params) -> result (JSON-able)."""
    def register(fn: JobFunction) -> JobFunction:
        KINDS[name] = fn
        return fn
    return register


def run_job(store: JobStore, job_id: int, echo=None) -> Job:
    """Run one job to its end in this thread: the state, result or error go to the store."""
    from .kinds import load_kinds

    load_kinds()
    job = store.get(job_id)
    try:  # checked again here, with the roles as they are now: a job put in the store by any other way than
        if not job.user:  # submit, or whose user lost the role since, does not run; nor one with no user
            raise auth.NotAllowed("this job has no recorded user (it was not queued through the app or the CLI)")
        auth.check_job(job.kind, job.user, job.source, job.params)
    except auth.NotAllowed as exc:
        store.update(job_id, state="failed", finished=time.time(), error=f"Refused: {exc}", request=None)
        return store.get(job_id)
    store.update(job_id, state="running", owner=_me(), started=job.started or time.time(), request=None)
    ctx = JobContext(store, job_id, echo)
    try:
        with auth.acting(job.user):
            result = KINDS[job.kind](ctx, job.params)
    except StopRequested as exc:
        store.update(job_id, state="cancelled", finished=time.time(), error=str(exc), request=None)
    except Exception as exc:  # noqa: BLE001 - the job failed: its message is shown, the runner goes on
        if _EXITING.is_set():  # not the job's fault: the process is exiting (see _EXITING)
            return store.get(job_id)
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        store.update(job_id, state="failed", finished=time.time(), error=message, request=None)
        if not isinstance(exc, (OSError, ValueError)) and not getattr(exc, "expected", False):
            traceback.print_exc()
    else:
        cancelled = isinstance(result, dict) and result.get("cancelled")
        store.update(job_id, state="cancelled" if cancelled else "done", finished=time.time(), result=result,
                     request=None, error="cancelled by the user" if cancelled else None)
    return store.get(job_id)


class JobRunner:
    """Works off queued jobs in threads of this process: one at a time for analyses (they share the worker
    pool), several at once for moves (each on its own folder: the run lock keeps one per folder)."""

    def __init__(self, store: JobStore | None = None, move_threads: int = 4):
        self.store = store or JobStore()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._move_threads = move_threads
        self._threads = [threading.Thread(target=self._loop, args=(False,), daemon=True, name="jobs-analysis")]
        self._threads += [threading.Thread(target=self._loop, args=(True,), daemon=True, name=f"jobs-moves-{n}")
                          for n in range(move_threads)]
        for t in self._threads:
            t.start()

    def submit(self, kind: str, label: str, source: str, params: dict, user: str | None = None) -> int:
        """Queue a job for `user` (default: the current one); auth.NotAllowed when their role does not allow it."""
        user = auth.check_job(kind, user, source, params)
        job_id = self.store.add(kind, label, source, params, user=user)
        self._wake.set()
        return job_id

    def resume(self, job_id: int, user: str | None = None) -> Job:
        """Queue an interrupted or failed job again, when `user` may run it (it still runs as its own user)."""
        job = self.store.get(job_id)
        auth.check_job(job.kind, user, job.source, job.params)
        job = self.store.requeue(job_id)
        self._wake.set()
        return job

    def request(self, job_id: int, what: str | None, user: str | None = None) -> Job:
        """JobStore.request() for `user`: pausing or cancelling a job that changes storage (someone's move)
        is an editor's, as starting one is."""
        auth.authorize(self.store.get(job_id).kind, user)
        return self.store.request(job_id, what)

    def waiting_for(self, job: Job) -> list[Job] | None:
        """What a queued job waits for: the jobs of its lane (analyses run one at a time, moves `move_threads`
        at once) that run, are paused or are queued before it, those at work first, when they fill the lane;
        [] when nothing is ahead of it (it is next to start); None when it is queued for another process."""
        if job.owner != _me():
            return None
        moves = job.kind in MOVE_KINDS
        ahead = [j for j in self.store.list(limit=1000, states=ACTIVE)
                 if j.id != job.id and j.owner == job.owner and (j.kind in MOVE_KINDS) == moves
                 and (j.state != "queued" or j.id < job.id)]
        ahead.sort(key=lambda j: (j.state == "queued", j.id))
        return ahead if len(ahead) >= (self._move_threads if moves else 1) else []

    def _next(self, moves: bool) -> int | None:
        with self._lock:
            for job in reversed(self.store.list(limit=200)):
                if job.state != "queued" or job.id in self._busy or job.owner != _me():
                    continue
                if (job.kind in MOVE_KINDS) != moves:
                    continue
                self._busy.add(job.id)
                return job.id
        return None

    def stop(self) -> None:
        """Stop taking jobs (the one running finishes first)."""
        self._stopped.set()
        self._wake.set()

    def _loop(self, moves: bool) -> None:
        while not self._stopped.is_set():
            job_id = self._next(moves)
            if job_id is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                run_job(self.store, job_id)
            finally:
                with self._lock:
                    self._busy.discard(job_id)
                self._wake.set()

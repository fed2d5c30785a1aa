"""Runs of plans: start one (validated, then locked, then journaled, then executed), resume an interrupted
one, undo a finished one, list them, empty the trash; each logged in the session log.

Order matters and is kept everywhere: a plan is checked first, then the run lock for its folders is taken,
and only then is the run written to the journal. A refused run leaves nothing behind: no journal entry, no
resume prompt, and a refused undo does not mark its run undone.
"""

from __future__ import annotations

import posixpath
from datetime import datetime, timezone
from typing import Callable, Iterator

from . import auth
from .executor import Execution, ExecutionReport
from .journal import LostOwnership, RunInfo, RunStore
from .locking import RunLock, conflicts
from .plan import MovePlan, PlanFile, PlanItem, PlanWriter, check_header, check_item, plan_scope
from .session_log import SessionLog, make_event
from .storage import ObjectInfo, Storage, normalise_prefix, require_write

TRASH = "_trash/"
EVENT_NAMES = {"classify": "full_folder", "similar": "by_reference", "placeholders": "placeholders", "trash": "delete",
               "duplicates": "duplicates", "undo": "undo"}
R2_EVENT_NAMES = {**EVENT_NAMES, "classify": "full_bucket"}
Progress = Callable[[int, int], None]


def _folder(key: str) -> str:
    head = posixpath.dirname(key)
    return head + "/" if head else ""


def _common_folder(keys) -> str:
    import os

    common = os.path.commonprefix([_folder(k) for k in keys]) if keys else ""
    return common[:common.rfind("/") + 1]


def run_plan(plan, storage: Storage, copy: bool = False, log: SessionLog | None = None,
             progress: Progress | None = None, *, undo_of: int | None = None,
             require_signed: bool = False, on_run: Callable[[int], None] | None = None) -> tuple[ExecutionReport, dict]:
    """Execute a plan on the storage the user opened: a MovePlan, or one streamed from disk (a PlanFile, or the
    app's PlanDB: their `plan` header and `items()`). Checked, under the run lock of its folders, journaled;
    returns the report and the session-log event. ValueError or LockedError before anything is written; with
    `require_signed`, a plan file this installation did not sign (or that was edited) is refused too.
    `on_run(run_id)` is told the run's number as soon as it exists."""
    header = plan if isinstance(plan, MovePlan) else plan.plan
    items = iter(plan.items) if isinstance(plan, MovePlan) else plan.items()
    check_header(header, storage.record())
    scope = plan_scope(header)
    store = RunStore()

    def signed() -> None:
        if require_signed and not getattr(plan, "signed", False):
            raise ValueError("plan refused: it was not written by this installation or was edited since; name the "
                             "folder or bucket it is for with --source SRC to apply it")

    auth.require_storage(storage)  # a web user's run on a folder this app does not serve: refused
    require_write(storage)  # a read-only key: told now, before the lock and the journal
    with RunLock(storage, scope) as lock:
        _refuse_over_unfinished(store, storage.lock_area(), scope, undo_of)
        run_id, folders = store.create(header, items, storage.record(), storage.lock_area(), scope, copy, lock.token,
                                       kind="undo" if undo_of else "run", undo_of=undo_of,
                                       check=lambda item: check_item(header, item), before_commit=signed)
        lock.run = str(run_id)
        if on_run:
            on_run(run_id)
        store.set_fresh(run_id, lock.token, storage.fresh_folders(sorted(folders)))
        report = _execute(store, run_id, storage, lock, progress)
        if undo_of:  # the folders the undone run made, where now empty
            storage.prune_folders(store.source_folders(run_id))
    return report, _log_event(store.get(run_id), storage, report, log)


def refuse_over_unfinished(storage: Storage, plan: MovePlan) -> None:
    """ValueError when an unfinished run covers the folders of the plan (a MovePlan header): a check to make
    before asking the user; run_plan makes it again under the run lock. Nothing while a live run holds the lock
    there: taking the lock says that one is at work."""
    from .locking import blocking

    scope = plan_scope(plan)
    if not blocking(storage, scope):
        _refuse_over_unfinished(RunStore(), storage.lock_area(), scope, None)


def _refuse_over_unfinished(store: RunStore, area: str, scope: str, undo_of: int | None) -> None:
    """A new run may not start on folders an unfinished run covers (one stopped, cancelled or killed, and not
    undone): its resume could no longer tell its own work from the new run's (a source the new run moved away
    would look deleted by the resumed run, and both copies would stay). ValueError naming the run and how to
    settle it; the undo of that very run is let through. Checked under the run lock, before the journal."""
    for run in store.unfinished_runs():
        if run.id == undo_of or not conflicts({"area": run.area, "scope": run.scope}, area, scope):
            continue
        if run.kind == "run" and store.undo_of(run.id) is not None:
            continue  # undone: its undo, if unfinished, is found on its own
        what = "an undo" if run.kind == "undo" else "a run"
        raise ValueError(
            f"run {run.id} ({what} on {run_storage_words(run)}" + (f", under {run.scope}" if run.scope else "") +
            ") stopped before it "
            f"finished and covers these folders: finish it first (`python -m segregator resume {run.id}`, or "
            f"Resume under ↩ Runs and trash)" + ("" if run.kind == "undo" else
                                                 f", or put back what it moved (`python -m segregator undo {run.id}`)"))


def _execute(store: RunStore, run_id: int, storage: Storage, lock: RunLock, progress: Progress | None) -> ExecutionReport:
    execution = Execution(store, run_id, storage, lock, progress)
    report = execution.run()
    pending = store.counts(run_id).get("pending", 0)
    try:
        store.finish(run_id, lock.token, "done" if not pending else "stopped", report.summary(), report.stopped)
    except LostOwnership:
        return report  # another process has the run now; it records the outcome
    if not pending:
        storage.cleanup(store.target_folders(run_id), execution.tag)
    return report


def _folder(storage: Storage) -> str | None:
    """The local folder an event is about (R2 events name their bucket)."""
    return str(storage.root) if storage.kind == "local" else None


def _log_event(run: RunInfo, storage: Storage, report: ExecutionReport, log: SessionLog | None,
               resumed: bool = False) -> dict:
    summary = report.summary()
    names = R2_EVENT_NAMES if storage.kind == "r2" else EVENT_NAMES
    event_type = f"{storage.kind}_{names.get(run.plan_kind, run.plan_kind)}" + ("_resumed" if resumed else "")
    event = make_event(  # a copy run moves nothing: moved_count 0, its copies in copied_count
        event_type, bucket=storage.bucket, folder=_folder(storage), source_prefix=run.plan.get("source_prefix", ""),
        output_prefix=run.plan.get("output_prefix", ""), moved_count=summary["moved"],
        unchanged_count=summary["unchanged"], copied_count=summary["copied"], failed_count=summary["failed"],
        extra={"moved": summary["moved"], "copied": summary["copied"], "unchanged_count": summary["unchanged"],
               "failed": report.errors[:1000], "total_processed": summary["total"],
               "mode": "copy" if run.copy else "move", "plan_created_at": run.plan.get("created_at", ""),
               "run_id": run.id, "finished": report.stopped is None and not report.errors,
               "journal": str(RunStore().path), **({"stopped": report.stopped} if report.stopped else {}),
               **({"undo_of": run.undo_of} if run.undo_of else {}),
               **({k: run.plan.get("extra", {}).get(k) for k in ("group_count", "image_count", "tier")}
                  if run.plan_kind == "duplicates" else {})})
    (log or SessionLog()).append(event)
    return event


# ------------------------------------------------------------------ reopening a run's storage

R2_NOT_CONFIGURED = "R2 is not configured: set R2_ENDPOINT, R2_ACCESS_KEY and R2_SECRET_KEY (see .env.example)"


def storage_for_record(record: dict[str, str], r2_config=None) -> Storage:
    """Reopen the storage a plan or run names. An R2 record must name its endpoint, and it must be the
    configured one."""
    from .r2 import R2Config, R2Storage
    from .storage import LocalStorage

    kind = record.get("kind")
    if kind == "local":
        return LocalStorage(record["root"])
    if kind == "r2":
        config = r2_config or R2Config.from_env()
        if config is None:
            raise ValueError(R2_NOT_CONFIGURED)
        if not record.get("endpoint_host"):
            raise ValueError("refused: the plan does not name its R2 endpoint")
        if record["endpoint_host"] != config.host:
            raise ValueError(f"made on {record['endpoint_host']}, but R2_ENDPOINT is {config.host}")
        storage = R2Storage(config, record.get("bucket", ""))
        storage.check_bucket()
        return storage
    raise ValueError(f"unknown storage kind {kind!r}")


# ------------------------------------------------------------------ choosing runs

def _run_by_id(store: RunStore, run_id) -> RunInfo:
    try:
        return store.get(int(str(run_id).strip().lstrip("r")))
    except ValueError:
        raise ValueError(f"no run {run_id!r} (see `python -m segregator runs`)") from None


def runs(area: str | None = None, limit: int = 50) -> list[RunInfo]:
    """Runs newest first (of one storage area when given)."""
    return RunStore().runs(area, limit)


PLAN_WORDS = {"classify": "sorted into categories", "similar": "moved images like a reference",
              "placeholders": "moved placeholders", "duplicates": "moved duplicates", "trash": "deleted to the trash",
              "undo": "undo"}


def run_storage_words(run: RunInfo) -> str:
    """Where a run worked, for people: the folder, or the bucket and its endpoint."""
    return run.storage.get("root") or f"r2://{run.storage.get('bucket')} ({run.storage.get('endpoint_host')})"


def describe_run(run: RunInfo) -> str:
    """One line for a run: number, start time, what it did, where, how it ended."""
    what = f"undo of run {run.undo_of}" if run.kind == "undo" else PLAN_WORDS.get(run.plan_kind, run.plan_kind)
    if run.copy:
        what += " (copies)"
    s = run.summary or {}
    done = s.get("copied", 0) if run.copy else s.get("moved", 0)
    state = {"done": f"{done:,} of {run.total:,} moved" + (f", {s['failed']:,} failed" if s.get("failed") else ""),
             "running": "running", "stopped": "stopped before it finished"}.get(run.state, run.state)
    return f"Run {run.id} · {run.started[:16].replace('T', ' ')} · {what} · {state} · {run_storage_words(run)}"


def latest_unfinished(area: str | None = None) -> RunInfo | None:
    """The most recent run left unfinished (and not undone since)."""
    store = RunStore()
    for run in store.runs(area, limit=1000):
        if run.unfinished and (run.kind == "undo" or store.undo_of(run.id) is None):
            return run
    return None


def resume(run_id=None, log: SessionLog | None = None, progress: Progress | None = None,
           r2_config=None, on_run: Callable[[int], None] | None = None) -> tuple[ExecutionReport, dict]:
    """Finish an interrupted run (the most recent unfinished one when none is named): refused while its own
    process still runs it. Every source ends at its destination or where it was, never in both places."""
    store = RunStore()
    run = _run_by_id(store, run_id) if run_id is not None else latest_unfinished()
    if run is None:
        raise ValueError("no unfinished run to resume")
    if not run.unfinished:
        raise ValueError(f"run {run.id} has already finished")
    if run.kind == "run" and store.undo_of(run.id) is not None:
        raise ValueError(f"run {run.id} was undone: there is nothing to resume")
    storage = storage_for_record(run.storage, r2_config)
    auth.require_storage(storage)
    require_write(storage)
    if on_run:
        on_run(run.id)
    with RunLock(storage, run.scope, str(run.id)) as lock:
        store.take_over(run.id, lock.token)
        report = _execute(store, run.id, storage, lock, progress)
    return report, _log_event(store.get(run.id), storage, report, log, resumed=True)


def undo_target(run_id=None, area: str | None = None) -> tuple[str, RunInfo]:
    """What `undo` does now: ('finish', an interrupted undo) comes first; else ('undo', the run to put
    back: the one named, or the latest run not undone yet, of one storage area when given). ValueError with
    the reason otherwise."""
    store = RunStore()
    if run_id is None:
        for run in store.runs(area, limit=1000):
            if run.kind == "undo" and run.unfinished:
                return "finish", run
        for run in store.runs(area, limit=1000):
            if run.kind != "run" or store.undo_of(run.id) is not None:
                continue
            if run.unfinished and (run.state == "running" or store.in_flight(run.id)):
                raise ValueError(f"run {run.id} is unfinished: `python -m segregator resume` finishes it first")
            return "undo", run
        raise ValueError("no finished run to undo")
    run = _run_by_id(store, run_id)
    if run.kind == "undo":
        if run.unfinished:
            return "finish", run
        raise ValueError(f"run {run.id} is itself an undo")
    undone = store.undo_of(run.id)
    if undone is not None:
        if undone.unfinished:
            return "finish", undone
        raise ValueError(f"run {run.id} was already undone (by run {undone.id})")
    if run.unfinished and (run.state == "running" or store.in_flight(run.id)):
        raise ValueError(f"run {run.id} is unfinished: `python -m segregator resume {run.id}` finishes it first")
    return "undo", run  # finished, or stopped between two batches (cancelled): what it did is put back


MAX_LISTED = 1000  # objects named in messages; the rest are counted


def undo_plan(run: RunInfo, r2_config=None) -> tuple[PlanFile, Storage, list[str], int]:
    """The plan that puts a finished run back: each object it moved goes back where it was (a taken name gets
    a number; the earlier version of a source changed after its copy goes back beside it), each copy it made
    goes to the trash, but only while the object still is what the run wrote. Built in one pass over the
    journal and the storage (a batch at a time) into a plan file beside the journal. Returns the plan file, its
    storage, the first of the run's objects that cannot be undone (changed or gone since), and their count."""
    storage = storage_for_record(run.storage, r2_config)
    store = RunStore()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    copies = store.has_copies(run.id)  # copies go to the trash, at the top: then the plan's output is everything
    header = MovePlan("undo", storage.record(), run.plan.get("output_prefix", ""),
                      "" if copies else run.plan.get("source_prefix", ""), [], extra={"undo_of": run.id})
    path = store.path.parent / f"undo-of-run-{run.id}.plan.jsonl"
    writer = PlanWriter(path, header)
    lost: list[str] = []
    lost_count = 0
    batch: list = []

    def flush() -> None:
        nonlocal lost_count
        now = storage.observe_many([r.target for r in batch])
        for row in batch:
            current = now.get(row.target)
            if current is None or current.size != row.placed.size or current.version != row.placed.version:
                lost_count += 1
                if len(lost) < MAX_LISTED:
                    lost.append(f"{row.target} ({'gone' if current is None else 'changed'} since run {run.id})")
                continue
            if row.status == "moved":
                dest, why = row.source, f"undo of run {run.id}"
            elif row.status == "kept_both":  # the source changed after it was copied: the earlier version goes beside it
                dest, why = row.source, f"undo of run {run.id}: the earlier version goes back beside the source"
            else:  # a copy made in copy mode, or one that could not be removed when its source stayed
                dest, why = f"{TRASH}{stamp}/{row.target}", f"undo of run {run.id}: its copy goes to the trash"
            writer.add(PlanItem(row.target, dest, "move", why, source_size=row.placed.size,
                                source_version=row.placed.version))
        batch.clear()

    try:
        for row in store.items(run.id):
            if row.placed is not None and row.status in ("moved", "copied", "kept_both", "failed"):
                batch.append(row)
                if len(batch) >= 2000:
                    flush()
        flush()
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return PlanFile(path), storage, lost, lost_count


def undo(run_id=None, log: SessionLog | None = None, progress: Progress | None = None,
         r2_config=None, on_run: Callable[[int], None] | None = None) -> tuple[ExecutionReport, dict]:
    """Undo a run (the latest when none is named), or first finish an interrupted undo."""
    action, run = undo_target(run_id)
    if action == "finish":
        return resume(run.id, log, progress, r2_config, on_run)
    plan, storage, _lost, _count = undo_plan(run, r2_config)
    if not plan.summary_count():
        raise ValueError(f"nothing of run {run.id} can be undone: every object it wrote changed or is gone")
    return run_plan(plan, storage, log=log, progress=progress, undo_of=run.id, on_run=on_run)


# ------------------------------------------------------------------ what moved

EXPORT_FIELDS = ("old_key", "new_key", "status", "message", "old_url", "new_url")


def export_rows(run_id) -> tuple[RunInfo, Iterator[dict]]:
    """What a run did, item by item from its journal (old key -> new key, status): for a site whose database
    points at image keys. With R2_PUBLIC_BASE_URL set, the public URLs of both keys too."""
    import os
    from urllib.parse import quote

    store = RunStore()
    run = _run_by_id(store, run_id)
    base = (os.environ.get("R2_PUBLIC_BASE_URL") or "").rstrip("/")

    def url(key: str | None) -> str:
        return f"{base}/{quote(key)}" if base and key else ""

    def rows() -> Iterator[dict]:
        for row in store.items(run.id):
            status = row.status or "not finished"
            new = row.target if row.status in ("moved", "copied") or (row.placed and row.status) else None
            yield {"old_key": row.source, "new_key": new or "", "status": status.replace("_", " "),
                   "message": row.message or "", "old_url": url(row.source), "new_url": url(new)}

    return run, rows()


def write_export(run_id, fh, fmt: str = "csv") -> int:
    """Stream a run's mapping to a text file as CSV or JSON (an array); returns the number of rows."""
    import csv
    import json

    _run, rows = export_rows(run_id)
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(fh, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for n, row in enumerate(rows, 1):
            writer.writerow(row)
        return n
    fh.write("[")
    for n, row in enumerate(rows, 1):
        fh.write(("\n  " if n == 1 else ",\n  ") + json.dumps(row, ensure_ascii=False))
    fh.write("\n]\n" if n else "]\n")
    return n


# ------------------------------------------------------------------ the trash

def trash_folder() -> str:
    """Where a delete puts its files: _trash/<UTC time>/ at the top of the folder or bucket."""
    return f"{TRASH}{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}/"


def trash_plan(storage: Storage, objects, source_prefix: str = "") -> MovePlan:
    """'Delete' as a move into _trash/<UTC time>/ at the top of the folder or bucket, keeping each key's
    path, so that a delete can be looked at and undone. `objects`: keys, or ObjectInfo as listed."""
    output = trash_folder()
    items = []
    for obj in objects:
        info = obj if isinstance(obj, ObjectInfo) else None
        key = info.key if info else obj
        items.append(PlanItem(key, output + key, "move", "deleted by the user (to the trash)",
                              source_size=info.size if info else None, source_version=info.version if info else None))
    return MovePlan("trash", storage.record(), normalise_prefix(source_prefix), output, items)


def trash_keys(storage: Storage) -> list[str]:
    return [o.key for o in storage.list(TRASH)]


def empty_trash(storage: Storage, log: SessionLog | None = None) -> dict:
    """Delete everything under _trash/ for good (batch deletes), under the run lock of _trash/; logged.
    Callers confirm twice first."""
    auth.require_storage(storage)
    require_write(storage)
    with RunLock(storage, TRASH):
        keys = trash_keys(storage) + storage.part_files(TRASH)
        failed = storage.delete_many(keys)
    event = make_event(f"{storage.kind}_empty_trash", storage.bucket, TRASH, "", 0, 0, folder=_folder(storage),
                       extra={"deleted": len(keys) - len(failed), "failed": [{"key": k, "error": e} for k, e in failed]},
                       deleted_count=len(keys) - len(failed), failed_count=len(failed))
    (log or SessionLog()).append(event)
    return event

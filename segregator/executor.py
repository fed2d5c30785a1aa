"""Carrying out a run: every move of a plan, journaled step by step, so that a kill at any point leaves a state
the next `resume` completes, and nothing is ever lost or overwritten.

The rules (README "Safety" states what they guarantee):
- A name is this run's copy only when the journal recorded the intent for exactly that name first (an
  item's target is reserved for it within the run), and the storage proves it (folders: the copy is the
  source's inode, or its part file's; buckets: the name was free when the intent was written, and it holds
  the source's bytes). Identical bytes alone never make a name ours: a taken name means the next free one.
- A source is deleted only after its copy and the source itself were checked, right then, to be what was
  copied (storage.remove_sources); when the copy is gone the source stays (and a rerun copies again), when
  the source changed it stays (reported), when its delete fails the copy is removed again.
- Items go in batches: intents for the batch in one commit, then the copies, their verified results in one
  commit, then the checked deletes and the outcomes in one commit (segregator.journal).
- Before each step that changes storage the run lock must still be held; a run whose lock is lost, or whose
  storage becomes unreachable, stops and leaves the rest for `resume`.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Literal

from . import faults
from .journal import ItemRow, LostOwnership, RunStore
from .locking import RunLock
from .storage import (COPY_GONE, REMOVED, SOURCE_CHANGED, NoHardLinks, ObjectInfo, PART_SUFFIX, Removal,
                      SourceChanged, Storage, numbered_name)

Status = Literal["moved", "copied", "unchanged", "failed"]
MAX_NAMES = 10_000


@dataclass
class ItemResult:
    source: str
    destination: str | None       # the key written (may carry a _N suffix); None when nothing was written
    status: Status
    error: str | None = None


class ExecutionReport:
    """What a run did, read from its journal: counts at once, per-item results as a stream (iter_results) or,
    for small runs, as a list (results); errors lists the first 1,000 items that did not finish."""

    MAX_ERRORS = 1000

    def __init__(self, store: RunStore, run_id: int, copy_mode: bool, unchanged: int, stopped: str | None = None):
        self.store, self.run_id, self.copy_mode, self.unchanged, self.stopped = store, run_id, copy_mode, unchanged, stopped
        self.counts = store.counts(run_id)

    def count(self, status: Status) -> int:
        c = self.counts
        if status == "unchanged":
            return self.unchanged
        if status == "failed":
            return c.get("failed", 0) + c.get("kept_both", 0) + c.get("pending", 0)
        return c.get(status, 0)

    def summary(self) -> dict[str, int]:
        return {"moved": self.count("moved"), "copied": self.count("copied"), "unchanged": self.count("unchanged"),
                "failed": self.count("failed"), "total": sum(self.counts.values()) + self.unchanged}

    def _result(self, row: ItemRow) -> ItemResult:
        if row.status in ("moved", "copied"):
            return ItemResult(row.source, row.target, row.status)
        if row.status in ("failed", "kept_both"):
            return ItemResult(row.source, row.target if row.placed else None, "failed", row.message)
        why = row.message or self.stopped or "not attempted"
        return ItemResult(row.source, None, "failed", f"not finished ({why}): `resume` tries again")

    def iter_results(self) -> Iterator[ItemResult]:
        for row in self.store.items(self.run_id):
            yield self._result(row)

    @functools.cached_property
    def results(self) -> list[ItemResult]:
        return list(self.iter_results())

    @functools.cached_property
    def errors(self) -> list[dict[str, str]]:
        return [{"key": r.source, "error": r.error or ""}
                for r in map(self._result, self.store.unfinished_items(self.run_id, self.MAX_ERRORS))]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "stopped": self.stopped, "results": [asdict(r) for r in self.results]}


class Unreachable(Exception):
    pass


class StopRequested(Exception):
    """Raised by a progress callback to stop a run (a cancel): it stops between two batches, consistent."""


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (ConnectionError, TimeoutError)) or "endpoint unreachable" in str(exc)


CHANGED = "changed since the plan was made: left where it is (analyse again to sort it)"
GONE = "not found: it was moved or deleted since the plan was made"
MAX_ROUNDS = 100   # rounds of intents in one batch (a name found taken only when copying costs one)


@dataclass
class _Work:
    """An item of the batch being worked on; `open` until it is settled or left pending with a message."""
    row: ItemRow
    seen: ObjectInfo | None = None
    target: str | None = None
    method: str | None = None
    extra: dict = field(default_factory=dict)
    placed: ObjectInfo | None = None
    attempt: int = 0              # the numbered name to try next (0: the planned name)
    status: str | None = None     # the final status, once settled
    message: str | None = None    # the reason (of a final status, or of a retryable failure)
    intent: bool = False          # an intent for `target` is durable: the copy may be made
    prepared: bool = False        # prepare() ran for the current target and method

    @property
    def n(self) -> int:
        return self.row.n

    @property
    def open(self) -> bool:
        return self.status is None and self.message is None

    def settle(self, status: str, message: str | None = None) -> None:
        self.status, self.message = status, message

    def next_name(self) -> None:
        self.target, self.intent, self.prepared = None, False, False
        self.attempt += 1


class Execution:
    """One process working on one run: `run()` settles its open items batch by batch."""

    def __init__(self, store: RunStore, run_id: int, storage: Storage, lock: RunLock,
                 progress: Callable[[int, int], None] | None = None, batch: int | None = None):
        self.store, self.run_id, self.storage, self.lock, self.progress = store, run_id, storage, lock, progress
        self.info = store.get(run_id)
        self.fresh = set(self.info.fresh)
        self.tag = f"r{run_id}"
        self.batch = batch or int(os.environ.get("SEGREGATOR_MOVE_BATCH") or 0) or storage.move_batch
        self.threads = max(1, storage.move_threads)
        self.stopped: str | None = None

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self) -> ExecutionReport:
        counts = self.store.counts(self.run_id)
        total = sum(counts.values())
        done = total - counts.get("pending", 0)
        if not self._report(done, total):
            return self.report()
        after = -1
        pool = cf.ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        try:
            while self.stopped is None:
                rows = self.store.open_items(self.run_id, after, self.batch)
                if not rows:
                    break
                after = rows[-1].n
                faults.hit("batch-start")
                try:
                    done += self._batch(rows, pool)
                except LostOwnership as exc:
                    self.stopped = f"the run lost its lock ({exc}): the rest is left for `resume`"
                except Unreachable as exc:
                    self.stopped = f"the storage is unreachable ({exc}): `resume` goes on once it is back"
                if not self._report(min(done, total), total):
                    break
        finally:
            if pool:
                pool.shutdown(wait=True)
        return self.report()

    def _report(self, done: int, total: int) -> bool:
        """Progress, between batches; False when the callback asked the run to stop."""
        if self.progress:
            try:
                self.progress(done, total)
            except StopRequested as exc:
                self.stopped = f"{exc}: the rest is left for `resume` (or `undo` puts back what was done)"
                return False
        return True

    def _check_lock(self) -> None:
        if not self.lock.valid():
            raise LostOwnership(self.lock.lost_reason)

    def _commit(self, updates: list[tuple[int, dict]]) -> None:
        self._check_lock()
        self.store.commit(self.run_id, self.lock.token, updates)

    def _map(self, pool, fn, items: list) -> list:
        """fn over the items (in threads on network storages); an exception is returned, not raised."""
        def safe(item):
            try:
                return fn(item)
            except Exception as exc:  # noqa: BLE001 - each caller sorts its outcomes
                return exc
        if pool is None or len(items) <= 1:
            return [safe(i) for i in items]
        return list(pool.map(safe, items))

    def _fail(self, w: _Work, exc: BaseException, unreachable: list[str]) -> None:
        """An error from storage: retryable (the item stays pending with its message) when the storage was
        unreachable or the error is not the storage's; final otherwise."""
        text = (exc.strerror if isinstance(exc, OSError) and exc.strerror and not exc.filename else str(exc)) \
            or type(exc).__name__
        if isinstance(exc, SourceChanged):
            w.settle("failed", CHANGED)
        elif isinstance(exc, FileNotFoundError):
            w.settle("failed", GONE)
        elif _transient(exc) or not isinstance(exc, OSError):
            w.message = text
            if _transient(exc):
                unreachable.append(text)
        else:
            w.settle("failed", text)

    # -- one batch -----------------------------------------------------------------------------------------
    def _batch(self, rows: list[ItemRow], pool) -> int:
        work = [_Work(r, seen=r.seen, target=r.target, method=r.method, extra=dict(r.extra), placed=r.placed)
                for r in rows]
        unreachable: list[str] = []
        self._recover(work, pool, unreachable)
        self._observe([w for w in work if w.open and w.placed is None and not w.intent], pool, unreachable)
        for _ in range(MAX_ROUNDS):
            naming = [w for w in work if w.open and w.placed is None and not w.intent]
            if naming:
                self._assign_names(work, [w for w in naming if w.target is None])
                self._prepare([w for w in naming if w.open and w.target is not None], pool, unreachable)
                ready = [w for w in naming if w.open and w.prepared]
                self._commit([(w.n, {"seen": w.seen, "target": w.target, "method": w.method, "extra": w.extra,
                                     "placed": None, "message": None}) for w in ready])
                for w in ready:
                    w.intent = True
                faults.hit("after-intents")
            placing = [w for w in work if w.open and w.intent and w.placed is None]
            if not placing and not any(w.open and w.placed is None and w.target is None for w in work):
                break
            self._place(placing, pool, unreachable)
        for w in work:
            if w.open and w.placed is None:
                w.message = "the names it was given kept being taken while it was copied: `resume` tries again"
        newly = [w for w in work if w.open and w.placed is not None and w.placed != w.row.placed]
        self._commit([(w.n, {"placed": w.placed, "target": w.target, "method": w.method, "extra": w.extra})
                      for w in newly])
        faults.hit("after-placed")
        for w in newly:
            self.storage.finish_place(w.placed, w.extra)
        self.storage.sync_folders([w.placed.key for w in newly])
        self._remove(work, unreachable)
        faults.hit("after-remove")
        self._commit([(w.n, self._final_fields(w)) for w in work if not w.open])
        faults.hit("after-done")
        if unreachable:
            raise Unreachable(unreachable[0])
        return sum(1 for w in work if w.status is not None)

    @staticmethod
    def _final_fields(w: _Work) -> dict[str, Any]:
        fields: dict[str, Any] = {"status": w.status, "message": w.message}
        if w.status is None:  # pending again (retryable), as far as it got
            fields.update(target=w.target if w.intent or w.placed else None, placed=w.placed, method=w.method,
                          extra=w.extra)
        elif w.placed is None:
            fields.update(target=None, placed=None)  # nothing of the run's at any name: none stays reserved
        return fields

    def _recover(self, work: list[_Work], pool, unreachable: list[str]) -> None:
        """After an interruption: an intent whose outcome was not recorded is settled by proof of ownership."""
        claims = [w for w in work if w.target and w.placed is None]
        outcomes = self._map(pool, lambda w: self.storage.claim(w.seen, w.target, w.method, w.extra), claims)
        for w, result in zip(claims, outcomes):
            if isinstance(result, FileExistsError):
                w.next_name()                    # someone else's name: the next one
            elif isinstance(result, BaseException):
                self._fail(w, result, unreachable)
            elif result is None:
                w.intent = w.prepared = True     # the intent is durable and the name still free: copy again
            else:
                w.placed = result

    def _observe(self, items: list[_Work], pool, unreachable: list[str]) -> None:
        """The source as it is now, checked against the plan: a changed or vanished source is left alone."""
        def observe(w: _Work):
            row = w.row
            if self.storage.kind == "r2" and row.src_version and row.src_size is not None:
                # the copy itself is conditional on this version (checked by the server): no HEAD needed
                return ObjectInfo(row.source, row.src_size, 0.0, row.src_version, row.src_version)
            return self.storage.observe(row.source)

        for w, seen in zip(items, self._map(pool, observe, items)):
            row = w.row
            if isinstance(seen, BaseException):
                self._fail(w, seen, unreachable)
            elif seen is None:
                w.settle("failed", GONE)
            elif seen.problem:
                w.settle("failed", seen.problem)
            elif (row.src_size is not None and seen.size != row.src_size) or \
                    (row.src_version and seen.version != row.src_version):
                w.settle("failed", CHANGED)
            elif "." not in row.source.rsplit("/", 1)[-1].lstrip(".") and not self.storage.is_image_content(row.source):
                w.settle("failed", "not an image file: left where it is")
            else:
                w.seen = seen
                w.target, w.intent, w.prepared = None, False, False

    def _assign_names(self, work: list[_Work], items: list[_Work]) -> None:
        """Give each item the first of its candidate names (planned, then numbered) that no other item of
        the run holds: in this batch, or reserved in the journal."""
        held = {w.target for w in work if w.target}
        todo = [w for w in items if w.open]
        while todo:
            wanted: dict[str, _Work] = {}
            later = []
            for w in todo:
                if w.attempt >= MAX_NAMES:
                    w.settle("failed", f"no free name near {w.row.destination}")
                    continue
                name = w.row.destination if w.attempt == 0 else \
                    numbered_name(w.row.destination, w.attempt, self.storage.max_key_component)
                if name in held or name in wanted:
                    w.attempt += 1
                    later.append(w)
                else:
                    wanted[name] = w
            reserved = self.store.reserved(self.run_id, list(wanted))
            for name, w in wanted.items():
                if name in reserved and name != w.row.target:
                    w.attempt += 1
                    later.append(w)
                else:
                    w.target, w.prepared = name, False
                    w.method = "copy" if w.method == "copy" and w.extra.get("no_links") else \
                        self.storage.move_method(w.seen, name, w.row.copy)
                    held.add(name)
            todo = later

    def _part(self, w: _Work) -> str:
        return f".{w.n}.{self.tag}{PART_SUFFIX}"

    def _prepare(self, items: list[_Work], pool, unreachable: list[str]) -> None:
        def prepare(w: _Work):
            folder = w.target.rsplit("/", 1)[0] + "/" if "/" in w.target else ""
            return self.storage.prepare(w.seen, w.target, w.method, self._part(w), folder in self.fresh)

        for w, result in zip(items, self._map(pool, prepare, items)):
            if isinstance(result, FileExistsError):
                w.next_name()                    # taken before any intent was written: no record needed
            elif isinstance(result, BaseException):
                self._fail(w, result, unreachable)
            else:
                w.extra = {**result, **({"no_links": True} if w.extra.get("no_links") else {})}
                w.prepared = True

    def _place(self, items: list[_Work], pool, unreachable: list[str]) -> None:
        if not items:
            return
        self._check_lock()

        def place(w: _Work):
            result = self.storage.place(w.seen, w.target, w.method, w.extra)
            faults.hit("after-place-one")
            return result

        for w, result in zip(items, self._map(pool, place, items)):
            if isinstance(result, NoHardLinks):
                w.method, w.extra, w.intent, w.prepared = "copy", {"no_links": True}, False, False  # bytes, same name
            elif isinstance(result, FileExistsError):
                w.next_name()                    # someone else's name: the next one
            elif isinstance(result, BaseException):
                self._fail(w, result, unreachable)
            else:
                w.placed = result

    def _remove(self, work: list[_Work], unreachable: list[str]) -> None:
        for w in work:
            if w.open and w.placed is not None and w.row.copy:
                w.settle("copied")
        moves = [w for w in work if w.open and w.placed is not None]
        if not moves:
            return
        self._check_lock()
        outcomes = self.storage.remove_sources([Removal(w.seen, w.placed) for w in moves])
        for w, (outcome, message) in zip(moves, outcomes):
            if outcome == REMOVED:
                w.settle("moved")
            elif outcome == COPY_GONE:       # copy again next time, from the planned name
                w.message, w.placed, w.target, w.intent, w.prepared = message, None, None, False, False
            elif outcome == SOURCE_CHANGED:
                w.settle("kept_both", message)
            elif _transient(OSError(message)):
                w.message = message
                unreachable.append(message)
            elif self.storage.discard(w.placed):
                w.placed = None
                w.settle("failed", f"the source could not be deleted ({message}): it stays where it was, and its "
                                   f"copy was removed again")
            else:  # the copy stays recorded: undo sends it to the trash
                w.settle("failed", f"the source could not be deleted ({message}), and its copy at "
                                   f"{w.placed.key} could not be removed either: both are kept")
        self.storage.sync_folders([w.row.source for w in moves if w.status == "moved"])

    # -- results -------------------------------------------------------------------------------------------
    def report(self) -> ExecutionReport:
        return ExecutionReport(self.store, self.run_id, self.info.copy, self.info.kept, self.stopped)

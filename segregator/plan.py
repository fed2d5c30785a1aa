"""Move plans: what will move where and why, as previewable JSON, and their item-by-item execution."""

from __future__ import annotations

import concurrent.futures as cf
import json
import threading
import posixpath
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Literal

from .storage import ObjectInfo, Storage, normalise_prefix

Action = Literal["move", "copy", "keep"]
Status = Literal["moved", "copied", "unchanged", "failed"]  # ("deleting" only inside execute_plan)
PLAN_VERSION = 1


@dataclass(slots=True)
class PlanItem:
    source: str
    destination: str              # where it should go; equal to source for 'keep'
    action: Action = "move"
    reason: str = ""
    category: str | None = None
    confidence: float | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    error: str | None = None      # analysis error: such items are kept where they are
    source_etag: str | None = None  # the source's ETag and size when listed (buckets): a copy whose reply
    source_size: int | None = None  # carries that ETag is verified without a HEAD request


@dataclass
class MovePlan:
    kind: str                     # "classify", "similar" or "placeholders"
    storage: dict[str, str]       # {"kind": "local", "root": ...} or {"kind": "r2", "bucket": ...}
    source_prefix: str
    output_prefix: str
    items: list[PlanItem]
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = PLAN_VERSION

    @property
    def moves(self) -> list[PlanItem]:
        return [i for i in self.items if i.action != "keep"]

    def by_destination(self) -> dict[str, list[PlanItem]]:
        """Items grouped by destination folder ('' for kept items), folders sorted."""
        groups: dict[str, list[PlanItem]] = {}
        for item in self.items:
            folder = posixpath.dirname(item.destination) + "/" if item.action != "keep" else ""
            groups.setdefault(folder, []).append(item)
        return dict(sorted(groups.items()))

    def summary(self) -> dict[str, int]:
        moves = self.moves
        return {
            "total": len(self.items),
            "to_move": sum(1 for i in moves if i.source != i.destination),
            "kept": len(self.items) - len(moves) + sum(1 for i in moves if i.source == i.destination),
            "errors": sum(1 for i in self.items if i.error),
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.summary()
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MovePlan":
        if not isinstance(data, dict) or "items" not in data:
            raise ValueError("not a move plan (no 'items')")
        if data.get("version", PLAN_VERSION) != PLAN_VERSION:
            raise ValueError(f"unsupported plan version {data.get('version')!r}")
        known = set(PlanItem.__dataclass_fields__)
        items = []
        for raw in data["items"]:
            if not isinstance(raw, dict) or not isinstance(raw.get("source"), str) or not isinstance(raw.get("destination"), str):
                raise ValueError("plan item without a source and destination")
            if raw.get("action", "move") not in ("move", "copy", "keep"):
                raise ValueError(f"unknown action {raw.get('action')!r}")
            if not isinstance(raw.get("source_etag") or "", str) or not isinstance(raw.get("source_size") or 0, int):
                raise ValueError("plan item with a malformed source_etag or source_size")
            items.append(PlanItem(**{k: v for k, v in raw.items() if k in known}))
        return cls(
            kind=str(data.get("kind", "")),
            storage=dict(data.get("storage", {})),
            source_prefix=str(data.get("source_prefix", "")),
            output_prefix=str(data.get("output_prefix", "")),
            items=items,
            created_at=str(data.get("created_at", "")),
            extra=dict(data.get("extra", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> "MovePlan":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"plan is not valid JSON: {exc}") from None


def check_plan_keys(plan: MovePlan) -> None:
    """Refuse a plan whose keys are absolute, climb with '..', or leave its source and output roots."""
    roots = tuple(p for p in (normalise_prefix(plan.source_prefix), normalise_prefix(plan.output_prefix)))
    for item in plan.items:
        for key in (item.source, item.destination):
            parts = key.split("/")
            if key.startswith("/") or ".." in parts or "\\" in key or not key:
                raise ValueError(f"plan refused: unsafe key {key!r}")
            if "" not in roots and not key.startswith(roots):
                raise ValueError(f"plan refused: {key!r} is outside the plan's source and output folders")


@dataclass
class ItemResult:
    source: str
    destination: str | None       # the key written (may carry a _N suffix); None when nothing was written
    status: Status
    error: str | None = None


@dataclass
class ExecutionReport:
    results: list[ItemResult]
    copy_mode: bool = False

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    def summary(self) -> dict[str, int]:
        return {
            "moved": self.count("moved"),
            "copied": self.count("copied"),
            "unchanged": self.count("unchanged"),
            "failed": self.count("failed"),
            "total": len(self.results),
        }

    @property
    def errors(self) -> list[dict[str, str]]:
        return [{"key": r.source, "error": r.error or ""} for r in self.results if r.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "results": [asdict(r) for r in self.results]}


def execute_plan(
    plan: MovePlan,
    storage: Storage,
    copy: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    journal=None,
    prior: dict | None = None,
) -> ExecutionReport:
    """Carry out every item: move (copy, verify, delete) or copy to a duplicate-safe name; 'keep'
    items and items already in place are unchanged. One item's failure does not stop the rest.

    With a `journal` (segregator.journal.JournalWriter) each step is recorded before and after it happens;
    `prior` (item index -> journal.ItemState, from an interrupted run) makes this finish that run: items done
    are skipped, a verified copy whose source was not yet deleted is completed, anything else is run again
    (a copy that had landed is recognised by its bytes, so nothing is duplicated).
    With workers > 1 items run in a bounded thread pool (safe: a copy never overwrites, so two items
    aiming at one name get name and name_1); results keep the plan's order. There, on storages that delete
    in batches (buckets), the sources of verified copies are deleted afterwards, up to 1,000 a request; an
    interruption in between leaves recorded copies whose sources `resume` deletes."""
    check_plan_keys(plan)
    prior = prior or {}
    total = len(plan.items)
    unreachable = threading.Event()  # once the storage is unreachable, the rest is left for `resume`
    defer = workers > 1 and storage.batch_deletes

    def run(i: int, item: PlanItem) -> ItemResult:
        state = prior.get(i)
        if state is not None and state.done and state.done["status"] != "failed":
            return ItemResult(item.source, state.done["target"], state.done["status"])
        if unreachable.is_set() and item.action != "keep" and item.source != item.destination:
            return ItemResult(item.source, None, "failed", "not attempted: the storage was unreachable")
        result = _execute_item(i, item, storage, copy, journal, state, defer)
        if result.status == "failed" and result.error and result.error.startswith("endpoint unreachable"):
            unreachable.set()
        if journal is not None and result.status != "deleting":
            journal.done(i, result.status, result.destination, result.error)
        return result

    if progress:
        progress(0, total)
    if workers <= 1:
        results = []
        for n, (i, item) in enumerate(enumerate(plan.items), 1):
            results.append(run(i, item))
            if progress:
                progress(n, total)
        return ExecutionReport(results, copy_mode=copy)
    slots: list[ItemResult | None] = [None] * total
    with cf.ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(run, i, item): i for i, item in enumerate(plan.items)}
        for n, fut in enumerate(cf.as_completed(futures), 1):
            slots[futures[fut]] = fut.result()
            if progress:
                progress(n, total)
    pending = [i for i, r in enumerate(slots) if r is not None and r.status == "deleting"]
    if pending:
        failed = dict(storage.delete_many([slots[i].source for i in pending]))
        for i in pending:
            r = slots[i]
            error = failed.get(r.source)
            slots[i] = ItemResult(r.source, r.destination, "failed" if error else "moved",
                                  f"copied to {r.destination}, but the source could not be deleted: {error}" if error else None)
        if journal is not None:  # one durable write for the whole batch
            journal.write_many([journal.done_record(i, slots[i].status, slots[i].destination, slots[i].error)
                                for i in pending])
    return ExecutionReport([r for r in slots if r is not None], copy_mode=copy)


def _execute_item(i: int, item: PlanItem, storage: Storage, copy: bool, journal, state,
                  defer_delete: bool = False) -> ItemResult:
    if item.action == "keep" or item.source == item.destination:
        return ItemResult(item.source, item.source, "unchanged")
    copy_mode = copy or item.action == "copy"
    try:
        if state is not None and state.copied:
            # Interrupted after the verified copy was recorded: only the delete (for a move) is left.
            if not copy_mode:
                storage.delete(item.source)
            return ItemResult(item.source, state.copied["target"], "copied" if copy_mode else "moved")

        def on_attempt(target: str) -> None:
            if journal is not None:
                journal.intent(i, target)

        def on_copied(info) -> None:
            if journal is not None:
                journal.copied(i, info.key, info.size, storage.content_id(info))

        listed = (ObjectInfo(item.source, item.source_size, 0.0, item.source_etag)
                  if item.source_etag and item.source_size is not None else None)
        if copy_mode or defer_delete:
            info = storage.copy_verified(item.source, item.destination, on_attempt, listed)
            on_copied(info)
            # "deleting": verified and recorded; the caller deletes the source in a batch
            return ItemResult(item.source, info.key, "copied" if copy_mode else "deleting")
        return ItemResult(item.source, storage.move(item.source, item.destination, on_attempt, on_copied, listed), "moved")
    except OSError as exc:
        return ItemResult(item.source, None, "failed", str(exc) or type(exc).__name__)

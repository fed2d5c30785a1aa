"""Move plans: what will move where and why, as previewable JSON; their validation, and their signature.

A plan is data from outside until checked: `check_plan` refuses one that names another storage than the one
opened, leaves its folders, touches files that are not images, or is malformed, with a one-line message.
Plans this installation writes carry an HMAC signature (a key kept beside the run journal), so that
`apply --yes` can tell a plan it made from one edited or made elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import posixpath
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from .session_log import state_dir
from .storage import PART_SUFFIX, normalise_prefix

Action = Literal["move", "copy", "keep"]
PLAN_VERSION = 1
PLAN_KINDS = ("classify", "similar", "placeholders", "trash", "undo")
INTERNAL = ".segregator"  # lock registry, never part of a plan


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
    source_size: int | None = None     # the source as listed when the plan was made: a source that differs
    source_version: str | None = None  # when the run reaches it is left where it is ("changed since the plan")


@dataclass
class MovePlan:
    kind: str                     # one of PLAN_KINDS
    storage: dict[str, str]       # {"kind": "local", "root": ...} or {"kind": "r2", "bucket": ..., "endpoint_host": ...}
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
    def from_dict(cls, data: Any) -> "MovePlan":
        """A plan from parsed JSON; ValueError (one line) for anything malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise ValueError("not a move plan (no list of 'items')")
        if data.get("version", PLAN_VERSION) != PLAN_VERSION:
            raise ValueError(f"unsupported plan version {data.get('version')!r}")
        for name in ("kind", "source_prefix", "output_prefix", "created_at"):
            if not isinstance(data.get(name, ""), str):
                raise ValueError(f"plan field {name!r} must be text")
        storage = data.get("storage", {})
        if not isinstance(storage, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in storage.items()):
            raise ValueError("plan field 'storage' must map names to text")
        extra = data.get("extra", {})
        if not isinstance(extra, dict):
            raise ValueError("plan field 'extra' must be an object")
        items = [_item_from(raw, n) for n, raw in enumerate(data["items"])]
        return cls(str(data.get("kind", "")), dict(storage), str(data.get("source_prefix", "")),
                   str(data.get("output_prefix", "")), items, str(data.get("created_at", "")), dict(extra))

    @classmethod
    def from_json(cls, text: str) -> "MovePlan":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"plan is not valid JSON: {exc}") from None
        except RecursionError:
            raise ValueError("plan is not valid JSON: nested too deeply") from None


def _item_from(raw: Any, n: int) -> PlanItem:
    where = f"plan item {n}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is not an object")
    if not isinstance(raw.get("source"), str) or not isinstance(raw.get("destination"), str):
        raise ValueError(f"{where} has no source and destination")
    if raw.get("action", "move") not in ("move", "copy", "keep"):
        raise ValueError(f"{where} has an unknown action {raw.get('action')!r}")
    if "source_etag" in raw and "source_version" not in raw:  # plans written before versions had a name
        raw = {**raw, "source_version": raw["source_etag"]}
    checks = {"reason": (str,), "category": (str, type(None)), "confidence": (int, float, type(None)),
              "scores": (dict,), "error": (str, type(None)), "source_size": (int, type(None)),
              "source_version": (str, type(None))}
    for name, types in checks.items():
        if name in raw and (not isinstance(raw[name], types) or isinstance(raw[name], bool)):
            raise ValueError(f"{where} has a malformed {name!r}")
    if isinstance(raw.get("source_size"), int) and raw["source_size"] < 0:
        raise ValueError(f"{where} has a negative size")
    known = PlanItem.__slots__
    return PlanItem(**{k: v for k, v in raw.items() if k in known})


# ------------------------------------------------------------------ validation

def _unsafe(key: str) -> str | None:
    """Why a key may not appear in a plan, or None."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or "\x00" in key or ".." in parts or "." in parts:
        return "unsafe key"
    if "" in parts[:-1] or key.endswith("/"):
        return "not a file key"
    if any(p.startswith(INTERNAL) for p in parts) or key.endswith(PART_SUFFIX):
        return "one of the tool's own files"
    return None


def _ext(key: str) -> str:
    name = posixpath.basename(key)
    return name.rpartition(".")[2].lower() if "." in name.lstrip(".") else ""


def check_plan(plan: MovePlan, storage_record: dict[str, str] | None = None) -> None:
    """Refuse (ValueError, one line) a plan that is not for the storage opened (`storage_record`), names an
    unknown kind, has unsafe or internal keys, a source outside its source folder or a destination outside its
    output folder (an empty prefix is the whole storage), a source listed twice, sources that are not image files, or destinations that change a
    file's extension. An R2 plan must name its endpoint."""
    from .loading import is_image_name

    if plan.kind not in PLAN_KINDS:
        raise ValueError(f"plan refused: unknown plan kind {plan.kind!r}")
    kind = plan.storage.get("kind")
    if kind == "r2" and not (plan.storage.get("bucket") and plan.storage.get("endpoint_host")):
        raise ValueError("plan refused: an R2 plan must name its bucket and endpoint_host")
    if kind == "local" and not plan.storage.get("root"):
        raise ValueError("plan refused: a folder plan must name its root")
    if kind not in ("local", "r2"):
        raise ValueError(f"plan refused: unknown storage kind {kind!r}")
    if storage_record is not None and {k: plan.storage.get(k) for k in storage_record} != storage_record:
        raise ValueError(f"plan refused: it is for {describe_storage(plan.storage)}, not for {describe_storage(storage_record)}")
    for name in ("source_prefix", "output_prefix"):
        prefix = getattr(plan, name)
        if prefix and (prefix != normalise_prefix(prefix) or _unsafe(prefix.rstrip("/"))):
            raise ValueError(f"plan refused: unsafe {name} {prefix!r}")
    seen: set[str] = set()
    for item in plan.items:
        for key in (item.source, item.destination):
            why = _unsafe(key)
            if why:
                raise ValueError(f"plan refused: {why} {key!r}")
        moving = item.action != "keep" and item.source != item.destination
        if not item.source.startswith(plan.source_prefix):
            raise ValueError(f"plan refused: {item.source!r} is outside the plan's source folder {plan.source_prefix!r}")
        if moving and not item.destination.startswith(plan.output_prefix):
            raise ValueError(f"plan refused: {item.destination!r} is outside the plan's output folder "
                             f"{plan.output_prefix!r}")
        if item.source in seen:
            raise ValueError(f"plan refused: {item.source!r} is listed twice")
        seen.add(item.source)
        if item.action == "keep" or item.source == item.destination:
            continue
        if _ext(item.source) and not is_image_name(item.source):
            raise ValueError(f"plan refused: {item.source!r} is not an image file")
        if _ext(item.source) != _ext(item.destination):
            raise ValueError(f"plan refused: {item.source!r} would change its file type ({item.destination!r})")


def describe_storage(record: dict[str, str]) -> str:
    if record.get("kind") == "r2":
        return f"bucket {record.get('bucket')} on {record.get('endpoint_host') or '(no endpoint)'}"
    return f"local folder {record.get('root')}"


def _folder(key: str) -> str:
    """'a/b/c.jpg' -> 'a/b/', 'c.jpg' -> '', 'a/' -> 'a/'."""
    if not key or key.endswith("/"):
        return key
    head = posixpath.dirname(key)
    return head + "/" if head else ""


def plan_scope(plan: MovePlan) -> str:
    """The folder prefix holding every key the plan touches: the run lock's scope."""
    folders = [plan.source_prefix, plan.output_prefix] + [_folder(k) for i in plan.moves for k in (i.source, i.destination)]
    common = os.path.commonprefix(folders)
    return common[:common.rfind("/") + 1]


# ------------------------------------------------------------------ signatures

def _key_path() -> Path:
    return state_dir() / "plan-signing.key"


def _signing_key() -> bytes:
    """This installation's key for plan signatures, made once (0600) beside the journals."""
    path = _key_path()
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


def _canonical(data: dict[str, Any]) -> bytes:
    body = {k: v for k, v in data.items() if k not in ("signature", "summary")}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def signed_json(plan: MovePlan) -> str:
    """The plan's JSON with this installation's signature."""
    data = plan.to_dict()
    data["signature"] = hmac.new(_signing_key(), _canonical(data), hashlib.sha256).hexdigest()
    return json.dumps(data, indent=2, ensure_ascii=False)


def write_plan(plan: MovePlan, path: str | os.PathLike) -> None:
    """Write a signed plan file atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(signed_json(plan), encoding="utf-8")
    tmp.replace(path)


def read_plan(text: str) -> tuple[MovePlan, bool]:
    """A plan from its JSON, and whether this installation signed it as it is."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"plan is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("plan is not valid JSON: nested too deeply") from None
    plan = MovePlan.from_dict(data)
    signature = data.get("signature") if isinstance(data, dict) else None
    signed = isinstance(signature, str) and hmac.compare_digest(
        signature, hmac.new(_signing_key(), _canonical(data), hashlib.sha256).hexdigest())
    return plan, signed

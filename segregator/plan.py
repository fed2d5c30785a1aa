"""Move plans: what will move where and why, as previewable JSON; their validation, and their signature.

A plan is data from outside until checked: `check_plan` refuses one that names another storage than the one
opened, leaves its folders, touches files that are not images, or is malformed, with a one-line message.
Plans this installation writes carry an HMAC signature (a key kept beside the run journal), so that
`apply --yes` can tell a plan it made from one edited or made elsewhere. A plan file is JSON Lines (a header,
an item per line, a signed trailer), written and read as a stream, so a plan of a million items never has to
be held whole; the earlier single-JSON format is still read.
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
PLAN_KINDS = ("classify", "similar", "placeholders", "duplicates", "search", "trash", "undo")
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


def check_header(plan: MovePlan, storage_record: dict[str, str] | None = None) -> None:
    """Refuse (ValueError, one line) a plan that is not for the storage opened (`storage_record`), names an
    unknown kind or storage, or has unsafe folder prefixes. An R2 plan must name its endpoint."""
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


def check_item(plan: MovePlan, item: PlanItem) -> None:
    """Refuse an item with unsafe or internal keys, a source outside the plan's source folder or a destination
    outside its output folder (an empty prefix is the whole storage), a source that is not an image file, or a
    destination with another file extension. (A source listed twice is refused where items are stored.)"""
    from .loading import is_image_name

    for key in (item.source, item.destination):
        why = _unsafe(key)
        if why:
            raise ValueError(f"plan refused: {why} {key!r}")
    if not item.source.startswith(plan.source_prefix):
        raise ValueError(f"plan refused: {item.source!r} is outside the plan's source folder {plan.source_prefix!r}")
    if item.action == "keep" or item.source == item.destination:
        return
    if not item.destination.startswith(plan.output_prefix):
        raise ValueError(f"plan refused: {item.destination!r} is outside the plan's output folder {plan.output_prefix!r}")
    if _ext(item.source) and not is_image_name(item.source):
        raise ValueError(f"plan refused: {item.source!r} is not an image file")
    if _ext(item.source) != _ext(item.destination):
        raise ValueError(f"plan refused: {item.source!r} would change its file type ({item.destination!r})")


def check_plan(plan: MovePlan, storage_record: dict[str, str] | None = None) -> None:
    """check_header and check_item for every item of an in-memory plan, and no source listed twice."""
    check_header(plan, storage_record)
    seen: set[str] = set()
    for item in plan.items:
        check_item(plan, item)
        if item.source in seen:
            raise ValueError(f"plan refused: {item.source!r} is listed twice")
        seen.add(item.source)


def describe_storage(record: dict[str, str]) -> str:
    if record.get("kind") == "r2":
        return f"bucket {record.get('bucket')} on {record.get('endpoint_host') or '(no endpoint)'}"
    return f"local folder {record.get('root')}"


def plan_scope(plan: MovePlan) -> str:
    """The folder prefix holding every key the plan may touch (its sources lie under source_prefix, its
    destinations under output_prefix): the run lock's scope."""
    common = os.path.commonprefix([plan.source_prefix, plan.output_prefix])
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


def _item_json(item: PlanItem) -> dict[str, Any]:
    """An item as JSON, without the fields that are empty (a plan file stays small)."""
    data = {"source": item.source, "destination": item.destination, "action": item.action}
    for name in ("reason", "category", "confidence", "scores", "error", "source_size", "source_version"):
        value = getattr(item, name)
        if value not in (None, "", {}):
            data[name] = value
    return data


def header_of(plan: MovePlan) -> dict[str, Any]:
    return {"version": PLAN_VERSION, "kind": plan.kind, "storage": plan.storage, "source_prefix": plan.source_prefix,
            "output_prefix": plan.output_prefix, "created_at": plan.created_at, "extra": plan.extra}


class _SignedLines:
    """Plan-file lines, each signed into a running HMAC (this installation's key) as it is made."""

    def __init__(self, plan: MovePlan):
        self._mac = hmac.new(_signing_key(), digestmod=hashlib.sha256)
        self.summary = {"total": 0, "to_move": 0, "kept": 0, "errors": 0}
        self.first = self._line({"plan": header_of(plan)})

    def _line(self, data: dict[str, Any]) -> str:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._mac.update(text.encode())
        return text

    def item(self, item: PlanItem) -> str:
        s = self.summary
        s["total"] += 1
        s["to_move" if item.action != "keep" and item.source != item.destination else "kept"] += 1
        s["errors"] += bool(item.error)
        return self._line(_item_json(item))

    def end(self) -> str:
        return json.dumps({"end": {"summary": self.summary, "signature": self._mac.hexdigest()}}) + "\n"


class PlanWriter:
    """Writes a plan file as JSON Lines, one item at a time (flat memory however large the plan): a header
    line, an item per line, and a trailer with the summary and this installation's signature of every line
    before it. The file appears (atomically) at close()."""

    def __init__(self, path: str | os.PathLike, plan: MovePlan):
        self.path = Path(path)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._fh = open(self._tmp, "w", encoding="utf-8")
        self._lines = _SignedLines(plan)
        self._fh.write(self._lines.first)

    @property
    def summary(self) -> dict[str, int]:
        return self._lines.summary

    def add(self, item: PlanItem) -> None:
        self._fh.write(self._lines.item(item))

    def close(self) -> dict[str, int]:
        self._fh.write(self._lines.end())
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._tmp.replace(self.path)
        return self.summary

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)


def plan_text(plan: MovePlan, items=None) -> str:
    """A plan file's whole text (signed JSON Lines) for an in-memory plan, or for `items` under its header."""
    lines = _SignedLines(plan)
    parts = [lines.first] + [lines.item(i) for i in (plan.items if items is None else items)]
    return "".join(parts) + lines.end()


def write_plan(plan: MovePlan, path: str | os.PathLike) -> dict[str, int]:
    """Write an in-memory plan as a signed plan file."""
    writer = PlanWriter(path, plan)
    for item in plan.items:
        writer.add(item)
    return writer.close()


class PlanFile:
    """A plan file read lazily: its header at once (`plan`, a MovePlan without items), its items streamed by
    items(); `signed` tells, once they were all read, whether this installation signed the file as it is.
    Plan files of the earlier single-JSON format are read whole (they are small)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.signed: bool | None = None
        self.summary: dict[str, int] | None = None
        self._whole: MovePlan | None = None
        with open(self.path, encoding="utf-8") as fh:
            first = fh.readline()
        header = _parse_line(first, 1) if first.startswith('{"plan"') else None
        if header is None:
            self._whole, self.signed = read_plan(self.path.read_text(encoding="utf-8"))
            self.plan = MovePlan(self._whole.kind, self._whole.storage, self._whole.source_prefix,
                                 self._whole.output_prefix, [], self._whole.created_at, self._whole.extra)
            return
        data = header.get("plan")
        if not isinstance(data, dict):
            raise ValueError("plan file line 1 is not a plan header")
        self.plan = MovePlan.from_dict({**data, "items": []})

    def summary_count(self) -> int:
        """How many items the file holds (read from its trailer; the items are counted when it has none)."""
        if self._whole is not None:
            return len(self._whole.items)
        if self.summary is None:
            self.summary = _trailer(self.path)
        if self.summary is None:
            return sum(1 for _ in self.items())
        return int(self.summary.get("total", 0))

    def items(self):
        if self._whole is not None:
            yield from self._whole.items
            return
        mac = hmac.new(_signing_key(), digestmod=hashlib.sha256)
        ended = False
        with open(self.path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if ended:
                    raise ValueError(f"plan file line {n}: text after the end of the plan")
                data = _parse_line(line, n)
                if n == 1:
                    mac.update(line.encode())
                    continue
                if "end" in data:
                    end = data["end"] if isinstance(data["end"], dict) else {}
                    signature = end.get("signature")
                    self.signed = isinstance(signature, str) and hmac.compare_digest(signature, mac.hexdigest())
                    self.summary = end.get("summary") if isinstance(end.get("summary"), dict) else None
                    ended = True
                    continue
                mac.update(line.encode())
                yield _item_from(data, n - 2)
        if not ended:
            raise ValueError("plan file is cut short (no end line): write it again")


def _trailer(path: Path) -> dict[str, int] | None:
    """The summary in a plan file's last line, read from the end of the file."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        last = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        end = json.loads(last).get("end", {})
        return end.get("summary") if isinstance(end.get("summary"), dict) else None
    except (ValueError, AttributeError):
        return None


def _parse_line(line: str, n: int) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"plan file line {n} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError(f"plan file line {n} is not an object")
    return data


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

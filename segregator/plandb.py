"""A plan kept in SQLite for the app: written item by item as an analysis job runs, read a page at a time with
filters (destination, category, confidence, errors), edited in place, and exported as a signed plan file.
A plan of a million items never has to be held whole by the page or the server."""

from __future__ import annotations

import json
import os
import posixpath
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .plan import MovePlan, PlanItem, PlanWriter, check_item, header_of
from .storage import Storage, normalise_prefix

SCHEMA = """
CREATE TABLE IF NOT EXISTS header (data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  n INTEGER PRIMARY KEY,
  source TEXT NOT NULL, destination TEXT NOT NULL, action TEXT NOT NULL, reason TEXT, category TEXT,
  confidence REAL, scores TEXT, error TEXT, source_size INTEGER, source_version TEXT,
  folder TEXT NOT NULL,         -- the destination folder of a move; '' for items that stay
  planned TEXT                  -- the destination the analysis planned (a move the user unticked can be ticked again)
);
CREATE INDEX IF NOT EXISTS items_folder ON items(folder, n);
CREATE INDEX IF NOT EXISTS items_category ON items(category, n);
"""


@dataclass(frozen=True)
class PlanFilter:
    folder: str | None = None        # destination folder ('' : the items that stay)
    category: str | None = None
    max_confidence: float | None = None
    errors_only: bool = False
    text: str = ""                   # part of the source key

    def where(self) -> tuple[str, list]:
        clauses, args = [], []
        if self.folder is not None:
            clauses.append("folder = ?")
            args.append(self.folder)
        if self.category:
            clauses.append("category = ?")
            args.append(self.category)
        if self.max_confidence is not None:
            clauses.append("confidence <= ?")
            args.append(self.max_confidence)
        if self.errors_only:
            clauses.append("error IS NOT NULL")
        if self.text:
            clauses.append("instr(source, ?) > 0")
            args.append(self.text)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _folder(item: PlanItem) -> str:
    if item.action == "keep" or item.source == item.destination:
        return ""
    head = posixpath.dirname(item.destination)
    return head + "/" if head else "/"


def _row(n: int, i: PlanItem) -> tuple:
    return (n, i.source, i.destination, i.action, i.reason, i.category, i.confidence,
            json.dumps(i.scores) if i.scores else None, i.error, i.source_size, i.source_version, _folder(i),
            i.destination if _folder(i) else None)


_COLUMNS = "n, source, destination, action, reason, category, confidence, scores, error, source_size, source_version"


def _item(row) -> tuple[int, PlanItem]:
    n, source, destination, action, reason, category, confidence, scores, error, size, version = row
    return n, PlanItem(source, destination, action, reason or "", category, confidence,
                       json.loads(scores) if scores else {}, error, size, version)


_GROUP = "json_extract(scores, '$.group')"
_TIER = "json_extract(scores, '$.tier')"


class PlanDB:
    """One plan in one SQLite file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @classmethod
    def create(cls, path: str | os.PathLike, plan: MovePlan, items: Iterable[PlanItem]) -> "PlanDB":
        """Write a plan (its items streamed, a batch per transaction) to a new file; returns it."""
        db = cls(path)
        with db._lock, db._db:
            db._db.execute("DELETE FROM header")
            db._db.execute("DELETE FROM items")
            db._db.execute("INSERT INTO header VALUES (?)", (json.dumps(header_of(plan)),))
        batch: list[tuple] = []
        for n, item in enumerate(items):
            batch.append(_row(n, item))
            if len(batch) >= 2000:
                db._insert(batch)
        db._insert(batch)
        if plan.kind == "duplicates":  # pages of groups, filtered by tier
            with db._lock, db._db:
                db._db.execute(f"CREATE INDEX IF NOT EXISTS items_group ON items({_GROUP}, n)")
                db._db.execute(f"CREATE INDEX IF NOT EXISTS items_tier ON items({_TIER}, {_GROUP})")
        return db

    def _insert(self, rows: list[tuple]) -> None:
        if rows:
            with self._lock, self._db:
                self._db.executemany(f"INSERT INTO items ({_COLUMNS}, folder, planned) VALUES "
                                     f"(?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            rows.clear()

    def close(self) -> None:
        self._db.close()

    # -- reading -------------------------------------------------------------------------------------------
    @property
    def plan(self) -> MovePlan:
        """The header, as a plan without items."""
        row = self._db.execute("SELECT data FROM header").fetchone()
        data = json.loads(row[0]) if row else {}
        return MovePlan.from_dict({**data, "items": []})

    def summary(self) -> dict[str, int]:
        total, moving, errors = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(folder != ''), 0), COALESCE(SUM(error IS NOT NULL), 0) FROM items").fetchone()
        return {"total": total, "to_move": moving, "kept": total - moving, "errors": errors}

    def folders(self) -> list[tuple[str, int]]:
        """(destination folder, items) for the moves, sorted; '' counts the items that stay."""
        return self._db.execute("SELECT folder, COUNT(*) FROM items GROUP BY folder ORDER BY folder").fetchall()

    def count(self, where: PlanFilter = PlanFilter()) -> int:
        clause, args = where.where()
        return self._db.execute(f"SELECT COUNT(*) FROM items{clause}", args).fetchone()[0]

    def page(self, where: PlanFilter = PlanFilter(), offset: int = 0, limit: int = 50) -> list[tuple[int, PlanItem]]:
        clause, args = where.where()
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM items{clause} ORDER BY n LIMIT ? OFFSET ?",
                                [*args, limit, offset]).fetchall()
        return [_item(r) for r in rows]

    def items(self, batch: int = 5000) -> Iterator[PlanItem]:
        """Every item in plan order, a batch at a time."""
        after = -1
        while True:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE n > ? ORDER BY n LIMIT ?",
                                    (after, batch)).fetchall()
            if not rows:
                return
            for row in rows:
                yield _item(row)[1]
            after = rows[-1][0]

    def head(self, n: int = 20) -> dict:
        """The plan as JSON with its first items: what a preview shows."""
        return {**header_of(self.plan), "summary": self.summary(),
                "items": [{k: v for k, v in vars_of(i).items() if v not in (None, "", {})} for _, i in self.page(limit=n)]}

    # -- editing -------------------------------------------------------------------------------------------
    def keep(self, numbers: Sequence[int]) -> None:
        """These items stay where they are."""
        with self._lock, self._db:
            self._db.executemany("UPDATE items SET action='keep', destination=source, folder='', "
                                 "reason='kept by the user' WHERE n=? AND action != 'keep'", [(n,) for n in numbers])

    def unkeep(self, numbers: Sequence[int]) -> None:
        """Moves the user had unticked go where the analysis planned them again."""
        with self._lock, self._db:
            self._db.executemany("UPDATE items SET action='move', destination=planned, reason='ticked again by the "
                                 "user', folder=rtrim(planned, replace(planned, '/', '')) WHERE n=? AND action='keep' "
                                 "AND planned IS NOT NULL", [(n,) for n in numbers])

    def movable(self, numbers: Sequence[int]) -> set[int]:
        """Those of the items that the analysis planned to move (the others stay: unreadable, no match...)."""
        rows = self._db.execute(f"SELECT n FROM items WHERE planned IS NOT NULL AND n IN ({','.join('?' * len(numbers))})",
                                list(numbers)).fetchall() if numbers else []
        return {r[0] for r in rows}

    def nearest(self, score: str, limit: int = 12, descending: bool = False) -> list[tuple[int, PlanItem]]:
        """Items that stay, ordered by one of their scores (By Reference: the nearest non-matches)."""
        order = "DESC" if descending else "ASC"
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE folder = '' AND error IS NULL AND scores IS NOT NULL "
                                f"ORDER BY json_extract(scores, ?) {order} LIMIT ?", (f"$.{score}", limit)).fetchall()
        return [_item(r) for r in rows]

    def recategorise(self, changes: dict[int, str]) -> None:
        """Give items another category (one of the plan's) of a classification plan: their destination follows."""
        plan = self.plan
        allowed = set(plan.extra.get("categories", []))
        unknown = set(changes.values()) - allowed
        if unknown or plan.kind != "classify":
            raise ValueError(f"unknown category {sorted(unknown)[0]!r}" if unknown else "only a classification plan has categories")
        rows = []
        for n, category in changes.items():
            row = self._db.execute("SELECT source, action FROM items WHERE n=?", (n,)).fetchone()
            if row is None or row[1] == "keep":
                continue
            dest = normalise_prefix(plan.output_prefix) + category + "/" + posixpath.basename(row[0])
            check_item(plan, PlanItem(row[0], dest))
            rows.append((dest, category, f"set to {category} by the user", _folder(PlanItem(row[0], dest)), dest, n))
        with self._lock, self._db:
            # the model's confidence was for the category it chose, not for this one: none is shown for a hand-set one
            self._db.executemany("UPDATE items SET destination=?, category=?, reason=?, folder=?, planned=?, "
                                 "confidence=NULL WHERE n=?", rows)

    # -- groups of copies (a duplicates plan) -----------------------------------------------------------------
    def _groups_where(self, tier: str | None, folder: str | None) -> tuple[str, list]:
        clauses, args = [f"{_GROUP} IS NOT NULL"], []
        if tier:
            clauses.append(f"{_TIER} = ?")
            args.append(tier)
        if folder:
            clauses.append("substr(source, 1, ?) = ?")
            args += [len(folder), folder]
        return " WHERE " + " AND ".join(clauses), args

    def group_count(self, tier: str | None = None, folder: str | None = None) -> int:
        """Groups with a member of this tier / in this folder (a key prefix)."""
        clause, args = self._groups_where(tier, folder)
        return self._db.execute(f"SELECT COUNT(DISTINCT {_GROUP}) FROM items{clause}", args).fetchone()[0]

    def group_numbers(self, tier: str | None = None, folder: str | None = None, offset: int = 0,
                      limit: int = 10) -> list[int]:
        clause, args = self._groups_where(tier, folder)
        rows = self._db.execute(f"SELECT DISTINCT {_GROUP} AS g FROM items{clause} ORDER BY g LIMIT ? OFFSET ?",
                                [*args, limit, offset]).fetchall()
        return [int(r[0]) for r in rows]

    def group_members(self, numbers: Sequence[int]) -> dict[int, list[tuple[int, PlanItem]]]:
        """The items of these groups, the keeper first, then in plan order."""
        out: dict[int, list[tuple[int, PlanItem]]] = {g: [] for g in numbers}
        if not numbers:
            return out
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE {_GROUP} IN ({','.join('?' * len(numbers))}) "
                                "ORDER BY n", list(numbers)).fetchall()
        for row in rows:
            n, item = _item(row)
            out[int(item.scores["group"])].append((n, item))
        for members in out.values():
            members.sort(key=lambda m: (m[1].source != m[1].scores.get("keeper"), m[0]))
        return out

    def set_keeper(self, group: int, n: int) -> None:
        """Keep item n of the group; every other member (but those in reference folders) moves, into the
        group's folder named after the new keeper (or to the trash). A skipped group is taken again."""
        from .duplicates import group_folder

        plan = self.plan
        rows = self._db.execute(f"SELECT n, source, scores FROM items WHERE {_GROUP} = ? ORDER BY n", (group,)).fetchall()
        keeper = next((source for m, source, _ in rows if m == n), None)
        if keeper is None:
            raise ValueError(f"item {n} is not in group {group}")
        out = normalise_prefix(plan.output_prefix)
        trash = plan.extra.get("to") == "trash"
        updates = []
        for m, source, text in rows:
            scores = {**json.loads(text), "keeper": keeper, "chosen_by_user": True}
            if m == n or scores.get("reference"):
                reason = (f"keeper of group {group}, chosen by the user" if m == n
                          else f"in a reference folder: kept (group {group})")
                updates.append(("keep", source, "", None, reason, json.dumps(scores), m))
                continue
            dest = out + (source if trash else group_folder(group, keeper) + "/" + posixpath.basename(source))
            check_item(plan, PlanItem(source, dest))
            what = f"{scores['tier']} duplicate" if scores.get("tier") else "duplicate"
            updates.append(("move", dest, _folder(PlanItem(source, dest, "move")), dest,
                            f"{what} in group {group}; the user keeps {keeper}", json.dumps(scores), m))
        with self._lock, self._db:
            self._db.executemany("UPDATE items SET action=?, destination=?, folder=?, planned=?, reason=?, scores=? "
                                 "WHERE n=?", updates)

    def group_folders(self, limit: int = 200) -> list[tuple[str, int]]:
        """The folders holding images of groups (key prefixes ending in '/'; '' for the top), most such images first."""
        return self._db.execute(f"SELECT rtrim(source, replace(source, '/', '')) AS f, COUNT(*) AS c FROM items "
                                f"WHERE {_GROUP} IS NOT NULL GROUP BY f ORDER BY c DESC, f LIMIT ?", (limit,)).fetchall()

    def accept_all(self) -> int:
        """Every move the analysis (or a keeper change) planned is taken again: skipped groups, unticked rows."""
        with self._lock, self._db:
            return self._db.execute("UPDATE items SET action='move', destination=planned, reason='taken by the user "
                                    "(accept all)', folder=rtrim(planned, replace(planned, '/', '')) WHERE action='keep' "
                                    "AND planned IS NOT NULL").rowcount

    def bytes_to_move(self) -> int:
        return self._db.execute("SELECT COALESCE(SUM(source_size), 0) FROM items WHERE folder != ''").fetchone()[0]

    # -- using ---------------------------------------------------------------------------------------------
    def export(self, path: str | os.PathLike) -> dict[str, int]:
        """A signed plan file of the plan as it is now (edits included), written as a stream."""
        writer = PlanWriter(path, self.plan)
        try:
            for item in self.items():
                writer.add(item)
        except BaseException:
            writer.abort()
            raise
        return writer.close()

    def changed_since(self, storage: Storage, progress=None, batch: int = 2000) -> dict[str, list[str] | int]:
        """The planned moves whose source is gone or changed since the analysis (a batch of lookups at a
        time: a listing per folder on buckets). Returns counts and the first few keys of each."""
        gone, changed = [], []
        counts = {"gone": 0, "changed": 0, "checked": 0}
        total = self.summary()["to_move"]
        after = -1
        while True:
            rows = self._db.execute("SELECT n, source, source_size, source_version FROM items WHERE folder != '' AND "
                                    "n > ? ORDER BY n LIMIT ?", (after, batch)).fetchall()
            if not rows:
                break
            after = rows[-1][0]
            now = storage.observe_many([r[1] for r in rows])
            for _, source, size, version in rows:
                info = now.get(source)
                if info is None:
                    counts["gone"] += 1
                    if len(gone) < 10:
                        gone.append(source)
                elif (size is not None and info.size != size) or (version and info.version != version):
                    counts["changed"] += 1
                    if len(changed) < 10:
                        changed.append(source)
            counts["checked"] += len(rows)
            if progress:
                progress(counts["checked"], total)
        return {**counts, "gone_keys": gone, "changed_keys": changed}


def vars_of(item: PlanItem) -> dict:
    return {name: getattr(item, name) for name in PlanItem.__slots__}

"""The duplicates job's plan: in each group of copies the keeper stays, the others move to
<output>/<group>/ (or to the trash); reference-folder images are always kept."""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ..duplicates import Collection, DuplicateSettings, Row, collect, find_groups, group_folder, parse_keep
from ..plan import MovePlan, PlanItem
from ..runs import trash_folder
from ..storage import Storage, normalise_prefix
from .common import _output_under, check_folder_name
from .sources import storage_record

TO_TRASH = "trash"


def duplicate_settings(prefix: str = "", tier: str = "near", keep=None, reference_folders=(), to: str = "duplicates",
                       threshold: int | None = None, pixel_threshold: float | None = None,
                       embedding_threshold: float | None = None) -> DuplicateSettings:
    """The duplicates options as the CLI and the app take them, checked (ValueError saying what is wrong);
    reference folders are given inside the source and come back as full prefixes."""
    if tier not in ("exact", "near", "similar"):
        raise ValueError(f"unknown tier {tier!r} (exact, near or similar)")
    if (to or "").strip() != TO_TRASH:
        check_folder_name((to or "duplicates").strip().lstrip("/"))
    folders = tuple(normalise_prefix(prefix) + check_folder_name(f) + "/" for f in reference_folders or () if f.strip())
    limits = {"max_hamming": threshold, "min_pixel_similarity": pixel_threshold,
              "min_embedding_similarity": embedding_threshold}
    return DuplicateSettings(tier=tier, keep=parse_keep(keep), reference_folders=folders,
                             **{k: v for k, v in limits.items() if v is not None})


def duplicates_header(storage: Storage, source_prefix: str = "", to: str = "duplicates",
                      settings: DuplicateSettings = DuplicateSettings()) -> MovePlan:
    """The plan's header: copies go to <source>/<to>/<group>/ (to = a folder, '/' for one from the top), or
    to _trash/<UTC time>/<key> with to='trash'."""
    if to.strip() == TO_TRASH:
        output = trash_folder()
    else:
        output = _output_under(source_prefix, to or "duplicates")
    extra = {"tier": settings.tier, "keep": list(settings.keep), "reference_folders": list(settings.reference_folders),
             "to": "trash" if to.strip() == TO_TRASH else output}
    return MovePlan("duplicates", storage_record(storage), normalise_prefix(source_prefix), output, [], extra=extra)


def _why(match) -> str:
    bits = [f"pHash distance {match.hamming}", f"pixel similarity {match.pixel:.2f}"]
    if match.embedding is not None:
        bits.append(f"content similarity {match.embedding:.2f}")
    return ", ".join(bits)


def duplicates_items(coll: Collection, rows: list[Row], failed: Iterable, header: MovePlan,
                     versions: dict[str, tuple[int, str]]) -> Iterator[PlanItem]:
    """One item per image, in key order: keepers and images in no group stay; the other members of a group
    move beside each other into the group's folder (or to the trash, keeping their path)."""
    trash = header.extra.get("to") == "trash"
    items: list[tuple[str, PlanItem]] = []
    for r in failed:
        items.append((r.key, PlanItem(r.key, r.key, "keep", f"not analysed: {r.error}", error=r.error)))
    sizes = {}
    for row in rows:
        if row.group is not None:
            sizes[row.group] = sizes.get(row.group, 0) + 1
    for row in rows:
        key = coll.keys[row.index]
        scores: dict = {"group": row.group, "tier": row.tier}
        if row.group is None:
            items.append((key, PlanItem(key, key, "keep", "no duplicate found", scores=scores)))
            continue
        keeper = coll.keys[row.keeper]
        i = row.index
        scores.update(keeper=keeper, width=int(coll.width[i]), height=int(coll.height[i]), size=int(coll.size[i]),
                      mtime=round(float(coll.mtime[i]), 3), reference=row.reference)
        if row.match is not None:
            scores.update(hamming=row.match.hamming, pixel_similarity=row.match.pixel)
            if row.match.embedding is not None:
                scores["embedding_similarity"] = row.match.embedding
        # every member carries its size and version: a keeper the user swaps for another member moves, and its
        # move is checked against the version analysed and counted in the bytes to move like any other
        size, version = versions.get(key, (None, None))
        known = {"source_size": size if version else None, "source_version": version or None}
        if row.index == row.keeper:
            reason = (f"keeper of group {row.group} ({sizes[row.group] - 1} copy(ies))"
                      + ("; in a reference folder" if row.reference else ""))
            items.append((key, PlanItem(key, key, "keep", reason, scores=scores, **known)))
            continue
        if row.reference:
            items.append((key, PlanItem(key, key, "keep", f"{row.tier} duplicate of {keeper}, in a reference folder: "
                                        "kept", scores=scores, **known)))
            continue
        if trash:
            destination = header.output_prefix + key
        else:
            destination = header.output_prefix + group_folder(row.group, keeper) + "/" + posixpath.basename(key)
        items.append((key, PlanItem(key, destination, "move", f"{row.tier} duplicate of {keeper} ({_why(row.match)})",
                                    confidence=row.match.pixel, scores=scores, **known)))
    items.sort(key=lambda kv: kv[0])
    for _, item in items:
        yield item


class Grouped:
    """The outcome of a duplicates pass: the collection, one Row per image, the unreadable results, and
    what the plan carries of each source (size, version); counts for the session log."""

    def __init__(self, coll: Collection, rows: list[Row], failed: list, versions: dict[str, tuple[int, str]]):
        self.coll, self.rows, self.failed, self.versions = coll, rows, failed, versions

    @property
    def groups(self) -> int:
        return len({r.group for r in self.rows if r.group is not None})

    @property
    def in_groups(self) -> int:
        return sum(1 for r in self.rows if r.group is not None)

    def items(self, header: MovePlan) -> Iterator[PlanItem]:
        return duplicates_items(self.coll, self.rows, self.failed, header, self.versions)


def group_results(results: Iterable, settings: DuplicateSettings, spill_dir: str | None = None,
                  progress=None) -> Grouped:
    """Collect the analysis results (thumbnails spilled to a temporary file, not memory), then group them.
    Dates (the oldest/newest rules) are those the analysis listed."""
    versions: dict[str, tuple[int, str]] = {}

    def noting(stream):
        for r in stream:
            if r.ok:
                versions[r.key] = (r.size, r.version)
            yield r

    with tempfile.TemporaryDirectory(dir=spill_dir, prefix="segregator-dups-") as tmp:
        coll, failed = collect(noting(results), spill=str(Path(tmp) / "thumbs.u8"),
                               embeddings=settings.tier == "similar")
        try:
            rows = find_groups(coll, settings, progress)
        finally:
            if hasattr(coll.thumbs, "close"):
                coll.thumbs.close()
            coll.thumbs = None  # the spill file goes with the folder
    return Grouped(coll, rows, failed, versions)
